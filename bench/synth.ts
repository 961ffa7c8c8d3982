// Synth time of pyfleet's App.synth against the stock cdk8s path (Chart.toJson per chart + yaml@2),
// for growing numbers of one-service stacks, side by side in one run. Not a test: prints figures.
//   npx ts-node --project bench/tsconfig.json bench/synth.ts [sizes...]
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { App as Cdk8sApp } from 'cdk8s';
import { App, ContainerImage, MicroService, Stack } from '../lib';

function build(n: number, outdir: string): App {
  const app = new App({ outdir });
  const image = ContainerImage.fromRegistry('ghcr.io/acme/app:1.0.0');
  for (let i = 0; i < n; i++) {
    const stack = new Stack(app, `s${i}`);
    new MicroService(stack, 'svc', { image });
  }
  return app;
}

function time(fn: () => void): number {
  const t0 = process.hrtime.bigint();
  fn();
  return Number(process.hrtime.bigint() - t0) / 1e6;
}

const sizes = process.argv.slice(2).map(Number).filter((x) => x > 0);
const root = fs.mkdtempSync(path.join(os.tmpdir(), 'pyfleet-bench-'));
console.log('stacks  pyfleet ms  stock cdk8s ms  stock/pyfleet');
for (const n of sizes.length ? sizes : [50, 200, 500]) {
  const a = build(n, path.join(root, `a${n}`));
  const pyfleet = time(() => a.synth());
  const b = build(n, path.join(root, `b${n}`));
  b.synthesize(); // same constructs rendered, then the stock cdk8s writer
  const stock = time(() => Cdk8sApp.prototype.synth.call(b));
  console.log(`${String(n).padStart(6)}  ${pyfleet.toFixed(0).padStart(10)}  ${stock.toFixed(0).padStart(14)}  ${(stock / pyfleet).toFixed(2).padStart(13)}`);
}
fs.rmSync(root, { recursive: true, force: true });
