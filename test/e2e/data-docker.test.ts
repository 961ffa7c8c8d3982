// Docker end-to-end for a backing service: the compose project pyfleet writes for a Postgres and a
// service that calls it, run by docker-compose 1.29 on a private dockerd (host networking, loopback
// only). No registry is reachable here, so `postgres:17.2-bookworm` is a LOCAL STAND-IN built from the
// test's Debian base with Debian's PostgreSQL 15 (test/fixtures/postgres-standin: same user 999, env
// variables, data directory, socket directory, health tool and stop signal as the official image) and
// tagged with the name the output uses; the caller is the base image serving HTTP. It proves: the
// healthcheck turns healthy, the caller starts only after that, and the named volume keeps the data
// across `docker-compose down` and `up` (without -v). A second project uses `compose: { passwordFile }`:
// the store reads the password from the mounted compose secret, the caller builds ORDERS_DB_URL from it
// at start with the code generated Python apps run (lib/render/image/password-files.ts), that URL works
// against the store, and the password appears nowhere in `docker inspect` of either container.
// Run it under `flock /tmp/pyfleet-docker.lock`.
import { execFileSync } from 'child_process';
import * as fs from 'fs';
import * as path from 'path';
import * as yaml from 'js-yaml';
import { ComposeNetworkMode, ContainerImage, HealthCheck, MicroService, Postgres, Size, Stack } from '../../lib';
import { passwordFilesPython } from '../../lib/render/image/password-files';
import { Engine, forDockerCompose129, haveDocker, importBase, startEngine } from '../support/docker';
import { freePort, start, stopAll } from '../support/process';
import { synth, Synthesized } from '../support/synth';

const run = haveDocker() ? describe : describe.skip;
const PASSWORD = 'c0ffee5eed1234';
const FILE_PASSWORD = '7e57f11e5ec2e7a9';
const BASE = 'pyfleet-test/bookworm-base:1';
const APP_IMAGE = 'pyfleet-test/standin-app:1.0.0';
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

