// Real engines: Debian's PostgreSQL 15 and Redis 7 (installed by .ci/setup.d/70-data.sh), started by
// this test on free loopback ports in temporary directories with the settings pyfleet generates, and
// the shop's generated Python apps under gunicorn with exactly the environment the compose project
// (host network mode) gives them, the passwords coming from the deploying shell's variables as the
// compose file expects (docker-compose 1.29 `config` resolves it). The official images cannot be
// pulled here, so the engines run from Debian's packages: the same contract (user, database and
// password the way the image's POSTGRES_* variables create them, the generated arguments, the
// generated health commands), PostgreSQL 15 instead of the image's 17.
import { execFileSync, spawnSync } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import * as yaml from 'js-yaml';
import { App, ComposeNetworkMode, DataStoreModel, Duration, FastApiApp, HealthCheck, Postgres, PythonWebApp, Redis, Size, Stack } from '../../lib';
import { forDockerCompose129 } from '../support/docker';
import { haveEngine, which } from '../support/engines';
import { freePort, get, start, Started, stopAll, waitForHttp } from '../support/process';
import { ensureVenv, havePython } from '../support/python';
import { quietSynth } from '../support/synth';

const SHOP = path.join(__dirname, '..', '..', 'examples', 'shop', 'services');
const PG_BIN = '/usr/lib/postgresql/15/bin';
const ready = havePython() && haveEngine('redis-server', 'apt-get install redis-server') && haveEngine('docker-compose', 'apt-get install docker-compose')
  && (fs.existsSync(path.join(PG_BIN, 'initdb')) || haveEngine('initdb', 'apt-get install postgresql'));
const run = ready ? describe : describe.skip;
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
const PASSWORDS = { ORDERS_DB_CREDENTIALS_PASSWORD: 'a8c1f0e2d4b6', CACHE_CREDENTIALS_PASSWORD: '5e7d9c1b3a2f' };

/** PostgreSQL refuses to run as root: as root, the engines run as Debian's `postgres` user (setpriv execs, so the PID is the server's). */
function asEngineUser(user: string, command: string, args: string[]): [string, string[]] {
  if (process.getuid?.() !== 0) return [command, args];
  return ['setpriv', [`--reuid=${user}`, `--regid=${user}`, '--init-groups', '--', command, ...args]];
}

/** A directory the engine's user owns; as root, under /tmp itself (the test run's own temporary directory is root's alone). Removed by the test. */
function engineDir(user: string): string {
  const dir = fs.mkdtempSync(path.join(process.getuid?.() === 0 ? '/tmp' : os.tmpdir(), 'pyfleet-data-'));
  if (process.getuid?.() === 0) execFileSync('chown', [`${user}:${user}`, dir]);
  return dir;
}

/** Runs a store's generated health command (with its host and port as generated) until it passes; returns how long that took. */
async function untilHealthy(d: DataStoreModel, env: NodeJS.ProcessEnv, proc: Started, timeoutMs = 60_000): Promise<number> {
  const t0 = Date.now();
  const [cmd, ...args] = d.health.command;
  for (;;) {
    const r = spawnSync(cmd, args, { env: { ...process.env, PATH: `${PG_BIN}:${process.env.PATH}`, ...env }, encoding: 'utf8', timeout: 10_000 });
    if (r.status === 0) return Date.now() - t0;
    if (proc.child.exitCode !== null) throw new Error(`${d.name} exited: ${proc.output()}`);
    if (Date.now() - t0 > timeoutMs) throw new Error(`${d.name} not healthy after ${timeoutMs} ms: ${r.stdout}${r.stderr}\n${proc.output()}`);
    await sleep(200);
  }
}

