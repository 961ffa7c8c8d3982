import { PyfleetError } from '../../core/errors';
import { Duration } from '../../core/units';
import { ServiceMonitor, ServiceMonitorProps, toJson_ServiceMonitorProps } from '../../imports/monitoring.coreos.com';
import { PodMonitor, PodMonitorProps, toJson_PodMonitorProps } from '../../imports/podmonitor.monitoring.coreos.com';
import type { WorkerModel } from '../../model/jobs';
import { KubernetesScrapeMode } from '../../monitoring/monitoring';
import type { ServiceModel, StackModel, VersionModel } from '../../model/stack';
import { metricsPort, workerMetricsPort } from '../../model/traffic';
import type { KubernetesExtension } from '../kubernetes';
import { KubeObject, kubeObject } from '../kubernetes/object';

// Monitoring on Kubernetes (`Monitoring.prometheus()` on a stack), as an extension of the Kubernetes
// target. For every service that serves pyfleet's metrics endpoint:
//
// - KubernetesScrapeMode.SERVICE_MONITOR (the default): a prometheus-operator ServiceMonitor named like
//   the service, labelled for the Prometheus's serviceMonitorSelector (`release: kube-prometheus-stack`
//   by default), selecting the service's Service (`app: <service>`, in the stack's namespace) and its
//   named port `metrics` (every Service pyfleet writes carries it: the metrics port is one of the
//   service's additional ports), path `/metrics`, the stack's interval; the pods' `app` and `version`
//   labels become target labels (`podTargetLabels`), so every series says which version served it.
// - KubernetesScrapeMode.ANNOTATIONS: `prometheus.io/scrape: "true"`, `prometheus.io/port` and
//   `prometheus.io/path` on the pods, for a Prometheus with the classic annotation-driven pod job.
//
// A CeleryWorker with metrics has no Service (nobody calls it), so it gets a PodMonitor instead, named
// like the worker, selecting its pods (`app: <worker>`) and their container port named `metrics`, with
// the same labels, interval and target labels (`app`, and `version`: the worker pods' image tag); or
// the same annotations on its pods.
//
// The NetworkPolicies admit the scraper (its namespace and pod labels) to the metrics port: that edge
// is in lib/model/traffic (`scraperPort`), which every enforcing target reads.
//
// In an Istio mesh the metrics port is excluded from the sidecar's inbound capture
// (`traffic.sidecar.istio.io/excludeInboundPorts`), the way Istio documents for a Prometheus that has
// no sidecar of its own (kube-prometheus-stack's has none): under STRICT mTLS the sidecar would refuse
// its plain-text scrape, and with the port excluded neither mTLS nor the AuthorizationPolicies apply to
// it, while the NetworkPolicy still admits only the scraper. Istio's metrics merging (which rewrites
// `prometheus.io/*` annotations to its agent's port 15020) is turned off on these pods
// (`prometheus.istio.io/merge-metrics: "false"`), so the scrape goes to the app's own port in both modes.

/** Pod annotation: inbound ports the Istio sidecar does not intercept. */
export const EXCLUDE_INBOUND_PORTS = 'traffic.sidecar.istio.io/excludeInboundPorts';
/** Pod annotation: Istio's metrics merging on or off. */
export const MERGE_METRICS = 'prometheus.istio.io/merge-metrics';

function goDuration(ms: number): string {
  return Duration.millis(ms).toGoString();
}

/** Pod annotations for a metrics port in a stack with monitoring: scrape annotations in that mode, and the Istio sidecar exclusion. */
function scrapeAnnotations(model: StackModel, port: { port: number } | undefined): Record<string, string> {
  const mon = model.monitoring;
  if (!mon || !port) return {};
  const out: Record<string, string> = {};
  if (mon.kubernetesScrape === KubernetesScrapeMode.ANNOTATIONS) {
    Object.assign(out, { 'prometheus.io/scrape': 'true', 'prometheus.io/port': String(port.port), 'prometheus.io/path': '/metrics' });
  }
  if (model.mesh) Object.assign(out, { [EXCLUDE_INBOUND_PORTS]: String(port.port), [MERGE_METRICS]: 'false' });
  return out;
}

/** Pod annotations for a version of a service with metrics, in a stack with monitoring. */
export function monitoringPodAnnotations(model: StackModel, s: ServiceModel, _v?: VersionModel): Record<string, string> {
  return scrapeAnnotations(model, metricsPort(s));
}

/** Pod annotations for a worker with metrics, in a stack with monitoring. */
export function monitoringWorkerPodAnnotations(model: StackModel, w: WorkerModel): Record<string, string> {
  return scrapeAnnotations(model, workerMetricsPort(w));
}