run('a Postgres backing service on docker-compose (stand-in image)', () => {
  let engine: Engine;
  let out: Synthesized;
  let file: string;
  let pgPort: number;
  let up = false;
  let fileOut: Synthesized;
  let fileFile: string;
  let filePgPort: number;
  let fileAppPort: number;
  let fileUp = false;
  const fileProject = 'pfdatafile';
  const project = 'pfdata';
  const env = (): NodeJS.ProcessEnv => ({ ...engine.env, ORDERS_DB_CREDENTIALS_PASSWORD: PASSWORD });
  const compose = (args: string[], timeoutMs = 240_000): string =>
    execFileSync('docker-compose', ['-p', project, '-f', file, ...args], { cwd: out.dir, env: env(), encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], timeout: timeoutMs });
  const inspect = (container: string, format: string): string => engine.docker(['inspect', '--format', format, container], { timeout: 30_000 }).trim();
  const psql = (sql: string): string => execFileSync('psql', ['-h', '127.0.0.1', '-p', String(pgPort), '-U', 'orders_db', '-d', 'orders_db', '-tAc', sql],
    { env: { ...process.env, PGPASSWORD: PASSWORD }, encoding: 'utf8', timeout: 30_000 }).trim();

  beforeAll(async () => {
    pgPort = await freePort();
    const appPort = await freePort();
    out = synth((app) => {
      const stack = new Stack(app, project, { compose: { networkMode: ComposeNetworkMode.HOST } });
      const db = new Postgres(stack, 'orders-db', { port: pgPort, storage: Size.gibibytes(1), memory: Size.mebibytes(256) });
      new MicroService(stack, 'api', {
        image: ContainerImage.fromRegistry(APP_IMAGE), port: appPort, replicas: 1, calls: [db],
        command: ['python3', '-m', 'http.server', String(appPort), '--bind', '127.0.0.1', '--directory', '/tmp'],
        healthCheck: HealthCheck.http('/'),
      });
    });
    file = path.join(out.dir, 'compat.compose.yml');
    fs.writeFileSync(file, yaml.dump(forDockerCompose129(out.compose(project))));
    filePgPort = await freePort();
    fileAppPort = await freePort();
    fileOut = synth((app) => {
      const stack = new Stack(app, fileProject, { compose: { networkMode: ComposeNetworkMode.HOST } });
      const db = new Postgres(stack, 'orders-db', { port: filePgPort, storage: Size.gibibytes(1), memory: Size.mebibytes(256), compose: { passwordFile: './orders-db-password' } });
      // The caller runs the start code of generated Python apps, then serves its /tmp, where it wrote the URL it built.
      const code = `${passwordFilesPython()}\nopen("/tmp/url", "w").write(os.environ["ORDERS_DB_URL"])\n` +
        `os.execvp("python3", ["python3", "-m", "http.server", "${fileAppPort}", "--bind", "127.0.0.1", "--directory", "/tmp"])\n`;
      new MicroService(stack, 'api', {
        image: ContainerImage.fromRegistry(APP_IMAGE), port: fileAppPort, replicas: 1, calls: [db],
        command: ['python3', '-c', `import os\n${code}`],
        healthCheck: HealthCheck.http('/'),
      });
    });
    fileFile = path.join(fileOut.dir, 'compat.compose.yml');
    fs.writeFileSync(fileFile, yaml.dump(forDockerCompose129(fileOut.compose(fileProject))));
    // Outside a swarm compose bind-mounts the file as it is: readable by the store's user 999 and the caller's.
    fs.writeFileSync(path.join(fileOut.dir, 'orders-db-password'), `${FILE_PASSWORD}\n`, { mode: 0o444 });
    engine = await startEngine();
    importBase(engine, BASE);
    engine.docker(['tag', BASE, APP_IMAGE]);
    const context = path.join(__dirname, '..', 'fixtures', 'postgres-standin');
    engine.docker(['build', '--network', 'host', '--build-arg', `BASE=${BASE}`, '-t', 'postgres:17.2-bookworm', context], { timeout: 600_000 });
  }, 900_000);

  afterAll(async () => {
    if (fileUp) {
      try { execFileSync('docker-compose', ['-p', fileProject, '-f', fileFile, 'down', '-v', '-t', '20'], { cwd: fileOut.dir, env: engine.env, stdio: 'ignore', timeout: 120_000 }); } catch { /* the engine stops next */ }
    }
    if (up) {
      try { compose(['down', '-v', '-t', '20'], 120_000); } catch { /* the engine stops next */ }
    }
    await engine?.stop();
    await stopAll();
    out?.cleanup();
    fileOut?.cleanup();
  }, 180_000);

  test('healthy by pg_isready, the caller started only after, data kept across down and up; no password in the file', async () => {
    expect(out.files.get(`${project}.compose.yml`)).not.toContain(PASSWORD);
    // `up` in the background, the containers watched meanwhile: the caller must not run before the store is healthy.
    const t0 = Date.now();
    const upProc = start('docker-compose', ['-p', project, '-f', file, 'up', '-d'], { cwd: out.dir, env: env() });
    up = true;
    let healthyAt: number | undefined;
    let apiBeforeHealthy = false;
    const containers = (): string[] => engine.docker(['ps', '--format', '{{.Names}}']).split('\n').filter(Boolean);
    while (upProc.child.exitCode === null && Date.now() - t0 < 180_000) {
      const names = containers();
      const db = names.find((n) => n.includes('orders-db'));
      if (db && healthyAt === undefined && inspect(db, '{{.State.Health.Status}}') === 'healthy') healthyAt = Date.now();
      if (healthyAt === undefined && names.some((n) => n.includes('_api_') || n.endsWith('api_1') || n.includes('-api-'))) apiBeforeHealthy = true;
      await sleep(250);
    }
    const exit = await upProc.stop('SIGTERM', 10_000);
    expect(exit.code).toBe(0);
    const db = containers().find((n) => n.includes('orders-db'))!;
    const api = containers().find((n) => n.includes('api'))!;
    expect(inspect(db, '{{.State.Health.Status}}')).toBe('healthy');
    healthyAt ??= Date.now();
    expect(apiBeforeHealthy).toBe(false);
    // The caller got the URL with the password interpolated from the deploying shell, loopback, the store's port.
    const apiEnv = JSON.parse(inspect(api, '{{json .Config.Env}}')) as string[];
    expect(apiEnv).toContain(`ORDERS_DB_URL=postgresql://orders_db:${PASSWORD}@127.0.0.1:${pgPort}/orders_db`);
    expect(inspect(db, '{{.Config.User}}')).toBe('999:999');
    expect(inspect(db, '{{.HostConfig.ReadonlyRootfs}}')).toBe('true');

    psql('CREATE TABLE orders (id INT PRIMARY KEY, item TEXT)');
    psql("INSERT INTO orders VALUES (11, 'difference engine')");
    compose(['down', '-t', '30']);
    expect(containers()).toEqual([]);
    const volumes = engine.docker(['volume', 'ls', '--format', '{{.Name}}']).split('\n');
    expect(volumes).toContain(`${project}_orders-db-data`);
    const t1 = Date.now();
    compose(['up', '-d']);
    const db2 = containers().find((n) => n.includes('orders-db'))!;
    while (inspect(db2, '{{.State.Health.Status}}') !== 'healthy' && Date.now() - t1 < 120_000) await sleep(250);
    const rehealthyMs = Date.now() - t1;
    expect(psql('SELECT item FROM orders WHERE id = 11')).toBe('difference engine');
    // eslint-disable-next-line no-console
    if (process.env.PYFLEET_FIGURES) console.log(`docker: stand-in postgres healthy ${healthyAt - t0} ms after up (first start, initdb); after down/up ${rehealthyMs} ms; data kept: yes`);
  }, 600_000);

  test('with a password file: the store reads the secret, the caller builds a working URL, no password in docker inspect of either', async () => {
    for (const [f, text] of fileOut.files) expect([f, text.includes(FILE_PASSWORD)]).toEqual([f, false]);
    // No password variable in the deploying shell: compose needs none.
    const t0 = Date.now();
    execFileSync('docker-compose', ['-p', fileProject, '-f', fileFile, 'up', '-d'], { cwd: fileOut.dir, env: engine.env, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], timeout: 240_000 });
    fileUp = true;
    const names = engine.docker(['ps', '--format', '{{.Names}}']).split('\n').filter((n) => n.startsWith(`${fileProject}_`));
    const db = names.find((n) => n.includes('orders-db'))!;
    const api = names.find((n) => n.includes('api'))!;
    while (inspect(db, '{{.State.Health.Status}}') !== 'healthy' && Date.now() - t0 < 120_000) await sleep(250);
    expect(inspect(db, '{{.State.Health.Status}}')).toBe('healthy');
    let url = '';
    while (Date.now() - t0 < 120_000) {
      try { url = execFileSync('python3', ['-c', `import urllib.request; print(urllib.request.urlopen("http://127.0.0.1:${fileAppPort}/url", timeout=5).read().decode())`], { encoding: 'utf8', timeout: 10_000 }).trim(); break; } catch { await sleep(250); }
    }
    expect(url).toBe(`postgresql://orders_db:${FILE_PASSWORD}@127.0.0.1:${filePgPort}/orders_db`);
    // The URL the caller built works against the store (the password it set from the same file).
    expect(execFileSync('psql', [url, '-tAc', 'SELECT 40 + 2'], { encoding: 'utf8', timeout: 30_000 }).trim()).toBe('42');
    expect(() => execFileSync('psql', [url.replace(FILE_PASSWORD, 'wrong'), '-tAc', 'SELECT 1'], { stdio: 'pipe', timeout: 30_000 })).toThrow(/password authentication failed/);
    // Neither container's configuration (environment, command, entrypoint, labels, mounts, health check) holds it.
    for (const c of [db, api]) {
      const full = engine.docker(['inspect', c], { timeout: 30_000 });
      expect([c, full.includes(FILE_PASSWORD)]).toEqual([c, false]);
    }
    const apiEnv = JSON.parse(inspect(api, '{{json .Config.Env}}')) as string[];
    expect(apiEnv).toContain('ORDERS_DB_PASSWORD_FILE=/run/secrets/orders-db-password');
    expect(apiEnv.some((e) => e.startsWith('ORDERS_DB_URL='))).toBe(false);
    // eslint-disable-next-line no-console
    if (process.env.PYFLEET_FIGURES) console.log(`docker: password-file postgres and caller up ${Date.now() - t0} ms; password in docker inspect: no`);
  }, 600_000);
});
