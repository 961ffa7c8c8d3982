import { stackMesh } from '../mesh/model';
import type { WorkerModel } from './jobs';
import type { DataStoreModel, ServiceModel, StackModel } from './stack';

// Who may open a connection to whom, from the program: the call graph plus the edges that exposure
// adds. Every target that enforces it (Kubernetes NetworkPolicies, Istio AuthorizationPolicies,
// compose networks) reads this one view, so they agree on what is allowed.
//
// The monitoring scraper (`Monitoring.prometheus()` on the stack) is one more source: it alone may
// reach a service's metrics port (`scraperPort`), which callers never reach. Without monitoring nobody
// is admitted on a metrics port.
//
// Kinds of sources that plug in later: backing services
// (databases, caches) that admit only their callers: they are services with named ports and callers,
// which is all this view needs.

/** A port of a service's pods by the name its Service and container give it. */
export interface NamedPort {
  /** Port name (`http`, or a name from `additionalPorts`). */
  readonly name: string;
  /** Container port. */
  readonly port: number;
}

/** The edges into one service. */
export interface ServiceIngress {
  readonly service: ServiceModel;
  /** Services of the stack that call it, in the stack's order. */
  readonly callers: readonly ServiceModel[];
  /**
   * Ports its callers may open: every port its Service names but the metrics port (`calls` names a
   * service, not a port; the injected URL addresses `http`). Only a monitoring scraper may reach the
   * metrics port.
   */
  readonly callerPorts: readonly NamedPort[];
  /** Its HTTP port, which anyone may reach, when it is exposed (`expose`): the load balancer's or host's sources are not known. */
  readonly publicPort?: NamedPort;
  /** Its HTTP port, which the mesh's ingress gateway may reach, when a MeshGateway routes to it. */
  readonly meshIngressPort?: NamedPort;
  /** Its metrics port, which the stack's monitoring scraper (and only it) may reach, when the stack has monitoring. */
  readonly scraperPort?: NamedPort;
}

/** The named ports of a service: `http` first, then the additional ports by name. */
export function servicePorts(s: ServiceModel): NamedPort[] {
  return [{ name: 'http', port: s.settings.port }, ...s.settings.additionalPorts.map((p) => ({ name: p.name, port: p.port }))];
}

/** The ports a caller of the service may open: its named ports without the metrics port. */
export function callerPorts(s: ServiceModel): NamedPort[] {
  return servicePorts(s).filter((p) => !(p.name === 'metrics' && p.port === s.settings.metricsPort));
}

/** The metrics port of a service, if pyfleet generates one. */
export function metricsPort(s: ServiceModel): NamedPort | undefined {
  return s.settings.metricsPort !== undefined ? { name: 'metrics', port: s.settings.metricsPort } : undefined;
}

/** The metrics port of a worker (a CeleryWorker with metrics), if pyfleet generates one. */
export function workerMetricsPort(w: WorkerModel): NamedPort | undefined {
  return w.metrics ? { name: 'metrics', port: w.metrics.port } : undefined;
}

/** The HTTP port of a service. */
export function httpPort(s: ServiceModel): NamedPort {
  return { name: 'http', port: s.settings.port };
}

/** The edges into every service of a stack, in the stack's order. */
export function stackIngress(model: StackModel): ServiceIngress[] {
  const gateways = new Set(stackMesh(model.construct).gateways.map((g) => g.service));
  // Callers of each service, in the stack's order: one pass over the call edges, not one per service.
  const callersOf = new Map<string, ServiceModel[]>();
  for (const c of model.services) {
    for (const name of new Set(c.calls)) {
      const list = callersOf.get(name);
      if (list) list.push(c); else callersOf.set(name, [c]);
    }
  }
  return model.services.map((s) => ({
    service: s,
    callers: callersOf.get(s.name) ?? [],
    callerPorts: callerPorts(s),
    publicPort: s.settings.exposedPort !== undefined ? httpPort(s) : undefined,
    meshIngressPort: model.mesh && gateways.has(s.construct) ? httpPort(s) : undefined,
    scraperPort: model.monitoring ? metricsPort(s) : undefined,
  }));
}

