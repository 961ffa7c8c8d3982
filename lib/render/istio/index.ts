import { PyfleetError } from '../../core/errors';
import type { StackModel } from '../../model/stack';
import { Stack } from '../../core/stack';
import type { KubernetesExtension } from '../kubernetes';
import { KubeObject, kubeObject } from '../kubernetes/object';
import { Duration } from '../../core/units';
import {
  DestinationRule, DestinationRuleSpecSubsets, DestinationRuleSpecTrafficPolicy, DestinationRuleSpecTrafficPolicyLoadBalancerSimple,
  DestinationRuleSpecTrafficPolicyTlsMode, Gateway, GatewaySpecServers, GatewaySpecServersTlsMode, VirtualService, VirtualServiceSpecHttp,
  VirtualServiceSpecHttpMatch, toJson_DestinationRuleProps, toJson_GatewayProps, toJson_VirtualServiceProps,
} from '../../imports/networking.istio.io';
import { PeerAuthentication, PeerAuthenticationSpecMtlsMode, toJson_PeerAuthenticationProps } from '../../imports/security.istio.io';
import { CircuitBreakerSettings, UpstreamTls } from '../../mesh/breaker';
import { MeshGateway } from '../../mesh/gateway';
import { Match, StringMatch } from '../../mesh/match';
import { appKeepAlive, breakersOf, effectiveBreaker, ResolvedRule, resolvedRules, routeOf, stackMesh } from '../../mesh/model';
import { HeaderChanges, RetryOn } from '../../mesh/route';
import { serviceLabels } from '../../service/labels';
import { MicroService, ServiceVersion } from '../../service/microservice';
import { authorizationPolicies, authorizationProblems, exposurePeerAuthentications } from './authorization';

// Istio traffic policies for a stack with `mesh: Mesh.istio()`. The typed classes come from
// lib/imports (cdk8s import of the Istio CRDs; see scripts/istio-crds.js); objects are emitted as
// networking.istio.io/v1 and security.istio.io/v1 into the stack's chart, so the kubernetes renderer
// writes them with the other manifests.

/** Pod annotation that makes the app container wait for the sidecar. */
export const HOLD_ANNOTATION = 'proxy.istio.io/config';

/** The Service's HTTP port as the kubernetes target renders it (the public port when exposed). */
function servicePort(svc: MicroService): number {
  return svc.expose?.port ?? svc.port;
}

function host(svc: MicroService): string {
  return `${svc.serviceName}.${svc.stack.namespaceName}.svc.cluster.local`;
}

function validate(stack: Stack): PyfleetError[] {
  const m = stackMesh(stack);
  const errors: PyfleetError[] = [];
  if (!m.mesh) {
    for (const c of [...m.routes, ...m.breakers, ...m.gateways]) {
      errors.push(new PyfleetError(c.node.path, 'the stack has no mesh, so this policy could not be enforced on Kubernetes', 'create the stack with mesh: Mesh.istio() (new Stack(app, "shop", { mesh: Mesh.istio() }))'));
    }
    return errors;
  }
  for (const g of m.gateways) {
    const route = routeOf(stack, g.service);
    if (route && g.match) {
      for (const r of safeRules(route)) {
        for (const gm of g.match) for (const rm of r.matches.length ? r.matches : [undefined]) {
          try { combine(rm, gm); } catch (e) { errors.push(new PyfleetError(g.node.path, (e as PyfleetError).problem ?? String(e), 'use path prefixes in the gateway match and in the route rules')); }
        }
      }
    }
  }
  return errors;
}

function safeRules(route: Parameters<typeof resolvedRules>[0]): ResolvedRule[] {
  try { return resolvedRules(route); } catch { return []; }
}

/** The mesh's objects one by one (a generator: see `KubernetesExtension.objects`). */
function* objects(model: StackModel): Generator<KubeObject> {
  const stack = model.construct;
  const m = stackMesh(stack);
  if (!m.mesh) return;
  const mesh = m.mesh;
  yield kubeObject(PeerAuthentication.GVK, toJson_PeerAuthenticationProps, {
    metadata: { name: 'default', namespace: model.namespace, labels: { 'app.kubernetes.io/part-of': stack.stackName, 'app.kubernetes.io/managed-by': 'pyfleet' } },
    spec: { mtls: { mode: mesh.mtls === 'STRICT' ? PeerAuthenticationSpecMtlsMode.STRICT : PeerAuthenticationSpecMtlsMode.PERMISSIVE } },
  });

  for (const svc of stack.services) {
    const route = routeOf(stack, svc);
    const breakers = breakersOf(stack, svc);
    const gateways = m.gateways.filter((g) => g.service === svc);
    if (!route && breakers.length === 0 && gateways.length === 0 && svc.versions.length === 1 && !appKeepAlive(svc)) continue;
    yield destinationRule(stack, svc);
    for (const g of gateways) yield gateway(stack, g);
    if (route || gateways.length > 0) yield virtualService(stack, svc, gateways);
  }
}

