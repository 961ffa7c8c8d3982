import { PyfleetError } from '../../core/errors';
import { ComposeNetworkMode, Stack } from '../../core/stack';
import { CircuitBreakerSettings } from '../../mesh/breaker';
import { MeshGateway } from '../../mesh/gateway';
import { Match, StringMatch } from '../../mesh/match';
import { breakersOf, effectiveBreaker, ResolvedRule, resolvedRules, routeOf, stackMesh } from '../../mesh/model';
import { HeaderChanges, RetryOn } from '../../mesh/route';
import { MicroService, ServiceVersion } from '../../service/microservice';

// The compose gateway proxy: HAProxy in front of the versions of a service, enforcing the service's
// MeshRoute and CircuitBreaker for real. HAProxy was picked over nginx because it has per-server
// connection caps with a queue (maxconn/maxqueue), consecutive layer-7 error counting with ejection
// (observe layer7 + error-limit + on-error mark-down) and a separate re-admission period (downinter),
// conditional L7 retries (retry-on) and per-stream timeouts; nginx's max_fails/fail_timeout ties the
// error window to the ejection time and counts failures, not consecutive ones. docs/mesh.md maps every
// setting; what HAProxy cannot express is rejected by `gatewayProblems`.

/** Official HAProxy image of the gateway (same 2.6 LTS branch as Debian 12's haproxy, which the tests run). */
export const GATEWAY_IMAGE = 'haproxy:2.6.12-alpine';
/** Container-local port of the gateway's own health endpoint (compose healthcheck). */
export const GATEWAY_HEALTH_PORT = 8405;

/** Whether a service gets a gateway proxy in the compose project: it has routes, a breaker or several versions. */
export function needsGateway(svc: MicroService): boolean {
  return routeOf(svc.stack, svc) !== undefined || breakersOf(svc.stack, svc).length > 0 || svc.versions.length > 1
    || stackMesh(svc.stack).gateways.some((g) => g.service === svc);
}

/** Backend name of a version. */
function backend(v: ServiceVersion): string {
  return `be_${v.versionName}`;
}

/** Quotes an argument for haproxy.cfg (inside double quotes: backslash escapes, `$` would expand variables). */
function q(s: string): string {
  return `"${s.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\$/g, '\\$')}"`;
}

/** Anchors an RE2 expression as a full match (Envoy semantics) for HAProxy's partial-match PCRE. */
function full(re: string): string {
  return `^(?:${re})$`;
}

function strCond(fetch: string, s: StringMatch): string {
  switch (s.kind) {
    case 'exact': return `{ ${fetch} -m str ${q(s.value)} }`;
    case 'prefix': return `{ ${fetch} -m beg ${q(s.value)} }`;
    case 'regex': return `{ ${fetch} -m reg ${q(full(s.value))} }`;
  }
}

/** HAProxy conditions (AND) for one Match. */
function matchConds(m: Match): string[] {
  const out: string[] = [];
  if (m.path) out.push(strCond('path', m.path));
  for (const h of Object.keys(m.headers).sort()) out.push(strCond(`req.hdr(${h})`, m.headers[h]));
  for (const p of Object.keys(m.queryParams).sort()) out.push(strCond(`urlp(${p})`, m.queryParams[p]));
  if (m.method) out.push(`{ method ${m.method} }`);
  return out;
}

/** HAProxy retry-on keywords of the model's retry conditions. */
function retryOnKeywords(conds: readonly RetryOn[]): string[] {
  const out = new Set<string>();
  for (const c of conds) {
    switch (c) {
      case RetryOn.SERVER_ERROR: for (const k of ['500', '501', '502', '503', '504', 'conn-failure', 'empty-response', 'junk-response', 'response-timeout']) out.add(k); break;
      case RetryOn.GATEWAY_ERROR: for (const k of ['502', '503', '504', 'conn-failure', 'empty-response', 'response-timeout']) out.add(k); break;
      case RetryOn.CONNECT_FAILURE: out.add('conn-failure'); break;
      case RetryOn.RESET: out.add('empty-response'); out.add('junk-response'); break;
      case RetryOn.RETRIABLE_4XX: throw new Error('unreachable: rejected by gatewayProblems');
    }
  }
  const order = ['conn-failure', 'empty-response', 'junk-response', 'response-timeout', '500', '501', '502', '503', '504'];
  return order.filter((k) => out.has(k));
}

function rulesOf(svc: MicroService): ResolvedRule[] {
  const route = routeOf(svc.stack, svc);
  return route ? resolvedRules(route) : [];
}

