import { execFileSync } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import * as yaml from 'js-yaml';
import { CircuitBreaker, ComposeNetworkMode, ContainerImage, Duration, LoadBalancer, Match, Mesh, MeshGateway, MeshRoute, MicroService, RetryOn, Stack, App } from '../../lib';
import { GATEWAY_IMAGE, GATEWAY_LUA, gatewayConfig } from '../../lib/render/compose/gateway';
import { validateComposeSchema } from '../support/checks';
import { haveEngine } from '../support/engines';
import { shop, synthProblems } from '../mesh/helpers';

const validateCompose = (doc: unknown): boolean => validateComposeSchema(doc).length === 0;

function canary() {
  const s = shop();
  const users = s.users;
  const v2 = s.orders.addVersion('v2', { replicas: 1 });
  new MeshRoute(s.stack, 'orders-canary', { service: s.orders, rules: [
    { match: Match.pathPrefix('/api/v2'), to: v2 },
    { split: [{ to: s.orders.defaultVersion, weight: 70 }, { to: v2, weight: 30 }], timeout: Duration.seconds(10), retries: { attempts: 3, perTryTimeout: Duration.seconds(2), retryOn: [RetryOn.SERVER_ERROR] } },
  ] });
  new CircuitBreaker(s.stack, 'orders-breaker', { service: s.orders, maxConnections: 100, consecutive5xxErrors: 5, interval: Duration.seconds(10), baseEjectionTime: Duration.seconds(30), loadBalancer: LoadBalancer.leastRequest() });
  // a caller of order-service, to check that callers keep the same URL
  const web = new MicroService(s.stack, 'web', { image: ContainerImage.fromRegistry('registry.example.com/web:1.0.0'), calls: [s.orders], expose: { port: 8080 }, replicas: 1 });
  return { ...s, v2, users, web };
}

function compose(app: App): { doc: any; files: Record<string, string> } {
  const out = app.synthesize()[0];
  const files: Record<string, string> = {};
  for (const a of out.artifacts) if (a.content !== undefined) files[a.path] = a.content;
  return { doc: yaml.load(files['shop.compose.yml']), files };
}

