// Backing services with `compose: { passwordFile }`: the password reaches the store and its callers as
// a compose secret (a file on the deploying machine mounted at /run/secrets/<store>-password), never
// through the file's environment or arguments. Checked here: the compose output (schema, dclint,
// docker-compose 1.29 `config` with NO password variable in the shell, the swarm's loader), that
// Kubernetes output does not change, and the generated Python start code, run for real under python3
// with a temporary secret file: it builds <NAME>_PASSWORD and <NAME>_URL before the user's app is
// imported. The running containers are checked in test/e2e/data-docker.test.ts; Redis' `sh -c` start
// and health command run against a real redis-server here.
import { execFileSync, spawnSync } from 'child_process';
import * as fs from 'fs';
import * as path from 'path';
import * as yaml from 'js-yaml';
import { App, ComposeNetworkMode, ContainerImage, GunicornFlaskApp, MicroService, Postgres, Redis, Stack, Worker } from '../../lib';
import { BUILTIN_BUILD_GENERATORS } from '../../lib/render/image';
import { imageAsset } from '../../lib/service/asset';
import { dclint, validateComposeSchema } from '../support/checks';
import { forDockerCompose129, stackConfig, swarmCli } from '../support/docker';
import { haveEngine } from '../support/engines';
import { freePort, start, stopAll } from '../support/process';
import { synth, Synthesized, tmpdir } from '../support/synth';

const image = (n: string): ContainerImage => ContainerImage.fromRegistry(`registry.example.com/${n}:1.0.0`);
const PASSWORD = '9f3b7c1d5e0a2468';

function program(app: App, mode: ComposeNetworkMode, file: boolean): Stack {
  const stack = new Stack(app, 'shop', { namespace: 'shop', compose: { networkMode: mode } });
  const compose = file ? { passwordFile: './secrets/orders-db-password' } : undefined;
  const db = new Postgres(stack, 'orders-db', { compose });
  const cache = new Redis(stack, 'cache', { compose: file ? { passwordFile: './secrets/cache-password' } : undefined });
  const plain = new Redis(stack, 'queue', { port: 6380 });
  new MicroService(stack, 'order-service', { image: image('orders'), port: 8002, replicas: 1, calls: [db, cache, plain] });
  return stack;
}

