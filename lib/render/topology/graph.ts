import { Size } from '../../core/units';
import type { StackModel, ServiceModel, VersionModel } from '../../model/stack';
import { CircuitBreakerSettings, UpstreamTls } from '../../mesh/breaker';
import { MeshGateway } from '../../mesh/gateway';
import { Match, StringMatch } from '../../mesh/match';
import { breakersOf, resolveVersion, routeOf, stackMesh } from '../../mesh/model';
import { HeaderChanges, RouteRule, VersionRef } from '../../mesh/route';
import type { ServiceVersion } from '../../service/microservice';
import { Topology, TOPOLOGY_FORMAT, TopologyEdge, TopologyNode } from './types';

// Builds the topology of a stack (lib/render/topology/types.ts) from the resolved model and the mesh
// model that the other targets read too.

function stringMatch(s: StringMatch): string {
  return s.kind === 'exact' ? `= ${s.value}` : s.kind === 'prefix' ? `prefix ${s.value}` : `~ ${s.value}`;
}

/** One Match in words: `prefix /api/v2 and header x-canary = yes`. */
export function describeMatch(m: Match): string {
  const parts: string[] = [];
  if (m.path) parts.push(m.path.kind === 'prefix' ? `prefix ${m.path.value}` : `path ${stringMatch(m.path)}`);
  for (const h of Object.keys(m.headers).sort()) parts.push(`header ${h} ${stringMatch(m.headers[h])}`);
  for (const q of Object.keys(m.queryParams).sort()) parts.push(`query ${q} ${stringMatch(m.queryParams[q])}`);
  if (m.method) parts.push(`method ${m.method}`);
  return parts.length ? parts.join(' and ') : 'every request';
}

function headerChanges(what: string, h: HeaderChanges | undefined): string[] {
  if (!h) return [];
  const n = Object.keys(h.set ?? {}).length + Object.keys(h.add ?? {}).length + (h.remove ?? []).length;
  return n > 0 ? [`${what} headers changed (${n})`] : [];
}

function ruleExtras(rule: RouteRule): string {
  const out: string[] = [];
  if (rule.timeout) out.push(`timeout ${rule.timeout}`);
  const r = rule.retries;
  if (r && r.attempts > 0) out.push(`${r.attempts} ${r.attempts === 1 ? 'retry' : 'retries'}${r.perTryTimeout ? ` of ${r.perTryTimeout}` : ''}${r.retryNonIdempotent ? ' (POST/PATCH too)' : ''}`);
  if (rule.fault?.delay) out.push(`fault: delay ${rule.fault.delay.fixed} for ${rule.fault.delay.percentage}%`);
  if (rule.fault?.abort) out.push(`fault: HTTP ${rule.fault.abort.httpStatus} for ${rule.fault.abort.percentage}%`);
  if (rule.rewriteUri) out.push(`rewrite to ${rule.rewriteUri}`);
  out.push(...headerChanges('request', rule.requestHeaders), ...headerChanges('response', rule.responseHeaders));
  return out.join(', ');
}

/** The settings a breaker sets, one group per line. */
export function breakerDetails(s: CircuitBreakerSettings): string[] {
  const out: string[] = [];
  const limits: string[] = [];
  if (s.maxConnections !== undefined) limits.push(`max ${s.maxConnections} connections`);
  if (s.maxPendingRequests !== undefined) limits.push(`max ${s.maxPendingRequests} pending`);
  if (s.maxRequests !== undefined) limits.push(`max ${s.maxRequests} in flight`);
  if (s.maxRequestsPerConnection !== undefined) limits.push(`${s.maxRequestsPerConnection} requests per connection`);
  if (s.maxRetries !== undefined) limits.push(`max ${s.maxRetries} retries in flight`);
  if (limits.length) out.push(limits.join(', '));
  const timeouts: string[] = [];
  if (s.connectTimeout) timeouts.push(`connect timeout ${s.connectTimeout}`);
  if (s.idleTimeout) timeouts.push(`idle timeout ${s.idleTimeout}`);
  if (timeouts.length) out.push(timeouts.join(', '));
  const eject: string[] = [];
  if (s.consecutive5xxErrors !== undefined) eject.push(`${s.consecutive5xxErrors} consecutive 5xx`);
  if (s.consecutiveGatewayErrors !== undefined) eject.push(`${s.consecutiveGatewayErrors} consecutive gateway errors`);
  if (eject.length) out.push(`eject after ${eject.join(' or ')}`);
  const sweep: string[] = [];
  if (s.interval) sweep.push(`every ${s.interval}`);
  if (s.baseEjectionTime) sweep.push(`out for ${s.baseEjectionTime}`);
  if (s.maxEjectionPercent !== undefined) sweep.push(`at most ${s.maxEjectionPercent}% out`);
  if (s.minHealthPercent !== undefined) sweep.push(`needs ${s.minHealthPercent}% healthy`);
  if (sweep.length) out.push(sweep.join(', '));
  const lb = s.loadBalancer;
  if (lb) {
    const how = { roundRobin: 'round robin', leastRequest: 'least request', random: 'random', header: `hash of header ${lb.key}`, cookie: `hash of cookie ${lb.key}`, sourceIp: 'hash of client IP' }[lb.kind];
    out.push(`load balancing: ${how}`);
  }
  if (s.upstreamTls === UpstreamTls.DISABLE) out.push('upstream TLS off');
  return out;
}

