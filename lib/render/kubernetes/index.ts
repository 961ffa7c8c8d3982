import { ApiObject, Chart } from 'cdk8s';
import { k8s } from 'cdk8s-plus-27';
import { PyfleetError } from '../../core/errors';
import { Target } from '../../model/target';
import type { WorkerModel } from '../../model/jobs';
import type { ServiceModel, StackModel, VersionModel } from '../../model/stack';
import { backgroundObjects, migrationGate } from './background';
import { KubeObject, kubeObject } from './object';
import { containerMounts, hasPersistentVolume, podVolumes, recreates, volumeObjects, volumeWarnings } from './volumes';
import { autoscalerObject, checkAutoscaledDeployment, disruptionBudgetObject, scalingHatchProblems, scalingWarnings, spreadConstraints } from './scaling';
import { DOCUMENT_SEPARATOR, dumpDocument, dumpDocuments } from '../yaml';
import { dataStoreObjects, storeEnv } from './data';

export { KubeObject } from './object';

// The Kubernetes target builds every object as a typed value of the generated Kubernetes 1.27 API
// (cdk8s-plus-27's `k8s` imports: `k8s.DeploymentSpec`, `k8s.ServiceSpec`, ...) and serializes it with
// the generated `toJson_*` functions, the ones cdk8s's own ApiObjects use. It creates no constructs:
// a construct per object costs more than the object itself at a thousand services, and rendering must
// not touch the user's tree. Output is canonical as cdk8s writes it (keys sorted, `apiVersion`, `kind`,
// `metadata` first), so manifests match what a cdk8s chart would synthesize.

/** Apply order for `kubectl apply -f`: namespaces and identities first, workloads last. */
const KIND_ORDER = ['Namespace', 'ServiceAccount', 'Role', 'RoleBinding', 'Secret', 'ConfigMap', 'PersistentVolumeClaim', 'PeerAuthentication', 'NetworkPolicy', 'AuthorizationPolicy', 'Service', 'DestinationRule', 'StatefulSet', 'Job', 'Deployment', 'CronJob', 'PodDisruptionBudget', 'HorizontalPodAutoscaler', 'Gateway', 'VirtualService', 'ServiceMonitor', 'PodMonitor'];

/**
 * A part of the Kubernetes target that adds to what it renders (Istio is one). The Kubernetes target
 * asks each extension, in order, for namespace labels and pod annotations while it builds its own
 * objects, then for objects of its own; an extension never edits the target's objects.
 */
export interface KubernetesExtension {
  /** Name, for messages. */
  readonly name: string;
  /** Rules of this extension, checked before anything renders. */
  validate?(models: readonly StackModel[]): PyfleetError[];
  /** Labels for the stack's Namespace. */
  namespaceLabels?(model: StackModel): Record<string, string>;
  /** Annotations for the pods of a version. */
  podAnnotations?(model: StackModel, service: ServiceModel, version: VersionModel): Record<string, string>;
  /** Annotations for the pods of a worker. */
  workerPodAnnotations?(model: StackModel, worker: WorkerModel): Record<string, string>;
  /**
   * The extension's own objects for the stack, complete with `metadata.namespace` (build them with
   * {@link kubeObject} to get cdk8s's canonical form). They are written with the target's, in apply order.
   * An array, or any iterable: a generator that makes them one by one lets `synth()` write each as text
   * before the next is built, so a large stack never holds them all.
   */
  objects?(model: StackModel): Iterable<KubeObject>;
  /**
   * Names the extension's code, as `Target.cacheVersion` does: the Kubernetes target keeps its file of
   * the last synth (an unchanged program) only when every extension sets it.
   * @default - the target renders at every synth
   */
  readonly cacheVersion?: string;
}

/** Options of the Kubernetes target. */
export interface KubernetesTargetOptions {
  /**
   * Extensions rendered as part of the target.
   * @default - none (the default targets pass Istio)
   */
  readonly extensions?: readonly KubernetesExtension[];
}

/** The stack's manifests, in apply order. */
export type KubernetesResult = KubeObject[];

/** A generated API kind: its group/version/kind and the generated serializer of its props. */
interface Kind<P> {
  readonly gvk: { readonly apiVersion: string; readonly kind: string };
  readonly toJson: (props: P) => Record<string, unknown> | undefined;
}

