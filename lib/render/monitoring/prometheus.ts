import { Duration } from '../../core/units';
import type { ServiceModel, StackModel, VersionModel } from '../../model/stack';

// Prometheus scrape jobs for the metrics endpoints pyfleet generates, read from the model: one job per
// service with a metrics port, one static target per version, for a Prometheus of the user's own
// (`host` says where each version is reached from it). A stack with `Monitoring.prometheus()` gets
// its compose Prometheus configuration from lib/render/monitoring/compose.ts instead (Docker DNS
// discovery of every replica) and ServiceMonitors on Kubernetes (lib/render/monitoring/kubernetes.ts).

/** One `scrape_configs` entry of a Prometheus configuration (the fields pyfleet writes). */
export interface PrometheusScrapeJob {
  /** `job_name`: the service name. */
  readonly job_name: string;
  /** `scrape_interval`, Go duration (`15s`). */
  readonly scrape_interval: string;
  /** `scrape_timeout`, Go duration; shorter than the interval. */
  readonly scrape_timeout: string;
  /** `metrics_path`: always `/metrics`. */
  readonly metrics_path: string;
  /** One static target group per version, labelled with the stack, the app (service) and the version. */
  readonly static_configs: ReadonlyArray<{
    /** `host:port` of the version's metrics endpoint. */
    readonly targets: readonly string[];
    /** `stack`, `app` and `version` labels added to every series scraped from it (`app` and `version` as the compose Prometheus and the ServiceMonitors label them). */
    readonly labels: Readonly<Record<string, string>>;
  }>;
}

/** Options of {@link prometheusScrapeJobs}. */
export interface PrometheusScrapeOptions {
  /**
   * The host (name or address) a version's metrics endpoint is reached at from where Prometheus runs.
   * @default - 127.0.0.1 (a Prometheus on the same machine, as in compose host network mode)
   */
  readonly host?: (service: ServiceModel, version: VersionModel) => string;
  /**
   * How often every target is scraped.
   * @default Duration.seconds(15)
   */
  readonly interval?: Duration;
}

/** The scrape jobs of every service of the stack that serves pyfleet's metrics, in the stack's order. */
export function prometheusScrapeJobs(model: StackModel, options: PrometheusScrapeOptions = {}): PrometheusScrapeJob[] {
  const interval = options.interval ?? Duration.seconds(15);
  const timeout = Duration.millis(Math.max(1000, Math.floor(interval.millis * 0.8)));
  const host = options.host ?? (() => '127.0.0.1');
  return model.services.filter((s) => s.settings.metricsPort !== undefined).map((s) => ({
    job_name: s.name,
    scrape_interval: interval.toGoString(),
    scrape_timeout: timeout.toGoString(),
    metrics_path: '/metrics',
    static_configs: s.versions.map((v) => ({
      targets: [`${host(s, v)}:${s.settings.metricsPort}`],
      labels: { stack: model.name, app: s.name, version: v.name },
    })),
  }));
}
