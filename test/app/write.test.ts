// Incremental writes: a second synth of an unchanged program touches nothing; a change rewrites only
// what it changes; files of earlier synths that this one does not make go; a failed synth writes nothing.
import * as fs from 'fs';
import * as path from 'path';
import { App, ContainerImage, MicroService, Stack } from '../../lib';
import { holdsText, writeText } from '../../lib/app/same';
import { writeArtifacts } from '../../lib/app/write';
import { readTree, tmpdir } from '../support/synth';

interface Stamp { readonly ino: number; readonly mtimeMs: number }

function stamps(dir: string): Map<string, Stamp> {
  const out = new Map<string, Stamp>();
  const walk = (rel: string): void => {
    for (const e of fs.readdirSync(path.join(dir, rel), { withFileTypes: true })) {
      const r = rel ? `${rel}/${e.name}` : e.name;
      const st = fs.statSync(path.join(dir, r));
      out.set(r, { ino: st.ino, mtimeMs: st.mtimeMs });
      if (e.isDirectory()) walk(r);
    }
  };
  walk('');
  return out;
}

function program(outdir: string, sources: string[], extra = false): App {
  const app = new App({ outdir });
  const stack = new Stack(app, 'shop');
  sources.forEach((src, i) => new MicroService(stack, `svc-${i}`, { image: ContainerImage.fromDirectory(src) }));
  if (extra) new MicroService(stack, 'extra', { image: ContainerImage.fromRegistry('ghcr.io/acme/extra:1.0.0') });
  return app;
}

function source(name: string): string {
  const dir = path.join(tmpdir(), name);
  fs.mkdirSync(path.join(dir, 'pkg'), { recursive: true });
  fs.writeFileSync(path.join(dir, 'Dockerfile'), `FROM python:3.12.8-slim-bookworm\nCOPY . /app\n# ${name}\n`);
  fs.writeFileSync(path.join(dir, 'pkg', 'app.py'), `print("${name}")\n`);
  return dir;
}

test('a second synth of an unchanged program leaves every file and staged context untouched (same inode, same mtime)', () => {
  const outdir = path.join(tmpdir(), 'dist');
  const srcs = [source('a'), source('b')];
  program(outdir, srcs).synth();
  const before = stamps(outdir);
  const content = readTree(outdir);
  expect([...before.keys()].filter((p) => /^assets\/context\.[0-9a-f]{12}$/.test(p))).toHaveLength(2);
  program(outdir, srcs).synth();
  expect(stamps(outdir)).toEqual(before);
  expect(readTree(outdir)).toEqual(content);
});

test('a changed source recopies only its own context; the old context and files no longer made are removed', () => {
  const outdir = path.join(tmpdir(), 'dist');
  const [a, b] = [source('a'), source('b')];
  program(outdir, [a, b], true).synth();
  const before = stamps(outdir);
  const contextOf = (tree: Map<string, Stamp>, file: string): string[] => [...tree.keys()].filter((p) => p.endsWith(file)).map((p) => p.split('/').slice(0, 2).join('/'));
  fs.writeFileSync(path.join(b, 'pkg', 'app.py'), 'print("b, changed")\n');
  program(outdir, [a, b]).synth(); // and without the extra service
  const after = stamps(outdir);
  const contexts = (t: Map<string, Stamp>): string[] => [...t.keys()].filter((p) => /^assets\/context\.[0-9a-f]{12}$/.test(p)).sort();
  expect(contexts(after)).toHaveLength(2);
  const kept = contexts(before).filter((c) => contexts(after).includes(c));
  expect(kept).toHaveLength(1); // a's context, untouched
  for (const [p, st] of after) if (p.startsWith(`${kept[0]}`)) expect(st).toEqual(before.get(p));
  const newB = contexts(after).find((c) => !kept.includes(c))!;
  expect(fs.readFileSync(path.join(outdir, newB, 'pkg', 'app.py'), 'utf8')).toBe('print("b, changed")\n');
  expect(contextOf(before, 'pkg/app.py')).not.toContain(newB);
  // The manifests changed (new tag, one service fewer): rewritten; nothing of the extra service remains.
  expect(after.get('shop.k8s.yaml')!.mtimeMs).toBeGreaterThanOrEqual(before.get('shop.k8s.yaml')!.mtimeMs);
  expect(fs.readFileSync(path.join(outdir, 'shop.k8s.yaml'), 'utf8')).not.toMatch(/extra/);
});