const NAMESPACE: Kind<k8s.KubeNamespaceProps> = { gvk: k8s.KubeNamespace.GVK, toJson: k8s.toJson_KubeNamespaceProps };
const SERVICE_ACCOUNT: Kind<k8s.KubeServiceAccountProps> = { gvk: k8s.KubeServiceAccount.GVK, toJson: k8s.toJson_KubeServiceAccountProps };
const SERVICE: Kind<k8s.KubeServiceProps> = { gvk: k8s.KubeService.GVK, toJson: k8s.toJson_KubeServiceProps };
const DEPLOYMENT: Kind<k8s.KubeDeploymentProps> = { gvk: k8s.KubeDeployment.GVK, toJson: k8s.toJson_KubeDeploymentProps };

/**
 * One generated object in canonical form. `patches` (escape hatches) are applied to the canonical
 * JSON, as cdk8s applies `ApiObject.addJsonPatch`; a patch that cannot apply names `owner`.
 */
function generated<P extends object>(kind: Kind<P>, props: P, patches?: readonly object[], owner?: string): KubeObject {
  return kubeObject(kind.gvk, kind.toJson, props, patches, owner);
}

/** `sleep` argument for a pre-stop pause: whole seconds, or a decimal for sub-second pauses (GNU and busybox sleep take both). */
function sleepArg(ms: number): string {
  return `${ms / 1000}`;
}

/** Kubernetes takes whole seconds: a duration rounds up, never cutting a shutdown or a check short. */
function seconds(ms: number): number {
  return Math.ceil(ms / 1000);
}

function namespaceObject(model: StackModel, extensions: readonly KubernetesExtension[]): KubeObject {
  const labels: Record<string, string> = {
    ...model.labels,
    'app.kubernetes.io/part-of': model.name,
    'app.kubernetes.io/managed-by': 'pyfleet',
    'pod-security.kubernetes.io/enforce': 'restricted',
    'pod-security.kubernetes.io/enforce-version': 'latest',
  };
  for (const x of extensions) Object.assign(labels, x.namespaceLabels?.(model) ?? {});
  // Cluster-scoped: no metadata.namespace.
  return generated(NAMESPACE, { metadata: { name: model.namespace, labels }, spec: {} });
}

function serviceObjects(model: StackModel, m: ServiceModel, extensions: readonly KubernetesExtension[]): KubeObject[] {
  const s = m.settings;
  const metadata = { name: m.name, namespace: model.namespace, labels: { ...m.labels } };
  const out: KubeObject[] = [
    generated(SERVICE_ACCOUNT, { metadata, automountServiceAccountToken: false }, m.hatches.kubernetes.serviceAccount, m.path),
    generated(SERVICE, {
      metadata,
      spec: {
        type: s.exposedPort !== undefined ? 'LoadBalancer' : 'ClusterIP',
        selector: { ...m.selector },
        ports: [
          { name: 'http', appProtocol: 'http', port: s.servicePort, targetPort: k8s.IntOrString.fromString('http'), protocol: 'TCP' },
          ...s.additionalPorts.map((p) => ({ name: p.name, port: p.port, targetPort: k8s.IntOrString.fromString(p.name), protocol: 'TCP' })),
        ],
      },
    }, m.hatches.kubernetes.service, m.path),
  ];
  out.push(...volumeObjects(model, m));
  for (const v of m.versions) {
    const deployment = deploymentObject(model, m, v, extensions);
    checkAutoscaledDeployment(v, deployment);
    out.push(deployment);
    for (const o of [disruptionBudgetObject(model, v), autoscalerObject(model, v)]) if (o) out.push(o);
  }
  return out;
}

function envVars(model: StackModel, m: ServiceModel, vm: VersionModel): k8s.EnvVar[] | undefined {
  const env = new Map<string, k8s.EnvVar>();
  for (const callee of m.calls) {
    const c = model.service(callee);
    env.set(c.urlVariable, { name: c.urlVariable, value: c.addresses.kubernetes });
  }
  // Backing services: their parts and password; their URLs, which reference the password as $(VAR), go last.
  const stores = storeEnv(model, m);
  for (const e of stores.plain) env.set(e.name, e);
  for (const [name, v] of Object.entries(vm.env)) {
    env.set(name, v.secret ? { name, valueFrom: { secretKeyRef: { name: v.secret.name, key: v.secret.key } } } : { name, value: v.value! });
  }
  const out = [...[...env.keys()].sort().map((k) => env.get(k)!), ...stores.dependent];
  return out.length ? out : undefined;
}

