// Synth at scale (issue #9): how long pyfleet takes to synthesize one stack of N FastAPI services, and
// how that compares with writing the same Kubernetes documents with cdk8s-plus, and with only
// serializing them. A benchmark, not a test: it prints figures and PASS/FAIL against the issue's
// targets, and always exits 0.
//
//   npx projen bench:synth [sizes...] [--runs K] [--dir DIR] [--profile [N]] [--check]
//     sizes       numbers of services (default 100 500 1000 2000)
//     --runs K    measurements per tool and size, interleaved (default 3); the table shows medians
//     --dir DIR   where the sources and outdirs go (default: the OS temp dir). Creating 22,000 files is
//                 a large part of a synth on a slow disk; /dev/shm (tmpfs) measures the code alone
//     --profile N instead of the table: one pyfleet synth of N services (default 1000) under
//                 `node --cpu-prof`, and its 15 functions with the most self time
//     --check     instead of the table: every field in which the cdk8s-plus program's documents
//                 differ from pyfleet's (a summary of it is printed before the table)
//
// The scenario (bench/synth/scenario.ts): per service a FastApiApp from its own source folder, CPU and
// memory limits, a health check, a `calls` edge to the previous service, a v2 version from a second
// folder, a 90/10 MeshRoute and a CircuitBreaker; one stack with an Istio mesh. Measured:
//   (a) pyfleet     construct + `app.synth()` of every target (Kubernetes, Istio, compose, gateway
//                   configs, staged build contexts) into an empty outdir; and a second synth of the
//                   same program, in a new process, into the outdir the first one left (it keeps
//                   the files of the targets its render cache finds current: "targets kept").
//   (b) cdk8s-plus  the same Kubernetes documents built with cdk8s-plus-27 (+ ApiObjects for Istio),
//                   synthesized by cdk8s's own `app.synth()` (bench/synth/cdk8s-plus.ts).
//   (c) floor       pyfleet's documents (parsed from its output beforehand) only serialized and written,
//                   with js-yaml and with yaml@2 (bench/synth/floor.ts).
//   (d) file floor  every file pyfleet writes (read beforehand) written back with plain fs calls: the
//                   share of a synth that is the filesystem's, on the --dir at hand.
// Each measurement runs in a fresh `node` process on JavaScript compiled beforehand, times only
// construct and synth inside that process, and reports the process's own peak RSS.
import { spawnSync } from 'child_process';
import * as crypto from 'crypto';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import * as yaml from 'js-yaml';
import type { Job, Measurement } from './synth/child';
import { compareDocuments } from './synth/compare';
import { compileChild, REPO } from './synth/compile';
import { selfTimes } from './synth/cpuprofile';
import { Serializer, SERIALIZERS } from './synth/floor';
import { SCENARIO, writeSources } from './synth/scenario';

/** The issue's targets. */
const TARGETS = {
  perDocVsCdk8sPlus: 1.0,
  vsFloor: 3,
  scaling2000vs1000: 2.1,
  rssAt2000MiB: 400,
  firstVsSecond: 2,
};

interface Options {
  readonly sizes: number[];
  readonly runs: number;
  readonly profile?: number;
  readonly check: boolean;
  readonly dir: string;
}

function parseArgs(argv: readonly string[]): Options {
  const sizes: number[] = [];
  let runs = 3;
  let profile: number | undefined;
  let check = false;
  let dir = os.tmpdir();
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === '--runs') runs = Math.max(1, Number(argv[++i]) || 1);
    else if (a === '--profile') profile = /^\d+$/.test(argv[i + 1] ?? '') ? Number(argv[++i]) : 1000;
    else if (a === '--check') check = true;
    else if (a === '--dir') dir = path.resolve(argv[++i] ?? dir);
    else if (/^\d+$/.test(a) && Number(a) > 0) sizes.push(Number(a));
    else console.log(`(ignoring argument ${a})`);
  }
  return { sizes: sizes.length ? [...new Set(sizes)].sort((x, y) => x - y) : [100, 500, 1000, 2000], runs, profile, check, dir };
}

// ---------------------------------------------------------------------------------------------------
// Child processes

/** The compiled child program (bench/synth/child.ts), set by main(). */
let childJs = '';

