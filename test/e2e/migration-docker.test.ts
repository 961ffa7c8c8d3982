// A Migration under a real Docker engine (one private dockerd for this file): the compose project
// pyfleet writes for a FastApiApp with a Migration, run by docker-compose 1.29 (host networking,
// loopback only). The migration is a tiny script in the app's source that exits with MIGRATE_EXIT (the
// Migration's env), so both runs use ONE generated image (the two programs differ only in the one-shot's
// environment; the test checks the image tag is the same). Exit 0: the one-shot exits 0 and the
// service's container then starts and turns healthy on 127.0.0.1. Exit 3: `docker-compose up` fails, the
// one-shot's exit code is 3 in `docker inspect`, and the service's container never ran (absent, or
// `created` with a zero StartedAt) and nothing answers on its port.
// Run it under `flock /tmp/pyfleet-docker.lock`.
import * as fs from 'fs';
import * as http from 'http';
import * as path from 'path';
import * as yaml from 'js-yaml';
import { App, ComposeNetworkMode, Duration, FastApiApp, HealthCheck, Migration, Size, Stack } from '../../lib';
import { Engine, forDockerCompose129, haveDocker, importBase, localIndexDir, serveIndex, startEngine } from '../support/docker';
import { freePort, Started, stopAll } from '../support/process';
import { havePython } from '../support/python';
import { Synthesized, synth, tmpdir } from '../support/synth';

const USER = path.join(__dirname, '..', '..', 'examples', 'shop', 'services', 'user');
const run = havePython() && haveDocker() ? describe : describe.skip;
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
const ZERO_TIME = '0001-01-01T00:00:00Z';

/** Resolves with the HTTP status of GET url, or undefined when nothing answers (bounded). */
function get(url: string): Promise<number | undefined> {
  return new Promise((resolve) => {
    const req = http.get(url, { timeout: 2_000 }, (res) => { res.resume(); resolve(res.statusCode); });
    req.on('timeout', () => { req.destroy(); resolve(undefined); });
    req.on('error', () => resolve(undefined));
  });
}

interface Run {
  readonly out: Synthesized;
  readonly project: string;
  readonly file: string;
  /** The one-shot's compose service name. */
  readonly oneShot: string;
  /** The service's (version's) compose service name, which waits for the one-shot. */
  readonly web: string;
  readonly compose: any;
}

