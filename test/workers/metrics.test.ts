// CeleryWorker metrics in the synthesized output: the generated image (pyfleet_celery.py as the app,
// prometheus-client added), a PodMonitor (strict prometheus-operator 0.87 CRD schema) or scrape
// annotations on Kubernetes, the container port `metrics` and the scraper's NetworkPolicy edge, the
// Istio sidecar exclusion, a compose scrape job per worker (promtool checks the configuration), no
// published port; the validation errors. The real run is test/e2e/celery-metrics.test.ts.
import { spawnSync } from 'child_process';
import * as fs from 'fs';
import * as path from 'path';
import * as yaml from 'js-yaml';
import { App, CeleryWorker, ComposeNetworkMode, FastApiApp, KubernetesScrapeMode, Mesh, Monitoring, PrometheusMonitoringOptions, PyfleetError, Redis, Stack } from '../../lib';
import { crossObjectProblems, validateKubernetesObject } from '../support/checks';
import { haveEngine } from '../support/engines';
import { synth, Synthesized, tmpdir } from '../support/synth';

/** A source folder with a FastAPI app and a Celery app beside it. */
function appSource(): string {
  const dir = tmpdir('pyfleet-worker-metrics-src-');
  fs.writeFileSync(path.join(dir, 'app.py'), 'from fastapi import FastAPI\napp = FastAPI()\n');
  fs.writeFileSync(path.join(dir, 'tasks.py'), 'from celery import Celery\ncelery = Celery("tasks")\n');
  fs.writeFileSync(path.join(dir, 'requirements.txt'), 'fastapi==0.142.0\ngunicorn==26.2.0\nuvicorn==0.54.0\ncelery==5.5.3\nredis==6.4.0\n');
  return dir;
}
const src = appSource();
const contextOf = (out: Synthesized, name: string): string => path.join(out.dir, out.compose('shop').services[name].build.context);

function build(options: { monitoring?: PrometheusMonitoringOptions | false; mesh?: boolean; mode?: ComposeNetworkMode; metrics?: boolean | { port: number } } = {}) {
  return synth((app) => {
    const stack = new Stack(app, 'shop', {
      namespace: 'shop', mesh: options.mesh ? Mesh.istio() : undefined, compose: { networkMode: options.mode ?? ComposeNetworkMode.BRIDGE },
      monitoring: options.monitoring === false ? undefined : Monitoring.prometheus(options.monitoring ?? {}),
    });
    const cache = new Redis(stack, 'cache');
    const host = options.mode === ComposeNetworkMode.HOST;
    new FastApiApp(stack, 'order-service', { source: src, calls: [cache], replicas: 1, port: 8002, metrics: host ? { port: 9102 } : true });
    new CeleryWorker(stack, 'order-worker', { source: src, app: 'tasks:celery', calls: [cache], metrics: options.metrics ?? (host ? { port: 9110 } : undefined) });
  });
}

describe('the generated image', () => {
  test('metrics on by default: pyfleet_celery.py is the app, prometheus-client is added, the port is declared', () => {
    const out = build({ monitoring: false });
    const ctx = contextOf(out, 'order-worker');
    expect(fs.readFileSync(path.join(ctx, 'Dockerfile'), 'utf8')).toContain('EXPOSE 9100');
    expect(fs.readFileSync(path.join(ctx, 'Dockerfile'), 'utf8')).toContain('CMD ["celery","-A","pyfleet_celery:app","worker"');
    expect(fs.readFileSync(path.join(ctx, 'pyfleet-requirements.txt'), 'utf8')).toContain('prometheus-client==0.26.0');
    const wrapper = fs.readFileSync(path.join(ctx, 'pyfleet_celery.py'), 'utf8');
    expect(wrapper).toContain('_TARGET = "tasks:celery"');
    // The multiprocess directory is set before prometheus_client is imported.
    expect(wrapper.indexOf('os.environ["PROMETHEUS_MULTIPROC_DIR"]')).toBeLessThan(wrapper.indexOf('from prometheus_client'));
    // The health check stays on the user's app: it must not import the wrapper (which owns the metrics directory).
    const d = out.find('shop', 'Deployment', 'order-worker');
    expect(d.spec.template.spec.containers[0].livenessProbe.exec.command.join(' ')).toContain('celery -A tasks:celery inspect ping');
    out.cleanup();
  });

  test('metrics: false keeps the plain image and command', () => {
    const out = build({ monitoring: false, metrics: false });
    const ctx = contextOf(out, 'order-worker');
    expect(fs.existsSync(path.join(ctx, 'pyfleet_celery.py'))).toBe(false);
    expect(fs.readFileSync(path.join(ctx, 'Dockerfile'), 'utf8')).not.toContain('EXPOSE');
    const c = out.find('shop', 'Deployment', 'order-worker').spec.template.spec.containers[0];
    expect(c.command.slice(0, 3)).toEqual(['celery', '-A', 'tasks:celery']);
    expect(c.ports).toBeUndefined();
    out.cleanup();
  });
});

