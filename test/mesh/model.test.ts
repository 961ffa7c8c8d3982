import { CircuitBreaker, ContainerImage, Duration, LoadBalancer, Match, Mesh, MeshGateway, MeshRoute, MicroService, MtlsMode, PyfleetError, RetryOn, Stack, UpstreamTls } from '../../lib';
import { resolvedRules } from '../../lib/mesh/model';
import { shop, synthProblems } from './helpers';

describe('construction-time checks', () => {
  test('matches reject bad paths, header names, regexes and methods', () => {
    expect(() => Match.pathPrefix('api')).toThrow(PyfleetError);
    expect(() => Match.header('X-Canary', 'yes')).toThrow(/lowercase/);
    expect(() => Match.pathRegex('(')).toThrow(/regular expression/);
    expect(() => Match.pathRegex('^/a(?=b)')).toThrow(/RE2/);
    expect(() => Match.method('get')).toThrow(/HTTP method/);
    expect(() => Match.all(Match.pathPrefix('/a'), Match.pathExact('/b'))).toThrow(/two path conditions/);
    const m = Match.all(Match.pathPrefix('/a'), Match.header('x-a', '1'), Match.queryParam('q', 'v'), Match.method('GET'));
    expect(m.path).toEqual({ kind: 'prefix', value: '/a' });
    expect(m.headers).toEqual({ 'x-a': { kind: 'exact', value: '1' } });
    expect(m.queryParams).toEqual({ q: { kind: 'exact', value: 'v' } });
    expect(m.method).toBe('GET');
  });

  test('route rules need exactly one of to/split and numbers in range', () => {
    const { stack, orders } = shop();
    const v2 = orders.addVersion('v2');
    expect(() => new MeshRoute(stack, 'a', { service: orders, rules: [] })).toThrow(/at least one rule/);
    expect(() => new MeshRoute(stack, 'b', { service: orders, rules: [{ to: v2, split: [{ to: v2, weight: 100 }] }] })).toThrow(/exactly one/);
    expect(() => new MeshRoute(stack, 'c', { service: orders, rules: [{ split: [{ to: v2, weight: 50.5 }] }] })).toThrow(/whole number/);
    expect(() => new MeshRoute(stack, 'd', { service: orders, rules: [{ to: v2, retries: { attempts: 11 } }] })).toThrow(/attempts 11/);
    expect(() => new MeshRoute(stack, 'e', { service: orders, rules: [{ to: v2, fault: { abort: { httpStatus: 503, percentage: 120 } } }] })).toThrow(/120 is out of range/);
    expect(() => new MeshRoute(stack, 'f', { service: orders, rules: [{ to: v2, fault: { abort: { httpStatus: 99, percentage: 1 } } }] })).toThrow(/httpStatus 99/);
    expect(() => new MeshRoute(stack, 'g', { service: orders, rules: [{ to: v2, rewriteUri: 'x' }] })).toThrow(/not a path/);
  });

  test('breakers check ranges and version ownership', () => {
    const { stack, orders, users } = shop();
    expect(() => new CircuitBreaker(stack, 'a', { service: orders, maxConnections: 0 })).toThrow(/maxConnections 0 is out of range/);
    expect(() => new CircuitBreaker(stack, 'b', { service: orders, maxEjectionPercent: 101 })).toThrow(/maxEjectionPercent/);
    expect(() => new CircuitBreaker(stack, 'c', { service: orders })).toThrow(/sets nothing/);
    expect(() => new CircuitBreaker(stack, 'd', { service: orders, version: users.defaultVersion, maxConnections: 1 })).toThrow(/belongs to service "user-service"/);
    expect(() => new CircuitBreaker(stack, 'e', { service: orders, interval: Duration.seconds(0), consecutive5xxErrors: 1 })).toThrow(/positive Duration/);
  });

  test('gateways check host names and the TLS secret', () => {
    const { stack, orders } = shop();
    expect(() => new MeshGateway(stack, 'gw', { service: orders, hosts: ['Shop.example.com'] })).toThrow(/host name/);
    expect(() => new MeshGateway(stack, 'gw2', { service: orders, hosts: ['shop.example.com'], tls: { secretName: 'Bad_Name' } })).toThrow(/secretName/);
    expect(() => new MeshGateway(stack, 'Gw', { service: orders, hosts: ['shop.example.com'] })).toThrow(/DNS-1123/);
  });

  test('Mesh.istio rejects an unknown mTLS mode', () => {
    expect(() => Mesh.istio({ mtls: 'OFF' as any })).toThrow(/unknown/);
    expect(Mesh.istio().mtls).toBe(MtlsMode.STRICT);
  });
});

