// Staged contexts are copied while the other targets render: on a worker thread when there is much to
// copy, on the main thread otherwise. Both ways must write the same files, report failures the same
// way, and a failed synth must leave nothing of what it copied.
import * as fs from 'fs';
import * as path from 'path';
import { App, ContainerImage, FastApiApp, MicroService, Stack } from '../../lib';
import { ContextStager, FileJobs, FileOp, WORKER_AFTER_OPS } from '../../lib/app/stage';
import { writeArtifacts } from '../../lib/app/write';
import type { Target } from '../../lib/model/target';
import { builtinTargets } from '../../lib/render/defaults';
import { imageTarget } from '../../lib/render/image';
import { pythonGunicornGenerator } from '../../lib/render/image/python';
import type { BuildGenerators } from '../../lib/service/build';
import { readTree, tmpdir } from '../support/synth';

/** Every entry below `dir` (folders included), relative. */
function entries(dir: string): string[] {
  const out: string[] = [];
  const walk = (rel: string): void => {
    for (const e of fs.readdirSync(path.join(dir, rel), { withFileTypes: true })) {
      const r = rel ? `${rel}/${e.name}` : e.name;
      out.push(e.isDirectory() ? `${r}/` : r);
      if (e.isDirectory()) walk(r);
    }
  };
  if (fs.existsSync(dir)) walk('');
  return out.sort();
}

/** The same jobs, run by `jobs`: a few folders and files, a rename, a removal. */
function runJobs(jobs: FileJobs, root: string): Error | undefined {
  const src = path.join(root, 'src.txt');
  fs.writeFileSync(src, 'source\n');
  for (let i = 0; i < 20; i++) {
    const dir = path.join(root, 'out', `d${i}`);
    const ops: FileOp[] = [['mkdir', `${dir}/sub`], ['copy', src, `${dir}/sub/copied.txt`], ['write', `${dir}/gen.txt`, `generated ${i} — ü\n`], ['write', `${dir}/same.txt`, 'same for all\n']];
    jobs.submit(ops, [['rm', dir]]);
  }
  jobs.submit([['rename', path.join(root, 'out', 'd0'), path.join(root, 'out', 'moved')], ['rm', path.join(root, 'out', 'd1')]]);
  return jobs.finish();
}

describe('FileJobs', () => {
  test('a worker thread and the main thread write the same files', () => {
    const [a, b] = [tmpdir(), tmpdir()];
    const threaded = new FileJobs(0);
    const inline = new FileJobs(Infinity);
    try {
      expect(runJobs(threaded, a)).toBeUndefined();
      expect(runJobs(inline, b)).toBeUndefined();
      expect(threaded.threaded).toBe(true);
      expect(inline.threaded).toBe(false);
    } finally {
      threaded.close();
    }
    expect(entries(path.join(a, 'out'))).toEqual(entries(path.join(b, 'out')));
    expect(readTree(path.join(a, 'out'))).toEqual(readTree(path.join(b, 'out')));
    expect(entries(path.join(a, 'out'))).toContain('moved/sub/copied.txt');
    expect(entries(path.join(a, 'out'))).not.toContain('d1/');
    expect(readTree(path.join(a, 'out')).get('d7/gen.txt')).toBe('generated 7 — ü\n');
  });

  test.each([['on a worker thread', 0], ['on the main thread', Infinity]])('%s, a failed job runs its cleanup, the jobs after it still run, and the first failure is reported with its code and path', (_how, after) => {
    const root = tmpdir();
    const jobs = new FileJobs(after);
    try {
      jobs.submit([['mkdir', `${root}/ok`], ['write', `${root}/ok/a.txt`, 'a']]);
      jobs.submit([['mkdir', `${root}/half`], ['write', `${root}/half/x.txt`, 'x'], ['copy', `${root}/absent.txt`, `${root}/half/y.txt`], ['write', `${root}/half/never.txt`, 'n']], [['rm', `${root}/half`]]);
      jobs.submit([['rename', `${root}/absent-folder`, `${root}/elsewhere`]]);
      jobs.submit([['write', `${root}/ok/after.txt`, 'after']]);
      const e = jobs.finish() as NodeJS.ErrnoException;
      expect(e?.message).toEqual(expect.any(String));
      expect(e.code).toBe('ENOENT');
      expect(e.syscall).toBe('copyfile');
      expect(e.path).toBe(`${root}/absent.txt`);
      expect(e.message).toMatch(/absent\.txt/);
    } finally {
      jobs.close();
    }
    expect(entries(root)).toEqual(['ok/', 'ok/a.txt', 'ok/after.txt']);
  });

  test('a synth with few operations never starts a worker; one with many does', () => {
    const root = tmpdir();
    const few = new FileJobs();
    few.submit([['mkdir', `${root}/a`]]);
    expect(few.threaded).toBe(false);
    expect(few.finish()).toBeUndefined();
    const many = new FileJobs();
    try {
      for (let i = 0; i < WORKER_AFTER_OPS; i++) many.submit([['mkdir', `${root}/m/${i}`]]);
      expect(many.threaded).toBe(true);
      expect(many.finish()).toBeUndefined();
    } finally {
      many.close();
    }
    expect(fs.readdirSync(`${root}/m`)).toHaveLength(WORKER_AFTER_OPS);
  });
});