run('a Migration on docker-compose 1.29: a failing one holds the release back', () => {
  let engine: Engine;
  let index: { url: string; server: Started } | undefined;
  let src: string;
  let port: number;
  const runs: Run[] = [];

  /** The same stack (so the same image tag) with the migration exiting `exitCode`, run as compose project `project`. */
  function program(exitCode: number, project: string): Run {
    const out = synth((app: App) => {
      const stack = new Stack(app, 'pfmig', { compose: { networkMode: ComposeNetworkMode.HOST } });
      const web = new FastApiApp(stack, 'keeper', {
        source: src, port, replicas: 1, metrics: false, memory: Size.mebibytes(256),
        healthCheck: HealthCheck.http('/healthz', { interval: Duration.seconds(2) }),
      });
      new Migration(stack, 'schema', { of: web, command: ['python', 'migrate.py'], env: { MIGRATE_EXIT: String(exitCode) } });
    });
    const compose = out.compose('pfmig');
    const names = Object.keys(compose.services);
    const oneShot = names.find((n) => compose.services[n].restart === 'no')!;
    const web = names.find((n) => compose.services[n].depends_on?.[oneShot])!;
    expect(oneShot).toBeDefined();
    expect(web).toBeDefined();
    // The contract under test, as written: the one-shot runs once, the release waits for its success.
    expect(compose.services[web].depends_on[oneShot].condition).toBe('service_completed_successfully');
    expect(compose.services[oneShot].entrypoint).toEqual(['python', 'migrate.py']);
    expect(compose.services[oneShot].environment.MIGRATE_EXIT).toBe(String(exitCode));
    const file = path.join(out.dir, `${project}.compose-1.29.yml`);
    fs.writeFileSync(file, yaml.dump(forDockerCompose129(compose, { prebuilt: true })));
    const r = { out, project, file, oneShot, web, compose };
    runs.push(r);
    return r;
  }
  const dc = (r: Run, args: string[], timeoutMs?: number): string => engine.compose(['-p', r.project, '-f', r.file, ...args], r.out.dir, timeoutMs);
  /** The project's containers of one compose service (including never-started ones). */
  const containers = (r: Run, service: string): any[] => {
    const ids = engine.docker(['ps', '-a', '-q', '--filter', `label=com.docker.compose.project=${r.project}`, '--filter', `label=com.docker.compose.service=${service}`]).split('\n').filter(Boolean);
    return ids.length ? JSON.parse(engine.docker(['inspect', ...ids])) : [];
  };

  let ok: Run;
  let bad: Run;

  beforeAll(async () => {
    port = await freePort();
    src = tmpdir('pyfleet-migsrc-');
    for (const f of ['app.py', 'requirements.txt']) fs.copyFileSync(path.join(USER, f), path.join(src, f));
    fs.writeFileSync(path.join(src, 'migrate.py'), 'import os, sys\nprint("migrating, exit", os.environ["MIGRATE_EXIT"])\nsys.exit(int(os.environ["MIGRATE_EXIT"]))\n');
    ok = program(0, 'pfmigok');
    bad = program(3, 'pfmigbad');
    // One image for both: the Migration's env is the one-shot's, not the image's.
    const tag = ok.compose.services[ok.web].build.tags[0];
    expect(bad.compose.services[bad.web].build.tags[0]).toBe(tag);
    expect(ok.compose.services[ok.oneShot].build.tags[0]).toBe(tag);
    engine = await startEngine();
    const svc = ok.compose.services[ok.web];
    const dockerfile = fs.readFileSync(path.join(ok.out.dir, svc.build.context, svc.build.dockerfile), 'utf8');
    importBase(engine, /^FROM (\S+)/m.exec(dockerfile)![1]);
    index = await serveIndex(localIndexDir());
    engine.docker(['build', '--network', 'host', '--build-arg', `PIP_INDEX_URL=${index.url}`, '-t', tag, path.join(ok.out.dir, svc.build.context)], { timeout: 600_000 });
    await index.server.stop('SIGTERM', 5_000);
    index = undefined;
  }, 900_000);

  afterAll(async () => {
    for (const r of runs) {
      if (engine) {
        try { dc(r, ['down', '-v', '-t', '5'], 120_000); } catch { /* the engine stops next */ }
      }
      r.out.cleanup();
    }
    await index?.server.stop('SIGTERM', 5_000);
    await engine?.stop();
    await stopAll();
    if (src) fs.rmSync(src, { recursive: true, force: true });
  }, 180_000);

  test('a migration that exits 3 fails `up`; the release container never runs and nothing answers', async () => {
    const t0 = Date.now();
    let failed: any;
    try { dc(bad, ['up', '-d', '--no-build'], 240_000); } catch (e) { failed = e; }
    const upMs = Date.now() - t0;
    expect(failed).toBeDefined();
    expect(failed.status).not.toBe(0);
    const stderr = String(failed.stderr);
    const [job] = containers(bad, bad.oneShot);
    expect(job.State.Status).toBe('exited');
    expect(job.State.ExitCode).toBe(3);
    expect(job.State.Running).toBe(false);
    // docker-compose 1.29 names the one-shot's container and its exit code (Compose v2 says the same).
    expect(stderr).toContain(`Container "${job.Id.slice(0, 12)}" exited with code 3`);
    const oneShotMs = Date.parse(job.State.FinishedAt) - Date.parse(job.State.StartedAt);
    const exitAfterMs = Date.parse(job.State.FinishedAt) - t0;
    const held = containers(bad, bad.web);
    expect(held.length).toBeLessThanOrEqual(1);
    for (const c of held) {
      expect(c.State.Status).toBe('created');
      expect(c.State.StartedAt).toBe(ZERO_TIME);
      expect(c.State.Running).toBe(false);
    }
    // docker-compose 1.29 does not even create it (Compose v2 creates it and never starts it).
    // Still nothing a few health intervals later, and nothing on the service's port.
    await sleep(3_000);
    for (const c of containers(bad, bad.web)) expect(c.State.StartedAt).toBe(ZERO_TIME);
    expect(await get(`http://127.0.0.1:${port}/healthz`)).toBeUndefined();
    dc(bad, ['down', '-v', '-t', '5'], 120_000);
    // eslint-disable-next-line no-console
    if (process.env.PYFLEET_REPORT_FIGURES) console.log(`failing: one-shot exited ${exitAfterMs} ms after up began (ran ${oneShotMs} ms, exit ${job.State.ExitCode}); up failed after ${upMs} ms; release containers: ${held.map((c) => `${c.State.Status} StartedAt=${c.State.StartedAt}`).join(', ') || 'none created'}; compose said: ${stderr.trim().split('\n').slice(-2).join(' | ')}`);
  }, 300_000);

  test('a migration that exits 0 lets the release start after it; it turns healthy and answers on 127.0.0.1', async () => {
    const t0 = Date.now();
    dc(ok, ['up', '-d', '--no-build'], 240_000);
    const [job] = containers(ok, ok.oneShot);
    expect(job.State.Status).toBe('exited');
    expect(job.State.ExitCode).toBe(0);
    let c: any;
    for (let i = 0; i < 120; i++) {
      c = containers(ok, ok.web)[0];
      if (c?.State.Health?.Status === 'healthy') break;
      await sleep(500);
    }
    expect(c.State.Health?.Status).toBe('healthy');
    const healthyMs = Date.now() - t0;
    // The release started only after the one-shot finished.
    expect(Date.parse(c.State.StartedAt)).toBeGreaterThanOrEqual(Date.parse(job.State.FinishedAt));
    expect(await get(`http://127.0.0.1:${port}/healthz`)).toBe(200);
    // eslint-disable-next-line no-console
    if (process.env.PYFLEET_REPORT_FIGURES) console.log(`passing: one-shot exited 0 ${Date.parse(job.State.FinishedAt) - t0} ms after up began (ran ${Date.parse(job.State.FinishedAt) - Date.parse(job.State.StartedAt)} ms); up until healthy ${healthyMs} ms; release started ${Date.parse(c.State.StartedAt) - Date.parse(job.State.FinishedAt)} ms after the one-shot finished`);
  }, 300_000);
});
