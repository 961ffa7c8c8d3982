// An independent check of network segmentation: who can open a connection to whom, on which port,
// computed from the synthesized output alone (parsed Kubernetes manifests and compose documents),
// written apart from the renderers (nothing here imports lib/). Each engine's semantics are
// implemented from its documentation:
//
// - Kubernetes NetworkPolicy (networking.k8s.io/v1): a pod is isolated for a direction once a policy
//   of that type selects it; then only the union of the selecting policies' rules admits traffic;
//   a connection needs the source's egress and the destination's ingress. Peers are podSelector
//   (policy's namespace), namespaceSelector, both (AND) or ipBlock (cidr minus except); ports match by
//   protocol (default TCP), number, range (endPort) or name (resolved against the destination pod's
//   container ports). policyTypes defaults to Ingress, plus Egress when there are egress rules.
//   Traffic from the internet reaches a pod only through a LoadBalancer or NodePort Service that
//   selects it (on its target ports). Node traffic (kubelet probes) is out of scope: implementations
//   always admit it.
// - Istio (security.istio.io/v1): a port listed in the pod's `traffic.sidecar.istio.io/excludeInboundPorts`
//   annotation is not intercepted by the sidecar, so Istio admits everything on it; otherwise PeerAuthentication decides whether plain text is accepted
//   (workload-level with port-level overrides, then namespace-level, else PERMISSIVE); then
//   AuthorizationPolicies in the workload's namespace: a matching DENY denies; with no ALLOW policy
//   the request is allowed; otherwise an ALLOW rule must match (an ALLOW policy without rules matches
//   nothing). Fields this evaluator does not implement are refused, never ignored.
// - Docker networks (compose): containers on a common network reach each other on every port and
//   resolve each other's names and aliases; only a non-internal network gives outside access and
//   published ports; `network_mode: host` shares the host's interfaces (no segmentation at all);
//   `none` has no network; a service with neither `networks` nor `network_mode` joins `default`.
//
// A flow is written `<from> -> <to> <PROTOCOL>/<port>` (`*` for every port on compose, where a
// network does not filter ports). Pods are `<namespace>/<Deployment or StatefulSet>`; the world outside the stack is
// a fixed set of well-known workloads (below) and `internet`.

type Labels = Record<string, string>;

/** One TCP/UDP port a workload listens on. */
export interface ListenPort {
  readonly name?: string;
  readonly port: number;
  readonly protocol: 'TCP' | 'UDP' | 'SCTP';
}

/** A pod (one per Deployment: replicas are alike) or a workload outside the stack. */
export interface Workload {
  readonly id: string;
  readonly namespace: string;
  readonly labels: Labels;
  readonly ip: string;
  readonly ports: readonly ListenPort[];
  readonly serviceAccount: string;
  /** In the mesh (has a sidecar). */
  readonly mesh: boolean;
  /** Inbound ports its sidecar does not intercept (`traffic.sidecar.istio.io/excludeInboundPorts`): Istio sees no traffic to them. */
  readonly excludedInbound?: readonly number[];
}

/** The internet as one endpoint: an address outside every cluster range, serving HTTP and HTTPS. */
export const INTERNET = { id: 'internet', ip: '203.0.113.10', ports: [{ port: 80, protocol: 'TCP' }, { port: 443, protocol: 'TCP' }] as ListenPort[] };

