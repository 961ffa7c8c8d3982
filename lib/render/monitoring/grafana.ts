import { createHash } from 'crypto';
import type { WorkerModel } from '../../model/jobs';
import type { ServiceModel, StackModel } from '../../model/stack';

// One Grafana dashboard per service with pyfleet's metrics, on the provisioned Prometheus datasource
// (uid `prometheus`): request rate, error rate (5xx share), latency percentiles (p50, p90, p99 from the
// request duration histogram), requests in flight, and gunicorn workers with their restarts, each by
// `version` (the scrape configuration labels every series with `app` and `version`; on Kubernetes the
// ServiceMonitor's podTargetLabels do the same). The JSON is Grafana's dashboard model (schemaVersion
// 39, `timeseries` panels), checked for structure in the tests: Grafana itself cannot run here.
// A Celery worker with metrics gets one too: tasks finished by state, failed share, task duration
// percentiles by task, tasks in progress and pool processes (its PromQL is run against a real
// Prometheus in test/e2e/celery-metrics.test.ts).

/** Grafana's dashboard uid: at most 40 characters. */
function dashboardUid(model: StackModel, name: string): string {
  const uid = `${model.name}-${name}`;
  return uid.length <= 40 ? uid : `${uid.slice(0, 31)}-${createHash('sha256').update(uid).digest('hex').slice(0, 8)}`;
}

interface Panel {
  readonly title: string;
  readonly unit: string;
  readonly targets: ReadonlyArray<{ readonly expr: string; readonly legendFormat: string }>;
}

/** The panels of a service's dashboard, with their PromQL. */
export function dashboardPanels(s: ServiceModel): Panel[] {
  const sel = `app="${s.name}"`;
  const rate = (extra = ''): string => `sum by (version) (rate(http_requests_total{${sel}${extra}}[$__rate_interval]))`;
  const quantile = (q: number): { expr: string; legendFormat: string } => ({
    expr: `histogram_quantile(${q}, sum by (version, le) (rate(http_request_duration_seconds_bucket{${sel}}[$__rate_interval])))`,
    legendFormat: `p${Math.round(q * 100)} {{version}}`,
  });
  return [
    { title: 'Request rate', unit: 'reqps', targets: [{ expr: rate(), legendFormat: '{{version}}' }] },
    { title: 'Error rate (5xx share)', unit: 'percentunit', targets: [{ expr: `${rate(',status=~"5.."')} / ${rate()}`, legendFormat: '{{version}}' }] },
    { title: 'Latency percentiles', unit: 's', targets: [quantile(0.5), quantile(0.9), quantile(0.99)] },
    { title: 'Requests in flight', unit: 'short', targets: [{ expr: `sum by (version) (http_requests_in_flight{${sel}})`, legendFormat: '{{version}}' }] },
    {
      title: 'Workers', unit: 'short', targets: [
        { expr: `sum by (version) (gunicorn_workers{${sel}})`, legendFormat: 'workers {{version}}' },
        { expr: `sum by (version) (increase(gunicorn_worker_restarts_total{${sel}}[$__rate_interval]))`, legendFormat: 'restarts {{version}}' },
      ],
    },
  ];
}

/** The panels of a Celery worker's dashboard, with their PromQL. */
export function workerDashboardPanels(w: WorkerModel): Panel[] {
  const sel = `app="${w.name}"`;
  const rate = (extra = ''): string => `sum(rate(celery_tasks_total{${sel}${extra}}[$__rate_interval]))`;
  const quantile = (q: number): { expr: string; legendFormat: string } => ({
    expr: `histogram_quantile(${q}, sum by (task, le) (rate(celery_task_duration_seconds_bucket{${sel}}[$__rate_interval])))`,
    legendFormat: `p${Math.round(q * 100)} {{task}}`,
  });
  return [
    { title: 'Tasks finished', unit: 'ops', targets: [{ expr: `sum by (state) (rate(celery_tasks_total{${sel}}[$__rate_interval]))`, legendFormat: '{{state}}' }] },
    { title: 'Failed share', unit: 'percentunit', targets: [{ expr: `${rate(',state="failed"')} / ${rate(',state=~"succeeded|failed"')}`, legendFormat: 'failed' }] },
    { title: 'Task duration percentiles', unit: 's', targets: [quantile(0.5), quantile(0.9), quantile(0.99)] },
    { title: 'Tasks in progress', unit: 'short', targets: [{ expr: `sum by (version) (celery_tasks_in_progress{${sel}})`, legendFormat: '{{version}}' }] },
    { title: 'Pool processes', unit: 'short', targets: [{ expr: `sum by (version) (celery_worker_pool_processes{${sel}})`, legendFormat: '{{version}}' }] },
  ];
}

/** A service's dashboard (Grafana dashboard JSON model). */
export function grafanaDashboard(model: StackModel, s: ServiceModel): Record<string, unknown> {
  return dashboard(model, s.name, dashboardPanels(s));
}

/** A Celery worker's dashboard (Grafana dashboard JSON model). */
export function workerDashboard(model: StackModel, w: WorkerModel): Record<string, unknown> {
  return dashboard(model, w.name, workerDashboardPanels(w));
}

function dashboard(model: StackModel, name: string, ofPanels: readonly Panel[]): Record<string, unknown> {
  const datasource = { type: 'prometheus', uid: 'prometheus' };
  const panels = ofPanels.map((p, i) => ({
    id: i + 1,
    type: 'timeseries',
    title: p.title,
    datasource,
    gridPos: { h: 8, w: 12, x: (i % 2) * 12, y: Math.floor(i / 2) * 8 },
    fieldConfig: { defaults: { unit: p.unit }, overrides: [] },
    options: { legend: { displayMode: 'list', placement: 'bottom', showLegend: true }, tooltip: { mode: 'multi', sort: 'none' } },
    targets: p.targets.map((t, j) => ({ refId: String.fromCharCode(65 + j), datasource, expr: t.expr, legendFormat: t.legendFormat })),
  }));
  return {
    uid: dashboardUid(model, name),
    title: `${model.name} / ${name}`,
    tags: ['pyfleet', model.name],
    timezone: 'browser',
    schemaVersion: 39,
    version: 1,
    editable: false,
    refresh: '30s',
    time: { from: 'now-1h', to: 'now' },
    templating: { list: [] },
    annotations: { list: [] },
    panels,
  };
}
