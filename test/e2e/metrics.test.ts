// Real engines: the generated app under gunicorn (3 workers, the generated gunicorn.conf.py and
// pyfleet_app.py from a staged build context) and Debian's Prometheus, which scrapes it with the scrape
// jobs pyfleet makes from the model (pointed at loopback). Every process is started by PID and stopped
// with a bounded timeout; only 127.0.0.1 is used.
import { execFileSync } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import * as yaml from 'js-yaml';
import { App, ComposeNetworkMode, Duration, FastApiApp, GunicornFlaskApp, Monitoring, PythonWebApp, Stack, StackModel, StackProps, prometheusScrapeJobs } from '../../lib';
import { haveEngine } from '../support/engines';
import { startPrometheus } from '../support/prometheus';
import { freePort, get, start, Started, stopAll, waitForHttp } from '../support/process';
import { ensureVenv, havePython } from '../support/python';

const ROOT = path.join(__dirname, '..', '..');
const FLASK = path.join(ROOT, 'examples', 'flask-gunicorn', 'app');
const USERS = path.join(ROOT, 'examples', 'shop', 'services', 'user');

const run = havePython() && haveEngine('prometheus', 'apt-get install prometheus (.ci/setup.d/60-prometheus.sh)') ? describe : describe.skip;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function until<T>(what: string, probe: () => Promise<T | undefined>, timeoutMs = 30_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await probe().catch(() => undefined);
    if (v !== undefined) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(200);
  }
}

interface Served { model: StackModel; svc: PythonWebApp; context: string; environment: Record<string, string> }

function synth(outdir: string, build: (stack: Stack) => PythonWebApp, props: StackProps = {}): Served {
  const app = new App({ outdir });
  const stack = new Stack(app, 'obs', props);
  const svc = build(stack);
  app.synth();
  expect(app.warnings()).toEqual([]);
  const out = app.synthesize().find((o) => o.stack === stack)!;
  const compose = yaml.load(fs.readFileSync(path.join(outdir, 'obs.compose.yml'), 'utf8')) as any;
  const def = compose.services[svc.serviceName];
  // Not published on compose, whatever the mode: only the HTTP port would be (this one is not exposed).
  expect(def.ports).toBeUndefined();
  expect(def.logging).toEqual({ driver: 'json-file', options: { 'max-file': '3', 'max-size': '10m' } });
  return { model: out.model, svc, context: path.join(outdir, def.build.context), environment: def.environment };
}

