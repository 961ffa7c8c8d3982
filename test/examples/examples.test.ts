import { execFileSync } from 'child_process';
import * as fs from 'fs';
import * as path from 'path';
import { App } from '../../lib';
import { buildHello } from '../../examples/hello/main';
import { buildShop } from '../../examples/shop/main';
import { crossObjectProblems, dclint, validateComposeSchema, validateKubernetesObject } from '../support/checks';
import { load, quietSynth, readTree, tmpdir } from '../support/synth';

const examples: Array<[string, (app: App) => unknown]> = [['shop', buildShop], ['hello', buildHello]];

function synthInto(build: (app: App) => unknown): string {
  const dir = path.join(tmpdir(), 'dist');
  const app = new App({ outdir: dir });
  build(app);
  // Quiet: what synth prints is exactly app.warnings() (the shop's notes about the Secrets to create).
  quietSynth(app);
  return dir;
}

describe.each(examples)('examples/%s', (name, build) => {
  let dir: string;
  beforeAll(() => { dir = synthInto(build); });
  afterAll(() => fs.rmSync(path.dirname(dir), { recursive: true, force: true }));

  test('Kubernetes objects pass the schemas and the cross-object checks', () => {
    const out = load(dir);
    const objects = out.k8s(name);
    expect(objects.length).toBeGreaterThan(3);
    expect(objects.flatMap(validateKubernetesObject)).toEqual([]);
    expect(crossObjectProblems(objects)).toEqual([]);
  });

  test('the compose project passes the Compose schema and dclint', () => {
    const out = load(dir);
    expect(validateComposeSchema(out.compose(name))).toEqual([]);
    expect(dclint(path.join(dir, `${name}.compose.yml`))).toEqual({ errors: [], warnings: [] });
  });

  test('two synths are byte-identical', () => {
    const again = synthInto(build);
    const a = readTree(dir);
    const b = readTree(again);
    expect([...b.keys()]).toEqual([...a.keys()]);
    for (const [f, content] of a) expect(b.get(f)).toBe(content);
    fs.rmSync(path.dirname(again), { recursive: true, force: true });
  });
});

test('examples/hello: 3 replicas, public port 80 -> 5000', () => {
  const dir = synthInto(buildHello);
  const out = load(dir);
  const svc = out.find('hello', 'Service', 'hello');
  expect(svc.spec.type).toBe('LoadBalancer');
  expect(svc.spec.ports[0]).toMatchObject({ port: 80, targetPort: 'http' });
  const d = out.find('hello', 'Deployment', 'hello-v1');
  expect(d.spec.replicas).toBe(3);
  // 3 replicas: a disruption budget of one pod at a time, and a soft spread over nodes.
  expect(out.find('hello', 'PodDisruptionBudget', 'hello-v1').spec).toEqual({ maxUnavailable: 1, selector: { matchLabels: { app: 'hello', version: 'v1' } }, unhealthyPodEvictionPolicy: 'AlwaysAllow' });
  expect(d.spec.template.spec.topologySpreadConstraints).toEqual([{ maxSkew: 1, topologyKey: 'kubernetes.io/hostname', whenUnsatisfiable: 'ScheduleAnyway', labelSelector: { matchLabels: { app: 'hello', version: 'v1' } } }]);
  expect(d.spec.template.spec.containers[0].ports[0]).toMatchObject({ name: 'http', containerPort: 5000 });
  expect(out.compose('hello').services.hello.ports).toEqual(['0.0.0.0:80:5000/tcp']);
  expect(out.compose('hello').services['hello-v1'].deploy.replicas).toBe(3);
  fs.rmSync(path.dirname(dir), { recursive: true, force: true });
});

test('examples/shop: order-service calls user-service through the injected URL on every target', () => {
  const dir = synthInto(buildShop);
  const out = load(dir);
  const users = out.find('shop', 'Service', 'user-service');
  const env = out.find('shop', 'Deployment', 'order-service-v1').spec.template.spec.containers[0].env;
  expect(env).toContainEqual({ name: 'USER_SERVICE_URL', value: `http://user-service.shop.svc.cluster.local:${users.spec.ports[0].port}` });
  const compose = out.compose('shop');
  expect(compose.services['order-service'].environment.USER_SERVICE_URL).toMatch(/^http:\/\/user-service:\d+$/);
  expect(compose.services['order-service'].depends_on['user-service'].condition).toBe('service_healthy');
  for (const d of out.k8s('shop').filter((o) => o.kind === 'Deployment')) {
    expect(d.spec.template.spec.containers[0].resources.limits).toEqual(expect.objectContaining({ cpu: expect.any(String), memory: expect.any(String) }));
  }
  // Its orders in Postgres, its user lookups cached in Redis: the URLs with the password from the Secret.
  expect(env).toContainEqual({ name: 'ORDERS_DB_URL', value: 'postgresql://orders_db:$(ORDERS_DB_PASSWORD)@orders-db.shop.svc.cluster.local:5432/orders_db' });
  const usersEnv = out.find('shop', 'Deployment', 'user-service-v1').spec.template.spec.containers[0].env;
  expect(usersEnv).toContainEqual({ name: 'CACHE_URL', value: 'redis://:$(CACHE_PASSWORD)@cache.shop.svc.cluster.local:6379/0' });
  expect(out.find('shop', 'StatefulSet', 'orders-db').spec.volumeClaimTemplates[0].spec.resources.requests.storage).toBe('10Gi');
  expect(compose.services['order-service'].depends_on['orders-db'].condition).toBe('service_healthy');
  fs.rmSync(path.dirname(dir), { recursive: true, force: true });
});

test('examples/shop runs under the cdk8s CLI (`cdk8s synth`, which empties its outdir first)', () => {
  const exampleDir = path.join(__dirname, '../../examples/shop');
  const outdir = path.join(tmpdir(), 'cdk8s-out');
  const cli = path.join(path.dirname(require.resolve('cdk8s-cli/package.json')), 'bin', 'cdk8s');
  execFileSync(process.execPath, [cli, 'synth', '--no-check-upgrade', '--output', outdir], { cwd: exampleDir, stdio: 'pipe', timeout: 180_000, env: { ...process.env } });
  const out = load(outdir);
  expect(out.k8s('shop').some((o) => o.kind === 'Deployment')).toBe(true);
  expect(Object.keys(out.compose('shop').services)).toEqual(expect.arrayContaining(['order-service', 'user-service']));
  fs.rmSync(path.dirname(outdir), { recursive: true, force: true });
});
