// The independent reachability check (test/support/reachability.ts) on every example and on a program
// with each kind of edge: what the synthesized NetworkPolicies, AuthorizationPolicies and compose
// networks allow is exactly the call graph plus the exposure, mesh-ingress and DNS edges. Also the
// evaluator's own semantics on hand-written policies, and policies broken on purpose.
import * as path from 'path';
import * as yaml from 'js-yaml';
import { App, CeleryWorker, CircuitBreaker, ComposeNetworkMode, ContainerImage, FastApiApp, HealthCheck, Match, Mesh, MeshGateway, MeshRoute, MicroService, Monitoring, Postgres, Redis, RedisMode, Stack, Worker, WorkerHealthCheck } from '../../lib';
import { buildCanary } from '../../examples/canary/main';
import { buildFlaskGunicorn } from '../../examples/flask-gunicorn/main';
import { buildHello } from '../../examples/hello/main';
import { buildShop } from '../../examples/shop/main';
import { buildVps } from '../../examples/vps/main';
import { expectedCompose, expectedIstioFlows, expectedKubernetesFlows } from '../support/expected-reachability';
import { compare, composeReachability, inCidr, istioFlows, networkPolicyFlows, selects } from '../support/reachability';
import { stackConfig, swarmCli } from '../support/docker';
import { synth, Synthesized } from '../support/synth';

const image = (name: string): ContainerImage => ContainerImage.fromRegistry(`registry.example.com/${name}:1.0.0`);
const none = { missing: [], extra: [] };

/** Synthesizes a program to disk and reads its output back as text, as a user would apply it. */
function written(build: (app: App) => Stack): { stack: Stack; k8s: any[]; compose?: any; out: Synthesized } {
  let stack!: Stack;
  const out = synth((app) => { stack = build(app); });
  const k8s = yaml.loadAll(out.files.get(`${stack.stackName}.k8s.yaml`)!) as any[];
  const text = out.files.get(`${stack.stackName}.compose.yml`);
  return { stack, k8s, compose: text === undefined ? undefined : yaml.load(text), out };
}

/**
 * Every kind of edge: two callers of one service (users), a service with extra named ports (users:
 * metrics), a service with two versions behind a route and a breaker that is exposed and called
 * (orders), an entry through a MeshGateway (catalog), a service nobody calls that calls nothing
 * (batch), in an Istio mesh with STRICT mTLS.
 */
function everyEdge(app: App, mode = ComposeNetworkMode.BRIDGE): Stack {
  const stack = new Stack(app, 'edges', { namespace: 'edges', mesh: Mesh.istio(), compose: { networkMode: mode } });
  const users = new MicroService(stack, 'users', { image: image('users'), port: 8001, replicas: 1, additionalPorts: { metrics: 9100 } });
  const orders = new MicroService(stack, 'orders', { image: image('orders'), port: 8002, replicas: 1, calls: [users], expose: { port: 80 } });
  const v2 = orders.addVersion('v2', { image: image('orders-v2') });
  new MeshRoute(stack, 'orders-canary', { service: orders, rules: [{ match: Match.pathPrefix('/v2'), to: v2 }, { split: [{ to: orders.defaultVersion, weight: 90 }, { to: v2, weight: 10 }] }] });
  new CircuitBreaker(stack, 'orders-breaker', { service: orders, maxConnections: 50 });
  const catalog = new MicroService(stack, 'catalog', { image: image('catalog'), port: 8003, replicas: 1, calls: [users] });
  new MeshGateway(stack, 'public', { service: catalog, hosts: ['shop.example.com'], httpPort: 8080 });
  new MicroService(stack, 'reports', { image: image('reports'), port: 8004, replicas: 1, calls: [orders, catalog] });
  new MicroService(stack, 'batch', { image: image('batch'), port: 8005, replicas: 1, healthCheck: HealthCheck.none() });
  // Backing services: one called by a service behind a gateway (its versions call) and by another,
  // one called by a service with extra ports, one nobody calls.
  const db = new Postgres(stack, 'orders-db');
  orders.addCall(db);
  stack.services.find((s) => s.serviceName === 'reports')!.addCall(db);
  const cache = new Redis(stack, 'cache');
  users.addCall(cache);
  new Redis(stack, 'archive', { mode: RedisMode.STORE, port: 6380 });
  // A worker (no port, nobody calls it) calling a service with extra ports, a service behind a gateway, and two stores.
  new Worker(stack, 'mailer', { image: image('mailer'), calls: [users, orders, db, cache], healthCheck: WorkerHealthCheck.command(['true']) });
  return stack;
}

