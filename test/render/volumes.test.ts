// Volumes, config files and secret files on every target: what the Kubernetes manifests and the compose
// project contain (parsed, checked against the Kubernetes strict schemas and Pod Security "restricted",
// the Compose schema, docker-compose 1.29's `config` and the swarm loader), the validation errors, and
// the warnings a re-synth gives when a volume the earlier output had is gone.
import { execFileSync } from 'child_process';
import * as fs from 'fs';
import * as path from 'path';
import * as yaml from 'js-yaml';
import {
  App, ComposeNetworkMode, ConfigFile, ContainerImage, FastApiApp, MicroService, PyfleetError, SecretFile, Size, Stack,
  Volume, VolumeAccessMode, VolumeMedium,
} from '../../lib';
import { crossObjectProblems, dclint, REFERENCE_COMPOSE_SCHEMA, validateComposeSchema, validateKubernetesObject } from '../support/checks';
import { forDockerCompose129, stackConfig, swarmCli } from '../support/docker';
import { haveEngine } from '../support/engines';
import { load, quietSynth, synth, tmpdir } from '../support/synth';

const SHOP = path.join(__dirname, '..', '..', 'examples', 'shop', 'services');
const image = ContainerImage.fromRegistry('registry.example.com/api:1.0.0');

function program(app: App, mode = ComposeNetworkMode.BRIDGE): Stack {
  const stack = new Stack(app, 'shop', { compose: { networkMode: mode } });
  new FastApiApp(stack, 'order-service', {
    source: path.join(SHOP, 'order'), replicas: 1,
    volumes: [Volume.persistent('/data/uploads', { size: Size.gibibytes(5) }), Volume.ephemeral('/var/cache/orders', { medium: VolumeMedium.MEMORY, size: Size.mebibytes(32) })],
    files: [ConfigFile.fromString('[orders]\nlimit = 10\n', '/app/config/settings.toml'), SecretFile.fromFile('./secrets/api-key', '/run/secrets/api-key')],
  });
  new MicroService(stack, 'scratch', { image, replicas: 3, volumes: [Volume.ephemeral('/scratch')] });
  return stack;
}

