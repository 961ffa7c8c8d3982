import { PyfleetError } from '../../core/errors';
import { ComposeNetworkMode } from '../../core/stack';
import { Cpu, Duration, Size } from '../../core/units';
import type { MigrationModel, WorkerModel } from '../../model/jobs';
import type { ImageModel, ResourcesModel, StackModel } from '../../model/stack';
import type { EnvValue } from '../../service/env';
import { applyOverrides, composeServiceNames, composeLogging, orderServiceKeys, secretVariable, sortObject, writableTmp, attach } from './index';
import { passwordReference } from './data';
import type { NetworkPlan } from './networks';
import type { ComposeService } from './types';
import { METRICS_HOST_ENV } from '../../python/recipe';
import { dictionary } from '../../core/dictionary';

// Workers and migrations on compose. A worker is a compose service like a version's, without ports.
// A migration is a one-shot service per release (`restart: "no"`), run with the release's image and
// environment; the release's containers wait for it with `condition: service_completed_successfully`
// (docker-compose 1.29 and Compose v2 both have it), so none of them starts unless it exited 0.
// A swarm has no start order and restarts finished tasks, so an overlay stack refuses Migrations; no
// compose target has a scheduler, so a stack with a compose project refuses Schedules (see the README).

function imageKeys(service: Record<string, unknown>, image: ImageModel, swarm: boolean): void {
  if (image.kind === 'build' && image.asset && !swarm) {
    const build: Record<string, unknown> = { context: `./${image.asset.contextPath}`, dockerfile: image.dockerfile, tags: [image.reference] };
    if (Object.keys(image.buildArgs).length > 0) build.args = sortObject({ ...image.buildArgs });
    service.build = build;
  } else {
    service.image = image.reference;
  }
}

/** Environment of a background container on compose: calls' URLs, stores' connection variables, the broker, the user's own. */
export function composeBackgroundEnv(model: StackModel, calls: readonly string[], stores: readonly string[], env: Readonly<Record<string, EnvValue>>, broker?: string, metricsHost = false): Record<string, string> {
  const overlay = model.compose.networkMode === ComposeNetworkMode.OVERLAY;
  const out = dictionary<string>();
  const secretRef = (variable: string, what: string): string => (overlay ? `\${${variable}:?set ${variable} to the value of this secret key}` : `\${${variable}:?set ${variable} to ${what}}`);
  for (const name of calls) {
    const c = model.service(name);
    out[c.urlVariable] = c.addresses.compose;
  }
  // The stores' variables exactly as a calling service gets them (data.ts).
  const storeUrl = (name: string): string => {
    const d = model.dataStore(name);
    const url = d.connection.compose.find((v) => v.url)!.url!;
    return `${url.before.replace(/\$/g, '$$$$')}${passwordReference(d, overlay)}${url.after.replace(/\$/g, '$$$$')}`;
  };
  for (const name of stores) {
    const d = model.dataStore(name);
    for (const v of d.connection.compose) {
      if (v.password) out[v.name] = passwordReference(d, overlay);
      else if (v.url) out[v.name] = storeUrl(name);
      else out[v.name] = v.value!.replace(/\$/g, '$$$$');
    }
  }
  if (broker) out.CELERY_BROKER_URL = storeUrl(broker);
  // Host network mode: the worker's metrics server binds the host's loopback only (never public).
  if (metricsHost && model.compose.networkMode === ComposeNetworkMode.HOST) out[METRICS_HOST_ENV] = '127.0.0.1';
  for (const [k, v] of Object.entries(env)) {
    if (v.secret) {
      const variable = secretVariable(v.secret);
      out[k] = secretRef(variable, `the value of key ${v.secret.key} of secret ${v.secret.name}`);
    } else {
      out[k] = v.value!.replace(/\$/g, '$$$$');
    }
  }
  return sortObject(out);
}

/** A literal in a compose file: compose interpolates `$` in every string, `$$` is one `$`. */
function literal(v: string): string {
  return v.replace(/\$/g, '$$$$');
}

function dependencies(model: StackModel, calls: readonly string[], stores: readonly string[]): Record<string, { condition: string; restart: boolean }> {
  const out = dictionary<{ condition: string; restart: boolean }>();
  for (const name of calls) {
    const callee = model.service(name).construct;
    for (const n of composeServiceNames(callee)) out[n] = { condition: callee.healthCheck.enabled ? 'service_healthy' : 'service_started', restart: true };
  }
  for (const name of stores) out[name] = { condition: 'service_healthy', restart: true };
  return out;
}

function hardening(service: Record<string, unknown>, uid: number, swarm: boolean): void {
  service.user = `${uid}:${uid}`;
  service.read_only = true;
  writableTmp(service, swarm);
  service.cap_drop = ['ALL'];
  if (!swarm) service.security_opt = ['no-new-privileges:true'];
}

function limits(r: ResourcesModel): Record<string, unknown> {
  return {
    limits: { cpus: Cpu.millis(r.cpuLimitMillis).toCompose(), memory: Size.mebibytes(r.memoryLimitMiB).toCompose() },
    reservations: { cpus: Cpu.millis(r.cpuRequestMillis).toCompose(), memory: Size.mebibytes(r.memoryRequestMiB).toCompose() },
  };
}

