// Benchmark (not part of npm test): one service behind its gateway (compose host network mode) under a
// fixed load (8 concurrent keep-alive GETs, closed loop, on 127.0.0.1) while a new release (an env
// change) rolls out, today's way (`docker-compose up -d`, which stops the old container, then starts
// the new one) and with `pyfleet deploy` (new beside old, healthy, moved in the gateway, old drained).
// Side by side in one run under a private dockerd, the ways interleaved per round: failed requests,
// requests served and the longest request. The load runs from the start of the release until the
// command returned and the new release answers, plus one second.
// The gateway runs in the stand-in HAProxy image (Debian's haproxy 2.6 on the stand-in base; no registry).
// Needs root, docker.io, docker-compose and the base root filesystem: run `bash .ci/setup.d/40-docker.sh`.
// Usage: npx projen bench:release [rounds]   (default 2 rounds, ~3 minutes)
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import * as yaml from 'js-yaml';
import { App, CircuitBreaker, ComposeNetworkMode, Duration, GunicornFlaskApp, HealthCheck, Mesh, Stack } from '../lib';
import { deployCommand } from '../lib/cli';
import { RuntimeApi } from '../lib/deploy/runtime-api';
import { GATEWAY_IMAGE } from '../lib/render/compose/gateway';
import { buildHaproxyStandIn, Engine, forDockerCompose129, haveDocker, importBase, localIndexDir, serveIndex, startEngine } from '../test/support/docker';
import { freeBlock, load, Load } from '../test/support/load';
import { get, Started, stopAll } from '../test/support/process';

const ROUNDS = Number(process.argv[2] ?? 2);
const CONCURRENCY = 8;
const SCRATCH = fs.mkdtempSync(path.join(os.tmpdir(), 'pyfleet-bench-release-'));
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

const APP = `import os

from flask import Flask

app = Flask(__name__)


@app.get("/")
def index():
    return os.environ.get("RELEASE", "?")


@app.get("/healthz")
def healthz():
    return "ok"
`;

/** Synthesizes the stack with RELEASE=<release> into its own outdir; returns the outdir. */
function synthRelease(src: string, port: number, release: string): string {
  const outdir = path.join(SCRATCH, release);
  const app = new App({ outdir });
  const stack = new Stack(app, 'shop', { mesh: Mesh.istio(), compose: { networkMode: ComposeNetworkMode.HOST } });
  const orders = new GunicornFlaskApp(stack, 'order-service', {
    source: src, module: 'app:app', port, replicas: 1, metrics: false, workers: 2,
    healthCheck: HealthCheck.http('/healthz', { interval: Duration.seconds(2), startPeriod: Duration.seconds(4), failureThreshold: 2 }),
    gracefulShutdown: Duration.seconds(5), expose: { port }, env: { RELEASE: release },
  });
  new CircuitBreaker(stack, 'orders-breaker', { service: orders, maxConnections: 64 });
  const warn = console.warn;
  console.warn = () => undefined; // the host-mode warning; the benchmark prints only its figures
  try { app.synth(); } finally { console.warn = warn; }
  return outdir;
}

/** Resolves once `url` answers `body` (polled outside the measured load), bounded. */
async function answers(url: string, body: string, timeoutMs = 120_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const r = await get(url, {}, 2_000).catch(() => undefined);
    if (r?.status === 200 && r.body === body) return;
    if (Date.now() > deadline) throw new Error(`${url} did not answer ${body}`);
    await sleep(200);
  }
}

const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