/** Well-known workloads of a cluster outside the stack's namespace. */
export const WORLD: { readonly namespaces: ReadonlyArray<{ name: string; labels: Labels }>; readonly workloads: readonly Workload[] } = {
  namespaces: [{ name: 'kube-system', labels: {} }, { name: 'istio-system', labels: {} }, { name: 'monitoring', labels: {} }, { name: 'other', labels: { 'istio-injection': 'enabled' } }],
  workloads: [
    { id: 'kube-system/kube-dns', namespace: 'kube-system', labels: { 'k8s-app': 'kube-dns' }, ip: '10.96.0.10', serviceAccount: 'coredns', mesh: false,
      ports: [{ name: 'dns', port: 53, protocol: 'UDP' }, { name: 'dns-tcp', port: 53, protocol: 'TCP' }, { name: 'metrics', port: 9153, protocol: 'TCP' }] },
    { id: 'istio-system/istiod', namespace: 'istio-system', labels: { app: 'istiod', istio: 'pilot' }, ip: '10.96.1.10', serviceAccount: 'istiod', mesh: false,
      ports: [{ name: 'grpc-xds', port: 15010, protocol: 'TCP' }, { name: 'https-dns', port: 15012, protocol: 'TCP' }, { name: 'http-monitoring', port: 15014, protocol: 'TCP' }, { name: 'https-webhook', port: 15017, protocol: 'TCP' }] },
    { id: 'istio-system/istio-ingressgateway', namespace: 'istio-system', labels: { app: 'istio-ingressgateway', istio: 'ingressgateway' }, ip: '10.96.1.20',
      serviceAccount: 'istio-ingressgateway-service-account', mesh: true, ports: [{ name: 'http2', port: 8080, protocol: 'TCP' }, { name: 'https', port: 8443, protocol: 'TCP' }] },
    // kube-prometheus-stack's Prometheus, as prometheus-operator labels its pods (no sidecar).
    { id: 'monitoring/prometheus', namespace: 'monitoring', labels: { 'app.kubernetes.io/name': 'prometheus', 'app.kubernetes.io/managed-by': 'prometheus-operator', 'prometheus': 'kube-prometheus-stack-prometheus' },
      ip: '10.96.3.10', serviceAccount: 'kube-prometheus-stack-prometheus', mesh: false, ports: [{ name: 'http-web', port: 9090, protocol: 'TCP' }] },
    { id: 'other/client', namespace: 'other', labels: { app: 'client' }, ip: '10.96.2.10', serviceAccount: 'default', mesh: true, ports: [{ name: 'http', port: 8080, protocol: 'TCP' }] },
  ],
};

/** Label selector semantics (matchLabels AND matchExpressions); an empty selector selects everything. */
export function selects(selector: any, labels: Labels): boolean {
  if (!selector) return true;
  for (const [k, v] of Object.entries<string>(selector.matchLabels ?? {})) if (labels[k] !== v) return false;
  for (const e of selector.matchExpressions ?? []) {
    const has = Object.prototype.hasOwnProperty.call(labels, e.key);
    switch (e.operator) {
      case 'In': if (!has || !e.values.includes(labels[e.key])) return false; break;
      case 'NotIn': if (has && e.values.includes(labels[e.key])) return false; break;
      case 'Exists': if (!has) return false; break;
      case 'DoesNotExist': if (has) return false; break;
      default: throw new Error(`unknown selector operator ${e.operator}`);
    }
  }
  return true;
}

function ipToInt(ip: string): number {
  const parts = ip.split('.').map(Number);
  if (parts.length !== 4 || parts.some((p) => !Number.isInteger(p) || p < 0 || p > 255)) throw new Error(`not an IPv4 address: ${ip}`);
  return ((parts[0] << 24) >>> 0) + (parts[1] << 16) + (parts[2] << 8) + parts[3];
}

/** Whether an IPv4 address lies in a CIDR block. */
export function inCidr(ip: string, cidr: string): boolean {
  const [base, bits] = cidr.split('/');
  const n = Number(bits ?? 32);
  if (base.includes(':')) return false; // IPv6 blocks never contain the IPv4 endpoints here
  const mask = n === 0 ? 0 : (~0 << (32 - n)) >>> 0;
  return ((ipToInt(ip) & mask) >>> 0) === ((ipToInt(base) & mask) >>> 0);
}

// --- Kubernetes ---------------------------------------------------------------------------------

/** An endpoint of a flow: a workload, or the internet. */
type Endpoint = ({ kind: 'pod' } & Workload) | { kind: 'internet'; id: string; ip: string; ports: readonly ListenPort[] };

