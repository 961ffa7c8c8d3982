// Overlay (swarm) stacks: every compose file pyfleet writes for one is accepted by the swarm's own
// compose loader, `docker stack config` (docker CLI 23+, no daemon needed), and carries the swarm
// rollout, restart, resource and placement settings from the model.
import * as fs from 'fs';
import * as path from 'path';
import * as yaml from 'js-yaml';
import { App, CircuitBreaker, EnvValue, ComposeNetworkMode, ContainerImage, Cpu, Duration, FastApiApp, HealthCheck, Match, Mesh, MeshRoute, MicroService, RestartPolicy, Size, Stack } from '../../lib';
import { synthProblems } from '../mesh/helpers';
import { stackConfig, swarmCli } from '../support/docker';
import { Synthesized, synth } from '../support/synth';

const SHOP = path.join(__dirname, '..', '..', 'examples', 'shop', 'services');

function overlayShop(app: App, options: { placement?: string[] } = {}): void {
  const stack = new Stack(app, 'shop', { compose: { networkMode: ComposeNetworkMode.OVERLAY, placement: options.placement }, imageRegistry: 'ghcr.io/acme/shop', mesh: Mesh.istio() });
  const users = new FastApiApp(stack, 'user-service', {
    source: path.join(SHOP, 'user'), port: 8001, replicas: 2, env: { DB_PASSWORD: EnvValue.fromSecret('db-credentials', 'pass-word') }, cpu: Cpu.millis(500), memory: Size.mebibytes(256),
    healthCheck: HealthCheck.http('/healthz', { interval: Duration.seconds(5), failureThreshold: 3, startPeriod: Duration.seconds(20) }),
  });
  const orders = new MicroService(stack, 'order-service', {
    image: ContainerImage.fromRegistry('registry.example.com/orders:1.0.0'), port: 8002, calls: [users],
    cpu: Cpu.cores(1), memory: Size.gibibytes(1), restartPolicy: RestartPolicy.ON_FAILURE,
    healthCheck: HealthCheck.http('/healthz', { interval: Duration.seconds(10), failureThreshold: 2, startPeriod: Duration.seconds(10) }),
  });
  const v2 = orders.addVersion('v2', { replicas: 1 });
  new MeshRoute(stack, 'orders-canary', { service: orders, rules: [
    { match: Match.pathPrefix('/api/v2'), to: v2 },
    { split: [{ to: orders.defaultVersion, weight: 70 }, { to: v2, weight: 30 }] },
  ] });
  new CircuitBreaker(stack, 'orders-breaker', { service: orders, maxConnections: 100, consecutive5xxErrors: 5, interval: Duration.seconds(10), baseEjectionTime: Duration.seconds(30) });
  new MicroService(stack, 'web', { image: ContainerImage.fromRegistry('registry.example.com/web:1.0.0'), calls: [orders], expose: { port: 8080 }, healthCheck: HealthCheck.none() });
}

