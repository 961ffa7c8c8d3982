import { createHash } from 'crypto';
import * as fs from 'fs';
import * as path from 'path';

// The render cache of `app.synth()`: what the last synth into an outdir rendered, so that a synth of
// an unchanged program keeps those files instead of rendering them again.
//
// An entry says: for this stack and target, with this key (the program's fingerprint, the code that
// renders it, the target), these files were written, and this is each one as it was left (size,
// inode, modification time). A synth whose key is the same, and finds every file as it was left,
// keeps them. A file changed by hand, removed, or rewritten by anything else no longer matches, and
// the target renders again.
//
// The entries live outside the outdir (`node_modules/.cache/pyfleet`, as babel, eslint and terser
// keep theirs; or `$PYFLEET_CACHE_DIR`), so that the outdir holds only what the targets write: it is
// often committed (GitOps), and inodes and times are not the same on another machine.

/** The cache format; an entry of another version is ignored. */
const VERSION = 1;
/** Entries kept in the cache folder (one per outdir), the most recently written ones. */
export const MAX_ENTRIES = 64;

/** A file as a synth left it. */
interface FileMark {
  readonly path: string;
  readonly size: string;
  readonly ino: string;
  readonly mtimeNs: string;
}

/** What the cache holds for one outdir. */
interface OutdirEntry {
  readonly version: number;
  readonly outdir: string;
  /** By `<stack path>\0<target name>`. */
  readonly targets: Record<string, { readonly key: string; readonly files: readonly FileMark[] }>;
}

/**
 * The folder of the cache: `$PYFLEET_CACHE_DIR`, else `.cache/pyfleet` in the nearest `node_modules`
 * at or above the working directory; undefined (no cache) when there is neither, or when
 * `$PYFLEET_CACHE_DIR` is `off`.
 */
export function cacheFolder(cwd = process.cwd()): string | undefined {
  const env = process.env.PYFLEET_CACHE_DIR;
  if (env === 'off') return undefined;
  if (env) return path.resolve(cwd, env);
  for (let dir = path.resolve(cwd); ; dir = path.dirname(dir)) {
    const modules = path.join(dir, 'node_modules');
    if (isDirectory(modules)) return path.join(modules, '.cache', 'pyfleet');
    if (path.dirname(dir) === dir) return undefined;
  }
}

function isDirectory(p: string): boolean {
  try {
    return fs.statSync(p).isDirectory();
  } catch {
    return false;
  }
}

let codeIdentity: string | undefined;

/**
 * What the output depends on besides the program: pyfleet's own code (the name, size and time of
 * every file of its `lib` folder, so that an edited checkout is never served an old render), the
 * versions of the libraries that serialize, and Node's. Computed once per process.
 */
export function rendererIdentity(): string {
  if (codeIdentity !== undefined) return codeIdentity;
  const h = createHash('sha256');
  h.update(`${VERSION}\0${process.version}\0`);
  const lib = path.resolve(__dirname, '..');
  const walk = (dir: string): void => {
    const entries = fs.readdirSync(dir, { withFileTypes: true }).sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
    for (const e of entries) {
      const p = path.join(dir, e.name);
      if (e.isDirectory()) walk(p);
      else {
        const st = fs.statSync(p);
        h.update(`${path.relative(lib, p)}\0${st.size}\0${st.mtimeMs}\0`);
      }
    }
  };
  walk(lib);
  for (const pkg of ['cdk8s', 'cdk8s-plus-27', 'constructs', 'js-yaml', 'yaml']) h.update(`${pkg}@${packageVersion(pkg)}\0`);
  codeIdentity = h.digest('hex');
  return codeIdentity;
}

/** The version of an installed package, from the package.json beside its main file. */
function packageVersion(name: string): string {
  try {
    let dir = path.dirname(require.resolve(name));
    for (;;) {
      const file = path.join(dir, 'package.json');
      if (fs.existsSync(file)) {
        const pkg = JSON.parse(fs.readFileSync(file, 'utf8')) as { name?: string; version?: string };
        if (pkg.name === name) return String(pkg.version);
      }
      if (path.dirname(dir) === dir) return 'unknown';
      dir = path.dirname(dir);
    }
  } catch {
    return 'absent';
  }
}

