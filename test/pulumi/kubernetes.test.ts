import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { Duration, PyfleetError } from '../../lib';
import { KubernetesDeployment, objectKey, typedClass } from '../../lib/pulumi';
import { buildTestShop, cleanup, sourceDir, tempDir } from './fixtures';
import { installMocks, mockDigest, ofType, plain, registered, settle, valueOf } from './mocks';

const K8S = /^kubernetes:(?!.*providers)/;

/** The stack's manifests as `cdk8s synth` renders them (computed independently of the component). */
function manifestsOf(shop: ReturnType<typeof buildTestShop>): any[] {
  const out = shop.app.synthesize().find((o) => o.stack === shop.stack)!;
  return plain(out.results.kubernetes as any[]);
}

function withDigests(o: any): any {
  const copy = plain(o);
  for (const c of copy.spec?.template?.spec?.containers ?? []) if (c.image.startsWith('registry.example.com/')) c.image = mockDigest(c.image);
  return copy;
}

const SECRET_SIG = '4dabf18193072939515e22adb298388d';

/** Replaces Pulumi secret envelopes by their values and says where they were. */
function unsecret(v: any, at = ''): { value: any; secretPaths: string[] } {
  const paths: string[] = [];
  const walk = (x: any, p: string): any => {
    if (Array.isArray(x)) return x.map((y, i) => walk(y, `${p}[${i}]`));
    if (x && typeof x === 'object') {
      if (x[SECRET_SIG] === '1b47061264138c4ac30d75fd1eb44270') {
        paths.push(p);
        return walk(x.value, p);
      }
      return Object.fromEntries(Object.entries(x).map(([k, y]) => [k, walk(y, p ? `${p}.${k}` : k)]));
    }
    return x;
  };
  return { value: walk(v, at), secretPaths: paths };
}

async function deploy(name: string, shop = buildTestShop(), extra: Partial<ConstructorParameters<typeof KubernetesDeployment>[1]> = {}): Promise<KubernetesDeployment> {
  const d = new KubernetesDeployment(name, { stack: shop.stack, registry: { username: 'ci', password: 's3cret' }, ...extra });
  await settle([...d.objects.map((o) => o.resource), ...Object.values(d.images)]);
  return d;
}

beforeEach(async () => {
  await installMocks();
});
afterAll(cleanup);