run('the shop with real PostgreSQL and Redis, configured as pyfleet generates them', () => {
  let bin: string;
  let outdir: string;
  let resolved: any;
  let model: { db: DataStoreModel; cache: DataStoreModel };
  let users: PythonWebApp;
  let orders: PythonWebApp;
  let pgData: string;
  let redisDir: string;
  const figures: string[] = [];

  beforeAll(async () => {
    bin = ensureVenv();
    const [pgPort, redisPort, usersPort, ordersPort, m1, m2] = await Promise.all([freePort(), freePort(), freePort(), freePort(), freePort(), freePort()]);
    outdir = fs.mkdtempSync(path.join(os.tmpdir(), 'pyfleet-data-e2e-'));
    const app = new App({ outdir });
    const stack = new Stack(app, 'shop', { compose: { networkMode: ComposeNetworkMode.HOST } });
    const db = new Postgres(stack, 'orders-db', { port: pgPort, storage: Size.gibibytes(1) });
    const cache = new Redis(stack, 'cache', { port: redisPort, maxMemory: Size.mebibytes(192) });
    const health = HealthCheck.http('/healthz', { interval: Duration.seconds(5) });
    users = new FastApiApp(stack, 'user-service', { source: path.join(SHOP, 'user'), module: 'app:app', port: usersPort, replicas: 1, healthCheck: health, calls: [cache], metrics: { port: m1 } });
    orders = new FastApiApp(stack, 'order-service', { source: path.join(SHOP, 'order'), module: 'app:app', port: ordersPort, replicas: 1, healthCheck: health, calls: [users, db], metrics: { port: m2 } });
    quietSynth(app);
    const m = app.synthesize()[0].model;
    model = { db: m.dataStore('orders-db'), cache: m.dataStore('cache') };
    // What compose hands each container: the file resolved by docker-compose with the passwords in the deploying shell.
    const doc = yaml.load(fs.readFileSync(path.join(outdir, 'shop.compose.yml'), 'utf8'));
    const compat = path.join(outdir, 'compat.compose.yml');
    fs.writeFileSync(compat, yaml.dump(forDockerCompose129(doc)));
    resolved = yaml.load(execFileSync('docker-compose', ['-p', 'shop', '-f', compat, 'config'], { cwd: outdir, env: { ...process.env, ...PASSWORDS }, encoding: 'utf8', timeout: 60_000 }));
    pgData = engineDir('postgres');
    redisDir = engineDir('redis');
  }, 600_000);

  const apps: Started[] = [];
  afterAll(async () => {
    // gunicorn gracefully (a SIGKILLed master leaves its workers behind), then anything left.
    for (const a of apps) await a.stop('SIGTERM', 40_000);
    await stopAll();
    for (const d of [outdir, pgData, redisDir]) if (d) fs.rmSync(d, { recursive: true, force: true });
    // eslint-disable-next-line no-console
    if (figures.length && process.env.PYFLEET_FIGURES) console.log(figures.join('\n'));
  });

  /**
   * Starts PostgreSQL with the compose service's resolved command (`postgres -c port=... -c
   * listen_addresses=127.0.0.1`), its data in `pgData`. The first time, the cluster is made the way the
   * official image's entrypoint makes it from POSTGRES_USER, POSTGRES_PASSWORD and POSTGRES_DB.
   */
  async function startPostgres(): Promise<{ proc: Started; healthyMs: number }> {
    const svc = resolved.services['orders-db'];
    const env = svc.environment;
    const data = path.join(pgData, 'pgdata');
    if (!fs.existsSync(data)) {
      const pwfile = path.join(pgData, 'pw');
      fs.writeFileSync(pwfile, env.POSTGRES_PASSWORD, { mode: 0o600 });
      if (process.getuid?.() === 0) execFileSync('chown', ['postgres:postgres', pwfile]);
      const [c, a] = asEngineUser('postgres', path.join(PG_BIN, 'initdb'), ['-D', data, '-U', env.POSTGRES_USER, `--pwfile=${pwfile}`, '--auth=scram-sha-256', '--auth-local=trust', '-E', 'UTF8']);
      execFileSync(c, a, { stdio: 'pipe', timeout: 120_000 });
      fs.rmSync(pwfile);
    }
    const [cmd, ...args] = svc.command as string[];
    expect(cmd).toBe('postgres');
    const [c, a] = asEngineUser('postgres', path.join(PG_BIN, 'postgres'), ['-D', data, '-k', pgData, ...args]);
    const t0 = Date.now();
    const proc = start(c, a, { cwd: pgData });
    await untilHealthy(model.db, {}, proc);
    const healthyMs = Date.now() - t0;
    // POSTGRES_DB: the image creates it at first start, owned by POSTGRES_USER.
    const psql = (sql: string): string => execFileSync(path.join(PG_BIN, 'psql'), ['-h', '127.0.0.1', '-p', String(model.db.port), '-U', env.POSTGRES_USER, '-d', 'postgres', '-tAc', sql],
      { env: { ...process.env, PGPASSWORD: env.POSTGRES_PASSWORD }, encoding: 'utf8', timeout: 30_000 }).trim();
    if (psql(`SELECT 1 FROM pg_database WHERE datname = '${env.POSTGRES_DB}'`) !== '1') psql(`CREATE DATABASE ${env.POSTGRES_DB} OWNER ${env.POSTGRES_USER}`);
    return { proc, healthyMs };
  }

  /** Starts Redis with the compose service's resolved command; only its `--dir` is this run's directory. */
  async function startRedis(): Promise<{ proc: Started; healthyMs: number }> {
    const svc = resolved.services.cache;
    const args = [...(svc.command as string[])];
    expect(args[0]).toBe('redis-server');
    args[args.indexOf('--dir') + 1] = redisDir;
    const [c, a] = asEngineUser('redis', which('redis-server')!, args.slice(1));
    const t0 = Date.now();
    const proc = start(c, a, { cwd: redisDir });
    await untilHealthy(model.cache, { REDISCLI_AUTH: svc.environment.REDISCLI_AUTH }, proc);
    return { proc, healthyMs: Date.now() - t0 };
  }

  /** gunicorn with the generated gunicorn.conf.py, in the staged context, with the container's resolved environment (and nothing of this shell's but PATH and HOME). */
  async function startApp(svc: PythonWebApp): Promise<Started> {
    const composeService = resolved.services[svc.serviceName];
    const context = path.join(outdir, JSON.parse(JSON.stringify(yaml.load(fs.readFileSync(path.join(outdir, 'shop.compose.yml'), 'utf8')))).services[svc.serviceName].build.context);
    const proc = start(path.join(bin, 'gunicorn'), ['--config', 'gunicorn.conf.py'], {
      cwd: context,
      env: {
        ...composeService.environment,
        PATH: `${bin}:${process.env.PATH}`,
        HOME: os.tmpdir(),
        PYTHONDONTWRITEBYTECODE: '1',
        PROMETHEUS_MULTIPROC_DIR: fs.mkdtempSync(path.join(os.tmpdir(), 'pyfleet-mp-')),
      },
    });
    apps.push(proc);
    await waitForHttp(`http://127.0.0.1:${svc.port}/healthz`, 60_000, proc);
    return proc;
  }

  test('the environment is what pyfleet injects: the URL with the password from the shell, loopback and the store port', () => {
    const env = resolved.services['order-service'].environment;
    expect(env.ORDERS_DB_URL).toBe(`postgresql://orders_db:${PASSWORDS.ORDERS_DB_CREDENTIALS_PASSWORD}@127.0.0.1:${model.db.port}/orders_db`);
    expect(env).toMatchObject({ ORDERS_DB_HOST: '127.0.0.1', ORDERS_DB_PORT: String(model.db.port), ORDERS_DB_USER: 'orders_db', ORDERS_DB_DB: 'orders_db', ORDERS_DB_PASSWORD: PASSWORDS.ORDERS_DB_CREDENTIALS_PASSWORD });
    expect(resolved.services['user-service'].environment.CACHE_URL).toBe(`redis://:${PASSWORDS.CACHE_CREDENTIALS_PASSWORD}@127.0.0.1:${model.cache.port}/0`);
  });

  test('order-service writes an order into PostgreSQL, is restarted (and so is PostgreSQL), and reads it back', async () => {
    const pg = await startPostgres();
    figures.push(`postgres: healthy (generated pg_isready) ${pg.healthyMs} ms after start, first start with initdb before it`);
    const redis = await startRedis();
    figures.push(`redis: healthy (generated redis-cli ping) ${redis.healthyMs} ms after start`);
    await startApp(users);
    let app = await startApp(orders);
    const base = `http://127.0.0.1:${orders.port}`;
    const created = await postJson(`${base}/orders`, { user_id: 2, item: 'difference engine' });
    expect(created.status).toBe(201);
    const id = JSON.parse(created.body).id;
    expect(id).toBeGreaterThan(10);
    expect(JSON.parse((await get(`${base}/orders/${id}`)).body)).toEqual({ id, user_id: 2, item: 'difference engine', user: { id: 2, name: 'Grace Hopper' } });

    // Restart the app: nothing in memory survives, the order comes back from the database.
    expect((await app.stop('SIGTERM', 40_000)).killed).toBe(false);
    app = await startApp(orders);
    expect(JSON.parse((await get(`${base}/orders/${id}`)).body).item).toBe('difference engine');
    // Restart PostgreSQL itself (SIGINT, the fast shutdown the generated stop signal asks for): the data stays on disk.
    const stopped = await pg.proc.stop('SIGINT', 30_000);
    expect(stopped.killed).toBe(false);
    const again = await startPostgres();
    figures.push(`postgres: stopped by SIGINT in ${stopped.elapsedMs} ms; healthy again ${again.healthyMs} ms after restart; order ${id} kept: yes`);
    expect(JSON.parse((await get(`${base}/orders/${id}`)).body)).toMatchObject({ id, item: 'difference engine' });
    expect(JSON.parse((await get(`${base}/orders/10`)).body).item).toBe('analytical engine');
  }, 300_000);

  test('Redis runs with the generated policy (maxmemory, allkeys-lru, no persistence), needs the password, and answers user-service lookups', async () => {
    const port = String(model.cache.port);
    const cli = (args: string[], auth = true): string => execFileSync('redis-cli', ['-p', port, ...args], {
      env: { ...process.env, ...(auth ? { REDISCLI_AUTH: PASSWORDS.CACHE_CREDENTIALS_PASSWORD } : {}) }, encoding: 'utf8', timeout: 10_000 }).trim();
    expect(cli(['CONFIG', 'GET', 'maxmemory']).split('\n')).toEqual(['maxmemory', String(192 * 1024 * 1024)]);
    expect(cli(['CONFIG', 'GET', 'maxmemory-policy']).split('\n')).toEqual(['maxmemory-policy', 'allkeys-lru']);
    expect(cli(['CONFIG', 'GET', 'appendonly']).split('\n')).toEqual(['appendonly', 'no']);
    expect(cli(['CONFIG', 'GET', 'save'])).toBe('save'); // and an empty value: no RDB snapshots
    expect(cli(['CONFIG', 'GET', 'bind']).split('\n')).toEqual(['bind', '127.0.0.1']);
    expect(cli(['PING'], false)).toMatch(/NOAUTH/);
    cli(['DEL', 'user:1']);
    const base = `http://127.0.0.1:${users.port}`;
    const first = await get(`${base}/users/1`);
    const second = await get(`${base}/users/1`);
    expect([first.headers['x-cache'], second.headers['x-cache']]).toEqual(['miss', 'hit']);
    expect(JSON.parse(second.body)).toEqual({ id: 1, name: 'Ada Lovelace' });
    expect(JSON.parse(cli(['GET', 'user:1']))).toEqual({ id: 1, name: 'Ada Lovelace' });
    expect(Number(cli(['TTL', 'user:1']))).toBeGreaterThan(0);
  }, 120_000);
});

function postJson(url: string, body: unknown): Promise<{ status: number; body: string }> {
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const http = require('http') as typeof import('http');
  return new Promise((resolve, reject) => {
    const data = JSON.stringify(body);
    const req = http.request(url, { method: 'POST', headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(data) }, timeout: 10_000 }, (res) => {
      let text = '';
      res.on('data', (c) => { text += c; });
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: text }));
    });
    req.on('error', reject);
    req.end(data);
  });
}
