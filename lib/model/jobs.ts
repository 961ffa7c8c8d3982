import { createHash } from 'crypto';
import { PyfleetError } from '../core/errors';
import type { Stack } from '../core/stack';
import type { Migration } from '../jobs/migration';
import type { Schedule } from '../jobs/schedule';
import type { EnvValue } from '../service/env';
import { MicroService } from '../service/microservice';
import { DataStoreKind } from '../data/base';
import { stackDataStores } from '../data/resolve';
import { CELERY_BROKER_ENV, CeleryWorker } from '../workers/celery';
import { stackMigrations, stackSchedules, stackWorkers } from '../workers/registry';
import type { Worker } from '../workers/worker';
import { hatchesOf } from './hatches';
import type { Hatches, ImageModel, ResourcesModel, ServiceModel } from './stack';

// The background part of the resolved model: workers (no port, nobody calls them), migrations (one
// run per release of a service, before it serves) and schedules (cron jobs).

/** A worker's command health check, resolved (durations in milliseconds). */
export interface WorkerHealthModel {
  /** Exec-form command that exits 0 while healthy. */
  readonly command: readonly string[];
  /** Time between checks. */
  readonly intervalMs: number;
  /** How long one check may take. */
  readonly timeoutMs: number;
  /** Grace period after start. */
  readonly startPeriodMs: number;
  /** Consecutive failures before unhealthy. */
  readonly failureThreshold: number;
}

/** One worker, resolved. */
export interface WorkerModel {
  /** The construct. */
  readonly construct: Worker;
  /** Construct path. */
  readonly path: string;
  /** Escape hatches recorded on the construct (`Kubernetes.of(...)`, `Compose.of(...)`). */
  readonly hatches: Hatches;
  /** Worker name: Deployment and compose service name, `app` label. */
  readonly name: string;
  /** `celery` for a CeleryWorker, else `worker`. */
  readonly kind: 'worker' | 'celery';
  /** The image it runs. */
  readonly image: ImageModel;
  /** Pods or containers. */
  readonly replicas: number;
  /** Container command (entrypoint), if set (a CeleryWorker always sets its worker command). */
  readonly command?: readonly string[];
  /** Container arguments, if set. */
  readonly args?: readonly string[];
  /** The user's environment, sorted by name (URLs of `calls` are added by each target). */
  readonly env: Readonly<Record<string, EnvValue>>;
  /** Names of the services it calls, in declaration order. */
  readonly calls: readonly string[];
  /** Names of the backing services (Postgres, Redis) it calls, in declaration order. */
  readonly stores: readonly string[];
  /** The Redis whose URL is the Celery broker (`CELERY_BROKER_URL`), for a Celery worker calling one. */
  readonly broker?: string;
  /** Non-root UID and GID. */
  readonly runAsUser: number;
  /** Limits and requests. */
  readonly resources: ResourcesModel;
  /** The health check, or undefined for none. */
  readonly health?: WorkerHealthModel;
  /** Time the worker gets after SIGTERM. */
  readonly gracefulShutdownMs: number;
  /** Graceful shutdown + 5 s. */
  readonly terminationGracePeriodMs: number;
  /** Compose restart policy. */
  readonly restartPolicy: string;
  /** Labels of its workload and pods. */
  readonly labels: Readonly<Record<string, string>>;
  /** Labels selecting its pods: `app`. */
  readonly selector: Readonly<Record<string, string>>;
  /**
   * The Prometheus metrics endpoint a CeleryWorker serves (`metrics`, on by default), or undefined:
   * its container port, and the `version` label of its series (the image tag, as a label value).
   */
  readonly metrics?: {
    /** Container port of `/metrics`. */
    readonly port: number;
    /** The `version` label of its series and pods: the image tag. */
    readonly version: string;
  };
}

/** The `version` label of a worker's metrics: its image's tag (or digest), made a valid label value. */
export function workerVersionLabel(reference: string): string {
  const last = reference.slice(reference.lastIndexOf('/') + 1);
  const at = last.indexOf('@');
  const raw = at >= 0 ? last.slice(at + 1).replace(/^sha256:/, '').slice(0, 12) : (last.includes(':') ? last.slice(last.indexOf(':') + 1) : 'latest');
  const clean = raw.replace(/[^A-Za-z0-9._-]/g, '-').slice(0, 63).replace(/^[^A-Za-z0-9]+|[^A-Za-z0-9]+$/g, '');
  return clean || 'latest';
}

