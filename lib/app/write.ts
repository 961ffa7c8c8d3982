import * as fs from 'fs';
import * as path from 'path';
import type { Artifact } from '../model/target';
import { holdsText, writeText } from './same';
import { ContextStager, groupContexts, tmpSuffix } from './stage';

// Writing a synth's artifacts below the outdir, incrementally: a file whose bytes are already there is
// not touched (same inode, same mtime), a staged build context that already exists under its content
// hash is not copied again, and what an earlier synth wrote that this one does not make is removed.
// Each file is written to a temporary name and renamed into place, and each new staged context is
// copied into a temporary folder and renamed into place, so a reader never sees half a file or half a
// context. The contexts are copied by a ContextStager (stage.ts): `synth()` hands it each context as
// it is resolved, so that the copying is done, on a thread of its own, by the time everything is
// rendered and this writer moves them into place.

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
  /**
   * The stager the synth handed each staged context as it was resolved, and each target's artifacts as
   * they were rendered (it has been copying the contexts since); the writer puts them in place.
   * Without one, the writer stages them.
   */
  readonly stager?: ContextStager;
}

/**
 * Writes `artifacts` below `outdir`. Only the top-level entries the artifacts make are owned: inside
 * them, files and folders that no artifact makes are removed (unless `prune` is false); other entries
 * of the outdir are left alone.
 */
export function writeArtifacts(outdir: string, artifacts: readonly Artifact[], options: WriteOptions = {}): WriteStats {
  const abs = path.resolve(outdir);
  const stager = options.stager ?? new ContextStager(abs);
  try {
    return write(abs, artifacts, stager, options);
  } finally {
    // After a failure: nothing of what was copied remains (after the writer finished, nothing to do).
    stager.abort();
  }
}

function write(abs: string, artifacts: readonly Artifact[], stager: ContextStager, options: WriteOptions): WriteStats {
  // Staged contexts: the copied source files, with generated files (written below the context's path) winning.
  const { contexts, plain } = groupContexts(artifacts);
  let written = 0;
  let unchanged = 0;
  let contextsCopied = 0;
  let contextsKept = 0;
  fs.mkdirSync(abs, { recursive: true });
  // Moved into place by the stager (on its worker thread, if it has one) while the files are written here.
  for (const [p, group] of contexts) {
    if (stager.place(p, group) === 'kept') contextsKept++;
    else contextsCopied++;
  }
  const made = new Set<string>();
  for (const a of plain) {
    if (KEPT.has(a)) unchanged++;
    else if (writeIfChanged(path.join(abs, a.path), a.content ?? '', made, options.unchanged?.has(a.path) === true)) written++;
    else unchanged++;
  }
  stager.finish();

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
