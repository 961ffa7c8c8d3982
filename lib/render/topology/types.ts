// The topology of a stack as one neutral value: nodes (what runs or stands in the traffic's way) and
// edges (who reaches whom, and how). The printers (Mermaid, DOT, terminal text) only read this value,
// and `<stack>.topology.json` is this value, so `pyfleet graph` prints exactly what the pictures show.
// This file imports nothing, so the CLI can print a topology without loading the constructs.

/** Marks the JSON form of a topology, so a reader can refuse one it does not know. */
export const TOPOLOGY_FORMAT = 'pyfleet.topology/v1';

/**
 * What a node is (`datastore`: a backing service, Postgres or Redis; `worker`: a Worker or CeleryWorker,
 * which calls and is never called; `job`: a Migration or a Schedule, which runs to completion). Each
 * printer maps a kind to a shape and a style in one table.
 */
export type TopologyNodeKind = 'entry' | 'gateway' | 'service' | 'version' | 'breaker' | 'datastore' | 'worker' | 'job';

/** One node of the topology. */
export interface TopologyNode {
  /** Identifier, unique in the topology: a letter, then letters, digits and `_` (safe in every printer's syntax). */
  readonly id: string;
  /** What the node is (decides its shape and style in every printer). */
  readonly kind: TopologyNodeKind;
  /** Headline (a service or version name, "public :80", "breaker orders-breaker"). */
  readonly title: string;
  /** Further lines, in the order they are shown. */
  readonly details: readonly string[];
  /** Construct path, when the node stands for a construct. */
  readonly path?: string;
  /** The node this one belongs to: a version's service, a breaker's service or version, an entry's service. */
  readonly owner?: string;
}

/**
 * What an edge means:
 * - `expose`: public traffic enters a service (a public port, or a MeshGateway);
 * - `call`: a service calls another, or a backing service (`calls`, through the injected URL variable);
 * - `route`: a MeshRoute rule sends matching requests to a version (`weight` when it splits);
 * - `select`: the service reaches a version's pods without a rule (no route, or requests no rule matches);
 * - `mirror`: a rule copies a share of requests to a version;
 * - `protect`: a circuit breaker guards a service or a version.
 */
export type TopologyEdgeKind = 'expose' | 'call' | 'route' | 'select' | 'mirror' | 'protect';

/** One edge of the topology. Labels are made from these fields by `edgeLabel`. */
export interface TopologyEdge {
  /** Id of the node the traffic comes from. */
  readonly from: string;
  /** Id of the node the traffic goes to. */
  readonly to: string;
  /** What the edge means. */
  readonly kind: TopologyEdgeKind;
  /** route, mirror: the rule's number (1 = first rule of the MeshRoute). */
  readonly rule?: number;
  /** route: the rule's condition; absent when it matches every request. */
  readonly match?: string;
  /** route: the share in percent, when the rule splits; mirror: the mirrored share. */
  readonly weight?: number;
  /** route: the rule's further settings (timeout, retries, faults, rewrites, header changes). */
  readonly extras?: string;
  /** call: the environment variable that carries the callee's URL. */
  readonly via?: string;
  /** call: `mtls` or `plain` on a meshed stack. */
  readonly tls?: 'mtls' | 'plain';
  /** expose: the public port and the container port it reaches. */
  readonly ports?: {
    /** Port callers outside reach (load balancer or host port). */
    readonly public: number;
    /** Container port the traffic arrives on. */
    readonly container: number;
  };
  /** select: why the version is reached without a rule (`only`, `no-route`, `unmatched`). */
  readonly reason?: 'only' | 'no-route' | 'unmatched';
}

/** The topology of one stack. */
export interface Topology {
  /** The format marker, {@link TOPOLOGY_FORMAT}. */
  readonly format: typeof TOPOLOGY_FORMAT;
  /** Stack name. */
  readonly stack: string;
  /** The stack's Kubernetes namespace. */
  readonly namespace: string;
  /** The stack's mesh, when it has one. */
  readonly mesh?: {
    /** The mesh implementation. */
    readonly kind: 'istio';
    /** Mutual TLS mode between the sidecars. */
    readonly mtls: 'STRICT' | 'PERMISSIVE';
  };
  /** Every node, in a stable order. */
  readonly nodes: readonly TopologyNode[];
  /** Every edge, in a stable order. */
  readonly edges: readonly TopologyEdge[];
}

/** One line saying what the stack is: name, namespace, mesh. */
export function stackTitle(t: Topology): string {
  const mesh = t.mesh ? `Istio mesh, mTLS ${t.mesh.mtls}` : 'no mesh';
  return `stack ${t.stack}, namespace ${t.namespace}, ${mesh}`;
}

/** The label an edge carries in every printer ('' for none). */
export function edgeLabel(e: TopologyEdge): string {
  switch (e.kind) {
    case 'expose': return e.ports ? `:${e.ports.public} -> :${e.ports.container}` : (e.match ?? '');
    case 'call': return [e.via ?? '', e.tls === 'mtls' ? 'mTLS' : e.tls === 'plain' ? 'plain text' : ''].filter(Boolean).join(', ');
    case 'route': return `rule ${e.rule}: ${e.weight === undefined ? (e.match ?? 'every request') : e.match ? `${e.match}, ${e.weight}%` : `${e.weight}%`}`;
    case 'mirror': return `rule ${e.rule}: mirror ${e.weight}%`;
    case 'select': return e.reason === 'unmatched' ? 'other requests' : e.reason === 'no-route' ? 'any pod' : '';
    case 'protect': return '';
  }
}

/** Per-rule settings of a service's route, as the pictures list them in the service node: "rule 2: timeout 10s". */
export function ruleNotes(t: Topology, serviceId: string): string[] {
  let index = notesIndex.get(t);
  if (!index) {
    // One pass over the edges for every service (a lookup per service would be quadratic in a large fleet).
    const byService = new Map<string, Map<number, string>>();
    for (const e of t.edges) {
      if (e.kind !== 'route' || !e.extras) continue;
      let notes = byService.get(e.from);
      if (!notes) byService.set(e.from, notes = new Map());
      if (!notes.has(e.rule!)) notes.set(e.rule!, `rule ${e.rule}: ${e.extras}`);
    }
    index = new Map([...byService].map(([id, notes]) => [id, [...notes.entries()].sort((a, b) => a[0] - b[0]).map(([, v]) => v)]));
    notesIndex.set(t, index);
  }
  return [...(index.get(serviceId) ?? [])];
}
const notesIndex = new WeakMap<Topology, Map<string, string[]>>();

/** Whether a value read from a file is a topology this version can print (the format marker and the shape). */
export function isTopology(x: unknown): x is Topology {
  const t = x as Topology;
  return typeof t === 'object' && t !== null && t.format === TOPOLOGY_FORMAT && typeof t.stack === 'string' && Array.isArray(t.nodes) && Array.isArray(t.edges);
}
