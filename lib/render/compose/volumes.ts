import { ComposeNetworkMode } from '../../core/stack';
import type { PyfleetWarning } from '../../core/warnings';
import type { ServiceModel, StackModel, VersionModel } from '../../model/stack';
import type { Artifact } from '../../model/target';
import { claimName } from '../../model/volumes';
import type { ComposeConfigMount, ComposeProject, ComposeSecretMount, ComposeVolumeMount } from './types';
import { dictionary } from '../../core/dictionary';

// The compose side of volumes and files:
// - a persistent volume is a named volume per version, `<service>-<version>-<volume>` (compose names it
//   `<project>_<service>-<version>-<volume>` on the engine); `docker compose down` keeps it, `down -v`
//   deletes it. On a swarm a named volume is local to the node that runs the task: pin the service
//   (compose placement) or the data is wherever the task last ran (a synth warning says so).
// - an ephemeral volume is a sized tmpfs (memory) or an anonymous volume (disk).
// - a config file is written beside the compose file (`<stack>.compose/files/<name>`) and bind-mounted
//   read-only. docker-compose 1.29 drops a service's `configs` outside a swarm (it deletes the key
//   before creating the container: compose/project.py, translate_deploy_keys_to_container_config), so
//   a bind mount is the form both docker-compose 1.29 and Compose v2 run; on an overlay stack it is a
//   swarm config (a bind mount would need the file on every node).
// - a secret file is a compose secret whose `file` is the user's path (the content never enters the
//   output); compose mounts it read-only at the target, a swarm from its secret store.

/** The mounts a version's compose service gets, to append to its `volumes`, `configs` and `secrets`. */
export interface ComposeServiceMounts {
  /** Volume mounts. */
  readonly volumes: ComposeVolumeMount[];
  /** Swarm config mounts (overlay stacks). */
  readonly configs: ComposeConfigMount[];
  /** Secret mounts. */
  readonly secrets: ComposeSecretMount[];
}

/** Path of a config file's copy beside the compose file. */
export function configFilePath(model: StackModel, name: string): string {
  return `${model.name}.compose/files/${name}`;
}

/** The mounts of one version's compose service. */
export function serviceMounts(model: StackModel, m: ServiceModel, vm: VersionModel): ComposeServiceMounts {
  const swarm = model.compose.networkMode === ComposeNetworkMode.OVERLAY;
  const volumes: ComposeVolumeMount[] = [];
  const configs: ComposeConfigMount[] = [];
  for (const v of m.mounts.volumes) {
    if (v.kind === 'persistent') volumes.push({ type: 'volume', source: claimName(vm.workloadName, v), target: v.mountPath });
    else if (v.medium === 'memory') volumes.push({ type: 'tmpfs', target: v.mountPath, tmpfs: { size: v.sizeBytes } });
    else volumes.push({ type: 'volume', target: v.mountPath });
  }
  for (const f of m.mounts.configFiles) {
    if (swarm) configs.push({ source: f.name, target: f.mountPath, mode: 0o444 });
    else volumes.push({ type: 'bind', source: `./${configFilePath(model, f.name)}`, target: f.mountPath, read_only: true });
  }
  const secrets = m.mounts.secretFiles.map((f) => ({ source: f.composeName, target: f.mountPath }));
  return { volumes: volumes.sort((a, b) => (a.target < b.target ? -1 : a.target > b.target ? 1 : 0)), configs, secrets };
}

/** Adds a version's mounts to its rendered compose service (before overrides apply). */
export function addServiceMounts(service: Record<string, unknown>, model: StackModel, m: ServiceModel, vm: VersionModel): void {
  const mounts = serviceMounts(model, m, vm);
  if (mounts.volumes.length > 0) service.volumes = [...((service.volumes as ComposeVolumeMount[] | undefined) ?? []), ...mounts.volumes];
  if (mounts.configs.length > 0) service.configs = [...((service.configs as ComposeConfigMount[] | undefined) ?? []), ...mounts.configs];
  if (mounts.secrets.length > 0) service.secrets = mounts.secrets;
  // Two swarm tasks must not write one node-local volume at once: stop the old task first.
  const exclusive = m.mounts.volumes.some((v) => v.kind === 'persistent' && v.accessMode !== 'ReadWriteMany');
  const deploy = service.deploy as Record<string, any> | undefined;
  if (exclusive && deploy?.update_config) {
    deploy.update_config = { ...deploy.update_config, order: 'stop-first' };
    deploy.rollback_config = { ...deploy.rollback_config, order: 'stop-first' };
  }
}

const sortKeys = <T>(o: Record<string, T>): Record<string, T> => Object.fromEntries(Object.keys(o).sort().map((k) => [k, o[k]]));

/**
 * Adds the project-level entries of every service's mounts to the compose document (named volumes,
 * secrets, and on a swarm configs) and returns the config files to write beside it.
 */
export function addProjectMounts(model: StackModel, document: ComposeProject): Artifact[] {
  const swarm = model.compose.networkMode === ComposeNetworkMode.OVERLAY;
  const volumes = dictionary<Record<string, never>>();
  const secrets = dictionary<{ file: string }>();
  const configs = dictionary<{ file: string }>();
  const files = new Map<string, Artifact>();
  for (const m of model.services) {
    for (const vm of m.versions) {
      for (const v of m.mounts.volumes) if (v.kind === 'persistent') volumes[claimName(vm.workloadName, v)] = {};
    }
    for (const f of m.mounts.configFiles) {
      const file = configFilePath(model, f.name);
      files.set(file, { path: file, content: f.content });
      if (swarm) configs[f.name] = { file: `./${file}` };
    }
    for (const f of m.mounts.secretFiles) secrets[f.composeName] = { file: f.source };
  }
  // Merged with what other parts of the compose target put there (backing services' data volumes).
  if (Object.keys(volumes).length > 0) document.volumes = sortKeys({ ...(document.volumes ?? {}), ...volumes });
  if (Object.keys(configs).length > 0) document.configs = sortKeys({ ...(document.configs ?? {}), ...configs });
  if (Object.keys(secrets).length > 0) document.secrets = sortKeys({ ...(document.secrets ?? {}), ...secrets });
  return [...files.values()];
}

/**
 * Warnings of the compose target about volumes: on a swarm a named volume lives on one node (a task
 * rescheduled on another node starts with an empty volume), and secret files must exist where compose runs.
 */
export function composeVolumeWarnings(models: readonly StackModel[]): PyfleetWarning[] {
  const out: PyfleetWarning[] = [];
  for (const model of models) {
    if (!model.compose.enabled || model.compose.networkMode !== ComposeNetworkMode.OVERLAY) continue;
    for (const m of model.services) {
      const persistent = m.mounts.volumes.filter((v) => v.kind === 'persistent');
      if (persistent.length === 0) continue;
      out.push({ constructPath: m.path, message: `on a swarm the named volume${persistent.length > 1 ? 's' : ''} ${persistent.map((v) => `"${v.name}"`).join(', ')} of "${m.name}" live${persistent.length > 1 ? '' : 's'} on the node that runs the task: a task rescheduled on another node starts with an empty volume. Pin the service to one node (compose: { placement: ['node.hostname==<node>'] } on the stack) or keep the data in a backing service` });
    }
  }
  return out;
}
