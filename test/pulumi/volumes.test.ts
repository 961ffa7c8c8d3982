// Volumes and files through the Pulumi components, under mocks: the Kubernetes component creates the
// claims and ConfigMaps before the Deployments that mount them (claims not awaited: a
// WaitForFirstConsumer claim binds only once its pod exists); the Docker host component creates the
// named volumes (named as compose names them) before the containers that mount them, and refuses
// config and secret files, which its provider cannot upload into a read-only root filesystem.
import * as path from 'path';
import { App, ConfigFile, ContainerImage, MicroService, PyfleetError, SecretFile, Size, Stack, Volume, VolumeMedium } from '../../lib';
import { DockerHostDeployment, KubernetesDeployment } from '../../lib/pulumi';
import { cleanup, tempDir } from './fixtures';
import { installMocks, ofType, registered, settle } from './mocks';

const image = ContainerImage.fromRegistry('registry.example.com/api:1.0.0');

function shop(files = true): Stack {
  const app = new App({ outdir: path.join(tempDir('pyfleet-volumes-'), 'dist') });
  const stack = new Stack(app, 'shop');
  new MicroService(stack, 'api', {
    image, replicas: 1,
    volumes: [Volume.persistent('/data', { size: Size.gibibytes(2) }), Volume.ephemeral('/scratch'), Volume.ephemeral('/fast', { medium: VolumeMedium.MEMORY, size: Size.mebibytes(16) })],
    files: files ? [ConfigFile.fromString('a = 1\n', '/etc/api/a.toml'), SecretFile.fromFile('./key', '/run/secrets/key')] : [],
  });
  return stack;
}

beforeEach(async () => {
  await installMocks();
});
afterAll(cleanup);

test('KubernetesDeployment: claims and ConfigMaps before the Deployment; claims are not awaited', async () => {
  const d = new KubernetesDeployment('k', { stack: shop(), buildImages: false });
  await settle(d.objects.map((o) => o.resource));
  const pvc = ofType('kubernetes:core/v1:PersistentVolumeClaim');
  expect(pvc.map((r) => [r.name, r.inputs.spec.resources.requests.storage])).toEqual([['k-persistentvolumeclaim-api-v1-data', '2Gi']]);
  expect(pvc[0].inputs.metadata.annotations).toEqual({ 'pulumi.com/skipAwait': 'true' });
  const cm = ofType('kubernetes:core/v1:ConfigMap');
  expect(cm).toHaveLength(1);
  const deployment = ofType('kubernetes:apps/v1:Deployment')[0];
  expect(deployment.dependsOn).toEqual(expect.arrayContaining(['k-persistentvolumeclaim-api-v1-data', cm[0].name]));
  // The Secret of the secret file is the user's: the component creates none.
  expect(ofType('kubernetes:core/v1:Secret')).toEqual([]);
  expect(d.objects.find((o) => o.key === 'Deployment/shop/api-v1')!.dependsOn).toEqual(expect.arrayContaining(['PersistentVolumeClaim/shop/api-v1-data']));
  // An await option given for claims wins.
  await installMocks();
  const awaited = new KubernetesDeployment('k2', { stack: shop(), buildImages: false, await: { PersistentVolumeClaim: { skipAwait: false } } });
  await settle(awaited.objects.map((o) => o.resource));
  expect(ofType('kubernetes:core/v1:PersistentVolumeClaim')[0].inputs.metadata.annotations).toBeUndefined();
});

test('DockerHostDeployment: named volumes as compose names them, before the containers that mount them; anonymous volumes and sized tmpfs mounts', async () => {
  const d = new DockerHostDeployment('vps', { stack: shop(false), host: 'ssh://deploy@vps.example.com' });
  await settle([...Object.values(d.containers).flat(), ...Object.values(d.volumes)]);
  const vols = ofType('docker:index/volume:Volume');
  expect(vols.map((v) => v.inputs.name)).toEqual(['shop_api-v1-data']);
  expect(vols[0].inputs.labels).toEqual(expect.arrayContaining([{ label: 'com.docker.compose.project', value: 'shop' }, { label: 'com.docker.compose.volume', value: 'api-v1-data' }]));
  const c = ofType('docker:index/container:Container')[0];
  expect(c.dependsOn).toContain(vols[0].name);
  expect(c.inputs.volumes).toEqual([{ volumeName: 'shop_api-v1-data', containerPath: '/data' }, { containerPath: '/scratch' }]);
  expect(c.inputs.mounts).toEqual([{ type: 'tmpfs', target: '/fast', tmpfsOptions: { sizeBytes: 16 * 2 ** 20 } }]);
  expect(c.inputs.readOnly).toBe(true);
  expect(c.inputs.uploads).toBeUndefined();
  expect(registered.some((r) => r.type === 'docker:index/volume:Volume' && r.name === 'vps-volume-api-v1-data')).toBe(true);
});

test('DockerHostDeployment refuses config and secret files with the reason and the fix', () => {
  expect(() => new DockerHostDeployment('vps', { stack: shop(true), host: 'ssh://deploy@vps.example.com' })).toThrow(PyfleetError);
  expect(() => new DockerHostDeployment('vps2', { stack: shop(true), host: 'ssh://deploy@vps.example.com' })).toThrow(/dockerd refuses an upload into a read-only root filesystem/);
});