describe('cross-object checks at synth, all reported together before anything is written', () => {
  test('weights not summing to 100, unknown versions, versions of another service', () => {
    const { app, stack, orders, users } = shop();
    const v2 = orders.addVersion('v2');
    new MeshRoute(stack, 'route', { service: orders, rules: [
      { split: [{ to: orders.defaultVersion, weight: 70 }, { to: v2, weight: 20 }] },
      { match: Match.pathPrefix('/x'), to: 'v3' },
      { match: Match.pathPrefix('/y'), to: users.defaultVersion },
    ] });
    const problems = synthProblems(app);
    expect(problems.map((p) => p.constructPath)).toEqual(['shop/route rule 0', 'shop/route rule 1', 'shop/route rule 2']);
    expect(problems[0].problem).toMatch(/sum to 90, not 100/);
    expect(problems[1].problem).toMatch(/has no version "v3"/);
    expect(problems[2].problem).toMatch(/belongs to service "user-service"/);
    expect(problems[2].fix).toMatch(/v1, v2/);
  });

  test('retries longer than the route timeout, and fault injection with retries', () => {
    const { app, stack, orders } = shop();
    new MeshRoute(stack, 'route', { service: orders, rules: [
      { match: Match.pathPrefix('/a'), to: orders.defaultVersion, timeout: Duration.seconds(5), retries: { attempts: 3, perTryTimeout: Duration.seconds(2) } },
      { to: orders.defaultVersion, retries: { attempts: 3 }, fault: { abort: { httpStatus: 503, percentage: 10 } } },
    ] });
    const problems = synthProblems(app);
    expect(problems).toHaveLength(2);
    expect(problems[0].problem).toMatch(/3 x 2s = 6s, longer than the route timeout 5s/);
    expect(problems[1].problem).toMatch(/Istio ignores the retries/);
  });

  test('TLS that contradicts STRICT mTLS, and an idle timeout above the app keep-alive', () => {
    const { app, stack, orders } = shop({ mesh: Mesh.istio({ mtls: MtlsMode.STRICT }) });
    Object.defineProperty(orders, 'keepAlive', { value: Duration.seconds(2) }); // as a Python construct with keepAlive: 2s would set it
    new CircuitBreaker(stack, 'breaker', { service: orders, upstreamTls: UpstreamTls.DISABLE, idleTimeout: Duration.seconds(5) });
    const problems = synthProblems(app);
    expect(problems.map((p) => p.problem).join('\n')).toMatch(/STRICT/);
    expect(problems.map((p) => p.problem).join('\n')).toMatch(/503 UC/);
    expect(problems.every((p) => p.constructPath === 'shop/breaker')).toBe(true);
  });

  test('PERMISSIVE mTLS allows plain text upstream', () => {
    const { app, stack, orders } = shop({ mesh: Mesh.istio({ mtls: MtlsMode.PERMISSIVE }) });
    new CircuitBreaker(stack, 'breaker', { service: orders, upstreamTls: UpstreamTls.DISABLE, maxConnections: 10 });
    expect(synthProblems(app)).toEqual([]);
  });

  test('an HTTP route on an unnamed or TCP port', () => {
    const app0 = shop();
    const svc = new MicroService(app0.stack, 'db-proxy', { image: ContainerImage.fromRegistry('registry.example.com/p:1.0.0'), additionalPorts: { tcpdata: 5432 } });
    new MeshRoute(app0.stack, 'r1', { service: svc, port: 'tcpdata', rules: [{ to: svc.defaultVersion }] });
    new MeshRoute(app0.stack, 'r2', { service: app0.orders, port: 'web', rules: [{ to: app0.orders.defaultVersion }] });
    const problems = synthProblems(app0.app);
    expect(problems.find((p) => p.constructPath === 'shop/r1')?.problem).toMatch(/plain TCP port/);
    expect(problems.find((p) => p.constructPath === 'shop/r2')?.problem).toMatch(/no port named "web"/);
  });

  test('policies without a mesh are refused rather than dropped from the Kubernetes output', () => {
    const { app, stack, orders } = shop({ mesh: null });
    new CircuitBreaker(stack, 'breaker', { service: orders, maxConnections: 10 });
    const problems = synthProblems(app);
    expect(problems).toHaveLength(1);
    expect(problems[0].problem).toMatch(/no mesh/);
    expect(problems[0].fix).toMatch(/Mesh.istio\(\)/);
  });

  test('two routes or two breakers for one service', () => {
    const { app, stack, orders } = shop();
    new MeshRoute(stack, 'r1', { service: orders, rules: [{ to: orders.defaultVersion }] });
    new MeshRoute(stack, 'r2', { service: orders, rules: [{ to: orders.defaultVersion }] });
    new CircuitBreaker(stack, 'b1', { service: orders, maxConnections: 1 });
    new CircuitBreaker(stack, 'b2', { service: orders, maxConnections: 2 });
    const problems = synthProblems(app);
    expect(problems.map((p) => p.constructPath).sort()).toEqual(['shop/b2', 'shop/r2']);
  });

  test('a route in one stack for a service of another', () => {
    const { app, orders } = shop();
    const other = new Stack(app, 'other', { mesh: Mesh.istio() });
    new MeshRoute(other, 'route', { service: orders, rules: [{ to: orders.defaultVersion }] });
    expect(synthProblems(app).map((p) => p.problem)).toEqual([expect.stringMatching(/of stack "shop"/)]);
  });
});