/**
 * Everything about a service's routes and breakers that HAProxy cannot express. Each is an error:
 * nothing is dropped silently.
 */
export function gatewayProblems(stack: Stack): PyfleetError[] {
  const errors: PyfleetError[] = [];
  const m = stackMesh(stack);
  for (const svc of stack.services) {
    if (!needsGateway(svc)) continue;
    if (stack.composeNetworkMode === ComposeNetworkMode.HOST && (routeOf(stack, svc) || breakersOf(stack, svc).length > 0)) {
      errors.push(new PyfleetError(svc.node.path, 'routes and circuit breakers run through a gateway proxy on compose, which needs a private network, but the stack uses host networking', 'use ComposeNetworkMode.BRIDGE (the default) or OVERLAY'));
      continue;
    }
    const route = routeOf(stack, svc);
    if (route) {
      let rules: ResolvedRule[] = [];
      try { rules = resolvedRules(route); } catch { continue; /* reported by the model checks */ }
      const retryPolicy = new Map<ServiceVersion, { key: string; rule: number }>();
      for (const r of rules) {
        const w = `${route.node.path} rule ${r.sourceIndex}`;
        if (r.fault?.delay) errors.push(new PyfleetError(w, 'fault.delay cannot be expressed by the compose gateway (HAProxy has no delay action)', 'inject delays only on Kubernetes (a separate stack), or use fault.abort'));
        if (r.mirror) errors.push(new PyfleetError(w, 'mirroring cannot be expressed by the compose gateway (HAProxy only mirrors through an external SPOE agent)', 'mirror only on Kubernetes (a separate stack)'));
        if (r.retries.retryOn.includes(RetryOn.RETRIABLE_4XX) && r.retries.attempts > 0) errors.push(new PyfleetError(w, 'RetryOn.RETRIABLE_4XX (409) cannot be expressed by HAProxy\'s retry-on', 'drop RETRIABLE_4XX'));
        if (r.rewriteUri && r.matches.some((x) => x.path?.kind === 'prefix') && r.matches.some((x) => x.path?.kind !== 'prefix')) {
          errors.push(new PyfleetError(w, 'rewriteUri with both prefix and non-prefix path matches in one rule', 'split the rule in two'));
        }
        if (r.retries.attempts === 0) continue;
        const key = `${r.retries.attempts}/${retryOnKeywords(r.retries.retryOn.filter((c) => c !== RetryOn.RETRIABLE_4XX)).join(' ')}`;
        for (const d of r.destinations) {
          const prev = retryPolicy.get(d.version);
          if (prev && prev.key !== key) {
            errors.push(new PyfleetError(w, `rules ${prev.rule} and ${r.sourceIndex} retry requests to version "${d.version.versionName}" differently; HAProxy sets retries per backend (a version)`, 'give every rule that retries requests to one version the same attempts and retryOn'));
          }
          retryPolicy.set(d.version, { key, rule: r.sourceIndex });
        }
      }
    }
    for (const b of breakersOf(stack, svc)) {
      const s = b.settings;
      const w = b.node.path;
      if (s.maxRetries !== undefined) errors.push(new PyfleetError(w, 'maxRetries (concurrent retries) cannot be expressed by the compose gateway', 'drop maxRetries, or bound retries per rule with retries.attempts'));
      if (s.consecutiveGatewayErrors !== undefined) errors.push(new PyfleetError(w, 'consecutiveGatewayErrors cannot be expressed by the compose gateway: HAProxy counts every 5xx alike', 'use consecutive5xxErrors'));
      if (s.maxEjectionPercent !== undefined && s.maxEjectionPercent !== 100) errors.push(new PyfleetError(w, `maxEjectionPercent ${s.maxEjectionPercent} cannot be expressed by the compose gateway: HAProxy may eject every failing host`, 'set maxEjectionPercent: 100 (or leave it out)'));
      if (s.minHealthPercent !== undefined && s.minHealthPercent > 0) errors.push(new PyfleetError(w, `minHealthPercent ${s.minHealthPercent} cannot be expressed by the compose gateway`, 'leave minHealthPercent out (0)'));
    }
  }
  const published = new Map<number, string>();
  for (const svc of stack.services) if (svc.expose) published.set(svc.expose.port, svc.node.path);
  for (const g of m.gateways) {
    const other = published.get(g.httpPort);
    if (other) errors.push(new PyfleetError(g.node.path, `httpPort ${g.httpPort} is already published on compose by "${other}"`, 'give the public entry another httpPort, or drop the service\'s expose'));
    published.set(g.httpPort, g.node.path);
    if (g.tls) {
      errors.push(new PyfleetError(g.node.path, 'a TLS certificate in a Kubernetes secret cannot be served by the compose gateway', 'define the public entry without tls for compose stacks (terminate TLS in front of the host), or keep MeshGateway to the Kubernetes stack'));
    }
  }
  return errors;
}

