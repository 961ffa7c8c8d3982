import { PyfleetError } from '../../core/errors';
import { ComposeNetworkMode } from '../../core/stack';
import { Cpu, Duration, Size } from '../../core/units';
import type { DataStoreModel, ServiceModel, StackModel } from '../../model/stack';
import { storeCallees } from '../../model/traffic';
import type { NetworkAttachment } from './networks';
import type { ComposeDependency, ComposeProject, ComposeSecretMount, ComposeService, ComposeVolumeMount } from './types';
import { dictionary, dictionaryOf } from '../../core/dictionary';

// The compose service of a backing service (Postgres, Redis) and what its callers get:
//
// - the official image, run as its own user (`999:999`), read-only root with tmpfs scratch
//   directories, no capabilities, no new privileges, limits and reservations, restart policy
//   `unless-stopped`, log rotation, the engine's own health check, its fast-shutdown stop signal;
// - its data on a named volume `<store>-data` (compose prefixes the project: `<project>_<store>-data`),
//   which `docker compose down` keeps (only `down -v` removes it); a Redis cache has a tmpfs instead;
// - the password from the deploying shell's variable (`${ORDERS_DB_CREDENTIALS_PASSWORD:?...}`), never
//   written into the file; compose interpolates it into the store's environment (and, for Redis, its
//   `--requirepass` argument) and into each caller's `<NAME>_PASSWORD` and `<NAME>_URL`;
// - in host network mode the engine listens on 127.0.0.1 only and callers reach it there;
// - or, with `compose: { passwordFile }`, from a top-level compose secret (the file on the deploying
//   machine) mounted at /run/secrets/<store>-password into the store and each caller: Postgres reads
//   POSTGRES_PASSWORD_FILE, Redis a `sh -c` start that feeds `requirepass` on stdin; callers get
//   `<NAME>_PASSWORD_FILE` and `<NAME>_URL_TEMPLATE`, from which generated Python apps build
//   `<NAME>_PASSWORD` and `<NAME>_URL` at start. No container's configuration holds the password;
// - callers wait for it to be healthy (`depends_on: service_healthy`; a swarm ignores start order).

/** Name of a store's named data volume (without the project prefix compose adds). */
export function dataVolumeName(d: DataStoreModel): string {
  return `${d.name}-data`;
}

/** `${VAR:?message}`: compose fails with the message when the deploying shell has not set the variable. */
export function passwordReference(d: DataStoreModel, overlay: boolean): string {
  const v = d.secret.shellVariable;
  // The swarm's loader reads a `-` in the message as `${VAR-default}` (see the compose target).
  return overlay ? `\${${v}:?set ${v} to the password of this backing service}` : `\${${v}:?set ${v} to the password of ${d.name}}`;
}

/** The variables a caller's container gets for the stores it calls, by name. */
export function storeEnvironment(model: StackModel, s: ServiceModel): Record<string, string> {
  const overlay = model.compose.networkMode === ComposeNetworkMode.OVERLAY;
  const env = dictionary<string>();
  for (const d of storeCallees(model, s)) {
    const password = passwordReference(d, overlay);
    for (const v of d.connection.compose) {
      env[v.name] = v.url ? `${v.url.before.replace(/\$/g, '$$$$')}${password}${v.url.after.replace(/\$/g, '$$$$')}` : v.password ? password : v.value!.replace(/\$/g, '$$$$');
    }
  }
  return env;
}

/** The password-file secrets a caller's container mounts, for the stores it calls that use one. */
export function storeSecretMounts(model: StackModel, s: ServiceModel): ComposeSecretMount[] {
  return storeCallees(model, s).filter((d) => d.composePasswordFile).map((d) => ({ source: d.composePasswordFile!.secretName, target: d.composePasswordFile!.mountPath }));
}

/** Adds a caller's password-file secrets to its rendered compose service. */
export function addStoreSecretMounts(service: Record<string, unknown>, model: StackModel, s: ServiceModel): void {
  const mounts = storeSecretMounts(model, s);
  if (mounts.length > 0) service.secrets = [...((service.secrets as ComposeSecretMount[] | undefined) ?? []), ...mounts];
}

