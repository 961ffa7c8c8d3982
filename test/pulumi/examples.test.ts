// The Pulumi programs of examples/shop/pulumi and examples/vps, run under mocks as `pulumi up` would run them.
import * as path from 'path';
import * as pulumi from '@pulumi/pulumi';
import { App, DataStore } from '../../lib';
import { buildShop } from '../../examples/shop/main';
import { cleanup, tempDir } from './fixtures';
import { installMocks, ofType, registered, valueOf } from './mocks';

const root = path.join(__dirname, '..', '..');
let savedOutdir: string | undefined;

beforeAll(() => {
  savedOutdir = process.env.CDK8S_OUTDIR;
  process.env.CDK8S_OUTDIR = tempDir('pyfleet-pulumi-examples-');
});
afterAll(() => {
  if (savedOutdir === undefined) delete process.env.CDK8S_OUTDIR;
  else process.env.CDK8S_OUTDIR = savedOutdir;
  cleanup();
});

/** Waits until the engine has seen every resource the program created (registration is asynchronous). */
async function quiesce(): Promise<void> {
  let n = -1;
  for (let i = 0; i < 100 && n !== registered.length; i++) {
    n = registered.length;
    await new Promise((r) => setTimeout(r, 20));
  }
}

test('examples/shop/pulumi deploys the shop to Kubernetes: typed workloads, images by digest, the public address', async () => {
  await installMocks('pyfleet-shop', 'dev');
  pulumi.runtime.setAllConfig({ 'pyfleet-shop:registryUser': 'ci' }, []);
  let program: any;
  jest.isolateModules(() => { program = require(path.join(root, 'examples/shop/pulumi/index.ts')); });
  const addresses = await valueOf(program.addresses);
  await quiesce();
  // What `cdk8s synth` renders for the same buildShop (the example may change; the correspondence may not).
  const app = new App({ outdir: tempDir('pyfleet-pulumi-examples-') });
  const stack = buildShop(app);
  const manifests = app.synthesize().find((o) => o.stack === stack)!.results.kubernetes as any[];
  const exposed = stack.services.filter((s) => s.expose);
  expect(addresses).toEqual(Object.fromEntries(exposed.map((s) => [s.serviceName, `http://203.0.113.10:${s.expose!.port}`])));
  expect(exposed.length).toBeGreaterThan(0);
  // Everything cdk8s renders, in the same order, and the backing services' Secrets the component makes itself (random passwords).
  const own = stack.node.findAll().filter((c): c is DataStore => DataStore.isDataStore(c)).map((d) => `Secret/${stack.namespaceName}/${d.credentialsSecret}`);
  expect(own.length).toBeGreaterThan(0);
  expect(program.objects.filter((k: string) => !own.includes(k))).toEqual(manifests.map((o) => (o.metadata.namespace ? `${o.kind}/${o.metadata.namespace}/${o.metadata.name}` : `${o.kind}/${o.metadata.name}`)));
  expect(program.objects.filter((k: string) => own.includes(k)).sort()).toEqual([...own].sort());
  const deployments = ofType('kubernetes:apps/v1:Deployment');
  expect(deployments.map((d) => d.inputs.metadata.name).sort()).toEqual(manifests.filter((o) => o.kind === 'Deployment').map((o) => o.metadata.name).sort());
  const registry = stack.imageRegistry.replace(/[.]/g, '\\.');
  for (const d of deployments) expect(d.inputs.spec.template.spec.containers[0].image).toMatch(new RegExp(`^${registry}/[a-z0-9-]+@sha256:[0-9a-f]{64}$`));
  for (const d of deployments) expect(d.customTimeouts).toMatchObject({ create: '300s' });
  const images = ofType('docker:index/image:Image');
  expect(images.length).toBeGreaterThan(0);
  for (const i of images) expect(i.inputs.registry).toMatchObject({ server: stack.imageRegistry.split('/')[0], username: 'ci' });
});

test('examples/vps deploys to a Docker host: containers with their own CPU quota and memory limit, the gateway', async () => {
  await installMocks('pyfleet-vps', 'dev');
  pulumi.runtime.setAllConfig({ 'pyfleet-vps:host': 'ssh://deploy@203.0.113.7' }, []);
  let program: any;
  jest.isolateModules(() => { program = require(path.join(root, 'examples/vps/index.ts')); });
  const addresses = await valueOf(program.addresses);
  await quiesce();
  expect(addresses).toEqual({ web: 'http://203.0.113.7:80' });
  expect(ofType('pulumi:providers:docker')[0].inputs.host).toBe('ssh://deploy@203.0.113.7');
  // The versions behind the gateway are named per release (vps-web-v1-<hash>-<n>): keyed without the hash.
  const names = ofType('docker:index/container:Container').map((c) => String(c.inputs.name));
  expect(names.filter((n) => n.startsWith('vps-web-v1-')).every((n) => /^vps-web-v1-[0-9a-f]{12}-\d$/.test(n))).toBe(true);
  const byName = new Map(ofType('docker:index/container:Container').map((c) => [String(c.inputs.name).replace(/-[0-9a-f]{12}-(\d+)$/, '-$1').replace(/-files-[0-9a-f]{12}$/, '-files'), c]));
  // ... and the gateway's HAProxy config reaches its read-only container through a volume that a holder
  // container (created, never started) received.
  expect([...byName.keys()].sort()).toEqual(['vps-quotes-1', 'vps-web-1', 'vps-web-files', 'vps-web-v1-1', 'vps-web-v1-2']);
  expect(byName.get('vps-web-files')!.inputs).toMatchObject({ start: false, uploads: [expect.objectContaining({ file: '/usr/local/etc/haproxy/haproxy.cfg' })] });
  expect(byName.get('vps-web-1')!.dependsOn).toContain('vps-web-files');
  expect(byName.get('vps-quotes-1')!.inputs).toMatchObject({ cpuPeriod: 100000, cpuQuota: 25000, memory: 128, restart: 'unless-stopped' });
  for (const w of ['vps-web-v1-1', 'vps-web-v1-2']) {
    expect(byName.get(w)!.inputs).toMatchObject({ cpuQuota: 50000, memory: 192, envs: ['QUOTES_URL=http://quotes:8002'] });
    expect(byName.get(w)!.dependsOn).toContain('vps-quotes-1');
  }
  expect(byName.get('vps-web-1')!.inputs.ports).toEqual([{ ip: '0.0.0.0', internal: 8001, external: 80, protocol: 'tcp' }]);
});

test('a missing required config value fails the vps program before any resource', async () => {
  await installMocks('pyfleet-vps', 'dev');
  pulumi.runtime.setAllConfig({}, []);
  expect(() => jest.isolateModules(() => { require(path.join(root, 'examples/vps/index.ts')); })).toThrow(/host/);
});
