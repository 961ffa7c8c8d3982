// The render cache of `app.synth()`: a synth of an unchanged program into the outdir of the last one
// keeps the files of the targets that set `cacheVersion` instead of rendering them; anything that
// changes the program (a prop, a source file), or a file changed under it, renders again; a program
// the fingerprint cannot see into always renders; the output is the same bytes either way.
import * as fs from 'fs';
import * as path from 'path';
import { ApiObject, Lazy } from 'cdk8s';
import { Construct } from 'constructs';
import { App, ContainerImage, MicroService, Stack, builtinTargets } from '../../lib';
import { MAX_ENTRIES, cacheFolder } from '../../lib/app/cache';
import { FINGERPRINT, fingerprint } from '../../lib/core/fingerprint';
import type { Target } from '../../lib/model/target';
import { quietSynth, readTree, sourceDir, tmpdir } from '../support/synth';
import { EXAMPLES } from '../support/examples';

let cacheDir: string;
const before = process.env.PYFLEET_CACHE_DIR;
beforeAll(() => {
  cacheDir = tmpdir('pyfleet-cache-');
  process.env.PYFLEET_CACHE_DIR = cacheDir;
});
afterAll(() => {
  if (before === undefined) delete process.env.PYFLEET_CACHE_DIR;
  else process.env.PYFLEET_CACHE_DIR = before;
  fs.rmSync(cacheDir, { recursive: true, force: true });
});

/** Inode and modification time of every file below `dir`. */
function stamps(dir: string): Map<string, string> {
  const out = new Map<string, string>();
  const walk = (rel: string): void => {
    for (const e of fs.readdirSync(path.join(dir, rel), { withFileTypes: true })) {
      const r = rel ? `${rel}/${e.name}` : e.name;
      if (e.isDirectory()) walk(r);
      else {
        const st = fs.statSync(path.join(dir, r), { bigint: true });
        out.set(r, `${st.ino}:${st.mtimeNs}`);
      }
    }
  };
  walk('');
  return out;
}

function synthInto(outdir: string, build: (app: App) => unknown, props: { renderCache?: boolean; targets?: Target[] } = {}): App {
  const app = new App({ outdir, ...props });
  build(app);
  quietSynth(app);
  return app;
}

const examples = EXAMPLES;

describe('a second synth of an unchanged example', () => {
  test.each(examples)('examples/%s: keeps every cacheable target, touches no file, and writes the bytes a full render writes', (_name, build) => {
    const root = tmpdir();
    try {
      const outdir = path.join(root, 'dist');
      const first = synthInto(outdir, build);
      expect(first._lastCache.off).toBeUndefined();
      expect(first._lastCache.kept).toEqual([]);
      const files = readTree(outdir);
      const before = stamps(outdir);

      const second = synthInto(outdir, build);
      // Every stack's compose (when it has one), kubernetes and topology files were kept.
      const expected = second.stacks.flatMap((s) => [...(files.has(`${s.stackName}.compose.yml`) ? ['compose'] : []), 'kubernetes', 'topology'].map((t) => `${s.node.path}/${t}`));
      expect([...second._lastCache.kept].sort()).toEqual(expected.sort());
      expect(stamps(outdir)).toEqual(before);

      // The same bytes as a program that renders everything.
      const full = path.join(root, 'full');
      const uncached = synthInto(full, build, { renderCache: false });
      expect(uncached._lastCache.off).toBe('renderCache is false');
      expect(readTree(full)).toEqual(files);
    } finally {
      fs.rmSync(root, { recursive: true, force: true });
    }
  });
});

describe('what a cacheable target may not read', () => {
  // A target that sets cacheVersion promises that its files are a function of the program: it reads
  // no file and no environment variable while it renders (the fingerprint would not see them).
  test.each(examples)('examples/%s: the cacheable targets read no file and no environment variable while they render', (_name, build) => {
    const root = tmpdir();
    const reads: string[] = [];
    const watched = ['readFileSync', 'readdirSync', 'statSync', 'lstatSync', 'existsSync', 'openSync', 'realpathSync'] as const;
    const watch = <T>(what: string, f: () => T): T => {
      // The module object itself (the library's `import * as fs` reads its properties when called).
      const real = require('fs') as Record<string, (...args: unknown[]) => unknown>;
      const saved = watched.map((name) => [name, real[name]] as const);
      for (const [name, f] of saved) {
        real[name] = (...args: unknown[]) => {
          reads.push(`${what}: fs.${name}(${String(args[0])})`);
          return f(...args);
        };
      }
      const env = process.env;
      process.env = new Proxy(env, { get: (o, k) => { if (typeof k === 'string') reads.push(`${what}: process.env.${k}`); return (o as any)[k]; } });
      try {
        return f();
      } finally {
        process.env = env;
        for (const [name, f] of saved) real[name] = f;
      }
    };
    const targets = builtinTargets().map((t) => (t.cacheVersion === undefined ? t : { ...t, render: (m: any, o: any) => watch(t.name, () => t.render(m, o)) }));
    try {
      const app = synthInto(path.join(root, 'dist'), build, { targets });
      expect(app.targets.filter((t) => t.cacheVersion !== undefined).map((t) => t.name)).toEqual(['compose', 'kubernetes', 'topology']);
      expect(reads).toEqual([]);
    } finally {
      fs.rmSync(root, { recursive: true, force: true });
    }
  });
});