/** Safe identifiers, unique within one topology. */
class Ids {
  private readonly used = new Set<string>();
  public make(prefix: string, ...parts: string[]): string {
    const base = `${prefix}_${parts.map((p) => p.replace(/[^A-Za-z0-9]+/g, '_')).join('__')}`;
    let id = base;
    for (let n = 2; this.used.has(id); n++) id = `${base}_${n}`;
    this.used.add(id);
    return id;
  }
}

function plural(n: number, one: string, many: string): string {
  return `${n} ${n === 1 ? one : many}`;
}

function imageLine(v: VersionModel): string {
  if (v.image.kind === 'registry') return v.image.reference;
  // A built image's tag is the hash of its source: the repository alone keeps the picture stable across code changes.
  const ref = v.image.reference;
  const slash = ref.lastIndexOf('/');
  const colon = ref.lastIndexOf(':');
  return `built: ${colon > slash ? ref.slice(0, colon) : ref}`;
}

function serviceDetails(s: ServiceModel): string[] {
  const w = s.settings;
  const ports = [`container :${w.port}`];
  if (w.servicePort !== w.port) ports.push(`Service :${w.servicePort}`);
  const out = [ports.join(', ')];
  if (w.additionalPorts.length) out.push(w.additionalPorts.map((p) => `${p.name} :${p.port}`).join(', '));
  return out;
}

function gatewayDetails(g: MeshGateway): string[] {
  const out = [g.hosts.join(', ')];
  if (g.tls) out.push(`HTTPS :${g.httpsPort} (secret ${g.tls.secretName}), HTTP :${g.httpPort}${g.tls.httpsRedirect ?? true ? ' redirects' : ''}`);
  else out.push(`HTTP :${g.httpPort}`);
  if (g.match) out.push(`only ${g.match.map(describeMatch).join(' or ')}`);
  return out;
}

function ruleMatches(rule: RouteRule): Match[] {
  return rule.match === undefined ? [] : Array.isArray(rule.match) ? rule.match : [rule.match];
}

/**
 * Builds the topology of one stack from its resolved model (and, for routes, breakers and gateways,
 * the mesh model the other targets read). Pure: the same model always gives the same value.
 */