/** Source folders with a Dockerfile and a file in a subfolder each. */
function sources(root: string, n: number): string[] {
  return Array.from({ length: n }, (_, i) => {
    const dir = path.join(root, `src-${i}`);
    fs.mkdirSync(path.join(dir, 'pkg'), { recursive: true });
    fs.writeFileSync(path.join(dir, 'Dockerfile'), `FROM python:3.12.8-slim-bookworm\nCOPY . /app\n# ${i}\n`);
    fs.writeFileSync(path.join(dir, 'pkg', 'app.py'), `print(${i})\n`);
    return dir;
  });
}

/** A stack of one service per source folder. */
function program(outdir: string, srcs: readonly string[], targets?: readonly Target[]): App {
  const app = new App({ outdir, targets, renderCache: false });
  const stack = new Stack(app, 'shop');
  srcs.forEach((src, i) => new MicroService(stack, `svc-${i}`, { image: ContainerImage.fromDirectory(src) }));
  return app;
}

/** Whether a worker thread copied, as each offer to a synth's stager returned. */
function recordOffers(): boolean[] {
  const offered: boolean[] = [];
  const original = ContextStager.prototype.offer;
  jest.spyOn(ContextStager.prototype, 'offer').mockImplementation(function (this: ContextStager, artifacts) {
    original.call(this, artifacts);
    offered.push(this.threaded);
  });
  return offered;
}

/** Whether a worker thread copied, as each resolved context was handed to a synth's stager. */
function recordStaging(): boolean[] {
  const staged: boolean[] = [];
  const original = ContextStager.prototype.stageAsset;
  jest.spyOn(ContextStager.prototype, 'stageAsset').mockImplementation(function (this: ContextStager, asset, generated) {
    original.call(this, asset, generated);
    staged.push(this.threaded);
  });
  return staged;
}

/** Enough contexts that their copies go to a worker thread. */
const MANY = Math.ceil(WORKER_AFTER_OPS / 3) + 10;