async function main(): Promise<void> {
  if (!haveDocker()) throw new Error('dockerd, docker-compose or the base root filesystem is missing: run bash .ci/setup.d/40-docker.sh as root');
  const port = await freeBlock(5);
  const src = path.join(SCRATCH, 'src');
  fs.mkdirSync(src);
  fs.writeFileSync(path.join(src, 'app.py'), APP);
  fs.writeFileSync(path.join(src, 'requirements.txt'), 'flask==3.1.*\ngunicorn==26.2.*\n');
  const base = synthRelease(src, port, 'r0');
  const doc = yaml.load(fs.readFileSync(path.join(base, 'shop.compose.yml'), 'utf8')) as any;
  const v1 = doc.services['order-service-v1'];
  const project = `pfbench${process.pid}`;
  let engine: Engine | undefined;
  let index: { url: string; server: Started } | undefined;
  try {
    engine = await startEngine();
    const e = engine;
    const from = /^FROM (\S+)/m.exec(fs.readFileSync(path.join(base, v1.build.context, v1.build.dockerfile), 'utf8'))![1];
    importBase(e, from);
    buildHaproxyStandIn(e, GATEWAY_IMAGE, from);
    index = await serveIndex(localIndexDir());
    e.docker(['build', '--network', 'host', '--build-arg', `PIP_INDEX_URL=${index.url}`, '-t', v1.build.tags[0], path.join(base, v1.build.context)], { timeout: 600_000 });
    // docker-compose 1.29 runs every file from the first outdir, so that only the release's env changes.
    const composeUp = (release: string, outdir: string) => {
      const file = path.join(base, `${release}.compose129.yml`);
      const d = yaml.load(fs.readFileSync(path.join(outdir, 'shop.compose.yml'), 'utf8'));
      fs.writeFileSync(file, yaml.dump(forDockerCompose129(d, { prebuilt: true })));
      return new Promise<void>((resolve, reject) => {
        const { execFile } = require('child_process') as typeof import('child_process');
        execFile('docker-compose', ['-p', project, '-f', file, 'up', '-d'], { cwd: base, env: e.env, timeout: 300_000 }, (err, _o, stderr) => (err ? reject(new Error(stderr)) : resolve()));
      });
    };
    await composeUp('r0', base);
    const url = `http://127.0.0.1:${port}/`;
    await answers(url, 'r0');

    const results: Record<'compose' | 'pyfleet', Load[]> = { compose: [], pyfleet: [] };
    let n = 0;
    for (let round = 0; round < ROUNDS; round++) {
      // Today's way: docker-compose recreates the changed container (stop, then start).
      let release = `r${++n}`;
      let outdir = synthRelease(src, port, release);
      const viaCompose = composeUp(release, outdir).then(() => answers(url, release));
      results.compose.push(await load(url, { until: viaCompose, concurrency: CONCURRENCY }));
      await viaCompose;
      // pyfleet deploy: the new release beside the old, then moved in the gateway and the old drained.
      release = `r${++n}`;
      outdir = synthRelease(src, port, release);
      let err = '';
      const viaPyfleet = deployCommand([path.join(outdir, 'shop.compose.yml'), '--project-name', project], { out: () => undefined, err: (s) => { err += s; } }, process.cwd(), e.env)
        .then(async (code) => { if (code !== 0) throw new Error(err); await answers(url, release); });
      results.pyfleet.push(await load(url, { until: viaPyfleet, concurrency: CONCURRENCY }));
      await viaPyfleet;
      if (round < ROUNDS - 1) {
        // Back to a compose-managed container for the next round: compose starts it in the first slot
        // beside pyfleet's (both served); then pyfleet's is taken out of the gateway and removed.
        await composeUp(release, outdir);
        await sleep(8_000);
        const ids = e.docker(['ps', '-q', '--filter', `label=io.pyfleet.project=${project}`]).split('\n').filter(Boolean);
        const label = JSON.parse(v1.labels['io.pyfleet.release']);
        const api = new RuntimeApi(label.runtime);
        // pyfleet deploy left the first slot in maintenance when it retired the old release there.
        await api.set(`set server ${label.backend}/${label.slots[0].server} state ready`);
        await api.set(`set server ${label.backend}/${label.slots[1].server} state maint`);
        if (ids.length > 0) e.docker(['rm', '-f', ...ids], { timeout: 120_000 });
        await answers(url, release);
      }
    }

    const row = (name: string, runs: Load[]) => {
      const failed = median(runs.map((r) => r.failed));
      const total = median(runs.map((r) => r.ok + r.failed));
      const longest = median(runs.map((r) => r.maxLatencyMs));
      return { name, failed, total, longest, all: runs.map((r) => `${r.failed}/${r.ok + r.failed}, ${r.maxLatencyMs} ms`).join('; ') };
    };
    const rows = [row('docker-compose up -d', results.compose), row('pyfleet deploy', results.pyfleet)];
    console.log(`Release of one service behind its gateway under load (${CONCURRENCY} concurrent GETs, ${ROUNDS} round(s), medians; per round: failed/total, longest)`);
    console.log(`${'way'.padEnd(22)} ${'failed'.padStart(7)} ${'total'.padStart(7)} ${'longest ms'.padStart(11)}   rounds`);
    for (const r of rows) console.log(`${r.name.padEnd(22)} ${String(r.failed).padStart(7)} ${String(r.total).padStart(7)} ${String(r.longest).padStart(11)}   ${r.all}`);
    const [c, p] = rows;
    console.log(`longest request: docker-compose up -d / pyfleet deploy = ${(c.longest / Math.max(1, p.longest)).toFixed(1)}x; failed: ${c.failed} vs ${p.failed}`);
    for (const [name, runs] of Object.entries(results)) {
      const errors = [...new Set(runs.flatMap((r) => r.errors))].slice(0, 3);
      if (errors.length > 0) console.log(`first errors (${name}): ${errors.join(' | ')}`);
    }
  } finally {
    if (engine) {
      const ids = engine.docker(['ps', '-aq']).split('\n').filter(Boolean);
      if (ids.length > 0) engine.docker(['rm', '-f', ...ids], { timeout: 120_000 });
      await index?.server.stop('SIGTERM', 5_000);
      await engine.stop();
    }
    await stopAll();
    fs.rmSync(SCRATCH, { recursive: true, force: true });
  }
}

main().catch((e) => {
  console.error(e);
  process.exitCode = 1;
});
