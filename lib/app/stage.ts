import * as fs from 'fs';
import * as path from 'path';
import { MessageChannel, MessagePort, receiveMessageOnPort, Worker } from 'worker_threads';
import type { Artifact } from '../model/target';
import { artifactAsset, ImageAsset } from '../service/asset';

// Staged build contexts, copied while the synth checks and renders. `synth()` hands a ContextStager
// each staged context as it is resolved (with the generated files made to hash it), and each target's
// artifacts as the target returns them (for contexts some other target makes): every context that is
// not already in place under its content hash is copied into a temporary folder beside it at once, and
// only moved into place when the writer places it, after every check passed and every target
// rendered. A synth that fails removes the temporary folders again, so the earlier output stays as it
// was.
//
// The copying itself (mkdir, copyFile, writeFile, rename, rm) is a list of file operations per
// context, run in order. A synth with few of them runs them on the main thread when the writer needs
// them; one with many (at 1,000 services, 12,000 files in 2,000 contexts: 220 ms of a 1.45 s synth)
// hands them to one worker thread, which copies while the main thread renders the manifests. Every
// decision (what is in place, what is copied, what goes) is made here on the main thread; the worker
// only runs the operations, so both ways write the same files.

/** One file operation. */
export type FileOp =
  | readonly ['mkdir', string]
  | readonly ['copy', string, string]
  | readonly ['write', string, string]
  | readonly ['rm', string]
  | readonly ['rename', string, string];

/** Operations run in order; on the first failure the rest are skipped and `cleanup` runs (its own failures ignored). */
interface Job {
  readonly id: number;
  readonly ops: readonly FileOp[];
  readonly cleanup: readonly FileOp[];
}

function runOp(op: FileOp): void {
  switch (op[0]) {
    case 'mkdir': fs.mkdirSync(op[1], { recursive: true }); return;
    case 'copy': fs.copyFileSync(op[1], op[2]); return;
    case 'write': fs.writeFileSync(op[1], op[2]); return;
    case 'rm': fs.rmSync(op[1], { recursive: true, force: true }); return;
    case 'rename': fs.renameSync(op[1], op[2]); return;
  }
}

/**
 * Jobs on their way to the worker, as one message: the jobs as JSON (a write operation holds the index
 * of its content instead of the content), then the content of the files they write, each distinct one
 * once (the versions of a service share theirs). A message of strings is copied as it is; jobs as
 * nested arrays took the structured clone about 30 µs each.
 */
class Batch {
  private readonly jobs: string[] = [];
  private readonly contents: string[] = [];
  /** The files the last job and this one write: content, and its index in `contents`. */
  private previous: { readonly content: string; readonly index: number }[] = [];
  private current: { readonly content: string; readonly index: number }[] = [];
  /** Operations in the batch. */
  public ops = 0;

  public add(job: Job): void {
    this.previous = this.current;
    this.current = [];
    this.jobs.push(JSON.stringify([job.id, job.ops.map((op) => this.op(op)), job.cleanup.map((op) => this.op(op))]));
    this.ops += job.ops.length + job.cleanup.length;
  }

  /** The message: `[jobs, ...contents]`. */
  public message(): string[] {
    return [`[${this.jobs.join(',')}]`, ...this.contents];
  }

  private op(op: FileOp): readonly unknown[] {
    if (op[0] !== 'write') return op;
    // The versions of a service come one after another with the same generated files, in the same
    // order: each file's content is compared (===, so the same string at once) with the one at its
    // place in the job before only (a Map would hash every file's text).
    const c = op[2];
    const before = this.previous[this.current.length];
    const index = before !== undefined && before.content === c ? before.index : this.contents.push(c) - 1;
    this.current.push({ content: c, index });
    return ['write', op[1], index];
  }
}