function expectSegmented(w: ReturnType<typeof written>): void {
  expect(compare(networkPolicyFlows(w.k8s), expectedKubernetesFlows(w.stack))).toEqual(none);
  if (w.stack.mesh) expect(compare(istioFlows(w.k8s), expectedIstioFlows(w.stack))).toEqual(none);
  if (w.compose) {
    const got = composeReachability(w.compose);
    const want = expectedCompose(w.stack, w.compose);
    expect(compare(got.flows, want.flows)).toEqual(none);
    expect(got.resolves).toEqual(want.resolves);
  }
}

describe('the evaluator implements NetworkPolicy semantics', () => {
  const ns = (name: string, labels: Record<string, string> = {}) => ({ apiVersion: 'v1', kind: 'Namespace', metadata: { name, labels } });
  const deployment = (name: string, labels: Record<string, string>, ports: any[]) => ({
    apiVersion: 'apps/v1', kind: 'Deployment', metadata: { name, namespace: 'a' },
    spec: { template: { metadata: { labels }, spec: { containers: [{ name: 'app', ports }] } } },
  });
  const np = (name: string, spec: any) => ({ apiVersion: 'networking.k8s.io/v1', kind: 'NetworkPolicy', metadata: { name, namespace: 'a' }, spec });
  const base = [ns('a'), deployment('web', { app: 'web' }, [{ name: 'http', containerPort: 8080 }, { name: 'admin', containerPort: 9000 }]), deployment('db', { app: 'db', tier: 'data' }, [{ name: 'pg', containerPort: 5432 }])];
  const flows = (...policies: any[]): string[] => networkPolicyFlows([...base, ...policies]);

  test('no policy selects a pod: everything is allowed, both ways', () => {
    const f = flows();
    expect(f).toContain('a/web -> a/db TCP/5432');
    expect(f).toContain('other/client -> a/web TCP/9000');
    expect(f).toContain('a/db -> internet TCP/443');
    // the internet reaches a pod only through a LoadBalancer or NodePort Service
    expect(f.filter((x) => x.startsWith('internet ->'))).toEqual([]);
  });

  test('policyTypes default to Ingress (and Egress only with egress rules); a policy isolates only what it selects', () => {
    const f = flows(np('deny-web', { podSelector: { matchLabels: { app: 'web' } } }));
    expect(f.filter((x) => / -> a\/web /.test(x))).toEqual([]);
    expect(f).toContain('a/web -> a/db TCP/5432'); // egress of web is not isolated
    expect(f).toContain('a/db -> other/client TCP/8080');
  });

  test('named ports resolve against the destination pod; union of policies; namespaceSelector AND podSelector', () => {
    const f = flows(
      np('db', { podSelector: { matchLabels: { tier: 'data' } }, policyTypes: ['Ingress'], ingress: [{ from: [{ podSelector: { matchLabels: { app: 'web' } } }], ports: [{ port: 'pg' }] }] }),
      np('db-more', { podSelector: { matchExpressions: [{ key: 'app', operator: 'In', values: ['db'] }] }, ingress: [{ from: [{ namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': 'other' } }, podSelector: { matchLabels: { app: 'client' } } }] }] }),
      np('web-egress', { podSelector: { matchLabels: { app: 'web' } }, policyTypes: ['Egress'], egress: [{ to: [{ podSelector: {} }], ports: [{ port: 'pg', protocol: 'TCP' }] }] }),
    );
    expect(f.filter((x) => / -> a\/db /.test(x))).toEqual(['a/web -> a/db TCP/5432', 'other/client -> a/db TCP/5432']);
    // web may reach only ports named pg in its own namespace
    expect(f.filter((x) => x.startsWith('a/web -> '))).toEqual(['a/web -> a/db TCP/5432']);
  });

  test('ipBlock with except, endPort ranges, an empty rule admitting everything', () => {
    const withLb = [...base, { apiVersion: 'v1', kind: 'Service', metadata: { name: 'web', namespace: 'a' }, spec: { type: 'LoadBalancer', selector: { app: 'web' }, ports: [{ port: 80, targetPort: 'http' }, { port: 9000, targetPort: 9000 }] } }];
    const f = networkPolicyFlows([...withLb,
      np('web', { podSelector: { matchLabels: { app: 'web' } }, ingress: [{ from: [{ ipBlock: { cidr: '0.0.0.0/0', except: ['10.0.0.0/8'] } }], ports: [{ port: 8000, endPort: 8999 }] }] }),
      np('db', { podSelector: { matchLabels: { app: 'db' } }, policyTypes: ['Ingress', 'Egress'], ingress: [{}] }),
    ]);
    expect(f.filter((x) => / -> a\/web /.test(x))).toEqual(['internet -> a/web TCP/8080']);
    expect(f.filter((x) => x.startsWith('a/db -> '))).toEqual([]); // isolated for egress, no rule
    expect(f).toContain('other/client -> a/db TCP/5432');
    expect(inCidr('10.1.0.1', '10.0.0.0/8')).toBe(true);
    expect(inCidr('203.0.113.10', '10.0.0.0/8')).toBe(false);
    expect(selects({ matchExpressions: [{ key: 'x', operator: 'DoesNotExist' }] }, { y: '1' })).toBe(true);
  });

  test('unknown fields are refused, not ignored', () => {
    expect(() => flows(np('bad', { podSelector: {}, ingress: [{ from: [{ serviceAccount: 'x' }] }] }))).toThrow(/unknown NetworkPolicy peer field/);
  });
});

describe('the evaluator implements Istio mTLS and AuthorizationPolicy semantics', () => {
  const objs = (extra: any[]): any[] => [
    { apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'm', labels: { 'istio-injection': 'enabled' } } },
    { apiVersion: 'apps/v1', kind: 'Deployment', metadata: { name: 'api', namespace: 'm' }, spec: { template: { metadata: { labels: { app: 'api' } }, spec: { serviceAccountName: 'api', containers: [{ name: 'app', ports: [{ name: 'http', containerPort: 8080 }] }] } } } },
    { apiVersion: 'apps/v1', kind: 'Deployment', metadata: { name: 'web', namespace: 'm' }, spec: { template: { metadata: { labels: { app: 'web' } }, spec: { serviceAccountName: 'web', containers: [{ name: 'app', ports: [{ name: 'http', containerPort: 8000 }] }] } } } },
    ...extra,
  ];
  const pa = (spec: any, name = 'default') => ({ apiVersion: 'security.istio.io/v1', kind: 'PeerAuthentication', metadata: { name, namespace: 'm' }, spec });
  const ap = (name: string, spec: any) => ({ apiVersion: 'security.istio.io/v1', kind: 'AuthorizationPolicy', metadata: { name, namespace: 'm' }, spec });

  test('PERMISSIVE by default admits plain text; STRICT refuses it; a port-level exception re-admits it', () => {
    expect(istioFlows(objs([]))).toContain('kube-system/kube-dns -> m/api TCP/8080');
    expect(istioFlows(objs([pa({ mtls: { mode: 'STRICT' } })]))).not.toContain('kube-system/kube-dns -> m/api TCP/8080');
    const f = istioFlows(objs([pa({ mtls: { mode: 'STRICT' } }), pa({ selector: { matchLabels: { app: 'api' } }, portLevelMtls: { 8080: { mode: 'PERMISSIVE' } } }, 'api')]));
    expect(f).toContain('internet -> m/api TCP/8080');
    expect(f).not.toContain('internet -> m/web TCP/8000');
  });

  test('an ALLOW policy admits only its rules, principals by exact match or wildcard; one without rules admits nothing; DENY wins', () => {
    const f = istioFlows(objs([
      pa({ mtls: { mode: 'STRICT' } }),
      ap('api', { selector: { matchLabels: { app: 'api' } }, action: 'ALLOW', rules: [{ from: [{ source: { principals: ['cluster.local/ns/m/sa/web'] } }], to: [{ operation: { ports: ['8080'] } }] }] }),
      ap('web', { selector: { matchLabels: { app: 'web' } }, action: 'ALLOW' }),
    ]));
    expect(f).toEqual(['m/web -> m/api TCP/8080']);
    const g = istioFlows(objs([ap('all', { action: 'ALLOW', rules: [{ from: [{ source: { principals: ['cluster.local/ns/other/*'] } }] }] }), ap('no', { action: 'DENY', rules: [{ to: [{ operation: { ports: ['8000'] } }] }] })]));
    expect(g).toEqual(['other/client -> m/api TCP/8080']);
    expect(() => istioFlows(objs([ap('x', { rules: [{ to: [{ operation: { paths: ['/a'] } }] }] })]))).toThrow(/not implemented/);
  });
});

describe('the evaluator implements Docker network semantics', () => {
  test('shared networks connect and resolve; internal networks give no outside access; default network; host mode connects everything', () => {
    const r = composeReachability({
      services: {
        a: { networks: { ab: { aliases: ['alpha'] } }, ports: ['0.0.0.0:80:8080/tcp'] },
        b: { networks: ['ab', 'pub'] },
        c: {},
        d: {},
        e: { network_mode: 'none' },
      },
      networks: { ab: { driver: 'bridge', internal: true }, pub: { driver: 'bridge' } },
    });
    expect(r.flows).toEqual(['a -> b */*', 'b -> a */*', 'b -> internet */*', 'c -> d */*', 'c -> internet */*', 'd -> c */*', 'd -> internet */*'].sort());
    expect(r.resolves.b).toEqual(['a', 'alpha']);
    expect(r.resolves.e).toEqual([]);
    expect(r.networks).toEqual({ a: ['ab'], b: ['ab', 'pub'], c: ['default'], d: ['default'], e: [] });
    const host = composeReachability({ services: { a: { network_mode: 'host' }, b: { network_mode: 'host' } } });
    expect(host.flows).toEqual(['a -> b */*', 'a -> internet */*', 'b -> a */*', 'b -> internet */*', 'internet -> a */*', 'internet -> b */*']);
  });
});

describe('reachability of the examples is exactly the call graph', () => {
  test.each<[string, (app: App) => Stack]>([
    ['canary', buildCanary], ['flask-gunicorn', buildFlaskGunicorn], ['hello', buildHello], ['shop', buildShop], ['vps', buildVps],
  ])('examples/%s: NetworkPolicies, AuthorizationPolicies (mesh) and compose networks', (_name, build) => {
    const w = written(build);
    expect(w.k8s.some((o) => o.kind === 'NetworkPolicy')).toBe(true);
    expectSegmented(w);
    w.out.cleanup();
  });
});

describe('a program with every kind of edge', () => {
  let w: ReturnType<typeof written>;
  beforeAll(() => { w = written((app) => everyEdge(app)); });
  afterAll(() => w.out.cleanup());

  test('Kubernetes, Istio and compose allow exactly the calls, exposure, mesh ingress and DNS', () => {
    expectSegmented(w);
    const f = networkPolicyFlows(w.k8s);
    // spot checks of what the expected set says, so the two cannot agree on nothing
    expect(f).toContain('edges/orders-v1 -> edges/users-v1 TCP/9100'); // a call covers every port the Service names
    expect(f).toContain('internet -> edges/orders-v2 TCP/8002');
    expect(f).toContain('istio-system/istio-ingressgateway -> edges/catalog-v1 TCP/8003');
    expect(f).not.toContain('internet -> edges/catalog-v1 TCP/8003'); // behind the mesh gateway only
    expect(f).not.toContain('edges/catalog-v1 -> edges/orders-v1 TCP/8002'); // two callers of users stay apart
    expect(f).toContain('edges/batch-v1 -> kube-system/kube-dns UDP/53');
    expect(f.filter((x) => x.startsWith('edges/batch-v1 ->'))).toHaveLength(3); // DNS twice and istiod
    const c = composeReachability(w.compose);
    expect(c.networks.batch).toEqual([]);
    // catalog has a MeshGateway, so a gateway proxy fronts it on compose: callers see the proxy only
    expect(c.resolves.catalog).toEqual(['catalog-v1', 'reports']);
    expect(c.resolves['catalog-v1']).toEqual(['catalog', 'users']);
    expect(c.resolves.users).toEqual(['cache', 'catalog-v1', 'mailer', 'orders-v1', 'orders-v2']);
    // the worker: it reaches what it calls (orders through its gateway proxy), nothing reaches it
    expect(c.resolves.mailer).toEqual(['cache', 'orders', 'orders-db', 'users']);
    expect(f.filter((x) => / -> edges\/mailer /.test(x))).toEqual([]);
    expect(f.filter((x) => x.startsWith('edges/mailer ->'))).toEqual(expect.arrayContaining(['edges/mailer -> edges/orders-v2 TCP/8002', 'edges/mailer -> edges/users-v1 TCP/9100', 'edges/mailer -> edges/orders-db TCP/5432']));
    expect(istioFlows(w.k8s).filter((x) => / -> edges\/mailer /.test(x))).toEqual([]);
    expect(c.resolves.reports).toEqual(['catalog', 'orders', 'orders-db']);
    expect(c.resolves['orders-v1']).toEqual(['orders', 'orders-db', 'users']);
    // backing services: only their callers, on their one port; they reach nothing but DNS and istiod
    expect(f.filter((x) => / -> edges\/orders-db /.test(x))).toEqual(['edges/mailer -> edges/orders-db TCP/5432', 'edges/orders-v1 -> edges/orders-db TCP/5432', 'edges/orders-v2 -> edges/orders-db TCP/5432', 'edges/reports-v1 -> edges/orders-db TCP/5432']);
    expect(f.filter((x) => / -> edges\/archive /.test(x))).toEqual([]);
    expect(f.filter((x) => x.startsWith('edges/cache ->'))).toHaveLength(3);
    expect(istioFlows(w.k8s).filter((x) => / -> edges\/cache /.test(x))).toEqual(['edges/mailer -> edges/cache TCP/6379', 'edges/users-v1 -> edges/cache TCP/6379']);
    expect(c.resolves['orders-db']).toEqual(['mailer', 'orders-v1', 'orders-v2', 'reports']);
    expect(c.resolves.archive).toEqual([]);
  });

  test('overlay mode is segmented the same way, without network_mode', () => {
    const o = written((app) => everyEdge(app, ComposeNetworkMode.OVERLAY));
    const c = composeReachability(o.compose);
    expect(compare(c.flows, expectedCompose(o.stack, o.compose).flows)).toEqual(none);
    // a swarm ignores network_mode: the service on no call gets an internal network of its own
    expect(c.networks.batch).toEqual(['batch_alone']);
    expect(o.compose.networks.batch_alone).toEqual({ driver: 'overlay', attachable: true, internal: true });
    // and the swarm's own loader takes it
    const cli = swarmCli();
    const passwords = { ORDERS_DB_CREDENTIALS_PASSWORD: 'x', CACHE_CREDENTIALS_PASSWORD: 'y', ARCHIVE_CREDENTIALS_PASSWORD: 'z' };
    if (cli) expect(Object.keys(stackConfig(cli, path.join(o.out.dir, 'edges.compose.yml'), passwords).services).sort()).toEqual(Object.keys(o.compose.services).sort());
    o.out.cleanup();
  });

  test('host network mode cannot segment: the evaluator finds every container reaching every other, and synth says so', () => {
    let app!: App;
    const h = written((a) => {
      app = a;
      const stack = new Stack(a, 'host', { compose: { networkMode: ComposeNetworkMode.HOST } });
      const users = new MicroService(stack, 'users', { image: image('users'), port: 8001, replicas: 1 });
      new MicroService(stack, 'orders', { image: image('orders'), port: 8002, replicas: 1, calls: [users] });
      new MicroService(stack, 'batch', { image: image('batch'), port: 8003, replicas: 1 });
      return stack;
    });
    const c = composeReachability(h.compose);
    expect(c.flows).toContain('batch -> users */*');
    expect(compare(c.flows, expectedCompose(h.stack, h.compose).flows).extra.length).toBeGreaterThan(0);
    expect(app.warnings().map((x) => x.message)).toContainEqual(expect.stringMatching(/host network mode cannot segment the project/));
    h.out.cleanup();
  });

  test('turned off: no NetworkPolicies, and one compose network as before', () => {
    const off = written((app) => {
      const stack = new Stack(app, 'off', { networkPolicy: { enabled: false } });
      const users = new MicroService(stack, 'users', { image: image('users'), port: 8001, replicas: 1 });
      new MicroService(stack, 'orders', { image: image('orders'), port: 8002, replicas: 1, calls: [users] });
      return stack;
    });
    expect(off.k8s.filter((o) => o.kind === 'NetworkPolicy')).toEqual([]);
    expect(Object.keys(off.compose.networks)).toEqual(['off']);
    expect(composeReachability(off.compose).flows).toEqual(['orders -> internet */*', 'orders -> users */*', 'users -> internet */*', 'users -> orders */*']);
    off.out.cleanup();
  });
});

const USERS = path.join(__dirname, '..', '..', 'examples', 'shop', 'services', 'user');
const ORDERS = path.join(__dirname, '..', '..', 'examples', 'shop', 'services', 'order');

/**
 * Monitoring: Python apps with metrics (one behind a gateway with two versions, one exposed) beside a
 * plain image without, and a Celery worker with metrics (no Service: scraped on its pods), in an Istio
 * mesh with STRICT mTLS, with Prometheus and Grafana on compose.
 */
function monitored(app: App, mode = ComposeNetworkMode.BRIDGE): Stack {
  const stack = new Stack(app, 'mon', { namespace: 'mon', mesh: Mesh.istio(), compose: { networkMode: mode }, imageRegistry: 'registry.example.com/mon',
    monitoring: Monitoring.prometheus({ grafana: true }) });
  const host = mode === ComposeNetworkMode.HOST;
  const users = new FastApiApp(stack, 'users', { source: USERS, port: 8001, replicas: 1, metrics: host ? { port: 9101 } : true });
  const orders = new FastApiApp(stack, 'orders', { source: USERS, port: 8002, replicas: 1, calls: [users], expose: { port: host ? 8002 : 8080 }, metrics: host ? { port: 9102 } : true });
  if (!host) {
    const v2 = orders.addVersion('v2', {});
    new MeshRoute(stack, 'orders-canary', { service: orders, rules: [{ split: [{ to: orders.defaultVersion, weight: 90 }, { to: v2, weight: 10 }] }] });
  }
  new MicroService(stack, 'legacy', { image: image('legacy'), port: 8003, replicas: 1, calls: [users] });
  new CeleryWorker(stack, 'confirmer', { source: ORDERS, app: 'tasks:celery', calls: [new Redis(stack, 'queue'), users], metrics: host ? { port: 9110 } : true });
  return stack;
}

describe('monitoring: the scraper edge and nothing more', () => {
  let w: ReturnType<typeof written>;
  beforeAll(() => { w = written((app) => monitored(app)); });
  afterAll(() => w.out.cleanup());

  test('Kubernetes, Istio and compose allow exactly the calls, exposure, DNS and the scraper on the metrics ports', () => {
    expectSegmented(w);
    const f = networkPolicyFlows(w.k8s);
    expect(f).toContain('monitoring/prometheus -> mon/orders-v2 TCP/9100');
    expect(f).not.toContain('monitoring/prometheus -> mon/users-v1 TCP/8001'); // the metrics port alone
    expect(f).not.toContain('mon/orders-v1 -> mon/users-v1 TCP/9100'); // callers never reach it
    expect(f.filter((x) => x.startsWith('monitoring/prometheus -> mon/legacy'))).toEqual([]); // no metrics, no scrape
    // The Celery worker: the scraper on its metrics port, and nobody else on any port.
    expect(f.filter((x) => / -> mon\/confirmer /.test(x))).toEqual(['monitoring/prometheus -> mon/confirmer TCP/9100']);
    expect(istioFlows(w.k8s)).toContain('monitoring/prometheus -> mon/confirmer TCP/9100');
    // Istio: the sidecar does not intercept the metrics port, so the plain-text scrape is not refused by STRICT mTLS.
    expect(istioFlows(w.k8s)).toContain('monitoring/prometheus -> mon/users-v1 TCP/9100');
    const c = composeReachability(w.compose);
    expect(c.networks.prometheus).toEqual(['prometheus_to_confirmer', 'prometheus_to_orders-v1', 'prometheus_to_orders-v2', 'prometheus_to_users', 'grafana_to_prometheus'].sort());
    expect(c.resolves.prometheus).toEqual(['confirmer', 'grafana', 'orders-v1', 'orders-v2', 'users']);
    expect(c.resolves.grafana).toEqual(['prometheus']);
    expect(c.flows).not.toContain('prometheus -> internet */*');
  });

  test('overlay and host network mode', () => {
    const o = written((app) => monitored(app, ComposeNetworkMode.OVERLAY));
    expect(compare(composeReachability(o.compose).flows, expectedCompose(o.stack, o.compose).flows)).toEqual(none);
    o.out.cleanup();
    const h = written((app) => monitored(app, ComposeNetworkMode.HOST));
    expect(compare(networkPolicyFlows(h.k8s), expectedKubernetesFlows(h.stack))).toEqual(none);
    expect(h.compose.services.prometheus.network_mode).toBe('host');
    h.out.cleanup();
  });

  test('a scraper rule opened to every source, or dropped: the evaluator catches both', () => {
    const open = JSON.parse(JSON.stringify(w.k8s));
    const np = open.find((o: any) => o.kind === 'NetworkPolicy' && o.metadata.name === 'users');
    const rule = np.spec.ingress.find((r: any) => r.ports?.[0]?.port === 'metrics');
    delete rule.from;
    const d = compare(networkPolicyFlows(open), expectedKubernetesFlows(w.stack));
    expect(d.missing).toEqual([]);
    // pods elsewhere have no egress policy; the stack's own pods still may not send there (their egress)
    expect(d.extra).toEqual(['istio-system/istio-ingressgateway', 'istio-system/istiod', 'kube-system/kube-dns', 'other/client'].map((src) => `${src} -> mon/users-v1 TCP/9100`));
    const dropped = JSON.parse(JSON.stringify(w.k8s));
    const np2 = dropped.find((o: any) => o.kind === 'NetworkPolicy' && o.metadata.name === 'orders');
    np2.spec.ingress = np2.spec.ingress.filter((r: any) => r.ports?.[0]?.port !== 'metrics');
    expect(compare(networkPolicyFlows(dropped), expectedKubernetesFlows(w.stack)).missing).toEqual(['monitoring/prometheus -> mon/orders-v1 TCP/9100', 'monitoring/prometheus -> mon/orders-v2 TCP/9100']);
    // The worker's scraper rule dropped, or opened to every source.
    const noWorkerRule = JSON.parse(JSON.stringify(w.k8s));
    delete noWorkerRule.find((o: any) => o.kind === 'NetworkPolicy' && o.metadata.name === 'confirmer').spec.ingress;
    expect(compare(networkPolicyFlows(noWorkerRule), expectedKubernetesFlows(w.stack)).missing).toEqual(['monitoring/prometheus -> mon/confirmer TCP/9100']);
    const openWorker = JSON.parse(JSON.stringify(w.k8s));
    delete openWorker.find((o: any) => o.kind === 'NetworkPolicy' && o.metadata.name === 'confirmer').spec.ingress[0].from;
    expect(compare(networkPolicyFlows(openWorker), expectedKubernetesFlows(w.stack)).extra.length).toBeGreaterThan(0);
  });
});

describe('a policy broken on purpose is caught', () => {
  let w: ReturnType<typeof written>;
  beforeAll(() => { w = written((app) => everyEdge(app)); });
  afterAll(() => w.out.cleanup());
  const copy = (): any[] => JSON.parse(JSON.stringify(w.k8s));
  const find = (objs: any[], kind: string, name: string): any => objs.find((o) => o.kind === kind && o.metadata.name === name);

  test('a caller dropped from an ingress rule: its calls go missing', () => {
    const objs = copy();
    const users = find(objs, 'NetworkPolicy', 'users');
    users.spec.ingress[0].from = users.spec.ingress[0].from.filter((p: any) => p.podSelector.matchLabels.app !== 'catalog');
    const d = compare(networkPolicyFlows(objs), expectedKubernetesFlows(w.stack));
    expect(d.extra).toEqual([]);
    expect(d.missing).toEqual(['edges/catalog-v1 -> edges/users-v1 TCP/8001', 'edges/catalog-v1 -> edges/users-v1 TCP/9100']);
  });

  test('an ingress rule opened to every source, an egress rule opened to everything: the extra connections show', () => {
    const objs = copy();
    delete find(objs, 'NetworkPolicy', 'users').spec.ingress[0].from;
    const d = compare(networkPolicyFlows(objs), expectedKubernetesFlows(w.stack));
    expect(d.missing).toEqual([]);
    // pods elsewhere have no egress policy; the internet still cannot route to a ClusterIP service
    expect(d.extra).toEqual(['istio-system/istio-ingressgateway', 'istio-system/istiod', 'kube-system/kube-dns', 'monitoring/prometheus', 'other/client']
      .flatMap((src) => [`${src} -> edges/users-v1 TCP/8001`, `${src} -> edges/users-v1 TCP/9100`]).sort());
    const out = copy();
    find(out, 'NetworkPolicy', 'batch').spec.egress.push({});
    const e = compare(networkPolicyFlows(out), expectedKubernetesFlows(w.stack));
    expect(e.missing).toEqual([]);
    expect(e.extra).toEqual(expect.arrayContaining(['edges/batch-v1 -> internet TCP/443', 'edges/batch-v1 -> other/client TCP/8080', 'edges/batch-v1 -> kube-system/kube-dns TCP/9153', 'edges/batch-v1 -> edges/orders-v1 TCP/8002']));
  });

  test('a principal dropped from an AuthorizationPolicy, or a rule opened to everyone', () => {
    const objs = copy();
    const ap = find(objs, 'AuthorizationPolicy', 'users');
    ap.spec.rules[0].from[0].source.principals = ap.spec.rules[0].from[0].source.principals.filter((p: string) => !p.endsWith('/sa/orders'));
    const d = compare(istioFlows(objs), expectedIstioFlows(w.stack));
    expect(d.extra).toEqual([]);
    expect(d.missing).toEqual(['edges/orders-v1 -> edges/users-v1 TCP/8001', 'edges/orders-v1 -> edges/users-v1 TCP/9100', 'edges/orders-v2 -> edges/users-v1 TCP/8001', 'edges/orders-v2 -> edges/users-v1 TCP/9100']);
    const open = copy();
    delete find(open, 'AuthorizationPolicy', 'catalog').spec.rules[0].from;
    expect(compare(istioFlows(open), expectedIstioFlows(w.stack)).extra).toContain('other/client -> edges/catalog-v1 TCP/8003');
  });

  test('a container put on another caller\'s network', () => {
    const doc = JSON.parse(JSON.stringify(w.compose));
    doc.services['catalog-v1'].networks['orders-v1_to_users'] = { aliases: ['catalog-v1'] };
    const got = composeReachability(doc);
    const d = compare(got.flows, expectedCompose(w.stack, doc).flows);
    expect(d.missing).toEqual([]);
    expect(d.extra).toEqual(['catalog-v1 -> orders-v1 */*', 'orders-v1 -> catalog-v1 */*']);
    expect(got.resolves['catalog-v1']).toContain('orders-v1');
  });
});
