import * as fs from 'fs';
import * as path from 'path';
import type { Artifact } from '../model/target';
import { holdsText, writeText } from './same';

// Writing a synth's artifacts below the outdir, incrementally: a file whose bytes are already there is
// not touched (same inode, same mtime), a staged build context that already exists under its content
// hash is not copied again, and what an earlier synth wrote that this one does not make is removed.
// Each file is written to a temporary name and renamed into place, and each new staged context is
// copied into a temporary folder and renamed into place, so a reader never sees half a file or half a
// context.

/** What one write did, for tests and benchmarks. */
export interface WriteStats {
  /** Files written (new or changed). */
  readonly written: number;
  /** Files left as they were (same bytes). */
  readonly unchanged: number;
  /** Staged contexts copied. */
  readonly contextsCopied: number;
  /** Staged contexts already in place (same content hash), left as they were. */
  readonly contextsKept: number;
  /** Files and folders of earlier synths removed. */
  readonly removed: number;
}

/** One file of a staged context: copied from the source, or generated. */
// A generated file of a context is read from its artifact only when written (a staged context's
// generated files are made when read: see ImageAsset.generated), so one context's are alive at a time.
type ContextFile = { readonly from: string; readonly artifact?: undefined } | { readonly from?: undefined; readonly artifact: Artifact };

/** Artifacts that stand for a file the last synth wrote and this one keeps (see cache.ts). */
const KEPT = new WeakSet<Artifact>();

/** An artifact for the file at `p`, which holds what it should: the writer leaves it as it is. */
export function keptArtifact(p: string): Artifact {
  const a: Artifact = { path: p };
  KEPT.add(a);
  return a;
}

/** Whether `a` is a {@link keptArtifact}. */
export function isKept(a: Artifact): boolean {
  return KEPT.has(a);
}

const tmpSuffix = (): string => `.tmp-pyfleet-${process.pid}`;

/** Every file below `dir`, relative and '/'-separated; undefined when `dir` is not a folder. */
function listTree(dir: string): Set<string> | undefined {
  const out = new Set<string>();
  const walk = (rel: string): boolean => {
    let entries: fs.Dirent[];
    try {
      entries = fs.readdirSync(path.join(dir, rel), { withFileTypes: true });
    } catch {
      return false;
    }
    for (const e of entries) {
      const r = rel ? `${rel}/${e.name}` : e.name;
      if (e.isDirectory()) walk(r);
      else out.add(r);
    }
    return true;
  };
  return walk('') ? out : undefined;
}

/**
 * Whether the context folder already holds exactly these files. Its name is the hash of their
 * content, and a context is only ever moved into place whole, so the names are enough (the way AWS
 * CDK trusts a staged asset folder that exists).
 */
function contextInPlace(dir: string, files: ReadonlyMap<string, ContextFile>): boolean {
  const tree = listTree(dir);
  if (!tree || tree.size !== files.size) return false;
  for (const rel of files.keys()) if (!tree.has(rel)) return false;
  return true;
}

/** Removes `p` if it is there (without the thrown error `rmSync` costs on a path that is not). */
function removeIfThere(p: string): void {
  if (fs.existsSync(p) || isLink(p)) fs.rmSync(p, { recursive: true, force: true });
}

function isLink(p: string): boolean {
  return fs.lstatSync(p, { throwIfNoEntry: false })?.isSymbolicLink() === true;
}

/**
 * The entries of a folder that holds staged contexts (`assets`), read once per synth: a context that
 * is not there yet is then copied without asking the file system first whether it, its temporary
 * folder or its parent exist (at 2,000 contexts that was six calls and a thrown ENOENT each).
 * undefined when the folder does not exist.
 */
function listFolder(dir: string): Map<string, fs.Dirent> | undefined {
  if (!fs.existsSync(dir)) return undefined;
  return new Map(fs.readdirSync(dir, { withFileTypes: true }).map((e) => [e.name, e]));
}

function copyContext(target: string, files: ReadonlyMap<string, ContextFile>, madeParents: Set<string>, siblings: ReadonlyMap<string, fs.Dirent> | undefined): void {
  const tmp = target + tmpSuffix();
  // A temporary folder left by an earlier run that stopped half-way.
  if (siblings?.has(path.basename(tmp))) removeIfThere(tmp);
  let moved = false;
  try {
    const made = new Set<string>();
    fs.mkdirSync(tmp, { recursive: true });
    for (const [rel, f] of files) {
      const dest = path.join(tmp, rel);
      const parent = path.dirname(dest);
      if (!made.has(parent)) {
        fs.mkdirSync(parent, { recursive: true });
        made.add(parent);
      }
      if (f.artifact !== undefined) fs.writeFileSync(dest, f.artifact.content ?? '');
      else fs.copyFileSync(f.from, dest);
    }
    // What is there under the context's name (an incomplete copy, a file) goes.
    if (siblings?.has(path.basename(target))) removeIfThere(target);
    const parent = path.dirname(target);
    if (!madeParents.has(parent)) {
      fs.mkdirSync(parent, { recursive: true });
      madeParents.add(parent);
    }
    fs.renameSync(tmp, target);
    moved = true;
  } finally {
    if (!moved) removeIfThere(tmp);
  }
}

/**
 * Writes `content` to `file` unless it already holds it; returns whether it wrote. Only a file of the
 * same size is read and compared (in slices, see same.ts); `made` holds the folders known to exist;
 * `knownSame` says this synth has already compared it.
 */