/** The cluster as the manifests describe it, plus the world. */
export interface Cluster {
  readonly namespaces: Map<string, Labels>;
  readonly pods: Workload[];
  readonly networkPolicies: any[];
  readonly services: any[];
  readonly peerAuthentications: any[];
  readonly authorizationPolicies: any[];
  /** Namespaces the manifests define (the stack's). */
  readonly own: Set<string>;
}

/** Builds the cluster from parsed manifests: one representative pod per Deployment, with the world beside it. */
export function clusterOf(objects: readonly any[]): Cluster {
  const namespaces = new Map<string, Labels>();
  const own = new Set<string>();
  for (const ns of WORLD.namespaces) namespaces.set(ns.name, { ...ns.labels, 'kubernetes.io/metadata.name': ns.name });
  for (const o of objects.filter((x) => x.kind === 'Namespace')) {
    // The API server labels every namespace with its name (Kubernetes 1.22+).
    namespaces.set(o.metadata.name, { ...(o.metadata.labels ?? {}), 'kubernetes.io/metadata.name': o.metadata.name });
    own.add(o.metadata.name);
  }
  const pods: Workload[] = [...WORLD.workloads];
  // Deployments and StatefulSets (backing services): one representative pod each.
  objects.filter((o) => o.kind === 'Deployment' || o.kind === 'StatefulSet').forEach((d, i) => {
    const ns = d.metadata.namespace ?? 'default';
    if (!namespaces.has(ns)) throw new Error(`${d.kind} ${d.metadata.name} is in namespace ${ns}, which the manifests do not create`);
    const spec = d.spec.template.spec;
    if (spec.hostNetwork) throw new Error(`${d.kind} ${d.metadata.name} uses the host network, which this evaluator does not model`);
    const ports: ListenPort[] = [];
    for (const c of [...(spec.containers ?? [])]) for (const p of c.ports ?? []) ports.push({ name: p.name, port: p.containerPort, protocol: p.protocol ?? 'TCP' });
    pods.push({
      id: `${ns}/${d.metadata.name}`, namespace: ns, labels: { ...(d.spec.template.metadata?.labels ?? {}) }, ip: `10.1.${Math.floor(i / 250)}.${(i % 250) + 1}`,
      ports, serviceAccount: spec.serviceAccountName ?? 'default', mesh: namespaces.get(ns)!['istio-injection'] === 'enabled',
      excludedInbound: String(d.spec.template.metadata?.annotations?.['traffic.sidecar.istio.io/excludeInboundPorts'] ?? '').split(',').filter((x) => x.trim() !== '').map((x) => {
        const n = Number(x.trim());
        if (!Number.isInteger(n)) throw new Error(`excludeInboundPorts of ${d.metadata.name} has "${x}", not a port (ranges and * are not implemented by this evaluator)`);
        return n;
      }),
    });
  });
  const of = (kind: string, apiVersionPrefix: string): any[] => objects.filter((o) => o.kind === kind && String(o.apiVersion).startsWith(apiVersionPrefix));
  return {
    namespaces, pods, own,
    networkPolicies: of('NetworkPolicy', 'networking.k8s.io/'),
    services: of('Service', 'v1'),
    peerAuthentications: of('PeerAuthentication', 'security.istio.io/'),
    authorizationPolicies: of('AuthorizationPolicy', 'security.istio.io/'),
  };
}

function policyTypes(np: any): string[] {
  if (Array.isArray(np.spec.policyTypes) && np.spec.policyTypes.length > 0) return np.spec.policyTypes;
  // API server defaulting: Ingress always; Egress when the policy has egress rules.
  return (np.spec.egress ?? []).length > 0 ? ['Ingress', 'Egress'] : ['Ingress'];
}

