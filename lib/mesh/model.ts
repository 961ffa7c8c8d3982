import { PyfleetError } from '../core/errors';
import type { Stack } from '../core/stack';
import { Duration } from '../core/units';
import { MicroService, ServiceVersion } from '../service/microservice';
import { CircuitBreaker, CircuitBreakerSettings, UpstreamTls } from './breaker';
import { MeshGateway } from './gateway';
import { Match, NON_IDEMPOTENT_METHODS } from './match';
import type { Mesh } from './mesh';
import { MtlsMode } from './mesh';
import { meshConstructs } from './registry';
import { FaultInjection, HeaderChanges, MeshRoute, RetryOn, RouteRule, VersionRef } from './route';

/**
 * Target-neutral view of the mesh model that renderers share (each renderer reads it; none imports
 * another): routes with versions resolved and defaults applied, merged breaker settings, checks.
 */

/** Default retry conditions. */
export const DEFAULT_RETRY_ON: readonly RetryOn[] = [RetryOn.CONNECT_FAILURE, RetryOn.GATEWAY_ERROR, RetryOn.RESET];

/** A retry policy with defaults applied. */
export interface ResolvedRetries {
  readonly attempts: number;
  readonly perTryTimeout?: Duration;
  readonly retryOn: readonly RetryOn[];
}

/** One route rule, versions resolved, ready to render. */
export interface ResolvedRule {
  /** Matches (OR); empty means every request. */
  readonly matches: readonly Match[];
  /** Destinations with integer weights summing to 100 (one destination has weight 100). */
  readonly destinations: ReadonlyArray<{ readonly version: ServiceVersion; readonly weight: number }>;
  readonly timeout?: Duration;
  /** Retries (attempts 0 means none, rendered explicitly). */
  readonly retries: ResolvedRetries;
  readonly fault?: FaultInjection;
  readonly mirror?: { readonly version: ServiceVersion; readonly percentage: number };
  readonly rewriteUri?: string;
  readonly requestHeaders?: HeaderChanges;
  readonly responseHeaders?: HeaderChanges;
  /** Index of the user's rule this came from. */
  readonly sourceIndex: number;
  /** True for the copy that keeps non-idempotent methods from being retried. */
  readonly nonIdempotentGuard: boolean;
}

/** The mesh constructs of a stack. */
export interface StackMesh {
  readonly mesh?: Mesh;
  readonly routes: readonly MeshRoute[];
  readonly breakers: readonly CircuitBreaker[];
  readonly gateways: readonly MeshGateway[];
}

interface Indexed extends StackMesh {
  readonly count: number;
  readonly routeBy: Map<MicroService, MeshRoute>;
  readonly breakersBy: Map<MicroService, CircuitBreaker[]>;
}
const cache = new WeakMap<Stack, Indexed>();

function indexed(stack: Stack): Indexed {
  const all = meshConstructs(stack);
  const hit = cache.get(stack);
  if (hit && hit.count === all.length) return hit;
  const routes = all.filter(MeshRoute.isMeshRoute);
  const breakers = all.filter(CircuitBreaker.isCircuitBreaker);
  const routeBy = new Map<MicroService, MeshRoute>();
  for (const r of routes) if (!routeBy.has(r.service)) routeBy.set(r.service, r);
  const breakersBy = new Map<MicroService, CircuitBreaker[]>();
  for (const b of breakers) breakersBy.set(b.service, [...(breakersBy.get(b.service) ?? []), b]);
  const out: Indexed = { mesh: stack.mesh, routes, breakers, gateways: all.filter(MeshGateway.isMeshGateway), count: all.length, routeBy, breakersBy };
  cache.set(stack, out);
  return out;
}

/** Collects the MeshRoutes, CircuitBreakers and MeshGateways of a stack, in definition order. */
export function stackMesh(stack: Stack): StackMesh {
  return indexed(stack);
}

/** The route of a service, if any (the first, when several are defined: a model error). */
export function routeOf(stack: Stack, svc: MicroService): MeshRoute | undefined {
  return indexed(stack).routeBy.get(svc);
}

/** The breakers of a service: the service-wide one and those of single versions. */
export function breakersOf(stack: Stack, svc: MicroService): CircuitBreaker[] {
  return indexed(stack).breakersBy.get(svc) ?? [];
}

/** Settings that apply to a version: the service-wide breaker's, overridden field by field by the version's. */
export function effectiveBreaker(stack: Stack, version: ServiceVersion): CircuitBreakerSettings | undefined {
  const bs = breakersOf(stack, version.service);
  const whole = bs.find((b) => !b.version);
  const own = bs.find((b) => b.version === version);
  if (!whole && !own) return undefined;
  const out: Record<string, unknown> = { ...(whole?.settings ?? {}) };
  for (const [k, v] of Object.entries(own?.settings ?? {})) if (v !== undefined) out[k] = v;
  return out as CircuitBreakerSettings;
}