run('metrics and logs of the generated app, scraped by a real Prometheus', () => {
  let bin = '';
  let tmp = '';
  beforeAll(() => {
    bin = ensureVenv();
    tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'pyfleet-metrics-'));
  }, 300_000);
  afterAll(async () => {
    await stopAll();
    fs.rmSync(tmp, { recursive: true, force: true });
  });

  function gunicorn(s: Served, multiprocDir: string): Started {
    return start(path.join(bin, 'gunicorn'), ['--config', 'gunicorn.conf.py'], {
      cwd: s.context,
      env: {
        ...s.environment,
        PATH: `${bin}:${process.env.PATH}`,
        HOME: tmp,
        PYTHONDONTWRITEBYTECODE: '1',
        PYTHONUNBUFFERED: '1',
        GUNICORN_CMD_ARGS: `--bind=127.0.0.1:${s.svc.port}`,
        PYFLEET_METRICS_HOST: '127.0.0.1',
        // The container's /tmp/prometheus, private to this run.
        PROMETHEUS_MULTIPROC_DIR: multiprocDir,
      },
    });
  }

  test('Flask, 3 workers: Prometheus stores exactly N requests; a killed worker neither resets nor double-counts', async () => {
    const [port, metricsPort, promPort] = [await freePort(), await freePort(), await freePort()];
    // A host-mode stack with monitoring: its compose Prometheus configuration scrapes loopback, as this test does.
    const s = synth(path.join(tmp, 'flask'), (stack) => new GunicornFlaskApp(stack, 'catalog', { source: FLASK, port, workers: 3, replicas: 1, metrics: { port: metricsPort } }),
      { compose: { networkMode: ComposeNetworkMode.HOST }, monitoring: Monitoring.prometheus({ interval: Duration.seconds(1) }) });
    expect(s.environment.PYFLEET_VERSION).toBe('v1');

    // A stale file of an earlier run in the multiprocess directory: the master empties it on start.
    const mp = path.join(tmp, 'mp-flask');
    fs.mkdirSync(mp);
    fs.writeFileSync(path.join(mp, 'counter_1.db'), 'stale');
    const g = gunicorn(s, mp);
    await waitForHttp(`http://127.0.0.1:${port}/healthz`, 60_000, g);
    expect(fs.existsSync(path.join(mp, 'counter_1.db'))).toBe(false);

    // The scrape configuration is the one pyfleet writes for the compose Prometheus (obs.compose/prometheus.yml),
    // used as it is: in host network mode its targets are already loopback. Prometheus runs from its own temp dir.
    const promDir = path.join(tmp, 'prometheus');
    fs.mkdirSync(promDir);
    const generated = fs.readFileSync(path.join(tmp, 'flask', 'obs.compose', 'prometheus.yml'), 'utf8');
    expect((yaml.load(generated) as any).scrape_configs).toEqual([{
      job_name: 'catalog', scrape_interval: '1s', scrape_timeout: '1s', metrics_path: '/metrics', scheme: 'http',
      static_configs: [{ targets: [`127.0.0.1:${metricsPort}`], labels: { app: 'catalog', version: 'v1' } }],
    }]);
    fs.writeFileSync(path.join(promDir, 'prometheus.yml'), generated);
    // The library's scrape jobs from the model agree on the target.
    expect(prometheusScrapeJobs(s.model, { interval: Duration.seconds(1) })[0].static_configs[0].targets).toEqual([`127.0.0.1:${metricsPort}`]);
    const promServer = startPrometheus(promDir, promPort);
    const prom = promServer.proc;
    const { query, scalar, equals } = promServer;
    const route = '/items/<int:item_id>';
    const itemsTotal = `sum(http_requests_total{job="catalog",route="${route}",status="200"})`;
    try {
      await until('the target to be up', equals('up{job="catalog"}', 1), 60_000);

      // N requests, 6 at a time on separate connections, so that every worker serves some.
      const N = 60;
      for (let i = 0; i < N; i += 6) {
        const rs = await Promise.all([...Array(6)].map((_, k) => get(`http://127.0.0.1:${port}/items/${i + k + 1}`, { 'X-Request-ID': `req-${i + k}` })));
        for (const r of rs) expect(r.status).toBe(200);
      }
      await get(`http://127.0.0.1:${port}/no-such-page`);
      const servedBy = fs.readdirSync(mp).filter((f) => /^histogram_\d+\.db$/.test(f)).map((f) => Number(/\d+/.exec(f)![0]));
      expect(servedBy.length).toBeGreaterThanOrEqual(2);

      await until(`${N} requests in Prometheus`, equals(itemsTotal, N));
      await sleep(2_500); // a few more scrapes: still exactly N
      expect(await scalar(itemsTotal)).toBe(N);
      // One aggregated view: no pid label, one series per method/route/status; a 404 is "unmatched".
      const series = await query('http_requests_total{job="catalog"}');
      expect(series.every((x) => x.metric.pid === undefined)).toBe(true);
      // Labelled by the generated configuration with the service and version that served it.
      expect(series.every((x) => x.metric.app === 'catalog' && x.metric.version === 'v1')).toBe(true);
      expect(series.map((x) => `${x.metric.method} ${x.metric.route} ${x.metric.status}`).sort()).toEqual(['GET /healthz 200', `GET ${route} 200`, 'GET unmatched 404']);
      expect(await scalar(`sum(http_request_duration_seconds_count{job="catalog",route="${route}"})`)).toBe(N);
      expect(await scalar('gunicorn_workers{job="catalog"}')).toBe(3);
      expect(await scalar('gunicorn_worker_restarts_total{job="catalog"}')).toBe(0);

      // Kill a worker that served requests; gunicorn replaces it.
      const victim = servedBy[0];
      const booted = () => [...g.output().matchAll(/Booting worker with pid: (\d+)/g)].length;
      const before = booted();
      process.kill(victim, 'SIGKILL');
      await until('a replacement worker', async () => (booted() > before ? true : undefined), 15_000);
      await until('the restart in Prometheus', equals('gunicorn_worker_restarts_total{job="catalog"}', 1));
      // child_exit marked it dead: its live gauge file is gone, its counter file stays (totals never go back).
      expect(fs.existsSync(path.join(mp, `gauge_livesum_${victim}.db`))).toBe(false);
      expect(fs.existsSync(path.join(mp, `counter_${victim}.db`))).toBe(true);
      await sleep(2_500);
      // The dead worker's requests still count, once: the total neither went back nor grew.
      expect(await scalar(itemsTotal)).toBe(N);
      expect((await query('http_requests_total{job="catalog"}')).length).toBe(3);
      expect(await scalar('http_requests_in_flight{job="catalog"}')).toBe(0);
      const M = 12;
      for (let i = 0; i < M; i += 6) {
        await Promise.all([...Array(6)].map((_, k) => get(`http://127.0.0.1:${port}/items/${k + 1}`)));
      }
      await until(`${N + M} requests in Prometheus`, equals(itemsTotal, N + M));
      // Never a reset of the aggregated counter over the whole run.
      expect(await scalar(`resets(${itemsTotal.replace(/^sum\((.*)\)$/, '$1')}[5m])`)).toBe(0);

      // The access log: one JSON object per line on stdout, with the request id given or a new one.
      const access = g.output().split('\n').filter((l) => l.startsWith('{')).map((l) => JSON.parse(l));
      expect(access.filter((a) => a.path.startsWith('/items/'))).toHaveLength(N + M);
      const first = access.find((a) => a.request_id === 'req-0');
      expect(first).toMatchObject({ type: 'access', method: 'GET', path: '/items/1', status: 200, service: 'catalog', version: 'v1' });
      expect(typeof first.duration_s).toBe('number');
      expect(first.time).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/);
      const notFound = access.find((a) => a.path === '/no-such-page');
      expect(notFound.status).toBe(404);
      expect(notFound.request_id).toMatch(/^[0-9a-f]{32}$/);
    } finally {
      const ps = await prom.stop('SIGTERM', 10_000);
      expect(ps.killed).toBe(false);
      const gs = await g.stop('SIGTERM', 15_000);
      expect(gs.killed).toBe(false);
    }
  }, 180_000);

  test('FastAPI (uvicorn workers): route templates from the matched route, X-Request-ID echoed, JSON access log', async () => {
    const [port, metricsPort] = [await freePort(), await freePort()];
    const s = synth(path.join(tmp, 'fastapi'), (stack) => new FastApiApp(stack, 'user-service', { source: USERS, port, workers: 2, metrics: { port: metricsPort } }));
    const mp = path.join(tmp, 'mp-fastapi');
    const g = gunicorn(s, mp);
    try {
      await waitForHttp(`http://127.0.0.1:${port}/healthz`, 60_000, g);
      for (const id of [1, 2, 1]) expect((await get(`http://127.0.0.1:${port}/users/${id}`)).status).toBe(200);
      // A matched route that answers 404 keeps its template; only an unmatched path is "unmatched".
      expect((await get(`http://127.0.0.1:${port}/users/3`)).status).toBe(404);
      const r = await get(`http://127.0.0.1:${port}/nothing-here`, { 'X-Request-ID': 'abc-123' });
      expect(r.status).toBe(404);
      expect(r.headers['x-request-id']).toBe('abc-123');
      // The wrapper counts a request once its response is sent, so the last one may land just after the
      // client has its answer: read until the 5 requests are counted (bounded), then check each series.
      let samples = new Map<string, number>();
      for (const deadline = Date.now() + 10_000; ;) {
        const text = (await get(`http://127.0.0.1:${metricsPort}/metrics`)).body;
        samples = new Map(text.split('\n').filter((l) => l.startsWith('http_requests_total{') && !l.includes('/healthz')).map((l) => [l.slice(0, l.lastIndexOf(' ')), Number(l.slice(l.lastIndexOf(' ') + 1))]));
        if ([...samples.values()].reduce((a, b) => a + b, 0) >= 5 || Date.now() > deadline) break;
        await new Promise((r) => setTimeout(r, 200));
      }
      expect(samples.get('http_requests_total{method="GET",route="/users/{user_id}",status="200"}')).toBe(3);
      expect(samples.get('http_requests_total{method="GET",route="/users/{user_id}",status="404"}')).toBe(1);
      expect(samples.get('http_requests_total{method="GET",route="unmatched",status="404"}')).toBe(1);
      const access = g.output().split('\n').filter((l) => l.startsWith('{')).map((l) => JSON.parse(l));
      expect(access.find((a) => a.request_id === 'abc-123')).toMatchObject({ path: '/nothing-here', status: 404, service: 'user-service', version: 'v1' });
      // uvicorn's own access log is off: the wrapper's JSON line is the only one per request.
      expect(g.output()).not.toMatch(/"GET \/users\/1 HTTP/);
    } finally {
      const gs = await g.stop('SIGTERM', 15_000);
      expect(gs.killed).toBe(false);
    }
  }, 120_000);
});

