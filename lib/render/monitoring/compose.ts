import { PyfleetError } from '../../core/errors';
import { ComposeNetworkMode } from '../../core/stack';
import { Cpu, Duration, Size } from '../../core/units';
import type { Artifact } from '../../model/target';
import type { StackModel } from '../../model/stack';
import { metricsPort } from '../../model/traffic';
import { attach, composeLogging, orderServiceKeys, sortObject, swarmConfigName, swarmDeploy, writableTmp } from '../compose';
import { composeName } from '../compose/gateway';
import type { NetworkAttachment } from '../compose/networks';
import type { ComposeService } from '../compose/types';
import { dumpDocument } from '../yaml';
import { grafanaDashboard, workerDashboard } from './grafana';

// Monitoring on compose (`Monitoring.prometheus()` on a stack): a `prometheus` service that scrapes
// every version of every service with pyfleet's metrics endpoint, with a configuration made from the
// model (`<stack>.compose/prometheus.yml`), its data on the named volume `prometheus-data`; with
// `grafana: true`, a `grafana` service with a provisioned Prometheus datasource and one dashboard per
// service (`<stack>.compose/grafana/...`), its state on `grafana-data`, published on the machine's
// loopback only.
//
// Scrape targets (one job per service and per Celery worker, every series labelled `app` and `version`):
// - bridge: Docker's DNS, `dns_sd_configs` type A on each version's container name, so every replica
//   of a version is a target of its own (a name resolves to all of its containers);
// - overlay (swarm): the same on `tasks.<name>`, which resolves to every task (the plain name is the
//   service's virtual IP, one task per scrape);
// - host network mode: `127.0.0.1:<metrics port>` (one container per service there, and the metrics
//   endpoint listens on loopback).
//
// Generated files reach the containers as read-only bind mounts with docker compose (1.29 and v2),
// and as swarm configs on an overlay stack (a bind mount would need the file on every node), as the
// gateway's configuration does.

/** Compose service name of the Prometheus container. */
export const PROMETHEUS_SERVICE = 'prometheus';
/** Compose service name of the Grafana container. */
export const GRAFANA_SERVICE = 'grafana';
/** Prometheus image: the release Debian ships here (2.42), whose `promtool` checks the generated configuration in the tests. */
export const PROMETHEUS_IMAGE = 'prom/prometheus:v2.42.0';
/** Grafana image (pinned). */
export const GRAFANA_IMAGE = 'grafana/grafana-oss:11.2.0';
/** The Prometheus image's unprivileged user (`nobody`), which owns /prometheus in the image. */
const PROMETHEUS_USER = '65534:65534';
/** The Grafana image's user (`grafana`, uid 472, group root as the image sets it up: /var/lib/grafana is group-writable). */
const GRAFANA_USER = '472:0';
/** Grafana's listen port inside its container. */
const GRAFANA_CONTAINER_PORT = 3000;
/** Named volumes of the monitoring services. */
export const PROMETHEUS_VOLUME = 'prometheus-data';
/** Grafana's state (users, sessions). */
export const GRAFANA_VOLUME = 'grafana-data';
/** The deploying shell's variable that sets Grafana's admin password. */
export const GRAFANA_PASSWORD_VARIABLE = 'GRAFANA_ADMIN_PASSWORD';

const PROMETHEUS_RESOURCES = { cpuLimitMillis: 500, cpuRequestMillis: 100, memoryLimitMiB: 512, memoryReservationMiB: 128 };
const GRAFANA_RESOURCES = { cpuLimitMillis: 500, cpuRequestMillis: 50, memoryLimitMiB: 256, memoryReservationMiB: 64 };
const HEALTH = { intervalMs: 10_000, timeoutMs: 3_000, startPeriodMs: 10_000, retries: 3 };

/** One container Prometheus scrapes: a version of a service with metrics. */
export interface ScrapedContainer {
  /** Service name (`app` label). */
  readonly service: string;
  /** Version name (`version` label). */
  readonly version: string;
  /** The version's compose service name (its containers' DNS name). */
  readonly container: string;
  /** Its metrics port. */
  readonly port: number;
}

/**
 * The containers the compose Prometheus scrapes, in the stack's order (none without monitoring): every
 * version of a service with metrics, then every CeleryWorker with metrics (its `app` is the worker's
 * name, its `version` the image tag).
 */