/**
 * What a PodMonitor and a ServiceMonitor share: the workload's labels (plus the monitor labels the
 * operator selects on), its selector in its namespace, `app` and `version` as target labels, and one
 * endpoint on its `metrics` port at the monitoring interval.
 */
function monitorProps(model: StackModel, mon: NonNullable<StackModel['monitoring']>, w: { name: string; labels: Readonly<Record<string, string>>; selector: Readonly<Record<string, string>> }, port: string) {
  return {
    metadata: { name: w.name, namespace: model.namespace, labels: { ...w.labels, ...mon.serviceMonitorLabels } },
    selector: { matchLabels: { ...w.selector } },
    namespaceSelector: { matchNames: [model.namespace] },
    podTargetLabels: ['app', 'version'],
    endpoint: { port, path: '/metrics', interval: goDuration(mon.intervalMs), scrapeTimeout: goDuration(mon.timeoutMs) },
  };
}

/** The stack's PodMonitors: one per worker with metrics (none in annotation mode or without monitoring). */
export function podMonitors(model: StackModel): KubeObject[] {
  const mon = model.monitoring;
  if (!mon || mon.kubernetesScrape !== KubernetesScrapeMode.SERVICE_MONITOR) return [];
  return model.workers.filter((w) => workerMetricsPort(w)).map((w) => {
    const { metadata, endpoint, ...spec } = monitorProps(model, mon, w, workerMetricsPort(w)!.name);
    const props: PodMonitorProps = { metadata, spec: { ...spec, podMetricsEndpoints: [endpoint] } };
    return kubeObject(PodMonitor.GVK, toJson_PodMonitorProps, props, w.hatches.kubernetes.podMonitor, w.path);
  });
}

/** The stack's ServiceMonitors: one per service with metrics (none in annotation mode or without monitoring). */
export function serviceMonitors(model: StackModel): KubeObject[] {
  const mon = model.monitoring;
  if (!mon || mon.kubernetesScrape !== KubernetesScrapeMode.SERVICE_MONITOR) return [];
  return model.services.filter((s) => metricsPort(s)).map((s) => {
    const { metadata, endpoint, ...spec } = monitorProps(model, mon, s, metricsPort(s)!.name);
    const props: ServiceMonitorProps = { metadata, spec: { ...spec, endpoints: [endpoint] } };
    return kubeObject(ServiceMonitor.GVK, toJson_ServiceMonitorProps, props, s.hatches.kubernetes.serviceMonitor, s.path);
  });
}

/** Patches recorded for a ServiceMonitor or PodMonitor that the model does not render: nothing would apply them. */
export function monitorHatchProblems(models: readonly StackModel[]): PyfleetError[] {
  const errors: PyfleetError[] = [];
  for (const model of models) {
    // Monitors exist only with Monitoring.prometheus() in ServiceMonitor mode, for what serves metrics.
    const monitors = model.monitoring?.kubernetesScrape === KubernetesScrapeMode.SERVICE_MONITOR;
    for (const m of model.services) {
      if ((m.hatches.kubernetes.serviceMonitor?.length ?? 0) > 0 && !(monitors && metricsPort(m))) {
        errors.push(new PyfleetError(m.path, `Kubernetes.of(...).serviceMonitor was patched, but service "${m.name}" gets no ServiceMonitor (${!model.monitoring ? 'the stack has no monitoring' : !metricsPort(m) ? 'it serves no pyfleet metrics' : 'monitoring scrapes through annotations'})`,
          'give the stack monitoring: Monitoring.prometheus() and the service metrics, or drop the patch'));
      }
    }
    for (const w of model.workers) {
      if ((w.hatches.kubernetes.podMonitor?.length ?? 0) > 0 && !(monitors && workerMetricsPort(w))) {
        errors.push(new PyfleetError(w.path, `Kubernetes.of(...).podMonitor was patched, but worker "${w.name}" gets no PodMonitor (${!model.monitoring ? 'the stack has no monitoring' : !workerMetricsPort(w) ? 'it serves no metrics' : 'monitoring scrapes through annotations'})`,
          'give the stack monitoring: Monitoring.prometheus() and the worker metrics, or drop the patch'));
      }
    }
  }
  return errors;
}

/** Monitoring as part of the Kubernetes target: ServiceMonitors or scrape annotations, and the Istio sidecar exclusion of the metrics port. */
export function monitoringExtension(): KubernetesExtension {
  return {
    name: 'monitoring',
    cacheVersion: 'pyfleet',
    podAnnotations: monitoringPodAnnotations,
    workerPodAnnotations: monitoringWorkerPodAnnotations,
    objects: (model) => [...serviceMonitors(model), ...podMonitors(model)],
    validate: monitorHatchProblems,
  };
}