/** A program of two services built from `src`, with `replicas` of the first. */
function program(src: string, replicas = 2): (app: App) => void {
  return (app) => {
    const stack = new Stack(app, 'shop');
    const users = new MicroService(stack, 'users', { image: ContainerImage.fromDirectory(src), replicas });
    new MicroService(stack, 'orders', { image: ContainerImage.fromRegistry('ghcr.io/acme/orders:1.0.0'), calls: [users] });
  };
}

describe('what makes a synth render again', () => {
  let root: string;
  let src: string;
  let outdir: string;
  beforeEach(() => {
    root = tmpdir();
    src = sourceDir();
    outdir = path.join(root, 'dist');
  });
  afterEach(() => {
    fs.rmSync(root, { recursive: true, force: true });
    fs.rmSync(src, { recursive: true, force: true });
  });

  test('a changed prop renders every target again, and the output has it', () => {
    synthInto(outdir, program(src, 2));
    const app = synthInto(outdir, program(src, 5));
    expect(app._lastCache.kept).toEqual([]);
    expect(fs.readFileSync(path.join(outdir, 'shop.k8s.yaml'), 'utf8')).toMatch(/replicas: 5/);
    // And the changed program is what the next synth keeps.
    expect(synthInto(outdir, program(src, 5))._lastCache.kept).toEqual(['shop/compose', 'shop/kubernetes', 'shop/topology']);
  });

  test('a changed source file renders again: the image tag it gives is in the manifests', () => {
    synthInto(outdir, program(src));
    const tagBefore = /image: \S+\/users:(\w+)/.exec(fs.readFileSync(path.join(outdir, 'shop.k8s.yaml'), 'utf8'))?.[1];
    fs.writeFileSync(path.join(src, 'app.py'), 'print("changed")\n');
    const app = synthInto(outdir, program(src));
    expect(app._lastCache.kept).toEqual([]);
    const tagAfter = /image: \S+\/users:(\w+)/.exec(fs.readFileSync(path.join(outdir, 'shop.k8s.yaml'), 'utf8'))?.[1];
    expect(tagBefore).toBeDefined();
    expect(tagAfter).toBeDefined();
    expect(tagAfter).not.toBe(tagBefore);
  });

  test('a file changed or removed under the cache renders its target again and is restored; the others are kept', () => {
    synthInto(outdir, program(src));
    const files = readTree(outdir);
    // Same size, other bytes: the modification time and inode tell.
    const k8s = path.join(outdir, 'shop.k8s.yaml');
    const text = fs.readFileSync(k8s, 'utf8');
    fs.writeFileSync(k8s, text.replace('replicas: 2', 'replicas: 9'));
    fs.rmSync(path.join(outdir, 'shop.topology.dot'));
    const app = synthInto(outdir, program(src));
    expect(app._lastCache.kept).toEqual(['shop/compose']);
    expect(readTree(outdir)).toEqual(files);
  });

  test('a staged context removed by hand is copied again (the image target always renders)', () => {
    synthInto(outdir, program(src));
    const contexts = fs.readdirSync(path.join(outdir, 'assets'));
    expect(contexts).toHaveLength(1);
    fs.rmSync(path.join(outdir, 'assets', contexts[0]), { recursive: true });
    synthInto(outdir, program(src));
    expect(fs.readdirSync(path.join(outdir, 'assets', contexts[0])).sort()).toEqual(['Dockerfile', 'app.py']);
  });

  test('a program with a function in its tree (a lazy value) has no fingerprint: it renders every time, and says where', () => {
    const withLazy = (app: App): void => {
      program(src)(app);
      new ApiObject(app.stacks[0], 'settings', { apiVersion: 'v1', kind: 'ConfigMap', data: { size: Lazy.any({ produce: () => 'large' }) } });
    };
    synthInto(outdir, withLazy);
    const app = synthInto(outdir, withLazy);
    expect(app._lastCache.kept).toEqual([]);
    expect(app._lastCache.off).toMatch(/^the program holds a function at shop\/settings\.props\.data\.size/);
    expect(fs.readFileSync(path.join(outdir, 'shop.k8s.yaml'), 'utf8')).toMatch(/size: large/);
  });

  test('renderCache: false and PYFLEET_CACHE_DIR=off render every time', () => {
    synthInto(outdir, program(src));
    expect(synthInto(outdir, program(src), { renderCache: false })._lastCache.kept).toEqual([]);
    process.env.PYFLEET_CACHE_DIR = 'off';
    try {
      expect(cacheFolder()).toBeUndefined();
      const app = synthInto(outdir, program(src));
      expect(app._lastCache).toEqual({ kept: [], off: 'no cache folder' });
    } finally {
      process.env.PYFLEET_CACHE_DIR = cacheDir;
    }
  });

  test('a failed synth after a kept one leaves the output as it was, and the next synth still keeps it', () => {
    synthInto(outdir, program(src));
    const before = stamps(outdir);
    const broken = (app: App): void => {
      program(src)(app);
      new MicroService(app.stacks[0], 'bad', { image: ContainerImage.fromRegistry('ghcr.io/acme/bad:1.0.0'), replicas: -1 });
    };
    expect(() => synthInto(outdir, broken)).toThrow(/replicas/);
    expect(stamps(outdir)).toEqual(before);
    expect(synthInto(outdir, program(src))._lastCache.kept).toEqual(['shop/compose', 'shop/kubernetes', 'shop/topology']);
    expect(stamps(outdir)).toEqual(before);
  });

  test('a third-party target is kept only when it sets cacheVersion', () => {
    const calls = { plain: 0, versioned: 0 };
    const targets = (): Target[] => [
      ...builtinTargets(),
      { name: 'plain', render: (m) => { calls.plain++; return { artifacts: [{ path: `${m.name}.plain.txt`, content: m.services.map((s) => s.name).join('\n') }] }; } },
      { name: 'versioned', cacheVersion: '1', render: (m) => { calls.versioned++; return { artifacts: [{ path: `${m.name}.versioned.txt`, content: String(m.services.length) }] }; } },
    ];
    synthInto(outdir, program(src), { targets: targets() });
    const app = synthInto(outdir, program(src), { targets: targets() });
    expect(calls).toEqual({ plain: 2, versioned: 1 });
    expect(app._lastCache.kept).toContain('shop/versioned');
    expect(fs.readFileSync(path.join(outdir, 'shop.versioned.txt'), 'utf8')).toBe('2');
  });

  test('the cache folder keeps the entries of the most recent outdirs only', () => {
    for (let i = 0; i < MAX_ENTRIES + 3; i++) synthInto(path.join(root, `out-${i}`), program(src));
    expect(fs.readdirSync(cacheDir).filter((f) => f.endsWith('.json')).length).toBeLessThanOrEqual(MAX_ENTRIES);
    // The newest is among them.
    expect(synthInto(path.join(root, `out-${MAX_ENTRIES + 2}`), program(src))._lastCache.kept).toHaveLength(3);
  });
});