function deploymentObject(model: StackModel, m: ServiceModel, vm: VersionModel, extensions: readonly KubernetesExtension[]): KubeObject {
  const s = m.settings;
  const hc = s.health;
  const annotations: Record<string, string> = {};
  for (const x of extensions) Object.assign(annotations, x.podAnnotations?.(model, m, vm) ?? {});
  // A Migration holds the version's pods in an init container until its Job succeeded (background.ts);
  // in a mesh the init container runs before the sidecar, so its call to the API server bypasses it.
  const gate = migrationGate(model, vm, s.runAsUser);
  if (gate && model.mesh) annotations['traffic.sidecar.istio.io/excludeOutboundPorts'] = '443,6443';
  const probe = (failureThreshold: number, periodSeconds: number): k8s.Probe => ({
    httpGet: { path: hc.path!, port: k8s.IntOrString.fromNumber(hc.port), scheme: 'HTTP' },
    periodSeconds,
    timeoutSeconds: seconds(hc.timeoutMs),
    failureThreshold,
  });
  const nonRoot = { runAsNonRoot: true, runAsUser: s.runAsUser, runAsGroup: s.runAsUser };
  const seccomp = { type: 'RuntimeDefault' };
  const container: k8s.Container = {
    name: 'app',
    image: vm.image.reference,
    imagePullPolicy: 'IfNotPresent',
    command: s.command ? [...s.command] : undefined,
    args: s.args ? [...s.args] : undefined,
    ports: [
      { name: 'http', containerPort: s.port, protocol: 'TCP' },
      ...s.additionalPorts.map((p) => ({ name: p.name, containerPort: p.port, protocol: 'TCP' })),
    ],
    env: envVars(model, m, vm),
    resources: {
      limits: { cpu: k8s.Quantity.fromString(`${s.resources.cpuLimitMillis}m`), memory: k8s.Quantity.fromString(mebibytes(s.resources.memoryLimitMiB)) },
      requests: { cpu: k8s.Quantity.fromString(`${s.resources.cpuRequestMillis}m`), memory: k8s.Quantity.fromString(mebibytes(s.resources.memoryRequestMiB)) },
    },
    securityContext: { ...nonRoot, readOnlyRootFilesystem: true, allowPrivilegeEscalation: false, privileged: false, capabilities: { drop: ['ALL'] }, seccompProfile: seccomp },
    readinessProbe: hc.enabled ? probe(hc.failureThreshold, seconds(hc.intervalMs)) : undefined,
    livenessProbe: hc.enabled ? probe(hc.failureThreshold + 2, seconds(hc.intervalMs)) : undefined,
    startupProbe: hc.enabled ? probe(Math.max(3, Math.ceil(hc.startPeriodMs / 2000) + hc.failureThreshold), 2) : undefined,
    lifecycle: s.preStopDelayMs > 0 ? { preStop: { exec: { command: ['sleep', sleepArg(s.preStopDelayMs)] } } } : undefined,
    volumeMounts: [{ name: 'tmp', mountPath: '/tmp' }, ...containerMounts(m)],
  };
  return generated(DEPLOYMENT, {
    metadata: { name: vm.workloadName, namespace: model.namespace, labels: { ...vm.labels } },
    spec: {
      // An autoscaled Deployment carries no replicas: an apply would reset what the autoscaler chose.
      replicas: vm.autoscale ? undefined : vm.replicas,
      minReadySeconds: 0,
      progressDeadlineSeconds: 600,
      revisionHistoryLimit: 5,
      selector: { matchLabels: { ...vm.selector } },
      // A read-write-once claim cannot be mounted by a surge pod on another node: stop, then start (see volumes.ts).
      strategy: recreates(m) ? { type: 'Recreate' }
        : { type: 'RollingUpdate', rollingUpdate: { maxSurge: k8s.IntOrString.fromNumber(s.rollout.maxSurge), maxUnavailable: k8s.IntOrString.fromNumber(s.rollout.maxUnavailable) } },
      template: {
        metadata: Object.keys(annotations).length ? { labels: { ...vm.labels }, annotations } : { labels: { ...vm.labels } },
        spec: {
          serviceAccountName: m.name,
          automountServiceAccountToken: false,
          dnsPolicy: 'ClusterFirst',
          hostNetwork: false,
          restartPolicy: 'Always',
          setHostnameAsFqdn: false,
          terminationGracePeriodSeconds: seconds(s.terminationGracePeriodMs),
          securityContext: { ...nonRoot, fsGroup: s.runAsUser, fsGroupChangePolicy: hasPersistentVolume(m) ? 'OnRootMismatch' : 'Always', seccompProfile: seccomp, sysctls: unprivilegedPorts(s) },
          initContainers: gate?.initContainers,
          containers: [container],
          topologySpreadConstraints: spreadConstraints(s, vm),
          volumes: [{ name: 'tmp', emptyDir: { sizeLimit: k8s.Quantity.fromString('64Mi') } }, ...podVolumes(m, vm), ...(gate?.volumes ?? [])],
        },
      },
    },
  }, vm.hatches.kubernetes.deployment, vm.path);
}

