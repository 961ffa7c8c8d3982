import { PyfleetError } from '../core/errors';
import { Duration } from '../core/units';

/** How a Prometheus inside the cluster finds the stack's metrics endpoints on Kubernetes. */
export enum KubernetesScrapeMode {
  /**
   * One prometheus-operator ServiceMonitor per service (`monitoring.coreos.com/v1`), selecting the
   * Service's named `metrics` port: what kube-prometheus-stack and every operator-run Prometheus read.
   */
  SERVICE_MONITOR = 'ServiceMonitor',
  /**
   * `prometheus.io/scrape`, `prometheus.io/port` and `prometheus.io/path` annotations on the pods, for a
   * Prometheus configured with the classic `kubernetes_sd_configs` pod job (the Prometheus Helm chart's
   * default). No custom resources.
   */
  ANNOTATIONS = 'annotations',
}

/** Options of {@link Monitoring.prometheus}. */
export interface PrometheusMonitoringOptions {
  /**
   * How a Prometheus in the cluster discovers the metrics endpoints on Kubernetes.
   * @default KubernetesScrapeMode.SERVICE_MONITOR
   */
  readonly kubernetesScrape?: KubernetesScrapeMode;
  /**
   * How often every metrics endpoint is scraped (ServiceMonitor `interval`, compose `scrape_interval`);
   * the scrape timeout is 80% of it (at least 1 s).
   * @default Duration.seconds(15)
   */
  readonly interval?: Duration;
  /**
   * Namespace the cluster's Prometheus runs in: the NetworkPolicies admit its pods (selected by
   * `scraperPodLabels` in this namespace) to each service's metrics port, and nothing else.
   * @default 'monitoring' (where kube-prometheus-stack is usually installed)
   */
  readonly scraperNamespace?: string;
  /**
   * Labels of the cluster's Prometheus pods, for the NetworkPolicies' scraper edge.
   * @default { 'app.kubernetes.io/name': 'prometheus' } (what prometheus-operator puts on every Prometheus pod it runs)
   */
  readonly scraperPodLabels?: Record<string, string>;
  /**
   * Labels of each ServiceMonitor, for the Prometheus resource's `serviceMonitorSelector`.
   * @default { release: 'kube-prometheus-stack' } (kube-prometheus-stack selects ServiceMonitors labelled with its Helm release name; change it to yours)
   */
  readonly serviceMonitorLabels?: Record<string, string>;
  /**
   * On compose, also run Grafana with a provisioned Prometheus datasource and one dashboard per service
   * (request rate, error rate, latency percentiles, workers), published on the machine's loopback only.
   * @default false
   */
  readonly grafana?: boolean;
  /**
   * How long the compose Prometheus keeps samples (`--storage.tsdb.retention.time`), in whole days.
   * @default Duration.minutes(60 * 24 * 15) (15 days)
   */
  readonly retention?: Duration;
  /**
   * Port the compose Prometheus listens on (in host network mode, on the machine's loopback).
   * @default 9090
   */
  readonly prometheusPort?: number;
  /**
   * Host port Grafana is published on (bound to 127.0.0.1: reach it through an SSH tunnel).
   * @default 3000
   */
  readonly grafanaPort?: number;
}

/** The stack's monitoring, resolved: what every target reads. */
export interface MonitoringModel {
  /** Always `prometheus`. */
  readonly kind: 'prometheus';
  /** How Kubernetes scraping is discovered. */
  readonly kubernetesScrape: KubernetesScrapeMode;
  /** Scrape interval, in milliseconds (whole seconds). */
  readonly intervalMs: number;
  /** Scrape timeout, in milliseconds (whole seconds, shorter than or equal to the interval). */
  readonly timeoutMs: number;
  /** Namespace of the cluster's Prometheus pods. */
  readonly scraperNamespace: string;
  /** Labels of the cluster's Prometheus pods. */
  readonly scraperPodLabels: Readonly<Record<string, string>>;
  /** Labels of each ServiceMonitor. */
  readonly serviceMonitorLabels: Readonly<Record<string, string>>;
  /** Whether compose runs Grafana beside Prometheus. */
  readonly grafana: boolean;
  /** Compose Prometheus retention, in whole days. */
  readonly retentionDays: number;
  /** Compose Prometheus listen port. */
  readonly prometheusPort: number;
  /** Grafana's host port (loopback). */
  readonly grafanaPort: number;
}

