// Real runs under a Docker engine: the GENERATED Dockerfiles are built by dockerd (classic builder), the
// dependency layer is reused when only code changes, and the synthesized compose project runs under
// docker-compose with host networking on loopback ports: order-service reaches user-service through the
// injected URL, the containers carry the limits and hardening the file asks for, and they stop gracefully.
// Then a bridge-mode project with a network per call: each container is on exactly the networks the
// model says, and resolves exactly the names of what it shares a call with (a DNS lookup inside the
// container; no traffic goes to another container). Last, an overlay stack on a single-node swarm of the
// same engine: `docker stack deploy` takes the file as written, and a new release rolls start-first.
import { execFile, spawnSync } from 'child_process';
import * as fs from 'fs';
import * as path from 'path';
import { promisify } from 'util';
import * as yaml from 'js-yaml';
import { App, ComposeNetworkMode, ContainerImage, Cpu, Duration, FastApiApp, HealthCheck, MicroService, Size, Stack } from '../../lib';
import { expectedCompose } from '../support/expected-reachability';
import { composeReachability } from '../support/reachability';
import { containerLogs, Engine, forDockerCompose129, haveDocker, importBase, indexWithStandIns, localIndexDir, serveIndex, startEngine, swarmCli } from '../support/docker';
import { freePort, get, Started, stopAll } from '../support/process';
import { havePython } from '../support/python';
import { Synthesized, synth, tmpdir } from '../support/synth';

const SHOP = path.join(__dirname, '..', '..', 'examples', 'shop', 'services');
const run = havePython() && haveDocker() ? describe : describe.skip;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const execFileAsync = promisify(execFile);

/** Parses the classic builder's output into steps: the instruction and whether it came from the cache. */
function buildSteps(output: string): { instruction: string; cached: boolean }[] {
  const steps: { instruction: string; cached: boolean }[] = [];
  for (const line of output.split('\n')) {
    const m = /^Step \d+\/\d+ : (.*)$/.exec(line);
    if (m) steps.push({ instruction: m[1], cached: false });
    else if (/^ ---> Using cache$/.test(line) && steps.length > 0) steps[steps.length - 1].cached = true;
  }
  return steps;
}

/** Local addresses listening on `port` in this network namespace (host networking: the containers' too). */
function listeners(port: number): string[] {
  const out: string[] = [];
  for (const file of ['/proc/net/tcp', '/proc/net/tcp6']) {
    if (!fs.existsSync(file)) continue;
    for (const line of fs.readFileSync(file, 'utf8').split('\n').slice(1)) {
      const f = line.trim().split(/\s+/);
      if (f.length < 4 || f[3] !== '0A') continue; // 0A: LISTEN
      const [hex, p] = f[1].split(':');
      if (parseInt(p, 16) !== port) continue;
      out.push(hex.length === 8 ? hex.match(/../g)!.reverse().map((b) => parseInt(b, 16)).join('.') : `[${hex}]`);
    }
  }
  return out.sort();
}

