import { k8s } from 'cdk8s-plus-27';
import type { ConnectionVariable, DataStoreModel, ServiceModel, StackModel } from '../../model/stack';
import { storeCallees } from '../../model/traffic';
import { KubeObject, kubeObject } from './object';

// The Kubernetes objects of a backing service (Postgres, Redis), typed with cdk8s-plus-27's generated
// Kubernetes 1.27 API like the rest of the target:
//
// - a StatefulSet of one pod, its data on a claim from `volumeClaimTemplates` (ReadWriteOnce, the
//   store's `storage`), kept when the StatefulSet is deleted or scaled down
//   (`persistentVolumeClaimRetentionPolicy` Retain/Retain, which is also the API's default);
// - a headless Service (`<name>-headless`, the StatefulSet's `serviceName`: the pod's stable DNS name)
//   and a client Service (`<name>`, what callers' URLs name);
// - a ServiceAccount of its own (automount off), so that Istio policies can name its identity;
// - Pod Security "restricted": the image's own non-root user (999), `fsGroup` so the volume is its,
//   seccomp RuntimeDefault, no capabilities, read-only root with emptyDirs for the engine's scratch
//   directories, exec probes with the engine's tool, requests and limits.
//
// The password is a `secretKeyRef` to the store's Secret, which the manifests never contain.

/** A memory quantity: whole MiB as `<n>Mi`, else bytes. */
function mib(n: number): string {
  return Number.isInteger(n) ? `${n}Mi` : `${Math.round(n * 1024 * 1024)}`;
}

function storage(bytes: number): string {
  const gi = 1024 ** 3;
  return bytes % gi === 0 ? `${bytes / gi}Gi` : `${bytes / 1024 / 1024}Mi`;
}

/** The `env` entry of a password: a key of the store's Secret. */
function passwordRef(d: DataStoreModel): k8s.EnvVarSource {
  return { secretKeyRef: { name: d.secret.name, key: d.secret.key } };
}

/** Name of the variable that holds a store's password in a caller's container. */
function passwordVariable(d: DataStoreModel): string {
  return d.connection.kubernetes.find((v) => v.password)!.name;
}

/**
 * A caller's variables for the stores it calls: literals and the password (a secretKeyRef) in
 * `plain`, the URLs, which reference the password as `$(<NAME>_PASSWORD)`, in `dependent`. Kubernetes
 * expands `$(VAR)` only for a variable defined earlier in the same container, so the caller lists the
 * dependent ones after all others.
 */
export function storeEnv(model: StackModel, s: ServiceModel): { plain: k8s.EnvVar[]; dependent: k8s.EnvVar[] } {
  const plain: k8s.EnvVar[] = [];
  const dependent: k8s.EnvVar[] = [];
  for (const d of storeCallees(model, s)) {
    for (const v of d.connection.kubernetes) {
      if (v.url) dependent.push({ name: v.name, value: `${v.url.before}$(${passwordVariable(d)})${v.url.after}` });
      else if (v.password) plain.push({ name: v.name, valueFrom: passwordRef(d) });
      else plain.push({ name: v.name, value: (v as ConnectionVariable).value! });
    }
  }
  return { plain, dependent };
}

const seconds = (ms: number): number => Math.ceil(ms / 1000);