describe('synth with staged contexts', () => {
  test('copied on a worker thread, the output is what the main thread writes from the same artifacts', () => {
    const root = tmpdir();
    const srcs = sources(root, MANY);
    const threaded = path.join(root, 'threaded');
    const offered = recordOffers();
    try {
      program(threaded, srcs).synth();
    } finally {
      jest.restoreAllMocks();
    }
    // The image target's contexts were being copied on a worker before the next target rendered.
    expect(offered[0]).toBe(true);
    const inline = path.join(root, 'inline');
    const artifacts = program(inline, srcs).synthesize().flatMap((o) => o.artifacts);
    const stats = writeArtifacts(inline, artifacts, { stager: new ContextStager(inline, new FileJobs(Infinity)) });
    expect(stats.contextsCopied).toBe(MANY);
    expect(entries(threaded)).toEqual(entries(inline));
    expect(readTree(threaded)).toEqual(readTree(inline));
    expect(entries(threaded).filter((e) => /^assets\/context\.[0-9a-f]{12}\/$/.test(e))).toHaveLength(MANY);
    expect(entries(threaded).filter((e) => e.includes('tmp-pyfleet'))).toEqual([]);
  });

  test.each([
    ['a target fails to render, into a new outdir', 'render', false],
    ['a target fails to render, over an earlier output', 'render', true],
    ['the checks after resolving fail, into a new outdir', 'check', false],
    ['the checks after resolving fail, over an earlier output', 'check', true],
  ])('a synth that fails after its contexts began to be copied leaves nothing it copied (%s)', (_case, how, earlier) => {
    const root = tmpdir();
    const srcs = sources(root, MANY);
    const outdir = path.join(root, 'dist');
    if (earlier) program(outdir, srcs.slice(0, 3)).synth();
    const before = earlier ? readTree(outdir) : undefined;
    const failing: Target = { name: 'failing', render: () => { throw new Error('this target cannot render'); } };
    const app = program(outdir, srcs, how === 'render' ? [...builtinTargets(), failing] : undefined);
    // A service that calls itself: refused after every stack resolved (its contexts were being copied).
    if (how === 'check') app.stacks[0].services[0].addCall(app.stacks[0].services[0]);
    const staged = recordStaging();
    try {
      expect(() => app.synth()).toThrow(how === 'render' ? /this target cannot render/ : /lists itself/);
    } finally {
      jest.restoreAllMocks();
    }
    expect(staged.length).toBe(MANY);
    expect(staged[staged.length - 1]).toBe(true);
    if (before) expect(readTree(outdir)).toEqual(before);
    else expect(fs.existsSync(outdir)).toBe(false);
    expect(fs.readdirSync(root).filter((f) => f.includes('tmp-pyfleet'))).toEqual([]);
  });

  test('a context another target writes into is staged again with that file', () => {
    const root = tmpdir();
    const srcs = sources(root, MANY);
    const outdir = path.join(root, 'dist');
    // A third-party target adds a file to the first version's context after it was offered.
    const extra: Target = {
      name: 'extra',
      render: (m) => ({ artifacts: [{ path: `${m.services[0].versions[0].image.asset!.contextPath}/EXTRA.txt`, content: 'added by another target\n' }] }),
    };
    program(outdir, srcs, [...builtinTargets(), extra]).synth();
    const contexts = fs.readdirSync(path.join(outdir, 'assets'));
    expect(contexts).toHaveLength(MANY);
    const withExtra = contexts.filter((c) => fs.existsSync(path.join(outdir, 'assets', c, 'EXTRA.txt')));
    expect(withExtra).toHaveLength(1);
    expect(fs.readdirSync(path.join(outdir, 'assets', withExtra[0])).sort()).toEqual(['Dockerfile', 'EXTRA.txt', 'pkg']);
  });
});

test("a synth makes each context's generated files once: those made to hash it are the ones copied", () => {
  const root = tmpdir();
  let made = 0;
  const counting: BuildGenerators = { 'python-gunicorn': (recipe) => { made++; return pythonGunicornGenerator(recipe); } };
  const targets = builtinTargets().map((t) => (t.name === 'image' ? imageTarget({ buildGenerators: counting }) : t));
  const app = new App({ outdir: path.join(root, 'dist'), targets, renderCache: false });
  const stack = new Stack(app, 'shop');
  // More sources than the generator keeps recipes of, so that a second making would show.
  const n = 12;
  for (let i = 0; i < n; i++) {
    const src = path.join(root, `py-${i}`);
    fs.mkdirSync(src);
    fs.writeFileSync(path.join(src, 'main.py'), 'from fastapi import FastAPI\napp = FastAPI()\n');
    fs.writeFileSync(path.join(src, 'requirements.txt'), 'fastapi==0.115.6\ngunicorn==23.0.0\nuvicorn==0.34.0\n');
    new FastApiApp(stack, `api-${i}`, { source: src, module: 'main:app' });
  }
  app.synth();
  expect(made).toBe(n);
  // What was copied is what the image target's artifacts hold.
  const artifacts = app.synthesize().flatMap((o) => o.artifacts).filter((a) => a.path.startsWith('assets/') && a.content !== undefined);
  expect(new Set(artifacts.map((a) => a.path.split('/')[1])).size).toBe(n);
  expect(artifacts.filter((a) => a.path.endsWith('/Dockerfile'))).toHaveLength(n);
  for (const a of artifacts) expect(fs.readFileSync(path.join(root, 'dist', a.path), 'utf8')).toBe(a.content);
});