describe('compose with a password file', () => {
  const outs: Synthesized[] = [];
  const make = (mode: ComposeNetworkMode, file = true): Synthesized => { const o = synth((app) => { program(app, mode, file); }); outs.push(o); return o; };
  afterAll(() => outs.forEach((o) => o.cleanup()));

  test.each([ComposeNetworkMode.BRIDGE, ComposeNetworkMode.HOST, ComposeNetworkMode.OVERLAY])('%s: schema, dclint; the file neither holds nor interpolates those passwords', (mode) => {
    const out = make(mode);
    const doc = out.compose('shop');
    expect(validateComposeSchema(doc)).toEqual([]);
    expect(dclint(path.join(out.dir, 'shop.compose.yml')).errors).toEqual([]);
    const text = out.files.get('shop.compose.yml')!;
    expect(text).not.toMatch(/ORDERS_DB_CREDENTIALS_PASSWORD|CACHE_CREDENTIALS_PASSWORD/);
    // The store without a file still reads the shell's variable.
    expect(text).toMatch(/QUEUE_CREDENTIALS_PASSWORD/);
    expect(doc.secrets).toEqual({ 'cache-password': { file: './secrets/cache-password' }, 'orders-db-password': { file: './secrets/orders-db-password' } });
  });

  test('the stores read the mounted file; the caller gets the file path and a URL template, and mounts both secrets', () => {
    const doc = make(ComposeNetworkMode.HOST).compose('shop');
    const db = doc.services['orders-db'];
    expect(db.secrets).toEqual([{ source: 'orders-db-password', target: '/run/secrets/orders-db-password' }]);
    expect(db.environment).toEqual({ PGDATA: '/var/lib/postgresql/data/pgdata', POSTGRES_DB: 'orders_db', POSTGRES_PASSWORD_FILE: '/run/secrets/orders-db-password', POSTGRES_USER: 'orders_db' });
    expect(db.healthcheck.test).toEqual(['CMD', 'pg_isready', '-q', '-h', '127.0.0.1', '-p', '5432', '-U', 'orders_db', '-d', 'orders_db']);
    const cache = doc.services.cache;
    expect(cache.environment).toEqual({});
    expect(cache.secrets).toEqual([{ source: 'cache-password', target: '/run/secrets/cache-password' }]);
    expect(cache.command.slice(0, 3)).toEqual(['sh', '-c', 'P="$$(cat /run/secrets/cache-password)" && exec "$$@" - <<EOF\nrequirepass $$P\nEOF']);
    expect(cache.command.slice(3)).toEqual(['sh', 'redis-server', '--port', '6379', '--dir', '/data', '--save', '', '--appendonly', 'no', '--maxmemory', '192mb', '--maxmemory-policy', 'allkeys-lru', '--bind', '127.0.0.1']);
    expect(cache.healthcheck.test).toEqual(['CMD', 'sh', '-c', 'REDISCLI_AUTH="$$(cat /run/secrets/cache-password)" redis-cli -p 6379 ping | grep -q PONG']);
    const caller = doc.services['order-service'];
    expect(caller.secrets).toEqual([
      { source: 'orders-db-password', target: '/run/secrets/orders-db-password' },
      { source: 'cache-password', target: '/run/secrets/cache-password' },
    ]);
    expect(caller.environment).toMatchObject({
      ORDERS_DB_PASSWORD_FILE: '/run/secrets/orders-db-password',
      ORDERS_DB_URL_TEMPLATE: 'postgresql://orders_db:{password}@127.0.0.1:5432/orders_db',
      ORDERS_DB_HOST: '127.0.0.1', ORDERS_DB_USER: 'orders_db',
      CACHE_PASSWORD_FILE: '/run/secrets/cache-password',
      CACHE_URL_TEMPLATE: 'redis://:{password}@127.0.0.1:6379/0',
    });
    expect(caller.environment.ORDERS_DB_URL).toBeUndefined();
    expect(caller.environment.ORDERS_DB_PASSWORD).toBeUndefined();
    expect(caller.environment.QUEUE_URL).toMatch(/^redis:\/\/:\$\{QUEUE_CREDENTIALS_PASSWORD:\?/);
  });

  test('Kubernetes output is the same with or without a password file (the Secret is referenced as before)', () => {
    const a = make(ComposeNetworkMode.BRIDGE, true).files.get('shop.k8s.yaml');
    const b = make(ComposeNetworkMode.BRIDGE, false).files.get('shop.k8s.yaml');
    expect(a).toBeDefined();
    expect(a).toBe(b);
  });

  test('a bad path is refused with the fix', () => {
    const app = new App({ outdir: '/nonexistent/x' });
    const s = new Stack(app, 's');
    expect(() => new Postgres(s, 'db', { compose: { passwordFile: 'my secrets/pw' } })).toThrow(/s\/db: compose.passwordFile "my secrets\/pw" is not a usable file path.*Fix: give the path/s);
  });

  test('a worker that uses a password-file store is refused with the fix (it would get no URL)', () => {
    const app = new App({ outdir: '/nonexistent/x' });
    const s = new Stack(app, 's');
    const db = new Postgres(s, 'db', { compose: { passwordFile: './pw' } });
    new Worker(s, 'mailer', { image: image('mailer'), command: ['python', '-m', 'mailer'], calls: [db] });
    expect(() => app.synthesize()).toThrow(/s\/mailer: it uses backing service "db", whose compose password comes from a file.*Fix: remove compose.passwordFile from "db"/s);
  });

  const dc = haveEngine('docker-compose', 'apt-get install docker-compose');
  (dc ? test : test.skip).each([ComposeNetworkMode.BRIDGE, ComposeNetworkMode.HOST])('docker-compose 1.29 accepts the %s project with no password variable in the shell', (mode) => {
    const out = make(mode);
    const file = path.join(out.dir, 'compat.compose.yml');
    fs.writeFileSync(file, yaml.dump(forDockerCompose129(out.compose('shop'))));
    const env: NodeJS.ProcessEnv = { ...process.env, QUEUE_CREDENTIALS_PASSWORD: 'q3' };
    delete env.ORDERS_DB_CREDENTIALS_PASSWORD;
    delete env.CACHE_CREDENTIALS_PASSWORD;
    const resolved = yaml.load(execFileSync('docker-compose', ['-p', 'shop', '-f', file, 'config'], { cwd: out.dir, env, encoding: 'utf8', timeout: 60_000 })) as any;
    expect(resolved.secrets['orders-db-password'].file).toBe(path.join(out.dir, 'secrets', 'orders-db-password'));
    // `config` prints the file re-escaped (`$$`); the containers get `$` (test/e2e/data-docker.test.ts).
    expect(resolved.services.cache.command[2]).toBe('P="$$(cat /run/secrets/cache-password)" && exec "$$@" - <<EOF\nrequirepass $$P\nEOF');
    expect(resolved.services['order-service'].environment.ORDERS_DB_URL_TEMPLATE).toBe(`postgresql://orders_db:{password}@${mode === ComposeNetworkMode.HOST ? '127.0.0.1' : 'orders-db'}:5432/orders_db`);
  });

  const cli = swarmCli();
  (cli ? test : test.skip)('overlay: the swarm loader accepts it', () => {
    const out = make(ComposeNetworkMode.OVERLAY);
    const resolved = stackConfig(cli!, path.join(out.dir, 'shop.compose.yml'), { QUEUE_CREDENTIALS_PASSWORD: 'q3' });
    expect(resolved.services['orders-db'].environment.POSTGRES_PASSWORD_FILE).toBe('/run/secrets/orders-db-password');
    expect(resolved.services['order-service'].secrets).toEqual(expect.arrayContaining([expect.objectContaining({ source: 'orders-db-password' })]));
  });
});

describe('Redis started and checked the way the password-file variant says (real redis-server)', () => {
  const ready = haveEngine('redis-server', 'apt-get install redis-server');
  afterAll(() => stopAll());
  (ready ? test : test.skip)('sh -c feeds requirepass on stdin; the password is in no argument; the health command passes', async () => {
    const dir = tmpdir('pyfleet-redis-file-');
    const pw = path.join(dir, 'pw');
    fs.writeFileSync(pw, `${PASSWORD}\n`);
    const port = await freePort();
    const app = new App({ outdir: '/nonexistent/x' });
    const s = new Stack(app, 's', { compose: { networkMode: ComposeNetworkMode.HOST } });
    const cache = new Redis(s, 'cache', { port, compose: { passwordFile: pw } });
    const fileEngine = cache._passwordFileEngine(pw);
    const e = cache._engine();
    const args = [...fileEngine.args, ...e.loopbackArgs].map((a) => (a === '/data' ? dir : a));
    const proc = start(args[0], args.slice(1));
    const health = (): number | null => spawnSync(fileEngine.healthCommand[0], fileEngine.healthCommand.slice(1), { encoding: 'utf8', timeout: 10_000 }).status;
    const t0 = Date.now();
    while (health() !== 0 && Date.now() - t0 < 20_000) await new Promise((r) => setTimeout(r, 100));
    expect(health()).toBe(0);
    // The server is the process started (exec), and its command line holds no password.
    expect(fs.readFileSync(`/proc/${proc.child.pid}/cmdline`, 'utf8')).not.toContain(PASSWORD);
    expect(fs.readFileSync(`/proc/${proc.child.pid}/comm`, 'utf8').trim()).toMatch(/^redis-server/);
    const noauth = spawnSync('redis-cli', ['-p', String(port), 'ping'], { encoding: 'utf8', timeout: 10_000, env: { ...process.env, REDISCLI_AUTH: '' } });
    expect(noauth.stdout).toMatch(/NOAUTH/);
    const exit = await proc.stop('SIGTERM', 10_000);
    expect(exit.code).toBe(0);
    fs.rmSync(dir, { recursive: true, force: true });
  }, 60_000);
});

describe('the generated Python start code builds the URL from the secret file', () => {
  test('pyfleet_app.py and gunicorn.conf.py set <NAME>_PASSWORD and <NAME>_URL before the app is imported; without a password file they have no such code', () => {
    const src = tmpdir('pyfleet-pwfile-src-');
    fs.writeFileSync(path.join(src, 'requirements.txt'), 'flask==3.1.*\ngunicorn==26.2.*\n');
    // A WSGI callable that records at import what the environment held (no Flask needed to run it).
    fs.writeFileSync(path.join(src, 'app.py'), 'import os\nSEEN = {k: os.environ.get(k) for k in ("ORDERS_DB_URL", "ORDERS_DB_PASSWORD", "CACHE_URL")}\n\ndef app(environ, start_response):\n    return []\n');
    const app = new App({ outdir: '/nonexistent/x' });
    const s = new Stack(app, 's', { compose: { networkMode: ComposeNetworkMode.HOST } });
    const db = new Postgres(s, 'orders-db', { compose: { passwordFile: './pw' } });
    const cache = new Redis(s, 'cache', { compose: { passwordFile: './pw2' } });
    const svc = new GunicornFlaskApp(s, 'orders', { source: src, port: 8002, metrics: false, calls: [db, cache] });
    const plain = new GunicornFlaskApp(new Stack(app, 't'), 'other', { source: src, port: 8003, metrics: false });
    const files = imageAsset(svc.image, BUILTIN_BUILD_GENERATORS).generated;
    expect(imageAsset(plain.image, BUILTIN_BUILD_GENERATORS).generated['pyfleet_app.py']).not.toContain('_PASSWORD_FILE');
    expect(imageAsset(plain.image, BUILTIN_BUILD_GENERATORS).generated['gunicorn.conf.py']).not.toContain('_PASSWORD_FILE');

    const run = tmpdir('pyfleet-pwfile-run-');
    for (const f of ['pyfleet_app.py', 'gunicorn.conf.py']) fs.writeFileSync(path.join(run, f), files[f]);
    fs.copyFileSync(path.join(src, 'app.py'), path.join(run, 'app.py'));
    fs.writeFileSync(path.join(run, 'pw'), `${PASSWORD}\n`);
    // A password with characters a URL must escape: the URL carries it percent-encoded.
    fs.writeFileSync(path.join(run, 'pw2'), 'a/b@c');
    const compose = synth((a) => { program(a, ComposeNetworkMode.HOST, true); }).compose('shop');
    const tpl = compose.services['order-service'].environment;
    const env = {
      PATH: process.env.PATH, ORDERS_DB_PASSWORD_FILE: path.join(run, 'pw'), ORDERS_DB_URL_TEMPLATE: tpl.ORDERS_DB_URL_TEMPLATE,
      CACHE_PASSWORD_FILE: path.join(run, 'pw2'), CACHE_URL_TEMPLATE: tpl.CACHE_URL_TEMPLATE,
    };
    const py = (code: string): any => JSON.parse(execFileSync('python3', ['-c', code], { cwd: run, env, encoding: 'utf8', timeout: 30_000 }));
    const expected = { ORDERS_DB_URL: `postgresql://orders_db:${PASSWORD}@127.0.0.1:5432/orders_db`, ORDERS_DB_PASSWORD: PASSWORD, CACHE_URL: 'redis://:a%2Fb%40c@127.0.0.1:6379/0' };
    // The wrapper gunicorn imports: the user's module saw the variables at its own import.
    expect(py('import json, pyfleet_app, app; print(json.dumps(app.SEEN))')).toEqual(expected);
    // gunicorn.conf.py (run in the master before workers fork) sets them too.
    expect(py('import json, os; exec(compile(open("gunicorn.conf.py").read(), "gunicorn.conf.py", "exec"), {}); print(json.dumps({k: os.environ.get(k) for k in ("ORDERS_DB_URL", "ORDERS_DB_PASSWORD", "CACHE_URL")}))')).toEqual(expected);
    fs.rmSync(src, { recursive: true, force: true });
    fs.rmSync(run, { recursive: true, force: true });
  });
});