describe('overlay (swarm) compose output', () => {
  const outs: Synthesized[] = [];
  const make = (options: { placement?: string[] } = {}): Synthesized => { const o = synth((app) => overlayShop(app, options)); outs.push(o); return o; };
  afterAll(() => outs.forEach((o) => o.cleanup()));

  test('no start order, no build, no top-level name; swarm rollout from the health check; gateway files as configs', () => {
    const out = make();
    const doc = out.compose('shop');
    expect(doc.name).toBeUndefined();
    expect(Object.keys(doc.services)).toEqual(['order-service', 'order-service-v1', 'order-service-v2', 'user-service', 'web']);
    for (const s of Object.values<any>(doc.services)) {
      expect(s.depends_on).toBeUndefined();
      expect(s.build).toBeUndefined();
      expect(s.restart).toBeUndefined();
      // swarm ignores security_opt (no-new-privileges); the user, capability drop and read-only root stay
      expect(s.security_opt).toBeUndefined();
      expect(s.cap_drop).toEqual(['ALL']);
      expect(s.read_only).toBe(true);
      // The writable /tmp of the read-only root is a tmpfs mount: the stack loader drops the `tmpfs` key.
      expect(s.tmpfs).toBeUndefined();
      expect(s.volumes).toContainEqual({ type: 'tmpfs', target: '/tmp' });
      expect(s.deploy.update_config.order).toBe('start-first');
      expect(s.deploy.rollback_config.order).toBe('start-first');
      expect(s.deploy.placement).toBeUndefined();
    }
    const users = doc.services['user-service'];
    expect(users.image).toMatch(/^ghcr\.io\/acme\/shop\/user-service:[0-9a-f]{12}$/);
    // monitor = start period + interval × failure threshold: 20 s + 5 s × 3
    expect(users.deploy.update_config).toEqual({ order: 'start-first', parallelism: 1, failure_action: 'rollback', monitor: '35s' });
    expect(users.deploy.rollback_config).toEqual({ order: 'start-first', parallelism: 1, failure_action: 'pause', monitor: '35s' });
    expect(users.deploy.restart_policy).toEqual({ condition: 'any' });
    expect(doc.services['order-service-v1'].deploy.update_config.monitor).toBe('30s'); // 10 s + 10 s × 2
    expect(doc.services['order-service-v1'].deploy.restart_policy).toEqual({ condition: 'on-failure' });
    expect(doc.services.web.deploy.update_config.monitor).toBe('5s'); // no health check: swarm's default
    // The gateway reads its generated config from a swarm config named by content, not a bind mount.
    const gw = doc.services['order-service'];
    expect(gw.volumes).toEqual([{ type: 'tmpfs', target: '/tmp' }]); // no bind mount, only the writable /tmp
    expect(gw.configs).toEqual([{ source: expect.stringMatching(/^order-service-gateway-cfg-[0-9a-f]{10}$/), target: '/usr/local/etc/haproxy/haproxy.cfg', mode: 0o444 }]);
    expect(doc.configs).toEqual({ [gw.configs[0].source]: { file: './shop.compose/order-service-gateway.cfg' } });
    expect(out.files.has('shop.compose/order-service-gateway.cfg')).toBe(true);
    // The header says how to deploy, and how to build and push the built image first.
    const header = out.files.get('shop.compose.yml')!.split('\n').filter((l) => l.startsWith('#'));
    expect(header[0]).toContain('docker stack deploy -c shop.compose.yml shop');
    expect(header.some((l) => l.includes(`docker build -t ${users.image} `) && l.includes(`docker push ${users.image}`))).toBe(true);
  });

  test('placement constraints from the stack reach every service and gateway', () => {
    const doc = make({ placement: ['node.role==worker', 'node.labels.pool!=batch'] }).compose('shop');
    for (const s of Object.values<any>(doc.services)) expect(s.deploy.placement).toEqual({ constraints: ['node.role==worker', 'node.labels.pool!=batch'] });
  });

  test('bad input: placement outside overlay mode, malformed constraints', () => {
    expect(() => new Stack(new App(), 's', { compose: { placement: ['node.role==worker'] } })).toThrow(/s: compose placement constraints apply to a Docker swarm, but the stack's compose network mode is bridge.*Fix: set compose.networkMode to ComposeNetworkMode.OVERLAY/);
    expect(() => new Stack(new App(), 's', { compose: { networkMode: ComposeNetworkMode.OVERLAY, placement: ['role worker'] } })).toThrow(/constraint "role worker" is not a swarm constraint.*Fix: write <attribute>==<value>/);
  });

  test('an overlay stack that builds an image needs a registry the swarm nodes can pull from', () => {
    const app = new App({ outdir: '/nonexistent-pyfleet-test' });
    const stack = new Stack(app, 'shop', { compose: { networkMode: ComposeNetworkMode.OVERLAY } });
    new FastApiApp(stack, 'user-service', { source: path.join(SHOP, 'user') });
    new MicroService(stack, 'web', { image: ContainerImage.fromRegistry('registry.example.com/web:1.0.0') });
    const problems = synthProblems(app);
    expect(problems.map((p) => p.constructPath)).toEqual(['shop/user-service/v1']);
    expect(problems[0].problem).toMatch(/^the stack deploys to a Docker swarm \(ComposeNetworkMode.OVERLAY\), whose nodes pull every image, but this version's image is built from source and named "pyfleet\.local\/shop\/user-service:[0-9a-f]{12}" under the placeholder registry "pyfleet\.local\/shop"/);
    expect(problems[0].fix).toMatch(/^set imageRegistry on the stack to a registry the nodes can pull from \(new Stack\(app, 'shop', \{ imageRegistry: 'ghcr.io\/acme\/shop'/);
    // The same stack on a bridge (one machine builds its images) is fine.
    const bridge = new App({ outdir: '/nonexistent-pyfleet-test' });
    new FastApiApp(new Stack(bridge, 'shop'), 'user-service', { source: path.join(SHOP, 'user') });
    expect(synthProblems(bridge)).toEqual([]);
  });

  const cli = swarmCli();
  const cases: Array<[string, { placement?: string[] }]> = [
    ['the shop with a gateway, a built image, two versions and calls', {}],
    ['with placement constraints', { placement: ['node.role==worker'] }],
  ];
  (cli ? test : test.skip).each(cases)('`docker stack config` accepts the overlay stack: %s', (_name, options) => {
    const out = make(options);
    const file = path.join(out.dir, 'shop.compose.yml');
    const resolved = stackConfig(cli!, file, { DB_CREDENTIALS_PASS_WORD: 'secret' });
    // The secret comes from the deploying shell, whole (the loader misreads a `-` in the message).
    expect(resolved.services['user-service'].environment.DB_PASSWORD).toBe('secret');
    expect(() => stackConfig(cli!, file, { DB_CREDENTIALS_PASS_WORD: '' })).toThrow(/required variable DB_CREDENTIALS_PASS_WORD is missing a value: set DB_CREDENTIALS_PASS_WORD to the value of this secret key/);
    const doc = out.compose('shop');
    expect(Object.keys(resolved.services).sort()).toEqual(Object.keys(doc.services).sort());
    for (const [name, s] of Object.entries<any>(resolved.services)) {
      expect(s.depends_on).toBeUndefined();
      expect(s.deploy.update_config).toMatchObject({ order: 'start-first', parallelism: 1, failure_action: 'rollback' });
      expect(s.deploy.rollback_config).toMatchObject({ order: 'start-first', parallelism: 1 });
      expect(s.deploy.update_config.monitor).toBe(doc.services[name].deploy.update_config.monitor);
      expect(s.deploy.restart_policy.condition).toBe(doc.services[name].deploy.restart_policy.condition);
      expect(s.deploy.placement?.constraints).toEqual(options.placement);
      expect(s.healthcheck?.test).toEqual(doc.services[name].healthcheck?.test);
    }
    // Resources as the loader reads them (bytes).
    expect(resolved.services['user-service'].deploy.resources).toEqual({ limits: { cpus: '0.5', memory: String(256 * 1024 * 1024) }, reservations: { cpus: '0.5', memory: String(256 * 1024 * 1024) } });
    expect(resolved.services['user-service'].deploy.replicas).toBe(2);
    // The gateway config resolves to the generated file beside the compose file.
    const gw = resolved.services['order-service'];
    expect(resolved.configs[gw.configs[0].source].file).toBe(path.join(out.dir, 'shop.compose', 'order-service-gateway.cfg'));
    expect(fs.existsSync(resolved.configs[gw.configs[0].source].file)).toBe(true);
  });

  (cli ? test : test.skip)('the check can fail: the loader rejects the long depends_on form swarm does not take', () => {
    const out = make();
    const doc = out.compose('shop');
    doc.services['order-service-v1'].depends_on = { 'user-service': { condition: 'service_healthy' } };
    const file = path.join(out.dir, 'bad.compose.yml');
    fs.writeFileSync(file, yaml.dump(doc));
    expect(() => stackConfig(cli!, file, { DB_CREDENTIALS_PASS_WORD: 'secret' })).toThrow(/depends_on must be a list/);
  });
});
