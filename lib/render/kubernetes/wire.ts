import { k8s } from 'cdk8s-plus-27';

// Typed props to the JSON a Kubernetes API server reads, in one pass. The generated `toJson_*`
// functions of `cdk8s import` (and cdk8s-plus-27's `k8s`) do the same field by field, but rebuild
// every object with a spread per key; at thousands of objects that, and the key sort cdk8s does
// after it, was most of the Kubernetes target's time. This walk does what they do together:
//
// - drops `undefined` and `null`;
// - turns `IntOrString` and `Quantity` into their `value`;
// - renames the few fields whose JSON name is not the TypeScript one (`setHostnameAsFqdn` is
//   `setHostnameAsFQDN`), except inside free-form maps (labels, annotations, resource lists...),
//   whose keys are the user's;
// - sorts keys at every level, as cdk8s's `ApiObject.toJson` does.
//
// Tests run every object the target makes through both this and the generated serializer and fail on
// any difference (PYFLEET_CHECK_SERIALIZER), and check both tables below against the generated
// type declarations, so an upgrade of the generated code that adds a rename or a map cannot drift.

/** TypeScript field name to JSON field name, where they differ (Kubernetes 1.27, Istio 1.30 and prometheus-operator 0.87 imports). */
export const WIRE_RENAMES: Readonly<Record<string, string>> = {
  clientIp: 'clientIP', clusterIp: 'clusterIP', datasetUuid: 'datasetUUID', diskUri: 'diskURI', downwardApi: 'downwardAPI',
  externalId: 'externalID', hostIp: 'hostIP', hostIpc: 'hostIPC', hostPid: 'hostPID', insecureSkipTlsVerify: 'insecureSkipTLSVerify',
  loadBalancerIp: 'loadBalancerIP', nodeId: 'nodeID', nonResourceUrLs: 'nonResourceURLs', openApiv3Schema: 'openAPIV3Schema', pdId: 'pdID',
  podCidRs: 'podCIDRs', podCidr: 'podCIDR', providerId: 'providerID', ref: '$ref', scaleIo: 'scaleIO', schema: '$schema',
  setHostnameAsFqdn: 'setHostnameAsFQDN', storagePolicyId: 'storagePolicyID', targetCpuUtilizationPercentage: 'targetCPUUtilizationPercentage',
  targetWwNs: 'targetWWNs', volumeId: 'volumeID',
  xKubernetesEmbeddedResource: 'x-kubernetes-embedded-resource', xKubernetesIntOrString: 'x-kubernetes-int-or-string',
  xKubernetesListMapKeys: 'x-kubernetes-list-map-keys', xKubernetesListType: 'x-kubernetes-list-type', xKubernetesMapType: 'x-kubernetes-map-type',
  xKubernetesPreserveUnknownFields: 'x-kubernetes-preserve-unknown-fields', xKubernetesValidations: 'x-kubernetes-validations',
  // Istio
  consecutive5XxErrors: 'consecutive5xxErrors', mirrorPercent: 'mirror_percent',
  // prometheus-operator 0.87
  convertClassicHistogramsToNhcb: 'convertClassicHistogramsToNHCB',
};

/** Fields whose value is a free-form map (`{ [key: string]: ... }`): their keys are never renamed. */
export const WIRE_MAP_FIELDS: ReadonlySet<string> = new Set([
  // Kubernetes 1.27
  'annotations', 'binaryData', 'capacity', 'data', 'default', 'defaultRequest', 'definitions', 'dependencies', 'deprecatedTopology', 'extra',
  'hard', 'labels', 'limits', 'matchLabels', 'max', 'maxLimitRequestRatio', 'min', 'nodeSelector', 'options', 'overhead', 'parameters',
  'patternProperties', 'podFixed', 'properties', 'requests', 'selector', 'stringData', 'volumeAttributes',
  // Istio 1.30
  'add', 'headers', 'portLevelMtls', 'queryParams', 'set', 'sourceLabels', 'to', 'withoutHeaders',
  // prometheus-operator 0.87
  'endpointParams', 'params', 'proxyConnectHeader',
]);

// Looked up once: `k8s` is a lazily loaded namespace.
const Quantity = k8s.Quantity;
const IntOrString = k8s.IntOrString;
// A Map, so that a field named like an Object.prototype member ("constructor") is never looked up there.
const RENAMES = new Map(Object.entries(WIRE_RENAMES));

/**
 * For a list of field names: the fields in JSON order, each as (TypeScript name, JSON name, whether
 * its value is a free-form map). Objects made from the same literal share their field names, so the
 * plan is worked out once per shape instead of sorting every object's keys. Plans are found by
 * walking a tree of the field names one by one (names are interned strings, so nothing is built or
 * hashed anew per object, as a joined key would be).
 */
