import type { IConstruct } from 'constructs';
import type { Hatches, RecordedPatch } from './stack';

// Storage of escape-hatch changes, keyed by the construct they were asked on. The per-target hatch
// APIs (Kubernetes.of, Compose.of) record here; resolving copies them into the model; the targets
// apply them at render time. Nothing is applied to the construct tree.

interface Mutable {
  kubernetes: Record<string, RecordedPatch[]>;
  compose: Array<{ path: string; value: unknown; remove: boolean }>;
}

const store = new WeakMap<IConstruct, Mutable>();

function entry(c: IConstruct): Mutable {
  let e = store.get(c);
  if (!e) {
    e = { kubernetes: {}, compose: [] };
    store.set(c, e);
  }
  return e;
}

/** Records Kubernetes JSON patches on the object `role` of a construct. */
export function recordKubernetesPatches(c: IConstruct, role: string, patches: readonly RecordedPatch[]): void {
  const e = entry(c);
  (e.kubernetes[role] ??= []).push(...patches);
}

/** Records a compose override on a construct's compose service. */
export function recordComposeOverride(c: IConstruct, path: string, value: unknown, remove: boolean): void {
  entry(c).compose.push({ path, value, remove });
}

/** A frozen copy of what was recorded on `c`. */
export function hatchesOf(c: IConstruct): Hatches {
  const e = store.get(c);
  if (!e) return EMPTY;
  const kubernetes: Record<string, readonly RecordedPatch[]> = {};
  for (const [k, v] of Object.entries(e.kubernetes)) kubernetes[k] = Object.freeze([...v]); // the patches themselves are cdk8s JsonPatch values, kept as they are
  return Object.freeze({ kubernetes: Object.freeze(kubernetes), compose: Object.freeze(e.compose.map((o) => Object.freeze({ ...o }))) });
}

const EMPTY: Hatches = Object.freeze({ kubernetes: Object.freeze({}), compose: Object.freeze([]) });