/** Options of the gateway configuration. */
export interface GatewayConfigOptions {
  /**
   * Fixed upstream addresses per version workload name (`order-service-v1` -> `['127.0.0.1:9001']`),
   * used instead of compose DNS (tests run the real generator output against loopback backends).
   * @default - compose DNS: one server slot per replica of `<service>-<version>`
   */
  readonly addresses?: Record<string, string[]>;
  /**
   * Address the gateway listens on.
   * @default - `:<service port>` (every interface of the gateway container)
   */
  readonly bind?: string;
  /**
   * Listen addresses of public entries by MeshGateway id.
   * @default - `:18080`, `:18081`... inside the gateway container (the gateway's httpPort maps to them)
   */
  readonly publicBinds?: Record<string, string>;
  /**
   * Address of the health endpoint (`/healthz`) for the compose healthcheck.
   * @default - `127.0.0.1:8405`
   */
  readonly healthBind?: string;
}

function dur(ms: number): string {
  return ms % 1000 === 0 ? `${ms / 1000}s` : `${ms}ms`;
}

function headerLines(dir: 'http-request' | 'http-response', h: HeaderChanges | undefined, cond: string): string[] {
  if (!h) return [];
  const out: string[] = [];
  for (const k of h.remove ?? []) out.push(`  ${dir} del-header ${k} ${cond}`);
  for (const k of Object.keys(h.set ?? {}).sort()) out.push(`  ${dir} set-header ${k} ${q(h.set![k])} ${cond}`);
  for (const k of Object.keys(h.add ?? {}).sort()) out.push(`  ${dir} add-header ${k} ${q(h.add![k])} ${cond}`);
  return out;
}

function balance(s: CircuitBreakerSettings | undefined): string[] {
  const lb = s?.loadBalancer;
  switch (lb?.kind) {
    case undefined: case 'roundRobin': return ['  balance roundrobin'];
    case 'leastRequest': return ['  balance leastconn'];
    case 'random': return ['  balance random'];
    case 'header': return [`  balance hdr(${lb.key})`, '  hash-type consistent'];
    case 'cookie': return [`  balance hash req.cook(${lb.key})`, '  hash-type consistent'];
    case 'sourceIp': return ['  balance source', '  hash-type consistent'];
  }
}

/** The gateway's haproxy.cfg for a service. Deterministic: same model, same bytes. */
export function gatewayConfig(svc: MicroService, options: GatewayConfigOptions = {}): string {
  const stack = svc.stack;
  const rules = rulesOf(svc);
  const useDns = options.addresses === undefined;
  const L: string[] = [];
  L.push(`# Generated by pyfleet: gateway proxy of service "${svc.serviceName}" (stack "${stack.stackName}").`);
  L.push('# Enforces the MeshRoute and CircuitBreaker of the service; see docs/mesh.md for the mapping.');
  L.push('global');
  L.push('  log stdout format raw local0 notice');
  L.push('  maxconn 4096');
  L.push('');
  L.push('defaults');
  L.push('  mode http');
  L.push('  log global');
  L.push('  option dontlognull');
  L.push('  option redispatch 1');
  L.push('  retries 0');
  L.push('  timeout connect 10s');
  L.push('  timeout client 1h');
  L.push('  timeout server 1h');
  L.push('  timeout queue 1h');
  L.push('  timeout http-request 30s');
  L.push('  timeout http-keep-alive 60s');
  L.push('  default-server init-addr last,libc,none');
  L.push('');
  if (useDns) {
    L.push('resolvers docker');
    L.push('  nameserver dns 127.0.0.11:53');
    L.push('  accepted_payload_size 8192');
    L.push('  resolve_retries 3');
    L.push('  timeout resolve 1s');
    L.push('  timeout retry 1s');
    L.push('  hold valid 5s');
    L.push('  hold nx 5s');
    L.push('');
  }
  L.push('frontend health');
  L.push(`  bind ${options.healthBind ?? `127.0.0.1:${GATEWAY_HEALTH_PORT}`}`);
  L.push('  monitor-uri /healthz');
  L.push('');
  L.push(`frontend ${svc.serviceName}`);
  L.push(`  bind ${options.bind ?? `:${svc.port}`}`);
  L.push(...routing(svc, rules));
  // Public entries (MeshGateway): their own port, only their hosts and matches, then the same rules.
  publicGateways(svc).forEach((g, i) => {
    L.push('');
    L.push(`frontend public-${g.node.id}`);
    L.push(`  bind ${options.publicBinds?.[g.node.id] ?? `:${PUBLIC_CONTAINER_PORT_BASE + i}`}`);
    const hostConds = g.hosts.map((h) => (h.startsWith('*.') ? `{ req.hdr(host),field(1,:) -m end ${q(h.slice(1))} }` : `{ req.hdr(host),field(1,:) -m str ${q(h)} }`));
    L.push(`  http-request return status 404 content-type text/plain string "no route" unless ${hostConds.join(' or ')}`);
    if (g.match) {
      L.push(`  http-request return status 404 content-type text/plain string "no route" unless ${g.match.map((m) => matchConds(m).join(' ') || 'TRUE').join(' or ')}`);
    }
    L.push(...routing(svc, rules));
  });

  for (const v of svc.versions) {
    L.push('');
    L.push(...versionBackend(svc, v, rules, options));
  }
  L.push('');
  return L.join('\n');
}

