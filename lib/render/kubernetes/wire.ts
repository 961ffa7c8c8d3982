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

/** TypeScript field name to JSON field name, where they differ (Kubernetes 1.27 and Istio 1.30 imports). */
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
};

/** Fields whose value is a free-form map (`{ [key: string]: ... }`): their keys are never renamed. */
export const WIRE_MAP_FIELDS: ReadonlySet<string> = new Set([
  // Kubernetes 1.27
  'annotations', 'binaryData', 'capacity', 'data', 'default', 'defaultRequest', 'definitions', 'dependencies', 'deprecatedTopology', 'extra',
  'hard', 'labels', 'limits', 'matchLabels', 'max', 'maxLimitRequestRatio', 'min', 'nodeSelector', 'options', 'overhead', 'parameters',
  'patternProperties', 'podFixed', 'properties', 'requests', 'selector', 'stringData', 'volumeAttributes',
  // Istio 1.30
  'add', 'headers', 'portLevelMtls', 'queryParams', 'set', 'sourceLabels', 'to', 'withoutHeaders',
]);

function wireValue(value: unknown, inMap: boolean): unknown {
  if (value === null || value === undefined) return undefined;
  if (typeof value !== 'object') return value;
  if (Array.isArray(value)) {
    const out = new Array(value.length);
    for (let i = 0; i < value.length; i++) out[i] = wireValue(value[i], false);
    return out;
  }
  if (value instanceof k8s.Quantity || value instanceof k8s.IntOrString) return value.value;
  const src = value as Record<string, unknown>;
  const entries: Array<[string, unknown]> = [];
  for (const k in src) {
    const v = src[k];
    if (v === undefined || v === null) continue;
    const w = wireValue(v, !inMap && WIRE_MAP_FIELDS.has(k)); // a map's values are structs again
    if (w === undefined) continue;
    entries.push([inMap ? k : (WIRE_RENAMES[k] ?? k), w]);
  }
  entries.sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0));
  const out: Record<string, unknown> = {};
  for (const [k, v] of entries) out[k] = v;
  return out;
}

/**
 * The JSON of typed Kubernetes (or `cdk8s import`) props: what the generated `toJson_*` function
 * gives, with `null`/`undefined` dropped and keys sorted at every level.
 */
export function toWire(props: object): Record<string, unknown> {
  return wireValue(props, false) as Record<string, unknown>;
}
