import { createHash } from 'crypto';
import { Construct } from 'constructs';

// The fingerprint of a program: one digest over the state of every construct of the tree and over
// the resolved models (which add what was read from files: the content hash of each staged context).
// Two programs with the same fingerprint render the same artifacts with the same targets, so a synth
// may keep the files of the last one (see lib/app/cache.ts).
//
// The walk is generic, so that a new prop or field is covered without anyone listing it: every own
// enumerable field of every object, in insertion order (a program that builds the same tree in the
// same order gives the same order; another order only costs a render), Maps, Sets and Buffers by their
// content, a construct met inside another by its path (it is walked itself), an object met twice by
// the index of its first visit. A function (a closure, a lazy value, a callback) has state the walk
// cannot see: the program then has no fingerprint, and every synth renders.

/**
 * An object with this method stands for its return value in a fingerprint: a class whose own fields
 * hold a function whose result is already covered (a staged context: its content hash).
 */
export const FINGERPRINT: unique symbol = Symbol.for('pyfleet.fingerprint');

const NONE: ReadonlySet<string> = new Set();

/** Something the walk cannot see into; `keys` lead to it, innermost first (each frame adds its key as it unwinds). */
class Opaque extends Error {
  readonly keys: string[] = [];
  constructor() {
    super('no fingerprint: a function');
  }
}

/** Characters gathered before they go to the hash. */
const CHUNK = 1 << 18;

/**
 * The fingerprint's walker: feeds every value to the hash as text, each with a tag and strings with
 * their length first (so no two walks give the same text).
 */
class Walker {
  private readonly hash = createHash('sha256');
  private text = '';
  private readonly seen = new Map<object, number>();
  /** Field and class names met so far, by number: each is written once, then as its number. */
  private readonly names = new Map<string, number>();
  /** The construct being walked (a reference to any other construct is its path). */
  private current: Construct | undefined;
  /** Fields of the construct being walked that are left out. */
  private skip: ReadonlySet<string> = NONE;

  constructor(private readonly skipOfRoot: ReadonlySet<string>) {}

  construct(c: Construct, isRoot: boolean): void {
    const node = c.node;
    this.put(`C${node.path.length}:${node.path}`);
    this.current = c;
    this.seen.set(c, this.seen.size);
    try {
      this.skip = isRoot ? this.skipOfRoot : NONE;
      this.object(c, true);
      this.skip = NONE;
      // What of the node a target may read: context, metadata, dependencies and default child (the
      // children are walked on their own; validations run at every synth).
      const n = node as unknown as { _context?: unknown; _metadata?: unknown; _dependencies?: Set<unknown>; _defaultChild?: unknown };
      this.value(n._context);
      this.value(n._metadata);
      this.value(n._dependencies);
      this.value(n._defaultChild);
    } catch (e) {
      if (e instanceof Opaque) e.keys.push(node.path || '(app)');
      throw e;
    }
    this.current = undefined;
  }

  value(v: unknown): void {
    switch (typeof v) {
      case 'string':
        this.put(`s${v.length}:${v}`);
        return;
      case 'number':
        this.put(Object.is(v, -0) ? 'n-0;' : `n${v};`);
        return;
      case 'boolean':
        this.put(v ? 't' : 'f');
        return;
      case 'bigint':
        this.put(`b${v};`);
        return;
      case 'undefined':
        this.put('u');
        return;
      case 'symbol': {
        const d = v.description ?? '';
        this.put(`y${d.length}:${d}`);
        return;
      }
      case 'function':
        throw new Opaque();
    }
    if (v === null || typeof v !== 'object') {
      this.put('N');
      return;
    }
    if (v instanceof Construct && v !== this.current) {
      this.put(`@${v.node.path.length}:${v.node.path}`);
      return;
    }
    const first = this.seen.get(v);
    if (first !== undefined) {
      this.put(`#${first};`);
      return;
    }
    this.seen.set(v, this.seen.size);
    this.object(v, false);
  }

  digest(salt: string): string {
    this.flush();
    this.hash.update(`\0${salt}`);
    return this.hash.digest('hex');
  }

  /** A field or class name: its number once it was met (most are met thousands of times). */
  private name(n: string): void {
    const i = this.names.get(n);
    if (i !== undefined) this.put(`k${i};`);
    else {
      this.names.set(n, this.names.size);
      this.put(`K${n.length}:${n}`);
    }
  }

  private put(s: string): void {
    this.text += s;
    if (this.text.length > CHUNK) this.flush();
  }

  /** Hands the gathered text to the hash. */
  private flush(): void {
    this.hash.update(this.text);
    this.text = '';
  }

  private object(v: object, isConstruct: boolean): void {
    const custom = (v as { [FINGERPRINT]?: () => unknown })[FINGERPRINT];
    if (typeof custom === 'function') {
      this.put('X');
      this.value(custom.call(v));
      return;
    }
    if (Array.isArray(v)) {
      this.put('[');
      for (let i = 0; i < v.length; i++) this.value(v[i]);
      this.put(']');
      return;
    }
    if (v instanceof Map) {
      this.put('M');
      for (const [k, x] of v) {
        this.value(k);
        this.value(x);
      }
      this.put(']');
      return;
    }
    if (v instanceof Set) {
      this.put('S');
      for (const x of v) this.value(x);
      this.put(']');
      return;
    }
    if (ArrayBuffer.isView(v)) {
      this.put(`B${v.byteLength}:`);
      this.flush();
      this.hash.update(new Uint8Array(v.buffer, v.byteOffset, v.byteLength));
      return;
    }
    if (v instanceof Date) {
      this.put(`D${v.getTime()};`);
      return;
    }
    if (v instanceof RegExp) {
      this.put(`R${v.source.length}:${v.source}${v.flags};`);
      return;
    }
    const ctor = (v.constructor as { name?: unknown } | undefined)?.name;
    this.put('{');
    this.name(typeof ctor === 'string' ? ctor : '');
    const rec = v as Record<string, unknown>;
    for (const k in rec) {
      if (!Object.prototype.hasOwnProperty.call(rec, k) || (isConstruct && (k === 'node' || this.skip.has(k)))) continue;
      this.name(k);
      // The path to a function is put together only when there is one (see Opaque).
      try {
        this.value(rec[k]);
      } catch (e) {
        if (e instanceof Opaque) e.keys.push(k);
        throw e;
      }
    }
    this.put('}');
  }
}

/** What {@link fingerprint} found. */
export type Fingerprint =
  | { readonly digest: string; readonly opaque?: undefined }
  /** The program cannot be fingerprinted: `opaque` says where (a function, e.g. a lazy value). */
  | { readonly digest?: undefined; readonly opaque: string };

/** What {@link fingerprint} walks besides the constructs. */
export interface FingerprintOptions {
  /** What else the output depends on (the resolved models). */
  readonly extra: unknown;
  /** The code that renders (see lib/app/cache.ts). */
  readonly salt: string;
  /** Fields of the root construct left out (the App's targets, keyed on their own). */
  readonly skipRootFields?: readonly string[];
}

/** The fingerprint of every construct of the tree of `root`, and of `options.extra`. */
export function fingerprint(root: Construct, options: FingerprintOptions): Fingerprint {
  const w = new Walker(new Set(options.skipRootFields ?? []));
  try {
    for (const c of root.node.findAll()) w.construct(c, c === root);
    w.value(options.extra);
  } catch (e) {
    if (e instanceof Opaque) return { opaque: [...e.keys].reverse().join('.') };
    throw e;
  }
  return { digest: w.digest(options.salt) };
}