/** One run of a migration: for one version (release) of its service. */
export interface MigrationModel {
  /** The construct. */
  readonly construct: Migration;
  /** Construct path of the migration. */
  readonly path: string;
  /** Escape hatches recorded on the construct (`Kubernetes.of(...)`, `Compose.of(...)`). */
  readonly hatches: Hatches;
  /** The migration's name. */
  readonly name: string;
  /** The service it belongs to. */
  readonly service: string;
  /** The version (release) it runs for. */
  readonly version: string;
  /** The version's workload name (`<service>-<version>`), whose pods or containers wait for it. */
  readonly workloadName: string;
  /** Content hash of the release: image, command and environment (hex, 10 characters). */
  readonly hash: string;
  /** The Kubernetes Job's name: `<workload>-<migration>` (cut to fit) and the hash, at most 63 characters. */
  readonly jobName: string;
  /** The compose one-shot service's name: `<workload>-<migration>`. */
  readonly composeName: string;
  /** The release's image. */
  readonly image: ImageModel;
  /** The command. */
  readonly command: readonly string[];
  /** The release's environment, then the migration's own, sorted by name. */
  readonly env: Readonly<Record<string, EnvValue>>;
  /** Services whose URLs are injected: the service's calls, then the migration's own. */
  readonly calls: readonly string[];
  /** Backing services whose variables are injected: the service's, then the migration's own. */
  readonly stores: readonly string[];
  /** The longest a run may take, in seconds. */
  readonly timeoutSeconds: number;
  /** Retries (Job backoffLimit). */
  readonly retries: number;
  /** The service's limits and requests. */
  readonly resources: ResourcesModel;
  /** The service's UID. */
  readonly runAsUser: number;
  /** Labels of the Job and its pod (`app` is `<service>-<migration>`: the Service never selects them). */
  readonly labels: Readonly<Record<string, string>>;
  /** Labels selecting the pods of every run of this migration: `app`. */
  readonly selector: Readonly<Record<string, string>>;
}

/** One schedule, resolved. */
export interface ScheduleModel {
  /** The construct. */
  readonly construct: Schedule;
  /** Construct path. */
  readonly path: string;
  /** Escape hatches recorded on the construct (`Kubernetes.of(...)`, `Compose.of(...)`). */
  readonly hatches: Hatches;
  /** Name (the CronJob's). */
  readonly name: string;
  /** Five-field cron expression. */
  readonly cron: string;
  /** IANA time zone. */
  readonly timeZone: string;
  /** The command. */
  readonly command: readonly string[];
  /** The workload it runs as: `kind` (`service` or `worker`) and `name`. */
  readonly runsAs: {
    /** `service` or `worker`. */
    readonly kind: 'service' | 'worker';
    /** The service's or worker's name (also the ServiceAccount its pods run as). */
    readonly name: string;
  };
  /** The image it runs (the service's default version's, or the worker's). */
  readonly image: ImageModel;
  /** Environment, sorted (the default version's or the worker's). */
  readonly env: Readonly<Record<string, EnvValue>>;
  /** Services whose URLs are injected (those of what it runs as). */
  readonly calls: readonly string[];
  /** Backing services whose variables are injected (those of what it runs as). */
  readonly stores: readonly string[];
  /** Timeout of one run, in seconds (activeDeadlineSeconds). */
  readonly timeoutSeconds: number;
  /** Retries (backoffLimit). */
  readonly retries: number;
  /** startingDeadlineSeconds. */
  readonly startingDeadlineSeconds: number;
  /** Limits and requests (of what it runs as). */
  readonly resources: ResourcesModel;
  /** UID. */
  readonly runAsUser: number;
  /** Labels of the CronJob and its pods. */
  readonly labels: Readonly<Record<string, string>>;
}

/** Resolves images (shared with the services' resolution). */
export type ImageResolver = (image: import('../service/image').ContainerImage, where: string, name: string) => ImageModel;

function sorted(env: Readonly<Record<string, EnvValue>>): Record<string, EnvValue> {
  const out: Record<string, EnvValue> = {};
  for (const k of Object.keys(env).sort()) out[k] = env[k];
  return out;
}

function baseLabels(stack: Stack, app: string, component: string): Record<string, string> {
  return {
    ...stack.extraLabels,
    'app': app,
    'app.kubernetes.io/name': app,
    'app.kubernetes.io/component': component,
    'app.kubernetes.io/part-of': stack.stackName,
    'app.kubernetes.io/managed-by': 'pyfleet',
  };
}

function resources(c: { cpuLimit: { millis: number }; cpuRequest: { millis: number }; memoryLimit: { mebibytes: number }; memoryRequest: { mebibytes: number } }): ResourcesModel {
  return { cpuLimitMillis: c.cpuLimit.millis, cpuRequestMillis: c.cpuRequest.millis, memoryLimitMiB: c.memoryLimit.mebibytes, memoryRequestMiB: c.memoryRequest.mebibytes };
}