/** The objects of one backing service, in no particular order (the target sorts them). */
export function dataStoreObjects(model: StackModel, d: DataStoreModel): KubeObject[] {
  const metadata = { name: d.name, namespace: model.namespace, labels: { ...d.labels } };
  const port = { name: d.portName, port: d.port, targetPort: k8s.IntOrString.fromString(d.portName), protocol: 'TCP', appProtocol: 'tcp' };
  const nonRoot = { runAsNonRoot: true, runAsUser: d.runAsUser, runAsGroup: d.runAsUser };
  const seccomp = { type: 'RuntimeDefault' };
  const h = d.health;
  const probe = (failureThreshold: number, periodSeconds: number): k8s.Probe => ({
    exec: { command: [...h.command] },
    periodSeconds,
    timeoutSeconds: seconds(h.timeoutMs),
    failureThreshold,
  });
  const scratch = d.scratchPaths.map((p, i) => ({ name: `scratch-${i}`, mountPath: p }));
  const container: k8s.Container = {
    name: d.kind,
    image: d.image,
    imagePullPolicy: 'IfNotPresent',
    args: [...d.args],
    ports: [{ name: d.portName, containerPort: d.port, protocol: 'TCP' }],
    env: d.env.map((e) => (e.password ? { name: e.name, valueFrom: passwordRef(d) } : { name: e.name, value: e.value! })),
    resources: {
      limits: { cpu: k8s.Quantity.fromString(`${d.resources.cpuLimitMillis}m`), memory: k8s.Quantity.fromString(mib(d.resources.memoryLimitMiB)) },
      requests: { cpu: k8s.Quantity.fromString(`${d.resources.cpuRequestMillis}m`), memory: k8s.Quantity.fromString(mib(d.resources.memoryRequestMiB)) },
    },
    securityContext: { ...nonRoot, readOnlyRootFilesystem: true, allowPrivilegeEscalation: false, privileged: false, capabilities: { drop: ['ALL'] }, seccompProfile: seccomp },
    startupProbe: probe(Math.max(3, Math.ceil(h.startPeriodMs / seconds(h.intervalMs) / 1000) + h.failureThreshold), seconds(h.intervalMs)),
    readinessProbe: probe(3, seconds(h.intervalMs)),
    livenessProbe: probe(h.failureThreshold, seconds(h.intervalMs)),
    lifecycle: d.preStop ? { preStop: { exec: { command: [...d.preStop] } } } : undefined,
    volumeMounts: [{ name: 'data', mountPath: d.dataPath }, ...scratch],
  };
  const volumes: k8s.Volume[] = scratch.map((m) => ({ name: m.name, emptyDir: { sizeLimit: k8s.Quantity.fromString('64Mi') } }));
  // A cache keeps nothing: its data directory is scratch space too.
  if (d.storageBytes === undefined) volumes.unshift({ name: 'data', emptyDir: { sizeLimit: k8s.Quantity.fromString('64Mi') } });
  const statefulSet = kubeObject(k8s.KubeStatefulSet.GVK, k8s.toJson_KubeStatefulSetProps, {
    metadata,
    spec: {
      replicas: 1,
      serviceName: `${d.name}-headless`,
      podManagementPolicy: 'OrderedReady',
      updateStrategy: { type: 'RollingUpdate' },
      revisionHistoryLimit: 5,
      minReadySeconds: 0,
      persistentVolumeClaimRetentionPolicy: d.storageBytes !== undefined ? { whenDeleted: 'Retain', whenScaled: 'Retain' } : undefined,
      selector: { matchLabels: { ...d.selector } },
      template: {
        metadata: { labels: { ...d.labels } },
        spec: {
          serviceAccountName: d.name,
          automountServiceAccountToken: false,
          enableServiceLinks: false,
          terminationGracePeriodSeconds: seconds(d.terminationGracePeriodMs),
          securityContext: { ...nonRoot, fsGroup: d.runAsUser, fsGroupChangePolicy: 'OnRootMismatch', seccompProfile: seccomp },
          containers: [container],
          volumes,
        },
      },
      volumeClaimTemplates: d.storageBytes !== undefined ? [{
        metadata: { name: 'data', labels: { ...d.labels } },
        spec: { accessModes: ['ReadWriteOnce'], resources: { requests: { storage: k8s.Quantity.fromString(storage(d.storageBytes)) } } },
      }] : undefined,
    },
  }, d.hatches.kubernetes.statefulSet, d.path);
  return [
    kubeObject(k8s.KubeServiceAccount.GVK, k8s.toJson_KubeServiceAccountProps, { metadata, automountServiceAccountToken: false }, d.hatches.kubernetes.serviceAccount, d.path),
    kubeObject(k8s.KubeService.GVK, k8s.toJson_KubeServiceProps, { metadata, spec: { type: 'ClusterIP', selector: { ...d.selector }, ports: [port] } }, d.hatches.kubernetes.service, d.path),
    kubeObject(k8s.KubeService.GVK, k8s.toJson_KubeServiceProps, {
      metadata: { ...metadata, name: `${d.name}-headless` },
      spec: { clusterIp: 'None', selector: { ...d.selector }, ports: [port], publishNotReadyAddresses: false },
    }),
    statefulSet,
  ];
}