/** The cache of one outdir, read at the start of a synth and written at its end. */
export class RenderCache {
  private readonly file: string;
  private readonly old: OutdirEntry['targets'];
  private readonly next: Record<string, { key: string; paths: readonly string[] }> = {};

  /** The cache of `outdir`, kept in `folder` (its entry is read here, and written by `save`). */
  constructor(private readonly folder: string, private readonly outdir: string) {
    this.file = path.join(folder, `${createHash('sha256').update(outdir).digest('hex').slice(0, 32)}.json`);
    this.old = readEntry(this.file, outdir)?.targets ?? {};
  }

  /**
   * The files this target wrote with this key, if the last synth recorded them and each is still as
   * it was left; undefined when the target must render.
   */
  lookup(stackPath: string, target: string, key: string): readonly string[] | undefined {
    const e = this.old[`${stackPath}\0${target}`];
    if (!e || e.key !== key) return undefined;
    for (const f of e.files) {
      let st: fs.BigIntStats | undefined;
      try {
        st = fs.statSync(path.join(this.outdir, f.path), { bigint: true, throwIfNoEntry: false });
      } catch {
        return undefined;
      }
      if (!st || !st.isFile() || String(st.size) !== f.size || String(st.ino) !== f.ino || String(st.mtimeNs) !== f.mtimeNs) return undefined;
    }
    return e.files.map((f) => f.path);
  }

  /** Records that this target, with this key, made these files (marked when the cache is saved). */
  record(stackPath: string, target: string, key: string, paths: readonly string[]): void {
    this.next[`${stackPath}\0${target}`] = { key, paths };
  }

  /**
   * Writes the entry of this outdir, with every recorded file as it is now: called after the files
   * are written. A file that is not there (or not a file) leaves its target out. Without anything
   * recorded, the entry is removed. Errors are ignored: a cache that cannot be written only costs
   * the next synth a render.
   */
  save(): void {
    try {
      const targets: Record<string, { key: string; files: FileMark[] }> = {};
      for (const [id, r] of Object.entries(this.next)) {
        const files: FileMark[] = [];
        let complete = true;
        for (const p of r.paths) {
          const st = fs.statSync(path.join(this.outdir, p), { bigint: true, throwIfNoEntry: false });
          if (!st || !st.isFile()) {
            complete = false;
            break;
          }
          files.push({ path: p, size: String(st.size), ino: String(st.ino), mtimeNs: String(st.mtimeNs) });
        }
        if (complete) targets[id] = { key: r.key, files };
      }
      if (Object.keys(targets).length === 0) {
        fs.rmSync(this.file, { force: true });
        return;
      }
      const text = JSON.stringify({ version: VERSION, outdir: this.outdir, targets } satisfies OutdirEntry);
      if (sameText(this.file, text)) return;
      fs.mkdirSync(this.folder, { recursive: true });
      const tmp = `${this.file}.tmp-${process.pid}`;
      fs.writeFileSync(tmp, text);
      fs.renameSync(tmp, this.file);
      trim(this.folder);
    } catch { /* see above */ }
  }
}

function readEntry(file: string, outdir: string): OutdirEntry | undefined {
  try {
    const e = JSON.parse(fs.readFileSync(file, 'utf8')) as OutdirEntry;
    return e && e.version === VERSION && e.outdir === outdir && e.targets && typeof e.targets === 'object' ? e : undefined;
  } catch {
    return undefined;
  }
}

function sameText(file: string, text: string): boolean {
  try {
    return fs.readFileSync(file, 'utf8') === text;
  } catch {
    return false;
  }
}

/** Keeps the {@link MAX_ENTRIES} most recently written entries of the folder. */
function trim(folder: string): void {
  const names = fs.readdirSync(folder).filter((n) => n.endsWith('.json'));
  if (names.length <= MAX_ENTRIES) return;
  const byAge = names.map((n) => ({ n, t: fs.statSync(path.join(folder, n), { throwIfNoEntry: false })?.mtimeMs ?? 0 })).sort((a, b) => b.t - a.t);
  for (const { n } of byAge.slice(MAX_ENTRIES)) fs.rmSync(path.join(folder, n), { force: true });
}