// The worker's program: it reads jobs (see Batch) and runs their operations as runOp does. It reports
// a failed job on `errors` before it counts the job done in `done` (a shared counter the main thread
// waits on with Atomics.wait), so a job counted done has its error, if any, already in the port.
const WORKER_PROGRAM = `
const { parentPort, workerData } = require('worker_threads');
const fs = require('fs');
const done = new Int32Array(workerData.done);
const errors = workerData.errors;
function run(op) {
  switch (op[0]) {
    case 'mkdir': fs.mkdirSync(op[1], { recursive: true }); return;
    case 'copy': fs.copyFileSync(op[1], op[2]); return;
    case 'write': fs.writeFileSync(op[1], op[2]); return;
    case 'rm': fs.rmSync(op[1], { recursive: true, force: true }); return;
    case 'rename': fs.renameSync(op[1], op[2]); return;
    default: throw new Error('unknown file operation ' + String(op[0]));
  }
}
parentPort.on('message', (message) => {
  for (const [id, ops, cleanup] of JSON.parse(message[0])) {
    // A file's content comes once per message, after the jobs.
    for (const op of [...ops, ...cleanup]) if (op[0] === 'write') op[2] = message[1 + op[2]];
    try {
      for (const op of ops) run(op);
    } catch (e) {
      for (const op of cleanup) { try { run(op); } catch { /* cleanup is best effort */ } }
      errors.postMessage({ id, message: String(e && e.message), code: e && e.code, syscall: e && e.syscall, path: e && e.path, dest: e && e.dest });
    }
    Atomics.store(done, 0, id + 1);
    Atomics.notify(done, 0);
  }
});
`;

/** Operations queued before a worker is worth starting (at about 15 µs each, a few milliseconds of copying). */
export const WORKER_AFTER_OPS = 512;

/** Operations sent to the worker in one message. */
const BATCH_OPS = 256;

/** How long the main thread waits for a worker that reports no progress at all before it gives up. */
const STALL_MS = 120_000;

interface Failure { readonly id: number; readonly message: string; readonly code?: string; readonly syscall?: string; readonly path?: string; readonly dest?: string }

function asError(f: Failure): Error {
  const e = new Error(f.message) as NodeJS.ErrnoException & { dest?: string };
  if (f.code !== undefined) e.code = f.code;
  if (f.syscall !== undefined) e.syscall = f.syscall;
  if (f.path !== undefined) e.path = f.path;
  if (f.dest !== undefined) e.dest = f.dest;
  return e;
}

/**
 * File jobs, run in the order they were submitted: on the main thread when they are waited for, or,
 * once `workerAfterOps` operations are queued, on one worker thread as soon as they are submitted
 * (sent in batches: see {@link flush}).
 * @internal
 */
export class FileJobs {
  private readonly queued: Job[] = [];
  private queuedOps = 0;
  private nextId = 0;
  private readonly failures = new Map<number, Error>();
  private worker?: { readonly thread: Worker; readonly done: Int32Array; readonly errors: MessagePort };
  /** Jobs not sent to the worker yet. */
  private outbox = new Batch();

  /** @param workerAfterOps queued operations after which a worker runs them (Infinity: never) */
  constructor(private workerAfterOps: number = WORKER_AFTER_OPS) {}

  /** Whether a worker thread runs the jobs. */
  public get threaded(): boolean {
    return this.worker !== undefined;
  }

  /** Queues a job. */
  public submit(ops: readonly FileOp[], cleanup: readonly FileOp[] = []): void {
    const job: Job = { id: this.nextId++, ops, cleanup };
    if (this.worker) {
      this.send(job);
      return;
    }
    this.queued.push(job);
    this.queuedOps += ops.length;
    if (this.queuedOps >= this.workerAfterOps) this.start();
  }

  /** Sends the worker the jobs it has not had yet (a caller about to do other work calls this). */
  public flush(): void {
    if (!this.worker || this.outbox.ops === 0) return;
    this.worker.thread.postMessage(this.outbox.message());
    this.outbox = new Batch();
  }

  /** Runs (or waits for) every job submitted so far; returns the error of the first one that failed. */
  public finish(): Error | undefined {
    this.settle();
    const first = [...this.failures.keys()].sort((a, b) => a - b)[0];
    return first === undefined ? undefined : this.failures.get(first);
  }

  /** Stops the worker, if one runs (after {@link finish}: it has nothing left to do). */
  public close(): void {
    const w = this.worker;
    if (!w) return;
    this.worker = undefined;
    w.errors.close();
    void w.thread.terminate();
  }

  private send(job: Job): void {
    this.outbox.add(job);
    if (this.outbox.ops >= BATCH_OPS) this.flush();
  }

