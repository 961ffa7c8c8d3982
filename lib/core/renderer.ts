import type { Stack } from './stack';

/** A file an output renderer wants written below the app's outdir. */
export interface Artifact {
  /** Path relative to the outdir, with '/' separators. */
  readonly path: string;
  /** Text content. Exactly one of `content` and `copyFrom` is set. */
  readonly content?: string;
  /** Copy this directory's files (already filtered) to `path`. */
  readonly copyFrom?: { readonly directory: string; readonly files: readonly string[] };
}

/** What rendering one stack gave, per renderer. */
export interface StackOutput {
  readonly stack: Stack;
  /** Renderer name to its in-memory result (e.g. `kubernetes` -> manifest objects, `compose` -> compose document). */
  readonly results: Record<string, unknown>;
  readonly artifacts: Artifact[];
}

/**
 * One output target. Renderers read the model; none imports another. `prepare` may add cdk8s
 * constructs to the stack's chart (it runs once per stack, before any `render`); `render` returns the
 * in-memory result and the files to write.
 */
export interface Renderer {
  readonly name: string;
  /** Order: lower first. Kubernetes manifests are collected last, after every renderer added its objects. */
  readonly order: number;
  /** Cross-object checks specific to this target; return problems instead of throwing. */
  validate?(stack: Stack): Error[];
  prepare?(stack: Stack): void;
  render?(stack: Stack, results: Record<string, unknown>): { result?: unknown; artifacts?: Artifact[] };
}

const registry: Renderer[] = [];

/** Registers an output target. pyfleet registers its own; a new target is a new module calling this. */
export function registerRenderer(renderer: Renderer): void {
  const existing = registry.findIndex((r) => r.name === renderer.name);
  if (existing >= 0) registry.splice(existing, 1);
  registry.push(renderer);
  registry.sort((a, b) => a.order - b.order || a.name.localeCompare(b.name));
}

/** The registered renderers, in order. */
export function renderers(): readonly Renderer[] {
  return registry;
}