/**
 * Upstream idle timeout when the breaker sets none but the app server's keep-alive is known: half a
 * second below it, so the sidecar drops idle connections before the app does (Envoy's default of one
 * hour against gunicorn's 2 s keep-alive is the classic "503 UC").
 */
function safeIdleTimeout(svc: MicroService): Duration | undefined {
  const ka = appKeepAlive(svc);
  return ka ? Duration.millis(Math.max(100, ka.millis - 500)) : undefined;
}

function trafficPolicy(settings: CircuitBreakerSettings | undefined, svc: MicroService): DestinationRuleSpecTrafficPolicy {
  const s = { ...(settings ?? {}) };
  if (s.idleTimeout === undefined) (s as { idleTimeout?: Duration }).idleTimeout = safeIdleTimeout(svc);
  const tls = { mode: s.upstreamTls === UpstreamTls.DISABLE ? DestinationRuleSpecTrafficPolicyTlsMode.DISABLE : DestinationRuleSpecTrafficPolicyTlsMode.ISTIO_UNDERSCORE_MUTUAL };
  const tcp = prune({ maxConnections: s.maxConnections, connectTimeout: s.connectTimeout?.toGoString() });
  const http = prune({
    http1MaxPendingRequests: s.maxPendingRequests, http2MaxRequests: s.maxRequests, maxRequestsPerConnection: s.maxRequestsPerConnection,
    maxRetries: s.maxRetries, idleTimeout: s.idleTimeout?.toGoString(),
  });
  const outlier = prune({
    consecutive5XxErrors: s.consecutive5xxErrors, consecutiveGatewayErrors: s.consecutiveGatewayErrors,
    interval: s.interval?.toGoString(), baseEjectionTime: s.baseEjectionTime?.toGoString(),
    maxEjectionPercent: s.maxEjectionPercent, minHealthPercent: s.minHealthPercent,
  });
  const lb = s.loadBalancer;
  let loadBalancer: DestinationRuleSpecTrafficPolicy['loadBalancer'];
  if (lb) {
    switch (lb.kind) {
      case 'roundRobin': loadBalancer = { simple: DestinationRuleSpecTrafficPolicyLoadBalancerSimple.ROUND_UNDERSCORE_ROBIN }; break;
      case 'leastRequest': loadBalancer = { simple: DestinationRuleSpecTrafficPolicyLoadBalancerSimple.LEAST_UNDERSCORE_REQUEST }; break;
      case 'random': loadBalancer = { simple: DestinationRuleSpecTrafficPolicyLoadBalancerSimple.RANDOM }; break;
      case 'header': loadBalancer = { consistentHash: { httpHeaderName: lb.key } }; break;
      case 'cookie': loadBalancer = { consistentHash: { httpCookie: { name: lb.key! } } }; break;
      case 'sourceIp': loadBalancer = { consistentHash: { useSourceIp: true } }; break;
    }
  }
  return prune({
    tls,
    connectionPool: tcp || http ? prune({ tcp, http }) : undefined,
    outlierDetection: outlier,
    loadBalancer,
  })!;
}

function prune<T extends Record<string, unknown>>(o: T): T | undefined {
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(o)) if (v !== undefined) out[k] = v;
  return Object.keys(out).length ? (out as T) : undefined;
}

function destinationRule(stack: Stack, svc: MicroService): KubeObject {
  const whole = breakersOf(stack, svc).find((b) => !b.version);
  // Every version is a subset (routes name them; breakers of single versions attach to them).
  const subsets: DestinationRuleSpecSubsets[] = svc.versions.map((v) => {
    const own = breakersOf(stack, svc).some((b) => b.version === v);
    const subset: DestinationRuleSpecSubsets = { name: v.versionName, labels: { version: v.versionName } };
    if (own) return { ...subset, trafficPolicy: trafficPolicy(effectiveBreaker(stack, v), svc) as any };
    return subset;
  });
  return kubeObject(DestinationRule.GVK, toJson_DestinationRuleProps, {
    metadata: { name: svc.serviceName, namespace: svc.stack.namespaceName, labels: serviceLabels(svc) },
    spec: {
      host: host(svc),
      trafficPolicy: trafficPolicy(whole?.settings, svc),
      subsets,
    },
  });
}

function stringMatch(s: StringMatch): { exact?: string; prefix?: string; regex?: string } {
  return { [s.kind]: s.value };
}