export function scrapedContainers(model: StackModel): ScrapedContainer[] {
  if (!model.monitoring) return [];
  return [
    ...model.services.flatMap((s) => {
      const port = metricsPort(s);
      return port ? s.versions.map((v) => ({ service: s.name, version: v.name, container: composeName(v.construct), port: port.port })) : [];
    }),
    ...model.workers.flatMap((w) => (w.metrics ? [{ service: w.name, version: w.metrics.version, container: w.name, port: w.metrics.port }] : [])),
  ];
}

/** Whether the stack's compose project runs Grafana. */
export function grafanaEnabled(model: StackModel): boolean {
  return model.monitoring?.grafana === true;
}

/** Whether Grafana publishes its port (bridge: on the host's loopback; host mode binds loopback itself; a swarm's routing mesh cannot bind loopback, so not there). */
export function grafanaPublished(model: StackModel): boolean {
  return grafanaEnabled(model) && model.compose.networkMode === ComposeNetworkMode.BRIDGE;
}

function goDuration(ms: number): string {
  return Duration.millis(ms).toGoString();
}

/** The Prometheus configuration of the stack's compose project, as an object (`prometheus.yml`). */
export function prometheusConfig(model: StackModel): Record<string, unknown> {
  const mon = model.monitoring!;
  const mode = model.compose.networkMode;
  const byService = new Map<string, ScrapedContainer[]>();
  for (const c of scrapedContainers(model)) byService.set(c.service, [...(byService.get(c.service) ?? []), c]);
  const jobs = [...byService.entries()].map(([service, containers]) => {
    const job: Record<string, unknown> = {
      job_name: service,
      scrape_interval: goDuration(mon.intervalMs),
      scrape_timeout: goDuration(mon.timeoutMs),
      metrics_path: '/metrics',
      scheme: 'http',
    };
    if (mode === ComposeNetworkMode.HOST) {
      job.static_configs = containers.map((c) => ({ targets: [`127.0.0.1:${c.port}`], labels: { app: service, version: c.version } }));
    } else {
      const name = (c: ScrapedContainer): string => (mode === ComposeNetworkMode.OVERLAY ? `tasks.${c.container}` : c.container);
      job.dns_sd_configs = [{ names: containers.map(name), type: 'A', port: containers[0].port, refresh_interval: '30s' }];
      // `__meta_dns_name` is the name a target was found under: it says which version it is.
      job.relabel_configs = [
        { target_label: 'app', replacement: service },
        ...containers.map((c) => ({ source_labels: ['__meta_dns_name'], regex: name(c).replace(/\./g, '\\.'), target_label: 'version', replacement: c.version })),
      ];
    }
    return job;
  });
  return {
    global: { scrape_interval: goDuration(mon.intervalMs), scrape_timeout: goDuration(mon.timeoutMs), evaluation_interval: goDuration(mon.intervalMs), external_labels: { stack: model.name } },
    scrape_configs: jobs,
  };
}

function prometheusAddress(model: StackModel): string {
  const host = model.compose.networkMode === ComposeNetworkMode.HOST ? '127.0.0.1' : PROMETHEUS_SERVICE;
  return `http://${host}:${model.monitoring!.prometheusPort}`;
}

/** Grafana's provisioning files: the datasource, the dashboard provider and one dashboard per service (and Celery worker) with metrics. */
function grafanaFiles(model: StackModel, dir: string): Array<[Artifact, string]> {
  const mon = model.monitoring!;
  const datasource = {
    apiVersion: 1,
    datasources: [{ name: 'Prometheus', uid: 'prometheus', type: 'prometheus', access: 'proxy', url: prometheusAddress(model), isDefault: true, editable: false, jsonData: { timeInterval: goDuration(mon.intervalMs) } }],
  };
  const provider = {
    apiVersion: 1,
    providers: [{ name: 'pyfleet', folder: model.name, type: 'file', disableDeletion: true, allowUiUpdates: false, updateIntervalSeconds: 60, options: { path: '/etc/grafana/dashboards', foldersFromFilesStructure: false } }],
  };
  const out: Array<[Artifact, string]> = [
    [{ path: `${dir}/grafana/datasources.yml`, content: dumpDocument(datasource) }, '/etc/grafana/provisioning/datasources/pyfleet.yml'],
    [{ path: `${dir}/grafana/dashboards.yml`, content: dumpDocument(provider) }, '/etc/grafana/provisioning/dashboards/pyfleet.yml'],
  ];
  for (const s of model.services.filter((x) => metricsPort(x))) {
    out.push([{ path: `${dir}/grafana/dashboards/${s.name}.json`, content: JSON.stringify(grafanaDashboard(model, s), null, 2) + '\n' }, `/etc/grafana/dashboards/${s.name}.json`]);
  }
  for (const w of model.workers.filter((x) => x.metrics)) {
    out.push([{ path: `${dir}/grafana/dashboards/${w.name}.json`, content: JSON.stringify(workerDashboard(model, w), null, 2) + '\n' }, `/etc/grafana/dashboards/${w.name}.json`]);
  }
  return out;
}