interface PlanNode {
  plan?: ReadonlyArray<string | boolean>;
  readonly next: Map<string, PlanNode>;
}
let structPlans: PlanNode = { next: new Map() };
let mapPlans: PlanNode = { next: new Map() };
let planNodes = 0;

function makePlan(keys: readonly string[], inMap: boolean): ReadonlyArray<string | boolean> {
  const renamed = inMap ? keys : keys.map((k) => RENAMES.get(k) ?? k);
  const order = renamed.map((_, i) => i).sort((a, b) => (renamed[a] < renamed[b] ? -1 : renamed[a] > renamed[b] ? 1 : 0));
  // A map's values are structs again.
  return order.flatMap((i) => [keys[i], renamed[i], !inMap && WIRE_MAP_FIELDS.has(keys[i])]);
}

function planOf(keys: readonly string[], inMap: boolean): ReadonlyArray<string | boolean> {
  let node = inMap ? mapPlans : structPlans;
  for (let i = 0; i < keys.length; i++) {
    let child = node.next.get(keys[i]);
    if (child === undefined) {
      // Maps with user keys make new shapes: keep the tree bounded.
      if (++planNodes > 200_000) {
        structPlans = { next: new Map() };
        mapPlans = { next: new Map() };
        planNodes = 0;
        return makePlan(keys, inMap);
      }
      child = { next: new Map() };
      node.next.set(keys[i], child);
    }
    node = child;
  }
  return node.plan ?? (node.plan = makePlan(keys, inMap));
}

/**
 * The plan of an object's own keys, found by walking the tree with `for...in` (which reads V8's enum
 * cache) rather than with a new array of the keys per object; a shape not seen yet is planned from
 * `Object.keys`. An object with inherited enumerable keys takes the array path, so `for...in`
 * yielding them can never mislead.
 */
function planOfObject(src: Record<string, unknown>, inMap: boolean): ReadonlyArray<string | boolean> {
  if (Object.getPrototypeOf(src) === Object.prototype) {
    let node: PlanNode | undefined = inMap ? mapPlans : structPlans;
    for (const k in src) {
      node = node.next.get(k);
      if (node === undefined) break;
    }
    if (node?.plan !== undefined) return node.plan;
  }
  return planOf(Object.keys(src), inMap);
}

function wireValue(value: unknown, inMap: boolean): unknown {
  if (value === null || value === undefined) return undefined;
  if (typeof value !== 'object') return value;
  if (Array.isArray(value)) {
    const out = new Array(value.length);
    for (let i = 0; i < value.length; i++) out[i] = wireValue(value[i], false);
    return out;
  }
  if (value instanceof Quantity || value instanceof IntOrString) return value.value;
  const src = value as Record<string, unknown>;
  const plan = planOfObject(src, inMap);
  const out: Record<string, unknown> = {};
  for (let j = 0; j < plan.length; j += 3) {
    const v = src[plan[j] as string];
    if (v === undefined || v === null) continue;
    const w = wireValue(v, plan[j + 2] as boolean);
    if (w !== undefined) out[plan[j + 1] as string] = w;
  }
  return out;
}

/**
 * The JSON of typed Kubernetes (or `cdk8s import`) props: what the generated `toJson_*` function
 * gives, with `null`/`undefined` dropped and keys sorted at every level.
 */
export function toWire(props: object): Record<string, unknown> {
  return wireValue(props, false) as Record<string, unknown>;
}

/**
 * A whole object of a generated kind: {@link toWire} of its props, with `apiVersion` and `kind` from
 * `gvk` and then `metadata` first, as cdk8s writes them, built in that order (a props field of the
 * same JSON name as `apiVersion` or `kind` yields to `gvk`, as in cdk8s).
 */
export function toWireDocument(gvk: { readonly apiVersion: string; readonly kind: string }, props: object): Record<string, unknown> {
  const src = props as Record<string, unknown>;
  const out: Record<string, unknown> = { apiVersion: gvk.apiVersion, kind: gvk.kind };
  const meta = src.metadata;
  if (meta !== undefined && meta !== null) out.metadata = wireValue(meta, false);
  const plan = planOfObject(src, false);
  for (let j = 0; j < plan.length; j += 3) {
    const name = plan[j + 1] as string;
    if (name === 'metadata' || name === 'apiVersion' || name === 'kind') continue;
    const v = src[plan[j] as string];
    if (v === undefined || v === null) continue;
    const w = wireValue(v, plan[j + 2] as boolean);
    if (w !== undefined) out[name] = w;
  }
  return out;
}
