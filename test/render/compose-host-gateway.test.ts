// Compose host network mode with a gateway: the gateway binds the service's port on the host and reaches
// each version's release slots on loopback ports; the layout is written into a label of each version.
import { execFileSync } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import * as yaml from 'js-yaml';
import { App, CircuitBreaker, ComposeNetworkMode, ContainerImage, Duration, FastApiApp, HealthCheck, Match, Mesh, MeshGateway, MeshRoute, MicroService, Stack } from '../../lib';
import { gatewayConfig } from '../../lib/render/compose/gateway';
import { HostReleaseLabel, RELEASE_LABEL } from '../../lib/render/compose/host-gateway';
import { validateComposeSchema } from '../support/checks';
import { haveEngine } from '../support/engines';
import { synthProblems } from '../mesh/helpers';

const ORDER = path.join(__dirname, '..', '..', 'examples', 'shop', 'services', 'order');

function hostShop(options: { metrics?: boolean; expose?: boolean } = {}) {
  const app = new App({ outdir: path.join(os.tmpdir(), 'pyfleet-unused') });
  const stack = new Stack(app, 'shop', { mesh: Mesh.istio(), compose: { networkMode: ComposeNetworkMode.HOST } });
  const orders = new FastApiApp(stack, 'order-service', {
    source: ORDER, port: 8100, replicas: 1, metrics: options.metrics === false ? false : { port: 9200 },
    healthCheck: HealthCheck.http('/healthz', { interval: Duration.seconds(2) }),
    ...(options.expose === false ? {} : { expose: { port: 8100 } }),
  });
  return { app, stack, orders };
}

function synthCompose(app: App): { doc: any; files: Record<string, string> } {
  const out = app.synthesize()[0];
  const files: Record<string, string> = {};
  for (const a of out.artifacts) if (a.content !== undefined) files[a.path] = a.content;
  return { doc: yaml.load(files['shop.compose.yml']), files };
}