describe('Kubernetes', () => {
  const out = synth((app) => program(app));
  const docs = out.k8s('shop');

  test('a PersistentVolumeClaim per version, named <service>-<version>-<volume>, and the Deployment mounts it with Recreate', () => {
    const pvc = out.find('shop', 'PersistentVolumeClaim', 'order-service-v1-data-uploads');
    expect(pvc.spec).toEqual({ accessModes: ['ReadWriteOnce'], resources: { requests: { storage: '5Gi' } }, volumeMode: 'Filesystem' });
    const d = out.find('shop', 'Deployment', 'order-service-v1');
    expect(d.spec.strategy).toEqual({ type: 'Recreate' });
    expect(d.spec.replicas).toBe(1);
    const pod = d.spec.template.spec;
    expect(pod.securityContext).toMatchObject({ fsGroup: 10001, fsGroupChangePolicy: 'OnRootMismatch' });
    const vols = Object.fromEntries(pod.volumes.map((v: any) => [v.name, v]));
    expect(vols['vol-data-uploads']).toEqual({ name: 'vol-data-uploads', persistentVolumeClaim: { claimName: 'order-service-v1-data-uploads' } });
    expect(vols['vol-var-cache-orders']).toEqual({ name: 'vol-var-cache-orders', emptyDir: { medium: 'Memory', sizeLimit: '32Mi' } });
    const c = pod.containers[0];
    expect(c.securityContext.readOnlyRootFilesystem).toBe(true);
    expect(c.volumeMounts.map((m: any) => m.mountPath)).toEqual(['/tmp', '/app/config/settings.toml', '/data/uploads', '/run/secrets/api-key', '/var/cache/orders']);
    // One replica: no disruption budget (a budget could never let the pod go).
    expect(docs.filter((o) => o.kind === 'PodDisruptionBudget' && o.metadata.name === 'order-service-v1')).toEqual([]);
  });

  test('a config file is an immutable ConfigMap named by its content hash, mounted read-only with subPath', () => {
    const cms = docs.filter((o) => o.kind === 'ConfigMap');
    expect(cms).toHaveLength(1);
    const cm = cms[0];
    expect(cm.metadata.name).toMatch(/^order-service-app-config-settings-toml-[0-9a-f]{10}$/);
    expect(cm.immutable).toBe(true);
    expect(cm.data).toEqual({ 'settings.toml': '[orders]\nlimit = 10\n' });
    const d = out.find('shop', 'Deployment', 'order-service-v1');
    const mount = d.spec.template.spec.containers[0].volumeMounts.find((m: any) => m.mountPath === '/app/config/settings.toml');
    expect(mount).toMatchObject({ readOnly: true, subPath: 'settings.toml' });
    const vol = d.spec.template.spec.volumes.find((v: any) => v.name === mount.name);
    expect(vol.configMap).toEqual({ name: cm.metadata.name, items: [{ key: 'settings.toml', path: 'settings.toml' }], defaultMode: 0o444 });
    // A change of content is a new name, so a new pod template: the pods roll.
    const changed = synth((app) => {
      const stack = new Stack(app, 'shop');
      new MicroService(stack, 'api', { image, replicas: 1, files: [ConfigFile.fromString('limit = 11\n', '/etc/api/settings.toml')] });
    });
    const again = synth((app) => {
      const stack = new Stack(app, 'shop');
      new MicroService(stack, 'api', { image, replicas: 1, files: [ConfigFile.fromString('limit = 12\n', '/etc/api/settings.toml')] });
    });
    const name = (o: typeof out) => o.k8s('shop').find((x) => x.kind === 'ConfigMap').metadata.name;
    expect(name(changed)).not.toBe(name(again));
    changed.cleanup();
    again.cleanup();
  });

  test('a secret file mounts a key of a Secret the manifests never contain; a warning gives the kubectl command', () => {
    expect(docs.filter((o) => o.kind === 'Secret')).toEqual([]);
    const d = out.find('shop', 'Deployment', 'order-service-v1');
    const vol = d.spec.template.spec.volumes.find((v: any) => v.secret);
    expect(vol.secret).toEqual({ secretName: 'order-service-run-secrets-api-key', items: [{ key: 'api-key', path: 'api-key' }], defaultMode: 0o440 });
    const app = new App({ outdir: tmpdir() });
    program(app);
    expect(app.warnings().map((w) => w.message)).toEqual(expect.arrayContaining([
      expect.stringContaining('kubectl create secret generic order-service-run-secrets-api-key -n shop --from-file=api-key=./secrets/api-key'),
      expect.stringMatching(/Deployment "order-service-v1" mounts a read-write-once persistent volume, so it uses the Recreate strategy/),
    ]));
  });

  test('every object passes the strict schemas, Pod Security "restricted" and the cross-object rules', () => {
    expect(docs.flatMap(validateKubernetesObject)).toEqual([]);
    expect(crossObjectProblems(docs)).toEqual([]);
    // Claims and ConfigMaps come before the Deployments that mount them.
    const order = docs.map((o) => o.kind);
    expect(order.indexOf('PersistentVolumeClaim')).toBeLessThan(order.indexOf('Deployment'));
    expect(order.indexOf('ConfigMap')).toBeLessThan(order.indexOf('Deployment'));
    // The scratch service keeps its rolling update and budget (no persistent volume).
    const scratch = out.find('shop', 'Deployment', 'scratch-v1');
    expect(scratch.spec.strategy.type).toBe('RollingUpdate');
    expect(scratch.spec.template.spec.volumes).toContainEqual({ name: 'vol-scratch', emptyDir: { sizeLimit: '1Gi' } });
    expect(out.find('shop', 'PodDisruptionBudget', 'scratch-v1')).toBeDefined();
  });

  test('a storage class and access mode reach the claim; ReadWriteMany keeps rolling updates and allows replicas', () => {
    const o = synth((app) => {
      const stack = new Stack(app, 'shop');
      new MicroService(stack, 'api', { image, replicas: 3, volumes: [Volume.persistent('/shared', { size: Size.mebibytes(512), storageClass: 'efs', accessMode: VolumeAccessMode.READ_WRITE_MANY })] });
    });
    const pvcs = o.k8s('shop').filter((x) => x.kind === 'PersistentVolumeClaim');
    expect(pvcs.map((p) => [p.metadata.name, p.spec.storageClassName, p.spec.accessModes, p.spec.resources.requests.storage])).toEqual([['api-v1-shared', 'efs', ['ReadWriteMany'], '512Mi']]);
    expect(o.find('shop', 'Deployment', 'api-v1').spec.strategy.type).toBe('RollingUpdate');
    o.cleanup();
  });
});