/** Resolves a version reference against the routed service, or returns a problem. */
export function resolveVersion(svc: MicroService, ref: VersionRef): ServiceVersion | string {
  if (typeof ref === 'string') {
    return svc.version(ref) ?? `service "${svc.serviceName}" has no version "${ref}" (it has ${svc.versions.map((v) => v.versionName).join(', ')})`;
  }
  if (!(ref instanceof ServiceVersion)) return 'the destination is not a ServiceVersion';
  if (ref.service !== svc) return `version "${ref.versionName}" belongs to service "${ref.service.serviceName}", not to the routed service "${svc.serviceName}"`;
  return ref;
}

/** App-server keep-alive of a service, when its construct knows it (Python constructs expose `keepAlive`). */
export function appKeepAlive(svc: MicroService): Duration | undefined {
  return svc.keepAlive;
}

/** Rules of a route with versions resolved and the non-idempotent guard rules inserted. Call after validation. */
export function resolvedRules(route: MeshRoute): ResolvedRule[] {
  const out: ResolvedRule[] = [];
  route.rules.forEach((rule, i) => {
    const base = resolveRule(route.service, rule, i);
    if (base.retries.attempts > 0 && !rule.retries?.retryNonIdempotent) {
      const matches = base.matches.length === 0 ? [undefined] : base.matches;
      const guard: Match[] = [];
      for (const m of matches) {
        if (m?.method) {
          if ((NON_IDEMPOTENT_METHODS as readonly string[]).includes(m.method)) guard.push(m);
          continue;
        }
        for (const method of NON_IDEMPOTENT_METHODS) guard.push(m ? m.and(Match.method(method)) : Match.method(method));
      }
      if (guard.length > 0) {
        out.push({ ...base, matches: guard, retries: { ...base.retries, attempts: 0 }, nonIdempotentGuard: true });
      }
      const rest = base.matches.filter((m) => !(m.method && (NON_IDEMPOTENT_METHODS as readonly string[]).includes(m.method)));
      if (base.matches.length > 0 && rest.length === 0) return;
      out.push({ ...base, matches: rest });
      return;
    }
    out.push(base);
  });
  return out;
}

function resolveRule(svc: MicroService, rule: RouteRule, i: number): ResolvedRule {
  const v = (ref: VersionRef): ServiceVersion => {
    const r = resolveVersion(svc, ref);
    if (typeof r === 'string') throw new PyfleetError(svc.node.path, r, 'validate the model first');
    return r;
  };
  const destinations = rule.to !== undefined ? [{ version: v(rule.to), weight: 100 }] : rule.split!.map((d) => ({ version: v(d.to), weight: d.weight }));
  const r = rule.retries;
  return {
    matches: rule.match === undefined ? [] : Array.isArray(rule.match) ? rule.match : [rule.match],
    destinations,
    timeout: rule.timeout,
    retries: { attempts: r?.attempts ?? 0, perTryTimeout: r?.perTryTimeout, retryOn: r?.retryOn ?? DEFAULT_RETRY_ON },
    fault: rule.fault,
    mirror: rule.mirror ? { version: v(rule.mirror.to), percentage: rule.mirror.percentage ?? 100 } : undefined,
    rewriteUri: rule.rewriteUri,
    requestHeaders: rule.requestHeaders,
    responseHeaders: rule.responseHeaders,
    sourceIndex: i,
    nonIdempotentGuard: false,
  };
}

/**
 * Cross-object rules of the mesh model, checked once before any renderer runs.
 */
