// Real runs of the background constructs, with the commands and environment pyfleet generates (the
// compose file of a host-network stack, whose addresses are loopback):
// - a Celery worker (celery from pip's local index, in the staged build context) with Debian's
//   redis-server as broker on a free loopback port processes the task the real web app (gunicorn with
//   the generated config) enqueues; SIGTERM while a 3-second task runs: the task completes and the
//   worker exits within its grace period; the generated health check (celery inspect ping against this
//   node) passes while it runs and fails once it is gone;
// - an Alembic migration against Debian's PostgreSQL (initdb and postgres in a temp dir, on a free
//   port, stopped by PID), run exactly as the compose one-shot and the Kubernetes Job run it, creates
//   the table; a failing migration exits non-zero and leaves no table.
// The figures (enqueue -> done latency, shutdown time with a task in flight, health check time) are
// printed by the test reporter's summary through test/support/summary-reporter (console.log is quiet).
import { execFileSync, spawnSync } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import * as yaml from 'js-yaml';
import { App, CeleryWorker, ComposeNetworkMode, Duration, FastApiApp, Migration, Postgres, Redis, Stack } from '../../lib';
import { freePort, get, start, Started, stopAll, waitForHttp } from '../support/process';
import { ensureJobsVenv, havePython } from '../support/python';
import { haveEngine } from '../support/engines';
import { quietSynth } from '../support/synth';

const PG_BIN = '/usr/lib/postgresql/15/bin';
const run = havePython() && haveEngine('redis-server', 'apt-get install redis-server') && haveEngine(`${PG_BIN}/postgres`, 'apt-get install postgresql') ? describe : describe.skip;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const REDIS_PASSWORD = 'broker-secret';
const PG_PASSWORD = 'db-secret';