/** Runs one measurement in a fresh node process; undefined (and its stderr printed) if it failed. */
function runChild(job: Job, nodeArgs: string[] = []): Measurement | undefined {
  const r = spawnSync(process.execPath, [...nodeArgs, childJs, JSON.stringify(job)], { encoding: 'utf8', maxBuffer: 64 << 20 });
  const last = r.stdout?.trim().split('\n').pop() ?? '';
  if (r.status === 0 && last.startsWith('{')) {
    if (r.stderr.trim()) warnOnce(`${job.tool} printed on stderr: ${r.stderr.trim().split('\n')[0]}`);
    return JSON.parse(last) as Measurement;
  }
  console.log(`! ${job.tool} N=${job.n} failed (exit ${r.status ?? r.signal}):\n${(r.stderr || r.error?.message || '').split('\n').slice(0, 20).join('\n')}`);
  return undefined;
}

const warned = new Set<string>();
function warnOnce(message: string): void {
  if (!warned.has(message)) console.log(`note: ${message}`);
  warned.add(message);
}

// ---------------------------------------------------------------------------------------------------
// Outputs: documents, files, and whether a synth left them untouched

/** Number of YAML documents in the `*.k8s.yaml` files directly below `dir`. */
function countDocuments(dir: string): number {
  let n = 0;
  for (const f of fs.readdirSync(dir).filter((x) => x.endsWith('.k8s.yaml'))) {
    const text = fs.readFileSync(path.join(dir, f), 'utf8');
    if (text.trim()) n += text.split(/^---$/m).filter((d) => d.trim()).length;
  }
  return n;
}

/** A file as a second synth may leave it: the same file (inode and mtime), and the same content (hash). */
interface FileState {
  readonly id: string;
  readonly sha: string;
}

/** Every file below `dir`, by path relative to it. */
function snapshot(dir: string): Map<string, FileState> {
  const out = new Map<string, FileState>();
  const walk = (d: string): void => {
    for (const e of fs.readdirSync(d, { withFileTypes: true })) {
      const p = path.join(d, e.name);
      if (e.isDirectory()) walk(p);
      else {
        const st = fs.statSync(p, { bigint: true });
        out.set(path.relative(dir, p), { id: `${st.ino}:${st.mtimeNs}`, sha: crypto.createHash('sha1').update(fs.readFileSync(p)).digest('hex') });
      }
    }
  };
  walk(dir);
  return out;
}

/** What a second synth did to the first one's files. */
interface SecondSynth {
  readonly files: number;
  /** Files written again (new inode or modification time), created or removed. */
  readonly rewritten: number;
  /** Files whose content changed, created or removed. */
  readonly changed: number;
}

/** What a second synth did to the files of the first: rewritten (new inode or mtime) and changed content. */
function compareSnapshots(before: Map<string, FileState>, after: Map<string, FileState>): SecondSynth {
  // A file that appeared or disappeared counts as both.
  const removed = [...before.keys()].filter((p) => !after.has(p)).length;
  let rewritten = removed;
  let changed = removed;
  for (const [p, a] of after) {
    const b = before.get(p);
    if (!b || b.id !== a.id) rewritten++;
    if (!b || b.sha !== a.sha) changed++;
  }
  return { files: after.size, rewritten, changed };
}

// ---------------------------------------------------------------------------------------------------
// Preparation, outside every timing: a reference pyfleet synth per size gives the documents for the
// floor, the image tags for the cdk8s-plus program, and the document count.

interface Prepared {
  readonly n: number;
  /** The reference output (read by the file floor). */
  readonly outdir: string;
  readonly docsFile: string;
  readonly imagesFile: string;
  readonly documents: number;
  readonly files: number;
}

function prepare(root: string, sources: string, n: number): Prepared | undefined {
  const outdir = path.join(root, `reference-${n}`);
  if (!runChild({ tool: 'pyfleet', n, sources, outdir })) return undefined;
  const docs = yaml.loadAll(fs.readFileSync(path.join(outdir, `${SCENARIO.stack}.k8s.yaml`), 'utf8')) as any[];
  const images: Record<string, string> = {};
  for (const d of docs.filter((x) => x?.kind === 'Deployment')) images[d.metadata.name] = d.spec.template.spec.containers[0].image;
  const docsFile = path.join(root, `documents-${n}.json`);
  const imagesFile = path.join(root, `images-${n}.json`);
  fs.writeFileSync(docsFile, JSON.stringify(docs));
  fs.writeFileSync(imagesFile, JSON.stringify(images));
  return { n, outdir, docsFile, imagesFile, documents: docs.length, files: snapshot(outdir).size };
}

// ---------------------------------------------------------------------------------------------------
// The measurements

