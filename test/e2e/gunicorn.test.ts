// Real runs: gunicorn started with the GENERATED gunicorn.conf.py (from a staged build context) and the
// example apps, on loopback ports; then SIGTERM and a bounded wait for a graceful exit.
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import * as yaml from 'js-yaml';
import { App, ComposeNetworkMode, Cpu, Duration, FastApiApp, GunicornFlaskApp, PythonWebApp, Size, Stack, WsgiWorkerClass } from '../../lib';
import { imageAsset } from '../../lib/service/asset';
import { BUILTIN_BUILD_GENERATORS } from '../../lib/render/image';
import { freePort, get, start, Started, stopAll, waitForHttp } from '../support/process';
import { ensureVenv, havePython } from '../support/python';
import { quietSynth } from '../support/synth';

const ROOT = path.join(__dirname, '..', '..');
const FLASK = path.join(ROOT, 'examples', 'flask-gunicorn', 'app');
const SHOP = path.join(ROOT, 'examples', 'shop', 'services');
const ASGI_SLOW = path.join(__dirname, '..', 'fixtures', 'asgi-slow');

const run = havePython() ? describe : describe.skip;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

interface Synthesized { outdir: string; compose: any }

function synth(build: (stack: Stack) => void, mode = ComposeNetworkMode.BRIDGE): Synthesized {
  const outdir = fs.mkdtempSync(path.join(os.tmpdir(), 'pyfleet-e2e-'));
  const app = new App({ outdir });
  const stack = new Stack(app, 'e2e', { compose: { networkMode: mode } });
  build(stack);
  // Quiet: what synth prints is exactly app.warnings() (in host mode, that it cannot segment the project).
  quietSynth(app);
  const compose = yaml.load(fs.readFileSync(path.join(outdir, 'e2e.compose.yml'), 'utf8'));
  return { outdir, compose };
}

/** Starts gunicorn the way the image's CMD does, in the staged context, with the service's compose environment. */
function startGunicorn(bin: string, s: Synthesized, svc: PythonWebApp, home: string): Started {
  const composeService = s.compose.services[svc.serviceName];
  const context = path.join(s.outdir, composeService.build.context);
  expect(fs.existsSync(path.join(context, 'gunicorn.conf.py'))).toBe(true);
  expect(path.basename(context)).toBe(path.basename(imageAsset(svc.image, BUILTIN_BUILD_GENERATORS).contextPath));
  return start(path.join(bin, 'gunicorn'), ['--config', 'gunicorn.conf.py'], {
    cwd: context,
    env: {
      ...composeService.environment,
      PATH: `${bin}:${process.env.PATH}`,
      HOME: home,
      PYTHONDONTWRITEBYTECODE: '1',
      PYTHONUNBUFFERED: '1',
      // Same port as the generated bind, but loopback only on this machine.
      GUNICORN_CMD_ARGS: `--bind=127.0.0.1:${svc.port}`,
      // The metrics endpoint on loopback, its files in a directory of this run (in the container: /tmp/prometheus).
      PYFLEET_METRICS_HOST: '127.0.0.1',
      PROMETHEUS_MULTIPROC_DIR: fs.mkdtempSync(path.join(os.tmpdir(), 'pyfleet-mp-')),
    },
  });
}

function workerPids(p: Started): number[] {
  return [...p.output().matchAll(/Booting worker with pid: (\d+)/g)].map((m) => Number(m[1]));
}

async function until(what: string, cond: () => boolean, timeoutMs = 15_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(100);
  }
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/** Every worker the arbiter forked is gone after it exits; stray ones (a failed test) are killed by PID. */
function expectNoWorkersLeft(pids: number[]): void {
  const left = pids.filter(alive);
  for (const pid of left) process.kill(pid, 'SIGKILL');
  expect(left).toEqual([]);
}

