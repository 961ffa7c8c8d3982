// Mesh benchmarks (not tests): prints figures side by side.
//  1. Synth time of stacks whose services all have two versions, a canary route and a breaker, against
//     the same services without mesh policies (ratio = cost of the mesh renderers).
//  2. With Debian's haproxy installed: latency and throughput of requests to a loopback Node backend,
//     direct and through the generated gateway (canary route + breaker).
// Run: npx projen bench:mesh
import { execFileSync, spawn } from 'child_process';
import * as fs from 'fs';
import * as http from 'http';
import * as net from 'net';
import * as os from 'os';
import * as path from 'path';
import { App, CircuitBreaker, ContainerImage, Duration, Match, Mesh, MeshRoute, MicroService, Stack } from '../lib';
import { gatewayConfig } from '../lib/render/compose/gateway';

function build(n: number, withMesh: boolean): App {
  const app = new App({ outdir: path.join(os.tmpdir(), 'pyfleet-bench-unused') });
  const stack = new Stack(app, 'bench', withMesh ? { mesh: Mesh.istio() } : {});
  for (let i = 0; i < n; i++) {
    const svc = new MicroService(stack, `svc-${i}`, { image: ContainerImage.fromRegistry(`registry.example.com/s${i}:1.0.0`), replicas: 2 });
    const v2 = svc.addVersion('v2', { replicas: 1 });
    if (withMesh) {
      new MeshRoute(stack, `route-${i}`, { service: svc, rules: [
        { match: Match.pathPrefix('/api/v2'), to: v2 },
        { split: [{ to: svc.defaultVersion, weight: 70 }, { to: v2, weight: 30 }], timeout: Duration.seconds(10), retries: { attempts: 2, perTryTimeout: Duration.seconds(3) } },
      ] });
      new CircuitBreaker(stack, `breaker-${i}`, { service: svc, maxConnections: 100, consecutive5xxErrors: 5, interval: Duration.seconds(10), baseEjectionTime: Duration.seconds(30) });
    }
  }
  return app;
}

function time(fn: () => void): number {
  const t0 = process.hrtime.bigint();
  fn();
  return Number(process.hrtime.bigint() - t0) / 1e6;
}

function synthBench(): void {
  console.log('synth (in memory), services with 2 versions each');
  console.log('services | plain ms | mesh ms | mesh/plain');
  build(50, true).synthesize(); // warm up (JIT, module loading)
  build(50, false).synthesize();
  for (const n of [50, 200, 400]) {
    const plain = time(() => build(n, false).synthesize());
    const mesh = time(() => build(n, true).synthesize());
    console.log(`${String(n).padStart(8)} | ${plain.toFixed(0).padStart(8)} | ${mesh.toFixed(0).padStart(7)} | ${(mesh / plain).toFixed(2)}`);
  }
}

function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const s = net.createServer();
    s.listen(0, '127.0.0.1', () => { const p = (s.address() as net.AddressInfo).port; s.close(() => resolve(p)); });
  });
}

async function load(url: string, count: number, concurrency: number): Promise<{ rps: number; p50: number; p99: number }> {
  const agent = new http.Agent({ keepAlive: true, maxSockets: concurrency });
  const lat: number[] = [];
  let next = 0;
  const t0 = Date.now();
  await Promise.all(Array.from({ length: concurrency }, async () => {
    while (next < count) {
      next++;
      const s = process.hrtime.bigint();
      await new Promise<void>((resolve, reject) => {
        http.get(url, { agent, timeout: 5_000 }, (res) => { res.resume(); res.on('end', () => resolve()); }).on('error', reject);
      });
      lat.push(Number(process.hrtime.bigint() - s) / 1e6);
    }
  }));
  const ms = Date.now() - t0;
  agent.destroy();
  lat.sort((a, b) => a - b);
  return { rps: (count / ms) * 1000, p50: lat[Math.floor(lat.length * 0.5)], p99: lat[Math.floor(lat.length * 0.99)] };
}

async function gatewayBench(): Promise<void> {
  try { execFileSync('sh', ['-c', 'command -v haproxy'], { stdio: 'ignore' }); } catch { console.log('\nhaproxy not installed: gateway figures skipped'); return; }
  const backend = http.createServer((_req, res) => { res.writeHead(200, { 'content-type': 'text/plain' }); res.end('ok'); });
  await new Promise<void>((r) => backend.listen(0, '127.0.0.1', () => r()));
  const bport = (backend.address() as net.AddressInfo).port;
  const app = build(1, true);
  app.synthesize();
  const svc = (app.stacks[0].services[0]) as MicroService;
  const port = await freePort();
  const hport = await freePort();
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'pyfleet-bench-'));
  const file = path.join(dir, 'gw.cfg');
  fs.writeFileSync(file, gatewayConfig(svc, { addresses: { 'svc-0-v1': [`127.0.0.1:${bport}`], 'svc-0-v2': [`127.0.0.1:${bport}`] }, bind: `127.0.0.1:${port}`, healthBind: `127.0.0.1:${hport}` }));
  const proc = spawn('haproxy', ['-db', '-f', file], { stdio: 'ignore' });
  try {
    for (let i = 0; i < 50; i++) {
      const ok = await new Promise<boolean>((r) => http.get(`http://127.0.0.1:${hport}/healthz`, (res) => { res.resume(); r(res.statusCode === 200); }).on('error', () => r(false)));
      if (ok) break;
      await new Promise((r) => setTimeout(r, 100));
    }
    const N = 5000;
    const C = 8;
    await load(`http://127.0.0.1:${bport}/x`, 500, C); // warm up
    const direct = await load(`http://127.0.0.1:${bport}/api/x`, N, C);
    const via = await load(`http://127.0.0.1:${port}/api/x`, N, C);
    console.log(`\ngateway overhead, ${N} keep-alive GETs, concurrency ${C}, loopback`);
    console.log('path     | req/s  | p50 ms | p99 ms');
    console.log(`direct   | ${direct.rps.toFixed(0).padStart(6)} | ${direct.p50.toFixed(2).padStart(6)} | ${direct.p99.toFixed(2).padStart(6)}`);
    console.log(`gateway  | ${via.rps.toFixed(0).padStart(6)} | ${via.p50.toFixed(2).padStart(6)} | ${via.p99.toFixed(2).padStart(6)}`);
    console.log(`gateway/direct throughput ratio ${(via.rps / direct.rps).toFixed(2)}, p50 +${(via.p50 - direct.p50).toFixed(2)} ms`);
  } finally {
    proc.kill('SIGTERM');
    await new Promise((r) => { const t = setTimeout(() => { proc.kill('SIGKILL'); r(undefined); }, 5_000); proc.once('exit', () => { clearTimeout(t); r(undefined); }); });
    backend.close();
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

async function main(): Promise<void> {
  synthBench();
  await gatewayBench();
}

void main();
