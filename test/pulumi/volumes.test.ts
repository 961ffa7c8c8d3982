// Volumes and files through the Pulumi components, under mocks: the Kubernetes component creates the
// claims and ConfigMaps before the Deployments that mount them (claims not awaited: a
// WaitForFirstConsumer claim binds only once its pod exists); the Docker host component creates the
// named volumes (named as compose names them) before the containers that mount them, and places config,
// secret and password files through read-only volumes that a holder container received (its provider
// cannot upload into a read-only root filesystem: test/e2e/docker-files.test.ts).
import { createHash } from 'crypto';
import * as fs from 'fs';
import * as path from 'path';
import { App, ConfigFile, ContainerImage, FastApiApp, MicroService, Postgres, PyfleetError, SecretFile, Size, Stack, Volume, VolumeMedium } from '../../lib';
import { DockerHostDeployment, KubernetesDeployment } from '../../lib/pulumi';
import { serviceFiles } from '../../lib/pulumi/docker-files';
import { cleanup, tempDir } from './fixtures';
import { installMocks, ofType, registered, settle } from './mocks';

const image = ContainerImage.fromRegistry('registry.example.com/api:1.0.0');
const SECRET_SIG = '4dabf18193072939515e22adb298388d';
const API = path.join(__dirname, '..', '..', 'examples', 'shop', 'services', 'user');

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

/** A stack whose api has a config file and a secret file (./key, relative to the compose file's directory). */
function withFiles(opts: { key?: string | false; passwordFile?: boolean; clash?: boolean } = {}): Stack {
  const outdir = path.join(tempDir('pyfleet-volumes-files-'), 'dist');
  fs.mkdirSync(outdir, { recursive: true });
  if (opts.key !== false) fs.writeFileSync(path.join(outdir, 'key'), opts.key ?? 'k-123\n');
  const app = new App({ outdir });
  const stack = new Stack(app, 'shop');
  const db = opts.passwordFile ? new Postgres(stack, 'orders-db', { storage: Size.gibibytes(1), compose: { passwordFile: './db-password' } }) : undefined;
  new FastApiApp(stack, 'api', {
    source: API,
    volumes: opts.clash ? [Volume.persistent('/etc/api', { size: Size.gibibytes(1) })] : [],
    files: [ConfigFile.fromString('a = 1\n', '/etc/api/a.toml'), ConfigFile.fromString('b = 2\n', '/etc/api/b.toml'), SecretFile.fromFile('./key', '/run/secrets/key')],
    calls: db ? [db] : [],
  });
  return stack;
}

const holderOf = (svc: string) => ofType('docker:index/container:Container').find((c) => c.inputs.labels.some((l: any) => l.label === 'pyfleet.dev/files-of' && l.value === `shop/${svc}`));

test('DockerHostDeployment places config and secret files through read-only volumes that a holder container received', async () => {
  const stack = withFiles();
  const d = new DockerHostDeployment('vps', { stack, host: 'ssh://deploy@vps.example.com' });
  await settle([...Object.values(d.containers).flat(), ...Object.values(d.files).map((f) => f.holder)]);
  const api = ofType('docker:index/container:Container').find((c) => c.inputs.name === 'shop-api-1')!;
  const holder = holderOf('api')!;
  // One volume per directory, named by the hash of its files and of the image, mounted read-only.
  const placed = api.inputs.volumes.filter((v: any) => v.readOnly);
  expect(placed.map((v: any) => v.containerPath)).toEqual(['/etc/api', '/run/secrets']);
  for (const v of placed) expect(v.volumeName).toMatch(/^shop_api-files-[0-9a-f]{12}$/);
  expect(new Set(placed.map((v: any) => v.volumeName)).size).toBe(2);
  expect(api.inputs.readOnly).toBe(true);
  expect(api.inputs.uploads).toBeUndefined();
  expect(api.dependsOn).toContain(holder.name);
  // The holder: created (the provider uploads into it), never started, not read-only, no network.
  expect(holder.inputs).toMatchObject({ start: false, mustRun: false, networkMode: 'none', image: api.inputs.image });
  expect(holder.inputs.readOnly).toBeUndefined();
  expect(holder.inputs.volumes).toEqual(placed.map((v: any) => ({ volumeName: v.volumeName, containerPath: v.containerPath })));
  // Config files by content; the secret file by path on this machine and its hash (its content never
  // enters the Pulumi state), all read-only for everyone in the container.
  const keyPath = path.join((stack.node.root as App).outdir, 'key');
  expect(holder.inputs.uploads).toEqual([
    { file: '/etc/api/a.toml', content: 'a = 1\n', permissions: '0444' },
    { file: '/etc/api/b.toml', content: 'b = 2\n', permissions: '0444' },
    { file: '/run/secrets/key', source: keyPath, sourceHash: createHash('sha256').update('k-123\n').digest('hex'), permissions: '0444' },
  ]);
  expect(d.files.api.volumes).toHaveLength(2);
  expect(registered.filter((r) => r.type === 'docker:index/volume:Volume').map((r) => r.name).sort()).toEqual(['vps-files-api-etc-api', 'vps-files-api-run-secrets']);
});