test('writeArtifacts: owned top-level entries are pruned, other entries of the outdir are left alone, temp files never remain', () => {
  const outdir = path.join(tmpdir(), 'out');
  fs.mkdirSync(path.join(outdir, 'gen', 'old'), { recursive: true });
  fs.writeFileSync(path.join(outdir, 'gen', 'old', 'stale.txt'), 'stale');
  fs.writeFileSync(path.join(outdir, 'gen', 'stale.txt'), 'stale');
  fs.writeFileSync(path.join(outdir, 'users-notes.md'), 'mine');
  const first = writeArtifacts(outdir, [{ path: 'gen/a.txt', content: 'A' }, { path: 'gen/sub/b.txt', content: 'B' }]);
  expect(first).toEqual({ written: 2, unchanged: 0, contextsCopied: 0, contextsKept: 0, removed: 2 });
  expect([...readTree(outdir).keys()].sort()).toEqual(['gen/a.txt', 'gen/sub/b.txt', 'users-notes.md']);
  const second = writeArtifacts(outdir, [{ path: 'gen/a.txt', content: 'A' }, { path: 'gen/sub/b.txt', content: 'B2' }]);
  expect(second).toEqual({ written: 1, unchanged: 1, contextsCopied: 0, contextsKept: 0, removed: 0 });
  expect(fs.readFileSync(path.join(outdir, 'gen/sub/b.txt'), 'utf8')).toBe('B2');
  const all = (d: string): string[] => fs.readdirSync(d, { recursive: true }) as string[];
  expect(all(outdir).filter((f) => f.includes('tmp-pyfleet'))).toEqual([]);
  // A staged context whose folder was damaged (a file missing) is copied again.
  const src = source('ctx');
  const ctx = { path: 'assets/context.0123456789ab', copyFrom: { directory: src, files: ['Dockerfile', 'pkg/app.py'] } };
  expect(writeArtifacts(outdir, [ctx]).contextsCopied).toBe(1);
  expect(writeArtifacts(outdir, [ctx]).contextsKept).toBe(1);
  fs.rmSync(path.join(outdir, ctx.path, 'pkg', 'app.py'));
  expect(writeArtifacts(outdir, [ctx]).contextsCopied).toBe(1);
  expect(fs.existsSync(path.join(outdir, ctx.path, 'pkg', 'app.py'))).toBe(true);
});

test('writeArtifacts compares text, but bytes that are not UTF-8 are never taken for the same content', () => {
  const outdir = path.join(tmpdir(), 'out');
  const file = path.join(outdir, 'gen', 'x.txt');
  fs.mkdirSync(path.dirname(file), { recursive: true });
  // A truncated 4-byte sequence (3 bytes) decodes to one U+FFFD, whose UTF-8 is also 3 bytes: the
  // same size and the same text as the new content, yet other bytes.
  fs.writeFileSync(file, Buffer.from([0x61, 0xf0, 0x9f, 0x98, 0x62]));
  expect(fs.readFileSync(file, 'utf8')).toBe('a\uFFFDb');
  expect(writeArtifacts(outdir, [{ path: 'gen/x.txt', content: 'a\uFFFDb' }])).toMatchObject({ written: 1, unchanged: 0 });
  expect([...fs.readFileSync(file)]).toEqual([...Buffer.from('a\uFFFDb')]);
  // Now it holds those bytes: left alone, non-ASCII text included.
  const ino = fs.statSync(file).ino;
  expect(writeArtifacts(outdir, [{ path: 'gen/x.txt', content: 'a\uFFFDb' }])).toMatchObject({ written: 0, unchanged: 1 });
  fs.writeFileSync(path.join(outdir, 'gen', 'y.txt'), 'grüße — ok\n');
  expect(writeArtifacts(outdir, [{ path: 'gen/x.txt', content: 'a\uFFFDb' }, { path: 'gen/y.txt', content: 'grüße — ok\n' }])).toMatchObject({ written: 0, unchanged: 2 });
  expect(fs.statSync(file).ino).toBe(ino);
  // One character different, same length in bytes: rewritten.
  expect(writeArtifacts(outdir, [{ path: 'gen/y.txt', content: 'grüße — OK\n' }])).toMatchObject({ written: 1 });
  expect(fs.readFileSync(path.join(outdir, 'gen', 'y.txt'), 'utf8')).toBe('grüße — OK\n');
});