/** Whether a NetworkPolicy peer (in `policyNamespace`) matches an endpoint. */
function peerMatches(cluster: Cluster, peer: any, policyNamespace: string, e: Endpoint): boolean {
  const keys = Object.keys(peer);
  if (keys.some((k) => !['podSelector', 'namespaceSelector', 'ipBlock'].includes(k))) throw new Error(`unknown NetworkPolicy peer field in ${JSON.stringify(peer)}`);
  if (peer.ipBlock) {
    if (peer.podSelector || peer.namespaceSelector) throw new Error('ipBlock cannot be combined with selectors');
    return inCidr(e.ip, peer.ipBlock.cidr) && !(peer.ipBlock.except ?? []).some((x: string) => inCidr(e.ip, x));
  }
  if (e.kind !== 'pod') return false; // selectors select pods only
  if (peer.namespaceSelector !== undefined) {
    if (!selects(peer.namespaceSelector, cluster.namespaces.get(e.namespace) ?? {})) return false;
  } else if (e.namespace !== policyNamespace) {
    return false;
  }
  return peer.podSelector === undefined || selects(peer.podSelector, e.labels);
}

/** Whether a rule's `ports` admit `protocol/port` on destination `dst` (named ports resolve on it). */
function portsMatch(ports: any[] | undefined, dst: Endpoint, protocol: string, port: number): boolean {
  if (!ports || ports.length === 0) return true;
  return ports.some((p) => {
    if ((p.protocol ?? 'TCP') !== protocol) return false;
    if (p.port === undefined) return true;
    if (typeof p.port === 'string') {
      if (/^\d+$/.test(p.port)) throw new Error(`port "${p.port}" is a numeric string; the API takes a number or an IANA name`);
      if (p.endPort !== undefined) throw new Error('endPort needs a numeric port');
      return dst.kind === 'pod' && dst.ports.some((lp) => lp.name === p.port && lp.protocol === protocol && lp.port === port);
    }
    return p.endPort !== undefined ? port >= p.port && port <= p.endPort : port === p.port;
  });
}

function selecting(cluster: Cluster, pod: Workload, type: 'Ingress' | 'Egress'): any[] {
  return cluster.networkPolicies.filter((np) => (np.metadata.namespace ?? 'default') === pod.namespace && selects(np.spec.podSelector ?? {}, pod.labels) && policyTypes(np).includes(type));
}

function ingressAllowed(cluster: Cluster, dst: Workload, src: Endpoint, protocol: string, port: number): boolean {
  const policies = selecting(cluster, dst, 'Ingress');
  if (policies.length === 0) return true;
  const d: Endpoint = { kind: 'pod', ...dst };
  return policies.some((np) => (np.spec.ingress ?? []).some((r: any) =>
    (!r.from || r.from.length === 0 || r.from.some((peer: any) => peerMatches(cluster, peer, np.metadata.namespace, src)))
    && portsMatch(r.ports, d, protocol, port)));
}

function egressAllowed(cluster: Cluster, src: Workload, dst: Endpoint, protocol: string, port: number): boolean {
  const policies = selecting(cluster, src, 'Egress');
  if (policies.length === 0) return true;
  return policies.some((np) => (np.spec.egress ?? []).some((r: any) =>
    (!r.to || r.to.length === 0 || r.to.some((peer: any) => peerMatches(cluster, peer, np.metadata.namespace, dst)))
    && portsMatch(r.ports, dst, protocol, port)));
}

/** Ports of a pod the internet can reach at all: target ports of LoadBalancer/NodePort Services selecting it. */
function publiclyReachable(cluster: Cluster, pod: Workload): Set<string> {
  const out = new Set<string>();
  for (const s of cluster.services) {
    if (!['LoadBalancer', 'NodePort'].includes(s.spec.type) || (s.metadata.namespace ?? 'default') !== pod.namespace || !s.spec.selector) continue;
    if (!selects({ matchLabels: s.spec.selector }, pod.labels)) continue;
    for (const p of s.spec.ports ?? []) {
      const protocol = p.protocol ?? 'TCP';
      const target = p.targetPort ?? p.port;
      const lp = typeof target === 'string' ? pod.ports.find((x) => x.name === target && x.protocol === protocol) : pod.ports.find((x) => x.port === target && x.protocol === protocol);
      if (lp) out.add(`${protocol}/${lp.port}`);
    }
  }
  return out;
}