  private start(): void {
    const done = new Int32Array(new SharedArrayBuffer(4));
    const { port1, port2 } = new MessageChannel();
    let thread: Worker;
    try {
      thread = new Worker(WORKER_PROGRAM, { eval: true, workerData: { done: done.buffer, errors: port2 }, transferList: [port2] });
    } catch {
      // No worker (an environment without threads): everything runs here, as for a small synth.
      port1.close();
      this.workerAfterOps = Infinity;
      return;
    }
    // Never what keeps the process alive: the main thread waits for every job it needs.
    thread.unref();
    this.worker = { thread, done, errors: port1 };
    for (const job of this.queued) this.send(job);
    this.queued.length = 0;
    this.queuedOps = 0;
  }

  /** Every job submitted has run. */
  private settle(): void {
    for (const job of this.queued) {
      try {
        for (const op of job.ops) runOp(op);
      } catch (e) {
        for (const op of job.cleanup) {
          try {
            runOp(op);
          } catch { /* cleanup is best effort */ }
        }
        this.failures.set(job.id, e as Error);
      }
    }
    this.queued.length = 0;
    this.queuedOps = 0;
    const w = this.worker;
    if (!w) return;
    this.flush();
    const last = this.nextId - 1;
    let seen = Atomics.load(w.done, 0);
    let still = 0;
    while (seen <= last) {
      Atomics.wait(w.done, 0, seen, 1000);
      const now = Atomics.load(w.done, 0);
      still = now === seen ? still + 1000 : 0;
      seen = now;
      if (still >= STALL_MS) throw new Error(`pyfleet's file writer thread did no work for ${STALL_MS / 1000} s (${last + 1 - seen} staging jobs left)`);
    }
    for (let m = receiveMessageOnPort(w.errors); m !== undefined; m = receiveMessageOnPort(w.errors)) {
      const f = m.message as Failure;
      this.failures.set(f.id, asError(f));
    }
  }
}

/** One file of a staged context: copied from the source, or generated (written from its artifact). */
export type ContextFile =
  | { readonly from: string; readonly artifact?: undefined; readonly content?: undefined }
  | { readonly from?: undefined; readonly artifact: Artifact; readonly content?: undefined }
  | { readonly from?: undefined; readonly artifact?: undefined; readonly content: string };

/** A staged context among a synth's artifacts: the artifact that copies the source, and those of the files written into it. */
export interface ContextGroup {
  readonly copy: Artifact;
  readonly parts: readonly Artifact[];
}

/**
 * The staged contexts among `artifacts` (by path), each with the artifacts that lie in it (a
 * generated file wins over a source file of the same name), and the artifacts that lie in none.
 */
export function groupContexts(artifacts: readonly Artifact[]): { contexts: Map<string, ContextGroup>; plain: Artifact[] } {
  const contexts = new Map<string, { copy: Artifact; parts: Artifact[] }>();
  for (const a of artifacts) if (a.copyFrom && !contexts.has(a.path)) contexts.set(a.path, { copy: a, parts: [] });
  const plain: Artifact[] = [];
  for (const a of artifacts) {
    if (a.copyFrom) continue;
    const owner = contexts.size > 0 ? contextOf(a.path, contexts) : undefined;
    if (owner) contexts.get(owner)!.parts.push(a);
    else plain.push(a);
  }
  return { contexts, plain };
}

/** The staged context an artifact path lies in, if any. */
function contextOf(p: string, contexts: ReadonlyMap<string, unknown>): string | undefined {
  // Look each leading folder of the path up instead of scanning every context.
  let end = p.lastIndexOf('/');
  while (end > 0) {
    const prefix = p.slice(0, end);
    if (contexts.has(prefix)) return prefix;
    end = p.lastIndexOf('/', end - 1);
  }
  return undefined;
}

/** The files of a context, by path relative to it. */
function contextFiles(g: ContextGroup): Map<string, ContextFile> {
  const files = new Map<string, ContextFile>();
  const src = g.copy.copyFrom!;
  for (const f of src.files) files.set(f, { from: path.join(src.directory, f) });
  for (const a of g.parts) files.set(a.path.slice(g.copy.path.length + 1), { artifact: a });
  return files;
}

