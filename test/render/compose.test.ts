import { execFileSync } from 'child_process';
import * as fs from 'fs';
import * as path from 'path';
import * as yaml from 'js-yaml';
import { App, ComposeNetworkMode, ContainerImage, Cpu, Duration, EnvValue, FastApiApp, HealthCheck, MicroService, RestartPolicy, Size, Stack } from '../../lib';
import { dclint, REFERENCE_COMPOSE_SCHEMA, validateComposeSchema } from '../support/checks';
import { haveEngine } from '../support/engines';
import { forDockerCompose129, stackConfig, swarmCli } from '../support/docker';
import { sourceDir, synth, Synthesized } from '../support/synth';

function shop(app: App, mode: ComposeNetworkMode, replicas = 1): void {
  const stack = new Stack(app, 'shop', { compose: { networkMode: mode }, imageRegistry: 'ghcr.io/acme/shop' });
  const users = new MicroService(stack, 'user-service', {
    image: ContainerImage.fromDirectory(sourceDir()), port: 8001, replicas,
    env: { DB_PASSWORD: EnvValue.fromSecret('db-credentials', 'password'), PRICE: '$5' },
    cpu: Cpu.millis(500), memory: Size.mebibytes(256),
    healthCheck: HealthCheck.http('/healthz', { interval: Duration.seconds(5), timeout: Duration.seconds(2), failureThreshold: 3, startPeriod: Duration.seconds(20) }),
  });
  const health = new MicroService(stack, 'audit', { image: ContainerImage.fromRegistry('ghcr.io/acme/audit:2.0.1'), port: 8003, replicas: 1, healthCheck: HealthCheck.none(), restartPolicy: RestartPolicy.ALWAYS });
  new MicroService(stack, 'order-service', {
    image: ContainerImage.fromDirectory(sourceDir({ 'extra.txt': 'x' })), port: 8002, replicas: 1,
    cpu: Cpu.cores(1), memory: Size.gibibytes(1), cpuRequest: Cpu.millis(250), memoryRequest: Size.mebibytes(512),
    calls: [users, health], expose: { port: 8002 },
  });
}

const composeOf = (out: Synthesized): any => out.compose('shop');
const SHOP = path.join(__dirname, '..', '..', 'examples', 'shop', 'services');

