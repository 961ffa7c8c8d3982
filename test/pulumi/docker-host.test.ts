import * as fs from 'fs';
import * as path from 'path';
import * as pulumi from '@pulumi/pulumi';
import { App, Compose, ComposeNetworkMode, ContainerImage, Cpu, MicroService, PyfleetError, Size, Stack } from '../../lib';
import { composeOrder, composeSizeToMiB, CPU_PERIOD_MICROS, DockerHostDeployment, goDurationMillis, KubernetesDeployment } from '../../lib/pulumi';
import { containerArgs, releasedBehindGateway, releaseHash } from '../../lib/pulumi/docker-host';
import { GATEWAY_IMAGE } from '../../lib/render/compose/gateway';
import { buildTestShop, cleanup, sourceDir, tempDir } from './fixtures';
import { installMocks, ofType, plain, registered, settle, valueOf } from './mocks';

const SECRET_SIG = '4dabf18193072939515e22adb298388d';
const reveal = (v: any): any => (v && typeof v === 'object' && v[SECRET_SIG] ? v.value : v);

function composeOf(shop: { app: App; stack: Stack }): { doc: any; files: Map<string, string> } {
  const out = shop.app.synthesize().find((o) => o.stack === shop.stack)!;
  const files = new Map<string, string>();
  for (const a of out.artifacts) if (a.content !== undefined) files.set(`./${a.path}`, a.content);
  return { doc: plain(out.results.compose), files };
}

async function deploy(name: string, shop = buildTestShop(), extra: Partial<ConstructorParameters<typeof DockerHostDeployment>[1]> = {}): Promise<DockerHostDeployment> {
  const d = new DockerHostDeployment(name, { stack: shop.stack, host: 'ssh://deploy@vps.example.com', secrets: { DB_PASSWORD: pulumi.secret('hunter2') }, ...extra });
  await settle([...Object.values(d.containers).flat(), ...Object.values(d.images), ...Object.values(d.remoteImages)]);
  return d;
}

const isHolder = (c: any): boolean => (c.inputs.labels ?? []).some((l: any) => l.label === 'pyfleet.dev/files-of');
/** The service containers (not the holders of their files). */
const containers = () => ofType('docker:index/container:Container').filter((c) => !isHolder(c));
/** The holder containers that receive a service's files (created, never started). */
const holders = () => ofType('docker:index/container:Container').filter(isHolder);

beforeEach(async () => {
  await installMocks();
});
afterAll(cleanup);

