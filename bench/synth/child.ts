// One measurement of bench/synth.ts, in a process of its own (so that its peak RSS is its own and no
// run warms the next one's JIT). The parent compiles this file to JavaScript first and runs it with
// plain `node`: no TypeScript compiler is loaded, and only construct and synth are timed, never the
// loading of modules. Prints one line of JSON (a Measurement) on stdout.
//   node child.js '<Job as JSON>'
import * as fs from 'fs';
import * as path from 'path';
import { App as Cdk8sApp } from 'cdk8s';
import type { Serializer } from './floor';
import { buildPyfleet, SCENARIO } from './scenario';

/** What to measure. */
export type Job =
  /** The pyfleet program: construct, then `app.synth()` of every target into `outdir`. */
  | { readonly tool: 'pyfleet'; readonly n: number; readonly outdir: string; readonly sources: string }
  /** cdk8s-plus: construct, then cdk8s's `app.synth()`; `images` is a JSON file of workload -> image. */
  | { readonly tool: 'cdk8s-plus'; readonly n: number; readonly outdir: string; readonly images: string }
  /** The floor: serialize the documents of the JSON file `docs` and write them to `outdir`. */
  | { readonly tool: 'floor'; readonly n: number; readonly outdir: string; readonly docs: string; readonly serializer: Serializer }
  /** The file floor: write every file of the folder `reference` (read beforehand) below `outdir`. */
  | { readonly tool: 'files'; readonly n: number; readonly outdir: string; readonly reference: string };

/** What a child reports. Times in milliseconds. */
export interface Measurement {
  /** Building the construct tree (about 0 for the floors). */
  readonly constructMs: number;
  /** `app.synth()` (for the floors: serialize and write, or write). */
  readonly synthMs: number;
  /** Peak resident set size of this process, KiB (`process.resourceUsage().maxRSS`). */
  readonly maxRssKiB: number;
  /** The timed window on the monotonic clock, µs (to cut a CPU profile of this process to it). */
  readonly windowUs: readonly [number, number];
  /** pyfleet only: the targets whose files of the last synth were kept, not rendered (`<stack>/<target>`). */
  readonly kept?: readonly string[];
}

/** Every file below `dir`: path relative to it, and content. */
function readTree(dir: string, rel = ''): [string, Buffer][] {
  return fs.readdirSync(path.join(dir, rel), { withFileTypes: true }).flatMap((e) => {
    const p = path.join(rel, e.name);
    return e.isDirectory() ? readTree(dir, p) : [[p, fs.readFileSync(path.join(dir, p))] as [string, Buffer]];
  });
}

/** Writes files below `dir`, making their folders: the plain file I/O of a synth, nothing else. */
function writeTree(dir: string, files: readonly [string, Buffer][]): void {
  const made = new Set<string>();
  for (const [rel, content] of files) {
    const file = path.join(dir, rel);
    const parent = path.dirname(file);
    if (!made.has(parent)) {
      fs.mkdirSync(parent, { recursive: true });
      made.add(parent);
    }
    fs.writeFileSync(file, content);
  }
}

// Each tool's modules load only in its own children: `import * as kplus from 'cdk8s-plus-27'` loads
// every construct module of cdk8s-plus (pyfleet loads its `k8s` namespace only), and at N=2000 a
// pyfleet child that had loaded them too peaked 45 MiB higher.
const cdk8sPlusProgram = (): typeof import('./cdk8s-plus') => require('./cdk8s-plus');
const floorProgram = (): typeof import('./floor') => require('./floor');

const nowUs = (): number => Number(process.hrtime.bigint() / 1000n);

function measure(job: Job): Measurement {
  let build: () => { synth(): void; _lastCache?: { readonly kept: readonly string[] } };
  switch (job.tool) {
    case 'pyfleet':
      build = () => buildPyfleet(job.n, job.sources, job.outdir);
      break;
    case 'cdk8s-plus': {
      const images = JSON.parse(fs.readFileSync(job.images, 'utf8')) as Record<string, string>;
      // cdk8s's own writer, not pyfleet's App (which also extends cdk8s's App).
      build = () => {
        const app = cdk8sPlusProgram().buildCdk8sPlus(job.n, images, job.outdir);
        return { synth: () => Cdk8sApp.prototype.synth.call(app) };
      };
      break;
    }
    case 'floor': {
      const docs = JSON.parse(fs.readFileSync(job.docs, 'utf8')) as object[];
      const { loadSerializer, writeFloor } = floorProgram();
      const dump = loadSerializer(job.serializer);
      const file = path.join(job.outdir, `${SCENARIO.stack}.k8s.yaml`);
      build = () => ({ synth: () => writeFloor(dump, docs, file) });
      break;
    }
    case 'files': {
      const files = readTree(job.reference);
      build = () => ({ synth: () => writeTree(job.outdir, files) });
      break;
    }
  }
  const t0 = nowUs();
  const app = build();
  const t1 = nowUs();
  app.synth();
  const t2 = nowUs();
  return {
    constructMs: (t1 - t0) / 1000,
    synthMs: (t2 - t1) / 1000,
    maxRssKiB: process.resourceUsage().maxRSS,
    windowUs: [t0, t2],
    kept: app._lastCache?.kept,
  };
}

process.stdout.write(JSON.stringify(measure(JSON.parse(process.argv[2]) as Job)) + '\n');