// The wrapper keeps the labelled children of each (method, route, status) after their first request
// instead of asking labels() every time. Driven in-process (no server: the exact request mix is known),
// against the real prometheus-client in multiprocess mode: every series counts exactly, the histogram
// holds as many observations as the counter for its method and route, unknown methods are one "other"
// series however many there are (the cache holds one entry per series, never one per method a client
// makes up), and nothing is left in flight.
(havePython() ? describe : describe.skip)('the wrapper in-process: exact counts with cached series', () => {
  test('Flask: counters, histogram counts and the series cache agree with the requests made', () => {
    const bin = ensureVenv();
    const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'pyfleet-metrics-cache-'));
    try {
      const src = path.join(tmp, 'src');
      fs.mkdirSync(src);
      fs.copyFileSync(path.join(FLASK, 'requirements.txt'), path.join(src, 'requirements.txt'));
      fs.writeFileSync(path.join(src, 'app.py'), [
        'from flask import Flask, abort',
        'app = Flask(__name__)',
        '@app.route("/items/<int:item_id>", methods=["GET", "POST", "DELETE"])',
        'def item(item_id):',
        '    if item_id == 0:',
        '        abort(404)',
        '    if item_id == 13:',
        '        raise RuntimeError("boom")',
        '    return "ok"',
        '',
      ].join('\n'));
      const app = new App({ outdir: path.join(tmp, 'out') });
      new GunicornFlaskApp(new Stack(app, 'obs'), 'catalog', { source: src, port: 8080 });
      app.synth();
      const compose = yaml.load(fs.readFileSync(path.join(tmp, 'out', 'obs.compose.yml'), 'utf8')) as any;
      const context = path.join(tmp, 'out', compose.services.catalog.build.context);

      // [method, path, times]; what each is counted as follows from the app above.
      const made: Array<[string, string, number]> = [
        ['GET', '/items/1', 7], ['GET', '/items/0', 3], ['POST', '/items/2', 4], ['DELETE', '/items/13', 2],
        ['GET', '/nothing', 5], ['PUT', '/items/1', 2],
        ...[...Array(40)].map((_, i): [string, string, number] => [`SCAN${i}`, '/items/1', 1]),
      ];
      const expected: Record<string, number> = {
        'GET /items/<int:item_id> 200': 7, 'GET /items/<int:item_id> 404': 3, 'POST /items/<int:item_id> 200': 4,
        'DELETE /items/<int:item_id> 500': 2, 'GET unmatched 404': 5, 'PUT unmatched 405': 2, 'other unmatched 405': 40,
      };
      const script = `
import json, os, sys
os.dup2(os.open(os.devnull, os.O_WRONLY), 1)  # the access log
sys.path.insert(0, ".")
import pyfleet_app
from prometheus_client import CollectorRegistry
from prometheus_client.multiprocess import MultiProcessCollector
statuses = []
for method, path, times in json.loads(sys.argv[1]):
    for _ in range(times):
        environ = {"REQUEST_METHOD": method, "PATH_INFO": path, "SERVER_NAME": "127.0.0.1", "SERVER_PORT": "8080",
                   "wsgi.url_scheme": "http", "wsgi.input": __import__("io").BytesIO(b""), "wsgi.errors": sys.stderr}
        body = pyfleet_app.app(environ, lambda status, headers, exc_info=None: statuses.append(status))
        list(body)
        body.close()
registry = CollectorRegistry()
MultiProcessCollector(registry)
samples = [[s.name, s.labels, s.value] for m in registry.collect() for s in m.samples]
with open(sys.argv[2], "w") as f:
    json.dump({"samples": samples, "series": len(pyfleet_app._SERIES), "statuses": len(statuses)}, f)
`;
      const mp = path.join(tmp, 'mp');
      fs.mkdirSync(mp);
      const resultFile = path.join(tmp, 'result.json');
      try {
        execFileSync(path.join(bin, 'python'), ['-c', script, JSON.stringify(made), resultFile], {
          cwd: context, env: { PATH: process.env.PATH, HOME: tmp, PYTHONDONTWRITEBYTECODE: '1', PROMETHEUS_MULTIPROC_DIR: mp }, stdio: ['ignore', 'ignore', 'pipe'], timeout: 60_000,
        });
      } catch (e) {
        throw new Error(`the in-process run failed: ${(e as { stderr?: Buffer }).stderr?.toString()}`);
      }
      const r = JSON.parse(fs.readFileSync(resultFile, 'utf8')) as { samples: Array<[string, Record<string, string>, number]>; series: number; statuses: number };
      const total = made.reduce((n, [, , k]) => n + k, 0);
      expect(r.statuses).toBe(total);
      const of = (name: string) => r.samples.filter(([n]) => n === name);
      const counted = Object.fromEntries(of('http_requests_total').map(([, l, v]) => [`${l.method} ${l.route} ${l.status}`, v]));
      expect(counted).toEqual(expected);
      // One cache entry per series: 40 made-up methods are one "other" entry.
      expect(r.series).toBe(Object.keys(expected).length);
      // The histogram: per method and route, as many observations as requests, in the +Inf bucket too, with a positive sum.
      const byRoute: Record<string, number> = {};
      for (const [k, v] of Object.entries(expected)) {
        const key = k.split(' ').slice(0, 2).join(' ');
        byRoute[key] = (byRoute[key] ?? 0) + v;
      }
      const key = (l: Record<string, string>) => `${l.method} ${l.route}`;
      expect(Object.fromEntries(of('http_request_duration_seconds_count').map(([, l, v]) => [key(l), v]))).toEqual(byRoute);
      expect(Object.fromEntries(of('http_request_duration_seconds_bucket').filter(([, l]) => l.le === '+Inf').map(([, l, v]) => [key(l), v]))).toEqual(byRoute);
      for (const [, , v] of of('http_request_duration_seconds_sum')) expect(v).toBeGreaterThan(0);
      // Buckets are cumulative and 12 + 1 per series (0.005 ... 30 and +Inf).
      const buckets = of('http_request_duration_seconds_bucket').filter(([, l]) => key(l) === 'GET /items/<int:item_id>');
      expect(buckets).toHaveLength(13);
      const le = (x: string) => (x === '+Inf' ? Infinity : Number(x));
      const values = buckets.sort((a, b) => le(a[1].le) - le(b[1].le)).map(([, , v]) => v);
      expect(values).toEqual([...values].sort((a, b) => a - b));
      expect(of('http_requests_in_flight').map(([, , v]) => v)).toEqual([0]);
    } finally {
      fs.rmSync(tmp, { recursive: true, force: true });
    }
  }, 120_000);
});