function mounts(service: Record<string, unknown>, files: Array<[Artifact, string]>, swarm: boolean): void {
  const volumes = (service.volumes as unknown[] | undefined) ?? [];
  if (swarm) service.configs = files.map(([file, target]) => ({ source: swarmConfigName(file), target, mode: 0o444 }));
  else for (const [file, target] of files) volumes.push({ type: 'bind', source: `./${file.path}`, target, read_only: true });
  service.volumes = volumes;
}

function hardened(model: StackModel, service: Record<string, unknown>, resources: typeof PROMETHEUS_RESOURCES, user: string, component: string): void {
  const swarm = model.compose.networkMode === ComposeNetworkMode.OVERLAY;
  service.deploy = {
    resources: {
      limits: { cpus: Cpu.millis(resources.cpuLimitMillis).toCompose(), memory: Size.mebibytes(resources.memoryLimitMiB).toCompose() },
      reservations: { cpus: Cpu.millis(resources.cpuRequestMillis).toCompose(), memory: Size.mebibytes(resources.memoryReservationMiB).toCompose() },
    },
    ...(swarm ? swarmDeploy(model, { intervalMs: HEALTH.intervalMs, startPeriodMs: HEALTH.startPeriodMs, failureThreshold: HEALTH.retries }, 'unless-stopped') : {}),
  };
  if (!swarm) service.restart = 'unless-stopped';
  service.user = user;
  service.read_only = true;
  writableTmp(service, swarm);
  service.cap_drop = ['ALL'];
  if (!swarm) service.security_opt = ['no-new-privileges:true'];
  service.stop_signal = 'SIGTERM';
  service.stop_grace_period = '30s';
  service.logging = composeLogging(model);
  service.labels = sortObject({ 'app': component, 'app.kubernetes.io/component': 'monitoring', 'app.kubernetes.io/managed-by': 'pyfleet', 'app.kubernetes.io/part-of': model.name });
}

function healthcheck(url: string): Record<string, unknown> {
  return {
    test: ['CMD', 'wget', '-q', '-O', '/dev/null', url],
    interval: goDuration(HEALTH.intervalMs), timeout: goDuration(HEALTH.timeoutMs), retries: HEALTH.retries, start_period: goDuration(HEALTH.startPeriodMs), start_interval: '1s',
  };
}

/** What monitoring adds to a compose project: services, generated files and named volumes. */
export interface MonitoringCompose {
  /** Compose services by name (`prometheus`, and `grafana` when asked). */
  readonly services: Record<string, ComposeService>;
  /** Generated files (the Prometheus configuration, Grafana's provisioning), relative to the outdir. */
  readonly files: Artifact[];
  /** Named volumes the services keep their data on. */
  readonly volumes: Record<string, Record<string, never>>;
}