function httpMatch(m: Match | undefined, gateway?: string): VirtualServiceSpecHttpMatch {
  const out: Record<string, unknown> = {};
  if (m?.path) out.uri = stringMatch(m.path);
  if (m && Object.keys(m.headers).length) out.headers = Object.fromEntries(Object.keys(m.headers).sort().map((k) => [k, stringMatch(m.headers[k])]));
  if (m && Object.keys(m.queryParams).length) out.queryParams = Object.fromEntries(Object.keys(m.queryParams).sort().map((k) => [k, stringMatch(m.queryParams[k])]));
  if (m?.method) out.method = { exact: m.method };
  if (gateway) out.gateways = [gateway];
  return out as VirtualServiceSpecHttpMatch;
}

/** AND of a rule match and a gateway match, for traffic entering through the gateway; undefined when they can never both hold. */
function combine(rule: Match | undefined, gate: Match): Match | undefined {
  if (!rule) return gate;
  if (rule.path && gate.path) {
    const a = rule.path, b = gate.path;
    const within = (inner: StringMatch, outer: StringMatch): boolean => outer.kind === 'prefix' && (inner.kind === 'prefix' || inner.kind === 'exact') && inner.value.startsWith(outer.value);
    let path: Match;
    if (within(a, b)) path = a.kind === 'prefix' ? Match.pathPrefix(a.value) : Match.pathExact(a.value);
    else if (within(b, a)) path = b.kind === 'prefix' ? Match.pathPrefix(b.value) : Match.pathExact(b.value);
    else if (a.kind !== 'regex' && b.kind !== 'regex') return undefined; // disjoint paths: the rule is not exposed
    else throw new PyfleetError('MeshGateway', `a gateway path match (${b.kind} "${b.value}") and a route path match (${a.kind} "${a.value}") cannot be combined when one is a regex`, 'use prefixes');
    const strip = (x: Match): Match => Match.all(...Object.entries(x.headers).map(([k, v]) => hm(k, v)), ...Object.entries(x.queryParams).map(([k, v]) => qm(k, v)), ...(x.method ? [Match.method(x.method)] : []));
    return strip(rule).and(strip(gate)).and(path);
  }
  return rule.and(gate);
}

function hm(k: string, v: StringMatch): Match {
  return v.kind === 'exact' ? Match.header(k, v.value) : v.kind === 'prefix' ? Match.headerPrefix(k, v.value) : Match.headerRegex(k, v.value);
}
function qm(k: string, v: StringMatch): Match {
  return v.kind === 'regex' ? Match.queryParamRegex(k, v.value) : Match.queryParam(k, v.value);
}

function headerOps(h: HeaderChanges | undefined): Record<string, unknown> | undefined {
  if (!h) return undefined;
  return prune({
    set: h.set && Object.keys(h.set).length ? sorted(h.set) : undefined,
    add: h.add && Object.keys(h.add).length ? sorted(h.add) : undefined,
    remove: h.remove && h.remove.length ? [...h.remove] : undefined,
  });
}

function sorted(o: Record<string, string>): Record<string, string> {
  return Object.fromEntries(Object.keys(o).sort().map((k) => [k, o[k]]));
}

function destination(svc: MicroService, v?: ServiceVersion): { host: string; subset?: string; port: { number: number } } {
  return v ? { host: host(svc), subset: v.versionName, port: { number: servicePort(svc) } } : { host: host(svc), port: { number: servicePort(svc) } };
}

function httpRoute(svc: MicroService, r: ResolvedRule, name: string, matches: VirtualServiceSpecHttpMatch[] | undefined): VirtualServiceSpecHttp {
  const route: Record<string, unknown> = { name };
  if (matches && matches.length) route.match = matches;
  route.route = r.destinations.map((d) => (r.destinations.length === 1 ? { destination: destination(svc, d.version) } : { destination: destination(svc, d.version), weight: d.weight }));
  if (r.timeout) route.timeout = r.timeout.toGoString();
  route.retries = r.retries.attempts > 0
    ? prune({ attempts: r.retries.attempts, perTryTimeout: r.retries.perTryTimeout?.toGoString(), retryOn: r.retries.retryOn.join(',') })
    : { attempts: 0 };
  if (r.fault) {
    route.fault = prune({
      delay: r.fault.delay ? { fixedDelay: r.fault.delay.fixed.toGoString(), percentage: { value: r.fault.delay.percentage } } : undefined,
      abort: r.fault.abort ? { httpStatus: r.fault.abort.httpStatus, percentage: { value: r.fault.abort.percentage } } : undefined,
    });
  }
  if (r.mirror) {
    route.mirror = destination(svc, r.mirror.version);
    route.mirrorPercentage = { value: r.mirror.percentage };
  }
  if (r.rewriteUri) route.rewrite = { uri: r.rewriteUri };
  const headers = prune({ request: headerOps(r.requestHeaders), response: headerOps(r.responseHeaders) });
  if (headers) route.headers = headers;
  return route as VirtualServiceSpecHttp;
}