type Tool = 'pyfleet' | 'cdk8s-plus' | `floor:${Serializer}` | 'files';
const TOOLS: readonly Tool[] = ['pyfleet', 'cdk8s-plus', ...SERIALIZERS.map((s) => `floor:${s}` as Tool), 'files'];

/** Everything measured for one size. */
interface Results {
  readonly prepared: Prepared;
  readonly runs: Map<string, Measurement[]>;
  /** Documents each tool wrote (checked against pyfleet's on the first run). */
  readonly documents: Map<Tool, number>;
  readonly second: SecondSynth[];
}

function record(results: Results, key: string, m: Measurement | undefined): void {
  if (!m) return;
  const list = results.runs.get(key) ?? [];
  list.push(m);
  results.runs.set(key, list);
}

/** One measurement of one tool at one size (pyfleet: the first synth, then the second). */
function measureOnce(root: string, sources: string, results: Results, tool: Tool): void {
  const { n, docsFile, imagesFile } = results.prepared;
  const outdir = path.join(root, `${tool.replace(':', '-')}-${n}`);
  fs.rmSync(outdir, { recursive: true, force: true });
  if (tool === 'pyfleet') {
    const first = runChild({ tool, n, sources, outdir });
    record(results, 'pyfleet', first);
    if (!first) return;
    const before = snapshot(outdir);
    record(results, 'pyfleet:second', runChild({ tool, n, sources, outdir }));
    results.second.push(compareSnapshots(before, snapshot(outdir)));
  } else if (tool === 'cdk8s-plus') {
    record(results, tool, runChild({ tool, n, outdir, images: imagesFile }));
  } else if (tool === 'files') {
    record(results, tool, runChild({ tool, n, outdir, reference: results.prepared.outdir }));
  } else {
    record(results, tool, runChild({ tool: 'floor', n, outdir, docs: docsFile, serializer: tool.slice('floor:'.length) as Serializer }));
  }
  if (!results.documents.has(tool) && tool !== 'files' && fs.existsSync(outdir)) results.documents.set(tool, countDocuments(outdir));
  fs.rmSync(outdir, { recursive: true, force: true });
}

// ---------------------------------------------------------------------------------------------------
// Report

function median(xs: readonly number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = Math.floor(s.length / 2);
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
}

type Stat = (m: Measurement) => number;
const TOTAL: Stat = (m) => m.constructMs + m.synthMs;
const CONSTRUCT: Stat = (m) => m.constructMs;
const SYNTH: Stat = (m) => m.synthMs;
const RSS_MIB: Stat = (m) => m.maxRssKiB / 1024;

/** Median of a statistic over the runs of `key` (NaN if none succeeded); `max` for peak memory. */
function stat(r: Results, key: string, f: Stat, how: 'median' | 'max' = 'median'): number {
  const xs = (r.runs.get(key) ?? []).map(f);
  if (xs.length === 0) return NaN;
  return how === 'max' ? Math.max(...xs) : median(xs);
}

/** The faster floor serializer at this size. */
function bestFloor(r: Results): Tool {
  return SERIALIZERS.map((s) => `floor:${s}` as Tool).reduce((a, b) => (stat(r, b, TOTAL) < stat(r, a, TOTAL) ? b : a));
}

const fmt = (x: number, digits = 0): string => (Number.isFinite(x) ? x.toFixed(digits) : 'n/a');
const verdict = (ok: boolean | undefined): string => (ok === undefined ? '' : ok ? 'PASS' : 'FAIL');

function printTable(rows: (string | string[])[], sizes: readonly number[]): void {
  const width = 48;
  const col = 14;
  console.log(''.padEnd(width) + sizes.map((n) => `N=${n}`.padStart(col)).join(''));
  for (const row of rows) {
    if (typeof row === 'string') console.log(row);
    else console.log(row[0].padEnd(width) + row.slice(1).map((c) => c.padStart(col)).join(''));
  }
}