run('gunicorn with the generated config (real processes on loopback)', () => {
  let bin = '';
  let home = '';
  beforeAll(() => {
    bin = ensureVenv();
    home = fs.mkdtempSync(path.join(os.tmpdir(), 'pyfleet-home-'));
  }, 300_000);
  afterAll(async () => {
    await stopAll();
  });

  async function serveAndStop(svc: PythonWebApp, s: Synthesized, opts: { expectedWorkers: number; workerLog: string; path: string; check: (body: any) => void }): Promise<void> {
    const proc = startGunicorn(bin, s, svc, home);
    const base = `http://127.0.0.1:${svc.port}`;
    await waitForHttp(`${base}/healthz`, 60_000, proc);
    for (let i = 0; i < 20; i++) {
      const r = await get(`${base}${opts.path}`);
      expect(r.status).toBe(200);
      opts.check(JSON.parse(r.body));
    }
    await until(`${opts.expectedWorkers} workers`, () => workerPids(proc).length >= opts.expectedWorkers);
    expect(proc.output()).toContain(`pyfleet: ${opts.expectedWorkers} ${opts.workerLog} worker(s), WEB_CONCURRENCY=${opts.expectedWorkers}`);
    expect(workerPids(proc)).toHaveLength(opts.expectedWorkers);
    // Access log on stdout of the process (the container log): one JSON object per request.
    // (A worker writes the line once the response is sent, so the last one may trail the response.)
    const served = () => proc.output().split('\n').filter((l) => l.startsWith('{')).map((l) => JSON.parse(l))
      .filter((a) => a.method === 'GET' && a.path === opts.path && a.status === 200);
    await until('20 access log lines', () => served().length >= 20, 5_000);
    expect(served()).toHaveLength(20);

    // An in-flight request survives SIGTERM; the arbiter exits 0 within the graceful timeout.
    const slow = get(`${base}/slow`, {}, 15_000);
    await sleep(400);
    const graceful = svc.gracefulTimeout.millis;
    const stopped = await proc.stop('SIGTERM', graceful + 5_000);
    const slowResult = await slow;
    expect(slowResult.status).toBe(200);
    expect(JSON.parse(slowResult.body)).toEqual({ status: 'done' });
    expect(stopped.killed).toBe(false);
    expect(stopped.code).toBe(0);
    expect(stopped.elapsedMs).toBeLessThan(graceful);
    expectNoWorkersLeft(workerPids(proc));
    // The control socket is disabled: nothing was created under $HOME (a read-only root in the container).
    expect(fs.readdirSync(home)).toEqual([]);
  }

  test('Flask, sync workers: 3 for 1 CPU', async () => {
    const port = await freePort();
    let svc!: PythonWebApp;
    const s = synth((stack) => {
      svc = new GunicornFlaskApp(stack, 'flask-sync', {
        source: FLASK, port, workerClass: WsgiWorkerClass.SYNC, cpu: Cpu.cores(1), memory: Size.mebibytes(256), gracefulTimeout: Duration.seconds(6),
      });
    });
    expect(s.compose.services['flask-sync'].environment.WEB_CONCURRENCY).toBe('3');
    await serveAndStop(svc, s, { expectedWorkers: 3, workerLog: 'sync', path: '/items/7', check: (b) => expect(b).toEqual({ id: 7, name: 'item 7', price_cents: 107 }) });
  });

  test('Flask, gthread workers: 3 x 8 threads for 2 CPUs', async () => {
    const port = await freePort();
    let svc!: PythonWebApp;
    const s = synth((stack) => {
      svc = new GunicornFlaskApp(stack, 'flask-gthread', {
        source: FLASK, port, workerClass: WsgiWorkerClass.GTHREAD, threads: 8, cpu: Cpu.cores(2), memory: Size.mebibytes(512), gracefulTimeout: Duration.seconds(6),
      });
    });
    await serveAndStop(svc, s, { expectedWorkers: 3, workerLog: 'gthread', path: '/items/3', check: (b) => expect(b.id).toBe(3) });
  });

  test('FastAPI, uvicorn workers: 2 for 2 CPUs', async () => {
    const port = await freePort();
    let svc!: PythonWebApp;
    const s = synth((stack) => {
      svc = new FastApiApp(stack, 'asgi', { source: ASGI_SLOW, port, cpu: Cpu.cores(2), memory: Size.mebibytes(512), gracefulTimeout: Duration.seconds(6) });
    });
    await serveAndStop(svc, s, { expectedWorkers: 2, workerLog: 'uvicorn.workers.UvicornWorker', path: '/hello', check: (b) => expect(b.hello).toBe('world') });
  });

  test('user-service and order-service together in host network mode: order-service reaches user-service through the injected URL', async () => {
    const [userPort, orderPort, userMetrics, orderMetrics] = [await freePort(), await freePort(), await freePort(), await freePort()];
    let users!: PythonWebApp;
    let orders!: PythonWebApp;
    const s = synth((stack) => {
      users = new FastApiApp(stack, 'user-service', { source: path.join(SHOP, 'user'), port: userPort, replicas: 1, metrics: { port: userMetrics } });
      orders = new FastApiApp(stack, 'order-service', { source: path.join(SHOP, 'order'), port: orderPort, replicas: 1, metrics: { port: orderMetrics }, cpu: Cpu.cores(1), memory: Size.mebibytes(512), calls: [users] });
    }, ComposeNetworkMode.HOST);
    const orderEnv = s.compose.services['order-service'].environment;
    // The URL comes from the synthesized compose file, not from this test.
    expect(orderEnv.USER_SERVICE_URL).toBe(`http://127.0.0.1:${userPort}`);
    expect(s.compose.services['order-service'].depends_on['user-service'].condition).toBe('service_healthy');
    expect(s.compose.services['order-service'].network_mode).toBe('host');

    // Start in compose's order: the callee first, healthy, then the caller.
    const u = startGunicorn(bin, s, users, home);
    await waitForHttp(`http://127.0.0.1:${userPort}/healthz`, 60_000, u);
    const o = startGunicorn(bin, s, orders, home);
    await waitForHttp(`http://127.0.0.1:${orderPort}/healthz`, 60_000, o);

    const r = await get(`http://127.0.0.1:${orderPort}/orders/10`);
    expect(r.status).toBe(200);
    expect(JSON.parse(r.body)).toEqual({ id: 10, user_id: 1, item: 'analytical engine', user: { id: 1, name: 'Ada Lovelace' } });
    // user-service's access log shows the call order-service made.
    await until('the call in user-service\'s access log', () => /"method": "GET", "path": "\/users\/1", "request_id": "[0-9a-f]{32}", "service": "user-service", "status": 200/.test(u.output()));

    // Without user-service, order-service fails visibly (502), so the 200 above came through the URL.
    const us = await u.stop('SIGTERM', users.gracefulTimeout.millis + 5_000);
    expect(us.code).toBe(0);
    const broken = await get(`http://127.0.0.1:${orderPort}/orders/10`).catch((e) => ({ status: -1, body: String(e) }));
    expect(broken.status).toBe(500);
    const os2 = await o.stop('SIGTERM', orders.gracefulTimeout.millis + 5_000);
    expect(os2.code).toBe(0);
    expectNoWorkersLeft([...workerPids(u), ...workerPids(o)]);
  });
});