/** Container port of the first public entry's frontend (unprivileged; the host port maps to it). */
export const PUBLIC_CONTAINER_PORT_BASE = 18080;

/** The MeshGateways exposing a service, in definition order. */
export function publicGateways(svc: MicroService): MeshGateway[] {
  return stackMesh(svc.stack).gateways.filter((g) => g.service === svc);
}

/** Frontend lines that pick a rule and a version backend for each request. */
function routing(svc: MicroService, rules: ResolvedRule[]): string[] {
  const stack = svc.stack;
  const L: string[] = [];
  L.push('  http-request set-var(txn.roll) rand(100)');
  // 1. Which rule applies: the first whose match holds.
  rules.forEach((r, i) => {
    const unset = '!{ var(txn.rule) -m found }';
    if (r.matches.length === 0) L.push(`  http-request set-var(txn.rule) int(${i}) if ${unset}`);
    for (const m of r.matches) L.push(`  http-request set-var(txn.rule) int(${i}) if ${unset} ${matchConds(m).join(' ')}`);
  });
  // No rule matched: the rule index past the last one (HAProxy reads a negative integer pattern as a range).
  const none = rules.length;
  L.push(`  http-request set-var(txn.rule) int(${none}) if !{ var(txn.rule) -m found }`);
  // 2. Per-rule actions, in the order Envoy applies them: fault abort, destination, rewrite, headers.
  rules.forEach((r, i) => {
    const cond = `{ var(txn.rule) -m int eq ${i} }`;
    if (r.fault?.abort) {
      const p = Math.round(r.fault.abort.percentage * 100);
      L.push(`  http-request return status ${r.fault.abort.httpStatus} content-type text/plain string "fault filter abort" if ${cond} { rand(10000) lt ${p} }`);
    }
    let low = 0;
    for (const d of r.destinations) {
      if (d.weight === 0) continue;
      const high = low + d.weight;
      const range = r.destinations.length === 1 || (low === 0 && high === 100) ? '' : `${low > 0 ? ` { var(txn.roll) -m int ge ${low} }` : ''}${high < 100 ? ` { var(txn.roll) -m int lt ${high} }` : ''}`;
      L.push(`  http-request set-var(txn.be) str(${backend(d.version)}) if ${cond}${range}`);
      low = high;
    }
    if (r.retries.attempts === 0) L.push(`  http-request disable-l7-retry if ${cond}`);
    if (r.rewriteUri) {
      const prefixes = r.matches.filter((m) => m.path?.kind === 'prefix').map((m) => m.path!.value);
      if (prefixes.length > 0) {
        for (const p of prefixes) L.push(`  http-request replace-path ${q(`^${escapeRe(p)}(.*)$`)} ${q(`${r.rewriteUri}\\1`)} if ${cond} { path -m beg ${q(p)} }`);
      } else {
        L.push(`  http-request set-path ${q(r.rewriteUri)} if ${cond}`);
      }
    }
    L.push(...headerLines('http-request', r.requestHeaders, `if ${cond}`));
    L.push(...headerLines('http-response', r.responseHeaders, `if ${cond}`));
  });
  // 3. No rule: every version, in proportion to its replicas (as the Kubernetes Service does).
  const total = svc.versions.reduce((n, v) => n + v.replicas, 0);
  let low = 0;
  svc.versions.forEach((v, idx) => {
    const share = total === 0 ? (idx === 0 ? 100 : 0) : idx === svc.versions.length - 1 ? 100 - low : Math.round((v.replicas / total) * 100);
    if (share <= 0) return;
    const high = Math.min(100, low + share);
    const range = (low === 0 && high === 100) ? '' : `${low > 0 ? ` { var(txn.roll) -m int ge ${low} }` : ''}${high < 100 ? ` { var(txn.roll) -m int lt ${high} }` : ''}`;
    L.push(`  http-request set-var(txn.be) str(${backend(v)}) if { var(txn.rule) -m int eq ${none} }${range}`);
    low = high;
  });
  // 4. Breaker limits that fail fast (Envoy answers 503 when a pool overflows).
  for (const v of svc.versions) {
    const s = effectiveBreaker(stack, v);
    const cond = `{ var(txn.be) -m str ${backend(v)} }`;
    if (s?.maxPendingRequests !== undefined) L.push(`  http-request return status 503 content-type text/plain string "upstream overflow" if ${cond} { queue(${backend(v)}) ge ${s.maxPendingRequests} }`);
    if (s?.maxRequests !== undefined) L.push(`  http-request return status 503 content-type text/plain string "upstream overflow" if ${cond} { be_conn(${backend(v)}) ge ${s.maxRequests} }`);
  }
  L.push('  use_backend %[var(txn.be)]');
  L.push(`  default_backend ${backend(svc.defaultVersion)}`);
  return L;
}

