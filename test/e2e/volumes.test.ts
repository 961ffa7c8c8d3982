// Volumes and files under a real Docker engine (one private dockerd for this file): the GENERATED image
// of a FastApiApp with a persistent volume, a memory scratch volume, a config file and a secret file runs
// under docker-compose 1.29 as the synthesized file says. A file written to the persistent volume by the
// non-root user survives `docker-compose down` and `up` (without -v); the config and secret files are
// readable by that user and read-only; the root filesystem stays read-only. Run it under
// `flock /tmp/pyfleet-docker.lock` (several agents share this machine's engine ports).
import * as fs from 'fs';
import * as path from 'path';
import * as yaml from 'js-yaml';
import { App, ComposeNetworkMode, ConfigFile, Duration, FastApiApp, HealthCheck, SecretFile, Size, Stack, Volume, VolumeMedium } from '../../lib';
import { Engine, forDockerCompose129, haveDocker, importBase, localIndexDir, serveIndex, startEngine } from '../support/docker';
import { freePort, Started, stopAll } from '../support/process';
import { havePython } from '../support/python';
import { Synthesized, synth } from '../support/synth';

const USER = path.join(__dirname, '..', '..', 'examples', 'shop', 'services', 'user');
const run = havePython() && haveDocker() ? describe : describe.skip;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

run('volumes and files under a real Docker engine', () => {
  let engine: Engine;
  let index: { url: string; server: Started } | undefined;
  let out: Synthesized;
  let compose: any;
  const project = `pfvol${process.pid}`;
  let file = '';
  let up = false;

  beforeAll(async () => {
    const port = await freePort();
    out = synth((app: App) => {
      const stack = new Stack(app, 'vol', { compose: { networkMode: ComposeNetworkMode.HOST } });
      new FastApiApp(stack, 'keeper', {
        source: USER, port, replicas: 1, metrics: false, memory: Size.mebibytes(256),
        healthCheck: HealthCheck.http('/healthz', { interval: Duration.seconds(2) }),
        volumes: [Volume.persistent('/data/notes', { size: Size.gibibytes(1) }), Volume.ephemeral('/scratch', { medium: VolumeMedium.MEMORY, size: Size.mebibytes(8) })],
        files: [ConfigFile.fromString('greeting = "hello"\n', '/app/config/settings.toml'), SecretFile.fromFile('./secrets/api-key', '/run/secrets/api-key')],
      });
    });
    compose = out.compose('vol');
    // The secret file lives on the deploying machine, beside the compose file here; never in the output.
    fs.mkdirSync(path.join(out.dir, 'secrets'));
    fs.writeFileSync(path.join(out.dir, 'secrets', 'api-key'), 's3cr3t-value\n', { mode: 0o644 });
    expect([...out.files.values()].some((c) => c.includes('s3cr3t-value'))).toBe(false);
    engine = await startEngine();
    const svc = compose.services.keeper;
    const dockerfile = fs.readFileSync(path.join(out.dir, svc.build.context, svc.build.dockerfile), 'utf8');
    importBase(engine, /^FROM (\S+)/m.exec(dockerfile)![1]);
    index = await serveIndex(localIndexDir());
    engine.docker(['build', '--network', 'host', '--build-arg', `PIP_INDEX_URL=${index.url}`, '-t', svc.build.tags[0], path.join(out.dir, svc.build.context)], { timeout: 600_000 });
    await index.server.stop('SIGTERM', 5_000);
    index = undefined;
    file = path.join(out.dir, 'vol.compose-1.29.yml');
    fs.writeFileSync(file, yaml.dump(forDockerCompose129(compose, { prebuilt: true })));
  }, 900_000);

  afterAll(async () => {
    if (up) {
      try { engine.compose(['-p', project, '-f', file, 'down', '-v', '-t', '5'], out.dir, 120_000); } catch { /* the engine stops next */ }
    }
    await index?.server.stop('SIGTERM', 5_000);
    await engine?.stop();
    await stopAll();
    out?.cleanup();
  }, 180_000);

  /** Starts the project and waits until the container is healthy; returns its id. */
  async function start(): Promise<string> {
    up = true;
    engine.compose(['-p', project, '-f', file, 'up', '-d', '--no-build'], out.dir, 240_000);
    const id = engine.compose(['-p', project, '-f', file, 'ps', '-q', 'keeper'], out.dir).trim();
    for (let i = 0; i < 120; i++) {
      const c = JSON.parse(engine.docker(['inspect', id]))[0];
      if (c.State.Health?.Status === 'healthy') return id;
      await sleep(500);
    }
    throw new Error(`keeper did not turn healthy:\n${engine.compose(['-p', project, '-f', file, 'logs', '--no-color'], out.dir)}`);
  }
  const sh = (id: string, script: string): string => engine.docker(['exec', id, 'sh', '-c', script]).trim();

  test('a file the non-root user writes to the persistent volume survives down and up (without -v)', async () => {
    const first = await start();
    expect(sh(first, 'id -u; echo kept > /data/notes/order.txt && cat /data/notes/order.txt')).toBe('10001\nkept');
    const t0 = Date.now();
    engine.compose(['-p', project, '-f', file, 'down', '-t', '5'], out.dir, 120_000);
    // The named volume outlives the project's containers, under compose's name for it.
    expect(engine.docker(['volume', 'ls', '-q']).split('\n')).toContain(`${project}_keeper-v1-data-notes`);
    const second = await start();
    const cycleMs = Date.now() - t0;
    expect(second).not.toBe(first);
    expect(sh(second, 'cat /data/notes/order.txt')).toBe('kept');
    // eslint-disable-next-line no-console
    if (process.env.PYFLEET_REPORT_FIGURES) console.log(`down + up until healthy: ${cycleMs} ms`);
  }, 300_000);

  test('the config and secret files are readable by the non-root user and read-only; the root stays read-only; scratch is writable', async () => {
    const id = engine.compose(['-p', project, '-f', file, 'ps', '-q', 'keeper'], out.dir).trim();
    expect(sh(id, 'cat /app/config/settings.toml')).toBe('greeting = "hello"');
    expect(sh(id, 'cat /run/secrets/api-key')).toBe('s3cr3t-value');
    const attempt = (target: string, user = '10001'): string => engine.docker(['exec', '-u', user, id, 'sh', '-c', `(echo x >> ${target}) 2>&1 && echo written || true`]).trim();
    // The app's user cannot change the files (the engine's mount flags below say they are read-only).
    expect(attempt('/app/config/settings.toml')).toMatch(/Read-only file system|Permission denied/);
    expect(attempt('/run/secrets/api-key')).toMatch(/Read-only file system|Permission denied/);
    // Even root (which owns /app) cannot write the root filesystem: it is read-only, volumes or not.
    expect(attempt('/app/new-file', '0')).toMatch(/Read-only file system/);
    expect(attempt('/scratch/x')).toBe('written');
    expect(attempt('/data/notes/more.txt')).toBe('written');
    const c = JSON.parse(engine.docker(['inspect', id]))[0];
    expect(c.HostConfig.ReadonlyRootfs).toBe(true);
    const mounts = Object.fromEntries(c.Mounts.map((m: any) => [m.Destination, { type: m.Type, rw: m.RW }]));
    expect(mounts).toMatchObject({
      '/data/notes': { type: 'volume', rw: true },
      '/app/config/settings.toml': { type: 'bind', rw: false },
      '/run/secrets/api-key': { type: 'bind', rw: false },
    });
    // The secret's value is not in the container's configuration.
    expect(JSON.stringify(c)).not.toContain('s3cr3t-value');
  }, 120_000);
});