function flow(from: string, to: string, protocol: string, port: number | '*'): string {
  return `${from} -> ${to} ${protocol}/${port}`;
}

function endpoints(cluster: Cluster): Endpoint[] {
  return [...cluster.pods.map((p) => ({ kind: 'pod' as const, ...p })), { kind: 'internet' as const, ...INTERNET }];
}

/**
 * Every connection the NetworkPolicies allow that starts or ends in a namespace the manifests
 * create: (source, destination, port) for every port the destination listens on.
 */
export function networkPolicyFlows(objects: readonly any[]): string[] {
  const cluster = clusterOf(objects);
  const all = endpoints(cluster);
  const out: string[] = [];
  const ownEnd = (e: Endpoint): boolean => e.kind === 'pod' && cluster.own.has(e.namespace);
  for (const src of all) {
    for (const dst of all) {
      if (src.id === dst.id || (!ownEnd(src) && !ownEnd(dst))) continue;
      if (src.kind === 'internet' && dst.kind === 'internet') continue;
      const reachable = src.kind === 'internet' && dst.kind === 'pod' ? publiclyReachable(cluster, dst) : undefined;
      for (const lp of dst.ports) {
        if (reachable && !reachable.has(`${lp.protocol}/${lp.port}`)) continue;
        const egress = src.kind !== 'pod' || egressAllowed(cluster, src, dst, lp.protocol, lp.port);
        const ingress = dst.kind !== 'pod' || ingressAllowed(cluster, dst, src, lp.protocol, lp.port);
        if (egress && ingress) out.push(flow(src.id, dst.id, lp.protocol, lp.port));
      }
    }
  }
  return out.sort();
}

// --- Istio --------------------------------------------------------------------------------------

const TRUST_DOMAIN = 'cluster.local';

function principalOf(e: Endpoint): string | undefined {
  return e.kind === 'pod' && e.mesh ? `${TRUST_DOMAIN}/ns/${e.namespace}/sa/${e.serviceAccount}` : undefined;
}

/** Istio's string match: exact, `prefix*`, `*suffix` or `*`. */
function istioMatch(pattern: string, value: string | undefined): boolean {
  if (value === undefined) return false;
  if (pattern === '*') return true;
  if (pattern.endsWith('*')) return value.startsWith(pattern.slice(0, -1));
  if (pattern.startsWith('*')) return value.endsWith(pattern.slice(1));
  return pattern === value;
}

/** The mTLS mode that applies to a workload's port. */
function mtlsMode(cluster: Cluster, dst: Workload, port: number): string {
  const inNs = cluster.peerAuthentications.filter((pa) => pa.metadata.namespace === dst.namespace);
  const workload = inNs.filter((pa) => pa.spec?.selector && selects(pa.spec.selector, dst.labels));
  if (workload.length > 1) throw new Error(`two workload PeerAuthentications select ${dst.id}; Istio would pick the oldest`);
  const namespaceWide = inNs.filter((pa) => !pa.spec?.selector);
  if (namespaceWide.length > 1) throw new Error(`two namespace-wide PeerAuthentications in ${dst.namespace}`);
  const mode = (pa: any, withPorts: boolean): string | undefined => {
    const m = withPorts ? pa?.spec?.portLevelMtls?.[String(port)]?.mode : undefined;
    if (m && m !== 'UNSET') return m;
    const w = pa?.spec?.mtls?.mode;
    return w && w !== 'UNSET' ? w : undefined;
  };
  return mode(workload[0], true) ?? mode(namespaceWide[0], false) ?? 'PERMISSIVE';
}

const SOURCE_FIELDS = new Set(['principals', 'namespaces', 'ipBlocks']);
const OPERATION_FIELDS = new Set(['ports', 'notPorts']);

