// The generated Celery worker image with metrics under a real Docker engine (one private dockerd for
// this file), run by docker-compose 1.29 from the compose file pyfleet writes (host networking,
// loopback only): the read-only root, the tmpfs /tmp holding the multiprocess directory, UID 10001, no
// published port; the main process serves /metrics on 127.0.0.1, the counts follow the tasks a host
// client enqueues through Debian's redis-server, a pool process killed with SIGKILL is replaced
// without the totals going back, and one that exits cleanly (`celery control pool_shrink`) marks itself
// dead before any scrape. Run it under `flock /tmp/pyfleet-docker.lock`.
import { spawnSync } from 'child_process';
import * as fs from 'fs';
import * as path from 'path';
import * as yaml from 'js-yaml';
import { App, CeleryWorker, ComposeNetworkMode, Duration, Stack } from '../../lib';
import { Engine, forDockerCompose129, haveDocker, importBase, indexWithStandIns, localIndexDir, serveIndex, startEngine } from '../support/docker';
import { haveEngine } from '../support/engines';
import { freePort, get, start, Started, stopAll } from '../support/process';
import { ensureJobsVenv, havePython } from '../support/python';
import { Synthesized, synth, tmpdir } from '../support/synth';

const run = havePython() && haveDocker() && haveEngine('redis-server', 'apt-get install redis-server') ? describe : describe.skip;
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
const PASSWORD = 'broker-secret';

async function until<T>(what: string, probe: () => Promise<T | undefined> | T | undefined, timeoutMs = 30_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await Promise.resolve().then(probe).catch(() => undefined);
    if (v !== undefined) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(250);
  }
}

/** Samples of a Prometheus text page, by series (`name{labels}`). */
function samples(text: string): Map<string, number> {
  return new Map(text.split('\n').filter((l) => l && !l.startsWith('#')).map((l) => [l.slice(0, l.lastIndexOf(' ')), Number(l.slice(l.lastIndexOf(' ') + 1))]));
}