const LABEL_KEY = /^([a-z0-9.-]+\/)?[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?$/;
const LABEL_VALUE = /^([A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?)?$/;
const DNS_LABEL = /^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/;
const WHERE = 'Monitoring.prometheus';

function labels(name: string, value: Record<string, string>, allowEmpty: boolean): Record<string, string> {
  if (value === null || typeof value !== 'object' || Array.isArray(value)) {
    throw new PyfleetError(WHERE, `${name} is ${JSON.stringify(value)}, not a record of labels`, `give e.g. ${name}: { app: 'prometheus' }`);
  }
  if (!allowEmpty && Object.keys(value).length === 0) {
    throw new PyfleetError(WHERE, `${name} is empty, so every pod of the scraper namespace could reach the metrics ports`, "give the Prometheus pods' labels, e.g. { 'app.kubernetes.io/name': 'prometheus' }");
  }
  for (const [k, v] of Object.entries(value)) {
    if (!LABEL_KEY.test(k) || typeof v !== 'string' || !LABEL_VALUE.test(v)) {
      throw new PyfleetError(WHERE, `${name} label ${k}=${v} is not a valid Kubernetes label`, 'use keys like "release" or "example.com/team" and values of at most 63 letters, digits, "-", "_" and "."');
    }
  }
  return Object.fromEntries(Object.keys(value).sort().map((k) => [k, value[k]]));
}

function port(name: string, value: number): number {
  if (!Number.isInteger(value) || value < 1024 || value > 65535) {
    throw new PyfleetError(WHERE, `${name} ${value} is not a port from 1024 to 65535`, `give e.g. ${name}: ${name === 'grafanaPort' ? 3000 : 9090} (Prometheus and Grafana run as non-root)`);
  }
  return value;
}

/**
 * A stack's monitoring (`new Stack(app, 'shop', { monitoring: Monitoring.prometheus() })`): every
 * service with pyfleet's metrics endpoint is scraped by Prometheus. On Kubernetes, ServiceMonitors (or
 * scrape annotations) for the cluster's Prometheus, and NetworkPolicies that admit it to the metrics
 * ports; on compose, a Prometheus service (and Grafana when asked) with a configuration made from the
 * model.
 */
export class Monitoring {
  /** Prometheus monitoring of every service that serves pyfleet's metrics. */
  public static prometheus(options: PrometheusMonitoringOptions = {}): Monitoring {
    const mode = options.kubernetesScrape ?? KubernetesScrapeMode.SERVICE_MONITOR;
    if (!Object.values(KubernetesScrapeMode).includes(mode)) {
      throw new PyfleetError(WHERE, `kubernetesScrape "${mode}" is unknown`, 'use KubernetesScrapeMode.SERVICE_MONITOR or KubernetesScrapeMode.ANNOTATIONS');
    }
    const interval = options.interval ?? Duration.seconds(15);
    if (!(interval instanceof Duration) || interval.millis < 1000 || interval.millis % 1000 !== 0) {
      throw new PyfleetError(WHERE, `interval ${interval} is not a whole number of seconds of at least 1 s`, 'give e.g. Duration.seconds(15)');
    }
    const retention = options.retention ?? Duration.minutes(60 * 24 * 15);
    if (!(retention instanceof Duration) || retention.millis < 86_400_000 || retention.millis % 86_400_000 !== 0) {
      throw new PyfleetError(WHERE, `retention ${retention} is not a whole number of days`, 'give e.g. Duration.minutes(60 * 24 * 30) for 30 days');
    }
    const namespace = options.scraperNamespace ?? 'monitoring';
    if (typeof namespace !== 'string' || !DNS_LABEL.test(namespace)) {
      throw new PyfleetError(WHERE, `scraperNamespace "${namespace}" is not a namespace name`, 'give the namespace Prometheus runs in, e.g. "monitoring"');
    }
    const grafana = options.grafana ?? false;
    if (typeof grafana !== 'boolean') throw new PyfleetError(WHERE, `grafana is ${JSON.stringify(grafana)}, not a boolean`, 'use grafana: true, or leave it out');
    return new Monitoring({
      kind: 'prometheus',
      kubernetesScrape: mode,
      intervalMs: interval.millis,
      timeoutMs: Math.max(1000, Math.floor((interval.millis * 0.8) / 1000) * 1000),
      scraperNamespace: namespace,
      scraperPodLabels: labels('scraperPodLabels', options.scraperPodLabels ?? { 'app.kubernetes.io/name': 'prometheus' }, false),
      serviceMonitorLabels: labels('serviceMonitorLabels', options.serviceMonitorLabels ?? { release: 'kube-prometheus-stack' }, true),
      grafana,
      retentionDays: retention.millis / 86_400_000,
      prometheusPort: port('prometheusPort', options.prometheusPort ?? 9090),
      grafanaPort: port('grafanaPort', options.grafanaPort ?? 3000),
    });
  }

  /** True for Monitoring values (also across copies of the library). */
  public static isMonitoring(x: unknown): x is Monitoring {
    return typeof x === 'object' && x !== null && (x as Record<symbol, unknown>)[MONITORING_SYMBOL] === true;
  }

  /** The resolved settings. */
  public readonly settings: MonitoringModel;

  private constructor(settings: MonitoringModel) {
    Object.defineProperty(this, MONITORING_SYMBOL, { value: true });
    this.settings = Object.freeze(settings);
  }
}

const MONITORING_SYMBOL = Symbol.for('pyfleet.Monitoring');
