// Releases on one Docker host, for real: a host-network-mode compose project (a Flask service behind
// its gateway, HAProxy in a container) runs under docker-compose on a private dockerd, all traffic on
// 127.0.0.1. `pyfleet deploy` then releases new versions while a bounded load runs against the public
// port: no request fails, the new release answers afterwards and the old container is gone; a release
// whose health check never passes is removed while the old one answers throughout, and the command
// fails; a canary moves the measured share of requests step by step; --abort goes back.
// The gateway image is a stand-in (test/support/docker.ts buildHaproxyStandIn): no registry is reachable.
import * as fs from 'fs';
import * as path from 'path';
import * as yaml from 'js-yaml';
import { App, CircuitBreaker, ComposeNetworkMode, Duration, GunicornFlaskApp, HealthCheck, Mesh, Stack } from '../../lib';
import { deployCommand } from '../../lib/cli';
import { GATEWAY_IMAGE } from '../../lib/render/compose/gateway';
import { buildHaproxyStandIn, Engine, forDockerCompose129, haveDocker, importBase, localIndexDir, serveIndex, startEngine } from '../support/docker';
import { freeBlock, load } from '../support/load';
import { get, Started, stopAll } from '../support/process';
import { haveEngine } from '../support/engines';
import { havePython } from '../support/python';
import { Synthesized, synth, tmpdir } from '../support/synth';

// The stand-in gateway image copies the host's haproxy (Debian's, .ci/setup.d/30-mesh.sh installs it).
const run = havePython() && haveDocker() && haveEngine('haproxy', 'apt-get install haproxy') ? describe : describe.skip;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

const APP = `import os
import time

from flask import Flask

app = Flask(__name__)


@app.get("/")
def index():
    return os.environ.get("RELEASE", "?")


@app.get("/slow")
def slow():
    time.sleep(0.3)
    return os.environ.get("RELEASE", "?")


@app.get("/healthz")
def healthz():
    if os.environ.get("BROKEN"):
        return "broken", 500
    return "ok"
`;

/** With PYFLEET_RELEASE_FIGURES=<file>, the measured figures are appended there (the test log stays quiet). */
function figure(line: string): void {
  if (process.env.PYFLEET_RELEASE_FIGURES) fs.appendFileSync(process.env.PYFLEET_RELEASE_FIGURES, `${line}\n`);
}

function share(bodies: string[], release: string): number {
  return bodies.filter((b) => b === release).length / bodies.length;
}