/** Adds the top-level compose secrets of the stores' password files to the document. */
export function addDataSecrets(model: StackModel, document: ComposeProject): void {
  const secrets = dictionary<{ file: string }>();
  for (const d of model.dataStores) if (d.composePasswordFile) secrets[d.composePasswordFile.secretName] = { file: d.composePasswordFile.source };
  if (Object.keys(secrets).length === 0) return;
  const all: Record<string, { file: string }> = { ...(document.secrets ?? {}), ...secrets };
  document.secrets = dictionaryOf(Object.keys(all).sort().map((k) => [k, all[k]]));
}

/** `depends_on` entries of a caller: every store it calls, once healthy. */
export function storeDependencies(model: StackModel, s: ServiceModel): Record<string, ComposeDependency> {
  const out = dictionary<ComposeDependency>();
  for (const d of storeCallees(model, s)) out[d.name] = { condition: 'service_healthy', restart: true };
  return out;
}

/** Compose's form of `$(VAR)` in a store's arguments: the shell variable of the password. */
function composeArg(d: DataStoreModel, arg: string, overlay: boolean): string {
  const passwordVars = new Set(d.env.filter((e) => e.password).map((e) => e.name));
  const escape = (text: string): string => text.replace(/\$/g, '$$$$');
  let out = '';
  let last = 0;
  for (const m of arg.matchAll(/\$\(([A-Za-z_][A-Za-z0-9_]*)\)/g)) {
    out += escape(arg.slice(last, m.index)) + (passwordVars.has(m[1]) ? passwordReference(d, overlay) : escape(m[0]));
    last = m.index! + m[0].length;
  }
  return out + escape(arg.slice(last));
}

/** Pieces of the compose target a store service shares with the others. */
export interface ComposeCommon {
  /** The `logging` key. */
  readonly logging: unknown;
  /** The swarm part of `deploy` (overlay stacks). */
  swarmDeploy(health: { intervalMs: number; startPeriodMs: number; failureThreshold: number }): Record<string, unknown>;
  /** Key order of a compose service. */
  order(service: Record<string, unknown>): Record<string, unknown>;
}

/** The compose service of one backing service. */
export function dataStoreService(model: StackModel, d: DataStoreModel, networks: Record<string, NetworkAttachment> | undefined, common: ComposeCommon): ComposeService {
  const mode = model.compose.networkMode;
  const swarm = mode === ComposeNetworkMode.OVERLAY;
  const file = d.composePasswordFile;
  const env = dictionary<string>();
  for (const e of file?.env ?? d.env) env[e.name] = e.password ? passwordReference(d, swarm) : e.value!.replace(/\$/g, '$$$$');
  const volumes: ComposeVolumeMount[] = [];
  const tmpfs: string[] = [];
  if (d.storageBytes !== undefined) volumes.push({ type: 'volume', source: dataVolumeName(d), target: d.dataPath });
  else tmpfs.push(d.dataPath);
  tmpfs.push(...d.scratchPaths);
  const service: Record<string, unknown> = {
    image: d.image,
    environment: Object.fromEntries(Object.keys(env).sort().map((k) => [k, env[k]])),
    command: [...(file?.args ?? d.args), ...(mode === ComposeNetworkMode.HOST ? d.loopbackArgs : [])].map((a) => composeArg(d, a, swarm)),
  };
  if (mode === ComposeNetworkMode.HOST) service.network_mode = 'host';
  else if (networks && Object.keys(networks).length > 0) service.networks = networks;
  else service.network_mode = 'none';
  const h = d.health;
  service.healthcheck = {
    // `$` escaped: the password-file variant's health command reads the file in a shell.
    test: ['CMD', ...(file?.healthCommand ?? h.command).map((a) => a.replace(/\$/g, '$$$$'))],
    interval: Duration.millis(h.intervalMs).toGoString(),
    timeout: Duration.millis(h.timeoutMs).toGoString(),
    retries: h.failureThreshold,
    start_period: Duration.millis(h.startPeriodMs).toGoString(),
    start_interval: '1s',
  };
  const deploy: Record<string, unknown> = {
    replicas: 1,
    resources: {
      limits: { cpus: Cpu.millis(d.resources.cpuLimitMillis).toCompose(), memory: Size.mebibytes(d.resources.memoryLimitMiB).toCompose() },
      reservations: { cpus: Cpu.millis(d.resources.cpuRequestMillis).toCompose(), memory: Size.mebibytes(d.resources.memoryRequestMiB).toCompose() },
    },
  };
  if (swarm) {
    // One task at a time on its volume: stop the old task before the new one starts.
    Object.assign(deploy, common.swarmDeploy(h));
    deploy.update_config = { ...(deploy.update_config as object), order: 'stop-first' };
    deploy.rollback_config = { ...(deploy.rollback_config as object), order: 'stop-first' };
  } else {
    service.restart = 'unless-stopped';
  }
  service.deploy = deploy;
  service.user = `${d.runAsUser}:${d.runAsUser}`;
  service.read_only = true;
  // A swarm's stack loader ignores the `tmpfs` key: tmpfs mounts go into `volumes` there.
  if (swarm) volumes.push(...tmpfs.map((t) => ({ type: 'tmpfs' as const, target: t })));
  else service.tmpfs = tmpfs;
  if (volumes.length > 0) service.volumes = volumes;
  if (file) service.secrets = [{ source: file.secretName, target: file.mountPath }];
  service.cap_drop = ['ALL'];
  if (!swarm) service.security_opt = ['no-new-privileges:true'];
  service.stop_signal = d.stopSignal;
  service.stop_grace_period = Duration.millis(d.terminationGracePeriodMs).toGoString();
  service.labels = Object.fromEntries(Object.keys(d.labels).sort().map((k) => [k, d.labels[k]]));
  service.logging = common.logging;
  return common.order(service) as ComposeService;
}

