// The backing services through pyfleet/pulumi, under mocks: KubernetesDeployment creates each store's
// credentials Secret with a random password (a Pulumi secret) before the StatefulSet and the callers
// that read it, and the StatefulSets as typed, awaited resources.
import { App, ContainerImage, MicroService, Postgres, Redis, Size, Stack } from '../../lib';
import { KubernetesDeployment } from '../../lib/pulumi';
import { cleanup, tempDir } from './fixtures';
import { installMocks, ofType, registered, settle } from './mocks';

function dataStack(): Stack {
  const app = new App({ outdir: tempDir('pyfleet-pulumi-data-') });
  const stack = new Stack(app, 'shop', { namespace: 'shop' });
  const db = new Postgres(stack, 'orders-db', { storage: Size.gibibytes(10) });
  const cache = new Redis(stack, 'cache');
  new MicroService(stack, 'order-service', { image: ContainerImage.fromRegistry('ghcr.io/acme/orders:1.0.0'), replicas: 1, calls: [db, cache] });
  return stack;
}

beforeEach(async () => {
  await installMocks();
});
afterAll(cleanup);

describe('KubernetesDeployment with backing services', () => {
  test('a random password per store, kept as a Pulumi secret in a Secret made before everything that reads it', async () => {
    const d = new KubernetesDeployment('shop', { stack: dataStack() });
    await settle(d.objects.map((o) => o.resource));
    const passwords = ofType('random:index/randomPassword:RandomPassword');
    expect(passwords.map((p) => [p.name, p.inputs.length, p.inputs.special]).sort()).toEqual([['shop-password-cache', 32, false], ['shop-password-orders-db', 32, false]].sort());
    const secrets = ofType('kubernetes:core/v1:Secret');
    expect(secrets.map((s) => s.name).sort()).toEqual(['shop-secret-cache-credentials', 'shop-secret-orders-db-credentials']);
    const secret = secrets.find((s) => s.name === 'shop-secret-orders-db-credentials')!;
    expect(secret.inputs.metadata).toMatchObject({ name: 'orders-db-credentials', namespace: 'shop' });
    expect(secret.dependsOn).toContain('shop-namespace-shop');
    expect(secret.dependsOn).toContain('shop-password-orders-db');
    // The password is a secret output of the component: its value only reaches the Secret.
    const resource = d.objects.find((o) => o.key === 'Secret/shop/orders-db-credentials')!.resource as any;
    expect(await pulumiIsSecret(resource.stringData)).toBe(true);
    const sts = ofType('kubernetes:apps/v1:StatefulSet');
    expect(sts.map((s) => s.name).sort()).toEqual(['shop-statefulset-cache', 'shop-statefulset-orders-db']);
    const pg = sts.find((s) => s.name === 'shop-statefulset-orders-db')!;
    expect(pg.dependsOn).toEqual(expect.arrayContaining(['shop-secret-orders-db-credentials', 'shop-serviceaccount-orders-db', 'shop-namespace-shop']));
    // Awaited: no skipAwait annotation (the provider waits until the StatefulSet's pod is ready).
    expect(pg.inputs.metadata.annotations?.['pulumi.com/skipAwait']).toBeUndefined();
    const caller = ofType('kubernetes:apps/v1:Deployment').find((r) => r.name === 'shop-deployment-order-service-v1')!;
    expect(caller.dependsOn).toEqual(expect.arrayContaining(['shop-secret-orders-db-credentials', 'shop-secret-cache-credentials']));
    expect(registered.filter((r) => r.type === 'kubernetes:core/v1:Secret' && JSON.stringify(r.inputs).includes('mock-password'))).toHaveLength(2);
  });

  test('createDataStoreSecrets: false leaves the Secrets to the user (the manifests reference them by name)', async () => {
    const d = new KubernetesDeployment('shop', { stack: dataStack(), createDataStoreSecrets: false });
    await settle(d.objects.map((o) => o.resource));
    expect(ofType('kubernetes:core/v1:Secret')).toEqual([]);
    expect(ofType('random:index/randomPassword:RandomPassword')).toEqual([]);
    expect(ofType('kubernetes:apps/v1:StatefulSet')).toHaveLength(2);
  });
});

async function pulumiIsSecret(o: any): Promise<boolean> {
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const pulumi = require('@pulumi/pulumi') as typeof import('@pulumi/pulumi');
  return pulumi.isSecret(pulumi.output(o));
}