export function buildTopology(model: StackModel): Topology {
  const stack = model.construct;
  const ids = new Ids();
  const nodes: TopologyNode[] = [];
  const edges: TopologyEdge[] = [];
  const tlsOff = (svc: ServiceModel): boolean => breakersOf(stack, svc.construct).some((b) => !b.version && b.settings.upstreamTls === UpstreamTls.DISABLE);

  const serviceId = new Map<string, string>();
  const versionId = new Map<ServiceVersion, string>();
  for (const s of model.services) {
    serviceId.set(s.name, ids.make('svc', s.name));
    for (const v of s.versions) versionId.set(v.construct, ids.make('ver', s.name, v.name));
  }

  // Public entries first (they sit left of everything), in service order.
  const gateways = stackMesh(stack).gateways;
  for (const s of model.services) {
    const sid = serviceId.get(s.name)!;
    if (s.settings.exposedPort !== undefined) {
      const id = ids.make('pub', s.name);
      nodes.push({ id, kind: 'entry', title: `public :${s.settings.exposedPort}`, details: [], owner: sid });
      edges.push({ from: id, to: sid, kind: 'expose', ports: { public: s.settings.exposedPort, container: s.settings.port } });
    }
    for (const g of gateways.filter((x) => x.service === s.construct)) {
      const id = ids.make('gw', g.node.id);
      nodes.push({ id, kind: 'gateway', title: `gateway ${g.node.id}`, details: gatewayDetails(g), path: g.node.path, owner: sid });
      edges.push({ from: id, to: sid, kind: 'expose' });
    }
  }

  for (const s of model.services) {
    const sid = serviceId.get(s.name)!;
    nodes.push({ id: sid, kind: 'service', title: s.name, details: serviceDetails(s), path: s.path });
    for (const v of s.versions) {
      nodes.push({ id: versionId.get(v.construct)!, kind: 'version', title: v.name, details: [plural(v.replicas, 'replica', 'replicas'), imageLine(v)], path: v.path, owner: sid });
    }

    // How requests to the service reach its versions.
    const route = routeOf(stack, s.construct);
    const version = (ref: VersionRef): string => {
      const r = resolveVersion(s.construct, ref);
      return versionId.get(r as ServiceVersion)!;
    };
    let catchAll = false;
    route?.rules.forEach((rule, i) => {
      const matches = ruleMatches(rule);
      if (matches.length === 0 || matches.some((m) => m.isEmpty)) catchAll = true;
      const match = matches.length ? matches.map(describeMatch).join(' or ') : undefined;
      const extras = ruleExtras(rule) || undefined;
      const split = rule.split ?? [{ to: rule.to!, weight: 100 }];
      for (const d of split) {
        edges.push({ from: sid, to: version(d.to), kind: 'route', rule: i + 1, match, weight: rule.split ? d.weight : undefined, extras });
      }
      if (rule.mirror) edges.push({ from: sid, to: version(rule.mirror.to), kind: 'mirror', rule: i + 1, weight: rule.mirror.percentage ?? 100 });
    });
    if (!catchAll) {
      const reason = route ? 'unmatched' : s.versions.length === 1 ? 'only' : 'no-route';
      for (const v of s.versions) edges.push({ from: sid, to: versionId.get(v.construct)!, kind: 'select', reason });
    }

    for (const b of breakersOf(stack, s.construct)) {
      const id = ids.make('brk', b.node.id);
      const target = b.version ? versionId.get(b.version)! : sid;
      nodes.push({ id, kind: 'breaker', title: `breaker ${b.node.id}`, details: breakerDetails(b.settings), path: b.node.path, owner: target });
      edges.push({ from: id, to: target, kind: 'protect' });
    }
  }

  // Backing services: a node each, after the services.
  const storeId = new Map<string, string>();
  for (const d of model.dataStores) {
    const id = ids.make('db', d.name);
    storeId.set(d.name, id);
    const what = d.kind === 'postgres' ? `database ${d.database}, user ${d.user}` : `Redis ${d.redisMode}${d.maxMemoryBytes !== undefined ? `, maxmemory ${d.maxMemoryBytes / 1024 / 1024} MiB ${d.maxMemoryPolicy}` : ''}`;
    const volume = d.storageBytes !== undefined ? `volume ${Size.bytes(d.storageBytes).toKubernetes()}` : 'no volume';
    nodes.push({ id, kind: 'datastore', title: d.name, details: [`${d.image} :${d.port}`, what, volume, `secret ${d.secret.name}`], path: d.path });
  }

  for (const s of model.services) {
    for (const callee of s.calls) {
      const c = model.service(callee);
      edges.push({
        from: serviceId.get(s.name)!, to: serviceId.get(callee)!, kind: 'call', via: c.urlVariable,
        tls: model.mesh ? (tlsOff(c) ? 'plain' : 'mtls') : undefined,
      });
    }
    for (const name of s.stores) {
      edges.push({ from: serviceId.get(s.name)!, to: storeId.get(name)!, kind: 'call', via: model.dataStore(name).urlVariable, tls: model.mesh ? 'mtls' : undefined });
    }
  }

  // Workers, migrations and schedules: they call (services, stores), nobody calls them.
  const callsOf = (from: string, calls: readonly string[], stores: readonly string[]): void => {
    for (const callee of calls) edges.push({ from, to: serviceId.get(callee)!, kind: 'call', via: model.service(callee).urlVariable, tls: model.mesh ? 'mtls' : undefined });
    for (const name of stores) edges.push({ from, to: storeId.get(name)!, kind: 'call', via: model.dataStore(name).urlVariable, tls: model.mesh ? 'mtls' : undefined });
  };
  for (const w of model.workers) {
    const id = ids.make('wrk', w.name);
    const grace = `grace ${Math.ceil(w.terminationGracePeriodMs / 1000)}s`;
    nodes.push({ id, kind: 'worker', title: w.name, details: [w.command ? w.command.slice(0, 4).join(' ') : w.image.reference, `${w.replicas} replica${w.replicas === 1 ? '' : 's'}, ${grace}`], path: w.path });
    callsOf(id, w.calls, w.stores);
  }
  const seen = new Set<string>();
  for (const r of model.migrations) {
    if (seen.has(r.path)) continue;
    seen.add(r.path);
    const id = ids.make('mig', `${r.service}-${r.name}`);
    nodes.push({ id, kind: 'job', title: `migration ${r.name}`, details: [r.command.join(' '), `before each release of ${r.service} serves`], path: r.path, owner: serviceId.get(r.service) });
    callsOf(id, r.calls, r.stores);
  }
  for (const sc of model.schedules) {
    const id = ids.make('cron', sc.name);
    nodes.push({ id, kind: 'job', title: `schedule ${sc.name}`, details: [`${sc.cron} ${sc.timeZone}`, sc.command.join(' '), `timeout ${sc.timeoutSeconds}s, never two at once`], path: sc.path });
    callsOf(id, sc.calls, sc.stores);
  }

  return {
    format: TOPOLOGY_FORMAT,
    stack: model.name,
    namespace: model.namespace,
    mesh: model.mesh ? { kind: 'istio', mtls: model.mesh.mtls } : undefined,
    nodes,
    edges,
  };
}