describe('resolved rules', () => {
  test('non-idempotent methods get a rule without retries in front of a retrying rule', () => {
    const { stack, orders } = shop();
    const route = new MeshRoute(stack, 'route', { service: orders, rules: [
      { match: Match.pathPrefix('/a'), to: orders.defaultVersion, retries: { attempts: 2, retryOn: [RetryOn.SERVER_ERROR] } },
      { to: orders.defaultVersion, retries: { attempts: 1, retryNonIdempotent: true } },
    ] });
    const rules = resolvedRules(route);
    expect(rules.map((r) => [r.sourceIndex, r.nonIdempotentGuard, r.retries.attempts, r.matches.map((m) => `${m.path?.value ?? ''} ${m.method ?? ''}`)])).toEqual([
      [0, true, 0, ['/a POST', '/a PATCH']],
      [0, false, 2, ['/a ']],
      [1, false, 1, []],
    ]);
  });

  test('a rule that only matches POST with retries is refused', () => {
    const { app, stack, orders } = shop();
    new MeshRoute(stack, 'route', { service: orders, rules: [{ match: Match.method('POST'), to: orders.defaultVersion, retries: { attempts: 2 } }] });
    expect(synthProblems(app)[0].problem).toMatch(/not idempotent/);
  });

  test('load balancer factories validate keys', () => {
    expect(() => LoadBalancer.consistentHashHeader('X-User')).toThrow(PyfleetError);
    expect(LoadBalancer.consistentHashCookie('session').key).toBe('session');
  });
});