describe('Kubernetes', () => {
  test('a PodMonitor per worker, on the container port named metrics, strict-schema valid; the scraper alone admitted', () => {
    const out = build();
    const objs = out.k8s('shop');
    const pm = objs.filter((o) => o.kind === 'PodMonitor');
    expect(pm).toHaveLength(1);
    expect(pm[0].apiVersion).toBe('monitoring.coreos.com/v1');
    expect(pm[0].metadata).toMatchObject({ name: 'order-worker', namespace: 'shop', labels: { release: 'kube-prometheus-stack', app: 'order-worker' } });
    expect(pm[0].spec).toEqual({
      selector: { matchLabels: { app: 'order-worker' } },
      namespaceSelector: { matchNames: ['shop'] },
      podTargetLabels: ['app', 'version'],
      podMetricsEndpoints: [{ port: 'metrics', path: '/metrics', interval: '15s', scrapeTimeout: '12s' }],
    });
    const d = out.find('shop', 'Deployment', 'order-worker');
    const c = d.spec.template.spec.containers[0];
    expect(c.ports).toEqual([{ name: 'metrics', containerPort: 9100, protocol: 'TCP' }]);
    // The selected pods carry the labels the monitor selects and turns into target labels.
    expect(d.spec.template.metadata.labels).toMatchObject({ app: 'order-worker', version: c.image.split(':').pop() });
    // No Service for a worker; the ServiceMonitor is the web app's only.
    expect(objs.some((o) => o.kind === 'Service' && o.metadata.name === 'order-worker')).toBe(false);
    expect(objs.filter((o) => o.kind === 'ServiceMonitor').map((o) => o.metadata.name)).toEqual(['order-service']);
    const np = out.find('shop', 'NetworkPolicy', 'order-worker');
    expect(np.spec.ingress).toEqual([{
      from: [{ namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': 'monitoring' } }, podSelector: { matchLabels: { 'app.kubernetes.io/name': 'prometheus' } } }],
      ports: [{ port: 'metrics', protocol: 'TCP' }],
    }]);
    expect(objs.flatMap(validateKubernetesObject)).toEqual([]);
    expect(crossObjectProblems(objs)).toEqual([]);
    out.cleanup();
  });

  test('the strict PodMonitor schema catches a typo', () => {
    const out = build();
    const pm = JSON.parse(JSON.stringify(out.find('shop', 'PodMonitor', 'order-worker')));
    expect(validateKubernetesObject(pm)).toEqual([]);
    pm.spec.podMetricsEndpoints[0].targetPorts = 'metrics';
    expect(validateKubernetesObject(pm).join()).toMatch(/additional properties/);
    out.cleanup();
  });

  test('without monitoring: the port is declared, but no PodMonitor and no ingress at all', () => {
    const out = build({ monitoring: false });
    expect(out.k8s('shop').some((o) => o.kind === 'PodMonitor')).toBe(false);
    expect(out.find('shop', 'NetworkPolicy', 'order-worker').spec.ingress).toBeUndefined();
    out.cleanup();
  });

  test('annotations instead of a PodMonitor when asked; in a mesh the metrics port bypasses the sidecar', () => {
    const out = build({ monitoring: { kubernetesScrape: KubernetesScrapeMode.ANNOTATIONS }, mesh: true });
    expect(out.k8s('shop').some((o) => o.kind === 'PodMonitor')).toBe(false);
    expect(out.find('shop', 'Deployment', 'order-worker').spec.template.metadata.annotations).toEqual({
      'prometheus.io/scrape': 'true', 'prometheus.io/port': '9100', 'prometheus.io/path': '/metrics',
      'traffic.sidecar.istio.io/excludeInboundPorts': '9100', 'prometheus.istio.io/merge-metrics': 'false',
    });
    out.cleanup();
  });
});

describe('compose', () => {
  const promtool = haveEngine('promtool', 'apt-get install prometheus (.ci/setup.d/60-prometheus.sh)');

  test('bridge: a scrape job for the worker, labelled app and version, on its own network with Prometheus; no published port', () => {
    const out = build();
    const compose = out.compose('shop');
    const w = compose.services['order-worker'];
    expect(w.ports).toBeUndefined();
    const prom = yaml.load(fs.readFileSync(path.join(out.dir, 'shop.compose', 'prometheus.yml'), 'utf8')) as any;
    const job = prom.scrape_configs.find((j: any) => j.job_name === 'order-worker');
    const version = w.build.tags[0].split(':').pop();
    expect(job).toEqual({
      job_name: 'order-worker', scrape_interval: '15s', scrape_timeout: '12s', metrics_path: '/metrics', scheme: 'http',
      dns_sd_configs: [{ names: ['order-worker'], type: 'A', port: 9100, refresh_interval: '30s' }],
      relabel_configs: [{ target_label: 'app', replacement: 'order-worker' }, { source_labels: ['__meta_dns_name'], regex: 'order-worker', target_label: 'version', replacement: version }],
    });
    // Prometheus and the worker share a network of their own.
    const shared = Object.keys(w.networks).filter((n) => Object.keys(compose.services.prometheus.networks).includes(n));
    expect(shared).toHaveLength(1);
    if (promtool) {
      const r = spawnSync('promtool', ['check', 'config', '--syntax-only', path.join(out.dir, 'shop.compose', 'prometheus.yml')], { encoding: 'utf8', timeout: 60_000 });
      expect(`${r.stdout}${r.stderr}`).toMatch(/SUCCESS/);
      expect(r.status).toBe(0);
    }
    out.cleanup();
  });

  test('host mode: a loopback static target, the metrics server on loopback', () => {
    const out = build({ mode: ComposeNetworkMode.HOST });
    const w = out.compose('shop').services['order-worker'];
    expect(w.environment.PYFLEET_METRICS_HOST).toBe('127.0.0.1');
    const prom = yaml.load(fs.readFileSync(path.join(out.dir, 'shop.compose', 'prometheus.yml'), 'utf8')) as any;
    expect(prom.scrape_configs.find((j: any) => j.job_name === 'order-worker').static_configs).toEqual([{ targets: ['127.0.0.1:9110'], labels: { app: 'order-worker', version: w.build.tags[0].split(':').pop() } }]);
    out.cleanup();
  });
});

describe('Grafana', () => {
  test('a dashboard per worker with metrics, reading only the series the generated wrapper exports', () => {
    const out = build({ monitoring: { grafana: true } });
    const dash = JSON.parse(out.files.get('shop.compose/grafana/dashboards/order-worker.json')!);
    expect(dash.uid).toBe('shop-order-worker');
    expect(dash.panels.map((p: any) => p.title)).toEqual(['Tasks finished', 'Failed share', 'Task duration percentiles', 'Tasks in progress', 'Pool processes']);
    const exprs: string[] = dash.panels.flatMap((p: any) => p.targets.map((t: any) => t.expr));
    for (const e of exprs) expect(e).toContain('app="order-worker"');
    const wrapper = fs.readFileSync(path.join(contextOf(out, 'order-worker'), 'pyfleet_celery.py'), 'utf8');
    for (const metric of exprs.join('\n').match(/[a-z_]+(?=\{)/g)!) {
      // The wrapper declares each base name; prometheus-client adds _total and _bucket.
      expect(wrapper).toContain(`"${metric.replace(/_total$|_bucket$/, '')}"`);
    }
    // Mounted into Grafana with the services' dashboards.
    const binds = out.compose('shop').services.grafana.volumes.filter((v: any) => v.type === 'bind').map((v: any) => v.target);
    expect(binds).toContain('/etc/grafana/dashboards/order-worker.json');
    out.cleanup();
  });
});

describe('validation', () => {
  const attempt = (f: (app: App) => void): string => {
    const app = new App({ outdir: fs.mkdtempSync(path.join(require('os').tmpdir(), 'pyfleet-wm-')) });
    try {
      f(app);
      app.synthesize();
      return '';
    } catch (e) {
      return String((e as Error).message);
    }
  };

  test('bad metrics props at construction', () => {
    const stack = new Stack(new App(), 'shop');
    const cache = new Redis(stack, 'cache');
    expect(() => new CeleryWorker(stack, 'w1', { source: src, calls: [cache], metrics: { port: 70000 } })).toThrow(PyfleetError);
    expect(() => new CeleryWorker(stack, 'w2', { source: src, calls: [cache], metrics: 'yes' as any })).toThrow(/metrics must be true, false or \{ port \}/);
  });

  test('host mode: a worker metrics port that clashes with a service\'s, another worker\'s or Prometheus\'s is refused with the fix', () => {
    const msg = attempt((app) => {
      const stack = new Stack(app, 'shop', { compose: { networkMode: ComposeNetworkMode.HOST }, monitoring: Monitoring.prometheus() });
      const cache = new Redis(stack, 'cache');
      new FastApiApp(stack, 'order-service', { source: src, port: 8002, replicas: 1, calls: [cache], metrics: { port: 9102 } });
      new CeleryWorker(stack, 'w1', { source: src, calls: [cache], metrics: { port: 9102 } });
      new CeleryWorker(stack, 'w2', { source: src, calls: [cache], metrics: { port: 9120 } });
      new CeleryWorker(stack, 'w3', { source: src, calls: [cache], metrics: { port: 9120 } });
      new CeleryWorker(stack, 'w4', { source: src, calls: [cache], metrics: { port: 9090 } });
    });
    expect(msg).toMatch(/shop\/w1: the worker's metrics port 9102 clashes with the service "shop\/order-service"/);
    expect(msg).toMatch(/shop\/w3: the worker's metrics port 9120 clashes with the worker "shop\/w2"/);
    expect(msg).toMatch(/shop\/w4: the worker's metrics port 9090 clashes with the compose Prometheus/);
    expect(msg).toMatch(/metrics: \{ port: 9110 \}/);
    expect(msg).not.toMatch(/shop\/w2:/);
  });

  test('monitoring with only a Celery worker that has metrics is accepted', () => {
    expect(attempt((app) => {
      const stack = new Stack(app, 'shop', { monitoring: Monitoring.prometheus() });
      new CeleryWorker(stack, 'w1', { source: src, calls: [new Redis(stack, 'cache')] });
    })).toBe('');
  });
});