describe('DockerHostDeployment', () => {
  test('a provider for the host, the project networks, an image per built service, a pull per registry image', async () => {
    const shop = buildTestShop();
    const { doc } = composeOf(shop);
    const d = await deploy('vps', shop);
    const provider = ofType('pulumi:providers:docker');
    expect(provider).toHaveLength(1);
    expect(provider[0].inputs.host).toBe('ssh://deploy@vps.example.com');
    // Every compose network (one per call, one public) is a docker.Network named as compose names it; internal ones stay internal.
    const nets = ofType('docker:index/network:Network');
    expect(Object.keys(doc.networks).length).toBeGreaterThan(1);
    expect(nets.map((n) => n.inputs.name).sort()).toEqual(Object.keys(doc.networks).map((k) => `shop_${k}`).sort());
    for (const [key, net] of Object.entries<any>(doc.networks)) {
      const n = nets.find((x) => x.inputs.name === `shop_${key}`)!;
      expect({ key, driver: n.inputs.driver, internal: n.inputs.internal ?? false }).toEqual({ key, driver: net.driver, internal: net.internal ?? false });
    }
    expect(Object.keys(d.networks).sort()).toEqual(Object.keys(doc.networks).sort());
    const images = ofType('docker:index/image:Image');
    expect(images.map((i) => i.inputs.imageName).sort()).toEqual([expect.stringMatching(/^registry\.example\.com\/shop\/order-service:[0-9a-f]{12}$/), expect.stringMatching(/^registry\.example\.com\/shop\/user-service:[0-9a-f]{12}$/)]);
    for (const i of images) {
      expect(i.inputs.skipPush).toBe(true);
      expect(fs.existsSync(i.inputs.build.dockerfile)).toBe(true);
    }
    expect(ofType('docker:index/remoteImage:RemoteImage').map((r) => r.inputs.name).sort()).toEqual(['ghcr.io/acme/catalog:1.4.2', GATEWAY_IMAGE]);
    for (const r of registered.filter((x) => x.type.startsWith('docker:index/'))) expect(r.provider).toMatch(/pulumi:providers:docker::vps-provider::/);
    expect(await valueOf(d.addresses)).toEqual({ 'order-service': 'http://vps.example.com:80' });
  });

  test('equivalence: every compose service is N containers (N = replicas) carrying its settings', async () => {
    const shop = buildTestShop();
    const { doc, files } = composeOf(shop);
    await deploy('vps', shop);
    const all = containers();
    const total = Object.values<any>(doc.services).reduce((n, s) => n + (s.deploy?.replicas ?? 1), 0);
    expect(all).toHaveLength(total);
    const remote = new Map(ofType('docker:index/remoteImage:RemoteImage').map((r) => [r.inputs.name, r]));
    // Fixed container names (replacement goes first), except the versions behind the gateway, named per release.
    const released = releasedBehindGateway(doc.services);
    expect([...released].sort()).toEqual(['order-service-v1', 'order-service-v2']);
    for (const c of all) {
      const svcName = c.inputs.labels.find((l: any) => l.label === 'com.docker.compose.service').value;
      expect({ svcName, deleteBeforeReplace: c.deleteBeforeReplace }).toEqual({ svcName, deleteBeforeReplace: !released.has(svcName) });
    }
    for (const n of ofType('docker:index/network:Network')) expect(n.deleteBeforeReplace).toBe(true);
    for (const [svcName, svc] of Object.entries<any>(doc.services)) {
      const replicas = svc.deploy?.replicas ?? 1;
      const mine = all.filter((c) => c.inputs.labels.some((l: any) => l.label === 'com.docker.compose.service' && l.value === svcName));
      expect({ svcName, n: mine.length }).toEqual({ svcName, n: replicas });
      const release = released.has(svcName) ? `${releaseHash(svc)}-` : '';
      expect(mine.map((c) => c.inputs.name).sort()).toEqual(Array.from({ length: replicas }, (_, i) => `shop-${svcName}-${release}${i + 1}`).sort());
      for (const c of mine) {
        const inp = c.inputs;
        // Image: the built reference itself (its tag is the content hash), or the pulled image's id.
        const ref = svc.image ?? svc.build.tags[0];
        if (remote.has(ref)) expect(inp.image).toMatch(/^sha256:/);
        else expect(inp.image).toBe(ref);
        const env = Object.entries<string>(svc.environment ?? {}).sort(([a], [b]) => a.localeCompare(b))
          .map(([k, v]) => `${k}=${/^\$\{DB_PASSWORD:\?/.test(v) ? 'hunter2' : v.replace(/\$\$/g, '$')}`);
        expect(reveal(inp.envs) ?? []).toEqual(env);
        // Only a container that carries a secret has its environment stored as a secret.
        expect({ svcName, secret: Boolean(inp.envs?.[SECRET_SIG]) }).toEqual({ svcName, secret: svcName === 'catalog' });
        expect(inp.restart).toBe(svc.restart);
        expect(inp.cpuPeriod).toBe(CPU_PERIOD_MICROS);
        expect(inp.cpuQuota).toBe(Math.round(Number(svc.deploy.resources.limits.cpus) * CPU_PERIOD_MICROS));
        expect(inp.memory).toBe(composeSizeToMiB(svc.deploy.resources.limits.memory));
        if (svc.deploy.resources.reservations) expect(inp.memoryReservation).toBe(composeSizeToMiB(svc.deploy.resources.reservations.memory));
        // Exactly the compose service's networks, with its aliases (and its name, as compose adds it).
        if (svc.network_mode === 'none') {
          expect(inp.networkMode).toBe('none');
          expect(inp.networksAdvanced).toBeUndefined();
        } else {
          const joined = Object.entries<any>(svc.networks);
          expect(inp.networksAdvanced).toEqual(joined.map(([k, v]) => ({ name: `shop_${k}`, aliases: [...new Set([svcName, ...v.aliases])].sort() })));
          expect(inp.networkMode).toBe(`shop_${joined[0][0]}`);
        }
        expect(inp.ports ?? []).toEqual((svc.ports ?? []).map((p: string) => {
          const [ip, published, rest] = p.split(':');
          const [target, protocol] = rest.split('/');
          return { ip, internal: Number(target), external: Number(published), protocol };
        }));
        if (svc.healthcheck) {
          expect(inp.healthcheck).toEqual({ tests: svc.healthcheck.test, interval: svc.healthcheck.interval, timeout: svc.healthcheck.timeout, retries: svc.healthcheck.retries, startPeriod: svc.healthcheck.start_period, startInterval: svc.healthcheck.start_interval });
          expect(inp.wait).toBe(true);
          expect(inp.waitTimeout).toBeGreaterThanOrEqual(30);
        } else {
          expect(inp.healthcheck).toBeUndefined();
          expect(inp.wait).toBeUndefined();
        }
        expect(inp.user).toBe(svc.user);
        expect(inp.readOnly).toBe(svc.read_only);
        expect(inp.tmpfs).toEqual(svc.tmpfs ? Object.fromEntries(svc.tmpfs.map((t: string) => [t, ''])) : undefined);
        expect(inp.capabilities?.drops).toEqual(svc.cap_drop);
        expect(inp.securityOpts).toEqual(svc.security_opt);
        expect(inp.stopSignal).toBe(svc.stop_signal);
        // Log rotation as compose has it: json-file, max-size and max-file (a VPS disk never fills with logs).
        expect(inp.logDriver).toBe('json-file');
        expect([inp.logDriver, inp.logOpts]).toEqual([svc.logging.driver, svc.logging.options]);
        if (svc.stop_grace_period) expect(inp.stopTimeout).toBe(Math.ceil(goDurationMillis(svc.stop_grace_period) / 1000));
        expect(inp.entrypoints).toEqual(svc.entrypoint);
        expect(inp.command).toEqual(svc.command);
        const labels = Object.fromEntries(inp.labels.map((l: any) => [l.label, l.value]));
        expect(labels).toMatchObject(svc.labels);
        // Generated files the compose project bind-mounts come from a read-only volume on their
        // directory, which the service's holder container received; nothing is uploaded into the
        // (read-only) container itself.
        expect(inp.uploads).toBeUndefined();
        const binds = (svc.volumes ?? []).filter((v: any) => v.type === 'bind');
        const holder = holders().find((h) => h.inputs.labels.some((l: any) => l.value === `shop/${svcName}`));
        if (binds.length === 0) {
          expect({ svcName, holder }).toEqual({ svcName, holder: undefined });
          continue;
        }
        expect(holder!.inputs).toMatchObject({ start: false, mustRun: false, networkMode: 'none', image: inp.image });
        expect(holder!.inputs.readOnly).toBeUndefined();
        expect(c.dependsOn).toContain(holder!.name);
        expect(holder!.inputs.uploads.map((u: any) => [u.file, u.content, u.permissions]).sort())
          .toEqual(binds.map((v: any) => [v.target, files.get(v.source), '0444']).sort());
        const dirs = [...new Set<string>(binds.map((v: any) => path.posix.dirname(v.target)))].sort();
        const placed = inp.volumes.filter((v: any) => v.readOnly);
        expect(placed.map((v: any) => v.containerPath)).toEqual(dirs);
        expect(holder!.inputs.volumes).toEqual(placed.map((v: any) => ({ volumeName: v.volumeName, containerPath: v.containerPath })));
        for (const v of placed) expect(v.volumeName).toMatch(new RegExp(`^shop_${svcName}-files-[0-9a-f]{12}$`));
      }
    }
    // The shop has a gateway proxy under the service's name: order-service has two versions behind one public port.
    expect(doc.services['order-service'].image).toMatch(/^haproxy:/);
    const gateway = all.find((c) => c.inputs.name === 'shop-order-service-1')!;
    const gatewayFiles = holders().find((h) => h.inputs.labels.some((l: any) => l.value === 'shop/order-service'))!;
    expect(gatewayFiles.inputs.uploads[0].file).toBe('/usr/local/etc/haproxy/haproxy.cfg');
    expect(gatewayFiles.inputs.uploads[0].content).toMatch(/backend be_v2/);
    expect(gateway.inputs.ports).toEqual([{ ip: '0.0.0.0', internal: 8002, external: 80, protocol: 'tcp' }]);
  });

  test('each container has its own CPU quota and memory limit', async () => {
    await deploy('vps');
    const byName = new Map(containers().map((c) => [c.inputs.name, c.inputs]));
    expect(byName.get('shop-user-service-1')).toMatchObject({ cpuPeriod: 100000, cpuQuota: 50000, memory: 256, memoryReservation: 256 });
    expect(byName.get('shop-user-service-2')).toMatchObject({ cpuPeriod: 100000, cpuQuota: 50000, memory: 256 });
    expect([...byName.keys()].find((n) => /^shop-order-service-v1-[0-9a-f]{12}-1$/.test(n)!)).toBeDefined();
    expect(byName.get([...byName.keys()].find((n) => /^shop-order-service-v1-[0-9a-f]{12}-1$/.test(n))!)).toMatchObject({ cpuQuota: 100000, memory: 512 });
    expect(byName.get('shop-order-service-1')).toMatchObject({ cpuQuota: 50000, memory: 128 });
  });

  test('callers start after the services they call are healthy', async () => {
    await deploy('vps');
    const deps = (n: string) => registered.find((r) => r.name === n)!.dependsOn;
    for (const caller of ['vps-order-service-v1-1', 'vps-order-service-v2-1']) {
      expect(deps(caller)).toEqual(expect.arrayContaining(['vps-user-service-1', 'vps-user-service-2']));
    }
    expect(deps('vps-user-service-1')).not.toEqual(expect.arrayContaining(['vps-order-service-v1-1']));
    expect(deps('vps-order-service-1')).toEqual(expect.arrayContaining(['vps-order-service-v1-1', 'vps-order-service-v2-1']));
    // Created means healthy: the callee waits for its health check.
    const user = containers().find((c) => c.name === 'vps-user-service-1')!;
    expect(user.inputs.wait).toBe(true);
    // The engine registers callees first.
    const order = registered.map((r) => r.name);
    expect(order.indexOf('vps-user-service-2')).toBeLessThan(order.indexOf('vps-order-service-v1-1'));
  });

  test('a secret is passed as a Pulumi secret, and a missing one is a PyfleetError naming the variable', async () => {
    await deploy('vps');
    const catalog = containers().find((c) => c.inputs.name === 'shop-catalog-1')!;
    // The environment holding the secret is sent to Pulumi as a secret (encrypted in the state).
    expect(catalog.inputs.envs[SECRET_SIG]).toBeDefined();
    expect(catalog.inputs.envs.value).toContain('DB_PASSWORD=hunter2');
    const shop = buildTestShop();
    expect(() => new DockerHostDeployment('nosecret', { stack: shop.stack })).toThrow(PyfleetError);
    expect(() => new DockerHostDeployment('nosecret2', { stack: shop.stack })).toThrow(/DB_PASSWORD reads a secret, but no value was given for DB_PASSWORD.*Fix: pass secrets/);
  });

  test('host network mode: no network, one container per service on the host network', async () => {
    const outdir = tempDir('pyfleet-pulumi-out-');
    const app = new App({ outdir });
    const stack = new Stack(app, 'solo', { compose: { networkMode: ComposeNetworkMode.HOST } });
    const a = new MicroService(stack, 'a', { image: ContainerImage.fromDirectory(sourceDir()), port: 8101, replicas: 1, cpu: Cpu.millis(250), memory: Size.mebibytes(128) });
    new MicroService(stack, 'b', { image: ContainerImage.fromRegistry('ghcr.io/acme/b:2.0.0'), port: 8102, replicas: 1, calls: [a] });
    const d = new DockerHostDeployment('solo', { stack, host: 'tcp://10.0.0.5:2376' });
    await settle(Object.values(d.containers).flat());
    expect(ofType('docker:index/network:Network')).toHaveLength(0);
    const cs = containers();
    expect(cs.map((c) => c.inputs.name).sort()).toEqual(['solo-a-1', 'solo-b-1']);
    for (const c of cs) {
      expect(c.inputs.networkMode).toBe('host');
      expect(c.inputs.networksAdvanced).toBeUndefined();
    }
    expect(cs.find((c) => c.inputs.name === 'solo-b-1')!.inputs.envs).toEqual(['A_URL=http://127.0.0.1:8101']);
    expect(cs.find((c) => c.inputs.name === 'solo-a-1')!.inputs).toMatchObject({ cpuQuota: 25000, memory: 128 });
  });

  test('bad input: a host that is not a Docker address, an overlay (swarm) stack', () => {
    const shop = buildTestShop();
    expect(() => new DockerHostDeployment('bad', { stack: shop.stack, host: 'vps.example.com' })).toThrow(/host "vps.example.com" is not a Docker host address.*Fix: use "ssh:\/\/user@host"/);
    const app = new App({ outdir: tempDir('pyfleet-pulumi-out-') });
    const swarm = new Stack(app, 'swarm', { compose: { networkMode: ComposeNetworkMode.OVERLAY } });
    new MicroService(swarm, 'x', { image: ContainerImage.fromRegistry('ghcr.io/acme/x:1.0.0') });
    expect(() => new DockerHostDeployment('swarm', { stack: swarm })).toThrow(/overlay network/);
  });

  test('CPU, memory and timings come from the model as numbers; a compose override of one of them wins', async () => {
    const build = (override: boolean) => {
      const app = new App({ outdir: tempDir('pyfleet-pulumi-out-') });
      const stack = new Stack(app, 'vps');
      const web = new MicroService(stack, 'web', {
        image: ContainerImage.fromRegistry('ghcr.io/acme/web:1.0.0'), cpu: Cpu.millis(333), memory: Size.kibibytes(1536 * 1024 + 1),
      });
      if (override) Compose.of(web.defaultVersion).addOverride('deploy.resources.limits.memory', '2g');
      return { app, stack, web };
    };
    const plainRun = build(false);
    const model = plainRun.app.synthesize()[0].model.service('web').settings;
    await deploy('num', plainRun as any);
    const [c] = containers();
    expect(c.inputs.cpuQuota).toBe(Math.round((model.resources.cpuLimitMillis * CPU_PERIOD_MICROS) / 1000));
    expect(c.inputs.cpuQuota).toBe(33_300);
    expect(c.inputs.memory).toBe(Math.ceil(model.resources.memoryLimitMiB)); // 1536 MiB + 1 KiB, rounded up
    expect(c.inputs.memory).toBe(1537);
    expect(c.inputs.stopTimeout).toBe(Math.ceil((model.gracefulShutdownMs + model.preStopDelayMs) / 1000));
    const h = model.health;
    expect(c.inputs.waitTimeout).toBe(Math.ceil((h.startPeriodMs + (h.intervalMs + h.timeoutMs) * h.failureThreshold + 30_000) / 1000));

    await installMocks();
    await deploy('num', build(true) as any);
    const [o] = containers();
    expect(o.inputs.memory).toBe(2048);
    expect(o.inputs.cpuQuota).toBe(33_300);
  });

  test('helpers: compose sizes to MiB, Go durations, start order', () => {
    expect(composeSizeToMiB('256m')).toBe(256);
    expect(composeSizeToMiB('1g')).toBe(1024);
    expect(composeSizeToMiB('1536k')).toBe(2);
    expect(goDurationMillis('1m30s')).toBe(90_000);
    expect(goDurationMillis('250ms')).toBe(250);
    expect(() => goDurationMillis('ten')).toThrow();
    expect(composeOrder({ c: { depends_on: { b: {} } }, b: { depends_on: { a: {} } }, a: {} })).toEqual(['a', 'b', 'c']);
    expect(() => composeOrder({ a: { depends_on: { b: {} } }, b: { depends_on: { a: {} } } })).toThrow(/cycle/);
  });

  test('staged contexts are written below assetDir', async () => {
    const assetDir = tempDir('pyfleet-assets-');
    await deploy('vps', buildTestShop(), { assetDir });
    const contexts = fs.readdirSync(path.join(assetDir, 'assets')).sort();
    expect(contexts).toHaveLength(2);
    for (const c of contexts) expect(fs.readdirSync(path.join(assetDir, 'assets', c)).sort()).toEqual(['Dockerfile', 'app.py']);
  });

  test('a gateway-style compose service (CMD health check, cap_add, soft-stop signal, bind-mounted config) maps field by field', () => {
    const def = {
      image: 'haproxy:3.0.5-alpine',
      depends_on: { 'orders-v1': { condition: 'service_healthy', restart: true } },
      networks: { shop: { aliases: ['orders'] } },
      ports: [{ target: 80, published: '8080', protocol: 'tcp', mode: 'host' }],
      volumes: [{ type: 'bind', source: './shop.compose/orders-gateway.cfg', target: '/usr/local/etc/haproxy/haproxy.cfg', read_only: true }],
      healthcheck: { test: ['CMD', 'wget', '-q', '-O', '/dev/null', 'http://127.0.0.1:8404/healthz'], interval: '10s', timeout: '2s', retries: 3, start_period: '5s', start_interval: '1s' },
      deploy: { resources: { limits: { cpus: '0.5', memory: '128m' }, reservations: { cpus: '0.1', memory: '32m' } } },
      restart: 'unless-stopped',
      cap_add: ['NET_BIND_SERVICE'],
      cap_drop: ['ALL'],
      read_only: true,
      tmpfs: ['/tmp'],
      security_opt: ['no-new-privileges:true'],
      stop_signal: 'SIGUSR1',
      stop_grace_period: '30s',
      labels: { 'app': 'orders', 'app.kubernetes.io/component': 'gateway' },
    };
    const network = { name: 'shop_shop' } as any;
    const args: any = containerArgs('shop', 'orders-gateway', def, 1, {
      image: 'sha256:abc', networks: { shop: network }, secrets: {},
      placed: [{ dir: '/usr/local/etc/haproxy', volumeName: 'shop_orders-gateway-files-0123456789ab' }],
    });
    expect(args).toMatchObject({
      name: 'shop-orders-gateway-1',
      image: 'sha256:abc',
      restart: 'unless-stopped',
      capabilities: { drops: ['ALL'], adds: ['NET_BIND_SERVICE'] },
      stopSignal: 'SIGUSR1',
      stopTimeout: 30,
      cpuPeriod: 100000,
      cpuQuota: 50000,
      memory: 128,
      memoryReservation: 32,
      networkMode: 'shop_shop',
      networksAdvanced: [{ name: 'shop_shop', aliases: ['orders', 'orders-gateway'] }],
      ports: [{ internal: 80, external: 8080, protocol: 'tcp' }],
      healthcheck: { tests: def.healthcheck.test, interval: '10s', timeout: '2s', retries: 3, startPeriod: '5s', startInterval: '1s' },
      wait: true,
      waitTimeout: 5 + 12 * 3 + 30,
      // The bind-mounted config comes from its directory's volume, read-only: nothing is uploaded into
      // the read-only container itself (dockerd refuses that).
      volumes: [{ volumeName: 'shop_orders-gateway-files-0123456789ab', containerPath: '/usr/local/etc/haproxy', readOnly: true }],
    });
    expect(args.uploads).toBeUndefined();
  });

  test('one program can deploy the same stack to a cluster and to a Docker host', async () => {
    const shop = buildTestShop();
    const k = new KubernetesDeployment('k8s', { stack: shop.stack });
    const d = new DockerHostDeployment('vps', { stack: shop.stack, secrets: { DB_PASSWORD: 'x' } });
    await settle([...k.objects.map((o) => o.resource), ...Object.values(d.containers).flat()]);
    expect(ofType('kubernetes:apps/v1:Deployment')).toHaveLength(4);
    expect(containers()).toHaveLength(6); // user-service x2, order-service v1 + v2, catalog, the gateway
    // Built once per target: pushed for the cluster, built on the host for Docker; same tags.
    const images = ofType('docker:index/image:Image');
    expect(images.filter((i) => i.inputs.skipPush).map((i) => i.inputs.imageName).sort()).toEqual(images.filter((i) => !i.inputs.skipPush).map((i) => i.inputs.imageName).sort());
  });
  test('a release behind the gateway: new containers with names of their own, healthy before the old go, the gateway after them', async () => {
    const names = async (orders: string): Promise<Map<string, { name: string; deleteBeforeReplace: boolean; dependsOn: string[]; wait: boolean }>> => {
      await installMocks();
      await deploy('vps', buildTestShop(undefined, { orders: sourceDir(orders) }));
      return new Map(containers().map((c) => [c.name, { name: c.inputs.name, deleteBeforeReplace: c.deleteBeforeReplace, dependsOn: c.dependsOn, wait: c.inputs.wait === true }]));
    };
    const first = await names('print("orders")\n');
    const second = await names('print("orders, release 2")\n');
    // Same Pulumi resource, another container name: Pulumi replaces it, creating the new one first
    // (no deleteBeforeReplace) and, with wait, only once Docker reports it healthy; then it deletes the old.
    const v1 = 'vps-order-service-v1-1';
    expect(first.get(v1)!.name).toMatch(/^shop-order-service-v1-[0-9a-f]{12}-1$/);
    expect(second.get(v1)!.name).not.toBe(first.get(v1)!.name);
    expect(second.get(v1)).toMatchObject({ deleteBeforeReplace: false, wait: true });
    // A service not behind a gateway keeps compose's fixed name (nothing changed for it here).
    expect(second.get('vps-user-service-1')).toMatchObject({ name: 'shop-user-service-1', deleteBeforeReplace: true });
    // The gateway is created after (depends on) every version container, and keeps its fixed name.
    const gw = second.get('vps-order-service-1')!;
    expect(gw.name).toBe('shop-order-service-1');
    expect(gw.deleteBeforeReplace).toBe(true);
    expect(gw.dependsOn).toEqual(expect.arrayContaining([v1, 'vps-order-service-v2-1']));
    // It finds a version's containers by DNS with a spare server slot per replica, so that the old and
    // the new release are both servers while they overlap.
    const cfg = holders().find((c) => c.name === 'vps-order-service-files')!.inputs.uploads[0].content as string;
    expect(cfg).toMatch(/server-template v1- 2 order-service-v1:8002 /);
  });
});