function report(all: readonly Results[], runs: number, where: string): void {
  const sizes = all.map((r) => r.prepared.n);
  const each = (f: (r: Results) => string): string[] => all.map(f);
  const perDocUs = (r: Results, key: string, docs: number): number => (stat(r, key, TOTAL) * 1000) / docs;
  const docsOf = (r: Results, tool: Tool): number => r.documents.get(tool) ?? r.prepared.documents;
  const floorName = (r: Results): string => bestFloor(r).slice('floor:'.length);

  console.log(`\nSynth at scale: one stack of N FastApiApps (v1 + v2, calls, 90/10 MeshRoute, CircuitBreaker, Istio).`);
  console.log(`Medians of ${runs} interleaved runs, each in a fresh node process; outdirs on ${where}; times in ms unless noted.\n`);
  printTable([
    ['Kubernetes documents (pyfleet)', ...each((r) => String(r.prepared.documents))],
    ['files written by pyfleet (all targets)', ...each((r) => String(r.prepared.files))],
    '(a) pyfleet, first synth into an empty outdir',
    ['  construct', ...each((r) => fmt(stat(r, 'pyfleet', CONSTRUCT)))],
    ['  synth (all targets, written)', ...each((r) => fmt(stat(r, 'pyfleet', SYNTH)))],
    ['  construct + synth', ...each((r) => fmt(stat(r, 'pyfleet', TOTAL)))],
    ['    min .. max', ...each((r) => { const xs = (r.runs.get('pyfleet') ?? []).map(TOTAL); return xs.length ? `${fmt(Math.min(...xs))}..${fmt(Math.max(...xs))}` : 'n/a'; })],
    ['  µs per Kubernetes document', ...each((r) => fmt(perDocUs(r, 'pyfleet', docsOf(r, 'pyfleet'))))],
    ['  peak RSS, MiB (max of runs)', ...each((r) => fmt(stat(r, 'pyfleet', RSS_MIB, 'max')))],
    '(a2) pyfleet, second synth: same program, new process, same outdir',
    ['  construct', ...each((r) => fmt(stat(r, 'pyfleet:second', CONSTRUCT)))],
    ['  synth', ...each((r) => fmt(stat(r, 'pyfleet:second', SYNTH)))],
    ['  peak RSS, MiB (max of runs)', ...each((r) => fmt(stat(r, 'pyfleet:second', RSS_MIB, 'max')))],
    ['  targets kept, not rendered (min)', ...each((r) => { const xs = (r.runs.get('pyfleet:second') ?? []).map((m) => m.kept?.length ?? 0); return xs.length ? String(Math.min(...xs)) : 'n/a'; })],
    ['  files rewritten / content changed (max)', ...each((r) => r.second.length ? `${Math.max(...r.second.map((s) => s.rewritten))}/${Math.max(...r.second.map((s) => s.changed))}` : 'n/a')],
    '(b) cdk8s-plus-27 + ApiObjects, cdk8s app.synth() (Kubernetes only)',
    ['  construct', ...each((r) => fmt(stat(r, 'cdk8s-plus', CONSTRUCT)))],
    ['  synth', ...each((r) => fmt(stat(r, 'cdk8s-plus', SYNTH)))],
    ['  construct + synth', ...each((r) => fmt(stat(r, 'cdk8s-plus', TOTAL)))],
    ['  Kubernetes documents written', ...each((r) => String(docsOf(r, 'cdk8s-plus')))],
    ['  µs per Kubernetes document', ...each((r) => fmt(perDocUs(r, 'cdk8s-plus', docsOf(r, 'cdk8s-plus'))))],
    ['  peak RSS, MiB (max of runs)', ...each((r) => fmt(stat(r, 'cdk8s-plus', RSS_MIB, 'max')))],
    '(c) floor: pyfleet\'s documents, serialize + write only',
    ...SERIALIZERS.map((s) => [`  ${s === 'yaml' ? 'yaml@2 (cdk8s\'s)' : s}`, ...each((r) => fmt(stat(r, `floor:${s}`, TOTAL)))]),
    ['  faster serializer', ...each(floorName)],
    ['  µs per document (faster)', ...each((r) => fmt(perDocUs(r, bestFloor(r), docsOf(r, bestFloor(r))), 1))],
    ['  peak RSS, MiB (faster, max of runs)', ...each((r) => fmt(stat(r, bestFloor(r), RSS_MIB, 'max')))],
    '(d) file floor: every file pyfleet writes, plain mkdir + writeFile',
    ['  write', ...each((r) => fmt(stat(r, 'files', SYNTH)))],
    ['  share of pyfleet\'s construct + synth', ...each((r) => `${fmt((100 * stat(r, 'files', SYNTH)) / stat(r, 'pyfleet', TOTAL))}%`)],
  ], sizes);

  // Targets.
  const ratioCells = (f: (r: Results) => number, ok: (x: number) => boolean, digits = 2): string[] =>
    each((r) => { const x = f(r); return Number.isFinite(x) ? `${fmt(x, digits)} ${verdict(ok(x))}` : 'n/a'; });
  console.log('\nTargets (issue #9)');
  printTable([
    [`  pyfleet / cdk8s-plus per document <= ${TARGETS.perDocVsCdk8sPlus.toFixed(1)}`, ...ratioCells(
      (r) => perDocUs(r, 'pyfleet', docsOf(r, 'pyfleet')) / perDocUs(r, 'cdk8s-plus', docsOf(r, 'cdk8s-plus')),
      (x) => x <= TARGETS.perDocVsCdk8sPlus)],
    [`  pyfleet / floor <= ${TARGETS.vsFloor}`, ...ratioCells(
      (r) => perDocUs(r, 'pyfleet', docsOf(r, 'pyfleet')) / perDocUs(r, bestFloor(r), docsOf(r, bestFloor(r))),
      (x) => x <= TARGETS.vsFloor)],
    [`  first / second synth >= ${TARGETS.firstVsSecond} (synth phase)`, ...ratioCells(
      (r) => stat(r, 'pyfleet', SYNTH) / stat(r, 'pyfleet:second', SYNTH),
      (x) => x >= TARGETS.firstVsSecond)],
    ['  second synth leaves every file untouched', ...each((r) => r.second.length ? verdict(r.second.every((s) => s.rewritten === 0 && s.changed === 0)) : 'n/a')],
  ], sizes);
  const at = (n: number): Results | undefined => all.find((r) => r.prepared.n === n);
  const r1000 = at(1000);
  const r2000 = at(2000);
  if (r1000 && r2000) {
    const x = stat(r2000, 'pyfleet', TOTAL) / stat(r1000, 'pyfleet', TOTAL);
    console.log(`  time(2000) / time(1000) <= ${TARGETS.scaling2000vs1000} (pyfleet construct + synth): ${fmt(x, 2)} ${verdict(x <= TARGETS.scaling2000vs1000)}`);
  } else {
    console.log(`  time(2000) / time(1000) <= ${TARGETS.scaling2000vs1000}: n/a (needs N=1000 and N=2000)`);
  }
  if (r2000) {
    const rss = Math.max(stat(r2000, 'pyfleet', RSS_MIB, 'max'), stat(r2000, 'pyfleet:second', RSS_MIB, 'max'));
    console.log(`  peak RSS at N=2000 < ${TARGETS.rssAt2000MiB} MiB (pyfleet, first and second synth): ${fmt(rss)} MiB ${verdict(rss < TARGETS.rssAt2000MiB)}`);
  } else {
    console.log(`  peak RSS at N=2000 < ${TARGETS.rssAt2000MiB} MiB: n/a (needs N=2000)`);
  }
  for (const r of all) {
    for (const [tool, docs] of r.documents) {
      if (docs !== r.prepared.documents) console.log(`note: at N=${r.prepared.n}, ${tool} wrote ${docs} Kubernetes documents, pyfleet ${r.prepared.documents}`);
    }
  }
}