describe('compose gateway rendering', () => {
  test('the gateway carries the service name; versions run as <svc>-<version> without the service alias', () => {
    const { app } = canary();
    const { doc, files } = compose(app);
    expect(validateCompose(doc)).toBe(true);
    const gw = doc.services['order-service'];
    expect(gw.image).toBe(GATEWAY_IMAGE);
    // On its caller's network and one network per version it routes to, always as the service.
    expect(gw.networks).toEqual({
      'order-service_to_order-service-v1': { aliases: ['order-service'] },
      'order-service_to_order-service-v2': { aliases: ['order-service'] },
      'web_to_order-service': { aliases: ['order-service'] },
    });
    expect(gw.volumes[0]).toMatchObject({ type: 'bind', source: './shop.compose/order-service-gateway.cfg', target: '/usr/local/etc/haproxy/haproxy.cfg', read_only: true });
    expect(gw.depends_on).toEqual({ 'order-service-v1': { condition: 'service_healthy', restart: true }, 'order-service-v2': { condition: 'service_healthy', restart: true } });
    expect(gw.read_only).toBe(true);
    expect(gw.cap_drop).toEqual(['ALL']);
    for (const name of ['order-service-v1', 'order-service-v2']) {
      const v = doc.services[name];
      expect(v).toBeDefined();
      // Each version calls user-service itself and is reached by the gateway only.
      expect(v.networks).toEqual({ [`order-service_to_${name}`]: { aliases: [name] }, [`${name}_to_user-service`]: { aliases: [name] } });
      expect(JSON.stringify(v.networks)).not.toContain('"order-service"');
      expect(v.ports).toBeUndefined();
    }
    expect(doc.services['order-service-v2'].deploy.replicas).toBe(1);
    // callers use the same URL as on every target and wait for the gateway
    expect(doc.services.web.environment.ORDER_SERVICE_URL).toBe('http://order-service:8002');
    expect(doc.services.web.depends_on).toEqual({ 'order-service': { condition: 'service_healthy', restart: true } });
    // a service without policies and one version is unchanged
    expect(doc.services['user-service'].networks).toEqual({
      'order-service-v1_to_user-service': { aliases: ['user-service'] }, 'order-service-v2_to_user-service': { aliases: ['user-service'] },
    });
    expect(files['shop.compose/order-service-gateway.cfg']).toBeDefined();
  });

  test('the gateway config carries routes, split, retries, timeouts and the breaker', () => {
    const { app } = canary();
    const cfg = compose(app).files['shop.compose/order-service-gateway.cfg'];
    const lines = cfg.split('\n').map((l) => l.trim());
    expect(lines).toContain('bind :8002');
    expect(lines).toContain('http-request set-var(txn.rule) int(0) if !{ var(txn.rule) -m found } { path -m beg "/api/v2" }');
    expect(lines).toContain('http-request set-var(txn.be) str(be_v1) if { var(txn.rule) -m int eq 2 } { var(txn.roll) -m int lt 70 }');
    expect(lines).toContain('http-request set-var(txn.be) str(be_v2) if { var(txn.rule) -m int eq 2 } { var(txn.roll) -m int ge 70 }');
    expect(lines).toContain('retries 3');
    expect(lines).toContain('retry-on conn-failure empty-response junk-response response-timeout 500 501 502 503 504');
    expect(lines).toContain('http-request set-timeout server 2s if { var(txn.rule) -m int eq 2 }');
    expect(lines).toContain('balance leastconn');
    // 2 replicas, a spare server slot each for releases.
    const server = lines.find((l) => l.startsWith('server-template v1- 4 order-service-v1:8002'))!;
    expect(server).toContain('observe layer7 error-limit 5 on-error mark-down');
    expect(server).toContain('maxconn 100');
    expect(server).toContain('inter 10s');
    expect(server).toContain('rise 4'); // ceil(30s / 10s) + 1: back between 30 s and 40 s after ejection
    expect(server).toContain('resolvers docker');
  });

  test('fail-fast limits run the gateway on one thread, so their check and the queueing are one step', () => {
    const { app } = canary();
    // maxConnections alone is enforced by HAProxy's own queue: the threads stay.
    expect(compose(app).files['shop.compose/order-service-gateway.cfg'].split('\n')).not.toContain('  nbthread 1');
    for (const limit of [{ maxPendingRequests: 5 }, { maxRequests: 50 }]) {
      const s = shop();
      new CircuitBreaker(s.stack, 'orders-breaker', { service: s.orders, maxConnections: 10, ...limit });
      const lines = compose(s.app).files['shop.compose/order-service-gateway.cfg'].split('\n');
      expect(lines.slice(0, lines.indexOf('defaults'))).toContain('  nbthread 1');
    }
  });

  (haveEngine('haproxy', 'apt-get install haproxy') ? test : test.skip)('haproxy accepts the generated compose config (haproxy -c)', () => {
    const { app } = canary();
    const cfg = compose(app).files['shop.compose/order-service-gateway.cfg'];
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'pyfleet-gwc-'));
    try {
      fs.writeFileSync(path.join(dir, 'haproxy.cfg'), cfg);
      const out = execFileSync('haproxy', ['-c', '-f', path.join(dir, 'haproxy.cfg')], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], timeout: 20_000 });
      expect(out).toContain('Configuration file is valid');
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  (haveEngine('haproxy', 'apt-get install haproxy') ? test : test.skip)('haproxy accepts a DNS config with Lua actions (delay, mirror) and a public entry', () => {
    const s = shop();
    const v2 = s.orders.addVersion('v2');
    new MeshRoute(s.stack, 'route', { service: s.orders, rules: [
      { match: Match.header('x-test', '1'), to: v2, fault: { delay: { fixed: Duration.seconds(1), percentage: 10 } } },
      { to: s.orders.defaultVersion, mirror: { to: v2, percentage: 10 } },
    ] });
    new MeshGateway(s.stack, 'public', { service: s.orders, hosts: ['shop.example.com', '*.example.org'], match: [Match.pathPrefix('/api')] });
    s.app.synthesize();
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'pyfleet-gwc-'));
    try {
      fs.writeFileSync(path.join(dir, 'pyfleet.lua'), GATEWAY_LUA);
      const cfg = gatewayConfig(s.orders, { luaPath: path.join(dir, 'pyfleet.lua') });
      expect(cfg).toContain('httpclient.resolvers.id docker');
      expect(cfg).toContain('http-request lua.pyfleet_mirror order-service-v2:8002 if { var(txn.rule) -m int eq 1 } { rand(10000) lt 1000 }');
      fs.writeFileSync(path.join(dir, 'haproxy.cfg'), cfg);
      const out = execFileSync('haproxy', ['-c', '-f', path.join(dir, 'haproxy.cfg')], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], timeout: 20_000 });
      expect(out).toContain('Configuration file is valid');
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  test('the exposed port is published by the gateway, not by the versions', () => {
    const s = shop();
    const v2 = s.users.addVersion('v2');
    void v2;
    const users = new MicroService(s.stack, 'public-api', { image: ContainerImage.fromRegistry('registry.example.com/api:1.0.0'), expose: { port: 9000 }, port: 8000 });
    users.addVersion('v2');
    const { doc } = compose(s.app);
    expect(doc.services['public-api'].ports).toEqual(['0.0.0.0:9000:8000/tcp']);
    expect(doc.services['public-api-v1'].ports).toBeUndefined();
    expect(doc.services['public-api-edge']).toBeUndefined();
  });

  test('a public entry is published by the gateway on its httpPort; a port already taken is refused', () => {
    const s = shop();
    new MeshGateway(s.stack, 'public', { service: s.orders, hosts: ['shop.example.com'], httpPort: 8081 });
    const { doc, files } = compose(s.app);
    expect(doc.services['order-service'].ports).toEqual(['0.0.0.0:8081:18080/tcp']);
    expect(doc.services['order-service-v1']).toBeDefined();
    expect(files['shop.compose/order-service-gateway.cfg']).toContain('frontend public-public\n  bind :18080\n');
    const t = shop();
    new MicroService(t.stack, 'web', { image: ContainerImage.fromRegistry('registry.example.com/web:1.0.0'), expose: { port: 80 } });
    new MeshGateway(t.stack, 'public', { service: t.orders, hosts: ['shop.example.com'] });
    expect(synthProblems(t.app).map((p) => p.problem)).toEqual([expect.stringMatching(/httpPort 80 is already published on compose by "shop\/web"/)]);
  });

  test('a public entry with TLS mounts the certificate file and publishes HTTP and HTTPS', () => {
    const s = shop();
    new MeshGateway(s.stack, 'public', { service: s.orders, hosts: ['shop.example.com'], tls: { secretName: 'shop-tls', composeCertificateFile: './certs/shop.pem' } });
    const { doc, files } = compose(s.app);
    const gw = doc.services['order-service'];
    expect(gw.ports).toEqual([
      '0.0.0.0:80:18080/tcp',
      '0.0.0.0:443:18443/tcp',
    ]);
    expect(gw.volumes).toContainEqual({ type: 'bind', source: './certs/shop.pem', target: '/usr/local/etc/haproxy/certs/public.pem', read_only: true });
    const cfg = files['shop.compose/order-service-gateway.cfg'];
    expect(cfg).toContain('  bind :18443 ssl crt /usr/local/etc/haproxy/certs/public.pem\n');
    expect(cfg).toContain('  http-request redirect scheme https code 301 if !{ ssl_fc }\n');
    expect(validateCompose(doc)).toBe(true);
  });

  test('what HAProxy cannot express is refused with the construct path, never dropped', () => {
    const s = shop();
    const v2 = s.orders.addVersion('v2');
    new MeshRoute(s.stack, 'route', { service: s.orders, rules: [
      { match: Match.header('x-test', '1'), to: v2, fault: { delay: { fixed: Duration.seconds(1), percentage: 10 } } },
      { to: s.orders.defaultVersion, mirror: { to: v2, percentage: 10 } },
    ] });
    new CircuitBreaker(s.stack, 'breaker', { service: s.orders, maxRetries: 2, consecutiveGatewayErrors: 3, maxEjectionPercent: 50, minHealthPercent: 10 });
    new MeshGateway(s.stack, 'public', { service: s.orders, hosts: ['shop.example.com'], tls: { secretName: 'shop-tls' } });
    const problems = synthProblems(s.app);
    const text = problems.map((p) => `${p.constructPath}: ${p.problem}`);
    expect(text).toEqual([
      expect.stringMatching(/^shop\/breaker: maxRetries/),
      expect.stringMatching(/^shop\/breaker: consecutiveGatewayErrors/),
      expect.stringMatching(/^shop\/breaker: maxEjectionPercent 50/),
      expect.stringMatching(/^shop\/breaker: minHealthPercent 10/),
      expect.stringMatching(/^shop\/public: the certificate is in a Kubernetes secret/),
    ]);
    // the same model without a compose project renders for Kubernetes
    const k = shop({ compose: false });
    new MeshRoute(k.stack, 'route', { service: k.orders, rules: [{ to: k.orders.defaultVersion, mirror: { to: k.orders.defaultVersion, percentage: 10 } }] });
    expect(synthProblems(k.app)).toEqual([]);
    expect(k.app.synthesize()[0].artifacts.some((a) => a.path.includes('compose'))).toBe(false);
  });

  test('a delay fault mounts the Lua actions file beside the config', () => {
    const s = shop();
    new MeshRoute(s.stack, 'route', { service: s.orders, rules: [{ to: s.orders.defaultVersion, fault: { delay: { fixed: Duration.seconds(1), percentage: 10 } } }] });
    const { doc, files } = compose(s.app);
    expect(files['shop.compose/order-service-gateway.cfg']).toContain('lua-load /usr/local/etc/haproxy/pyfleet.lua');
    expect(files['shop.compose/order-service-gateway.cfg']).toContain('http-request lua.pyfleet_delay 1000 if { var(txn.rule) -m int eq 0 } { rand(10000) lt 1000 }');
    expect(files['shop.compose/order-service-gateway.lua']).toContain('core.register_action("pyfleet_delay"');
    expect(doc.services['order-service'].volumes[1]).toEqual({ type: 'bind', source: './shop.compose/order-service-gateway.lua', target: '/usr/local/etc/haproxy/pyfleet.lua', read_only: true });
  });

  test('different retry policies for one version are refused (HAProxy retries per backend)', () => {
    const s = shop();
    new MeshRoute(s.stack, 'route', { service: s.orders, rules: [
      { match: Match.pathPrefix('/a'), to: s.orders.defaultVersion, retries: { attempts: 1 } },
      { to: s.orders.defaultVersion, retries: { attempts: 2 } },
    ] });
    expect(synthProblems(s.app).map((p) => p.problem)).toEqual([expect.stringMatching(/rules 0 and 1 retry requests to version "v1" differently/)]);
  });

  test('host networking runs a gateway only for services whose listen port pyfleet sets', () => {
    const app = new App({ outdir: path.join(os.tmpdir(), 'pyfleet-unused') });
    const stack = new Stack(app, 'shop', { mesh: Mesh.istio(), compose: { networkMode: ComposeNetworkMode.HOST } });
    const svc = new MicroService(stack, 'api', { image: ContainerImage.fromRegistry('registry.example.com/api:1.0.0'), replicas: 1 });
    new CircuitBreaker(stack, 'b', { service: svc, maxConnections: 5 });
    expect(synthProblems(app).map((p) => p.problem)).toEqual([expect.stringMatching(/cannot set the listen port of an image of your own/)]);
  });

  test('byte-identical across two synths', () => {
    expect(compose(canary().app).files).toEqual(compose(canary().app).files);
  });
});