describe('compose', () => {
  const out = synth((app) => program(app));
  const doc = out.compose('shop');

  test('a named volume per version, a sized tmpfs, a read-only bind mount of the written config file, a secret from the user\'s path', () => {
    const svc = doc.services['order-service'];
    expect(svc.read_only).toBe(true);
    expect(svc.tmpfs).toEqual(['/tmp']);
    const cfg = svc.volumes.find((v: any) => v.target === '/app/config/settings.toml');
    expect(svc.volumes).toEqual([
      cfg,
      { type: 'volume', source: 'order-service-v1-data-uploads', target: '/data/uploads' },
      { type: 'tmpfs', target: '/var/cache/orders', tmpfs: { size: 32 * 2 ** 20 } },
    ]);
    expect(cfg).toMatchObject({ type: 'bind', read_only: true });
    expect(cfg.source).toMatch(/^\.\/shop\.compose\/files\/order-service-app-config-settings-toml-[0-9a-f]{10}$/);
    expect(out.files.get(cfg.source.slice(2))).toBe('[orders]\nlimit = 10\n');
    expect(doc.volumes).toEqual({ 'order-service-v1-data-uploads': {} });
    expect(svc.secrets).toEqual([{ source: 'order-service-run-secrets-api-key', target: '/run/secrets/api-key' }]);
    expect(doc.secrets).toEqual({ 'order-service-run-secrets-api-key': { file: './secrets/api-key' } });
    expect(doc.services['scratch-v1'] ?? doc.services.scratch).toBeDefined();
    const scratch = doc.services.scratch;
    expect(scratch.volumes).toEqual([{ type: 'volume', target: '/scratch' }]);
    expect(doc.configs).toBeUndefined();
  });

  test('the project passes the Compose schema and dclint', () => {
    expect(validateComposeSchema(doc)).toEqual([]);
    if (fs.existsSync(REFERENCE_COMPOSE_SCHEMA)) expect(validateComposeSchema(doc, REFERENCE_COMPOSE_SCHEMA)).toEqual([]);
    expect(dclint(path.join(out.dir, 'shop.compose.yml'))).toEqual({ errors: [], warnings: [] });
  });

  const dc = haveEngine('docker-compose', 'apt-get install docker-compose');
  (dc ? test : test.skip)('docker-compose 1.29 accepts it (`config`) and resolves the mounts', () => {
    const file = path.join(out.dir, 'shop.compose-1.29.yml');
    fs.writeFileSync(file, yaml.dump(forDockerCompose129(doc)));
    fs.mkdirSync(path.join(out.dir, 'secrets'), { recursive: true });
    fs.writeFileSync(path.join(out.dir, 'secrets', 'api-key'), 'k');
    const printed = yaml.load(execFileSync('docker-compose', ['-p', 'shop', '-f', file, 'config'], { cwd: out.dir, encoding: 'utf8', stdio: 'pipe', timeout: 60_000 })) as any;
    const svc = printed.services['order-service'];
    expect(svc.volumes.map((v: any) => [v.type, v.target])).toEqual([['bind', '/app/config/settings.toml'], ['volume', '/data/uploads'], ['tmpfs', '/var/cache/orders']]);
    expect(Object.keys(printed.volumes)).toEqual(['order-service-v1-data-uploads']);
    expect(printed.secrets['order-service-run-secrets-api-key'].file).toBe(path.join(out.dir, 'secrets', 'api-key'));
  });

  const cli = swarmCli();
  (cli ? test : test.skip)('overlay: config files are swarm configs, updates stop first, the swarm loader takes the file, and a warning says volumes are per node', () => {
    const app = new App({ outdir: path.join(tmpdir(), 'dist') });
    const stack = new Stack(app, 'shop', { compose: { networkMode: ComposeNetworkMode.OVERLAY }, imageRegistry: 'registry.example.com/shop' });
    new MicroService(stack, 'api', {
      image, replicas: 1,
      volumes: [Volume.persistent('/data', { size: Size.gibibytes(1) })],
      files: [ConfigFile.fromString('a = 1\n', '/etc/api/a.toml'), SecretFile.fromFile('./api-key', '/run/secrets/api-key')],
    });
    quietSynth(app);
    const o = load(app.outdir);
    const d = o.compose('shop');
    const svc = d.services.api;
    expect(svc.configs).toEqual([{ source: expect.stringMatching(/^api-etc-api-a-toml-[0-9a-f]{10}$/), target: '/etc/api/a.toml', mode: 0o444 }]);
    expect(d.configs[svc.configs[0].source]).toEqual({ file: `./shop.compose/files/${svc.configs[0].source}` });
    expect(svc.deploy.update_config.order).toBe('stop-first');
    expect(svc.deploy.rollback_config.order).toBe('stop-first');
    expect(svc.volumes).toEqual([{ type: 'tmpfs', target: '/tmp' }, { type: 'volume', source: 'api-v1-data', target: '/data' }]);
    fs.writeFileSync(path.join(o.dir, 'api-key'), 'k');
    const resolved = stackConfig(cli!, path.join(o.dir, 'shop.compose.yml'));
    expect(resolved.services.api.volumes).toEqual(expect.arrayContaining([expect.objectContaining({ type: 'volume', source: 'api-v1-data', target: '/data' })]));
    expect(resolved.services.api.secrets).toEqual([expect.objectContaining({ source: 'api-run-secrets-api-key', target: '/run/secrets/api-key' })]);
    expect(Object.keys(resolved.volumes)).toEqual(['api-v1-data']);
    expect(app.warnings().map((w) => w.message)).toContainEqual(expect.stringMatching(/on a swarm the named volume "data" of "api" lives on the node that runs the task/));
    o.cleanup();
  });
});