function escapeRe(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

function versionBackend(svc: MicroService, v: ServiceVersion, rules: ResolvedRule[], options: GatewayConfigOptions): string[] {
  const s = effectiveBreaker(svc.stack, v);
  const L: string[] = [`backend ${backend(v)}`];
  L.push(...balance(s));
  const hc = svc.healthCheck;
  if (hc.enabled) {
    L.push(`  option httpchk GET ${hc.path}`);
    L.push('  http-check expect status 200-399');
  }
  if (s?.connectTimeout) L.push(`  timeout connect ${dur(s.connectTimeout.millis)}`);
  // Retries: one policy per backend (gatewayProblems rejects conflicting ones); rules without retries disable L7 retries.
  const retrying = rules.find((r) => r.retries.attempts > 0 && r.destinations.some((d) => d.version === v));
  if (retrying) {
    L.push(`  retries ${retrying.retries.attempts}`);
    L.push(`  retry-on ${retryOnKeywords(retrying.retries.retryOn).join(' ')}`);
  }
  // Per-rule timeouts: each try waits at most the per-try timeout (or the rule timeout without retries).
  rules.forEach((r, i) => {
    if (!r.destinations.some((d) => d.version === v)) return;
    const t = r.retries.attempts > 0 ? (r.retries.perTryTimeout ?? r.timeout) : r.timeout;
    if (t) L.push(`  http-request set-timeout server ${dur(t.millis)} if { var(txn.rule) -m int eq ${i} }`);
  });
  const params: string[] = ['check'];
  if (hc.enabled && svc.healthPort !== svc.port) params.push(`port ${svc.healthPort}`);
  params.push(`inter ${dur((s?.interval ?? hc.interval).millis)}`);
  if (s?.consecutive5xxErrors !== undefined) {
    // A host ejected by observed errors comes back after `rise` passing checks `inter` apart; the first
    // is already scheduled (within one interval), so rise = ceil(base / interval) + 1 re-admits it
    // between the base ejection time and one interval later.
    const inter = (s?.interval ?? hc.interval).millis;
    const rise = Math.ceil((s.baseEjectionTime?.millis ?? 30_000) / inter) + 1;
    params.push(`rise ${rise}`, `fall ${hc.failureThreshold}`, 'observe layer7', `error-limit ${s.consecutive5xxErrors}`, 'on-error mark-down');
  } else {
    params.push(`fall ${hc.failureThreshold}`, 'rise 1');
  }
  if (s?.maxConnections !== undefined) params.push(`maxconn ${s.maxConnections}`);
  if (s?.maxRequestsPerConnection !== undefined) params.push(`max-reuse ${s.maxRequestsPerConnection - 1}`);
  if (s?.idleTimeout !== undefined) params.push(`pool-purge-delay ${dur(s.idleTimeout.millis)}`);
  const fixed = options.addresses?.[v.workloadName];
  if (options.addresses !== undefined) {
    if (!fixed || fixed.length === 0) throw new Error(`gatewayConfig: no address for ${v.workloadName}`);
    fixed.forEach((a, i) => L.push(`  server ${v.versionName}-${i + 1} ${a} ${params.join(' ')}`));
  } else {
    L.push(`  server-template ${v.versionName}- ${Math.max(1, v.replicas)} ${v.workloadName}:${svc.port} resolvers docker resolve-prefer ipv4 ${params.join(' ')}`);
  }
  return L;
}