run('pyfleet deploy under a real Docker engine (host network mode, a gateway in a container)', () => {
  let engine: Engine;
  let index: { url: string; server: Started };
  let base: Synthesized;
  let port = 0;
  const project = `pfrel${process.pid}`;
  const src = tmpdir('pyfleet-release-src-');
  const outs: Synthesized[] = [];
  let up = false;
  let composeFile = '';

  /** Synthesizes the stack with the release's environment; the compose file the release reads. */
  function release(env: Record<string, string>): string {
    const out = synth((app: App) => {
      const stack = new Stack(app, 'shop', { mesh: Mesh.istio(), compose: { networkMode: ComposeNetworkMode.HOST } });
      const orders = new GunicornFlaskApp(stack, 'order-service', {
        source: src, module: 'app:app', port, replicas: 1, metrics: false, workers: 2,
        healthCheck: HealthCheck.http('/healthz', { interval: Duration.seconds(2), startPeriod: Duration.seconds(4), failureThreshold: 2 }),
        gracefulShutdown: Duration.seconds(5), expose: { port }, env,
      });
      // The breaker puts the service behind its gateway.
      new CircuitBreaker(stack, 'orders-breaker', { service: orders, maxConnections: 64 });
    });
    outs.push(out);
    return path.join(out.dir, 'shop.compose.yml');
  }

  async function deployQuiet(args: string[]): Promise<{ code: number; out: string; err: string; lines: string[] }> {
    let out = '';
    let err = '';
    const lines: string[] = [];
    const code = await deployCommand(args, { out: (s) => { out += s; lines.push(s); }, err: (s) => { err += s; } }, process.cwd(), engine.env);
    return { code, out, err, lines };
  }

  function containers(): Array<{ name: string; env: string[] }> {
    // The version's containers (the gateway carries app=order-service too, without a version label).
    const ids = engine.docker(['ps', '-q', '--filter', 'label=app=order-service', '--filter', 'label=version=v1']).split('\n').filter(Boolean);
    if (ids.length === 0) return [];
    return (JSON.parse(engine.docker(['inspect', ...ids])) as any[]).map((c) => ({ name: String(c.Name).slice(1), env: c.Config.Env as string[] }));
  }

  beforeAll(async () => {
    // The gateway binds `port`, its health and runtime ports the next two, the version's slots the two after.
    port = await freeBlock(5);
    fs.writeFileSync(path.join(src, 'app.py'), APP);
    fs.writeFileSync(path.join(src, 'requirements.txt'), 'flask==3.1.*\ngunicorn==26.2.*\n');
    composeFile = release({ RELEASE: 'r1' });
    base = outs[0];
    const doc = base.compose('shop');
    engine = await startEngine();
    const v1 = doc.services['order-service-v1'];
    const dockerfile = fs.readFileSync(path.join(base.dir, v1.build.context, v1.build.dockerfile), 'utf8');
    const from = /^FROM (\S+)/m.exec(dockerfile)![1];
    importBase(engine, from);
    buildHaproxyStandIn(engine, GATEWAY_IMAGE, from);
    index = await serveIndex(localIndexDir());
    engine.docker(['build', '--network', 'host', '--build-arg', `PIP_INDEX_URL=${index.url}`, '-t', v1.build.tags[0], path.join(base.dir, v1.build.context)], { timeout: 600_000 });
    // docker-compose 1.29 (Debian's) starts the first release, from the same file minus the keys it predates.
    const file129 = path.join(base.dir, 'shop.compose129.yml');
    fs.writeFileSync(file129, yaml.dump(forDockerCompose129(doc, { prebuilt: true })));
    up = true;
    engine.compose(['-p', project, '-f', file129, 'up', '-d'], base.dir, 300_000);
    const deadline = Date.now() + 120_000;
    for (;;) {
      const r = await get(`http://127.0.0.1:${port}/`, {}, 2_000).catch(() => undefined);
      if (r?.status === 200 && r.body === 'r1') break;
      if (Date.now() > deadline) throw new Error(`the gateway did not answer r1 on ${port}: ${engine.compose(['-p', project, '-f', file129, 'logs', '--tail', '30'], base.dir)}`);
      await sleep(500);
    }
  }, 900_000);

  afterAll(async () => {
    if (engine) {
      // The containers pyfleet deploy started are not compose's: remove them by label, then the project.
      const ids = engine.docker(['ps', '-aq', '--filter', `label=io.pyfleet.project=${project}`]).split('\n').filter(Boolean);
      if (ids.length > 0) engine.docker(['rm', '-f', ...ids], { timeout: 120_000 });
      if (up) {
        try { engine.compose(['-p', project, '-f', path.join(base.dir, 'shop.compose129.yml'), 'down', '-t', '10'], base.dir, 120_000); } catch { /* the engine stops next */ }
      }
    }
    await index?.server.stop('SIGTERM', 5_000);
    await engine?.stop();
    await stopAll();
    outs.forEach((o) => o.cleanup());
    fs.rmSync(src, { recursive: true, force: true });
  }, 300_000);

  test('a release under load drops no request; the new release answers and the old container is gone', async () => {
    const file = release({ RELEASE: 'r2' });
    const before = containers();
    expect(before).toHaveLength(1);
    const deploying = deployQuiet([file, '--service', 'order-service', '--project-name', project]);
    const result = await load(`http://127.0.0.1:${port}/slow`, { until: deploying, concurrency: 8 });
    const d = await deploying;
    expect(d.err).toBe('');
    expect(d.code).toBe(0);
    figure(`release under load: ${result.ok} ok, ${result.failed} failed (${result.errors.join('; ')}), concurrency 8`);
    expect(result.failed).toBe(0);
    expect(result.errors).toEqual([]);
    expect(result.ok).toBeGreaterThan(50);
    expect(result.bodies).toContain('r1');
    expect(result.bodies[result.bodies.length - 1]).toBe('r2');
    const after = containers();
    expect(after.map((c) => c.name)).not.toContain(before[0].name);
    expect(after).toHaveLength(1);
    // The new release runs in the version's second slot.
    expect(after[0].env).toContain(`PYFLEET_LISTEN_PORT=${port + 4}`);
    expect((await get(`http://127.0.0.1:${port}/`)).body).toBe('r2');
    // Nothing changed: nothing to do.
    const again = await deployQuiet([file, '--project-name', project]);
    expect(again.code).toBe(0);
    expect(again.out).toMatch(/up to date/);
  }, 300_000);

  test('a release whose health check never passes: the old one answers throughout, the command fails', async () => {
    // docker compose up -d after a release starts the compose container again, in the slot the release
    // left, which the gateway keeps in maintenance: it serves nothing, and the next release removes it.
    engine.compose(['-p', project, '-f', path.join(base.dir, 'shop.compose129.yml'), 'up', '-d'], base.dir, 300_000);
    const deadline = Date.now() + 60_000;
    while (containers().length < 2 && Date.now() < deadline) await sleep(500);
    expect(containers()).toHaveLength(2);
    const quiet = await load(`http://127.0.0.1:${port}/`, { requests: 200, concurrency: 4 });
    expect(quiet.failed).toBe(0);
    expect(new Set(quiet.bodies)).toEqual(new Set(['r2']));
    const file = release({ RELEASE: 'r-broken', BROKEN: '1' });
    const deploying = deployQuiet([file, '--service', 'order-service', '--project-name', project]);
    const result = await load(`http://127.0.0.1:${port}/`, { until: deploying, concurrency: 4 });
    const d = await deploying;
    figure(`broken release: ${result.ok} ok, ${result.failed} failed; ${d.err.trim()}`);
    expect(d.code).toBe(1);
    expect(d.out).toMatch(/removing pfrel\d+_order-service-v1_1, which the gateway does not serve \(its slot v1-a is in maintenance\)/);
    expect(d.err).toMatch(/never turned healthy \(Docker reports it unhealthy; last check exited 1/);
    expect(d.err).toMatch(/the old release .* keeps serving, and the new container was removed/);
    expect(result.failed).toBe(0);
    expect(new Set(result.bodies)).toEqual(new Set(['r2']));
    expect(containers()).toHaveLength(1);
  }, 300_000);

  test('a live canary: the measured share follows each step over 1,000 requests; --abort goes back', async () => {
    const file = release({ RELEASE: 'r3' });
    const lines: string[] = [];
    let seen = 0;
    const stepReached = async (pct: number) => {
      const deadline = Date.now() + 120_000;
      while (!lines.slice(seen).some((l) => l.includes(`: ${pct}% on release`))) {
        if (Date.now() > deadline) throw new Error(`step ${pct}% not reached: ${lines.join('')}`);
        await sleep(200);
      }
      seen = lines.length;
    };
    const canary = deployCommand([file, '--project-name', project, '--steps', '10,50,100', '--pause', '15s'],
      { out: (s) => lines.push(s), err: (s) => lines.push(`ERR ${s}`) }, process.cwd(), engine.env);
    const shares: Record<number, number> = {};
    for (const pct of [10, 50]) {
      await stepReached(pct);
      const r = await load(`http://127.0.0.1:${port}/`, { requests: 1000, concurrency: 8 });
      expect(r.failed).toBe(0);
      shares[pct] = share(r.bodies, 'r3');
      figure(`canary step ${pct}%: measured ${(shares[pct] * 100).toFixed(1)}% over ${r.bodies.length} requests, ${r.failed} failed`);
    }
    expect(await canary).toBe(0);
    expect(Math.abs(shares[10] - 0.10)).toBeLessThan(0.04);
    expect(Math.abs(shares[50] - 0.50)).toBeLessThan(0.04);
    const done = await load(`http://127.0.0.1:${port}/`, { requests: 200, concurrency: 4 });
    expect(share(done.bodies, 'r3')).toBe(1);

    // --abort while a canary pauses at 10%: every request back on r3, the canary command fails.
    const next = release({ RELEASE: 'r4' });
    lines.length = 0;
    seen = 0;
    const aborted = deployCommand([next, '--project-name', project, '--steps', '10,100', '--pause', '60s'],
      { out: (s) => lines.push(s), err: (s) => lines.push(`ERR ${s}`) }, process.cwd(), engine.env);
    await stepReached(10);
    const abortLoad = load(`http://127.0.0.1:${port}/`, { requests: 400, concurrency: 4 });
    const a = await deployQuiet([next, '--project-name', project, '--abort']);
    expect(a.err).toBe('');
    expect(a.code).toBe(0);
    expect(a.out).toMatch(/aborted/);
    expect(await aborted).toBe(1);
    expect(lines.join('')).toMatch(/ERR .*was aborted/);
    expect((await abortLoad).failed).toBe(0);
    const back = await load(`http://127.0.0.1:${port}/`, { requests: 200, concurrency: 4 });
    expect(share(back.bodies, 'r3')).toBe(1);
    expect(containers()).toHaveLength(1);
  }, 400_000);

  test('clear errors: steps that do not end at 100, a service not behind a gateway', async () => {
    const bad = await deployQuiet([composeFile, '--steps', '10,50']);
    expect(bad.code).toBe(2);
    expect(bad.err).toMatch(/ends at 50, not 100.*--steps 10,50,100/);
    const out = synth((app: App) => {
      const stack = new Stack(app, 'plain', { compose: { networkMode: ComposeNetworkMode.HOST } });
      new GunicornFlaskApp(stack, 'web', { source: src, module: 'app:app', port: port + 10, replicas: 1, metrics: false });
    });
    outs.push(out);
    const r = await deployQuiet([path.join(out.dir, 'plain.compose.yml'), '--service', 'web']);
    expect(r.code).toBe(1);
    expect(r.err).toMatch(/"web" is not behind a gateway in host network mode.*Fix: put the service behind a gateway/);
  }, 60_000);
});
