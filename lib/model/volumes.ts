import { PyfleetError } from '../core/errors';
import type { Stack } from '../core/stack';
import { volumeNameOf } from '../service/volume';
import type { MicroService } from '../service/microservice';

// The resolved volumes and files of a service, and the names every target gives them. The names are
// functions of the service, version and volume names only (never of construct order), so a re-synth
// finds the same claims and volumes, and a data volume is never renamed by adding another service.

/** A volume of a service, resolved. */
export interface VolumeModel {
  /** `persistent` (a claim / named volume) or `ephemeral` (an emptyDir / tmpfs / anonymous volume). */
  readonly kind: 'persistent' | 'ephemeral';
  /** Volume name, a DNS label (at most 40 characters). */
  readonly name: string;
  /** Absolute mount path inside the container. */
  readonly mountPath: string;
  /** Requested (persistent) or maximum (ephemeral) size, in bytes. */
  readonly sizeBytes: number;
  /** Kubernetes access mode (persistent volumes). */
  readonly accessMode?: string;
  /** Kubernetes storage class (persistent volumes); undefined for the cluster's default. */
  readonly storageClass?: string;
  /** `disk` or `memory` (ephemeral volumes). */
  readonly medium?: 'disk' | 'memory';
}

/** A config file of a service, resolved. */
export interface ConfigFileModel {
  /** ConfigMap name, `<service>-<path label>-<content hash>`; also the compose file and swarm config name. */
  readonly name: string;
  /** Absolute path of the file inside the container. */
  readonly mountPath: string;
  /** Key of the file in the ConfigMap (the file name of the mount path, or `content`). */
  readonly key: string;
  /** The file's text. */
  readonly content: string;
}

/** A secret file of a service, resolved: references only, never the content. */
export interface SecretFileModel {
  /** Name of the Kubernetes Secret (created by the user). */
  readonly secretName: string;
  /** Key of the file inside the Secret. */
  readonly key: string;
  /** Absolute path of the file inside the container. */
  readonly mountPath: string;
  /** Path of the secret file on the deploying machine (compose `secrets.<name>.file`). */
  readonly source: string;
  /** Key of the compose secret, `<service>-<path label>`. */
  readonly composeName: string;
}

/** Everything mounted into a service's containers besides pyfleet's own /tmp, sorted by mount path. */
export interface MountsModel {
  /** Volumes. */
  readonly volumes: readonly VolumeModel[];
  /** Config files. */
  readonly configFiles: readonly ConfigFileModel[];
  /** Secret files. */
  readonly secretFiles: readonly SecretFileModel[];
}

const byPath = <T extends { mountPath: string }>(a: T, b: T): number => (a.mountPath < b.mountPath ? -1 : a.mountPath > b.mountPath ? 1 : 0);

/** The resolved mounts of a service. */
export function resolveMounts(svc: MicroService): MountsModel {
  return {
    volumes: svc.volumes.map((v) => ({
      kind: v.kind,
      name: v.name,
      mountPath: v.mountPath,
      sizeBytes: v.size.bytes,
      ...(v.accessMode ? { accessMode: v.accessMode } : {}),
      ...(v.storageClass ? { storageClass: v.storageClass } : {}),
      ...(v.medium ? { medium: v.medium } : {}),
    })).sort(byPath),
    configFiles: svc.configFiles.map((f) => {
      const base = f.mountPath.split('/').pop()!;
      return {
        name: `${svc.serviceName}-${volumeNameOf(f.mountPath)}-${f.hash}`,
        mountPath: f.mountPath,
        key: /^[-._a-zA-Z0-9]+$/.test(base) ? base : 'content',
        content: f.content,
      };
    }).sort(byPath),
    secretFiles: svc.secretFiles.map((f) => ({
      secretName: f.secretName ?? `${svc.serviceName}-${volumeNameOf(f.mountPath)}`,
      key: f.key,
      mountPath: f.mountPath,
      source: f.source,
      composeName: `${svc.serviceName}-${volumeNameOf(f.mountPath)}`,
    })).sort(byPath),
  };
}

/**
 * Name of a version's persistent volume on every target: the PersistentVolumeClaim and the compose
 * named volume, `<service>-<version>-<volume>` (compose prefixes the project: `<project>_<name>`).
 */
export function claimName(workloadName: string, volume: { readonly name: string }): string {
  return `${workloadName}-${volume.name}`;
}

/**
 * Cross-object rules of volumes: a version with a persistent volume runs one pod (a read-write-once
 * claim cannot be mounted by two pods on two nodes, and two writers would corrupt the data); a
 * persistent volume's name is unique in the stack.
 */
export function volumeProblems(stack: Stack): PyfleetError[] {
  const errors: PyfleetError[] = [];
  for (const svc of stack.services) {
    const persistent = svc.volumes.filter((v) => v.kind === 'persistent');
    if (persistent.length === 0) continue;
    const shared = persistent.every((v) => v.accessMode === 'ReadWriteMany');
    for (const v of svc.versions) {
      const most = v.autoscale ? v.autoscale.max : v.replicas;
      if (most <= 1 || shared) continue;
      const what = v.autoscale ? `autoscale.max is ${v.autoscale.max}` : `it runs ${v.replicas} replicas`;
      errors.push(new PyfleetError(v.node.path, `the service mounts the persistent volume "${persistent[0].name}" (${persistent[0].mountPath}), but ${what}: a read-write-once claim is mounted by one pod only, so the other pods would never start (and two writers would corrupt the data)`,
        'run one replica (replicas: 1, or autoscale: { min: 1, max: 1 }), keep state in a backing service (Postgres, Redis) or a StatefulSet, or give the volume accessMode: VolumeAccessMode.READ_WRITE_MANY if your storage class supports it'));
    }
  }
  return errors;
}