function sourceMatches(source: any, src: Endpoint): boolean {
  for (const k of Object.keys(source)) if (!SOURCE_FIELDS.has(k)) throw new Error(`AuthorizationPolicy source field ${k} is not implemented by this evaluator`);
  const principal = principalOf(src);
  if (source.principals && !source.principals.some((p: string) => istioMatch(p, principal))) return false;
  // `source.namespace` is derived from the peer certificate: plain text has none.
  if (source.namespaces && !source.namespaces.some((n: string) => istioMatch(n, principal ? principal.split('/')[2] : undefined))) return false;
  if (source.ipBlocks && !source.ipBlocks.some((c: string) => inCidr(src.ip, c.includes('/') ? c : `${c}/32`))) return false;
  return true;
}

function operationMatches(op: any, port: number): boolean {
  for (const k of Object.keys(op)) if (!OPERATION_FIELDS.has(k)) throw new Error(`AuthorizationPolicy operation field ${k} is not implemented by this evaluator`);
  if (op.ports && !op.ports.includes(String(port))) return false;
  if (op.notPorts && op.notPorts.includes(String(port))) return false;
  return true;
}

function ruleMatches(rule: any, src: Endpoint, port: number): boolean {
  if (rule.when) throw new Error('AuthorizationPolicy `when` is not implemented by this evaluator');
  const from = !rule.from || rule.from.some((f: any) => sourceMatches(f.source ?? {}, src));
  const to = !rule.to || rule.to.some((t: any) => operationMatches(t.operation ?? {}, port));
  return from && to;
}

function authorized(cluster: Cluster, dst: Workload, src: Endpoint, port: number): boolean {
  const policies = cluster.authorizationPolicies.filter((ap) => ap.metadata.namespace === dst.namespace && (!ap.spec?.selector || selects(ap.spec.selector, dst.labels)));
  for (const ap of policies) {
    if (ap.spec?.targetRef || ap.spec?.targetRefs || ap.spec?.provider) throw new Error('AuthorizationPolicy targetRef/provider is not implemented by this evaluator');
  }
  const action = (ap: any): string => ap.spec?.action ?? 'ALLOW';
  if (policies.some((ap) => action(ap) === 'CUSTOM')) throw new Error('CUSTOM AuthorizationPolicies are not implemented by this evaluator');
  if (policies.some((ap) => action(ap) === 'DENY' && (ap.spec.rules ?? []).some((r: any) => ruleMatches(r, src, port)))) return false;
  const allow = policies.filter((ap) => action(ap) === 'ALLOW');
  if (allow.length === 0) return true;
  return allow.some((ap) => (ap.spec?.rules ?? []).some((r: any) => ruleMatches(r, src, port)));
}

/**
 * Every request Istio admits at a sidecar of the stack's namespaces (mTLS mode, then
 * AuthorizationPolicies), from every workload and the internet, on every port the pod listens on.
 * Physical reachability is the NetworkPolicies' part; this is the identity layer alone.
 */
export function istioFlows(objects: readonly any[]): string[] {
  const cluster = clusterOf(objects);
  const out: string[] = [];
  for (const dst of cluster.pods.filter((p) => cluster.own.has(p.namespace) && p.mesh)) {
    for (const src of endpoints(cluster)) {
      if (src.id === dst.id) continue;
      for (const lp of dst.ports) {
        // A port the sidecar does not intercept bypasses Istio: neither mTLS nor any policy applies.
        if (dst.excludedInbound?.includes(lp.port)) {
          out.push(flow(src.id, dst.id, lp.protocol, lp.port));
          continue;
        }
        const plain = principalOf(src) === undefined;
        if (plain && mtlsMode(cluster, dst, lp.port) === 'STRICT') continue;
        if (authorized(cluster, dst, src, lp.port)) out.push(flow(src.id, dst.id, lp.protocol, lp.port));
      }
    }
  }
  return out.sort();
}

// --- Compose ------------------------------------------------------------------------------------

/** What a compose project's networks allow. */
export interface ComposeReachability {
  /** Flows: container to container and to the internet on every port (`*` / `*`), the internet to published ports (`TCP/<port>`). */
  readonly flows: string[];
  /** Names each compose service's containers resolve (Docker's DNS on their networks), sorted. */
  readonly resolves: Record<string, string[]>;
  /** Networks (compose keys) each compose service joins. */
  readonly networks: Record<string, string[]>;
}