function envKey(env: Readonly<Record<string, EnvValue>>): string {
  return Object.keys(env).sort().map((k) => {
    const v = env[k];
    return v.secret ? `${k}=secret:${v.secret.name}/${v.secret.key}` : `${k}=${v.value}`;
  }).join('\0');
}

/** The `app` label of a migration's pods: `<service>-<migration>` (at most 63 characters: 50 + 1 + 12). */
export function migrationApp(service: string, migration: string): string {
  return `${service}-${migration}`;
}

/** A Job name of at most 63 characters: `<base>-<hash>`, the base cut (and trimmed of `-`) to fit. */
function jobName(base: string, hash: string): string {
  const room = 63 - hash.length - 1;
  return `${base.slice(0, room).replace(/-+$/, '')}-${hash}`;
}

/** The workers, migration runs and schedules of a stack. */
export function resolveBackground(stack: Stack, services: readonly ServiceModel[], image: ImageResolver): {
  workers: WorkerModel[]; migrations: MigrationModel[]; schedules: ScheduleModel[];
} {
  const workers: WorkerModel[] = stackWorkers(stack).map((w) => {
    const hc = w.healthCheck;
    const celery = w instanceof CeleryWorker;
    const img = image(w.image, w.node.path, w.workerName);
    const metricsPort = celery ? (w as CeleryWorker).metricsPort : undefined;
    return {
      construct: w,
      path: w.node.path,
      hatches: hatchesOf(w),
      name: w.workerName,
      kind: celery ? 'celery' : 'worker',
      image: img,
      replicas: w.replicas,
      command: celery ? (w as CeleryWorker).workerCommand : w.command ? [...w.command] : undefined,
      args: w.args ? [...w.args] : undefined,
      env: sorted(w.env),
      calls: w.calls.map((c) => c.serviceName),
      stores: w.storeCalls.map((d) => d.storeName),
      broker: celery && !(CELERY_BROKER_ENV in w.env) ? w.storeCalls.find((d) => d.kind === DataStoreKind.REDIS)?.storeName : undefined,
      runAsUser: w.runAsUser,
      resources: resources(w),
      health: hc.command ? { command: [...hc.command], intervalMs: hc.interval.millis, timeoutMs: hc.timeout.millis, startPeriodMs: hc.startPeriod.millis, failureThreshold: hc.failureThreshold } : undefined,
      gracefulShutdownMs: w.gracefulShutdown.millis,
      terminationGracePeriodMs: w.terminationGracePeriod.millis,
      restartPolicy: w.restartPolicy,
      labels: baseLabels(stack, w.workerName, 'worker'),
      selector: { app: w.workerName },
      metrics: metricsPort !== undefined ? { port: metricsPort, version: workerVersionLabel(img.reference) } : undefined,
    };
  });

  const byName = new Map(services.map((s) => [s.name, s]));
  const migrations: MigrationModel[] = [];
  for (const m of stackMigrations(stack)) {
    const svc = byName.get(m.of.serviceName);
    if (!svc || svc.construct !== m.of) continue; // another stack's service: reported by validation
    const calls = [...new Set([...svc.calls, ...m.calls.map((c) => c.serviceName)])];
    const stores = [...new Set([...svc.stores, ...m.storeCalls.map((d) => d.storeName)])];
    for (const v of svc.versions) {
      const env = sorted({ ...v.env, ...m.env });
      const hash = createHash('sha256').update([v.image.reference, m.command.join('\0'), envKey(env), calls.join(','), stores.join(',')].join('\n')).digest('hex').slice(0, 10);
      const base = `${v.workloadName}-${m.migrationName}`;
      migrations.push({
        construct: m,
        path: m.node.path,
        hatches: hatchesOf(m),
        name: m.migrationName,
        service: svc.name,
        version: v.name,
        workloadName: v.workloadName,
        hash,
        jobName: jobName(base, hash),
        composeName: base,
        image: v.image,
        command: [...m.command],
        env,
        calls,
        stores,
        timeoutSeconds: m.timeout.wholeSeconds,
        retries: m.retries,
        resources: svc.settings.resources,
        runAsUser: svc.settings.runAsUser,
        selector: { app: migrationApp(svc.name, m.migrationName) },
        labels: { ...baseLabels(stack, migrationApp(svc.name, m.migrationName), 'migration'), 'pyfleet.dev/service': svc.name, 'version': v.name, 'pyfleet.dev/migration': m.migrationName, 'pyfleet.dev/release': hash },
      });
    }
  }

  const schedules: ScheduleModel[] = [];
  for (const s of stackSchedules(stack)) {
    if (s.of.stack !== stack) continue; // reported by validation
    let runsAs: ScheduleModel['runsAs'];
    let img: ImageModel;
    let env: Record<string, EnvValue>;
    let calls: readonly string[];
    let stores: readonly string[];
    let res: ResourcesModel;
    let uid: number;
    if (MicroService.isMicroService(s.of)) {
      const svc = byName.get(s.of.serviceName)!;
      const v = svc.versions[0];
      runsAs = { kind: 'service', name: svc.name };
      img = v.image; env = { ...v.env }; calls = svc.calls; stores = svc.stores; res = svc.settings.resources; uid = svc.settings.runAsUser;
    } else {
      const w = workers.find((x) => x.construct === s.of)!;
      runsAs = { kind: 'worker', name: w.name };
      img = w.image; env = { ...w.env }; calls = w.calls; stores = w.stores; res = w.resources; uid = w.runAsUser;
    }
    schedules.push({
      construct: s,
      path: s.node.path,
      hatches: hatchesOf(s),
      name: s.scheduleName,
      cron: s.cron,
      timeZone: s.timeZone,
      command: [...s.command],
      runsAs,
      image: img,
      env: sorted(env),
      calls: [...calls],
      stores: [...stores],
      timeoutSeconds: s.timeout.wholeSeconds,
      retries: s.retries,
      startingDeadlineSeconds: s.startingDeadline.wholeSeconds,
      resources: res,
      runAsUser: uid,
      labels: { ...baseLabels(stack, s.scheduleName, 'schedule'), 'pyfleet.dev/runs-as': runsAs.name },
    });
  }
  return { workers, migrations, schedules };
}

