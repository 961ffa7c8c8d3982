// Docker end-to-end for a backing service: the compose project pyfleet writes for a Postgres and a
// service that calls it, run by docker-compose 1.29 on a private dockerd (host networking, loopback
// only). No registry is reachable here, so `postgres:17.2-bookworm` is a LOCAL STAND-IN built from the
// test's Debian base with Debian's PostgreSQL 15 (test/fixtures/postgres-standin: same user 999, env
// variables, data directory, socket directory, health tool and stop signal as the official image) and
// tagged with the name the output uses; the caller is the base image serving HTTP. It proves: the
// healthcheck turns healthy, the caller starts only after that, and the named volume keeps the data
// across `docker-compose down` and `up` (without -v). Run it under `flock /tmp/pyfleet-docker.lock`.
import { execFileSync } from 'child_process';
import * as fs from 'fs';
import * as path from 'path';
import * as yaml from 'js-yaml';
import { ComposeNetworkMode, ContainerImage, HealthCheck, MicroService, Postgres, Size, Stack } from '../../lib';
import { Engine, forDockerCompose129, haveDocker, importBase, startEngine } from '../support/docker';
import { freePort, start, stopAll } from '../support/process';
import { synth, Synthesized } from '../support/synth';

const run = haveDocker() ? describe : describe.skip;
const PASSWORD = 'c0ffee5eed1234';
const BASE = 'pyfleet-test/bookworm-base:1';
const APP_IMAGE = 'pyfleet-test/standin-app:1.0.0';
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

run('a Postgres backing service on docker-compose (stand-in image)', () => {
  let engine: Engine;
  let out: Synthesized;
  let file: string;
  let pgPort: number;
  let up = false;
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
    engine = await startEngine();
    importBase(engine, BASE);
    engine.docker(['tag', BASE, APP_IMAGE]);
    const context = path.join(__dirname, '..', 'fixtures', 'postgres-standin');
    engine.docker(['build', '--network', 'host', '--build-arg', `BASE=${BASE}`, '-t', 'postgres:17.2-bookworm', context], { timeout: 600_000 });
  }, 900_000);

  afterAll(async () => {
    if (up) {
      try { compose(['down', '-v', '-t', '20'], 120_000); } catch { /* the engine stops next */ }
    }
    await engine?.stop();
    await stopAll();
    out?.cleanup();
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
});