run('the Celery worker image with metrics on docker-compose 1.29', () => {
  let engine: Engine;
  let index: { url: string; server: Started } | undefined;
  let redis: Started | undefined;
  let out: Synthesized;
  let src: string;
  let bin: string;
  let metricsPort: number;
  let redisPort: number;
  let file: string;
  const project = 'pfcelerymetrics';
  const dc = (args: string[], timeoutMs?: number): string => engine.compose(['-p', project, '-f', file, ...args], out.dir, timeoutMs);

  beforeAll(async () => {
    bin = ensureJobsVenv();
    [metricsPort, redisPort] = [await freePort(), await freePort()];
    src = tmpdir('pyfleet-celery-docker-src-');
    fs.writeFileSync(path.join(src, 'requirements.txt'), 'celery\nredis\n');
    fs.writeFileSync(path.join(src, 'tasks.py'), [
      'import os',
      'from celery import Celery',
      'url = os.environ["CELERY_BROKER_URL"]',
      'celery = Celery("tasks", broker=url, backend=url)',
      'celery.conf.broker_connection_retry_on_startup = True',
      '@celery.task(name="ok")',
      'def ok(i):',
      '    return os.getpid()',
      '@celery.task(name="boom")',
      'def boom(i):',
      '    raise ValueError(i)',
      '',
    ].join('\n'));
    fs.writeFileSync(path.join(src, 'client.py'), [
      'import json, sys',
      'from tasks import ok, boom',
      'rs = [ok.delay(i) for i in range(int(sys.argv[1]))] + [boom.delay(i) for i in range(int(sys.argv[2]))]',
      'print(json.dumps([r.get(timeout=60, propagate=False) for r in rs][:int(sys.argv[1])]))',
      '',
    ].join('\n'));
    const broker = `redis://:${PASSWORD}@127.0.0.1:${redisPort}/0`;
    out = synth((app: App) => {
      const stack = new Stack(app, 'pfcm', { compose: { networkMode: ComposeNetworkMode.HOST } });
      new CeleryWorker(stack, 'order-worker', { source: src, app: 'tasks:celery', concurrency: 2, taskTimeLimit: Duration.seconds(20), metrics: { port: metricsPort }, env: { CELERY_BROKER_URL: broker } });
    });
    const compose = out.compose('pfcm');
    file = path.join(out.dir, `${project}.compose-1.29.yml`);
    fs.writeFileSync(file, yaml.dump(forDockerCompose129(compose, { prebuilt: true })));
    redis = start('redis-server', ['--port', String(redisPort), '--bind', '127.0.0.1', '--requirepass', PASSWORD, '--save', '', '--appendonly', 'no', '--dir', src]);
    await until('redis-server', () => (/Ready to accept connections/.test(redis!.output()) ? true : undefined), 15_000);
    engine = await startEngine();
    const svc = compose.services['order-worker'];
    const ctx = path.join(out.dir, svc.build.context);
    importBase(engine, /^FROM (\S+)/m.exec(fs.readFileSync(path.join(ctx, 'Dockerfile'), 'utf8'))![1]);
    index = await serveIndex(indexWithStandIns(localIndexDir()));
    engine.docker(['build', '--network', 'host', '--build-arg', `PIP_INDEX_URL=${index.url}`, '-t', svc.build.tags[0], ctx], { timeout: 600_000 });
    await index.server.stop('SIGTERM', 5_000);
    index = undefined;
  }, 900_000);

  afterAll(async () => {
    if (engine) {
      try { dc(['down', '-v', '-t', '30'], 120_000); } catch { /* the engine stops next */ }
    }
    await index?.server.stop('SIGTERM', 5_000);
    await engine?.stop();
    await redis?.stop('SIGTERM', 10_000);
    await stopAll();
    out?.cleanup();
    if (src) fs.rmSync(src, { recursive: true, force: true });
  }, 180_000);

  test('metrics on loopback from the read-only container; exact counts; a killed pool process is replaced and the totals stay', async () => {
    const t0 = Date.now();
    dc(['up', '-d', '--no-build'], 240_000);
    const id = engine.docker(['ps', '-q', '--filter', `label=com.docker.compose.project=${project}`]).trim();
    const [c] = JSON.parse(engine.docker(['inspect', id]));
    expect(c.Config.User).toBe('10001:10001');
    expect(c.HostConfig.ReadonlyRootfs).toBe(true);
    expect(c.HostConfig.NetworkMode).toBe('host');
    expect(Object.keys(c.HostConfig.Tmpfs ?? {})).toContain('/tmp');
    expect(c.HostConfig.PortBindings ?? {}).toEqual({});
    expect(c.Config.Env).toContain('PYFLEET_METRICS_HOST=127.0.0.1');
    const url = `http://127.0.0.1:${metricsPort}/metrics`;
    const page = async (): Promise<Map<string, number>> => samples((await get(url)).body);
    await until('2 pool processes on /metrics', async () => ((await page()).get('celery_worker_pool_processes') === 2 ? true : undefined), 120_000);
    const readyMs = Date.now() - t0;
    // The multiprocess files are on the tmpfs: one per process and kind.
    expect(engine.docker(['exec', id, 'sh', '-c', 'ls /tmp/prometheus'])).toMatch(/gauge_livesum_\d+\.db/);

    const client = (nOk: number, nBoom: number): number[] => {
      const env = { PATH: `${bin}:${process.env.PATH}`, HOME: src, CELERY_BROKER_URL: `redis://:${PASSWORD}@127.0.0.1:${redisPort}/0` };
      const r = spawnSync(path.join(bin, 'python'), ['client.py', String(nOk), String(nBoom)], { cwd: src, env, encoding: 'utf8', timeout: 120_000 });
      if (r.status !== 0) throw new Error(`client: ${r.stderr}`);
      return JSON.parse(r.stdout.trim());
    };
    const ok = 'celery_tasks_total{state="succeeded",task="ok"}';
    const failed = 'celery_tasks_total{state="failed",task="boom"}';
    const pids = client(20, 4);
    expect(new Set(pids).size).toBe(2);
    await until('20 ok and 4 failed on /metrics', async () => {
      const s = await page();
      return s.get(ok) === 20 && s.get(failed) === 4 ? true : undefined;
    }, 15_000);

    // The pool processes are the container's; from the host they are plain processes (host PID namespace view).
    const top = engine.docker(['top', id, '-o', 'pid,ppid']).trim().split('\n').slice(1).map((l) => l.trim().split(/\s+/).map(Number));
    const main = c.State.Pid;
    const children = top.filter(([, ppid]) => ppid === main).map(([pid]) => pid);
    expect(children).toHaveLength(2);
    process.kill(children[0], 'SIGKILL');
    await until('a replacement pool process', () => {
      const now = engine.docker(['top', id, '-o', 'pid,ppid']).trim().split('\n').slice(1).map((l) => l.trim().split(/\s+/).map(Number)).filter(([, ppid]) => ppid === main).map(([pid]) => pid);
      return now.length === 2 && !now.includes(children[0]) ? true : undefined;
    }, 30_000);
    await sleep(1_000);
    const after = await page();
    expect(after.get('celery_worker_pool_processes')).toBe(2);
    expect(after.get(ok)).toBe(20);
    expect(after.get(failed)).toBe(4);
    expect(after.get('celery_tasks_in_progress')).toBe(0);
    client(5, 0);
    await until('25 ok on /metrics', async () => ((await page()).get(ok) === 25 ? true : undefined), 15_000);

    // A clean exit: shrinking the pool stops one process, which marks itself dead (worker_process_shutdown)
    // before any scrape: its live gauge file goes without /metrics being read.
    const control = (cmd: string): void => {
      const env = { PATH: `${bin}:${process.env.PATH}`, HOME: src, CELERY_BROKER_URL: `redis://:${PASSWORD}@127.0.0.1:${redisPort}/0` };
      const r = spawnSync(path.join(bin, 'celery'), ['-A', 'tasks:celery', 'control', cmd, '1', '--timeout', '10'], { cwd: src, env, encoding: 'utf8', timeout: 60_000 });
      if (r.status !== 0) throw new Error(`celery control ${cmd}: ${r.stdout}${r.stderr}`);
    };
    const live = (): string[] => engine.docker(['exec', id, 'sh', '-c', 'ls /tmp/prometheus']).split(/\s+/).filter((f) => /^gauge_livesum_\d+\.db$/.test(f));
    const liveBefore = live();
    const poolBefore = engine.docker(['top', id, '-o', 'pid,ppid']).trim().split('\n').slice(1).map((l) => l.trim().split(/\s+/).map(Number)).filter(([, ppid]) => ppid === main).map(([pid]) => pid);
    const nspid = new Map(poolBefore.map((p) => [p, Number(/^NSpid:\s+(.*)$/m.exec(fs.readFileSync(`/proc/${p}/status`, 'utf8'))![1].trim().split(/\s+/).pop())]));
    control('pool_shrink');
    const gone = await until('a pool process to exit cleanly', () => {
      const now = engine.docker(['top', id, '-o', 'pid,ppid']).trim().split('\n').slice(1).map((l) => l.trim().split(/\s+/).map(Number)).filter(([, ppid]) => ppid === main).map(([pid]) => pid);
      return now.length === 1 ? poolBefore.find((p) => !now.includes(p)) : undefined;
    }, 30_000);
    // The files are named by the pid inside the container's PID namespace (the last NSpid of the host pid).
    const inContainer = nspid.get(gone)!;
    expect(liveBefore).toContain(`gauge_livesum_${inContainer}.db`);
    await until('its live gauge file gone without a scrape', () => (live().includes(`gauge_livesum_${inContainer}.db`) ? undefined : true), 15_000);
    const shrunk = await page();
    expect(shrunk.get('celery_worker_pool_processes')).toBe(1);
    expect(shrunk.get(ok)).toBe(25);
    control('pool_grow');
    await until('2 pool processes again', async () => ((await page()).get('celery_worker_pool_processes') === 2 ? true : undefined), 30_000);
    expect((await page()).get(ok)).toBe(25);

    // SIGTERM (compose's stop): a warm shutdown, exit 0.
    const t1 = Date.now();
    dc(['stop', '-t', '30'], 120_000);
    const [stopped] = JSON.parse(engine.docker(['inspect', id]));
    expect(stopped.State.ExitCode).toBe(0);
    if (process.env.PYFLEET_CELERY_METRICS_FIGURES) fs.writeFileSync(process.env.PYFLEET_CELERY_METRICS_FIGURES, `docker: /metrics with 2 pool processes ${readyMs} ms after up began; stop ${Date.now() - t1} ms\n`);
  }, 400_000);
});