describe('validation', () => {
  const fresh = (): Stack => new Stack(new App({ outdir: tmpdir() }), 'shop');
  const err = (f: () => unknown): PyfleetError => {
    try {
      f();
    } catch (e) {
      expect(e).toBeInstanceOf(PyfleetError);
      return e as PyfleetError;
    }
    throw new Error('no error');
  };

  test.each([
    ['a relative path', () => Volume.persistent('data', { size: Size.gibibytes(1) }), /path "data" is not absolute/],
    ['a path not in normal form', () => Volume.ephemeral('/data/../x'), /write it as "\/x"/],
    ['the root', () => Volume.ephemeral('/'), /over the root directory/],
    ['no size', () => Volume.persistent('/data', {} as any), /no size was given/],
    ['a size that is not whole MiB', () => Volume.persistent('/data', { size: Size.kibibytes(1536) }), /not a whole number of MiB from 1 MiB to 64 TiB/],
    ['a size above 64 TiB', () => Volume.persistent('/data', { size: Size.gibibytes(65 * 1024) }), /64 TiB/],
    ['an ephemeral size that is not whole KiB', () => Volume.ephemeral('/x', { size: Size.bytes(1000) }), /not a whole number of KiB/],
    ['a config file that does not exist', () => ConfigFile.fromFile('/nonexistent/settings.toml', '/etc/x.toml'), /does not exist/],
    ['a config mount path that is not absolute', () => ConfigFile.fromString('x', 'etc/x.toml'), /is not absolute/],
  ])('%s is refused at construction', (_what, f, message) => {
    const e = err(f);
    expect(e.message).toMatch(message);
    expect(e.fix).not.toBe('');
  });

  test('a config file larger than a ConfigMap holds (1 MiB) is refused', () => {
    const dir = tmpdir();
    const file = path.join(dir, 'big.json');
    fs.writeFileSync(file, 'x'.repeat(1024 * 1024 + 1));
    expect(err(() => ConfigFile.fromFile(file, '/etc/big.json')).message).toMatch(/1048577 bytes, more than the 1 MiB/);
    fs.writeFileSync(file, 'x'.repeat(1024 * 1024));
    expect(ConfigFile.fromFile(file, '/etc/big.json').content.length).toBe(1024 * 1024);
  });

  test.each([
    ['two volumes on one path', { volumes: [Volume.ephemeral('/data'), Volume.ephemeral('/data', { name: 'other' })] }, /volume "data" and volume "other" are both mounted on \/data/],
    ['a volume inside another', { volumes: [Volume.persistent('/data', { size: Size.gibibytes(1) }), Volume.ephemeral('/data/cache')] }, /volume "data-cache" \(\/data\/cache\) lies inside volume "data" \(\/data\)/],
    ['a file inside a volume', { volumes: [Volume.ephemeral('/etc/app')], files: [ConfigFile.fromString('x', '/etc/app/x.toml')] }, /lies inside volume "etc-app"/],
    ['a volume over /tmp', { volumes: [Volume.ephemeral('/tmp')] }, /pyfleet's writable \/tmp .* and volume "tmp" are both mounted on \/tmp/],
    ['a volume inside /tmp', { volumes: [Volume.ephemeral('/tmp/cache')] }, /lies inside pyfleet's writable \/tmp/],
    ['two volumes of one name', { volumes: [Volume.ephemeral('/a', { name: 'x' }), Volume.ephemeral('/b', { name: 'x' })] }, /both named "x"/],
    ['a memory volume not below the memory limit', { memory: Size.mebibytes(128), volumes: [Volume.ephemeral('/m', { medium: VolumeMedium.MEMORY, size: Size.mebibytes(128) })] }, /not below the container's memory limit 128 MiB/],
    ['something that is not a Volume', { volumes: ['/data' as any] }, /not a Volume/],
  ])('%s is refused with the service path', (_what, props, message) => {
    const e = err(() => new MicroService(fresh(), 'api', { image, replicas: 1, ...(props as any) }));
    expect(e.constructPath).toBe('shop/api');
    expect(e.message).toMatch(message);
  });

  test('a volume over or inside the app directory of a generated image is refused; a config file inside it is fine', () => {
    for (const p of ['/app', '/app/uploads']) {
      const e = err(() => new FastApiApp(fresh(), 'order-service', { source: path.join(SHOP, 'order'), replicas: 1, volumes: [Volume.ephemeral(p)] }));
      expect(e.message).toMatch(/would cover the app directory \/app, where the generated image keeps the code/);
    }
    expect(() => new FastApiApp(fresh(), 'order-service', { source: path.join(SHOP, 'order'), replicas: 1, files: [ConfigFile.fromString('x', '/app/config/x.toml')] })).not.toThrow();
    // An image of the user's own has no app directory pyfleet knows of.
    expect(() => new MicroService(fresh(), 'api', { image, replicas: 1, volumes: [Volume.ephemeral('/app')] })).not.toThrow();
  });

  test('a persistent volume on more than one replica, or an autoscaler above one, is refused at synth with the fix', () => {
    const app = new App({ outdir: tmpdir() });
    const stack = new Stack(app, 'shop');
    const vol = () => [Volume.persistent('/data', { size: Size.gibibytes(1) })];
    new MicroService(stack, 'two', { image, replicas: 2, volumes: vol() });
    new MicroService(stack, 'auto', { image, autoscale: { min: 1, max: 3 }, volumes: vol() });
    new MicroService(stack, 'one', { image, replicas: 1, volumes: vol() });
    const e = err(() => app.synthesize()) as any;
    const messages = (e.errors as PyfleetError[]).map((x) => `${x.constructPath}: ${x.problem} | ${x.fix}`);
    expect(messages).toEqual([
      expect.stringMatching(/^shop\/two\/v1: .*it runs 2 replicas: a read-write-once claim is mounted by one pod only.*\| run one replica \(replicas: 1/),
      expect.stringMatching(/^shop\/auto\/v1: .*autoscale.max is 3/),
    ]);
  });
});

describe('names and data safety on re-synth', () => {
  test('volume, claim and secret names do not depend on construct order', () => {
    const build = (reverse: boolean) => (app: App) => {
      const stack = new Stack(app, 'shop');
      const defs = [
        () => new MicroService(stack, 'a', { image, replicas: 1, volumes: [Volume.persistent('/data', { size: Size.gibibytes(1) }), Volume.ephemeral('/cache')], files: [SecretFile.fromFile('/s/k', '/run/k'), ConfigFile.fromString('1', '/etc/a.conf')] }),
        () => new MicroService(stack, 'b', { image, replicas: 1, volumes: [Volume.ephemeral('/cache'), Volume.persistent('/data', { size: Size.gibibytes(1) })], files: [ConfigFile.fromString('1', '/etc/a.conf'), SecretFile.fromFile('/s/k', '/run/k')] }),
      ];
      (reverse ? defs.reverse() : defs).forEach((f) => f());
    };
    const one = synth(build(false));
    const two = synth(build(true));
    const names = (o: typeof one) => ({
      claims: o.k8s('shop').filter((x) => x.kind === 'PersistentVolumeClaim').map((x) => x.metadata.name).sort(),
      configMaps: o.k8s('shop').filter((x) => x.kind === 'ConfigMap').map((x) => x.metadata.name).sort(),
      volumes: Object.keys(o.compose('shop').volumes),
      secrets: Object.keys(o.compose('shop').secrets),
      a: o.compose('shop').services.a,
    });
    expect(names(one)).toEqual(names(two));
    expect(names(one).claims).toEqual(['a-v1-data', 'b-v1-data']);
    one.cleanup();
    two.cleanup();
  });

  test('a renamed or removed volume or claim: the re-synth warns that the data stays, with the command that removes it', () => {
    const dir = path.join(tmpdir(), 'dist');
    const first = new App({ outdir: dir });
    const s1 = new Stack(first, 'shop');
    new MicroService(s1, 'api', { image, replicas: 1, volumes: [Volume.persistent('/data', { size: Size.gibibytes(1) })] });
    new MicroService(s1, 'keep', { image, replicas: 1, volumes: [Volume.persistent('/data', { size: Size.gibibytes(1) })] });
    quietSynth(first);
    expect(first.warnings().filter((w) => /no longer writes/.test(w.message))).toEqual([]);
    // A StatefulSet with a claim template in the earlier output (as a backing service writes one).
    const k8sFile = path.join(dir, 'shop.k8s.yaml');
    fs.appendFileSync(k8sFile, '---\napiVersion: apps/v1\nkind: StatefulSet\nmetadata:\n  name: db\n  namespace: shop\nspec:\n  replicas: 2\n  volumeClaimTemplates:\n    - metadata:\n        name: data\n');

    const second = new App({ outdir: dir });
    const s2 = new Stack(second, 'shop');
    new MicroService(s2, 'api', { image, replicas: 1, volumes: [Volume.persistent('/data', { size: Size.gibibytes(1), name: 'files' })] });
    new MicroService(s2, 'keep', { image, replicas: 1, volumes: [Volume.persistent('/data', { size: Size.gibibytes(1) })] });
    quietSynth(second);
    const notes = second.warnings().filter((w) => /no longer writes/.test(w.message));
    expect(notes.map((w) => [w.constructPath, w.message.replace(/^the earlier (\S+) had (.*?), which.*`(docker|kubectl) ([^`]*)`.*$/, '$1 | $2 | $3 $4')])).toEqual([
      ['shop', 'shop.compose.yml | the named volume "api-v1-data" | docker volume rm shop_api-v1-data'],
      ['shop', 'shop.k8s.yaml | PersistentVolumeClaim "api-v1-data" | kubectl delete pvc -n shop api-v1-data'],
      ['shop', 'shop.k8s.yaml | volume claim template "data" of StatefulSet "db" | kubectl delete pvc -n shop data-db-0 data-db-1'],
    ]);
    // The next synth has nothing to compare against any more (the files are the new ones).
    const third = new App({ outdir: dir });
    const s3 = new Stack(third, 'shop');
    new MicroService(s3, 'api', { image, replicas: 1, volumes: [Volume.persistent('/data', { size: Size.gibibytes(1), name: 'files' })] });
    new MicroService(s3, 'keep', { image, replicas: 1, volumes: [Volume.persistent('/data', { size: Size.gibibytes(1) })] });
    quietSynth(third);
    expect(third.warnings().filter((w) => /no longer writes/.test(w.message))).toEqual([]);
    fs.rmSync(path.dirname(dir), { recursive: true, force: true });
  });
});