describe('fingerprint', () => {
  class Thing extends Construct {
    constructor(scope: Construct, id: string, readonly props: unknown) {
      super(scope, id);
    }
  }
  const digestOf = (props: unknown, salt = 's'): string | undefined => {
    const root = new Construct(undefined as any, '');
    const a = new Thing(root, 'a', props);
    new Thing(root, 'b', { peer: a });
    return fingerprint(root, { extra: [], salt }).digest;
  };

  test('the same state gives the same digest; any other value, key, order, salt or construct reference another', () => {
    const base = { n: 1, s: 'x', list: [1, 2], map: new Map([['k', 1]]), set: new Set(['a']), buf: Buffer.from('ab') };
    const d = digestOf(base);
    expect(d).toMatch(/^[0-9a-f]{64}$/);
    expect(digestOf({ ...base })).toBe(d);
    const others = [
      { ...base, n: 2 }, { ...base, s: 'y' }, { ...base, list: [2, 1] }, { ...base, map: new Map([['k', 2]]) },
      { ...base, set: new Set(['b']) }, { ...base, buf: Buffer.from('ac') }, { s: 'x', n: 1, list: [1, 2], map: base.map, set: base.set, buf: base.buf },
      { ...base, extra: undefined }, { ...base, n: '1' },
    ];
    const digests = new Set([d, ...others.map((o) => digestOf(o))]);
    expect(digests.size).toBe(others.length + 1);
    expect(digestOf(base, 't')).not.toBe(d);
  });

  test('strings cannot run into each other', () => {
    expect(digestOf(['a', 'b'])).not.toBe(digestOf(['a\u0000b']));
    expect(digestOf(['ab', ''])).not.toBe(digestOf(['a', 'b']));
    expect(digestOf({ a: 'b' })).not.toBe(digestOf({ ab: '' }));
  });

  test('shared and cyclic values are walked once; a function makes it opaque, unless a FINGERPRINT stands for it', () => {
    const cyclic: any = { name: 'c' };
    cyclic.self = cyclic;
    expect(digestOf(cyclic)).toMatch(/^[0-9a-f]{64}$/);
    const root = new Construct(undefined as any, '');
    new Thing(root, 'f', { deep: [{ make: () => 1 }] });
    expect(fingerprint(root, { extra: [], salt: '' })).toEqual({ opaque: 'f.props.deep.make' });
    const standIn = (hash: string): unknown => ({ [FINGERPRINT]: () => hash, make: () => 1 });
    expect(digestOf(standIn('h1'))).toBe(digestOf(standIn('h1')));
    expect(digestOf(standIn('h1'))).not.toBe(digestOf(standIn('h2')));
  });
});
