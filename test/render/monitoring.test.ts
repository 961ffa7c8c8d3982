// Monitoring.prometheus() on a stack: ServiceMonitors (strict CRD schema of prometheus-operator 0.87)
// or scrape annotations on Kubernetes, the scraper edge in the NetworkPolicies, the Istio sidecar
// exclusion of the metrics port; on compose a Prometheus (its configuration checked by Debian's
// promtool) and Grafana (datasource and dashboards checked for structure: Grafana is not in Debian and
// cannot run here), accepted by docker-compose 1.29 and the swarm's loader; the validation errors.
import { execFileSync, spawnSync } from 'child_process';
import * as fs from 'fs';
import * as path from 'path';
import * as yaml from 'js-yaml';
import {
  App, ComposeNetworkMode, ContainerImage, Duration, FastApiApp, KubernetesScrapeMode, Mesh, MicroService, Monitoring, PrometheusMonitoringOptions, prometheusScrapeJobs, PyfleetError, Stack,
} from '../../lib';
import { crossObjectProblems, dclint, validateComposeSchema, validateKubernetesObject } from '../support/checks';
import { forDockerCompose129, stackConfig, swarmCli } from '../support/docker';
import { haveEngine } from '../support/engines';
import { synth, Synthesized } from '../support/synth';

const USERS = path.join(__dirname, '..', '..', 'examples', 'shop', 'services', 'user');
const fixture = JSON.parse(fs.readFileSync(path.join(__dirname, '../fixtures/prometheus-operator-schemas.json'), 'utf8'));

interface Built { out: Synthesized; stack: Stack }

/** Two FastAPI services (orders calls users; orders has two versions) and a plain image service without metrics. */
function build(options: { monitoring?: PrometheusMonitoringOptions; mesh?: boolean; mode?: ComposeNetworkMode; registry?: string } = {}): Built {
  let stack!: Stack;
  const out = synth((app) => {
    stack = new Stack(app, 'shop', {
      namespace: 'shop', imageRegistry: options.registry, mesh: options.mesh ? Mesh.istio() : undefined,
      compose: { networkMode: options.mode ?? ComposeNetworkMode.BRIDGE }, monitoring: Monitoring.prometheus(options.monitoring),
    });
    const host = options.mode === ComposeNetworkMode.HOST;
    const users = new FastApiApp(stack, 'user-service', { source: USERS, port: 8001, replicas: host ? 1 : undefined, metrics: host ? { port: 9101 } : true });
    const orders = new FastApiApp(stack, 'order-service', { source: USERS, port: 8002, replicas: host ? 1 : undefined, calls: [users], metrics: host ? { port: 9102 } : true });
    if (!host) orders.addVersion('v2', {});
    new MicroService(stack, 'legacy', { image: ContainerImage.fromRegistry('registry.example.com/legacy:1.0.0'), port: 8003, replicas: host ? 1 : undefined, calls: [users] });
  });
  return { out, stack };
}

const of = (objs: any[], kind: string, name?: string): any[] => objs.filter((o) => o.kind === kind && (name === undefined || o.metadata.name === name));