export function validateMesh(stacks: readonly Stack[]): PyfleetError[] {
  const errors: PyfleetError[] = [];
  for (const stack of stacks) {
    const m = stackMesh(stack);
    const seenRoutes = new Map<MicroService, MeshRoute>();
    for (const route of m.routes) {
      const where = route.node.path;
      const svc = route.service;
      if (svc.stack !== stack) {
        errors.push(new PyfleetError(where, `routes service "${svc.node.path}" of stack "${svc.stack.stackName}"`, `define the route in stack "${svc.stack.stackName}"`));
        continue;
      }
      const other = seenRoutes.get(svc);
      if (other) {
        errors.push(new PyfleetError(where, `service "${svc.serviceName}" already has a MeshRoute ("${other.node.path}"); two would make rule order ambiguous`, 'put every rule of the service into one MeshRoute'));
      }
      seenRoutes.set(svc, route);
      if (route.port !== 'http') {
        const isTcp = route.port in svc.additionalPorts;
        errors.push(new PyfleetError(where, isTcp
          ? `port "${route.port}" is a plain TCP port; an HTTP route needs the service's named HTTP port`
          : `service "${svc.serviceName}" has no port named "${route.port}" (an HTTP route needs a named HTTP port)`, 'route the "http" port (leave `port` out)'));
      }
      route.rules.forEach((rule, i) => {
        const w = `${where} rule ${i}`;
        let ok = true;
        const refs = rule.to !== undefined ? [rule.to] : (rule.split ?? []).map((d) => d.to);
        if (rule.mirror) refs.push(rule.mirror.to);
        for (const ref of refs) {
          const r = resolveVersion(svc, ref);
          if (typeof r === 'string') {
            ok = false;
            errors.push(new PyfleetError(w, r, `route to a version of "${svc.serviceName}": ${svc.versions.map((x) => x.versionName).join(', ')} (add one with ${svc.serviceName}.addVersion(...))`));
          }
        }
        if (ok) {
          const live = rule.to !== undefined ? [rule.to] : (rule.split ?? []).filter((d) => d.weight > 0).map((d) => d.to);
          for (const ref of live) {
            const v = resolveVersion(svc, ref) as ServiceVersion;
            if (v.replicas === 0 && !v.autoscale) { // an autoscaled version's minimum is checked with the scaling rules
              errors.push(new PyfleetError(w, `the rule sends traffic to version "${v.versionName}", which has 0 replicas, so those requests would fail with 503`,
                `give "${v.versionName}" at least one replica (addVersion("${v.versionName}", { replicas: 1 })), or route its share to another version`));
            }
          }
        }
        if (rule.split && ok) {
          const sum = rule.split.reduce((n, d) => n + d.weight, 0);
          if (sum !== 100) errors.push(new PyfleetError(w, `split weights sum to ${sum}, not 100`, 'make the integer weights add up to exactly 100'));
          const names = rule.split.map((d) => (resolveVersion(svc, d.to) as ServiceVersion).versionName);
          const dup = names.find((n, j) => names.indexOf(n) !== j);
          if (dup) errors.push(new PyfleetError(w, `version "${dup}" appears twice in the split`, 'list each version once and add up its weights'));
        }
        const r = rule.retries;
        if (r && r.attempts > 0 && rule.timeout && r.perTryTimeout && r.attempts * r.perTryTimeout.millis > rule.timeout.millis) {
          errors.push(new PyfleetError(w, `retries take up to ${r.attempts} x ${r.perTryTimeout} = ${Duration.millis(r.attempts * r.perTryTimeout.millis)}, longer than the route timeout ${rule.timeout}, so the last retries can never run`,
            `raise the timeout to at least ${Duration.millis(r.attempts * r.perTryTimeout.millis)} or lower attempts / perTryTimeout`));
        }
        if (r && r.attempts > 0 && rule.fault) {
          errors.push(new PyfleetError(w, 'fault injection and retries on one rule: Istio ignores the retries of a rule that injects faults', 'put the fault on its own rule (e.g. matching a test header) or drop the retries'));
        }
        if (r && r.attempts > 0 && !r.retryNonIdempotent && rule.match !== undefined) {
          const ms = Array.isArray(rule.match) ? rule.match : [rule.match];
          if (ms.length > 0 && ms.every((x) => x.method && (NON_IDEMPOTENT_METHODS as readonly string[]).includes(x.method))) {
            errors.push(new PyfleetError(w, `the rule only matches ${ms.map((x) => x.method).join('/')}, which are not idempotent, so its retries would never run`, 'set retries.retryNonIdempotent: true if retrying is safe, or drop the retries'));
          }
        }
      });
    }

    const seenBreakers = new Map<string, CircuitBreaker>();
    for (const b of m.breakers) {
      const where = b.node.path;
      if (b.service.stack !== stack) {
        errors.push(new PyfleetError(where, `protects service "${b.service.node.path}" of stack "${b.service.stack.stackName}"`, `define the breaker in stack "${b.service.stack.stackName}"`));
        continue;
      }
      const key = `${b.service.serviceName}/${b.version?.versionName ?? '*'}`;
      const other = seenBreakers.get(key);
      if (other) errors.push(new PyfleetError(where, `${b.version ? `version "${key}"` : `service "${b.service.serviceName}"`} already has a CircuitBreaker ("${other.node.path}")`, 'merge the settings into one breaker'));
      seenBreakers.set(key, b);
      if (b.settings.upstreamTls === UpstreamTls.DISABLE && m.mesh && m.mesh.mtls === MtlsMode.STRICT) {
        errors.push(new PyfleetError(where, 'upstreamTls DISABLE sends plain text, but the stack\'s mTLS mode is STRICT, so every request would be refused', 'drop upstreamTls (ISTIO_MUTUAL agrees with STRICT) or use Mesh.istio({ mtls: MtlsMode.PERMISSIVE })'));
      }
      const ka = appKeepAlive(b.service);
      if (b.settings.idleTimeout && ka && b.settings.idleTimeout.millis >= ka.millis) {
        errors.push(new PyfleetError(where, `idleTimeout ${b.settings.idleTimeout} is not below the app server's keep-alive ${ka}: the app closes idle connections first and requests racing the close fail with "503 UC"`,
          `set idleTimeout below ${ka} (e.g. ${Duration.millis(Math.max(1, ka.millis - 500))}) or raise the app's keep-alive`));
      }
      const s = b.settings;
      if (b.detectsOutliers && s.consecutive5xxErrors === undefined && s.consecutiveGatewayErrors === undefined) {
        errors.push(new PyfleetError(where, 'outlier detection is configured but no error count ejects a host', 'set consecutive5xxErrors (or consecutiveGatewayErrors)'));
      }
    }

    for (const g of m.gateways) {
      if (g.service.stack !== stack) errors.push(new PyfleetError(g.node.path, `exposes service "${g.service.node.path}" of another stack`, `define the gateway in stack "${g.service.stack.stackName}"`));
    }
  }
  return errors;
}