function publishedPorts(def: any): number[] {
  return (def.ports ?? []).map((p: any) => {
    if (typeof p === 'object') return Number(p.published);
    const parts = String(p).split('/')[0].split(':');
    if (parts.length < 2) throw new Error(`port "${p}" publishes a random host port; the evaluator needs a fixed one`);
    return Number(parts[parts.length - 2]);
  });
}

/** Evaluates a parsed compose document. */
export function composeReachability(doc: any): ComposeReachability {
  const services: Record<string, any> = doc.services ?? {};
  const declared: Record<string, any> = { ...(doc.networks ?? {}) };
  const attachments = new Map<string, Map<string, string[]>>(); // service -> network -> aliases
  const mode = new Map<string, string>();
  for (const [name, def] of Object.entries<any>(services)) {
    if (def.network_mode !== undefined) {
      if (!['host', 'none'].includes(def.network_mode)) throw new Error(`network_mode ${def.network_mode} is not implemented by this evaluator`);
      if (def.networks) throw new Error(`${name}: network_mode and networks together`);
      mode.set(name, def.network_mode);
      continue;
    }
    const nets = new Map<string, string[]>();
    const entries: Array<[string, any]> = def.networks === undefined ? [['default', null]]
      : Array.isArray(def.networks) ? def.networks.map((n: string) => [n, null]) : Object.entries(def.networks);
    for (const [n, v] of entries) {
      if (n === 'default' && !(n in declared)) declared.default = { driver: 'bridge' }; // compose creates it
      if (!(n in declared)) throw new Error(`${name} joins network ${n}, which the document does not declare`);
      nets.set(n, [...(v?.aliases ?? [])]);
    }
    mode.set(name, 'bridge');
    attachments.set(name, nets);
  }
  const names = (svc: string, net: string): string[] => [svc, ...(services[svc].container_name ? [services[svc].container_name] : []), ...(attachments.get(svc)?.get(net) ?? [])];
  const outside = (svc: string): boolean => mode.get(svc) === 'host' || [...(attachments.get(svc)?.keys() ?? [])].some((n) => declared[n]?.internal !== true && declared[n]?.external !== true);
  const flows = new Set<string>();
  const resolves: Record<string, Set<string>> = {};
  const svcNames = Object.keys(services);
  for (const a of svcNames) {
    resolves[a] = new Set();
    for (const b of svcNames) {
      if (a === b) continue;
      const shared = [...(attachments.get(a)?.keys() ?? [])].filter((n) => attachments.get(b)?.has(n));
      for (const n of shared) for (const x of names(b, n)) resolves[a].add(x);
      if (shared.length > 0 || (mode.get(a) === 'host' && mode.get(b) === 'host')) flows.add(flow(a, b, '*', '*'));
    }
    if (outside(a)) {
      flows.add(flow(a, INTERNET.id, '*', '*'));
      if (mode.get(a) === 'host') flows.add(flow(INTERNET.id, a, '*', '*'));
      else for (const p of publishedPorts(services[a])) flows.add(flow(INTERNET.id, a, 'TCP', p));
    }
  }
  return {
    flows: [...flows].sort(),
    resolves: Object.fromEntries(Object.entries(resolves).map(([k, v]) => [k, [...v].sort()])),
    networks: Object.fromEntries(svcNames.map((s) => [s, [...(attachments.get(s)?.keys() ?? [])].sort()])),
  };
}

// --- Comparison ---------------------------------------------------------------------------------

/** What one set has that the other lacks: `{ missing, extra }` of `actual` against `expected`. */
export function compare(actual: readonly string[], expected: readonly string[]): { missing: string[]; extra: string[] } {
  const a = new Set(actual);
  const e = new Set(expected);
  return { missing: [...e].filter((x) => !a.has(x)).sort(), extra: [...a].filter((x) => !e.has(x)).sort() };
}