function writeIfChanged(file: string, content: string, made: Set<string>, knownSame: boolean): boolean {
  let stat: fs.Stats | undefined;
  try {
    stat = fs.statSync(file, { throwIfNoEntry: false });
  } catch { /* not reachable (or a loop of links): written below, or the write says why not */ }
  if (stat && (knownSame ? stat.isFile() : holdsText(file, content, stat))) return false;
  const tmp = file + tmpSuffix();
  const parent = path.dirname(file);
  if (!made.has(parent)) {
    fs.mkdirSync(parent, { recursive: true });
    made.add(parent);
  }
  // A folder where the file goes is removed (a link to one is replaced by the rename).
  if (stat?.isDirectory() && fs.lstatSync(file).isDirectory()) fs.rmSync(file, { recursive: true, force: true });
  writeText(tmp, content);
  fs.renameSync(tmp, file);
  return true;
}

/** Options of {@link writeArtifacts}. */
export interface WriteOptions {
  /** Remove what earlier synths wrote inside the owned entries and this one does not make. @default true */
  readonly prune?: boolean;
  /**
   * Artifact paths whose file this synth has already found to hold the new content (`synth()` passes
   * those the orphaned-volume check compared): left alone without comparing them again.
   */
  readonly unchanged?: ReadonlySet<string>;
}

/**
 * Writes `artifacts` below `outdir`. Only the top-level entries the artifacts make are owned: inside
 * them, files and folders that no artifact makes are removed (unless `prune` is false); other entries
 * of the outdir are left alone.
 */
export function writeArtifacts(outdir: string, artifacts: readonly Artifact[], options: WriteOptions = {}): WriteStats {
  const abs = path.resolve(outdir);
  // Staged contexts: the copied source files, with generated files (written below the context's path) winning.
  const contexts = new Map<string, Map<string, ContextFile>>();
  for (const a of artifacts) {
    if (!a.copyFrom) continue;
    const files = new Map<string, ContextFile>();
    for (const f of a.copyFrom.files) files.set(f, { from: path.join(a.copyFrom.directory, f) });
    contexts.set(a.path, files);
  }
  const plain: Artifact[] = [];
  for (const a of artifacts) {
    if (a.copyFrom) continue;
    const owner = contexts.size > 0 ? contextOf(a.path, contexts) : undefined;
    if (owner) contexts.get(owner)!.set(a.path.slice(owner.length + 1), { artifact: a });
    else plain.push(a);
  }

  let written = 0;
  let unchanged = 0;
  let contextsCopied = 0;
  let contextsKept = 0;
  fs.mkdirSync(abs, { recursive: true });
  const madeParents = new Set<string>();
  const listings = new Map<string, Map<string, fs.Dirent> | undefined>();
  for (const [p, files] of contexts) {
    const target = path.join(abs, p);
    const parent = path.dirname(target);
    if (!listings.has(parent)) {
      const listing = listFolder(parent);
      listings.set(parent, listing);
      if (listing) madeParents.add(parent);
    }
    const siblings = listings.get(parent);
    const entry = siblings?.get(path.basename(target));
    // (A link to a folder is looked into, as before: the listing below follows it.)
    if (entry && (entry.isDirectory() || entry.isSymbolicLink()) && contextInPlace(target, files)) {
      contextsKept++;
    } else {
      copyContext(target, files, madeParents, siblings);
      contextsCopied++;
    }
  }
  const made = new Set<string>();
  for (const a of plain) {
    if (KEPT.has(a)) unchanged++;
    else if (writeIfChanged(path.join(abs, a.path), a.content ?? '', made, options.unchanged?.has(a.path) === true)) written++;
    else unchanged++;
  }

  // Remove what earlier synths wrote below the owned entries and this one does not make.
  const wanted = new Set<string>();
  for (const a of plain) wanted.add(a.path);
  const keptWhole = new Set(contexts.keys());
  const owned = new Set(artifacts.map((a) => a.path.split('/')[0]));
  // Folders that lead to something this synth makes.
  const ancestors = new Set<string>();
  for (const w of [...wanted, ...keptWhole]) {
    const parts = w.split('/');
    for (let i = 1; i < parts.length; i++) ancestors.add(parts.slice(0, i).join('/'));
  }
  let removed = 0;
  const prune = (rel: string): void => {
    const dir = path.join(abs, rel);
    for (const e of fs.readdirSync(dir, { withFileTypes: true })) {
      const r = `${rel}/${e.name}`;
      if (keptWhole.has(r) || wanted.has(r)) continue;
      if (e.isDirectory() && ancestors.has(r)) {
        prune(r);
        continue;
      }
      fs.rmSync(path.join(abs, r), { recursive: true, force: true });
      removed++;
    }
  };
  for (const top of options.prune === false ? [] : owned) {
    if (wanted.has(top) || keptWhole.has(top)) continue;
    if (fs.existsSync(path.join(abs, top))) prune(top);
  }
  return { written, unchanged, contextsCopied, contextsKept, removed };
}

/** The staged context an artifact path lies in, if any. */
function contextOf(p: string, contexts: ReadonlyMap<string, unknown>): string | undefined {
  // Look each leading folder of the path up instead of scanning every context.
  const parts = p.split('/');
  for (let i = parts.length - 1; i > 0; i--) {
    const prefix = parts.slice(0, i).join('/');
    if (contexts.has(prefix)) return prefix;
  }
  return undefined;
}