describe('Kubernetes', () => {
  test('one ServiceMonitor per service with metrics, on the Service\'s named metrics port, strict-schema valid', () => {
    const { out } = build();
    const objs = out.k8s('shop');
    const monitors = of(objs, 'ServiceMonitor');
    expect(monitors.map((m) => m.metadata.name).sort()).toEqual(['order-service', 'user-service']);
    const m = monitors.find((x) => x.metadata.name === 'order-service');
    expect(m.apiVersion).toBe('monitoring.coreos.com/v1');
    expect(m.metadata).toMatchObject({ namespace: 'shop', labels: { release: 'kube-prometheus-stack', app: 'order-service' } });
    expect(m.spec).toEqual({
      selector: { matchLabels: { app: 'order-service' } },
      namespaceSelector: { matchNames: ['shop'] },
      podTargetLabels: ['app', 'version'],
      endpoints: [{ port: 'metrics', path: '/metrics', interval: '15s', scrapeTimeout: '12s' }],
    });
    // The Service it selects carries the named port, which targets the container port named metrics.
    const svc = of(objs, 'Service', 'order-service')[0];
    expect(Object.entries(m.spec.selector.matchLabels).every(([k, v]) => svc.metadata.labels[k] === v)).toBe(true);
    const port = svc.spec.ports.find((p: any) => p.name === 'metrics');
    expect(port).toMatchObject({ port: 9100, targetPort: 'metrics' });
    for (const d of of(objs, 'Deployment').filter((x) => x.metadata.name.startsWith('order-service'))) {
      expect(d.spec.template.spec.containers[0].ports).toContainEqual({ name: 'metrics', containerPort: 9100, protocol: 'TCP' });
      expect(d.spec.template.metadata.labels).toMatchObject({ app: 'order-service', version: expect.any(String) });
    }
    // The service without metrics gets none; apply order puts the monitors after the Services.
    expect(of(objs, 'ServiceMonitor', 'legacy')).toEqual([]);
    expect(objs.findIndex((o) => o.kind === 'ServiceMonitor')).toBeGreaterThan(objs.findIndex((o) => o.kind === 'Service'));
    expect(objs.flatMap(validateKubernetesObject)).toEqual([]);
    expect(crossObjectProblems(objs)).toEqual([]);
    out.cleanup();
  });

  test('the strict ServiceMonitor schema catches a typo and a wrong type', () => {
    const { out } = build();
    const m = of(out.k8s('shop'), 'ServiceMonitor', 'user-service')[0];
    const typo = JSON.parse(JSON.stringify(m));
    typo.spec.endpoints[0].scrapeTimout = '5s';
    expect(validateKubernetesObject(typo).join()).toMatch(/additional properties/);
    const wrong = JSON.parse(JSON.stringify(m));
    wrong.spec.podTargetLabels = 'app';
    expect(validateKubernetesObject(wrong).join()).toMatch(/must be array/);
    out.cleanup();
  });

  const reference = path.resolve(__dirname, '../../../shared/reference/prometheus-operator-0.87-servicemonitors.crd.yaml');
  (fs.existsSync(reference) ? test : test.skip)('the committed schema and the generated classes match the reference CRD (../shared)', () => {
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    const { operatorSchemas } = require('../../scripts/prometheus-operator-crds.js');
    const kind = 'monitoring.coreos.com/v1/ServiceMonitor';
    expect(operatorSchemas(reference).schemas).toEqual({ [kind]: fixture.schemas[kind] });
    const tmp = fs.mkdtempSync(path.join(require('os').tmpdir(), 'pyfleet-import-'));
    try {
      execFileSync(path.join(__dirname, '../../node_modules/.bin/cdk8s'), ['import', reference, '--language', 'typescript', '--output', tmp], { stdio: 'pipe', timeout: 120_000 });
      expect(fs.readFileSync(path.join(tmp, 'monitoring.coreos.com.ts'), 'utf8')).toBe(fs.readFileSync(path.join(__dirname, '../../lib/imports/monitoring.coreos.com.ts'), 'utf8'));
    } finally {
      fs.rmSync(tmp, { recursive: true, force: true });
    }
  });

  // The PodMonitor CRD (Celery workers' monitors) is not in ../shared/reference: it comes from
  // prometheus-operator v0.87.0 (scripts/prometheus-operator-crds.js says where). Checked where a copy
  // is given (PYFLEET_PODMONITOR_CRD, or ../shared/reference/prometheus-operator-0.87-podmonitors.crd.yaml).
  const podReference = process.env.PYFLEET_PODMONITOR_CRD ?? path.resolve(__dirname, '../../../shared/reference/prometheus-operator-0.87-podmonitors.crd.yaml');
  (fs.existsSync(podReference) ? test : test.skip)('the committed PodMonitor schema and generated classes match the operator 0.87 CRD (where a copy is given)', () => {
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    const { operatorSchemas } = require('../../scripts/prometheus-operator-crds.js');
    const kind = 'monitoring.coreos.com/v1/PodMonitor';
    expect(operatorSchemas(podReference).schemas).toEqual({ [kind]: fixture.schemas[kind] });
    const tmp = fs.mkdtempSync(path.join(require('os').tmpdir(), 'pyfleet-import-'));
    try {
      execFileSync(path.join(__dirname, '../../node_modules/.bin/cdk8s'), ['import', podReference, '--language', 'typescript', '--output', tmp], { stdio: 'pipe', timeout: 120_000 });
      expect(fs.readFileSync(path.join(tmp, 'monitoring.coreos.com.ts'), 'utf8')).toBe(fs.readFileSync(path.join(__dirname, '../../lib/imports/podmonitor.monitoring.coreos.com.ts'), 'utf8'));
    } finally {
      fs.rmSync(tmp, { recursive: true, force: true });
    }
  });

  test('annotations instead of ServiceMonitors when asked', () => {
    const { out } = build({ monitoring: { kubernetesScrape: KubernetesScrapeMode.ANNOTATIONS } });
    const objs = out.k8s('shop');
    expect(of(objs, 'ServiceMonitor')).toEqual([]);
    const d = of(objs, 'Deployment', 'user-service-v1')[0];
    expect(d.spec.template.metadata.annotations).toEqual({ 'prometheus.io/scrape': 'true', 'prometheus.io/port': '9100', 'prometheus.io/path': '/metrics' });
    expect(of(objs, 'Deployment', 'legacy-v1')[0].spec.template.metadata.annotations).toBeUndefined();
    out.cleanup();
  });

  test('NetworkPolicies admit the scraper (its namespace and pod labels, as props) on the metrics port alone', () => {
    const { out } = build({ monitoring: { scraperNamespace: 'observability', scraperPodLabels: { app: 'prom' } } });
    const np = of(out.k8s('shop'), 'NetworkPolicy', 'user-service')[0];
    const scraper = np.spec.ingress.find((r: any) => r.from?.[0]?.namespaceSelector);
    expect(scraper).toEqual({
      from: [{ namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': 'observability' } }, podSelector: { matchLabels: { app: 'prom' } } }],
      ports: [{ port: 'metrics', protocol: 'TCP' }],
    });
    // callers still never reach the metrics port
    const callers = np.spec.ingress.find((r: any) => r.from?.[0]?.podSelector && !r.from[0].namespaceSelector);
    expect(callers.ports).toEqual([{ port: 'http', protocol: 'TCP' }]);
    expect(of(out.k8s('shop'), 'NetworkPolicy', 'legacy')[0].spec.ingress).toBeUndefined();
    out.cleanup();
  });

  test('Istio STRICT: the metrics port bypasses the sidecar and Istio leaves the scrape annotations alone; the AuthorizationPolicies are unchanged', () => {
    const { out } = build({ mesh: true });
    const objs = out.k8s('shop');
    const d = of(objs, 'Deployment', 'order-service-v2')[0];
    expect(d.spec.template.metadata.annotations).toMatchObject({ 'traffic.sidecar.istio.io/excludeInboundPorts': '9100', 'prometheus.istio.io/merge-metrics': 'false' });
    expect(of(objs, 'Deployment', 'legacy-v1')[0].spec.template.metadata.annotations['traffic.sidecar.istio.io/excludeInboundPorts']).toBeUndefined();
    const ap = of(objs, 'AuthorizationPolicy', 'user-service')[0];
    expect(ap.spec.rules.flatMap((r: any) => r.to.flatMap((t: any) => t.operation.ports))).toEqual(['8001']);
    out.cleanup();
  });
});

describe('compose', () => {
  const promtool = haveEngine('promtool', 'apt-get install prometheus (.ci/setup.d/60-prometheus.sh)');

  function checkConfig(out: Synthesized): any {
    const file = path.join(out.dir, 'shop.compose', 'prometheus.yml');
    if (promtool) {
      const r = spawnSync('promtool', ['check', 'config', file], { encoding: 'utf8', timeout: 60_000 });
      expect(`${r.stdout}${r.stderr}`).toMatch(/SUCCESS/);
      expect(r.status).toBe(0);
    }
    return yaml.load(fs.readFileSync(file, 'utf8'));
  }

  test('bridge: a Prometheus service, pinned, non-root, limited, healthy, with its data on a named volume; a job per service, every version labelled', () => {
    const { out } = build();
    const doc = out.compose('shop');
    const p = doc.services.prometheus;
    expect(p.image).toBe('prom/prometheus:v2.42.0');
    expect(p.user).toBe('65534:65534');
    expect(p).toMatchObject({ read_only: true, cap_drop: ['ALL'], security_opt: ['no-new-privileges:true'], tmpfs: ['/tmp'], restart: 'unless-stopped' });
    expect(p.deploy.resources).toEqual({ limits: { cpus: '0.5', memory: '512m' }, reservations: { cpus: '0.1', memory: '128m' } });
    expect(p.healthcheck.test).toEqual(['CMD', 'wget', '-q', '-O', '/dev/null', 'http://127.0.0.1:9090/-/ready']);
    expect(p.volumes).toEqual([
      { type: 'volume', source: 'prometheus-data', target: '/prometheus' },
      { type: 'bind', source: './shop.compose/prometheus.yml', target: '/etc/prometheus/prometheus.yml', read_only: true },
    ]);
    expect(doc.volumes).toEqual({ 'prometheus-data': {} });
    expect(p.command).toContain('--storage.tsdb.retention.time=15d');
    expect(p.logging).toEqual(doc.services['user-service'].logging);
    const config = checkConfig(out);
    expect(config.scrape_configs.map((j: any) => j.job_name)).toEqual(['user-service', 'order-service']);
    const orders = config.scrape_configs[1];
    expect(orders.dns_sd_configs).toEqual([{ names: ['order-service-v1', 'order-service-v2'], type: 'A', port: 9100, refresh_interval: '30s' }]);
    expect(orders.relabel_configs).toEqual([
      { target_label: 'app', replacement: 'order-service' },
      { source_labels: ['__meta_dns_name'], regex: 'order-service-v1', target_label: 'version', replacement: 'v1' },
      { source_labels: ['__meta_dns_name'], regex: 'order-service-v2', target_label: 'version', replacement: 'v2' },
    ]);
    // It joins exactly one network per scraped container, each shared with that container only.
    expect(Object.keys(p.networks).sort()).toEqual(['prometheus_to_order-service-v1', 'prometheus_to_order-service-v2', 'prometheus_to_user-service']);
    expect(doc.networks['prometheus_to_user-service']).toEqual({ driver: 'bridge', internal: true });
    expect(Object.keys(doc.services['user-service'].networks)).toContain('prometheus_to_user-service');
    expect(Object.keys(doc.services['order-service'].networks).some((n) => n.startsWith('prometheus_'))).toBe(false); // the gateway
    expect(doc.services.grafana).toBeUndefined();
    expect(validateComposeSchema(doc)).toEqual([]);
    expect(dclint(path.join(out.dir, 'shop.compose.yml'))).toEqual({ errors: [], warnings: [] });
    out.cleanup();
  });

  test('host network mode: loopback targets, Prometheus on loopback; promtool accepts it', () => {
    const { out } = build({ mode: ComposeNetworkMode.HOST, monitoring: { interval: Duration.seconds(5), grafana: true, prometheusPort: 9190, grafanaPort: 3100 } });
    const doc = out.compose('shop');
    expect(doc.services.prometheus.network_mode).toBe('host');
    expect(doc.services.prometheus.command).toContain('--web.listen-address=127.0.0.1:9190');
    expect(doc.services.grafana).toMatchObject({ network_mode: 'host', environment: { GF_SERVER_HTTP_ADDR: '127.0.0.1', GF_SERVER_HTTP_PORT: '3100' } });
    expect(doc.services.grafana.ports).toBeUndefined();
    const config = checkConfig(out);
    expect(config.scrape_configs).toEqual([
      { job_name: 'user-service', scrape_interval: '5s', scrape_timeout: '4s', metrics_path: '/metrics', scheme: 'http', static_configs: [{ targets: ['127.0.0.1:9101'], labels: { app: 'user-service', version: 'v1' } }] },
      { job_name: 'order-service', scrape_interval: '5s', scrape_timeout: '4s', metrics_path: '/metrics', scheme: 'http', static_configs: [{ targets: ['127.0.0.1:9102'], labels: { app: 'order-service', version: 'v1' } }] },
    ]);
    const ds = yaml.load(out.files.get('shop.compose/grafana/datasources.yml')!) as any;
    expect(ds.datasources[0].url).toBe('http://127.0.0.1:9190');
    out.cleanup();
  });

  test('Grafana: provisioned datasource and one dashboard per service (request rate, error rate, latency percentiles, workers), published on loopback', () => {
    const { out } = build({ monitoring: { grafana: true } });
    const doc = out.compose('shop');
    const g = doc.services.grafana;
    expect(g.image).toBe('grafana/grafana-oss:11.2.0');
    expect(g.ports).toEqual(['127.0.0.1:3000:3000/tcp']);
    expect(g).toMatchObject({ user: '472:0', read_only: true, cap_drop: ['ALL'], depends_on: { prometheus: { condition: 'service_healthy', restart: true } } });
    expect(g.environment.GF_SECURITY_ADMIN_PASSWORD).toBe('${GRAFANA_ADMIN_PASSWORD:?set GRAFANA_ADMIN_PASSWORD to the Grafana admin password}');
    expect(Object.keys(g.networks).sort()).toEqual(['grafana_public', 'grafana_to_prometheus']);
    expect(doc.networks.grafana_to_prometheus.internal).toBe(true);
    expect(doc.networks.grafana_public.internal).toBeUndefined();
    expect(doc.volumes).toEqual({ 'grafana-data': {}, 'prometheus-data': {} });
    const binds = g.volumes.filter((v: any) => v.type === 'bind');
    expect(binds.map((v: any) => v.target).sort()).toEqual(['/etc/grafana/dashboards/order-service.json', '/etc/grafana/dashboards/user-service.json', '/etc/grafana/provisioning/dashboards/pyfleet.yml', '/etc/grafana/provisioning/datasources/pyfleet.yml']);
    for (const v of binds) expect(out.files.has(v.source.replace(/^\.\//, ''))).toBe(true);

    // Grafana's provisioning contract (Grafana itself is not in Debian and cannot run here: structure only).
    const ds = yaml.load(out.files.get('shop.compose/grafana/datasources.yml')!) as any;
    expect(ds).toEqual({ apiVersion: 1, datasources: [{ name: 'Prometheus', uid: 'prometheus', type: 'prometheus', access: 'proxy', url: 'http://prometheus:9090', isDefault: true, editable: false, jsonData: { timeInterval: '15s' } }] });
    const provider = yaml.load(out.files.get('shop.compose/grafana/dashboards.yml')!) as any;
    expect(provider.apiVersion).toBe(1);
    expect(provider.providers[0]).toMatchObject({ type: 'file', options: { path: '/etc/grafana/dashboards' } });
    const dash = JSON.parse(out.files.get('shop.compose/grafana/dashboards/order-service.json')!);
    expect(dash.uid).toBe('shop-order-service');
    expect(dash.uid.length).toBeLessThanOrEqual(40);
    expect(dash.panels.map((p: any) => p.title)).toEqual(['Request rate', 'Error rate (5xx share)', 'Latency percentiles', 'Requests in flight', 'Workers']);
    const ids = new Set<number>();
    for (const p of dash.panels) {
      expect(p.type).toBe('timeseries');
      expect(p.datasource).toEqual({ type: 'prometheus', uid: ds.datasources[0].uid });
      expect(ids.has(p.id)).toBe(false);
      ids.add(p.id);
      expect(p.gridPos.x + p.gridPos.w).toBeLessThanOrEqual(24);
      for (const t of p.targets) {
        expect(t.refId).toMatch(/^[A-Z]$/);
        expect(t.expr).toContain('app="order-service"');
      }
    }
    const exprs = dash.panels.flatMap((p: any) => p.targets.map((t: any) => t.expr)).join('\n');
    // Every metric the dashboard reads is one the generated app exports.
    for (const metric of exprs.match(/[a-z_]+(?=\{)/g)!) expect(['http_requests_total', 'http_request_duration_seconds_bucket', 'http_requests_in_flight', 'gunicorn_workers', 'gunicorn_worker_restarts_total']).toContain(metric);
    expect(exprs).toMatch(/histogram_quantile\(0\.99,/);
    expect(exprs).toMatch(/status=~"5\.\."/);
    expect(validateComposeSchema(doc)).toEqual([]);
    expect(dclint(path.join(out.dir, 'shop.compose.yml'))).toEqual({ errors: [], warnings: [] });
    out.cleanup();
  });

  test('overlay (swarm): tasks.<name> targets, generated files as swarm configs; the swarm\'s loader takes it', () => {
    const { out } = build({ mode: ComposeNetworkMode.OVERLAY, registry: 'registry.example.com/shop', monitoring: { grafana: true } });
    const doc = out.compose('shop');
    const config = checkConfig(out);
    expect(config.scrape_configs[1].dns_sd_configs[0].names).toEqual(['tasks.order-service-v1', 'tasks.order-service-v2']);
    expect(config.scrape_configs[1].relabel_configs[1].regex).toBe('tasks\\.order-service-v1');
    expect(doc.services.prometheus.configs).toEqual([{ source: expect.stringMatching(/^prometheus-yml-[0-9a-f]{10}$/), target: '/etc/prometheus/prometheus.yml', mode: 0o444 }]);
    expect(doc.configs[doc.services.prometheus.configs[0].source]).toEqual({ file: './shop.compose/prometheus.yml' });
    expect(doc.services.prometheus.volumes).toEqual([{ type: 'volume', source: 'prometheus-data', target: '/prometheus' }, { type: 'tmpfs', target: '/tmp' }]);
    expect(doc.services.grafana.ports).toBeUndefined();
    const cli = swarmCli();
    if (cli) {
      const resolved = stackConfig(cli, path.join(out.dir, 'shop.compose.yml'), { GRAFANA_ADMIN_PASSWORD: 'x' });
      expect(Object.keys(resolved.services)).toEqual(expect.arrayContaining(['grafana', 'prometheus']));
    }
    out.cleanup();
  });

  const dc = haveEngine('docker-compose', 'apt-get install docker-compose');
  (dc ? test : test.skip)('docker-compose 1.29 accepts the project with Prometheus and Grafana (`config`), and refuses to run without the Grafana password', () => {
    const { out } = build({ monitoring: { grafana: true } });
    const file = path.join(out.dir, 'compat.compose.yml');
    fs.writeFileSync(file, yaml.dump(forDockerCompose129(out.compose('shop'))));
    const printed = execFileSync('docker-compose', ['-p', 'shop', '-f', file, 'config'], { cwd: out.dir, env: { ...process.env, GRAFANA_ADMIN_PASSWORD: 'pw' }, encoding: 'utf8', timeout: 60_000 });
    const resolved = yaml.load(printed) as any;
    expect(resolved.services.grafana.environment.GF_SECURITY_ADMIN_PASSWORD).toBe('pw');
    expect(resolved.volumes['prometheus-data']).toBeDefined();
    const run = () => execFileSync('docker-compose', ['-p', 'shop', '-f', file, 'config', '-q'], { cwd: out.dir, env: { ...process.env, GRAFANA_ADMIN_PASSWORD: '' }, encoding: 'utf8', stdio: 'pipe', timeout: 60_000 });
    expect(run).toThrow(/GRAFANA_ADMIN_PASSWORD/);
    out.cleanup();
  });
});

describe('validation', () => {
  const problems = (f: (app: App) => void): string[] => {
    const app = new App({ outdir: fs.mkdtempSync(path.join(require('os').tmpdir(), 'pyfleet-mon-')) });
    f(app);
    try {
      app.synthesize();
      return [];
    } catch (e) {
      return ((e as any).errors ?? [e]).map((x: PyfleetError) => x.message);
    } finally {
      fs.rmSync(app.outdir, { recursive: true, force: true });
    }
  };

  test('monitoring on a stack without any service that serves metrics: one clear error with the fix', () => {
    const msgs = problems((app) => {
      const s = new Stack(app, 'plain', { monitoring: Monitoring.prometheus() });
      new MicroService(s, 'web', { image: ContainerImage.fromRegistry('nginx:1.27.0') });
      new FastApiApp(s, 'api', { source: USERS, metrics: false });
    });
    expect(msgs).toEqual([expect.stringMatching(/\[pyfleet\] plain: monitoring is on, but none of its 2 service\(s\) serves pyfleet's metrics endpoint.*Fix: turn metrics on/)]);
    expect(problems((app) => { new Stack(app, 'empty', { monitoring: Monitoring.prometheus() }); })).toEqual([expect.stringMatching(/the stack has no services/)]);
  });

  test('compose names and host ports the monitoring services take', () => {
    expect(problems((app) => {
      const s = new Stack(app, 'clash', { monitoring: Monitoring.prometheus() });
      new FastApiApp(s, 'prometheus', { source: USERS });
    })).toEqual([expect.stringMatching(/clash\/prometheus: the compose service "prometheus" of the stack's monitoring/)]);
    expect(problems((app) => {
      const s = new Stack(app, 'host', { compose: { networkMode: ComposeNetworkMode.HOST }, monitoring: Monitoring.prometheus() });
      new FastApiApp(s, 'api', { source: USERS, port: 9090, replicas: 1 });
    })).toEqual([expect.stringMatching(/port 9090 is also the compose Prometheus port \(prometheusPort\)/)]);
  });

  test('bad options are refused at construction', () => {
    expect(() => Monitoring.prometheus({ interval: Duration.millis(1500) })).toThrow(/whole number of seconds/);
    expect(() => Monitoring.prometheus({ scraperPodLabels: {} })).toThrow(/every pod of the scraper namespace/);
    expect(() => Monitoring.prometheus({ scraperNamespace: 'Monitoring' })).toThrow(/not a namespace name/);
    expect(() => Monitoring.prometheus({ kubernetesScrape: 'pods' as any })).toThrow(/unknown/);
    expect(() => Monitoring.prometheus({ retention: Duration.minutes(90) })).toThrow(/whole number of days/);
    expect(() => Monitoring.prometheus({ grafanaPort: 80 })).toThrow(/1024 to 65535/);
    expect(() => new Stack(new App(), 'x', { monitoring: {} as any })).toThrow(/Monitoring.prometheus\(\)/);
  });
});

describe('prometheusScrapeJobs (a Prometheus of your own)', () => {
  test('one job per service with metrics, a target per version, labelled stack, app and version like the generated scrapers', () => {
    const { stack } = build();
    const model = (stack.node.root as App).synthesize().find((o) => o.stack === stack)!.model;
    const jobs = prometheusScrapeJobs(model, { interval: Duration.seconds(10), host: (s, v) => `${s.name}-${v.name}.internal` });
    // The plain image service has no pyfleet metrics, so no job.
    expect(jobs.map((j) => j.job_name)).toEqual(['user-service', 'order-service']);
    const orders = jobs.find((j) => j.job_name === 'order-service')!;
    const port = model.services.find((s) => s.name === 'order-service')!.settings.metricsPort;
    expect(port).toBeGreaterThan(0);
    expect(orders).toMatchObject({ scrape_interval: '10s', scrape_timeout: '8s', metrics_path: '/metrics' });
    expect(orders.static_configs.map((c) => [c.targets, c.labels])).toEqual([
      [[`order-service-v1.internal:${port}`], { stack: 'shop', app: 'order-service', version: 'v1' }],
      [[`order-service-v2.internal:${port}`], { stack: 'shop', app: 'order-service', version: 'v2' }],
    ]);
  });
});