/** The compose services of the stack's monitoring (nothing without it). */
export function monitoringCompose(model: StackModel, networks: (service: string) => Record<string, NetworkAttachment> | undefined): MonitoringCompose {
  const mon = model.monitoring;
  if (!mon) return { services: {}, files: [], volumes: {} };
  const mode = model.compose.networkMode;
  const swarm = mode === ComposeNetworkMode.OVERLAY;
  const dir = `${model.name}.compose`;
  const config: Artifact = { path: `${dir}/prometheus.yml`, content: `# Generated by pyfleet for stack "${model.name}" from its services and versions.\n` + dumpDocument(prometheusConfig(model)) };
  const files: Artifact[] = [config];
  const listen = mode === ComposeNetworkMode.HOST ? `127.0.0.1:${mon.prometheusPort}` : `:${mon.prometheusPort}`;

  const prometheus: Record<string, unknown> = { image: PROMETHEUS_IMAGE, volumes: [{ type: 'volume', source: PROMETHEUS_VOLUME, target: '/prometheus' }] };
  mounts(prometheus, [[config, '/etc/prometheus/prometheus.yml']], swarm);
  if (mode === ComposeNetworkMode.HOST) prometheus.network_mode = 'host';
  else attach(prometheus, networks(PROMETHEUS_SERVICE)!);
  prometheus.command = ['--config.file=/etc/prometheus/prometheus.yml', '--storage.tsdb.path=/prometheus', `--storage.tsdb.retention.time=${mon.retentionDays}d`, `--web.listen-address=${listen}`];
  prometheus.healthcheck = healthcheck(`http://127.0.0.1:${mon.prometheusPort}/-/ready`);
  hardened(model, prometheus, PROMETHEUS_RESOURCES, PROMETHEUS_USER, PROMETHEUS_SERVICE);
  const services: Record<string, ComposeService> = { [PROMETHEUS_SERVICE]: orderServiceKeys(prometheus) as ComposeService };
  const volumes: Record<string, Record<string, never>> = { [PROMETHEUS_VOLUME]: {} };

  if (mon.grafana) {
    const provisioning = grafanaFiles(model, dir);
    files.push(...provisioning.map(([f]) => f));
    const port = mode === ComposeNetworkMode.HOST ? mon.grafanaPort : GRAFANA_CONTAINER_PORT;
    const grafana: Record<string, unknown> = { image: GRAFANA_IMAGE, volumes: [{ type: 'volume', source: GRAFANA_VOLUME, target: '/var/lib/grafana' }] };
    if (!swarm) grafana.depends_on = { [PROMETHEUS_SERVICE]: { condition: 'service_healthy', restart: true } };
    mounts(grafana, provisioning, swarm);
    grafana.environment = sortObject({
      GF_SECURITY_ADMIN_PASSWORD: `\${${GRAFANA_PASSWORD_VARIABLE}:?set ${GRAFANA_PASSWORD_VARIABLE} to the Grafana admin password}`,
      GF_SERVER_HTTP_PORT: String(port),
      GF_SERVER_HTTP_ADDR: mode === ComposeNetworkMode.HOST ? '127.0.0.1' : '0.0.0.0',
      GF_USERS_ALLOW_SIGN_UP: 'false',
      GF_AUTH_ANONYMOUS_ENABLED: 'false',
      GF_ANALYTICS_REPORTING_ENABLED: 'false',
      GF_ANALYTICS_CHECK_FOR_UPDATES: 'false',
      GF_LOG_MODE: 'console',
    });
    if (grafanaPublished(model)) grafana.ports = [`127.0.0.1:${mon.grafanaPort}:${GRAFANA_CONTAINER_PORT}/tcp`];
    if (mode === ComposeNetworkMode.HOST) grafana.network_mode = 'host';
    else attach(grafana, networks(GRAFANA_SERVICE)!);
    grafana.healthcheck = healthcheck(`http://127.0.0.1:${port}/api/health`);
    hardened(model, grafana, GRAFANA_RESOURCES, GRAFANA_USER, GRAFANA_SERVICE);
    services[GRAFANA_SERVICE] = orderServiceKeys(grafana) as ComposeService;
    volumes[GRAFANA_VOLUME] = {};
  }
  return { services, files, volumes };
}

/** Compose rules of monitoring: the names and host ports its services take. */
export function monitoringComposeProblems(models: readonly StackModel[]): PyfleetError[] {
  const errors: PyfleetError[] = [];
  for (const model of models) {
    const mon = model.monitoring;
    if (!mon || !model.compose.enabled) continue;
    const taken = [PROMETHEUS_SERVICE, ...(mon.grafana ? [GRAFANA_SERVICE] : [])];
    for (const s of model.services) {
      const names = [s.name, ...s.versions.map((v) => v.workloadName)];
      const clash = taken.find((t) => names.includes(t));
      if (clash) {
        errors.push(new PyfleetError(s.path, `the compose service "${clash}" of the stack's monitoring would share its name with this service's container`,
          `rename the service, or turn compose off for the stack (compose: { enabled: false })`));
      }
      if (model.compose.networkMode !== ComposeNetworkMode.HOST) continue;
      const ports = [s.settings.port, ...s.settings.additionalPorts.map((p) => p.port)];
      for (const [name, port] of [['prometheusPort', mon.prometheusPort], ...(mon.grafana ? [['grafanaPort', mon.grafanaPort]] : [])] as Array<[string, number]>) {
        if (ports.includes(port)) {
          errors.push(new PyfleetError(s.path, `port ${port} is also the compose Prometheus${name === 'grafanaPort' ? "'s Grafana" : ''} port (${name}) in host network mode, where every container binds the host's ports`,
            `give Monitoring.prometheus({ ${name}: ... }) another port, or the service another port`));
        }
      }
    }
  }
  return errors;
}
