// Real engines: a real Celery worker (celery 5.6 from pip's local index, prefork pool of 2) started
// with the command and environment pyfleet generates for a host-network stack (its staged build
// context: the generated pyfleet_celery.py around the user's app), Debian's redis-server as broker and
// result backend on a free loopback port, and Debian's Prometheus scraping it with the scrape
// configuration pyfleet writes for the compose Prometheus (in host mode its targets are loopback).
// N tasks, some failing and some retried: Prometheus stores exactly the counts by task and state; a
// pool process killed with SIGKILL (and replaced by Celery) neither resets nor double-counts the
// totals, and its live gauges stop counting. Every process is started by PID and stopped with a
// bounded timeout; only 127.0.0.1 is used.
import { spawnSync } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import * as yaml from 'js-yaml';
import { App, CeleryWorker, ComposeNetworkMode, Duration, Monitoring, Redis, Stack } from '../../lib';
import { haveEngine } from '../support/engines';
import { startPrometheus } from '../support/prometheus';
import { freePort, start, Started, stopAll } from '../support/process';
import { ensureJobsVenv, havePython } from '../support/python';
import { quietSynth } from '../support/synth';

const run = havePython() && haveEngine('redis-server', 'apt-get install redis-server') && haveEngine('prometheus', 'apt-get install prometheus (.ci/setup.d/60-prometheus.sh)') ? describe : describe.skip;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const REDIS_PASSWORD = 'broker-secret';