/** The suffix of the temporary name a file or staged context is written under before it is moved into place. */
export const tmpSuffix = (): string => `.tmp-pyfleet-${process.pid}`;

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

/** What the stager made of one context. */
interface Staged {
  /** The artifacts it was staged from, or the staged context it was staged from when it was resolved. */
  readonly group?: ContextGroup;
  readonly asset?: ImageAsset;
  /** Already in place under its content hash: left as it is. */
  readonly kept: boolean;
  readonly target: string;
  readonly tmp: string;
  /** Whether something (not this context) is in its place, which goes when it is moved there. */
  readonly occupied: boolean;
  /** Whether the writer moved it into place. */
  placed: boolean;
}

/**
 * The staged contexts of one synth into `outdir`: copied into temporary folders as they are resolved
 * ({@link stageAsset}) or offered ({@link offer}), moved into place by {@link place}, removed again by
 * {@link abort}.
 * @internal
 */
export class ContextStager {
  private readonly staged = new Map<string, Staged>();
  /** Entries of each folder that holds contexts, read once per synth (undefined: not there). */
  private readonly listings = new Map<string, Map<string, fs.Dirent> | undefined>();
  /** Folders this stager made that were not there: removed by abort if they are empty again. */
  private readonly made: string[] = [];
  private readonly madeFolders = new Set<string>();
  private closed = false;

  /** @param outdir absolute */
  constructor(private readonly outdir: string, private readonly jobs: FileJobs = new FileJobs()) {}

  /** Whether a worker thread copies (for tests and benchmarks). */
  public get threaded(): boolean {
    return this.jobs.threaded;
  }

  /** Starts copying the contexts of `artifacts` (one target's output) that no earlier offer had. */
  public offer(artifacts: readonly Artifact[]): void {
    if (!artifacts.some((a) => a.copyFrom)) return;
    for (const [p, g] of groupContexts(artifacts).contexts) if (!this.staged.has(p)) this.stage(p, contextFiles(g), { group: g });
    // The main thread renders the next target now: the worker gets everything to copy meanwhile.
    this.jobs.flush();
  }

  /**
   * Puts the context at `p` in place (the writer calls this once per context, after everything
   * rendered): 'kept' when it already was, 'copied' when it is moved there. A context not offered, or
   * offered with other artifacts than these, is staged again first.
   */
  public place(p: string, group: ContextGroup): 'kept' | 'copied' {
    let s = this.staged.get(p);
    if (!s || !(s.asset ? madeFrom(s.asset, group) : s.group!.copy === group.copy && sameMembers(s.group!.parts, group.parts))) {
      if (s && !s.kept) this.jobs.submit([['rm', s.tmp]]);
      s = this.stage(p, contextFiles(group), { group });
    }
    s.placed = true;
    if (s.kept) return 'kept';
    const ops: FileOp[] = [];
    // What is there under the context's name (an incomplete copy, a file) goes.
    if (s.occupied) ops.push(['rm', s.target]);
    ops.push(['rename', s.tmp, s.target]);
    this.jobs.submit(ops, [['rm', s.tmp]]);
    return 'copied';
  }

  /**
   * Starts copying a staged context as soon as it is resolved, with the generated files made to hash
   * it (the image target's artifacts for it, made from the same context, are then not read: making
   * every image's files again for them cost a synth of 1,000 services 45 ms, and holding these until
   * then kept 38 MiB more alive at 2,000).
   */
  public stageAsset(asset: ImageAsset, generated: Readonly<Record<string, string>>): void {
    if (this.closed || this.staged.has(asset.contextPath)) return;
    const files = new Map<string, ContextFile>();
    for (const f of asset.files) files.set(f, { from: path.join(asset.directory, f) });
    for (const name of asset.generatedNames) files.set(name, { content: generated[name] });
    this.stage(asset.contextPath, files, { asset });
  }

  /**
   * Sends the worker what it has not had yet (jobs go in batches; a message per context cost 15 µs
   * each): the synth calls this when every stack is resolved.
   */
  public flush(): void {
    this.jobs.flush();
  }