/**
 * Cross-object rules of workers, migrations and schedules: names shared with services, calls to
 * another stack, and each construct's own rules (broker, grace period, stacks, images).
 */
export function validateBackground(stacks: readonly Stack[]): PyfleetError[] {
  const errors: PyfleetError[] = [];
  for (const stack of stacks) {
    const names = new Map<string, string>();
    for (const d of stackDataStores(stack)) names.set(d.storeName, d.node.path);
    for (const s of stack.services) {
      names.set(s.serviceName, s.node.path);
      for (const v of s.versions) names.set(v.workloadName, v.node.path);
    }
    for (const w of stackWorkers(stack)) {
      const other = names.get(w.workerName);
      if (other) {
        errors.push(new PyfleetError(w.node.path, `worker "${w.workerName}" has the name of "${other}": their Deployments and compose services would collide`, 'give the worker its own name, e.g. "<service>-worker"'));
      }
      names.set(w.workerName, w.node.path);
      for (const c of [...w.calls, ...w.storeCalls]) {
        if (c.stack !== stack) {
          errors.push(new PyfleetError(w.node.path, `calls "${c.node.path}" in stack "${c.stack.stackName}"; each stack is its own compose project and namespace`, `move the worker into stack "${c.stack.stackName}", or set the URL through env yourself`));
        }
      }
      errors.push(...w._problems());
    }
    const composeNames = new Map<string, string>();
    for (const m of stackMigrations(stack)) {
      errors.push(...m._problems());
      for (const c of [...m.calls, ...m.storeCalls]) {
        if (c.stack !== stack) errors.push(new PyfleetError(m.node.path, `calls "${c.node.path}" of stack "${c.stack.stackName}"`, 'call services of the same stack'));
      }
      for (const v of m.of.versions) {
        const n = `${v.workloadName}-${m.migrationName}`;
        const other = names.get(n) ?? composeNames.get(n);
        if (other) errors.push(new PyfleetError(m.node.path, `the migration's compose service "${n}" has the name of "${other}"`, 'rename the migration'));
        composeNames.set(n, m.node.path);
      }
      const app = migrationApp(m.of.serviceName, m.migrationName);
      const clash = names.get(app);
      if (clash) errors.push(new PyfleetError(m.node.path, `the migration's pods are labelled app=${app}, the name of "${clash}"`, 'rename the migration'));
    }
    for (const s of stackSchedules(stack)) {
      errors.push(...s._problems());
      const clash = names.get(s.scheduleName);
      if (clash) errors.push(new PyfleetError(s.node.path, `schedule "${s.scheduleName}" has the name of "${clash}": their objects would collide`, 'give the schedule its own name'));
      names.set(s.scheduleName, s.node.path);
    }
  }
  return errors;
}