async function until(what: string, cond: () => boolean, timeoutMs = 30_000, proc?: Started): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}${proc ? `\n${proc.output().slice(-3000)}` : ''}`);
    await sleep(100);
  }
}

/** `${VAR:?msg}` and `${VAR}` as compose substitutes them from the deploying shell, and `$$` as `$`. */
function interpolate(value: string, shell: Record<string, string>): string {
  return value.replace(/\$\$|\$\{([A-Z0-9_]+)(:\?[^}]*)?\}/g, (m, name) => {
    if (m === '$$') return '$';
    if (!(name in shell)) throw new Error(`the compose file needs ${name}`);
    return shell[name];
  });
}

function writeFiles(dir: string, files: Record<string, string>): string {
  for (const [f, content] of Object.entries(files)) {
    fs.mkdirSync(path.dirname(path.join(dir, f)), { recursive: true });
    fs.writeFileSync(path.join(dir, f), content);
  }
  return dir;
}

/** The order service: a FastAPI app that enqueues `confirm_order`, the Celery app, and an Alembic migration creating `orders`. */
function orderSource(dir: string, badMigration = false): string {
  return writeFiles(dir, {
    'requirements.txt': 'fastapi\ngunicorn\nuvicorn\ncelery\nredis\nalembic\nsqlalchemy\npsycopg[binary]\n',
    'app.py': [
      'import os, time',
      'from fastapi import FastAPI',
      'from tasks import confirm_order',
      'app = FastAPI()',
      '',
      '@app.get("/healthz")',
      'def healthz():',
      '    return {"ok": True}',
      '',
      '@app.post("/orders/{order_id}")',
      'def create(order_id: str, seconds: float = 0):',
      '    r = confirm_order.delay(order_id, time.time(), seconds)',
      '    return {"task": r.id}',
      '',
    ].join('\n'),
    'tasks.py': [
      'import json, os, time',
      'from celery import Celery',
      '# The worker gets CELERY_BROKER_URL (Celery reads it itself); the web app uses the Redis it calls.',
      'celery = Celery("tasks", broker=os.environ.get("CELERY_BROKER_URL") or os.environ["CACHE_URL"])',
      'celery.conf.broker_connection_retry_on_startup = True',
      '',
      '@celery.task(name="confirm_order")',
      'def confirm_order(order_id, enqueued, seconds=0):',
      '    out = os.environ["ORDERS_OUT_DIR"]',
      '    open(os.path.join(out, order_id + ".started"), "w").write(str(time.time()))',
      '    time.sleep(seconds)',
      '    with open(os.path.join(out, order_id + ".done"), "w") as f:',
      '        json.dump({"enqueued": enqueued, "done": time.time()}, f)',
      '',
    ].join('\n'),
    'alembic.ini': '[alembic]\nscript_location = migrations\n\n[loggers]\nkeys = root\n\n[handlers]\nkeys = console\n\n[formatters]\nkeys = generic\n\n[logger_root]\nlevel = WARN\nhandlers = console\n\n[handler_console]\nclass = StreamHandler\nargs = (sys.stderr,)\nformatter = generic\n\n[formatter_generic]\nformat = %(levelname)s %(message)s\n',
    'migrations/env.py': [
      'import os',
      'from alembic import context',
      'from sqlalchemy import create_engine',
      '# ORDERS_DB_URL is injected by `calls: [db]`; SQLAlchemy names the psycopg 3 driver in the scheme.',
      'url = os.environ["ORDERS_DB_URL"].replace("postgresql://", "postgresql+psycopg://", 1)',
      'with create_engine(url).connect() as connection:',
      '    context.configure(connection=connection)',
      '    with context.begin_transaction():',
      '        context.run_migrations()',
      '',
    ].join('\n'),
    'migrations/script.py.mako': '',
    'migrations/versions/0001_orders.py': [
      'from alembic import op',
      'import sqlalchemy as sa',
      'revision = "0001"',
      'down_revision = None',
      '',
      'def upgrade():',
      '    op.create_table("orders", sa.Column("id", sa.String(64), primary_key=True), sa.Column("confirmed", sa.Boolean, nullable=False, server_default=sa.false()))',
      badMigration ? '    op.execute("INSERT INTO no_such_table VALUES (1)")' : '',
      '',
    ].join('\n'),
  });
}

interface Program { outdir: string; compose: any; k8s: any[] }

function synthShop(src: string, ports: { web: number; metrics: number; workerMetrics: number; redis: number; pg: number }): Program {
  const outdir = fs.mkdtempSync(path.join(os.tmpdir(), 'pyfleet-jobs-e2e-'));
  const app = new App({ outdir });
  const stack = new Stack(app, 'shop', { compose: { networkMode: ComposeNetworkMode.HOST } });
  const db = new Postgres(stack, 'orders-db', { port: ports.pg });
  const cache = new Redis(stack, 'cache', { port: ports.redis });
  const orders = new FastApiApp(stack, 'order-service', { source: src, port: ports.web, metrics: { port: ports.metrics }, replicas: 1, calls: [db, cache] });
  new CeleryWorker(stack, 'order-worker', { source: src, app: 'tasks:celery', calls: [cache], taskTimeLimit: Duration.seconds(20), concurrency: 2, metrics: { port: ports.workerMetrics } });
  new Migration(stack, 'schema', { of: orders, command: ['alembic', 'upgrade', 'head'] });
  quietSynth(app);
  return {
    outdir,
    compose: yaml.load(fs.readFileSync(path.join(outdir, 'shop.compose.yml'), 'utf8')),
    k8s: yaml.loadAll(fs.readFileSync(path.join(outdir, 'shop.k8s.yaml'), 'utf8')) as any[],
  };
}

/** The environment of a compose service as compose would give it (the shell's secrets substituted), plus what the host run needs. */
function composeEnv(service: any, bin: string, home: string, extra: Record<string, string> = {}): Record<string, string> {
  const shell = { CACHE_CREDENTIALS_PASSWORD: REDIS_PASSWORD, ORDERS_DB_CREDENTIALS_PASSWORD: PG_PASSWORD };
  const env: Record<string, string> = {};
  for (const [k, v] of Object.entries<string>(service.environment ?? {})) env[k] = interpolate(v, shell);
  return { ...env, PATH: `${bin}:${process.env.PATH}`, HOME: home, PYTHONDONTWRITEBYTECODE: '1', PYTHONUNBUFFERED: '1', ...extra };
}

run('real engines: Celery worker, Redis broker, Alembic on PostgreSQL', () => {
  let bin: string;
  let tmp: string;
  let redis: Started;
  let ports: { web: number; metrics: number; workerMetrics: number; redis: number; pg: number };
  const figures: string[] = [];

  beforeAll(async () => {
    bin = ensureJobsVenv();
    tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'pyfleet-jobs-'));
    ports = { web: await freePort(), metrics: await freePort(), workerMetrics: await freePort(), redis: await freePort(), pg: await freePort() };
    redis = start('redis-server', ['--port', String(ports.redis), '--bind', '127.0.0.1', '--requirepass', REDIS_PASSWORD, '--save', '', '--appendonly', 'no', '--dir', tmp]);
    await until('redis-server', () => /Ready to accept connections/.test(redis.output()), 15_000, redis);
  }, 600_000);

  afterAll(async () => {
    await redis?.stop('SIGTERM', 10_000);
    await stopAll();
    fs.rmSync(tmp, { recursive: true, force: true });
  });

  test('the worker processes the order-confirmation task the web app enqueues; SIGTERM lets a running 3 s task finish; the health check follows the worker', async () => {
    const src = orderSource(path.join(tmp, 'src'));
    const p = synthShop(src, ports);
    const out = fs.mkdtempSync(path.join(tmp, 'out-'));
    const ws = p.compose.services['order-worker'];
    const wctx = path.join(p.outdir, ws.build.context);
    // The image's CMD, the compose entrypoint and the Deployment's command are one command.
    const dockerfile = fs.readFileSync(path.join(wctx, 'Dockerfile'), 'utf8');
    expect(dockerfile).toContain(`CMD ${JSON.stringify(ws.entrypoint)}`);
    const deployment = p.k8s.find((o) => o.kind === 'Deployment' && o.metadata.name === 'order-worker');
    expect(deployment.spec.template.spec.containers[0].command).toEqual(ws.entrypoint);
    expect(ws.environment.CELERY_BROKER_URL).toMatch(/^redis:\/\/:\$\{CACHE_CREDENTIALS_PASSWORD:\?[^}]*\}@127\.0\.0\.1:\d+\/0$/);

    const workerEnv = composeEnv(ws, bin, tmp, { ORDERS_OUT_DIR: out });
    const entrypoint = ws.entrypoint.map((x: string) => interpolate(x, {}));
    const worker = start(path.join(bin, entrypoint[0]), entrypoint.slice(1), { cwd: wctx, env: workerEnv });
    await until('the worker to be ready', () => /celery@\S+ ready\./.test(worker.output()), 60_000, worker);

    // The generated health check: celery inspect ping addressed to this node.
    const health = (): { code: number | null; ms: number } => {
      const t0 = Date.now();
      const test = ws.healthcheck.test.map((x: string) => interpolate(x, {}));
      const r = spawnSync(test[1], test.slice(2), { cwd: wctx, env: workerEnv, timeout: 30_000, stdio: 'ignore' });
      return { code: r.status, ms: Date.now() - t0 };
    };
    const healthy = health();
    expect(healthy.code).toBe(0);
    figures.push(`health check (celery inspect ping, this node) ${healthy.ms} ms`);

    // The web app (gunicorn with the generated config) enqueues; the worker confirms.
    const svc = p.compose.services['order-service'];
    const sctx = path.join(p.outdir, svc.build.context);
    const web = start(path.join(bin, 'gunicorn'), ['--config', 'gunicorn.conf.py'], {
      cwd: sctx,
      env: composeEnv(svc, bin, tmp, { PROMETHEUS_MULTIPROC_DIR: fs.mkdtempSync(path.join(tmp, 'mp-')), ORDERS_OUT_DIR: out }),
    });
    await waitForHttp(`http://127.0.0.1:${ports.web}/healthz`, 60_000, web);
    const latencies: number[] = [];
    for (let i = 0; i < 5; i++) {
      const r = await post(`http://127.0.0.1:${ports.web}/orders/o${i}`);
      expect(r.status).toBe(200);
      await until(`order o${i} confirmed`, () => fs.existsSync(path.join(out, `o${i}.done`)), 30_000, worker);
      const d = JSON.parse(fs.readFileSync(path.join(out, `o${i}.done`), 'utf8'));
      latencies.push((d.done - d.enqueued) * 1000);
    }
    latencies.sort((a, b) => a - b);
    figures.push(`enqueue -> done latency: median ${latencies[2].toFixed(1)} ms, max ${latencies[4].toFixed(1)} ms (5 tasks, one at a time)`);

    // A 3-second task in flight at SIGTERM: it completes, then the worker exits within its grace period.
    expect((await post(`http://127.0.0.1:${ports.web}/orders/slow?seconds=3`)).status).toBe(200);
    await until('the slow task to start', () => fs.existsSync(path.join(out, 'slow.started')), 30_000, worker);
    const grace = deployment.spec.template.spec.terminationGracePeriodSeconds * 1000;
    expect(ws.stop_grace_period).toBe(`${grace / 1000}s`);
    const stopped = await worker.stop('SIGTERM', grace);
    expect(stopped.killed).toBe(false);
    expect(stopped.code).toBe(0);
    expect(fs.existsSync(path.join(out, 'slow.done'))).toBe(true);
    const done = JSON.parse(fs.readFileSync(path.join(out, 'slow.done'), 'utf8'));
    expect(done.done - done.enqueued).toBeGreaterThanOrEqual(3);
    expect(stopped.elapsedMs).toBeLessThan(grace);
    figures.push(`shutdown with a 3 s task in flight: ${stopped.elapsedMs} ms (grace period ${grace / 1000} s)`);

    // Gone: the same check fails.
    expect(health().code).not.toBe(0);
    await web.stop('SIGTERM', 40_000);
    // The figures: written where PYFLEET_JOBS_FIGURES points (the test log stays quiet).
    if (process.env.PYFLEET_JOBS_FIGURES) fs.writeFileSync(process.env.PYFLEET_JOBS_FIGURES, figures.join('\n') + '\n');
    expect(figures).toHaveLength(3);
  }, 300_000);

  describe('Alembic on PostgreSQL', () => {
    let pgDir: string;
    let pg: Started | undefined;

    beforeAll(async () => {
      // Under /tmp itself: the server runs as the unprivileged postgres user, who cannot enter the test's private TMPDIR.
      pgDir = fs.mkdtempSync('/tmp/pyfleet-pg-');
      const uid = Number(execFileSync('id', ['-u', 'postgres'], { encoding: 'utf8' }).trim());
      const gid = Number(execFileSync('id', ['-g', 'postgres'], { encoding: 'utf8' }).trim());
      const asPostgres = process.getuid?.() === 0 ? { uid, gid } : {};
      fs.chmodSync(pgDir, 0o777);
      fs.writeFileSync(path.join(pgDir, 'pw'), PG_PASSWORD);
      fs.chmodSync(path.join(pgDir, 'pw'), 0o644);
      execFileSync(`${PG_BIN}/initdb`, ['-D', path.join(pgDir, 'data'), '-U', 'orders_db', '--pwfile', path.join(pgDir, 'pw'), '--auth=scram-sha-256', '-E', 'UTF8', '--no-sync'], { ...asPostgres, stdio: 'pipe', timeout: 120_000 });
      pg = start(`${PG_BIN}/postgres`, ['-D', path.join(pgDir, 'data'), '-p', String(ports.pg), '-k', pgDir, '-c', 'listen_addresses=127.0.0.1', '-c', 'fsync=off'], { ...asPostgres });
      await until('postgres', () => /ready to accept connections/.test(pg!.output()), 60_000, pg);
      execFileSync(`${PG_BIN}/createdb`, ['-h', '127.0.0.1', '-p', String(ports.pg), '-U', 'orders_db', 'orders_db'], { env: { ...process.env, PGPASSWORD: PG_PASSWORD }, stdio: 'pipe' });
    }, 180_000);

    afterAll(async () => {
      await pg?.stop('SIGINT', 20_000); // SIGINT: PostgreSQL's fast shutdown
      fs.rmSync(pgDir, { recursive: true, force: true });
    });

    const tables = (): string => execFileSync(`${PG_BIN}/psql`, ['-h', '127.0.0.1', '-p', String(ports.pg), '-U', 'orders_db', '-d', 'orders_db', '-At', '-c', "select string_agg(tablename, ',' order by tablename) from pg_tables where schemaname = 'public'"], { env: { ...process.env, PGPASSWORD: PG_PASSWORD }, encoding: 'utf8' }).trim();

    /** Runs the migration as compose's one-shot does (entrypoint, environment, in the image's /app: the staged context), after checking the Job runs the same. */
    function runMigration(p: Program): { code: number | null; output: string } {
      const one = p.compose.services['order-service-v1-schema'];
      const job = p.k8s.find((o) => o.kind === 'Job');
      const jc = job.spec.template.spec.containers[0];
      expect(jc.command).toEqual(one.entrypoint);
      expect(jc.image).toBe(one.build.tags[0]);
      expect(jc.env.map((e: any) => e.name).sort()).toEqual(Object.keys(one.environment).sort());
      const r = spawnSync(path.join(bin, one.entrypoint[0]), one.entrypoint.slice(1), { cwd: path.join(p.outdir, one.build.context), env: composeEnv(one, bin, tmp), encoding: 'utf8', timeout: 120_000 });
      return { code: r.status, output: `${r.stdout}${r.stderr}` };
    }

    test('a failing migration exits non-zero and leaves no table (transactional DDL)', () => {
      const p = synthShop(orderSource(path.join(tmp, 'bad'), true), ports);
      const r = runMigration(p);
      expect(r.code).not.toBe(0);
      expect(r.output).toMatch(/no_such_table/);
      expect(tables()).toBe('');
    });

    test('the migration creates the orders table, and a second run of the same release is a no-op', () => {
      const p = synthShop(orderSource(path.join(tmp, 'good')), ports);
      const first = runMigration(p);
      expect(first.code).toBe(0);
      expect(tables()).toBe('alembic_version,orders');
      expect(runMigration(p).code).toBe(0);
      expect(tables()).toBe('alembic_version,orders');
    });
  });
});

function post(url: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = require('http').request(url, { method: 'POST', timeout: 10_000 }, (res: any) => {
      let body = '';
      res.on('data', (d: Buffer) => { body += d.toString(); });
      res.on('end', () => resolve({ status: res.statusCode, body }));
    });
    req.on('error', reject);
    req.end();
  });
}

void get;