async function until<T>(what: string, probe: () => Promise<T | undefined> | T | undefined, timeoutMs = 30_000, proc?: Started): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await Promise.resolve().then(probe).catch(() => undefined);
    if (v !== undefined) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}${proc ? `\n${proc.output().slice(-3000)}` : ''}`);
    await sleep(200);
  }
}

/** `${VAR:?msg}` as compose substitutes it from the deploying shell, and `$$` as `$`. */
function interpolate(value: string, shell: Record<string, string>): string {
  return value.replace(/\$\$|\$\{([A-Z0-9_]+)(:\?[^}]*)?\}/g, (m, name) => {
    if (m === '$$') return '$';
    if (!(name in shell)) throw new Error(`the compose file needs ${name}`);
    return shell[name];
  });
}

/** The Celery app: `ok` returns its pool process's pid, `boom` raises, `flaky` retries once, then succeeds; `slow` writes its pid to $SLOW_PID_FILE and sleeps. */
function source(dir: string): string {
  fs.mkdirSync(dir, { recursive: true });
  fs.writeFileSync(path.join(dir, 'requirements.txt'), 'celery\nredis\n');
  fs.writeFileSync(path.join(dir, 'tasks.py'), [
    'import os, time',
    'from celery import Celery',
    'url = os.environ["CELERY_BROKER_URL"]',
    'celery = Celery("tasks", broker=url, backend=url)',
    'celery.conf.broker_connection_retry_on_startup = True',
    '',
    '@celery.task(name="ok")',
    'def ok(i):',
    '    return os.getpid()',
    '',
    '@celery.task(name="boom")',
    'def boom(i):',
    '    raise ValueError("boom %d" % i)',
    '',
    '@celery.task(name="slow")',
    'def slow(seconds):',
    '    with open(os.environ["SLOW_PID_FILE"], "w") as f:',
    '        f.write(str(os.getpid()))',
    '    time.sleep(seconds)',
    '',
    '@celery.task(name="flaky", bind=True, max_retries=3)',
    'def flaky(self, i):',
    '    if self.request.retries == 0:',
    '        raise self.retry(countdown=0)',
    '    return os.getpid()',
    '',
  ].join('\n'));
  // The client: enqueues and waits for every result (the backend is the broker's Redis); prints pids.
  fs.writeFileSync(path.join(dir, 'client.py'), [
    'import json, sys',
    'from tasks import ok, boom, flaky, slow',
    'if sys.argv[1] == "slow":',
    '    print(slow.delay(float(sys.argv[2])).id)',
    '    sys.exit(0)',
    'n_ok, n_boom, n_flaky = (int(x) for x in sys.argv[1:4])',
    'rs = [ok.delay(i) for i in range(n_ok)] + [boom.delay(i) for i in range(n_boom)] + [flaky.delay(i) for i in range(n_flaky)]',
    'out = []',
    'for r in rs:',
    '    out.append(r.get(timeout=60, propagate=False))',
    'print(json.dumps([x for x in out if isinstance(x, int)]))',
    '',
  ].join('\n'));
  return dir;
}

run('Celery worker metrics, scraped by a real Prometheus', () => {
  let bin = '';
  let tmp = '';
  let redis: Started;
  let redisPort = 0;
  beforeAll(async () => {
    bin = ensureJobsVenv();
    tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'pyfleet-celery-metrics-'));
    redisPort = await freePort();
    redis = start('redis-server', ['--port', String(redisPort), '--bind', '127.0.0.1', '--requirepass', REDIS_PASSWORD, '--save', '', '--appendonly', 'no', '--dir', tmp]);
    await until('redis-server', () => (/Ready to accept connections/.test(redis.output()) ? true : undefined), 15_000, redis);
  }, 600_000);
  afterAll(async () => {
    await redis?.stop('SIGTERM', 10_000);
    await stopAll();
    fs.rmSync(tmp, { recursive: true, force: true });
  });

  test('concurrency 2: exact counts by task and state; a killed pool process neither resets nor double-counts', async () => {
    const [metricsPort, promPort] = [await freePort(), await freePort()];
    const outdir = path.join(tmp, 'out');
    const app = new App({ outdir });
    const stack = new Stack(app, 'jobs', { compose: { networkMode: ComposeNetworkMode.HOST }, monitoring: Monitoring.prometheus({ interval: Duration.seconds(1), grafana: true }) });
    const cache = new Redis(stack, 'cache', { port: redisPort });
    new CeleryWorker(stack, 'order-worker', { source: source(path.join(tmp, 'src')), app: 'tasks:celery', calls: [cache], concurrency: 2, taskTimeLimit: Duration.seconds(60), metrics: { port: metricsPort } });
    quietSynth(app);
    const compose = yaml.load(fs.readFileSync(path.join(outdir, 'jobs.compose.yml'), 'utf8')) as any;
    const ws = compose.services['order-worker'];
    // Not published; the metrics server binds loopback only in host mode.
    expect(ws.ports).toBeUndefined();
    expect(ws.environment.PYFLEET_METRICS_HOST).toBe('127.0.0.1');
    expect(ws.entrypoint).toEqual(['celery', '-A', 'pyfleet_celery:app', 'worker', '--loglevel=INFO', '--concurrency=2', '--time-limit=60', '--hostname=celery@%h']);
    const ctx = path.join(outdir, ws.build.context);
    expect(fs.readFileSync(path.join(ctx, 'pyfleet-requirements.txt'), 'utf8')).toMatch(/^prometheus-client==0\.26\.0$/m);
    const version = ws.build.tags[0].split(':').pop();

    // The generated scrape configuration, used as it is.
    const promDir = path.join(tmp, 'prometheus');
    fs.mkdirSync(promDir);
    const generated = fs.readFileSync(path.join(outdir, 'jobs.compose', 'prometheus.yml'), 'utf8');
    expect((yaml.load(generated) as any).scrape_configs).toEqual([{
      job_name: 'order-worker', scrape_interval: '1s', scrape_timeout: '1s', metrics_path: '/metrics', scheme: 'http',
      static_configs: [{ targets: [`127.0.0.1:${metricsPort}`], labels: { app: 'order-worker', version } }],
    }]);
    fs.writeFileSync(path.join(promDir, 'prometheus.yml'), generated);

    // A stale file of an earlier run: the main process empties the directory at worker_init.
    const mp = path.join(tmp, 'mp');
    fs.mkdirSync(mp);
    fs.writeFileSync(path.join(mp, 'counter_1.db'), 'stale');
    const env: Record<string, string> = {};
    for (const [k, v] of Object.entries<string>(ws.environment)) env[k] = interpolate(v, { CACHE_CREDENTIALS_PASSWORD: REDIS_PASSWORD });
    const slowPidFile = path.join(tmp, 'slow.pid');
    Object.assign(env, { PATH: `${bin}:${process.env.PATH}`, HOME: tmp, PYTHONDONTWRITEBYTECODE: '1', PYTHONUNBUFFERED: '1', PROMETHEUS_MULTIPROC_DIR: mp, SLOW_PID_FILE: slowPidFile });
    const entrypoint = ws.entrypoint.map((x: string) => interpolate(x, {}));
    const worker = start(path.join(bin, entrypoint[0]), entrypoint.slice(1), { cwd: ctx, env });
    const promServer = startPrometheus(promDir, promPort);
    const prom = promServer.proc;
    const { query, scalar, equals } = promServer;
    const tasks = (task: string, state: string) => `celery_tasks_total{job="order-worker",task="${task}",state="${state}"}`;
    const children = (): number[] => {
      const f = `/proc/${worker.pid}/task/${worker.pid}/children`;
      return fs.existsSync(f) ? fs.readFileSync(f, 'utf8').trim().split(/\s+/).filter(Boolean).map(Number) : [];
    };
    const python = (args: string[]): string => {
      const r = spawnSync(path.join(bin, 'python'), ['client.py', ...args], { cwd: ctx, env, encoding: 'utf8', timeout: 120_000 });
      if (r.status !== 0) throw new Error(`client: ${r.status} ${r.stderr}\n${worker.output().slice(-3000)}`);
      return r.stdout.trim().split('\n').pop()!;
    };
    const client = (nOk: number, nBoom: number, nFlaky: number): number[] => JSON.parse(python([String(nOk), String(nBoom), String(nFlaky)]));
    const figures: string[] = [];
    try {
      const startedAt = Date.now();
      await until('the worker to be ready', () => (/celery@\S+ ready\./.test(worker.output()) ? true : undefined), 60_000, worker);
      expect(worker.output()).toContain(`pyfleet: metrics on http://127.0.0.1:${metricsPort}/metrics`);
      expect(fs.existsSync(path.join(mp, 'counter_1.db'))).toBe(false);
      figures.push(`worker ready (metrics served) ${Date.now() - startedAt} ms after start`);
      await until('the target to be up', equals('up{job="order-worker"}', 1), 60_000);
      await until('2 pool processes in Prometheus', equals('celery_worker_pool_processes{job="order-worker"}', 2), 30_000);

      const [N_OK, N_BOOM, N_FLAKY] = [40, 7, 3];
      const batchAt = Date.now();
      const pids = client(N_OK, N_BOOM, N_FLAKY);
      figures.push(`${N_OK + N_BOOM + N_FLAKY} tasks (with ${N_FLAKY} retries) enqueued and done in ${Date.now() - batchAt} ms (client process included)`);
      expect(pids).toHaveLength(N_OK + N_FLAKY);
      // The prefork pool ran them in both processes.
      expect(new Set(pids).size).toBe(2);
      await until(`${N_OK} ok in Prometheus`, equals(tasks('ok', 'succeeded'), N_OK));
      await until(`${N_BOOM} failed in Prometheus`, equals(tasks('boom', 'failed'), N_BOOM));
      await until(`${N_FLAKY} retried in Prometheus`, equals(tasks('flaky', 'retried'), N_FLAKY));
      await until(`${N_FLAKY} flaky succeeded in Prometheus`, equals(tasks('flaky', 'succeeded'), N_FLAKY));
      await sleep(2_500); // a few more scrapes: still exactly these counts
      const series = await query('celery_tasks_total{job="order-worker"}');
      expect(series.map((s) => `${s.metric.task} ${s.metric.state} ${s.value[1]}`).sort()).toEqual([`boom failed ${N_BOOM}`, `flaky retried ${N_FLAKY}`, `flaky succeeded ${N_FLAKY}`, `ok succeeded ${N_OK}`]);
      // One aggregated view: no pid label; labelled by the generated configuration with app and version.
      expect(series.every((s) => s.metric.pid === undefined && s.metric.app === 'order-worker' && s.metric.version === version)).toBe(true);
      // Every run of a task is timed, a retried run too.
      expect(await scalar('celery_task_duration_seconds_count{job="order-worker",task="ok"}')).toBe(N_OK);
      expect(await scalar('celery_task_duration_seconds_count{job="order-worker",task="boom"}')).toBe(N_BOOM);
      expect(await scalar('celery_task_duration_seconds_count{job="order-worker",task="flaky"}')).toBe(2 * N_FLAKY);
      expect(await scalar('celery_tasks_in_progress{job="order-worker"}')).toBe(0);

      // Kill a pool process that ran tasks; Celery replaces it.
      const before = children();
      expect(before).toHaveLength(2);
      const victim = before.find((p) => pids.includes(p))!;
      expect(fs.existsSync(path.join(mp, `counter_${victim}.db`))).toBe(true);
      const killedAt = Date.now();
      process.kill(victim, 'SIGKILL');
      await until('a replacement pool process', () => {
        const now = children();
        return now.length === 2 && !now.includes(victim) ? true : undefined;
      }, 30_000, worker);
      figures.push(`idle pool process killed: replaced after ${Date.now() - killedAt} ms`);
      await until('2 pool processes again', equals('celery_worker_pool_processes{job="order-worker"}', 2), 30_000);
      // Marked dead before a scrape: its live gauges are gone, its counters stay (totals never go back).
      await until('the killed process marked dead', () => (fs.existsSync(path.join(mp, `gauge_livesum_${victim}.db`)) ? undefined : true), 10_000);
      expect(fs.existsSync(path.join(mp, `counter_${victim}.db`))).toBe(true);
      await sleep(2_500);
      // Scraped after the marking: the dead process no longer counts in the pool (2, not 3).
      expect(await scalar('celery_worker_pool_processes{job="order-worker"}')).toBe(2);
      expect(await scalar(tasks('ok', 'succeeded'))).toBe(N_OK);
      expect(await scalar(tasks('boom', 'failed'))).toBe(N_BOOM);
      expect(await scalar('celery_tasks_in_progress{job="order-worker"}')).toBe(0);
      expect((await query('celery_tasks_total{job="order-worker"}')).length).toBe(4);

      const M = 10;
      expect(client(M, 0, 0)).toHaveLength(M);
      await until(`${N_OK + M} ok in Prometheus`, equals(tasks('ok', 'succeeded'), N_OK + M));
      expect(await scalar(tasks('boom', 'failed'))).toBe(N_BOOM);

      // A pool process killed in the middle of a task: Celery's main process reports the task lost
      // (WorkerLostError); it counts once, as failed, and its in-progress gauge goes with its process.
      python(['slow', '30']);
      const busy = await until('the slow task to start', () => (fs.existsSync(slowPidFile) && fs.readFileSync(slowPidFile, 'utf8') ? Number(fs.readFileSync(slowPidFile, 'utf8')) : undefined), 30_000, worker);
      await until('the slow task in progress in Prometheus', equals('celery_tasks_in_progress{job="order-worker"}', 1));
      const busyKilledAt = Date.now();
      process.kill(busy, 'SIGKILL');
      await until('the lost task counted as failed', equals(tasks('slow', 'failed'), 1), 45_000);
      figures.push(`busy pool process killed: its task stored as failed in Prometheus after ${Date.now() - busyKilledAt} ms (1 s scrapes)`);
      await until('nothing in progress', equals('celery_tasks_in_progress{job="order-worker"}', 0), 15_000);
      await sleep(2_500);
      expect(await scalar(tasks('slow', 'failed'))).toBe(1);
      expect(await scalar('celery_tasks_in_progress{job="order-worker"}')).toBe(0);
      expect(await scalar('celery_worker_pool_processes{job="order-worker"}')).toBe(2);
      // Lost, not finished: no duration observed for it; the other totals are untouched.
      expect((await query('celery_task_duration_seconds_count{job="order-worker",task="slow"}')).length).toBe(0);
      expect(await scalar(tasks('ok', 'succeeded'))).toBe(N_OK + M);
      expect(await scalar(tasks('boom', 'failed'))).toBe(N_BOOM);
      expect((await query('celery_tasks_total{job="order-worker"}')).map((x) => `${x.metric.task} ${x.metric.state}`).sort())
        .toEqual(['boom failed', 'flaky retried', 'flaky succeeded', 'ok succeeded', 'slow failed']);
      // Never a reset of an aggregated counter over the whole run.
      expect(await scalar(`resets(${tasks('ok', 'succeeded')}[5m])`)).toBe(0);
      expect(await scalar(`max_over_time(celery_worker_pool_processes{job="order-worker"}[5m])`)).toBe(2);
      // The worker's generated Grafana dashboard: every query answers from the stored series (Grafana's
      // $__rate_interval as 1m; a percentile is NaN for a task whose rate in the window is 0, as in
      // Grafana, so one finite value is asked for). Rates are not compared with the counts: Prometheus
      // counts no increase for a series first scraped with its total already there.
      const dash = JSON.parse(fs.readFileSync(path.join(outdir, 'jobs.compose', 'grafana', 'dashboards', 'order-worker.json'), 'utf8'));
      for (const p of dash.panels) {
        for (const t of p.targets) {
          const res = await query(t.expr.replace(/\$__rate_interval/g, '1m'));
          expect({ panel: p.title, expr: t.expr, results: res.some((r) => Number.isFinite(Number(r.value[1]))) }).toEqual({ panel: p.title, expr: t.expr, results: true });
        }
      }
      const scrape = await query('scrape_duration_seconds{job="order-worker"}');
      figures.push(`scrape of the worker's /metrics: ${(Number(scrape[0].value[1]) * 1000).toFixed(1)} ms (last one)`);
      // The figures: written where PYFLEET_CELERY_METRICS_FIGURES points (the test log stays quiet).
      if (process.env.PYFLEET_CELERY_METRICS_FIGURES) fs.writeFileSync(process.env.PYFLEET_CELERY_METRICS_FIGURES, figures.join('\n') + '\n');
    } finally {
      const ps = await prom.stop('SIGTERM', 10_000);
      const stopped = await worker.stop('SIGTERM', 30_000);
      expect(ps.killed).toBe(false);
      expect(stopped.killed).toBe(false);
    }
  }, 300_000);
});