test('a changed secret file is a new volume (and so new containers); an unchanged one keeps its name', async () => {
  const names = async (key: string): Promise<string[]> => {
    await installMocks();
    const d = new DockerHostDeployment('vps', { stack: withFiles({ key }) });
    await settle(Object.values(d.containers).flat());
    return ofType('docker:index/container:Container').find((c) => c.inputs.name === 'shop-api-1')!.inputs.volumes.filter((v: any) => v.readOnly).map((v: any) => v.volumeName);
  };
  const a = await names('one\n');
  const b = await names('one\n');
  const c = await names('two\n');
  expect(b).toEqual(a);
  expect(c[0]).toBe(a[0]); // /etc/api: the config files did not change
  expect(c[1]).not.toBe(a[1]); // /run/secrets: the secret file did
});

test('a password-file store: the file holds the generated password, as a secret, in the store and its callers', async () => {
  const d = new DockerHostDeployment('vps', { stack: withFiles({ passwordFile: true }) });
  await settle([...Object.values(d.containers).flat(), ...Object.values(d.files).map((f) => f.holder)]);
  const password = ofType('random:index/randomPassword:RandomPassword');
  expect(password).toHaveLength(1);
  for (const svc of ['orders-db', 'api']) {
    // The uploads carry the password, so the engine stores them as a secret.
    const uploads = holderOf(svc)!.inputs.uploads;
    expect(uploads[SECRET_SIG]).toBeDefined();
    const upload = uploads.value.find((u: any) => u.file === '/run/secrets/orders-db-password');
    expect(upload).toEqual({ file: '/run/secrets/orders-db-password', content: `mock-password-${password[0].name.length}`, permissions: '0444' }); // the mocks' RandomPassword result
    const c = ofType('docker:index/container:Container').find((x) => x.inputs.name === `shop-${svc}-1`)!;
    expect(JSON.stringify(c.inputs.envs ?? [])).not.toContain('mock-password');
  }
});

test('DockerHostDeployment: a missing secret file fails with the path and the fix before anything is registered', () => {
  expect(() => new DockerHostDeployment('vps', { stack: withFiles({ key: false }) })).toThrow(/the secret file of "api-run-secrets-key", \.\/key \(.*\/dist\/key\) is missing on this machine.*create the file at/);
  expect(() => new DockerHostDeployment('vps3', { stack: withFiles({ key: false }) })).toThrow(PyfleetError);
  expect(registered.filter((r) => r.type.startsWith('docker:'))).toEqual([]);
});

test('serviceFiles: a file in a directory that an override also mounts a volume or tmpfs on, or at the root, is refused with the fix', () => {
  const sources = { generated: new Map([['./shop.compose/files/a', 'a']]), composeSecrets: {}, passwords: new Set<string>(), baseDir: '/nonexistent' };
  const bind = (target: string) => ({ type: 'bind', source: './shop.compose/files/a', target, read_only: true });
  expect(serviceFiles('shop/api', 'api', { volumes: [bind('/etc/api/a.toml')] }, sources)).toEqual({ files: [{ target: '/etc/api/a.toml', content: 'a' }], problems: [] });
  const clash = serviceFiles('shop/api', 'api', { volumes: [bind('/etc/api/a.toml'), { type: 'volume', target: '/etc/api' }] }, sources);
  expect(clash.problems.map((p) => p.message)).toEqual([expect.stringMatching(/mounts the file \/etc\/api\/a\.toml into \/etc\/api, where it also mounts a volume.*mount the file in another directory than \/etc\/api/)]);
  const tmpfs = serviceFiles('shop/api', 'api', { volumes: [bind('/tmp/a.toml')], tmpfs: ['/tmp'] }, sources);
  expect(tmpfs.problems).toHaveLength(1);
  const root = serviceFiles('shop/api', 'api', { volumes: [bind('/a.toml')] }, sources);
  expect(root.problems.map((p) => p.message)).toEqual([expect.stringMatching(/cannot be the root.*a directory of its own/)]);
  // A bind mount of a file pyfleet did not generate is read from the deploying machine; a missing one is an error.
  const user = serviceFiles('shop/api', 'api', { volumes: [{ type: 'bind', source: './cert.pem', target: '/etc/tls/cert.pem' }] }, sources);
  expect(user.problems.map((p) => p.message)).toEqual([expect.stringMatching(/bind-mounts \.\/cert\.pem \(\/nonexistent\/cert\.pem\) is missing on this machine/)]);
});