function virtualService(stack: Stack, svc: MicroService, gateways: MeshGateway[]): KubeObject {
  const route = routeOf(stack, svc);
  const rules = route ? resolvedRules(route) : [];
  const http: VirtualServiceSpecHttp[] = [];
  const gwName = (g: MeshGateway): string => g.node.id;
  const withGateways = gateways.length > 0;
  const catchAll: ResolvedRule = { matches: [], destinations: [], retries: { attempts: 0, retryOn: [RetryOn.CONNECT_FAILURE] }, sourceIndex: -1, nonIdempotentGuard: false };
  const all = [...rules];
  if (!rules.some((r) => r.matches.length === 0)) all.push(catchAll);
  all.forEach((r) => {
    const name = r === catchAll ? 'default' : r.nonIdempotentGuard ? `rule-${r.sourceIndex}-no-retry` : `rule-${r.sourceIndex}`;
    const matches: VirtualServiceSpecHttpMatch[] = [];
    const own = r.matches.length ? r.matches : [undefined];
    if (withGateways) {
      for (const m of own) matches.push(httpMatch(m, 'mesh'));
      for (const g of gateways) {
        for (const gm of g.match ?? [undefined]) {
          for (const m of own) {
            const both = gm ? combine(m, gm) : m;
            if (both !== undefined || !gm) matches.push(httpMatch(both, gwName(g)));
          }
        }
      }
    } else if (r.matches.length) {
      for (const m of r.matches) matches.push(httpMatch(m));
    }
    const out = r === catchAll
      ? ({ name, ...(matches.length && gateways.some((g) => g.match) ? { match: matches } : {}), route: [{ destination: destination(svc) }] } as VirtualServiceSpecHttp)
      : httpRoute(svc, r, name, matches);
    http.push(out);
  });
  const hosts = [host(svc), ...gateways.flatMap((g) => g.hosts)];
  return kubeObject(VirtualService.GVK, toJson_VirtualServiceProps, {
    metadata: { name: svc.serviceName, namespace: svc.stack.namespaceName, labels: serviceLabels(svc) },
    spec: {
      hosts: [...new Set(hosts)],
      ...(withGateways ? { gateways: ['mesh', ...gateways.map(gwName)] } : {}),
      http,
    },
  });
}

function gateway(stack: Stack, g: MeshGateway): KubeObject {
  const servers: GatewaySpecServers[] = [];
  if (g.tls) {
    servers.push({ port: { number: g.httpPort, name: 'http', protocol: 'HTTP' }, hosts: [...g.hosts], tls: { httpsRedirect: g.tls.httpsRedirect ?? true } });
    servers.push({ port: { number: g.httpsPort, name: 'https', protocol: 'HTTPS' }, hosts: [...g.hosts], tls: { mode: GatewaySpecServersTlsMode.SIMPLE, credentialName: g.tls.secretName } });
  } else {
    servers.push({ port: { number: g.httpPort, name: 'http', protocol: 'HTTP' }, hosts: [...g.hosts] });
  }
  return kubeObject(Gateway.GVK, toJson_GatewayProps, {
    metadata: { name: g.node.id, namespace: stack.namespaceName, labels: serviceLabels(g.service) },
    spec: { selector: { ...stack.mesh!.ingressSelector }, servers },
  });
}

/**
 * Istio as part of the Kubernetes target: sidecar injection on the namespace, the hold annotation on
 * pods, and PeerAuthentication, DestinationRules, VirtualServices and Gateways from the mesh model;
 * AuthorizationPolicies from the call graph (./authorization).
 */
export function istioExtension(): KubernetesExtension {
  return {
    name: 'istio',
    cacheVersion: 'pyfleet',
    validate: (models) => [...models.flatMap((mm) => validate(mm.construct)), ...authorizationProblems(models)],
    namespaceLabels: (model): Record<string, string> => (model.mesh ? { 'istio-injection': 'enabled' } : {}),
    podAnnotations: (model): Record<string, string> => (model.mesh?.holdApplicationUntilProxyStarts ? { [HOLD_ANNOTATION]: '{"holdApplicationUntilProxyStarts":true}' } : {}),
    *objects(model) {
      yield* objects(model);
      yield* exposurePeerAuthentications(model);
      yield* authorizationPolicies(model);
    },
  };
}
