import * as fs from 'fs';
import * as path from 'path';
import Ajv from 'ajv';
import { CircuitBreaker, ContainerImage, Duration, LoadBalancer, Match, Mesh, MeshGateway, MeshRoute, MicroService, MtlsMode } from '../../lib';
import { shop, synthProblems } from '../mesh/helpers';

const fixture = JSON.parse(fs.readFileSync(path.join(__dirname, '../fixtures/istio-schemas.json'), 'utf8'));
const ajv = new Ajv({ allErrors: true, strict: false, validateFormats: false });
const validators: Record<string, ReturnType<typeof ajv.compile>> = {};
for (const [key, schema] of Object.entries<any>(fixture.schemas)) validators[key] = ajv.compile(schema.properties.spec);

/** Validates the spec of every Istio object against the strict CRD schema (unknown fields are errors). */
function expectValidIstio(objects: any[]): void {
  for (const o of objects.filter((x) => /istio\.io\//.test(x.apiVersion))) {
    const v = validators[`${o.apiVersion}/${o.kind}`];
    expect(v).toBeDefined();
    const ok = v(o.spec);
    expect({ name: `${o.kind}/${o.metadata.name}`, errors: ok ? null : v.errors }).toEqual({ name: `${o.kind}/${o.metadata.name}`, errors: null });
  }
}

function canary() {
  // Mirroring, delay faults and some breaker fields are Kubernetes-only: this stack has no compose project.
  const s = shop({ compose: false });
  const v2 = s.orders.addVersion('v2');
  new MeshRoute(s.stack, 'orders-canary', { service: s.orders, rules: [
    { match: Match.pathPrefix('/api/v2'), to: v2, rewriteUri: '/v2', requestHeaders: { set: { 'x-canary': '1' }, remove: ['x-debug'] }, responseHeaders: { add: { 'x-served-by': 'v2' } } },
    { match: [Match.header('x-user', 'beta'), Match.queryParamRegex('beta', '1|yes')], to: v2, fault: { abort: { httpStatus: 503, percentage: 1.5 }, delay: { fixed: Duration.millis(200), percentage: 10 } }, mirror: { to: s.orders.defaultVersion, percentage: 5 } },
    { split: [{ to: s.orders.defaultVersion, weight: 70 }, { to: v2, weight: 30 }], timeout: Duration.seconds(10), retries: { attempts: 3, perTryTimeout: Duration.seconds(2) } },
  ] });
  new CircuitBreaker(s.stack, 'orders-breaker', { service: s.orders, maxConnections: 100, connectTimeout: Duration.seconds(2), maxPendingRequests: 50, maxRequests: 200, maxRequestsPerConnection: 10, maxRetries: 3, idleTimeout: Duration.seconds(30),
    consecutive5xxErrors: 5, consecutiveGatewayErrors: 3, interval: Duration.seconds(10), baseEjectionTime: Duration.seconds(30), maxEjectionPercent: 50, minHealthPercent: 20, loadBalancer: LoadBalancer.leastRequest() });
  new CircuitBreaker(s.stack, 'v2-breaker', { service: s.orders, version: v2, maxConnections: 10, loadBalancer: LoadBalancer.consistentHashCookie('session') });
  return { ...s, v2 };
}

function kube(app: ReturnType<typeof shop>['app']): any[] {
  return app.synthesize()[0].results.kubernetes as any[];
}
const find = (objs: any[], kind: string, name: string): any => objs.find((o) => o.kind === kind && o.metadata.name === name);

describe('istio renderer', () => {
  test('namespace injection, proxy-first start, STRICT PeerAuthentication, DestinationRule TLS agreeing', () => {
    const { app } = canary();
    const objs = kube(app);
    expect(find(objs, 'Namespace', 'shop').metadata.labels['istio-injection']).toBe('enabled');
    for (const d of objs.filter((o) => o.kind === 'Deployment')) {
      expect(JSON.parse(d.spec.template.metadata.annotations['proxy.istio.io/config'])).toEqual({ holdApplicationUntilProxyStarts: true });
    }
    const pa = find(objs, 'PeerAuthentication', 'default');
    expect(pa.apiVersion).toBe('security.istio.io/v1');
    expect(pa.metadata.namespace).toBe('shop');
    expect(pa.spec).toEqual({ mtls: { mode: 'STRICT' } });
    const dr = find(objs, 'DestinationRule', 'order-service');
    expect(dr.apiVersion).toBe('networking.istio.io/v1');
    expect(dr.spec.trafficPolicy.tls).toEqual({ mode: 'ISTIO_MUTUAL' });
    expectValidIstio(objs);
  });

  test('PERMISSIVE on request; no hold annotation when turned off', () => {
    const s = shop({ mesh: Mesh.istio({ mtls: MtlsMode.PERMISSIVE, holdApplicationUntilProxyStarts: false }) });
    new CircuitBreaker(s.stack, 'b', { service: s.orders, maxConnections: 5 });
    const objs = kube(s.app);
    expect(find(objs, 'PeerAuthentication', 'default').spec.mtls.mode).toBe('PERMISSIVE');
    expect(objs.filter((o) => o.kind === 'Deployment').every((d) => !d.spec.template.metadata.annotations?.['proxy.istio.io/config'])).toBe(true);
  });

  test('DestinationRule: host, version subsets matching pod labels, breaker fields', () => {
    const { app } = canary();
    const objs = kube(app);
    const dr = find(objs, 'DestinationRule', 'order-service');
    expect(dr.spec.host).toBe('order-service.shop.svc.cluster.local');
    expect(dr.spec.subsets.map((s: any) => [s.name, s.labels])).toEqual([['v1', { version: 'v1' }], ['v2', { version: 'v2' }]]);
    // every subset selects pods that exist: the Deployment's pod labels carry app and version
    for (const s of dr.spec.subsets) {
      const dep = find(objs, 'Deployment', `order-service-${s.name}`);
      expect(dep.spec.template.metadata.labels).toMatchObject({ app: 'order-service', ...s.labels });
    }
    const svc = find(objs, 'Service', 'order-service');
    expect(svc.spec.ports[0]).toMatchObject({ name: 'http', appProtocol: 'http' });
    expect(dr.spec.trafficPolicy).toEqual({
      tls: { mode: 'ISTIO_MUTUAL' },
      connectionPool: {
        tcp: { maxConnections: 100, connectTimeout: '2s' },
        http: { http1MaxPendingRequests: 50, http2MaxRequests: 200, maxRequestsPerConnection: 10, maxRetries: 3, idleTimeout: '30s' },
      },
      outlierDetection: { consecutive5xxErrors: 5, consecutiveGatewayErrors: 3, interval: '10s', baseEjectionTime: '30s', maxEjectionPercent: 50, minHealthPercent: 20 },
      loadBalancer: { simple: 'LEAST_REQUEST' },
    });
    // the version's breaker overrides field by field and keeps the service-wide rest
    const v2 = dr.spec.subsets[1].trafficPolicy;
    expect(v2.connectionPool.tcp.maxConnections).toBe(10);
    expect(v2.connectionPool.http.http1MaxPendingRequests).toBe(50);
    expect(v2.loadBalancer).toEqual({ consistentHash: { httpCookie: { name: 'session' } } });
    expect(v2.tls).toEqual({ mode: 'ISTIO_MUTUAL' });
  });

  test('VirtualService: ordered rules, weights, timeouts, retries, faults, mirror, rewrite, headers, catch-all', () => {
    const { app } = canary();
    const objs = kube(app);
    const vs = find(objs, 'VirtualService', 'order-service');
    expect(vs.spec.hosts).toEqual(['order-service.shop.svc.cluster.local']);
    expect(vs.spec.gateways).toBeUndefined();
    const http = vs.spec.http;
    // rule 2 matches every request, so no catch-all is added after it
    expect(http.map((r: any) => r.name)).toEqual(['rule-0', 'rule-1', 'rule-2-no-retry', 'rule-2']);
    expect(http[0].match).toEqual([{ uri: { prefix: '/api/v2' } }]);
    expect(http[0].route).toEqual([{ destination: { host: 'order-service.shop.svc.cluster.local', subset: 'v2', port: { number: 8002 } } }]);
    expect(http[0].rewrite).toEqual({ uri: '/v2' });
    expect(http[0].headers).toEqual({ request: { set: { 'x-canary': '1' }, remove: ['x-debug'] }, response: { add: { 'x-served-by': 'v2' } } });
    expect(http[0].retries).toEqual({ attempts: 0 });
    expect(http[1].match).toEqual([{ headers: { 'x-user': { exact: 'beta' } } }, { queryParams: { beta: { regex: '1|yes' } } }]);
    expect(http[1].fault).toEqual({ delay: { fixedDelay: '200ms', percentage: { value: 10 } }, abort: { httpStatus: 503, percentage: { value: 1.5 } } });
    expect(http[1].mirror).toEqual({ host: 'order-service.shop.svc.cluster.local', subset: 'v1', port: { number: 8002 } });
    expect(http[1].mirrorPercentage).toEqual({ value: 5 });
    expect(http[2].match).toEqual([{ method: { exact: 'POST' } }, { method: { exact: 'PATCH' } }]);
    expect(http[2].retries).toEqual({ attempts: 0 });
    expect(http[3].match).toBeUndefined();
    expect(http[3].route.map((r: any) => [r.destination.subset, r.weight])).toEqual([['v1', 70], ['v2', 30]]);
    expect(http[3].route.reduce((n: number, r: any) => n + r.weight, 0)).toBe(100);
    expect(http[3].timeout).toBe('10s');
    expect(http[3].retries).toEqual({ attempts: 3, perTryTimeout: '2s', retryOn: 'connect-failure,gateway-error,reset' });
    // every subset a route names is defined by the DestinationRule
    const subsets = new Set(find(objs, 'DestinationRule', 'order-service').spec.subsets.map((s: any) => s.name));
    for (const r of http) for (const d of r.route) if (d.destination.subset) expect(subsets.has(d.destination.subset)).toBe(true);
    expectValidIstio(objs);
  });

  test('Gateway with TLS from a secret and redirect, bound to the VirtualService; only the exposed routes', () => {
    const s = canary();
    new MeshGateway(s.stack, 'public', { service: s.orders, hosts: ['shop.example.com'], tls: { secretName: 'shop-tls' }, match: [Match.pathPrefix('/api')] });
    const objs = kube(s.app);
    const gw = find(objs, 'Gateway', 'public');
    expect(gw.spec.selector).toEqual({ istio: 'ingressgateway' });
    expect(gw.spec.servers).toEqual([
      { port: { number: 80, name: 'http', protocol: 'HTTP' }, hosts: ['shop.example.com'], tls: { httpsRedirect: true } },
      { port: { number: 443, name: 'https', protocol: 'HTTPS' }, hosts: ['shop.example.com'], tls: { mode: 'SIMPLE', credentialName: 'shop-tls' } },
    ]);
    const vs = find(objs, 'VirtualService', 'order-service');
    expect(vs.spec.gateways).toEqual(['mesh', 'public']);
    expect(vs.spec.hosts).toEqual(['order-service.shop.svc.cluster.local', 'shop.example.com']);
    // rule 0 (/api/v2) lies inside /api: exposed as is; the split rule is exposed only under /api
    expect(vs.spec.http[0].match).toEqual([{ uri: { prefix: '/api/v2' }, gateways: ['mesh'] }, { uri: { prefix: '/api/v2' }, gateways: ['public'] }]);
    expect(vs.spec.http[3].match).toEqual([{ gateways: ['mesh'] }, { uri: { prefix: '/api' }, gateways: ['public'] }]);
    expect(vs.spec.http.map((r: any) => r.name)).toEqual(['rule-0', 'rule-1', 'rule-2-no-retry', 'rule-2']);
    // a rule whose path lies outside every gateway match is not exposed through the gateway
    const t = shop({ compose: false });
    new MeshRoute(t.stack, 'r', { service: t.orders, rules: [{ match: Match.pathPrefix('/admin'), to: t.orders.defaultVersion }, { to: t.orders.defaultVersion }] });
    new MeshGateway(t.stack, 'public', { service: t.orders, hosts: ['shop.example.com'], match: [Match.pathPrefix('/api')] });
    const tv = find(kube(t.app), 'VirtualService', 'order-service');
    expect(tv.spec.http[0].match).toEqual([{ uri: { prefix: '/admin' }, gateways: ['mesh'] }]);
    expect(tv.spec.http[1].match).toEqual([{ gateways: ['mesh'] }, { uri: { prefix: '/api' }, gateways: ['public'] }]);
    expectValidIstio(objs);
  });

  test('requests no rule matches go to every version (catch-all), as without routes', () => {
    const s = shop();
    const v2 = s.orders.addVersion('v2');
    new MeshRoute(s.stack, 'r', { service: s.orders, rules: [{ match: Match.header('x-canary', 'yes'), to: v2 }] });
    const http = find(kube(s.app), 'VirtualService', 'order-service').spec.http;
    expect(http.map((r: any) => r.name)).toEqual(['rule-0', 'default']);
    expect(http[1].match).toBeUndefined();
    expect(http[1].route).toEqual([{ destination: { host: 'order-service.shop.svc.cluster.local', port: { number: 8002 } } }]);
  });

  test('a known app keep-alive gets an upstream idle timeout below it, even without a breaker', () => {
    const s = shop();
    Object.defineProperty(s.users, 'keepAlive', { value: Duration.seconds(2) });
    const objs = kube(s.app);
    const dr = find(objs, 'DestinationRule', 'user-service');
    expect(dr.spec.trafficPolicy.connectionPool).toEqual({ http: { idleTimeout: '1500ms' } });
    expect(find(objs, 'DestinationRule', 'order-service')).toBeUndefined();
    expectValidIstio(objs);
  });

  test('output is byte-identical across two synths', () => {
    const a = canary();
    const b = canary();
    const text = (app: any): string => app.synthesize()[0].artifacts.filter((x: any) => !x.copyFrom).map((x: any) => `${x.path}\n${x.content}`).join('\n');
    expect(text(a.app)).toBe(text(b.app));
  });

  const reference = path.resolve(__dirname, '../../../shared/reference/istio-crds-1.30.gen.yaml');
  (fs.existsSync(reference) ? test : test.skip)('the committed schemas match the reference CRDs (../shared)', () => {
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    const { filterCrds } = require('../../scripts/istio-crds.js');
    expect(filterCrds(reference).schemas).toEqual(fixture.schemas);
  });

  test('the strict schemas catch a typo', () => {
    const v = validators['networking.istio.io/v1/DestinationRule'];
    expect(v({ host: 'x', trafficPolicy: { outlierDetection: { consecutive5xxError: 5 } } })).toBe(false);
    expect(v({ host: 'x', trafficPolicy: { outlierDetection: { interval: '10 seconds' } } })).toBe(false);
    expect(v({ host: 'x', trafficPolicy: { outlierDetection: { consecutive5xxErrors: 5, interval: '10s' } } })).toBe(true);
  });
});

describe('istio authorization from the call graph', () => {
  test('STRICT: each service ALLOWs only its callers\' principals on its ports; behind a MeshGateway also the ingress gateway\'s', () => {
    const s = shop({ mesh: Mesh.istio({ trustDomain: 'prod.example', ingressNamespace: 'istio-ingress', ingressServiceAccount: 'public-gw' }) });
    new MeshGateway(s.stack, 'public', { service: s.orders, hosts: ['shop.example.com'] });
    const objs = kube(s.app);
    const users = find(objs, 'AuthorizationPolicy', 'user-service');
    expect(users.apiVersion).toBe('security.istio.io/v1');
    expect(users.metadata.namespace).toBe('shop');
    expect(users.spec).toEqual({
      selector: { matchLabels: { app: 'user-service' } },
      action: 'ALLOW',
      // order-service's pods run as ServiceAccount order-service
      rules: [{ from: [{ source: { principals: ['prod.example/ns/shop/sa/order-service'] } }], to: [{ operation: { ports: ['8001'] } }] }],
    });
    const sa = find(objs, 'Deployment', 'order-service-v1').spec.template.spec.serviceAccountName;
    expect(sa).toBe('order-service');
    expect(find(objs, 'ServiceAccount', sa)).toBeDefined();
    // nobody calls order-service: only the ingress gateway, on the container port
    expect(find(objs, 'AuthorizationPolicy', 'order-service').spec.rules).toEqual([
      { from: [{ source: { principals: ['prod.example/ns/istio-ingress/sa/public-gw'] } }], to: [{ operation: { ports: ['8002'] } }] },
    ]);
    expectValidIstio(objs);
  });

  test('a service nobody calls admits nothing; an exposed one anyone on its HTTP port, with a port-level PERMISSIVE for its load balancer', () => {
    const s = shop();
    new MicroService(s.stack, 'batch', { image: ContainerImage.fromRegistry('registry.example.com/batch:1.0.0') });
    new MicroService(s.stack, 'web', { image: ContainerImage.fromRegistry('registry.example.com/web:1.0.0'), port: 8080, calls: [s.orders], expose: { port: 80 } });
    const objs = kube(s.app);
    expect(find(objs, 'AuthorizationPolicy', 'batch').spec).toEqual({ selector: { matchLabels: { app: 'batch' } }, action: 'ALLOW' });
    expect(find(objs, 'AuthorizationPolicy', 'web').spec.rules).toEqual([{ to: [{ operation: { ports: ['8080'] } }] }]);
    const pa = find(objs, 'PeerAuthentication', 'web');
    expect(pa.spec).toEqual({ selector: { matchLabels: { app: 'web' } }, mtls: { mode: 'STRICT' }, portLevelMtls: { 8080: { mode: 'PERMISSIVE' } } });
    expect(objs.filter((o) => o.kind === 'PeerAuthentication').map((o) => o.metadata.name)).toEqual(['default', 'web']);
    expectValidIstio(objs);
  });

  test('PERMISSIVE renders none by default and refuses them when asked for; STRICT can turn them off', () => {
    const p = shop({ mesh: Mesh.istio({ mtls: MtlsMode.PERMISSIVE }) });
    expect(kube(p.app).filter((o) => o.kind === 'AuthorizationPolicy')).toEqual([]);
    const asked = shop({ mesh: Mesh.istio({ mtls: MtlsMode.PERMISSIVE, authorizationPolicies: true }) });
    const problems = synthProblems(asked.app);
    expect(problems.map((e) => e.message)).toEqual([expect.stringMatching(/^\[pyfleet\] shop: AuthorizationPolicies admit callers by their mTLS principal, but under PERMISSIVE mTLS a plain-text request carries no principal.*Fix: use Mesh\.istio\(\{ mtls: MtlsMode\.STRICT \}\)/)]);
    const off = shop({ mesh: Mesh.istio({ authorizationPolicies: false }) });
    expect(kube(off.app).filter((o) => o.kind === 'AuthorizationPolicy')).toEqual([]);
    expect(() => Mesh.istio({ trustDomain: 'Bad Domain' })).toThrow(/trustDomain "Bad Domain" is not valid/);
    expect(() => Mesh.istio({ ingressNamespace: 'istio_system' })).toThrow(/ingressNamespace "istio_system" is not valid/);
  });

  test('the strict AuthorizationPolicy schema catches a typo', () => {
    const v = validators['security.istio.io/v1/AuthorizationPolicy'];
    expect(v({ action: 'ALLOW', rules: [{ from: [{ source: { principal: ['x'] } }] }] })).toBe(false);
    expect(v({ action: 'PERMIT' })).toBe(false);
    expect(v({ action: 'ALLOW', rules: [{ from: [{ source: { principals: ['x'] } }], to: [{ operation: { ports: ['80'] } }] }] })).toBe(true);
  });
});