/**
 * A non-root container with every capability dropped cannot bind a port below 1024, unless the pod's
 * network namespace lowers `net.ipv4.ip_unprivileged_port_start` (a "safe" sysctl since Kubernetes
 * 1.22, allowed by Pod Security "restricted"): set to the lowest privileged port the pod listens on.
 */
function unprivilegedPorts(s: ServiceModel['settings']): k8s.Sysctl[] | undefined {
  const lowest = Math.min(s.port, s.health.port, ...s.additionalPorts.map((p) => p.port));
  return lowest < 1024 ? [{ name: 'net.ipv4.ip_unprivileged_port_start', value: String(lowest) }] : undefined;
}

/** A memory quantity: whole MiB as `<n>Mi`, else whole KiB, else bytes (all exact). */
function mebibytes(mib: number): string {
  if (Number.isInteger(mib)) return `${mib}Mi`;
  const kib = mib * 1024;
  return Number.isInteger(kib) ? `${kib}Ki` : `${Math.round(mib * 1024 * 1024)}`;
}

function rank(kind: string): number {
  const i = KIND_ORDER.indexOf(kind);
  return i < 0 ? KIND_ORDER.length : i;
}

/** The user's own cdk8s objects (ApiObjects, cdk8s-plus constructs) inside a stack, synthesized with it. */
function userObjects(model: StackModel): KubeObject[] {
  const stack = model.construct;
  return stack.node.findAll()
    .filter((c): c is ApiObject => c instanceof ApiObject && Chart.of(c) === stack)
    .map((o) => o.toJson() as KubeObject);
}

const collator = new Intl.Collator();

/** The stack's Kubernetes objects as JSON, in apply order: pyfleet's, its extensions' and the user's own. */
export function manifests(model: StackModel, extensions: readonly KubernetesExtension[] = []): KubeObject[] {
  return inApplyOrder(model, extensions, (o) => o);
}

/**
 * Each object of the stack made into `as(object)` as soon as it is built, in apply order. With
 * `as` a serializer, no more than a service's objects are ever held at once.
 */
function inApplyOrder<V>(model: StackModel, extensions: readonly KubernetesExtension[], as: (o: KubeObject) => V): V[] {
  const entries: { v: V; i: number; r: number; n: string }[] = [];
  const add = (objects: Iterable<KubeObject>): void => {
    for (const o of objects) entries.push({ v: as(o), i: entries.length, r: rank(o.kind), n: String(o.metadata?.name) });
  };
  add([namespaceObject(model, extensions)]);
  for (const m of model.services) add(serviceObjects(model, m, extensions));
  for (const d of model.dataStores) add(dataStoreObjects(model, d));
  add(backgroundObjects(model, extensions));
  for (const x of extensions) add(x.objects?.(model) ?? []);
  add(userObjects(model));
  // Stable: by kind rank, then name (definition order breaks ties, and is deterministic).
  return entries.sort((a, b) => a.r - b.r || collator.compare(a.n, b.n) || a.i - b.i).map((x) => x.v);
}

/** Serializes manifests the way cdk8s does (one multi-document file), byte for byte as js-yaml writes them. */
export function toYaml(objects: readonly object[]): string {
  return dumpDocuments(objects);
}

/**
 * The Kubernetes target: `<stack>.k8s.yaml` with every object of the stack, its extensions' included.
 * The returned target also carries `extensions`, the extensions it renders (from `options`, in order).
 */
export function kubernetesTarget(options: KubernetesTargetOptions = {}): Target<KubernetesResult> & { readonly extensions: readonly KubernetesExtension[] } {
  const extensions = [...(options.extensions ?? [])];
  return {
    name: 'kubernetes',
    extensions,
    cacheVersion: extensions.every((x) => x.cacheVersion !== undefined)
      ? ['pyfleet', ...extensions.map((x) => `${x.name}@${x.cacheVersion}`)].join(';') : undefined,
    validate: (models) => [...scalingHatchProblems(models), ...extensions.flatMap((x) => x.validate?.(models) ?? [])],
    warnings: (models) => [...scalingWarnings(models), ...volumeWarnings(models)],
    render(model, options) {
      if (options?.result === false) {
        // Only the file is wanted: each object becomes text as it is built and is let go.
        const texts = inApplyOrder(model, extensions, (o) => dumpDocument(o));
        return { artifacts: [{ path: `${model.name}.k8s.yaml`, content: texts.join(DOCUMENT_SEPARATOR) }] };
      }
      const objects = manifests(model, extensions);
      return { result: objects, artifacts: [{ path: `${model.name}.k8s.yaml`, content: toYaml(objects) }] };
    },
  };
}