  /**
   * Waits for every copy and move; removes the temporary folders of contexts offered but never
   * placed. Throws the first failure (its temporary folder is gone).
   */
  public finish(): void {
    for (const s of this.staged.values()) if (!s.kept && !s.placed) this.jobs.submit([['rm', s.tmp]]);
    let failed: Error | undefined;
    try {
      failed = this.jobs.finish();
    } finally {
      this.closed = true;
      this.jobs.close();
    }
    if (failed) throw failed;
  }

  /**
   * After a failed synth: waits for the copies, then removes every temporary folder and the folders
   * made for them (when empty), so that nothing of this synth remains. Contexts already moved into
   * place stay (they are named by content hash). Does nothing after {@link finish}.
   */
  public abort(): void {
    if (this.closed) return;
    this.closed = true;
    try {
      this.jobs.finish();
    } finally {
      this.jobs.close();
      for (const s of this.staged.values()) if (!s.kept) fs.rmSync(s.tmp, { recursive: true, force: true });
      for (const dir of [...this.made].reverse()) {
        try {
          fs.rmdirSync(dir);
        } catch { /* not empty: it holds something else now */ }
      }
    }
  }

  private stage(p: string, files: ReadonlyMap<string, ContextFile>, from: { readonly group?: ContextGroup; readonly asset?: ImageAsset }): Staged {
    const target = path.join(this.outdir, p);
    const parent = path.dirname(target);
    const siblings = this.listing(parent);
    const entry = siblings?.get(path.basename(target));
    const tmp = target + tmpSuffix();
    // (A link to a folder is looked into, as before: the listing follows it.)
    const kept = entry !== undefined && (entry.isDirectory() || entry.isSymbolicLink()) && contextInPlace(target, files);
    const s: Staged = { ...from, kept, target, tmp, occupied: entry !== undefined, placed: false };
    this.staged.set(p, s);
    if (kept) return s;
    const ops: FileOp[] = [];
    // A temporary folder left by an earlier run that stopped half-way.
    if (siblings?.has(path.basename(tmp))) ops.push(['rm', tmp]);
    ops.push(['mkdir', tmp]);
    // Relative paths are '/'-separated and normalized (see Artifact): joined as strings, and each
    // folder in the context made once.
    const folders = new Set<string>();
    for (const [rel, f] of files) {
      const dest = `${tmp}/${rel}`;
      const slash = rel.lastIndexOf('/');
      if (slash > 0 && !folders.has(rel.slice(0, slash))) {
        ops.push(['mkdir', `${tmp}/${rel.slice(0, slash)}`]);
        folders.add(rel.slice(0, slash));
      }
      if (f.from !== undefined) ops.push(['copy', f.from, dest]);
      else ops.push(['write', dest, f.content ?? f.artifact.content ?? '']);
    }
    this.jobs.submit(ops, [['rm', tmp]]);
    return s;
  }

  /** The entries of a folder contexts go to; the first time, the folders on the way that are not there yet are noted. */
  private listing(dir: string): Map<string, fs.Dirent> | undefined {
    if (this.listings.has(dir)) return this.listings.get(dir);
    let listing: Map<string, fs.Dirent> | undefined;
    try {
      listing = new Map(fs.readdirSync(dir, { withFileTypes: true }).map((e) => [e.name, e]));
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e;
      // Not there: the first copy makes it, and a failed synth removes it again.
      const missing: string[] = [];
      for (let d = dir; !fs.existsSync(d) && !this.madeFolders.has(d); d = path.dirname(d)) missing.push(d);
      for (const d of missing.reverse()) {
        this.made.push(d);
        this.madeFolders.add(d);
      }
    }
    this.listings.set(dir, listing);
    return listing;
  }
}

/** Whether a context's artifacts are exactly those the image target made for `asset` (see contextArtifacts). */
function madeFrom(asset: ImageAsset, group: ContextGroup): boolean {
  return artifactAsset(group.copy) === asset && group.parts.length === asset.generatedNames.length && group.parts.every((a) => artifactAsset(a) === asset);
}

/** Whether two lists hold the same artifacts (by identity), in any order. */
function sameMembers(a: readonly Artifact[], b: readonly Artifact[]): boolean {
  if (a.length !== b.length) return false;
  const set = new Set(a);
  return b.every((x) => set.has(x));
}
