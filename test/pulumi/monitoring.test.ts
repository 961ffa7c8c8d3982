// Monitoring through Pulumi (mocks): the ServiceMonitors go to the cluster as CustomResources with the
// synthesized content, each created after the Service it selects; a Celery worker's PodMonitor after
// the worker's Deployment.
import * as fs from 'fs';
import * as path from 'path';
import * as pulumi from '@pulumi/pulumi';
import { App, CeleryWorker, FastApiApp, Monitoring, Redis, Stack } from '../../lib';
import { DockerHostDeployment, KubernetesDeployment } from '../../lib/pulumi';
import { cleanup, tempDir } from './fixtures';
import { installMocks, ofType, plain, registered, settle } from './mocks';

const USERS = path.join(__dirname, '..', '..', 'examples', 'shop', 'services', 'user');

beforeEach(async () => {
  await installMocks();
});
afterAll(cleanup);

test('ServiceMonitors are CustomResources created after the Service they select, with the synthesized content', async () => {
  const app = new App({ outdir: tempDir('pyfleet-pulumi-monitoring-') });
  const stack = new Stack(app, 'shop', { namespace: 'shop', monitoring: Monitoring.prometheus() });
  const users = new FastApiApp(stack, 'user-service', { source: USERS });
  new FastApiApp(stack, 'order-service', { source: USERS, calls: [users] });
  const manifests = app.synthesize().find((o) => o.stack === stack)!.results.kubernetes as any[];
  const d = new KubernetesDeployment('shop', { stack, buildImages: false });
  await settle(d.objects.map((o) => o.resource));

  const monitors = ofType('kubernetes:monitoring.coreos.com/v1:ServiceMonitor');
  expect(monitors.map((r) => r.name).sort()).toEqual(['shop-servicemonitor-order-service', 'shop-servicemonitor-user-service']);
  const order = registered.map((r) => r.name);
  for (const svc of ['order-service', 'user-service']) {
    const m = monitors.find((r) => r.name === `shop-servicemonitor-${svc}`)!;
    expect(m.dependsOn).toEqual(expect.arrayContaining(['shop-namespace-shop', `shop-service-${svc}`]));
    // only its own Service
    expect(m.dependsOn.filter((x: string) => x.startsWith('shop-service-'))).toEqual([`shop-service-${svc}`]);
    expect(order.indexOf(`shop-service-${svc}`)).toBeLessThan(order.indexOf(m.name));
    const inputs = plain(m.inputs);
    const synthesized = manifests.find((o) => o.kind === 'ServiceMonitor' && o.metadata.name === svc);
    expect(inputs.spec).toEqual(synthesized.spec);
    expect(inputs.spec.endpoints[0].port).toBe('metrics');
  }
  expect(d.objects.find((o) => o.key === 'ServiceMonitor/shop/user-service')!.dependsOn).toEqual(['Namespace/shop', 'Service/shop/user-service']);
});

test('a Celery worker\'s PodMonitor is a CustomResource created after the Deployment whose pods it selects', async () => {
  const app = new App({ outdir: tempDir('pyfleet-pulumi-monitoring-') });
  const stack = new Stack(app, 'shop', { namespace: 'shop', monitoring: Monitoring.prometheus() });
  const src = tempDir('pyfleet-pulumi-worker-src-');
  fs.writeFileSync(path.join(src, 'tasks.py'), 'from celery import Celery\ncelery = Celery("tasks")\n');
  fs.writeFileSync(path.join(src, 'requirements.txt'), 'celery==5.5.3\nredis==6.4.0\n');
  new CeleryWorker(stack, 'order-worker', { source: src, calls: [new Redis(stack, 'cache')] });
  const manifests = app.synthesize().find((o) => o.stack === stack)!.results.kubernetes as any[];
  const d = new KubernetesDeployment('shop', { stack, buildImages: false });
  await settle(d.objects.map((o) => o.resource));
  const monitors = ofType('kubernetes:monitoring.coreos.com/v1:PodMonitor');
  expect(monitors.map((r) => r.name)).toEqual(['shop-podmonitor-order-worker']);
  const order = registered.map((r) => r.name);
  expect(order.indexOf('shop-deployment-order-worker')).toBeGreaterThanOrEqual(0);
  expect(order.indexOf('shop-deployment-order-worker')).toBeLessThan(order.indexOf(monitors[0].name));
  expect(d.objects.find((o) => o.key === 'PodMonitor/shop/order-worker')!.dependsOn).toEqual(['Deployment/shop/order-worker', 'Namespace/shop']);
  expect(plain(monitors[0].inputs).spec).toEqual(manifests.find((o) => o.kind === 'PodMonitor').spec);
});