describe('KubernetesDeployment', () => {
  test('registers a typed resource per built-in kind and a CustomResource per Istio kind', async () => {
    const shop = buildTestShop();
    const expected = manifestsOf(shop);
    await deploy('shop', shop);
    const k8s = registered.filter((r) => K8S.test(r.type));
    expect(k8s).toHaveLength(expected.length);
    const types = k8s.map((r) => r.type).sort();
    expect(types).toEqual(expect.arrayContaining([
      'kubernetes:core/v1:Namespace',
      'kubernetes:core/v1:ServiceAccount',
      'kubernetes:core/v1:Service',
      'kubernetes:core/v1:Secret',
      'kubernetes:apps/v1:Deployment',
      'kubernetes:networking.istio.io/v1:DestinationRule',
      'kubernetes:networking.istio.io/v1:VirtualService',
    ]));
    // 3 services x (ServiceAccount + Service) + 4 Deployments (users, orders v1+v2, catalog).
    expect(ofType('kubernetes:apps/v1:Deployment').map((r) => r.name).sort()).toEqual(['shop-deployment-catalog-v1', 'shop-deployment-order-service-v1', 'shop-deployment-order-service-v2', 'shop-deployment-user-service-v1']);
    expect(ofType('kubernetes:core/v1:Service')).toHaveLength(3);
    expect(ofType('kubernetes:core/v1:ServiceAccount')).toHaveLength(3);
    // Every resource is a child of the component.
    for (const r of k8s) expect(r.parent).toBe('shop');
    expect(ofType('pyfleet:index:KubernetesDeployment').map((r) => r.name)).toEqual(['shop']);
  });

  test('equivalence: every synthesized object is exactly one Pulumi resource with the same content', async () => {
    const shop = buildTestShop();
    const expected = manifestsOf(shop);
    await deploy('shop', shop);
    const k8s = registered.filter((r) => K8S.test(r.type));
    const used = new Set<number>();
    for (const obj of expected) {
      const matches = k8s
        .map((r, i) => ({ r, i }))
        .filter(({ r }) => r.type === `kubernetes:${obj.apiVersion.includes('/') ? obj.apiVersion : `core/${obj.apiVersion}`}:${obj.kind}`
          && r.inputs.metadata?.name === obj.metadata.name && r.inputs.metadata?.namespace === obj.metadata.namespace);
      expect({ key: objectKey(obj), count: matches.length }).toEqual({ key: objectKey(obj), count: 1 });
      used.add(matches[0].i);
      const { value, secretPaths } = unsecret(plain(matches[0].r.inputs));
      expect(value).toEqual(withDigests(obj));
      // Secret data is passed to Pulumi as a secret (encrypted in the state), nothing else is.
      expect(secretPaths).toEqual(obj.kind === 'Secret' ? ['stringData'] : []);
    }
    expect(used.size).toBe(k8s.length);
  });

  test('Deployments run the pushed image by digest; registry images are left as they are', async () => {
    const shop = buildTestShop();
    const d = await deploy('shop', shop);
    const images = ofType('docker:index/image:Image');
    expect(images).toHaveLength(2);
    for (const img of images) {
      expect(img.inputs.imageName).toMatch(/^registry\.example\.com\/shop\/(user|order)-service:[0-9a-f]{12}$/);
      expect(img.inputs.registry).toEqual({ server: 'registry.example.com', username: 'ci', password: expect.anything() });
      expect(img.inputs.build.platform).toBe('linux/amd64');
      // The staged context (source + Dockerfile) was written where the build reads it.
      expect(fs.readFileSync(img.inputs.build.dockerfile, 'utf8')).toMatch(/^FROM python/);
      expect(fs.existsSync(path.join(img.inputs.build.context, 'app.py'))).toBe(true);
      expect(img.inputs.build.context.startsWith(shop.outdir)).toBe(true);
    }
    const deployments = ofType('kubernetes:apps/v1:Deployment');
    const imageOf = (n: string): string => deployments.find((r) => r.name === n)!.inputs.spec.template.spec.containers[0].image;
    expect(imageOf('shop-deployment-user-service-v1')).toMatch(/^registry\.example\.com\/shop\/user-service@sha256:[0-9a-f]{64}$/);
    expect(imageOf('shop-deployment-order-service-v1')).toBe(imageOf('shop-deployment-order-service-v2'));
    expect(imageOf('shop-deployment-catalog-v1')).toBe('ghcr.io/acme/catalog:1.4.2');
    // The Deployment waits for its image (the digest input is a dependency).
    expect(deployments.find((r) => r.name === 'shop-deployment-user-service-v1')!.dependsOn).toEqual(expect.arrayContaining([images.find((i) => i.inputs.imageName.includes('user-service'))!.name]));
    expect(Object.keys(d.images)).toHaveLength(2);
  });

  test('a code change rolls the workload; an unchanged build does not', async () => {
    const usersSrc = sourceDir('print("users v1")\n');
    const ordersSrc = sourceDir('print("orders")\n');
    const imageOf = (): string => ofType('kubernetes:apps/v1:Deployment').find((r) => r.name.endsWith('user-service-v1'))!.inputs.spec.template.spec.containers[0].image;
    await deploy('a', buildTestShop(undefined, { users: usersSrc, orders: ordersSrc }));
    const first = imageOf();
    await installMocks();
    await deploy('a', buildTestShop(undefined, { users: usersSrc, orders: ordersSrc }));
    expect(imageOf()).toBe(first);
    fs.writeFileSync(path.join(usersSrc, 'app.py'), 'print("users v2")\n');
    await installMocks();
    await deploy('a', buildTestShop(undefined, { users: usersSrc, orders: ordersSrc }));
    expect(imageOf()).not.toBe(first);
  });

  test('dependsOn: namespace first, service accounts and secrets before workloads, DestinationRules before VirtualServices', async () => {
    const d = await deploy('shop');
    const byName = new Map(registered.map((r) => [r.name, r]));
    const depsOf = (n: string): string[] => byName.get(n)!.dependsOn;
    for (const r of registered.filter((x) => K8S.test(x.type) && x.type !== 'kubernetes:core/v1:Namespace')) {
      expect({ name: r.name, deps: r.dependsOn }).toEqual({ name: r.name, deps: expect.arrayContaining(['shop-namespace-shop']) });
    }
    expect(depsOf('shop-namespace-shop')).toEqual([]);
    expect(depsOf('shop-deployment-user-service-v1')).toEqual(expect.arrayContaining(['shop-serviceaccount-user-service']));
    expect(depsOf('shop-deployment-catalog-v1')).toEqual(expect.arrayContaining(['shop-serviceaccount-catalog', 'shop-secret-db']));
    expect(depsOf('shop-deployment-user-service-v1')).not.toContain('shop-secret-db');
    expect(depsOf('shop-virtualservice-order-service')).toEqual(expect.arrayContaining(['shop-destinationrule-order-service']));
    // Registration order agrees (the engine creates a resource only after its dependencies).
    const order = registered.map((r) => r.name);
    expect(order.indexOf('shop-destinationrule-order-service')).toBeLessThan(order.indexOf('shop-virtualservice-order-service'));
    expect(d.objects.find((o) => o.key === 'Deployment/shop/catalog-v1')!.dependsOn).toEqual(['Namespace/shop', 'Secret/shop/db', 'ServiceAccount/shop/catalog']);
  });

  test('per-resource await control: skipAwait annotation and custom timeouts, by kind or by name', async () => {
    await deploy('shop', buildTestShop(), {
      await: {
        'Deployment': { timeout: Duration.minutes(3) },
        'Deployment/catalog-v1': { skipAwait: true, timeout: Duration.seconds(90) },
      },
    });
    const dep = (n: string) => ofType('kubernetes:apps/v1:Deployment').find((r) => r.name === `shop-deployment-${n}`)!;
    expect(dep('catalog-v1').inputs.metadata.annotations).toEqual({ 'pulumi.com/skipAwait': 'true' });
    expect(dep('catalog-v1').customTimeouts).toMatchObject({ create: '90s', update: '90s' });
    expect(dep('user-service-v1').inputs.metadata.annotations).toBeUndefined();
    expect(dep('user-service-v1').customTimeouts).toMatchObject({ create: '180s', update: '180s' });
    const ns = ofType('kubernetes:core/v1:Namespace')[0];
    expect(ns.customTimeouts?.create ?? '').toBe('');
  });

  test('an await option that matches no object is a PyfleetError (a typo is not ignored)', () => {
    const shop = buildTestShop();
    expect(() => new KubernetesDeployment('typo', { stack: shop.stack, registry: {}, await: { 'Deployment/order-service': { skipAwait: true } } }))
      .toThrow(/await option "Deployment\/order-service" matches no object.*Fix: use a kind \(.*Deployment.*\)/);
  });

  test('outputs the address of each public service', async () => {
    const d = await deploy('shop');
    expect(await valueOf(d.addresses)).toEqual({ 'order-service': 'http://203.0.113.10:80' });
  });

  test('an explicit kubeconfig makes a provider every resource uses', async () => {
    const dir = tempDir('pyfleet-kube-');
    const kubeconfig = path.join(dir, 'config');
    fs.writeFileSync(kubeconfig, 'apiVersion: v1\nkind: Config\nclusters: []\ncontexts: []\nusers: []\n');
    await deploy('shop', buildTestShop(), { kubeconfig, context: 'staging' });
    const provider = ofType('pulumi:providers:kubernetes');
    expect(provider).toHaveLength(1);
    expect(provider[0].inputs).toMatchObject({ kubeconfig, context: 'staging' });
    for (const r of registered.filter((x) => K8S.test(x.type))) expect(r.provider).toMatch(/pulumi:providers:kubernetes::shop-provider::/);
  });

  test('an unreachable kubeconfig path is a PyfleetError naming the file', () => {
    const shop = buildTestShop();
    const missing = path.join(os.tmpdir(), 'no-such-dir-pyfleet', 'kubeconfig');
    expect(() => new KubernetesDeployment('bad', { stack: shop.stack, kubeconfig: missing })).toThrow(PyfleetError);
    expect(() => new KubernetesDeployment('bad2', { stack: shop.stack, kubeconfig: missing })).toThrow(/kubeconfig .*no-such-dir-pyfleet\/kubeconfig does not exist.*Fix:/);
  });

  test('a built service without a registry is a PyfleetError naming the service; buildImages: false deploys the synthesized tags', async () => {
    const shop = buildTestShop({});
    let err: unknown;
    try {
      new KubernetesDeployment('noreg', { stack: shop.stack });
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(PyfleetError);
    expect((err as PyfleetError).constructPath).toBe('shop/user-service/v1');
    expect((err as PyfleetError).message).toMatch(/names no registry.*Fix: set imageRegistry/);

    await installMocks();
    const shop2 = buildTestShop({});
    const expected = manifestsOf(shop2);
    const d = new KubernetesDeployment('local', { stack: shop2.stack, buildImages: false });
    await settle(d.objects.map((o) => o.resource));
    expect(ofType('docker:index/image:Image')).toHaveLength(0);
    const dep = ofType('kubernetes:apps/v1:Deployment').find((r) => r.name === 'local-deployment-user-service-v1')!;
    expect(dep.inputs.spec.template.spec.containers[0].image).toBe(expected.find((o) => o.kind === 'Deployment' && o.metadata.name === 'user-service-v1').spec.template.spec.containers[0].image);
  });

  test('a model mistake is reported by the same validation as cdk8s synth, before anything is registered', () => {
    const shop = buildTestShop();
    shop.users.addCall(shop.orders); // orders already calls users: a cycle
    const before = registered.length;
    expect(() => new KubernetesDeployment('cycle', { stack: shop.stack, registry: {} })).toThrow(/dependency cycle/);
    expect(registered.length).toBe(before);
    expect(() => new KubernetesDeployment('x', { stack: {} as any })).toThrow(/not a pyfleet Stack/);
  });

  test('typedClass: Kubernetes groups map to classes, other groups do not', () => {
    expect(typedClass('apps/v1', 'Deployment')).toBeDefined();
    expect(typedClass('v1', 'Namespace')).toBeDefined();
    expect(typedClass('autoscaling/v2', 'HorizontalPodAutoscaler')).toBeDefined();
    expect(typedClass('networking.k8s.io/v1', 'NetworkPolicy')).toBeDefined();
    expect(typedClass('policy/v1', 'PodDisruptionBudget')).toBeDefined();
    expect(typedClass('networking.istio.io/v1', 'VirtualService')).toBeUndefined();
    expect(typedClass('security.istio.io/v1', 'PeerAuthentication')).toBeUndefined();
    expect(typedClass('apps/v1', 'NoSuchKind')).toBeUndefined();
  });
});