describe('compose host network mode behind a gateway', () => {
  test('routes and breakers are no longer refused: the gateway binds the port, versions run in loopback slots', () => {
    const s = hostShop();
    const v2 = s.orders.addVersion('v2', { replicas: 1 });
    new MeshRoute(s.stack, 'canary', { service: s.orders, rules: [{ match: Match.pathPrefix('/v2'), to: v2 }, { to: s.orders.defaultVersion }] });
    new CircuitBreaker(s.stack, 'breaker', { service: s.orders, maxConnections: 10 });
    const { doc, files } = synthCompose(s.app);
    expect(validateComposeSchema(doc)).toEqual([]);
    const gw = doc.services['order-service'];
    expect(gw.network_mode).toBe('host');
    expect(gw.ports).toBeUndefined();
    expect(gw.healthcheck.test).toEqual(['CMD', 'wget', '-q', '-O', '/dev/null', 'http://127.0.0.1:8101/healthz']);
    const cfg = files['shop.compose/order-service-gateway.cfg'];
    expect(cfg).toContain('  stats socket ipv4@127.0.0.1:8102 level admin');
    expect(cfg).toMatch(/^frontend order-service\n {2}bind 0\.0\.0\.0:8100$/m);
    expect(cfg).toMatch(/^frontend health\n {2}bind 127\.0\.0\.1:8101$/m);
    expect(cfg).not.toContain('resolvers docker');
    const servers = cfg.split('\n').filter((l) => l.startsWith('  server ')).map((l) => l.split(' ').slice(3, 5).join(' '));
    expect(servers).toEqual(['v1-a 127.0.0.1:8103', 'v1-b 127.0.0.1:8104', 'v2-a 127.0.0.1:8105', 'v2-b 127.0.0.1:8106']);
    for (const [name, k] of [['order-service-v1', 0], ['order-service-v2', 1]] as const) {
      const v = doc.services[name];
      expect(v.network_mode).toBe('host');
      // Behind the gateway the version listens on loopback, in its first slot.
      expect(v.environment).toMatchObject({ PYFLEET_LISTEN_HOST: '127.0.0.1', PYFLEET_LISTEN_PORT: String(8103 + 2 * k), PYFLEET_METRICS_PORT: String(9200 + 2 * k), PYFLEET_METRICS_HOST: '127.0.0.1' });
      // The health check requests the port the slot's variable names.
      expect(v.healthcheck.test.slice(0, 3)).toEqual(['CMD', 'python', '-c']);
      expect(v.healthcheck.test[3]).toContain('os.environ.get("PYFLEET_LISTEN_PORT") or "8100"');
      const label = JSON.parse(v.labels[RELEASE_LABEL]) as HostReleaseLabel;
      expect(label).toEqual({
        runtime: '127.0.0.1:8102', backend: `be_v${k + 1}`, portEnv: 'PYFLEET_LISTEN_PORT', metricsEnv: 'PYFLEET_METRICS_PORT',
        slots: [{ server: `v${k + 1}-a`, port: 8103 + 2 * k, metricsPort: 9200 + 2 * k }, { server: `v${k + 1}-b`, port: 8104 + 2 * k, metricsPort: 9201 + 2 * k }],
      });
    }
  });

  test('a service nobody outside calls: the gateway binds loopback only', () => {
    const s = hostShop({ expose: false });
    new CircuitBreaker(s.stack, 'breaker', { service: s.orders, maxConnections: 10 });
    const cfg = synthCompose(s.app).files['shop.compose/order-service-gateway.cfg'];
    expect(cfg).toMatch(/^frontend order-service\n {2}bind 127\.0\.0\.1:8100$/m);
    // No retry policy: a refused connection to the spare slot is sent once more, to the other server.
    expect(cfg).toMatch(/^backend be_v1\n(?: {2}.*\n)*? {2}retries 1$/m);
  });

  test('the generated gateway config is accepted by HAProxy 2.6', () => {
    if (!haveEngine('haproxy', 'apt-get install haproxy')) return;
    const s = hostShop();
    new CircuitBreaker(s.stack, 'breaker', { service: s.orders, maxConnections: 10, consecutive5xxErrors: 3 });
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'pf-hostgw-'));
    try {
      const file = path.join(dir, 'haproxy.cfg');
      fs.writeFileSync(file, gatewayConfig(s.orders));
      expect(execFileSync('haproxy', ['-c', '-f', file], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], timeout: 30_000 })).toMatch(/valid/);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  test('clashing loopback ports, images whose port pyfleet cannot set and replicas are refused with fixes', () => {
    const s = hostShop();
    new CircuitBreaker(s.stack, 'breaker', { service: s.orders, maxConnections: 10 });
    // 8103 is v1's first slot.
    new FastApiApp(s.stack, 'user-service', { source: ORDER, port: 8103, replicas: 1, metrics: false });
    const img = new MicroService(s.stack, 'img', { image: ContainerImage.fromRegistry('registry.example.com/img:1.0.0'), port: 8300, replicas: 1 });
    new CircuitBreaker(s.stack, 'img-breaker', { service: img, maxConnections: 10 });
    const problems = synthProblems(s.app).map((p) => `${p.problem} | ${p.fix}`);
    expect(problems).toEqual(expect.arrayContaining([
      expect.stringMatching(/host port 8103 is already taken by "shop\/order-service"/),
      expect.stringMatching(/cannot set the listen port of an image of your own \| use a pyfleet Python app/),
    ]));
    const t = hostShop();
    const v2 = t.orders.addVersion('v2', { replicas: 2 });
    expect(v2).toBeDefined();
    expect(synthProblems(t.app).map((p) => p.problem)).toEqual([expect.stringMatching(/one container per version, but "v2" asks for 2/)]);
  });

  test('a public entry binds its port on the host: 8081 works, 80 is refused with the fix', () => {
    const s = hostShop({ expose: false });
    new MeshGateway(s.stack, 'public', { service: s.orders, hosts: ['shop.example.com'], httpPort: 8081 });
    const { files } = synthCompose(s.app);
    expect(files['shop.compose/order-service-gateway.cfg']).toMatch(/^frontend public-public\n {2}bind 0\.0\.0\.0:8081$/m);
    const t = hostShop({ expose: false });
    new MeshGateway(t.stack, 'public', { service: t.orders, hosts: ['shop.example.com'] });
    expect(synthProblems(t.app).map((p) => `${p.problem} | ${p.fix}`)).toEqual([expect.stringMatching(/binds port 80 on the host itself.*\| use a port from 1024 up \(e\.g\. 8080\)/)]);
  });

  test('host mode still warns that it cannot segment', () => {
    const s = hostShop();
    new CircuitBreaker(s.stack, 'breaker', { service: s.orders, maxConnections: 10 });
    s.app.synthesize();
    expect(s.app.warnings().map((w) => w.message)).toEqual(expect.arrayContaining([expect.stringMatching(/host network mode cannot segment/)]));
  });
});