run('generated images and the compose project under a real Docker engine', () => {
  let engine: Engine;
  let index: { url: string; server: Started };
  let out: Synthesized;
  let compose: any;
  let base = '';
  const ports = { user: 0, order: 0, userMetrics: 0, orderMetrics: 0 };
  const project = `pfe2e${process.pid}`;
  let composeFile = '';
  let up = false;
  let swarmActive = false;
  const swarmOuts: Synthesized[] = [];

  beforeAll(async () => {
    ports.user = await freePort();
    ports.order = await freePort();
    // Host network mode: each metrics port is a host port, so each service gets its own.
    ports.userMetrics = await freePort();
    ports.orderMetrics = await freePort();
    out = synth((app: App) => {
      const stack = new Stack(app, 'shop', { compose: { networkMode: ComposeNetworkMode.HOST } });
      const users = new FastApiApp(stack, 'user-service', {
        source: path.join(SHOP, 'user'), port: ports.user, replicas: 1, metrics: { port: ports.userMetrics },
        cpu: Cpu.millis(500), memory: Size.mebibytes(256),
        healthCheck: HealthCheck.http('/healthz', { interval: Duration.seconds(2) }),
      });
      new FastApiApp(stack, 'order-service', {
        source: path.join(SHOP, 'order'), port: ports.order, replicas: 1, metrics: { port: ports.orderMetrics },
        cpu: Cpu.cores(1), memory: Size.mebibytes(512),
        healthCheck: HealthCheck.http('/healthz', { interval: Duration.seconds(2) }),
        calls: [users], expose: { port: ports.order },
      });
    });
    compose = out.compose('shop');
    engine = await startEngine();
    // The base image every generated Dockerfile pins, made locally (no registry is reachable).
    const bases = new Set<string>();
    for (const svc of Object.values<any>(compose.services)) {
      const dockerfile = fs.readFileSync(path.join(out.dir, svc.build.context, svc.build.dockerfile), 'utf8');
      for (const m of dockerfile.matchAll(/^FROM (\S+)/gm)) bases.add(m[1]);
    }
    expect([...bases]).toHaveLength(1);
    for (const b of bases) importBase(engine, b);
    base = [...bases][0];
    // The local index lacks Celery's two CLI dependencies and async-timeout (redis 8 on the base's Python 3.11.2): stand-ins (test/support/docker.ts).
    index = await serveIndex(indexWithStandIns(localIndexDir()));
  }, 600_000);

  afterAll(async () => {
    if (swarmActive) {
      // Leave the swarm (its stack first), bounded, before the engine stops.
      for (const args of [['stack', 'rm', 'pfswarm'], ['swarm', 'leave', '--force']]) {
        spawnSync('docker', args, { env: engine.env, stdio: 'ignore', timeout: 60_000 });
      }
    }
    swarmOuts.forEach((o) => o.cleanup());
    if (up) {
      try { engine.compose(['-p', project, '-f', composeFile, 'down', '-t', '20'], out.dir, 120_000); } catch { /* engine stops next */ }
    }
    await index?.server.stop('SIGTERM', 5_000);
    await engine?.stop();
    await stopAll();
    out?.cleanup();
  }, 180_000);

  function build(context: string, tag: string): string {
    try {
      return engine.docker(['build', '--network', 'host', '--build-arg', `PIP_INDEX_URL=${index.url}`, '-t', tag, context],
        { timeout: 600_000 });
    } catch (e) {
      // pip's own message (e.g. a requirement the index lacks) is in the build's output, not in the exit status.
      throw new Error(`docker build of ${context} failed:\n${String((e as any).stdout ?? '').slice(-4000)}\n${String((e as any).stderr ?? '').slice(-2000)}`);
    }
  }

  test('each generated Dockerfile builds into a non-root image that keeps the package index out', () => {
    for (const [name, svc] of Object.entries<any>(compose.services)) {
      const tag = svc.build.tags[0];
      build(path.join(out.dir, svc.build.context), tag);
      const image = JSON.parse(engine.docker(['image', 'inspect', tag]))[0];
      const port = name === 'user-service' ? ports.user : ports.order;
      expect(image.Config.User).toBe('10001:10001');
      expect(image.Config.Cmd).toEqual(['gunicorn', '--config', '/app/gunicorn.conf.py']);
      expect(image.Config.Entrypoint ?? null).toBeNull();
      const metricsPort = name === 'user-service' ? ports.userMetrics : ports.orderMetrics;
      expect(Object.keys(image.Config.ExposedPorts).sort()).toEqual([`${port}/tcp`, `${metricsPort}/tcp`].sort());
      expect(image.Config.Healthcheck.Test[0]).toBe('CMD');
      expect(image.Config.Env).toEqual(expect.arrayContaining(['PYTHONDONTWRITEBYTECODE=1', 'PYTHONUNBUFFERED=1']));
      expect(image.Config.Labels['org.opencontainers.image.title']).toBe(name);
      // The index (it may carry credentials) is used by the builder stage only.
      const history = engine.docker(['history', '--no-trunc', tag]);
      expect(history).toMatch(/gunicorn/);
      expect(history).not.toContain(index.url);
      expect(JSON.stringify(image)).not.toContain(index.url);
      // The virtualenv came from the builder; pip left no cache in the final image.
      const files = engine.docker(['run', '--rm', '--network', 'none', '--user', '0:0', '--entrypoint', 'sh', tag, '-c',
        'ls /opt/venv/bin/gunicorn && (ls -A /tmp/.cache/pip /root/.cache/pip 2>/dev/null | wc -l)']);
      expect(files.trim().split('\n')).toEqual(['/opt/venv/bin/gunicorn', '0']);
    }
  }, 900_000);

  test('a change to the code alone reuses the dependency layer; a change to requirements does not', () => {
    const svc = compose.services['user-service'];
    const copy = path.join(tmpdir('pyfleet-ctx-'), 'ctx');
    fs.cpSync(path.join(out.dir, svc.build.context), copy, { recursive: true });
    fs.appendFileSync(path.join(copy, 'app.py'), '\n# a code-only change\n');
    const codeOnly = buildSteps(build(copy, 'pyfleet-e2e/code-change:1'));
    const pip = (steps: ReturnType<typeof buildSteps>) => steps.find((s) => s.instruction.includes('pip install'))!;
    const copySource = (steps: ReturnType<typeof buildSteps>) => steps.find((s) => s.instruction === 'COPY . .')!;
    expect(pip(codeOnly)).toEqual(expect.objectContaining({ cached: true }));
    expect(copySource(codeOnly).cached).toBe(false);

    fs.appendFileSync(path.join(copy, 'requirements.txt'), 'prometheus-client\n');
    const newDeps = buildSteps(build(copy, 'pyfleet-e2e/deps-change:1'));
    expect(pip(newDeps).cached).toBe(false);
    fs.rmSync(path.dirname(copy), { recursive: true, force: true });
  }, 900_000);

  test('docker-compose runs the project: order-service reaches user-service through USER_SERVICE_URL', async () => {
    composeFile = path.join(out.dir, 'shop.compose-1.29.yml');
    fs.writeFileSync(composeFile, yaml.dump(forDockerCompose129(compose, { prebuilt: true })));
    up = true;
    // `up` starts user-service first and waits for its health check (depends_on: service_healthy).
    engine.compose(['-p', project, '-f', composeFile, 'up', '-d', '--no-build'], out.dir, 240_000);
    const deadline = Date.now() + 60_000;
    let last = '';
    for (;;) {
      try {
        const r = await get(`http://127.0.0.1:${ports.order}/orders/10`, {}, 5_000);
        last = `${r.status} ${r.body}`;
        if (r.status === 200) break;
      } catch (e) {
        last = String(e);
      }
      if (Date.now() > deadline) throw new Error(`order-service did not answer: ${last}\n${engine.compose(['-p', project, '-f', composeFile, 'logs', '--no-color'], out.dir)}`);
      await sleep(500);
    }
    const order = JSON.parse(last.slice(4));
    expect(order.user).toEqual({ id: 1, name: 'Ada Lovelace' });
    expect(compose.services['order-service'].environment.USER_SERVICE_URL).toBe(`http://127.0.0.1:${ports.user}`);
    // Host networking shares the host's interfaces: the internal user-service listens on loopback only,
    // the exposed order-service on every interface.
    expect(listeners(ports.user)).toEqual(['127.0.0.1']);
    expect(listeners(ports.order)).toEqual(['0.0.0.0']);
  }, 300_000);

  test('the containers run as the file says: non-root, read-only, capped, healthy', async () => {
    const expected: Record<string, { nanoCpus: number; memory: number }> = {
      'user-service': { nanoCpus: 500_000_000, memory: 256 * 2 ** 20 },
      'order-service': { nanoCpus: 1_000_000_000, memory: 512 * 2 ** 20 },
    };
    for (const [name, want] of Object.entries(expected)) {
      const id = engine.compose(['-p', project, '-f', composeFile, 'ps', '-q', name], out.dir).trim();
      expect(id).not.toBe('');
      let c = JSON.parse(engine.docker(['inspect', id]))[0];
      for (let i = 0; i < 60 && c.State.Health?.Status !== 'healthy'; i++) {
        await sleep(500);
        c = JSON.parse(engine.docker(['inspect', id]))[0];
      }
      expect(c.State.Health.Status).toBe('healthy');
      expect(c.Config.User).toBe('10001:10001');
      expect(c.HostConfig.NetworkMode).toBe('host');
      expect(c.HostConfig.ReadonlyRootfs).toBe(true);
      expect(c.HostConfig.CapDrop).toEqual(['ALL']);
      expect(c.HostConfig.SecurityOpt).toEqual(['no-new-privileges:true']);
      expect(c.HostConfig.NanoCpus).toBe(want.nanoCpus);
      expect(c.HostConfig.Memory).toBe(want.memory);
      // Logs rotate (json-file, 10m x 3), as the compose file says.
      expect(c.HostConfig.LogConfig).toEqual({ Type: 'json-file', Config: { 'max-file': '3', 'max-size': '10m' } });
      // Metrics work on the read-only root (multiprocess files on the /tmp tmpfs), on loopback only
      // (PYFLEET_METRICS_HOST): the health checks the engine ran are counted.
      const metricsPort = name === 'user-service' ? ports.userMetrics : ports.orderMetrics;
      const m = await get(`http://127.0.0.1:${metricsPort}/metrics`);
      expect(m.status).toBe(200);
      expect(m.body).toMatch(/^http_requests_total\{method="GET",route="\/healthz",status="200"\} [1-9]/m);
      expect(m.body).toMatch(/^gunicorn_workers [1-9]/m);
      expect(Object.keys(c.HostConfig.Tmpfs ?? {})).toEqual(['/tmp']);
      // gunicorn is PID 1 (it gets SIGTERM itself), as uid 10001, with the worker count pyfleet derived
      // from the CPU limit (WEB_CONCURRENCY), and it says so at start.
      const pid1 = engine.docker(['exec', id, 'python', '-c',
        "import os; print(open('/proc/1/cmdline').read().replace(chr(0), ' ').strip()); print(os.stat('/proc/1').st_uid)"]);
      expect(pid1.trim().split('\n')).toEqual(['/opt/venv/bin/python /opt/venv/bin/gunicorn --config /app/gunicorn.conf.py', '10001']);
      const workers = compose.services[name].environment.WEB_CONCURRENCY;
      expect(c.Config.Env).toEqual(expect.arrayContaining([`WEB_CONCURRENCY=${workers}`]));
      expect(containerLogs(engine, id)).toContain(`pyfleet: ${workers} uvicorn.workers.UvicornWorker worker(s), WEB_CONCURRENCY=${workers}`);
    }
  }, 120_000);

  test('docker stop ends gunicorn gracefully, well inside stop_grace_period', () => {
    const svc = compose.services['order-service'];
    const grace = Number(/^(\d+)s$/.exec(svc.stop_grace_period)![1]);
    const id = engine.compose(['-p', project, '-f', composeFile, 'ps', '-q', 'order-service'], out.dir).trim();
    const t0 = Date.now();
    engine.docker(['stop', '-t', String(grace), id], { timeout: (grace + 20) * 1000 });
    const elapsed = Date.now() - t0;
    const c = JSON.parse(engine.docker(['inspect', id]))[0];
    expect(c.State.ExitCode).toBe(0);
    expect(c.State.OOMKilled).toBe(false);
    expect(elapsed).toBeLessThan(grace * 1000);
    const logs = containerLogs(engine, id);
    expect(logs).toMatch(/Handling signal: term/);
    expect(logs).toMatch(/Shutting down: Master/);
  }, 120_000);

  test('bridge mode: each container is on exactly the networks the model says, and resolves only what it shares a call with', async () => {
    // users is called by orders (two versions behind a gateway proxy) and by catalog; catalog is public;
    // batch calls nothing and nobody calls it.
    let stack!: Stack;
    const seg = synth((app: App) => {
      stack = new Stack(app, 'seg');
      const users = new MicroService(stack, 'users', { image: ContainerImage.fromRegistry('registry.example.com/users:1.0.0'), port: 8001, replicas: 1 });
      const orders = new MicroService(stack, 'orders', { image: ContainerImage.fromRegistry('registry.example.com/orders:1.0.0'), port: 8002, replicas: 1, calls: [users] });
      orders.addVersion('v2', { image: ContainerImage.fromRegistry('registry.example.com/orders:2.0.0') });
      new MicroService(stack, 'catalog', { image: ContainerImage.fromRegistry('registry.example.com/catalog:1.0.0'), port: 8003, replicas: 1, calls: [users, orders], expose: { port: 8080 } });
      new MicroService(stack, 'batch', { image: ContainerImage.fromRegistry('registry.example.com/batch:1.0.0'), port: 8004, replicas: 1 });
    });
    const doc = seg.compose('seg');
    // Stand-ins: no registry is reachable, so every container runs the local base image asleep, healthy
    // at once, without its mounts; published ports are dropped (they would bind host ports here). The
    // networks, aliases and start order are the synthesized ones, untouched.
    const standIn = forDockerCompose129(doc);
    for (const svc of Object.values<any>(standIn.services)) {
      svc.image = base;
      delete svc.build;
      delete svc.volumes;
      delete svc.ports;
      svc.entrypoint = ['sleep', 'infinity'];
      delete svc.command;
      svc.healthcheck = { test: ['CMD', 'true'], interval: '1s', timeout: '1s', retries: 3, start_period: '1s' };
      svc.stop_signal = 'SIGKILL';
    }
    const project = `seg${process.pid}`;
    const file = path.join(seg.dir, 'seg.compose-1.29.yml');
    fs.writeFileSync(file, yaml.dump(standIn));
    try {
      engine.compose(['-p', project, '-f', file, 'up', '-d'], seg.dir, 240_000);
      const want = expectedCompose(stack, doc);
      // the evaluator reads the same file the same way
      expect(composeReachability(doc).resolves).toEqual(want.resolves);
      const container = (svc: string): string => engine.compose(['-p', project, '-f', file, 'ps', '-q', svc], seg.dir).trim();
      const services = Object.keys(doc.services).sort();
      expect(services).toEqual(['batch', 'catalog', 'orders', 'orders-v1', 'orders-v2', 'users']);
      for (const svc of services) {
        const c = JSON.parse(engine.docker(['inspect', container(svc)]))[0];
        const joined = Object.keys(c.NetworkSettings.Networks).sort();
        const model = Object.keys(doc.services[svc].networks ?? {}).map((n) => `${project}_${n}`).sort();
        expect({ svc, networks: joined }).toEqual({ svc, networks: model.length > 0 ? model : ['none'] });
      }
      // each network holds exactly the containers the file puts on it, and only public ones reach outside
      for (const [key, net] of Object.entries<any>(doc.networks)) {
        const inspected = JSON.parse(engine.docker(['network', 'inspect', `${project}_${key}`]))[0];
        const members = Object.values<any>(inspected.Containers ?? {}).map((x) => x.Name.replace(new RegExp(`^${project}_(.*)_1$`), '$1')).sort();
        const declared = services.filter((svc) => key in (doc.services[svc].networks ?? {}));
        expect({ key, members, internal: inspected.Internal }).toEqual({ key, members: declared, internal: net.internal === true });
      }
      // Docker's DNS inside each container: a name resolves exactly when the model shares a call with it.
      // A name Docker does not know is forwarded to the host's (unreachable) resolvers, so each lookup
      // gets a short client timeout (RES_OPTIONS; names on a shared network answer in milliseconds) and
      // the lookups of all containers run at once.
      const lookups = services.map(async (from) => {
        const others = services.filter((name) => name !== from);
        const script = 'for n in "$@"; do (getent hosts "$n" >/dev/null && echo "$n") & done; wait';
        const { stdout } = await execFileAsync('docker', ['exec', '-e', 'RES_OPTIONS=timeout:2 attempts:1', container(from), 'sh', '-c', script, 'sh', ...others],
          { env: engine.env, encoding: 'utf8', timeout: 120_000 });
        return { from, resolved: stdout.split('\n').filter((x) => x !== '').sort() };
      });
      for (const r of await Promise.all(lookups)) expect(r).toEqual({ from: r.from, resolved: want.resolves[r.from] });
    } finally {
      try { engine.compose(['-p', project, '-f', file, 'down', '-t', '1'], seg.dir, 120_000); } catch { /* the engine stops next */ }
      seg.cleanup();
    }
  }, 600_000);
  test('swarm: an overlay stack deploys with docker stack deploy as written, and a new release rolls start-first', async () => {
    // A single-node swarm on the private engine. No registry: the stand-in is the user-service image the
    // first test built (built here if that test did not run), deployed with --resolve-image never.
    // Nothing is sent to a container or overlay address: the test reads what swarm reports.
    const cli = swarmCli();
    if (!cli) return;
    const tag = compose.services['user-service'].build.tags[0];
    try { engine.docker(['image', 'inspect', tag]); } catch { build(path.join(out.dir, compose.services['user-service'].build.context), tag); }
    const docker = (args: string[], timeout = 60_000): { stdout: string; stderr: string } => {
      const r = spawnSync(cli, args, { env: engine.env, encoding: 'utf8', timeout });
      if (r.status !== 0) throw new Error(`docker ${args.join(' ')} failed (${r.status ?? r.signal}): ${r.stderr}`);
      return { stdout: r.stdout, stderr: r.stderr };
    };
    const release = (n: string): { dir: string; file: string; doc: any } => {
      const o = synth((app: App) => {
        const stack = new Stack(app, 'pfswarm', { compose: { networkMode: ComposeNetworkMode.OVERLAY } });
        const health = HealthCheck.http('/healthz', { interval: Duration.seconds(2), timeout: Duration.seconds(2), failureThreshold: 3, startPeriod: Duration.seconds(4) });
        const api = new MicroService(stack, 'api', { image: ContainerImage.fromRegistry(tag), port: ports.user, replicas: 1, env: { RELEASE: n }, healthCheck: health, memory: Size.mebibytes(256) });
        new MicroService(stack, 'client', { image: ContainerImage.fromRegistry(tag), port: ports.user, replicas: 1, calls: [api], healthCheck: health, memory: Size.mebibytes(256) });
      });
      swarmOuts.push(o);
      return { dir: o.dir, file: path.join(o.dir, 'pfswarm.compose.yml'), doc: o.compose('pfswarm') };
    };
    const services = ['pfswarm_api', 'pfswarm_client'];
    const deploy = (r: { dir: string; file: string }): string =>
      docker(['stack', 'deploy', '--detach=true', '--resolve-image', 'never', '-c', r.file, 'pfswarm'], 120_000).stderr;
    const tasks = (svc: string): any[] => {
      const ids = docker(['service', 'ps', '-q', '--no-trunc', svc]).stdout.split('\n').filter(Boolean);
      if (ids.length === 0) return [];
      // Swarm may remove a task between the listing and the inspect (a replaced task beyond the history
      // limit): inspect one by one then, and leave out those that are gone.
      try {
        return JSON.parse(docker(['inspect', ...ids]).stdout);
      } catch (e) {
        if (!/No such object/.test(String((e as Error).message))) throw e;
        return ids.flatMap((id) => {
          const r = spawnSync(cli, ['inspect', id], { env: engine.env, encoding: 'utf8', timeout: 60_000 });
          return r.status === 0 ? JSON.parse(r.stdout) : [];
        });
      }
    };
    const until = async (what: string, ok: () => boolean, ms: number): Promise<void> => {
      const deadline = Date.now() + ms;
      while (!ok()) {
        if (Date.now() > deadline) {
          const logs = services.map((s) => spawnSync(cli, ['service', 'logs', '--raw', '--tail', '15', s], { env: engine.env, encoding: 'utf8', timeout: 30_000 }));
          throw new Error(`${what} within ${ms / 1000} s; tasks: ${JSON.stringify(services.map((s) => tasks(s).map((t) => [t.Status.State, t.Status.Err])))}; logs: ${logs.map((l) => `${l.stdout}${l.stderr}`.slice(-1500)).join('\n---\n')}`);
        }
        await sleep(1000);
      }
    };

    docker(['swarm', 'init', '--advertise-addr', '127.0.0.1'], 60_000);
    swarmActive = true;
    const first = release('1');
    // Everything in the file is something swarm takes: it ignores nothing.
    expect(deploy(first)).not.toMatch(/Ignoring|unsupported/i);
    const running = (svc: string): any[] => tasks(svc).filter((t) => t.DesiredState === 'running' && t.Status.State === 'running');
    await until('every service running its replica', () => services.every((s) => running(s).length === 1), 60_000);
    for (const s of services) {
      // A task is running once its health check passed; its container says healthy.
      const c = JSON.parse(docker(['inspect', running(s)[0].Status.ContainerStatus.ContainerID]).stdout)[0];
      expect(c.State.Health.Status).toBe('healthy');
      expect(c.Config.User).toBe('10001:10001');
      expect(c.HostConfig.ReadonlyRootfs).toBe(true);
    }
    const spec = (svc: string): any => JSON.parse(docker(['service', 'inspect', svc]).stdout)[0];
    const api = spec('pfswarm_api');
    // monitor = start period + interval × failure threshold = 4 s + 2 s × 3
    expect(api.Spec.UpdateConfig).toMatchObject({ Parallelism: 1, Order: 'start-first', FailureAction: 'rollback', Monitor: 10e9 });
    expect(api.Spec.RollbackConfig).toMatchObject({ Parallelism: 1, Order: 'start-first', FailureAction: 'pause', Monitor: 10e9 });
    expect(api.Spec.TaskTemplate.RestartPolicy.Condition).toBe('any');
    expect(api.Spec.TaskTemplate.Resources.Limits.MemoryBytes).toBe(256 * 2 ** 20);
    expect(api.Spec.TaskTemplate.ContainerSpec.Env).toContain('RELEASE=1');
    expect(api.Spec.TaskTemplate.ContainerSpec.Healthcheck.Interval).toBe(2e9);
    // The caller and the callee share their call's overlay network, and only that one.
    const networkNames = (svc: any): string[] => svc.Spec.TaskTemplate.Networks.map((n: any) => JSON.parse(docker(['network', 'inspect', n.Target]).stdout)[0].Name).sort();
    expect(networkNames(spec('pfswarm_client'))).toEqual(['pfswarm_client_to_api']);
    expect(networkNames(api)).toEqual(['pfswarm_client_to_api']);

    // A new release: the same file with another environment.
    const before = running('pfswarm_api')[0];
    const clientBefore = running('pfswarm_client')[0];
    const second = release('2');
    expect(second.doc.services.api.environment.RELEASE).toBe('2');
    expect(deploy(second)).not.toMatch(/Ignoring|unsupported/i);
    await until('the update of pfswarm_api completed', () => {
      const st = spec('pfswarm_api').UpdateStatus?.State;
      if (st && /rollback|paused/.test(st)) throw new Error(`the update did not complete: ${JSON.stringify(spec('pfswarm_api').UpdateStatus)}`);
      return st === 'completed';
    }, 90_000);
    const all = tasks('pfswarm_api');
    const old = all.find((t) => t.ID === before.ID);
    const now = all.filter((t) => t.DesiredState === 'running');
    expect(now).toHaveLength(1);
    expect(now[0].Spec.ContainerSpec.Env).toContain('RELEASE=2');
    expect(now[0].Status.State).toBe('running');
    expect(old.DesiredState).toBe('shutdown');
    // start-first: the new task was running (healthy) before the old one stopped. (Swarm creates the new
    // task before the old one stops under stop-first too; the running timestamp is what tells them apart:
    // with the order overridden to stop-first, this fails by the new task's start time, measured.)
    const shutAt = Date.parse(old.Status.Timestamp);
    expect(Date.parse(now[0].CreatedAt)).toBeLessThan(shutAt);
    expect(Date.parse(now[0].Status.Timestamp)).toBeLessThanOrEqual(shutAt);
    // The client's spec did not change, so swarm left its task alone.
    expect(running('pfswarm_client').map((t) => t.ID)).toEqual([clientBefore.ID]);
  }, 300_000);
});
