import { JsonPatch } from 'cdk8s';
import { PyfleetError } from '../../core/errors';

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

/** Keys sorted at every level, `null` and `undefined` dropped: the form cdk8s's `ApiObject.toJson` writes. */
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

/**
 * An object in cdk8s's canonical form (keys sorted, then `apiVersion`, `kind` and `metadata` moved to
 * the front), with escape-hatch JSON patches applied in between as cdk8s applies them. A patch that
 * cannot apply throws a PyfleetError naming `owner`, the construct whose hatch recorded it.
 */
export function canonicalObject(json: Record<string, unknown>, patches?: readonly JsonPatch[], owner?: string): KubeObject {
  let doc = sanitized(json) as Record<string, unknown>;
  if (patches && patches.length > 0) {
    try {
      doc = JsonPatch.apply(doc, ...patches);
    } catch (e) {
      const meta = json.metadata as { name?: string } | undefined;
      throw new PyfleetError(owner ?? '', `a JSON patch on the generated ${String(json.kind)} "${meta?.name}" cannot be applied: ${String((e as Error).message).split('\n')[0]}`,
        'patch a path that exists in the generated object (see it in the synthesized manifest), or use JsonPatch.add for a new field');
    }
  }
  const out: Record<string, unknown> = {};
  for (const k of ['apiVersion', 'kind', 'metadata', ...Object.keys(doc)]) if (k in doc && !(k in out)) out[k] = doc[k];
  return out as unknown as KubeObject;
}

/**
 * A Kubernetes object of a generated kind (`cdk8s import` classes, cdk8s-plus-27's `k8s`) from its
 * typed props, without a construct: `kubeObject(DestinationRule.GVK, toJson_DestinationRuleProps, props)`.
 */
export function kubeObject<P>(gvk: { readonly apiVersion: string; readonly kind: string }, toJson: (props: P) => unknown, props: P): KubeObject {
  return canonicalObject({ apiVersion: gvk.apiVersion, kind: gvk.kind, ...(toJson(props) as Record<string, unknown>) });
}