/** The services a service calls, as models, in declaration order. */
export function callees(model: StackModel, s: ServiceModel): ServiceModel[] {
  return s.calls.map((name) => model.service(name));
}

/**
 * The edges into one backing service: only its callers, only on its one port. Nothing else reaches
 * a database or a cache (no exposure, no mesh ingress, no metrics).
 */
export interface DataStoreIngress {
  /** The backing service. */
  readonly store: DataStoreModel;
  /** Services of the stack that call it, in the stack's order. */
  readonly callers: readonly ServiceModel[];
  /** The one port its callers may open (`postgres` 5432, `redis` 6379). */
  readonly port: NamedPort;
}

/** The edges into every backing service of a stack, in the stack's order. */
export function stackDataIngress(model: StackModel): DataStoreIngress[] {
  return model.dataStores.map((d) => ({ store: d, callers: d.callers.map((name) => model.service(name)), port: dataStorePort(d) }));
}

/** The named port of a backing service. */
export function dataStorePort(d: DataStoreModel): NamedPort {
  return { name: d.portName, port: d.port };
}

/** The backing services a service calls, as models, in declaration order. */
export function storeCallees(model: StackModel, s: ServiceModel): DataStoreModel[] {
  return s.stores.map((name) => model.dataStore(name));
}

/**
 * Something that only opens connections: a worker, the pods of a migration, the pods of a schedule.
 * Nobody calls it; it calls services and backing services.
 */
export interface BackgroundSource {
  /** `worker`, `migration` or `schedule`. */
  readonly kind: 'worker' | 'migration' | 'schedule';
  /** Its name: the worker's, `<service>-<migration>`, or the schedule's (also its policy's name). */
  readonly name: string;
  /** Construct path. */
  readonly path: string;
  /** Labels selecting its pods. */
  readonly selector: Readonly<Record<string, string>>;
  /** Labels of its objects. */
  readonly labels: Readonly<Record<string, string>>;
  /** The ServiceAccount its pods run as (its mTLS identity in a mesh): the worker's own, the migrated service's, or the account of what a schedule runs as. */
  readonly serviceAccount: string;
  /** Services it calls. */
  readonly calls: readonly string[];
  /** Backing services it calls. */
  readonly stores: readonly string[];
  /** A worker's metrics port, which the stack's monitoring scraper (and only it) may reach, when the stack has monitoring. */
  readonly scraperPort?: NamedPort;
}

/** The background sources of a stack: workers, then migrations (one per Migration), then schedules. */
export function backgroundSources(model: StackModel): BackgroundSource[] {
  const out: BackgroundSource[] = model.workers.map((w) => ({
    kind: 'worker', name: w.name, path: w.path, selector: w.selector, labels: w.labels, serviceAccount: w.name, calls: w.calls, stores: w.stores,
    scraperPort: model.monitoring ? workerMetricsPort(w) : undefined,
  }));
  const seen = new Set<string>();
  for (const r of model.migrations) {
    const name = r.selector.app;
    if (seen.has(name)) continue;
    seen.add(name);
    const { version: _v, 'pyfleet.dev/release': _r, ...labels } = r.labels as Record<string, string>;
    out.push({ kind: 'migration', name, path: r.path, selector: r.selector, labels, serviceAccount: r.service, calls: r.calls, stores: r.stores });
  }
  for (const s of model.schedules) out.push({ kind: 'schedule', name: s.name, path: s.path, selector: { app: s.name }, labels: s.labels, serviceAccount: s.runsAs.name, calls: s.calls, stores: s.stores });
  return out;
}

/** The background sources that call the service or backing service `name`. */
export function backgroundCallersOf(model: StackModel, name: string, kind: 'service' | 'store'): BackgroundSource[] {
  return backgroundSources(model).filter((b) => (kind === 'service' ? b.calls : b.stores).includes(name));
}