test('DockerHostDeployment: Prometheus and Grafana with their named volumes, generated files placed through read-only volumes, the Grafana password as a secret', async () => {
  const app = new App({ outdir: tempDir('pyfleet-pulumi-monitoring-') });
  const stack = new Stack(app, 'shop', { monitoring: Monitoring.prometheus({ grafana: true }) });
  new FastApiApp(stack, 'user-service', { source: USERS });
  expect(() => new DockerHostDeployment('nopw', { stack })).toThrow(/GRAFANA_ADMIN_PASSWORD/);
  const d = new DockerHostDeployment('vps', { stack, secrets: { GRAFANA_ADMIN_PASSWORD: pulumi.secret('pw') } });
  await settle([...Object.values(d.containers).flat()]);
  const volumes = ofType('docker:index/volume:Volume').filter((v) => !/-files-/.test(v.name));
  expect(volumes.map((v) => v.inputs.name).sort()).toEqual(['shop_grafana-data', 'shop_prometheus-data']);
  const files = new Map(app.synthesize().find((o) => o.stack === stack)!.artifacts.filter((a) => a.content !== undefined).map((a) => [a.path, a.content]));
  const prom = ofType('docker:index/container:Container').find((c) => c.inputs.name === 'shop-prometheus-1')!;
  // The scrape configuration: a read-only volume on /etc/prometheus, filled through the holder container.
  const promFiles = d.files.prometheus;
  expect(plain(prom.inputs.volumes)).toEqual([
    { volumeName: 'shop_prometheus-data', containerPath: '/prometheus' },
    { volumeName: expect.stringMatching(/^shop_prometheus-files-[0-9a-f]{12}$/), containerPath: '/etc/prometheus', readOnly: true },
  ]);
  const promHolder = ofType('docker:index/container:Container').find((c) => c.name === 'vps-prometheus-files')!;
  expect(promHolder.inputs.uploads).toEqual([{ file: '/etc/prometheus/prometheus.yml', content: files.get('shop.compose/prometheus.yml'), permissions: '0444' }]);
  expect(promFiles.volumes).toHaveLength(1);
  expect(prom.inputs.uploads).toBeUndefined();
  expect(prom.inputs).toMatchObject({ user: '65534:65534', readOnly: true, image: expect.anything() });
  const grafana = ofType('docker:index/container:Container').find((c) => c.inputs.name === 'shop-grafana-1')!;
  const grafanaHolder = ofType('docker:index/container:Container').find((c) => c.name === 'vps-grafana-files')!;
  expect(grafanaHolder.inputs.uploads.map((u: any) => u.file).sort()).toEqual(['/etc/grafana/dashboards/user-service.json', '/etc/grafana/provisioning/dashboards/pyfleet.yml', '/etc/grafana/provisioning/datasources/pyfleet.yml']);
  expect(grafana.inputs.volumes.filter((v: any) => v.readOnly).map((v: any) => v.containerPath)).toEqual(['/etc/grafana/dashboards', '/etc/grafana/provisioning/dashboards', '/etc/grafana/provisioning/datasources']);
  expect(grafana.dependsOn).toContain('vps-prometheus-1');
});
