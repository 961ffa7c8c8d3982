import { k8s } from 'cdk8s-plus-27';
import type { PyfleetWarning } from '../../core/warnings';
import type { ServiceModel, StackModel, VersionModel } from '../../model/stack';
import { claimName, VolumeModel } from '../../model/volumes';
import { volumeNameOf } from '../../service/volume';
import { KubeObject, kubeObject } from './object';

// The Kubernetes side of volumes and files: a PersistentVolumeClaim per version and persistent volume,
// an emptyDir per ephemeral volume, an immutable ConfigMap per config file (named by its content hash,
// so a change is a new ConfigMap and a new pod template: the pods roll), and a mount of a Secret the
// user creates per secret file. Files are mounted with `subPath`: one file at its path, beside the
// files the image already has there (a directory mount would hide them). A subPath mount never sees
// later changes of its ConfigMap or Secret; for a ConfigMap that cannot happen (a change is a new
// name), and a rotated Secret takes a restart (`kubectl rollout restart`), as the README says.

/** Whether a service's Deployments must stop the old pod before starting the new one (a read-write-once claim). */
export function recreates(m: ServiceModel): boolean {
  return m.mounts.volumes.some((v) => v.kind === 'persistent' && v.accessMode !== 'ReadWriteMany');
}

/** Whether a service mounts a persistent volume (its pods then change the group of the volume's root only when it differs). */
export function hasPersistentVolume(m: ServiceModel): boolean {
  return m.mounts.volumes.some((v) => v.kind === 'persistent');
}

const volumeKey = (v: VolumeModel): string => `vol-${v.name}`;
const fileKey = (prefix: string, mountPath: string): string => `${prefix}-${volumeNameOf(mountPath)}`;

/** The pod's volumes for a version's mounts (pyfleet's own /tmp is added by the caller). */
export function podVolumes(m: ServiceModel, vm: VersionModel): k8s.Volume[] {
  const out: k8s.Volume[] = [];
  for (const v of m.mounts.volumes) {
    out.push(v.kind === 'persistent'
      ? { name: volumeKey(v), persistentVolumeClaim: { claimName: claimName(vm.workloadName, v) } }
      : { name: volumeKey(v), emptyDir: { sizeLimit: k8s.Quantity.fromString(quantity(v.sizeBytes)), medium: v.medium === 'memory' ? 'Memory' : undefined } });
  }
  for (const f of m.mounts.configFiles) {
    out.push({ name: fileKey('cf', f.mountPath), configMap: { name: f.name, items: [{ key: f.key, path: f.key }], defaultMode: 0o444 } });
  }
  for (const f of m.mounts.secretFiles) {
    // Group-readable: the pod's fsGroup (its runAsUser) owns the projected files.
    out.push({ name: fileKey('sf', f.mountPath), secret: { secretName: f.secretName, items: [{ key: f.key, path: f.key }], defaultMode: 0o440 } });
  }
  return out;
}

/** The container's mounts of the service's volumes and files, by mount path. */
export function containerMounts(m: ServiceModel): k8s.VolumeMount[] {
  const out: k8s.VolumeMount[] = [];
  for (const v of m.mounts.volumes) out.push({ name: volumeKey(v), mountPath: v.mountPath });
  for (const f of m.mounts.configFiles) out.push({ name: fileKey('cf', f.mountPath), mountPath: f.mountPath, subPath: f.key, readOnly: true });
  for (const f of m.mounts.secretFiles) out.push({ name: fileKey('sf', f.mountPath), mountPath: f.mountPath, subPath: f.key, readOnly: true });
  return out.sort((a, b) => (a.mountPath < b.mountPath ? -1 : a.mountPath > b.mountPath ? 1 : 0));
}

/** The PersistentVolumeClaims of every version and the ConfigMaps of the service's config files. */
export function volumeObjects(model: StackModel, m: ServiceModel): KubeObject[] {
  const out: KubeObject[] = [];
  for (const vm of m.versions) {
    for (const v of m.mounts.volumes) {
      if (v.kind !== 'persistent') continue;
      out.push(kubeObject(k8s.KubePersistentVolumeClaim.GVK, k8s.toJson_KubePersistentVolumeClaimProps, {
        metadata: { name: claimName(vm.workloadName, v), namespace: model.namespace, labels: { ...vm.labels } },
        spec: {
          accessModes: [v.accessMode ?? 'ReadWriteOnce'],
          storageClassName: v.storageClass,
          volumeMode: 'Filesystem',
          resources: { requests: { storage: k8s.Quantity.fromString(quantity(v.sizeBytes)) } },
        },
      } as k8s.KubePersistentVolumeClaimProps));
    }
  }
  for (const f of m.mounts.configFiles) {
    out.push(kubeObject(k8s.KubeConfigMap.GVK, k8s.toJson_KubeConfigMapProps, {
      metadata: { name: f.name, namespace: model.namespace, labels: { ...m.labels } },
      // Named by content: it never changes, so the API server need not watch it.
      immutable: true,
      data: { [f.key]: f.content },
    } as k8s.KubeConfigMapProps));
  }
  return out;
}

/**
 * Warnings of the Kubernetes target about volumes: a Deployment switched to `Recreate` (its releases
 * have downtime), and each Secret a secret file needs, with the command that creates it.
 */
export function volumeWarnings(models: readonly StackModel[]): PyfleetWarning[] {
  const out: PyfleetWarning[] = [];
  for (const model of models) {
    for (const m of model.services) {
      if (recreates(m)) {
        for (const vm of m.versions) {
          out.push({ constructPath: vm.path, message: `Deployment "${vm.workloadName}" mounts a read-write-once persistent volume, so it uses the Recreate strategy: each release stops the old pod before the new one starts, and the service is down in between (no PodDisruptionBudget either, with one replica). For zero-downtime releases keep the state in a backing service instead` });
        }
      }
      const secrets = new Map<string, Array<{ key: string; source: string }>>();
      for (const f of m.mounts.secretFiles) secrets.set(f.secretName, [...(secrets.get(f.secretName) ?? []), { key: f.key, source: f.source }]);
      for (const [name, keys] of secrets) {
        out.push({ constructPath: m.path, message: `the pods mount a file of Secret "${name}", which the manifests reference but never contain: create it once with \`kubectl create secret generic ${name} -n ${model.namespace} ${keys.map((k) => `--from-file=${k.key}=${k.source}`).join(' ')}\`` });
      }
    }
  }
  return out;
}

/** A storage quantity: the largest binary unit that divides the bytes. */
function quantity(bytes: number): string {
  for (const [unit, factor] of [['Ti', 1024 ** 4], ['Gi', 1024 ** 3], ['Mi', 1024 ** 2], ['Ki', 1024]] as const) {
    if (bytes % factor === 0) return `${bytes / factor}${unit}`;
  }
  return `${bytes}`;
}