describe('compose output', () => {
  const outs: Synthesized[] = [];
  const make = (mode: ComposeNetworkMode, replicas = 1): Synthesized => { const o = synth((app) => shop(app, mode, replicas)); outs.push(o); return o; };
  afterAll(() => outs.forEach((o) => o.cleanup()));

  test.each([ComposeNetworkMode.BRIDGE, ComposeNetworkMode.HOST, ComposeNetworkMode.OVERLAY])('%s mode: valid against the Compose Specification schema and clean under dclint', (mode) => {
    const out = make(mode);
    expect(validateComposeSchema(composeOf(out))).toEqual([]);
    if (fs.existsSync(REFERENCE_COMPOSE_SCHEMA)) expect(validateComposeSchema(composeOf(out), REFERENCE_COMPOSE_SCHEMA)).toEqual([]);
    const lint = dclint(path.join(out.dir, 'shop.compose.yml'));
    // The swarm's loader rejects a top-level `name` (`docker stack deploy` names the stack), so an
    // overlay project has none: the one thing dclint says about it.
    const warnings = mode === ComposeNetworkMode.OVERLAY ? ['require-project-name-field: The "name" field should be present.'] : [];
    expect(lint).toEqual({ errors: [], warnings });
  });

  test('the schema check itself rejects a wrong document', () => {
    const doc = composeOf(make(ComposeNetworkMode.BRIDGE));
    doc.services['user-service'].ports = 8001;
    doc.services['user-service'].healtcheck = {};
    const errors = validateComposeSchema(doc);
    expect(errors.some((e) => e.includes('/services/user-service/ports'))).toBe(true);
    expect(errors.some((e) => e.includes('healtcheck'))).toBe(true);
  });

  test('bridge: services by name, injected URLs use service names, waits for healthy callees', () => {
    const doc = composeOf(make(ComposeNetworkMode.BRIDGE));
    expect(doc.name).toBe('shop');
    expect(Object.keys(doc.services)).toEqual(['audit', 'order-service', 'user-service']);
    const orders = doc.services['order-service'];
    expect(orders.environment).toEqual({ USER_SERVICE_URL: 'http://user-service:8001', AUDIT_URL: 'http://audit:8003' });
    expect(orders.depends_on).toEqual({ 'user-service': { condition: 'service_healthy', restart: true }, 'audit': { condition: 'service_started', restart: true } });
    // One internal network per call; the exposed service also joins its own public network.
    expect(orders.networks).toEqual({
      'order-service_public': { aliases: ['order-service'] },
      'order-service_to_audit': { aliases: ['order-service'] },
      'order-service_to_user-service': { aliases: ['order-service'] },
    });
    expect(doc.services['user-service'].networks).toEqual({ 'order-service_to_user-service': { aliases: ['user-service'] } });
    expect(doc.services.audit.networks).toEqual({ 'order-service_to_audit': { aliases: ['audit'] } });
    expect(orders.ports).toEqual(['0.0.0.0:8002:8002/tcp']);
    expect(doc.services['user-service'].ports).toBeUndefined();
    expect(doc.networks).toEqual({
      'order-service_public': { driver: 'bridge' },
      'order-service_to_audit': { driver: 'bridge', internal: true },
      'order-service_to_user-service': { driver: 'bridge', internal: true },
    });
  });

  test('bridge with networkPolicy off: one project network, as before segmentation', () => {
    const out = synth((app) => {
      const stack = new Stack(app, 'shop', { networkPolicy: { enabled: false } });
      const users = new MicroService(stack, 'user-service', { image: ContainerImage.fromRegistry('ghcr.io/acme/users:1.0.0'), port: 8001, replicas: 1 });
      new MicroService(stack, 'order-service', { image: ContainerImage.fromRegistry('ghcr.io/acme/orders:1.0.0'), port: 8002, replicas: 1, calls: [users], expose: { port: 8002 } });
    });
    outs.push(out);
    const doc = composeOf(out);
    expect(doc.networks).toEqual({ shop: { driver: 'bridge' } });
    expect(doc.services['order-service'].networks).toEqual({ shop: { aliases: ['order-service'] } });
    expect(doc.services['user-service'].networks).toEqual({ shop: { aliases: ['user-service'] } });
  });

  test('host: every service on the host network; URLs are 127.0.0.1:<port>; no published ports', () => {
    const doc = composeOf(make(ComposeNetworkMode.HOST));
    const orders = doc.services['order-service'];
    expect(orders.network_mode).toBe('host');
    expect(orders.networks).toBeUndefined();
    expect(orders.ports).toBeUndefined();
    expect(orders.environment.USER_SERVICE_URL).toBe('http://127.0.0.1:8001');
    expect(doc.networks).toBeUndefined();
  });

  test('host: a service nobody outside calls listens on loopback only; an image of your own gets a warning instead', () => {
    let app!: App;
    const out = synth((a) => {
      app = a;
      const stack = new Stack(a, 'shop', { compose: { networkMode: ComposeNetworkMode.HOST } });
      // On the host network every metrics port is a host port too: each service gets its own.
      const users = new FastApiApp(stack, 'user-service', { source: path.join(SHOP, 'user'), port: 8001, replicas: 1, metrics: { port: 9101 } });
      const audit = new MicroService(stack, 'audit', { image: ContainerImage.fromRegistry('ghcr.io/acme/audit:2.0.1'), port: 8003, replicas: 1 });
      new FastApiApp(stack, 'order-service', { source: path.join(SHOP, 'order'), port: 8002, replicas: 1, calls: [users, audit], expose: { port: 8002 }, metrics: { port: 9102 } });
    });
    outs.push(out);
    const doc = composeOf(out);
    expect(doc.services['user-service'].environment.PYFLEET_LISTEN_HOST).toBe('127.0.0.1');
    expect(doc.services['order-service'].environment.PYFLEET_LISTEN_HOST).toBeUndefined(); // exposed: every interface
    expect(doc.services.audit.environment?.PYFLEET_LISTEN_HOST).toBeUndefined(); // pyfleet does not control its server
    // Metrics are never public: loopback even for the exposed service; and never a published port.
    expect(doc.services['user-service'].environment.PYFLEET_METRICS_HOST).toBe('127.0.0.1');
    expect(doc.services['order-service'].environment.PYFLEET_METRICS_HOST).toBe('127.0.0.1');
    expect(doc.services.audit.environment?.PYFLEET_METRICS_HOST).toBeUndefined();
    const warnings = app.warnings().filter((w) => /host network mode/.test(w.message));
    expect(warnings.map((w) => w.constructPath)).toEqual(['shop/audit', 'shop']);
    expect(warnings[0].message).toMatch(/unless its server binds 127\.0\.0\.1:8003, port 8003 is open on every interface of the host/);
    // Host networking cannot keep containers apart: said once for the stack.
    expect(warnings[1].message).toMatch(/host network mode cannot segment the project: every container shares the host's interfaces/);
    // Bridge mode: containers have their own interfaces; nothing to narrow, nothing to warn about.
    const bridge = synth((a) => {
      app = a;
      const stack = new Stack(a, 'shop');
      new FastApiApp(stack, 'user-service', { source: path.join(SHOP, 'user'), port: 8001 });
      new MicroService(stack, 'audit', { image: ContainerImage.fromRegistry('ghcr.io/acme/audit:2.0.1'), port: 8003 });
    });
    outs.push(bridge);
    expect(composeOf(bridge).services['user-service'].environment.PYFLEET_LISTEN_HOST).toBeUndefined();
    expect(app.warnings().filter((w) => /host network mode/.test(w.message))).toEqual([]);
  });

  test('overlay: attachable overlay network, pushed images (a swarm cannot build), swarm rollout settings', () => {
    const doc = composeOf(make(ComposeNetworkMode.OVERLAY, 2));
    expect(doc.networks).toEqual({
      'order-service_public': { driver: 'overlay', attachable: true },
      'order-service_to_audit': { driver: 'overlay', attachable: true, internal: true },
      'order-service_to_user-service': { driver: 'overlay', attachable: true, internal: true },
    });
    const users = doc.services['user-service'];
    expect(users.build).toBeUndefined();
    expect(users.image).toMatch(/^ghcr\.io\/acme\/shop\/user-service:[0-9a-f]{12}$/);
    expect(users.deploy.replicas).toBe(2);
    expect(users.deploy.update_config.order).toBe('start-first');
    expect(doc.services['order-service'].environment.USER_SERVICE_URL).toBe('http://user-service:8001');
  });

  test('build, resources, health, restart, hardening and secrets', () => {
    const out = make(ComposeNetworkMode.BRIDGE);
    const doc = composeOf(out);
    const users = doc.services['user-service'];
    expect(users.build.context).toMatch(/^\.\/assets\/context\.[0-9a-f]{12}$/);
    expect(fs.existsSync(path.join(out.dir, users.build.context, 'Dockerfile'))).toBe(true);
    expect(users.build.tags).toEqual([`ghcr.io/acme/shop/user-service:${users.build.context.split('.').pop()}`]);
    expect(doc.services.audit.image).toBe('ghcr.io/acme/audit:2.0.1');
    expect(doc.services.audit.build).toBeUndefined();
    expect(doc.services.audit.healthcheck).toBeUndefined();
    expect(doc.services.audit.restart).toBe('always');
    expect(users.restart).toBe('unless-stopped');
    expect(users.deploy.resources).toEqual({ limits: { cpus: '0.5', memory: '256m' }, reservations: { cpus: '0.5', memory: '256m' } });
    expect(doc.services['order-service'].deploy.resources).toEqual({ limits: { cpus: '1', memory: '1g' }, reservations: { cpus: '0.25', memory: '512m' } });
    expect(users.healthcheck).toMatchObject({ interval: '5s', timeout: '2s', retries: 3, start_period: '20s' });
    expect(users.healthcheck.test[0]).toBe('CMD-SHELL');
    expect(users.healthcheck.test[1]).toContain('http://127.0.0.1:8001/healthz');
    expect(users).toMatchObject({ user: '10001:10001', read_only: true, tmpfs: ['/tmp'], cap_drop: ['ALL'], security_opt: ['no-new-privileges:true'], stop_signal: 'SIGTERM', stop_grace_period: '35s' });
    expect(users.environment.DB_PASSWORD).toBe('${DB_CREDENTIALS_PASSWORD:?set DB_CREDENTIALS_PASSWORD to the value of key password of secret db-credentials}');
    expect(users.environment.PRICE).toBe('$$5');
  });

  test('several versions run as <service>-<version> behind a gateway that carries the service name', () => {
    const out = synth((app) => {
      const stack = new Stack(app, 'shop');
      const svc = new MicroService(stack, 'orders', { image: ContainerImage.fromRegistry('ghcr.io/acme/orders:1.0.0'), replicas: 2 });
      svc.addVersion('v2', { image: ContainerImage.fromRegistry('ghcr.io/acme/orders:2.0.0'), replicas: 1 });
      new MicroService(stack, 'web', { image: ContainerImage.fromRegistry('ghcr.io/acme/web:1.0.0'), calls: [svc], replicas: 1 });
    });
    outs.push(out);
    const doc = out.compose('shop');
    expect(Object.keys(doc.services).sort()).toEqual(['orders', 'orders-v1', 'orders-v2', 'web']);
    // The gateway joins its callers' networks under the service's name and one network per version.
    expect(doc.services.orders.networks).toEqual({
      'orders_to_orders-v1': { aliases: ['orders'] }, 'orders_to_orders-v2': { aliases: ['orders'] }, 'web_to_orders': { aliases: ['orders'] },
    });
    expect(doc.services['orders-v1'].networks).toEqual({ 'orders_to_orders-v1': { aliases: ['orders-v1'] } });
    expect(doc.services['orders-v2'].networks).toEqual({ 'orders_to_orders-v2': { aliases: ['orders-v2'] } });
    expect(doc.services.web.networks).toEqual({ 'web_to_orders': { aliases: ['web'] } });
    expect(doc.services['orders-v2'].labels.version).toBe('v2');
    expect(Object.keys(doc.services.orders.depends_on).sort()).toEqual(['orders-v1', 'orders-v2']);
    expect(Object.keys(doc.services.web.depends_on)).toEqual(['orders']);
    expect(doc.services.web.environment.ORDERS_URL).toBe('http://orders:8080');
  });

  test('a public multi-container service is published once, by a gateway under its name that balances its containers', () => {
    const out = synth((app) => {
      const stack = new Stack(app, 'hello');
      new MicroService(stack, 'hello', { image: ContainerImage.fromRegistry('ghcr.io/acme/hello:1.0.0'), port: 5000, replicas: 3, expose: { port: 80 } });
    });
    outs.push(out);
    const doc = out.compose('hello');
    const containers = doc.services['hello-v1'];
    expect(containers.ports).toBeUndefined();
    expect(containers.deploy.replicas).toBe(3);
    expect(containers.networks).toEqual({ 'hello_to_hello-v1': { aliases: ['hello-v1'] } });
    const gateway = doc.services.hello;
    expect(gateway.image).toMatch(/^haproxy:/);
    expect(gateway.ports).toEqual(['0.0.0.0:80:5000/tcp']);
    expect(gateway.networks).toEqual({ 'hello_public': { aliases: ['hello'] }, 'hello_to_hello-v1': { aliases: ['hello'] } });
    expect(gateway.depends_on).toEqual({ 'hello-v1': { condition: 'service_healthy', restart: true } });
    const conf = out.files.get(gateway.volumes[0].source.replace(/^\.\//, ''))!;
    expect(conf).toMatch(/bind :5000\n/);
    expect(conf).toMatch(/server-template v1- 6 hello-v1:5000 /); // 3 replicas, a spare slot each for releases
    expect(dclint(path.join(out.dir, 'hello.compose.yml'))).toEqual({ errors: [], warnings: [] });
  });

  test('network names stay within Docker\'s 63 characters (<project>_<network>): long ones are cut and hashed; a stack id that leaves too little is refused', () => {
    const id = 'a-rather-long-stack-name-for-a-shop';
    const out = synth((app) => {
      const stack = new Stack(app, id);
      const callee = new MicroService(stack, 'a-service-with-a-long-descriptive-name', { image: ContainerImage.fromRegistry('ghcr.io/acme/x:1.0.0'), replicas: 1 });
      new MicroService(stack, 'another-service-with-a-long-descriptive-name', { image: ContainerImage.fromRegistry('ghcr.io/acme/y:1.0.0'), replicas: 1, calls: [callee] });
      new MicroService(stack, 'yet-another-service-with-a-long-name', { image: ContainerImage.fromRegistry('ghcr.io/acme/z:1.0.0'), replicas: 1, calls: [callee] });
    });
    outs.push(out);
    const doc = out.compose(id);
    const keys = Object.keys(doc.networks);
    expect(keys).toHaveLength(2);
    for (const k of keys) {
      expect(`${id}_${k}`.length).toBeLessThanOrEqual(63);
      expect(k).toMatch(/^[a-z0-9][a-z0-9_-]*-[0-9a-f]{8}$/);
    }
    expect(validateComposeSchema(doc)).toEqual([]);
    const app = new App({ outdir: '/nonexistent-pyfleet-test' });
    new MicroService(new Stack(app, 'x'.repeat(50)), 'web', { image: ContainerImage.fromRegistry('ghcr.io/acme/web:1.0.0') });
    expect(() => app.synthesize()).toThrow(/leaves 12 of Docker's 63 characters for its network names.*Fix: give the stack an id of at most 46 characters/);
  });

  const cli = swarmCli();
  (cli ? test : test.skip)('the swarm\'s own loader (`docker stack config`) accepts the overlay project', () => {
    const out = make(ComposeNetworkMode.OVERLAY, 2);
    const resolved = stackConfig(cli!, path.join(out.dir, 'shop.compose.yml'), { DB_CREDENTIALS_PASSWORD: 'secret' });
    expect(Object.keys(resolved.services).sort()).toEqual(['audit', 'order-service', 'user-service']);
    expect(resolved.services['user-service'].environment.DB_PASSWORD).toBe('secret');
    expect(resolved.services['user-service'].deploy.update_config).toMatchObject({ order: 'start-first', failure_action: 'rollback', monitor: '35s' });
    expect(resolved.services['order-service'].depends_on).toBeUndefined();
  });

  const dc = haveEngine('docker-compose', 'apt-get install docker-compose');
  (dc ? test : test.skip).each([ComposeNetworkMode.BRIDGE, ComposeNetworkMode.HOST, ComposeNetworkMode.OVERLAY])('docker-compose 1.29 accepts the %s project (`config`)', (mode) => {
    const out = make(mode);
    // docker-compose 1.29 predates four keys of the current specification; remove exactly those and let it check the rest.
    const doc = forDockerCompose129(composeOf(out));
    const file = path.join(out.dir, 'compat.compose.yml');
    fs.writeFileSync(file, yaml.dump(doc));
    const env = { ...process.env, DB_CREDENTIALS_PASSWORD: 'secret' };
    const printed = execFileSync('docker-compose', ['-p', 'shop', '-f', file, 'config'], { cwd: out.dir, env, encoding: 'utf8', timeout: 60_000 });
    const resolved = yaml.load(printed) as any;
    expect(resolved.services['user-service'].environment.DB_PASSWORD).toBe('secret');
    expect(Object.keys(resolved.services).sort()).toEqual(['audit', 'order-service', 'user-service']);
    // Without the secret in the environment, compose refuses to start, naming the variable.
    const run = () => execFileSync('docker-compose', ['-p', 'shop', '-f', file, 'config', '-q'], { cwd: out.dir, env: { ...process.env, DB_CREDENTIALS_PASSWORD: '' }, encoding: 'utf8', stdio: 'pipe', timeout: 60_000 });
    expect(run).toThrow(/DB_CREDENTIALS_PASSWORD/);
  });
});