test('writeArtifacts: paths the synth already found unchanged are left alone without another comparison', () => {
  const outdir = path.join(tmpdir(), 'out');
  writeArtifacts(outdir, [{ path: 'a.yaml', content: 'one\n' }, { path: 'b.yaml', content: 'bee\n' }]);
  // What the caller found is trusted: a.yaml (still "one") is not compared again.
  expect(writeArtifacts(outdir, [{ path: 'a.yaml', content: 'two\n' }, { path: 'b.yaml', content: 'bee\n' }], { unchanged: new Set(['a.yaml']) }))
    .toMatchObject({ written: 0, unchanged: 2 });
  expect(fs.readFileSync(path.join(outdir, 'a.yaml'), 'utf8')).toBe('one\n');
  expect(writeArtifacts(outdir, [{ path: 'a.yaml', content: 'two\n' }, { path: 'b.yaml', content: 'bee\n' }])).toMatchObject({ written: 1, unchanged: 1 });
  expect(fs.readFileSync(path.join(outdir, 'a.yaml'), 'utf8')).toBe('two\n');
  // A path that is not there any more is written, whatever the caller found.
  fs.rmSync(path.join(outdir, 'b.yaml'));
  expect(writeArtifacts(outdir, [{ path: 'b.yaml', content: 'bee\n' }], { unchanged: new Set(['b.yaml']), prune: false })).toMatchObject({ written: 1 });
  expect(fs.readFileSync(path.join(outdir, 'b.yaml'), 'utf8')).toBe('bee\n');
});

test('holdsText compares a large file slice by slice, non-ASCII text and surrogate pairs across slices included', () => {
  const dir = tmpdir();
  const file = path.join(dir, 'big.yaml');
  // Over 256K characters per slice: a pair of surrogates (an emoji) straddles the first boundary.
  const text = 'a'.repeat((1 << 18) - 1) + '\u{1F600}' + 'grüße — '.repeat(100_000) + 'end\n';
  fs.writeFileSync(file, text);
  expect(holdsText(file, text)).toBe(true);
  const bytes = Buffer.from(text);
  for (const at of [0, (1 << 18) + 1, bytes.length - 2]) {
    const changed = Buffer.from(bytes);
    changed[at] = changed[at] === 0x61 ? 0x62 : 0x61;
    fs.writeFileSync(file, changed);
    expect(holdsText(file, text)).toBe(false);
  }
  fs.writeFileSync(file, text);
  expect(holdsText(file, text.slice(0, -1) + '\r')).toBe(false);
  expect(holdsText(path.join(dir, 'absent.yaml'), text)).toBe(false);
  expect(holdsText(dir, '')).toBe(false);
  fs.writeFileSync(file, '');
  expect(holdsText(file, '')).toBe(true);
});

test('writeText writes a large text slice by slice, byte for byte what writeFileSync writes, surrogate pairs across slices included', () => {
  const dir = tmpdir();
  const base = 'x'.repeat((1 << 18) - 1) + '\u{1F680}' + 'é日本'.repeat(100_000) + 'y'.repeat(1 << 18) + '\u{1F680}';
  for (const text of [base, base.slice(0, 1000), '']) {
    writeText(path.join(dir, 'a.txt'), text);
    fs.writeFileSync(path.join(dir, 'b.txt'), text);
    expect(fs.readFileSync(path.join(dir, 'a.txt')).equals(fs.readFileSync(path.join(dir, 'b.txt')))).toBe(true);
    expect(fs.readFileSync(path.join(dir, 'a.txt'), 'utf8')).toBe(text);
  }
  // Over a longer file: the file is the new text only.
  writeText(path.join(dir, 'a.txt'), base);
  writeText(path.join(dir, 'a.txt'), base.slice(0, (1 << 18) + 5));
  expect(fs.readFileSync(path.join(dir, 'a.txt'), 'utf8')).toBe(base.slice(0, (1 << 18) + 5));
  fs.rmSync(dir, { recursive: true, force: true });
});

test('writeArtifacts: a staged context is copied over a temporary folder an interrupted run left, and over a file in its place', () => {
  const outdir = path.join(tmpdir(), 'out');
  const src = source('ctx');
  const ctx = { path: 'assets/context.0123456789ab', copyFrom: { directory: src, files: ['Dockerfile', 'pkg/app.py'] } };
  const other = { path: 'assets/context.ba9876543210', copyFrom: { directory: src, files: ['Dockerfile'] } };
  fs.mkdirSync(path.join(outdir, `${ctx.path}.tmp-pyfleet-${process.pid}`, 'pkg'), { recursive: true });
  fs.writeFileSync(path.join(outdir, `${ctx.path}.tmp-pyfleet-${process.pid}`, 'pkg', 'half.py'), 'x');
  fs.writeFileSync(path.join(outdir, other.path), 'not a folder');
  expect(writeArtifacts(outdir, [ctx, other])).toMatchObject({ contextsCopied: 2, contextsKept: 0 });
  expect(fs.readdirSync(path.join(outdir, 'assets')).sort()).toEqual([ctx.path, other.path].map((p) => path.basename(p)).sort());
  expect([...readTree(path.join(outdir, ctx.path)).keys()].sort()).toEqual(['Dockerfile', 'pkg/app.py']);
  expect(fs.statSync(path.join(outdir, other.path)).isDirectory()).toBe(true);
  expect(writeArtifacts(outdir, [ctx, other])).toMatchObject({ contextsCopied: 0, contextsKept: 2 });
});