// ---------------------------------------------------------------------------------------------------
// --check: is (b) a fair comparison? The cdk8s-plus documents against pyfleet's, for a few services.

function check(root: string, sources: string, verbose: boolean): void {
  const n = 3;
  const prepared = prepare(root, sources, n);
  const outdir = path.join(root, `check-${n}`);
  if (!prepared || !runChild({ tool: 'cdk8s-plus', n, outdir, images: prepared.imagesFile })) return;
  const ours = JSON.parse(fs.readFileSync(prepared.docsFile, 'utf8'));
  const theirs = yaml.loadAll(fs.readFileSync(path.join(outdir, `${SCENARIO.stack}.k8s.yaml`), 'utf8'));
  fs.rmSync(outdir, { recursive: true, force: true });
  const c = compareDocuments(ours, theirs as any[]);
  const unmatched = c.onlyPyfleet.length + c.onlyCdk8sPlus.length;
  console.log(`cdk8s-plus program vs pyfleet at N=${n}: ${c.matched} objects matched by kind/name, ${unmatched} unmatched, ` +
    `${c.fields.length} fields differ${verbose || c.fields.length === 0 ? '' : ' (--check lists them)'}`);
  if (!verbose) return;
  for (const k of c.onlyPyfleet) console.log(`  only pyfleet writes ${k}`);
  for (const k of c.onlyCdk8sPlus) console.log(`  only cdk8s-plus writes ${k}`);
  for (const f of c.fields) console.log(`  ${f.kind} ${f.path}: ${f.what}, ${f.example}`);
}

