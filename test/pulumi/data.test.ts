// The backing services through pyfleet/pulumi, under mocks: KubernetesDeployment creates each store's
// credentials Secret with a random password (a Pulumi secret) before the StatefulSet and the callers
// that read it, and the StatefulSets as typed, awaited resources.
import { App, ComposeNetworkMode, ContainerImage, MicroService, Postgres, Redis, Size, Stack } from '../../lib';
import * as pulumi from '@pulumi/pulumi';
import { DockerHostDeployment, KubernetesDeployment } from '../../lib/pulumi';
import { cleanup, tempDir } from './fixtures';
import { installMocks, ofType, registered, settle } from './mocks';

function dataStack(mode?: ComposeNetworkMode): Stack {
  const app = new App({ outdir: tempDir('pyfleet-pulumi-data-') });
  const stack = new Stack(app, 'shop', { namespace: 'shop', compose: mode ? { networkMode: mode } : undefined });
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

const SECRET_SIG = '4dabf18193072939515e22adb298388d';
const reveal = (v: any): any => (v && typeof v === 'object' && v[SECRET_SIG] ? v.value : v);

describe('DockerHostDeployment with backing services', () => {
  test('named volumes before the containers that mount them, kept on delete; passwords given or generated, interpolated like compose', async () => {
    const d = new DockerHostDeployment('vps', { stack: dataStack(), host: 'ssh://deploy@vps.example.com', secrets: { ORDERS_DB_CREDENTIALS_PASSWORD: pulumi.secret('given-pw') } });
    await settle([...Object.values(d.containers).flat(), ...Object.values(d.volumes)]);
    const volumes = ofType('docker:index/volume:Volume');
    expect(volumes.map((v) => v.inputs.name)).toEqual(['shop_orders-db-data']);
    const db = ofType('docker:index/container:Container').find((c) => c.name === 'vps-orders-db-1')!;
    expect(db.dependsOn).toContain('vps-volume-orders-db-data');
    expect(db.inputs.volumes).toEqual([{ volumeName: 'shop_orders-db-data', containerPath: '/var/lib/postgresql/data' }]);
    expect(db.inputs.tmpfs).toEqual({ '/tmp': '', '/var/run/postgresql': '' });
    expect(reveal(db.inputs.envs).map(reveal)).toContain('POSTGRES_PASSWORD=given-pw');
    // Redis' password was not given: generated (a RandomPassword), into its --requirepass and the caller's URL.
    expect(ofType('random:index/randomPassword:RandomPassword').map((p) => [p.name, p.inputs.length, p.inputs.special])).toEqual([['vps-password-cache', 32, false]]);
    const cache = ofType('docker:index/container:Container').find((c) => c.name === 'vps-cache-1')!;
    const generated = 'mock-password-18';
    expect(reveal(cache.inputs.command).map(reveal)).toEqual(expect.arrayContaining(['--requirepass', generated]));
    const app = ofType('docker:index/container:Container').find((c) => c.name === 'vps-order-service-1')!;
    const envs: string[] = reveal(app.inputs.envs).map(reveal);
    expect(envs).toContain('ORDERS_DB_URL=postgresql://orders_db:given-pw@orders-db:5432/orders_db');
    expect(envs).toContain(`CACHE_URL=redis://:${generated}@cache:6379/0`);
    // It starts after both stores are healthy (created with wait: true).
    expect(app.dependsOn).toEqual(expect.arrayContaining(['vps-orders-db-1', 'vps-cache-1']));
    expect([db.inputs.wait, cache.inputs.wait]).toEqual([true, true]);
  });
});

async function pulumiIsSecret(o: any): Promise<boolean> {
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const pulumi = require('@pulumi/pulumi') as typeof import('@pulumi/pulumi');
  return pulumi.isSecret(pulumi.output(o));
}
