import { JsonPatch } from 'cdk8s';
import { PyfleetError } from '../../core/errors';
import { toWireDocument } from './wire';

/** A Kubernetes object as the target writes it. */
export interface KubeObject {
  /** API group and version, e.g. `apps/v1`. */
  readonly apiVersion: string;
  /** Kind, e.g. `Deployment`. */
  readonly kind: string;
  /**
   * Object metadata as in Kubernetes' ObjectMeta: `name`, `namespace` (absent on cluster-scoped
   * objects such as the Namespace), and the `labels` and `annotations` maps when the object has any.
   */
  readonly metadata: { readonly name: string; readonly namespace?: string; readonly labels?: Record<string, string>; readonly annotations?: Record<string, string> };
  readonly [field: string]: unknown;
}

/** Keys sorted at every level, `null` and `undefined` dropped: the form cdk8s's `ApiObject.toJson` writes (the check's reference). */
function sanitized(value: unknown): unknown {
  if (value === null || typeof value !== 'object') return value;
  if (Array.isArray(value)) return value.map(sanitized);
  const out: Record<string, unknown> = {};
  const src = value as Record<string, unknown>;
  for (const k of Object.keys(src).sort()) {
    const v = src[k];
    if (v === undefined || v === null) continue;
    const s = sanitized(v);
    if (s !== undefined && s !== null) out[k] = s;
  }
  return out;
}

/** `apiVersion`, `kind` and `metadata` first, the rest as it is (already sorted). */
function headFirst(doc: Record<string, unknown>): KubeObject {
  const out: Record<string, unknown> = {};
  for (const k of ['apiVersion', 'kind', 'metadata']) if (k in doc) out[k] = doc[k];
  for (const k in doc) if (!(k in out)) out[k] = doc[k];
  return out as unknown as KubeObject;
}

function applyPatches(doc: Record<string, unknown>, patches: readonly JsonPatch[], owner: string | undefined): Record<string, unknown> {
  try {
    return JsonPatch.apply(doc, ...patches);
  } catch (e) {
    const meta = doc.metadata as { name?: string } | undefined;
    throw new PyfleetError(owner ?? '', `a JSON patch on the generated ${String(doc.kind)} "${meta?.name}" cannot be applied: ${String((e as Error).message).split('\n')[0]}`,
      'patch a path that exists in the generated object (see it in the synthesized manifest), or use JsonPatch.add for a new field');
  }
}

/**
 * When set (the test suite sets it), every object is also serialized with the generated `toJson_*`
 * function and the two must be identical: the fast path can never drift from the generated code.
 */
const CHECK = process.env.PYFLEET_CHECK_SERIALIZER === '1';

/**
 * A Kubernetes object of a generated kind (`cdk8s import` classes, cdk8s-plus-27's `k8s`) from its
 * typed props, without a construct: `kubeObject(DestinationRule.GVK, toJson_DestinationRuleProps, props)`.
 * JSON patches (escape hatches) recorded for it are applied to the canonical JSON, as cdk8s applies
 * `ApiObject.addJsonPatch`; a patch that cannot apply names `owner`.
 */
export function kubeObject<P extends object>(gvk: { readonly apiVersion: string; readonly kind: string }, toJson: (props: P) => unknown, props: P,
  patches?: readonly object[], owner?: string): KubeObject {
  const doc = toWireDocument(gvk, props);
  if (CHECK) {
    const reference = JSON.stringify(headFirst(sanitized({ apiVersion: gvk.apiVersion, kind: gvk.kind, ...(toJson(props) as object) }) as Record<string, unknown>));
    const fast = JSON.stringify(doc);
    if (fast !== reference) throw new Error(`pyfleet's serializer differs from the generated toJson for ${gvk.kind}:\n fast: ${fast}\n  ref: ${reference}`);
  }
  if (patches && patches.length > 0) return headFirst(applyPatches(doc, patches as readonly JsonPatch[], owner));
  return doc as unknown as KubeObject;
}
