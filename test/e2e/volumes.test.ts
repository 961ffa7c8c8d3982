// Volumes and files under a real Docker engine (one private dockerd for this file): the GENERATED image
// of a FastApiApp with a persistent volume, a memory scratch volume, a config file and a secret file runs
// under docker-compose 1.29 as the synthesized file says. A file written to the persistent volume by the
// non-root user survives `docker-compose down` and `up` (without -v); the config and secret files are
// readable by that user and read-only; the root filesystem stays read-only. Run it under
// `flock /tmp/pyfleet-docker.lock` (several agents share this machine's engine ports).
// The same stack through DockerHostDeployment (Pulumi, under mocks: no Pulumi engine runs here): the
// volumes, holder container and uploads it asks for are made on the real engine exactly as the Docker
// provider makes them (its upload is a tar of the file's full path extracted at "/"), and the service's
// read-only container reads the files; the same upload into the read-only container itself is refused.
import * as fs from 'fs';
import * as http from 'http';
import * as path from 'path';
import * as yaml from 'js-yaml';
import { App, ComposeNetworkMode, ConfigFile, Duration, FastApiApp, HealthCheck, SecretFile, Size, Stack, Volume, VolumeMedium } from '../../lib';
import { DockerHostDeployment } from '../../lib/pulumi';
import { installMocks, ofType, settle } from '../pulumi/mocks';
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
  let stack: Stack;

  beforeAll(async () => {
    const port = await freePort();
    out = synth((app: App) => {
      stack = new Stack(app, 'vol', { compose: { networkMode: ComposeNetworkMode.HOST } });
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

  /** A tar of one file as the Docker provider builds it: the entry is the file's full path, with the upload's mode. */
  function providerTar(file: string, mode: number, content: Buffer): Buffer {
    const header = Buffer.alloc(512);
    const field = (offset: number, length: number, value: string) => header.write(value, offset, length, 'ascii');
    const octal = (n: number, length: number) => `${n.toString(8).padStart(length - 1, '0')}\0`;
    field(0, 100, file);
    field(100, 8, octal(mode, 8));
    field(108, 8, octal(0, 8));
    field(116, 8, octal(0, 8));
    field(124, 12, octal(content.length, 12));
    field(136, 12, octal(Math.floor(Date.now() / 1000), 12));
    field(148, 8, '        ');
    field(156, 1, '0');
    field(257, 8, 'ustar\u000000');
    let sum = 0;
    for (const b of header) sum += b;
    field(148, 8, `${sum.toString(8).padStart(6, '0')}\0 `);
    const pad = Buffer.alloc((512 - (content.length % 512)) % 512);
    return Buffer.concat([header, content, pad, Buffer.alloc(1024)]);
  }

  /** PUT /containers/<id>/archive?path=/ on the engine's socket, as the provider's CopyToContainer(ctx, id, "/", ...). */
  function putArchive(container: string, tar: Buffer): Promise<{ status: number; body: string }> {
    const socketPath = String(engine.env.DOCKER_HOST).replace(/^unix:\/\//, '');
    return new Promise((resolve, reject) => {
      const req = http.request({ socketPath, method: 'PUT', path: `/containers/${container}/archive?path=${encodeURIComponent('/')}`, headers: { 'Content-Type': 'application/x-tar', 'Content-Length': tar.length }, timeout: 30_000 }, (res) => {
        let body = '';
        res.on('data', (d) => { body += d; });
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
      });
      req.on('error', reject);
      req.on('timeout', () => req.destroy(new Error('archive upload timed out')));
      req.end(tar);
    });
  }

  test('DockerHostDeployment: files reach the read-only container through read-only volumes that its holder received', async () => {
    await installMocks();
    const d = new DockerHostDeployment('vps', { stack });
    await settle([...Object.values(d.containers).flat(), ...Object.values(d.files).map((f) => f.holder)]);
    const all = ofType('docker:index/container:Container');
    const holder = all.find((c) => c.name === 'vps-keeper-files')!;
    const main = all.find((c) => c.name === 'vps-keeper-1')!.inputs;
    const made: string[] = [];
    const volumes: string[] = [];
    try {
      for (const v of holder.inputs.volumes) {
        engine.docker(['volume', 'create', v.volumeName]);
        volumes.push(v.volumeName);
      }
      // The holder: created, never started, not read-only, no network.
      expect(holder.inputs).toMatchObject({ start: false, networkMode: 'none' });
      engine.docker(['create', '--name', holder.inputs.name, '--network', 'none', ...holder.inputs.volumes.flatMap((v: any) => ['-v', `${v.volumeName}:${v.containerPath}`]), holder.inputs.image, ...holder.inputs.command]);
      made.push(holder.inputs.name);
      expect(holder.inputs.uploads.map((u: any) => u.file).sort()).toEqual(['/app/config/settings.toml', '/run/secrets/api-key']);
      for (const u of holder.inputs.uploads) {
        const content = u.source !== undefined ? fs.readFileSync(u.source) : Buffer.from(u.content);
        const put = await putArchive(holder.inputs.name, providerTar(u.file, parseInt(u.permissions, 8), content));
        expect({ file: u.file, status: put.status, body: put.body }).toEqual({ file: u.file, status: 200, body: '' });
      }
      // The service's container as the provider creates it (read-only root, its user, /tmp tmpfs, the
      // files' volumes read-only), running a check instead of the app.
      expect(main.readOnly).toBe(true);
      const placed = main.volumes.filter((v: any) => v.readOnly);
      expect(placed.map((v: any) => v.containerPath)).toEqual(['/app/config', '/run/secrets']);
      const name = `pfvolcheck${process.pid}`;
      const check = 'id -u; cat /app/config/settings.toml /run/secrets/api-key; stat -c %a /run/secrets/api-key; ls /app/config; (echo x >> /app/config/settings.toml) 2>&1; (touch /run/secrets/new) 2>&1; true';
      engine.docker(['create', '--name', name, '--network', 'none', '--read-only', '--user', main.user, ...Object.keys(main.tmpfs ?? {}).flatMap((t) => ['--tmpfs', t]),
        ...main.volumes.flatMap((v: any) => (v.volumeName ? ['-v', `${v.volumeName}:${v.containerPath}${v.readOnly ? ':ro' : ''}`] : ['-v', v.containerPath])),
        '--entrypoint', 'sh', main.image, '-c', check]);
      made.push(name);
      // What the provider would do if it uploaded into the read-only container itself: refused.
      const refused = await putArchive(name, providerTar('/app/config/settings.toml', 0o444, Buffer.from('x\n')));
      expect(refused.status).toBe(500);
      expect(refused.body).toMatch(/container rootfs is marked read-only/);
      const outText = engine.docker(['start', '-a', name], { timeout: 60_000 });
      const lines = outText.trim().split('\n');
      expect(lines.slice(0, 4)).toEqual(['10001', 'greeting = "hello"', 's3cr3t-value', '444']);
      expect(lines.slice(4, -2)).toEqual(['settings.toml']);
      expect(lines.slice(-2)).toEqual([expect.stringMatching(/Read-only file system|Permission denied/), expect.stringMatching(/Read-only file system|Permission denied/)]);
      // The engine mounted both volumes read-only, over a read-only root.
      const inspected = JSON.parse(engine.docker(['inspect', name]))[0];
      expect(inspected.HostConfig.ReadonlyRootfs).toBe(true);
      const mounts = Object.fromEntries(inspected.Mounts.map((m: any) => [m.Destination, { type: m.Type, rw: m.RW, name: m.Name }]));
      expect(mounts).toMatchObject(Object.fromEntries(placed.map((v: any) => [v.containerPath, { type: 'volume', rw: false, name: v.volumeName }])));
      // The secret's value is in neither container's configuration.
      for (const c of made) expect(engine.docker(['inspect', c])).not.toContain('s3cr3t-value');
    } finally {
      for (const c of made) engine.docker(['rm', '-f', '-v', c]);
      for (const v of volumes) engine.docker(['volume', 'rm', v]);
    }
  }, 180_000);
});