/** A worker's compose service. */
export function workerService(model: StackModel, w: WorkerModel, plan: NetworkPlan): ComposeService {
  const mode = model.compose.networkMode;
  const swarm = mode === ComposeNetworkMode.OVERLAY;
  const service: Record<string, unknown> = {};
  imageKeys(service, w.image, swarm);
  if (w.command) service.entrypoint = w.command.map(literal);
  if (w.args) service.command = w.args.map(literal);
  const env = composeBackgroundEnv(model, w.calls, w.stores, w.env, w.broker, w.metrics !== undefined);
  if (Object.keys(env).length > 0) service.environment = env;
  const deps = dependencies(model, w.calls, w.stores);
  if (Object.keys(deps).length > 0 && !swarm) service.depends_on = sortObject(deps);
  if (mode === ComposeNetworkMode.HOST) service.network_mode = 'host';
  else attach(service, plan.attachments(w.name)!);
  if (w.health) {
    service.healthcheck = {
      // `$(hostname)` in the Celery check is the shell's, not compose's: escaped as `$$`.
      test: ['CMD', ...w.health.command.map(literal)],
      interval: Duration.millis(w.health.intervalMs).toGoString(),
      timeout: Duration.millis(w.health.timeoutMs).toGoString(),
      retries: w.health.failureThreshold,
      start_period: Duration.millis(w.health.startPeriodMs).toGoString(),
    };
  }
  service.deploy = { replicas: w.replicas, resources: limits(w.resources), ...(swarm ? { restart_policy: { condition: w.restartPolicy === 'on-failure' ? 'on-failure' : 'any' } } : {}) };
  if (!swarm) service.restart = w.restartPolicy;
  hardening(service, w.runAsUser, swarm);
  // SIGTERM is Celery's warm shutdown: running tasks finish within the grace period.
  service.stop_signal = 'SIGTERM';
  service.stop_grace_period = Duration.millis(w.terminationGracePeriodMs).toGoString();
  service.labels = sortObject({ ...w.labels });
  service.logging = composeLogging(model);
  return orderServiceKeys(service) as ComposeService;
}

/** A migration run's one-shot compose service. */
export function migrationService(model: StackModel, run: MigrationModel, plan: NetworkPlan): ComposeService {
  const mode = model.compose.networkMode;
  const service: Record<string, unknown> = {};
  // Built (or taken) exactly as the release's own containers: the same context and tag.
  imageKeys(service, run.image, false);
  service.entrypoint = run.command.map(literal);
  const env = composeBackgroundEnv(model, run.calls, run.stores, run.env);
  if (Object.keys(env).length > 0) service.environment = env;
  const deps = dependencies(model, run.calls, run.stores);
  if (Object.keys(deps).length > 0) service.depends_on = sortObject(deps);
  if (mode === ComposeNetworkMode.HOST) service.network_mode = 'host';
  else attach(service, plan.attachments(run.composeName)!);
  service.restart = 'no';
  service.deploy = { resources: limits(run.resources) };
  hardening(service, run.runAsUser, false);
  service.labels = sortObject({ ...run.labels });
  service.logging = composeLogging(model);
  return orderServiceKeys(service) as ComposeService;
}

/** The one-shot migrations a version's containers wait for: `service_completed_successfully`. */
export function migrationDependencies(model: StackModel, workloadName: string): Record<string, { condition: string; restart: boolean }> {
  const out = dictionary<{ condition: string; restart: boolean }>();
  for (const run of model.migrations) if (run.workloadName === workloadName) out[run.composeName] = { condition: 'service_completed_successfully', restart: false };
  return out;
}

/** The compose services of the stack's workers and migrations, by name. */
export function backgroundServices(model: StackModel, plan: NetworkPlan): Record<string, ComposeService> {
  const out = dictionary<ComposeService>();
  // Escape hatches (`Compose.of(worker)`, `Compose.of(migration)`) apply after pyfleet's own settings.
  for (const w of model.workers) out[w.name] = applyOverrides(workerService(model, w, plan) as Record<string, unknown>, w.hatches, w.path);
  if (model.compose.networkMode !== ComposeNetworkMode.OVERLAY) for (const r of model.migrations) out[r.composeName] = applyOverrides(migrationService(model, r, plan) as Record<string, unknown>, r.hatches, r.path);
  return out;
}

/** Rules of workers, migrations and schedules on compose. */
export function backgroundComposeProblems(model: StackModel): PyfleetError[] {
  const errors: PyfleetError[] = [];
  for (const s of model.schedules) {
    errors.push(new PyfleetError(s.path, `compose has no scheduler, so the Schedule "${s.name}" (${s.cron} ${s.timeZone}) cannot run in the compose project of stack "${model.name}"; pyfleet does not emulate one with a loop, which could run twice during a deploy`,
      `turn compose off for this stack (compose: { enabled: false }) and run it as the Kubernetes CronJob, or move the Schedule to a Kubernetes-only stack and run it on the VPS from the host's cron or a systemd timer: docker compose -f ${model.name}.compose.yml run --rm --no-deps --entrypoint ${s.command[0]} ${s.runsAs.kind === 'worker' ? s.runsAs.name : model.service(s.runsAs.name).versions[0].workloadName} ${s.command.slice(1).join(' ')}`.trim()));
  }
  if (model.compose.networkMode === ComposeNetworkMode.OVERLAY) {
    const seen = new Set<string>();
    for (const r of model.migrations) {
      if (seen.has(r.path)) continue;
      seen.add(r.path);
      errors.push(new PyfleetError(r.path, 'a Docker swarm has no start order and restarts finished one-shot tasks, so the migration could not hold back the release on an overlay stack',
        'use ComposeNetworkMode.BRIDGE or HOST for the stack, or run the migration yourself before `docker stack deploy`'));
    }
  }
  if (model.compose.networkMode === ComposeNetworkMode.HOST) {
    for (const w of model.workers) {
      if (w.replicas > 1 && w.kind === 'celery') {
        errors.push(new PyfleetError(w.path, `host network mode runs every container with the host's name, so ${w.replicas} Celery workers would share the node name celery@<host> (and the health check could not tell them apart)`,
          'set replicas: 1 (raise concurrency instead), or use ComposeNetworkMode.BRIDGE'));
      }
    }
  }
  return errors;
}