/** The project's named volumes: one per store with storage, sorted. */
export function dataVolumes(model: StackModel): Record<string, Record<string, never>> {
  const names = model.dataStores.filter((d) => d.storageBytes !== undefined).map(dataVolumeName).sort();
  return Object.fromEntries(names.map((n) => [n, {}]));
}

/**
 * Compose rules of backing services: in host network mode a store's port is a port of the host, which
 * must not be taken by a service or another store of the project.
 */
export function dataStoreComposeProblems(model: StackModel): PyfleetError[] {
  if (!model.compose.enabled) return [];
  const errors: PyfleetError[] = passwordFileProblems(model);
  if (model.compose.networkMode !== ComposeNetworkMode.HOST) return errors;
  const taken = new Map<number, string>();
  for (const s of model.services) {
    for (const p of [s.settings.port, ...s.settings.additionalPorts.map((x) => x.port)]) taken.set(p, s.path);
  }
  for (const d of model.dataStores) {
    const other = taken.get(d.port);
    if (other) {
      errors.push(new PyfleetError(d.path, `port ${d.port} is already taken by "${other}" in the host-mode compose project of stack "${model.name}" (in host network mode every container binds the host's ports)`,
        `give the backing service another port (port: ${d.port + 1}), or use ComposeNetworkMode.BRIDGE`));
    } else {
      taken.set(d.port, d.path);
    }
  }
  return errors;
}

/**
 * A store with `compose.passwordFile` reaches only services' containers (whose generated start code
 * builds the URL): a Celery worker, a migration or a broker would get no URL, so they are refused.
 */
function passwordFileProblems(model: StackModel): PyfleetError[] {
  const errors: PyfleetError[] = [];
  const users = [...model.workers.map((w) => ({ path: w.path, stores: [...w.stores, ...(w.broker ? [w.broker] : [])] })), ...model.migrations.map((m) => ({ path: m.path, stores: m.stores }))];
  for (const u of users) {
    for (const name of u.stores) {
      const d = model.dataStore(name);
      if (d.composePasswordFile) {
        errors.push(new PyfleetError(u.path, `it uses backing service "${d.name}", whose compose password comes from a file (compose.passwordFile), which workers, migrations and brokers do not read yet`,
          `remove compose.passwordFile from "${d.name}" (compose then reads the password from the deploying shell), or do not use it from this worker or migration`));
      }
    }
  }
  return errors;
}