// ---------------------------------------------------------------------------------------------------
// --profile N

/** The file system type of `dir` (`ext2/ext3`, `tmpfs`...), as `stat -f` names it. */
function fileSystem(dir: string): string {
  const r = spawnSync('stat', ['-f', '-c', '%T', dir], { encoding: 'utf8' });
  return r.status === 0 ? r.stdout.trim() : 'unknown';
}

function profile(root: string, sources: string, n: number): void {
  const dir = path.join(root, 'profile');
  const outdir = path.join(root, `profile-${n}`);
  console.log(`Profiling one pyfleet synth of N=${n} (construct + synth, node --cpu-prof)...`);
  const m = runChild({ tool: 'pyfleet', n, sources, outdir }, ['--cpu-prof', `--cpu-prof-dir=${dir}`]);
  const file = fs.existsSync(dir) ? fs.readdirSync(dir).find((f) => f.endsWith('.cpuprofile')) : undefined;
  if (!m || !file) {
    console.log('no profile was written');
    return;
  }
  let summary = selfTimes(path.join(dir, file), REPO, m.windowUs);
  if (summary.totalMs === 0) {
    console.log('note: no sample fell in the timed window (clocks differ?): showing the whole process');
    summary = selfTimes(path.join(dir, file), REPO);
  }
  console.log(`construct ${fmt(m.constructMs)} ms, synth ${fmt(m.synthMs)} ms, peak RSS ${fmt(m.maxRssKiB / 1024)} MiB (the profiler adds overhead)`);
  console.log(`Top 15 functions by self time, of ${fmt(summary.totalMs)} ms sampled in construct + synth:\n`);
  console.log(`${'self ms'.padStart(9)} ${'%'.padStart(6)}  function  (location)`);
  for (const f of summary.functions.slice(0, 15)) {
    console.log(`${fmt(f.selfMs, 1).padStart(9)} ${fmt((100 * f.selfMs) / summary.totalMs, 1).padStart(6)}  ${f.name}${f.location ? `  (${f.location})` : ''}`);
  }
  console.log(`\nprofile: ${path.join(dir, file)} (open it in Chrome DevTools, Performance tab)`);
}

// ---------------------------------------------------------------------------------------------------

function main(): void {
  const options = parseArgs(process.argv.slice(2));
  fs.mkdirSync(options.dir, { recursive: true });
  const root = fs.mkdtempSync(path.join(options.dir, 'pyfleet-bench-synth-'));
  const sources = path.join(root, 'sources');
  // The children's render cache (what a second synth keeps) lives and goes with this run.
  process.env.PYFLEET_CACHE_DIR = path.join(root, 'render-cache');
  childJs = compileChild();
  if (options.profile !== undefined) {
    writeSources(sources, options.profile);
    profile(root, sources, options.profile);
    // The profile is kept for a closer look; the rest goes.
    for (const e of fs.readdirSync(root).filter((x) => x !== 'profile')) fs.rmSync(path.join(root, e), { recursive: true, force: true });
    return;
  }
  try {
    if (options.check) {
      writeSources(sources, 3);
      check(root, sources, true);
      return;
    }
    writeSources(sources, Math.max(3, ...options.sizes));
    check(root, sources, false);
    console.log(`sizes ${options.sizes.join(', ')}; ${options.runs} runs; outdirs in ${root} (${fileSystem(root)}); preparing reference outputs...`);
    const all: Results[] = [];
    for (const n of options.sizes) {
      const prepared = prepare(root, sources, n);
      if (prepared) all.push({ prepared, runs: new Map(), documents: new Map(), second: [] });
    }
    // Interleaved: in every round each tool runs once per size, in an order that rotates by round.
    for (let round = 0; round < options.runs; round++) {
      const started = Date.now();
      for (const results of all) {
        for (let k = 0; k < TOOLS.length; k++) measureOnce(root, sources, results, TOOLS[(k + round) % TOOLS.length]);
      }
      console.log(`round ${round + 1}/${options.runs} done in ${fmt((Date.now() - started) / 1000, 1)} s`);
    }
    report(all, options.runs, `${options.dir} (${fileSystem(root)})`);
  } finally {
    fs.rmSync(root, { recursive: true, force: true });
  }
}

try {
  main();
} catch (e) {
  // A benchmark reports, it does not fail a build.
  console.log(`bench:synth failed: ${(e as Error).stack ?? e}`);
}
