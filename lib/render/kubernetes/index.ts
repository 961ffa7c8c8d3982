import { ApiObject, App as Cdk8sApp, Chart, Duration as KDuration, JsonPatch, Size as KSize } from 'cdk8s';
import * as kplus from 'cdk8s-plus-27';
import { Construct } from 'constructs';
import * as yaml from 'js-yaml';
import { PyfleetError } from '../../core/errors';
import { Target } from '../../core/target';
import type { ServiceModel, StackModel, VersionModel } from '../../model/stack';
import { serviceLabels, serviceSelector, versionLabels, versionSelector } from '../../service/labels';

/** Apply order for `kubectl apply -f`: namespaces and identities first, workloads last. */
const KIND_ORDER = ['Namespace', 'ServiceAccount', 'Secret', 'ConfigMap', 'PeerAuthentication', 'Service', 'DestinationRule', 'Deployment', 'HorizontalPodAutoscaler', 'Gateway', 'VirtualService'];

/** A Kubernetes object as the target writes it. */
export interface KubeObject {
  readonly apiVersion: string;
  readonly kind: string;
  readonly metadata: { readonly name: string; readonly namespace?: string; readonly labels?: Record<string, string>; readonly annotations?: Record<string, string> };
  readonly [field: string]: unknown;
}

/**
 * A part of the Kubernetes target that adds to what it renders (Istio is one). The Kubernetes target
 * asks each extension, in order, for namespace labels and pod annotations while it builds its own
 * objects, then lets it add objects of its own; an extension never edits the target's objects.
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
  /** Adds the extension's own objects below `scope` (a construct in the target's private chart). */
  render?(model: StackModel, scope: Construct): void;
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

function wholeSeconds(ms: number): KDuration {
  // Kubernetes takes whole seconds: a grace period rounds up, never cutting a shutdown short.
  return KDuration.seconds(Math.ceil(ms / 1000));
}

/** `sleep` argument for a pre-stop pause: whole seconds, or a decimal for sub-second pauses (GNU and busybox sleep take both). */
function sleepArg(ms: number): string {
  return `${ms / 1000}`;
}

function servicePort(svc: ServiceModel['construct']): number {
  return svc.expose?.port ?? svc.port;
}

/**
 * Builds the stack's objects in a private cdk8s chart that is never attached to the user's tree, so
 * rendering twice (with the model changed in between) always matches the model of the moment.
 */
/** `owned`: the patched objects of the private chart, with the construct path of their owner (for messages). */
function build(model: StackModel, extensions: readonly KubernetesExtension[]): { chart: Chart; owned: Map<ApiObject, string> } {
  const scratch = new Cdk8sApp({ outdir: '.' });
  const chart = new Chart(scratch, model.name, { namespace: model.namespace, disableResourceNameHashes: true });
  const root = new Construct(chart, 'kubernetes');
  const owned = new Map<ApiObject, string>();
  const nsLabels: Record<string, string> = {
    ...model.labels,
    'app.kubernetes.io/part-of': model.name,
    'app.kubernetes.io/managed-by': 'pyfleet',
    'pod-security.kubernetes.io/enforce': 'restricted',
    'pod-security.kubernetes.io/enforce-version': 'latest',
  };
  for (const x of extensions) Object.assign(nsLabels, x.namespaceLabels?.(model) ?? {});
  const ns = new kplus.Namespace(root, 'namespace', { metadata: { name: model.namespace, labels: nsLabels } });
  // A Namespace is cluster-scoped: the chart's namespace must not be stamped on it.
  ApiObject.of(ns).addJsonPatch(JsonPatch.remove('/metadata/namespace'));
  for (const svc of model.services) renderService(root, model, svc, extensions, owned);
  const ext = new Construct(chart, 'extensions');
  for (const x of extensions) x.render?.(model, new Construct(ext, x.name));
  return { chart, owned };
}

function applyPatches(obj: ApiObject, patches: readonly object[] | undefined, owner: string, owned: Map<ApiObject, string>): void {
  if (!patches || patches.length === 0) return;
  ApiObject.of(obj).addJsonPatch(...(patches as JsonPatch[]));
  owned.set(obj, owner);
}

function renderService(root: Construct, model: StackModel, m: ServiceModel, extensions: readonly KubernetesExtension[], owned: Map<ApiObject, string>): void {
  const svc = m.construct;
  const scope = new Construct(root, svc.serviceName);
  const sa = new kplus.ServiceAccount(scope, 'service-account', {
    metadata: { name: svc.serviceName, labels: serviceLabels(svc) },
    automountToken: false,
  });
  applyPatches(ApiObject.of(sa), m.hatches.kubernetes.serviceAccount, m.path, owned);

  // A plain ApiObject: cdk8s-plus-27's Service drops `targetPort` when it serializes (its generated
  // toJson maps the resolved value through IntOrString again), which would break named target ports.
  const service = new ApiObject(scope, 'service', {
    apiVersion: 'v1',
    kind: 'Service',
    metadata: { name: svc.serviceName, labels: serviceLabels(svc) },
    spec: {
      type: svc.expose ? 'LoadBalancer' : 'ClusterIP',
      selector: serviceSelector(svc),
      ports: [
        { name: 'http', appProtocol: 'http', port: servicePort(svc), targetPort: 'http', protocol: 'TCP' },
        ...Object.entries(svc.additionalPorts).sort(([a], [b]) => a.localeCompare(b)).map(([name, port]) => ({ name, port, targetPort: name, protocol: 'TCP' })),
      ],
    },
  });

  applyPatches(service, m.hatches.kubernetes.service, m.path, owned);

  for (const version of m.versions) renderVersion(scope, model, m, version, sa, extensions, owned);
}

function renderVersion(scope: Construct, model: StackModel, m: ServiceModel, vm: VersionModel, sa: kplus.ServiceAccount, extensions: readonly KubernetesExtension[], owned: Map<ApiObject, string>): void {
  const svc = m.construct;
  const version = vm.construct;
  const labels = versionLabels(version);
  const annotations: Record<string, string> = {};
  for (const x of extensions) Object.assign(annotations, x.podAnnotations?.(model, m, vm) ?? {});
  const tmp = kplus.Volume.fromEmptyDir(scope, `version-${version.versionName}-tmp`, 'tmp', { sizeLimit: KSize.mebibytes(64) });
  const deployment = new kplus.Deployment(scope, `version-${version.versionName}`, {
    metadata: { name: version.workloadName, labels },
    podMetadata: Object.keys(annotations).length ? { labels, annotations } : { labels },
    select: false,
    replicas: vm.replicas,
    strategy: kplus.DeploymentStrategy.rollingUpdate({
      maxSurge: kplus.PercentOrAbsolute.absolute(1),
      maxUnavailable: kplus.PercentOrAbsolute.absolute(0),
    }),
    serviceAccount: sa,
    automountServiceAccountToken: false,
    terminationGracePeriod: wholeSeconds(svc.terminationGracePeriod.millis),
    securityContext: { ensureNonRoot: true, user: svc.runAsUser, group: svc.runAsUser, fsGroup: svc.runAsUser },
    volumes: [tmp],
  });
  deployment.select(kplus.LabelSelector.of({ labels: versionSelector(version) }));

  const hc = svc.healthCheck;
  const probeOpts = {
    port: svc.healthPort,
    periodSeconds: wholeSeconds(hc.interval.millis),
    timeoutSeconds: wholeSeconds(hc.timeout.millis),
    failureThreshold: hc.failureThreshold,
  };
  const container = deployment.addContainer({
    name: 'app',
    image: vm.image.reference,
    imagePullPolicy: kplus.ImagePullPolicy.IF_NOT_PRESENT,
    ports: [
      { name: 'http', number: svc.port, protocol: kplus.Protocol.TCP },
      ...Object.entries(svc.additionalPorts).sort(([a], [b]) => a.localeCompare(b)).map(([name, number]) => ({ name, number, protocol: kplus.Protocol.TCP })),
    ],
    command: svc.command,
    args: svc.args,
    envVariables: envVariables(scope, model, m, vm),
    resources: {
      cpu: { request: kplus.Cpu.millis(svc.cpuRequest.millis), limit: kplus.Cpu.millis(svc.cpuLimit.millis) },
      memory: { request: KSize.mebibytes(svc.memoryRequest.mebibytes), limit: KSize.mebibytes(svc.memoryLimit.mebibytes) },
    },
    securityContext: {
      ensureNonRoot: true,
      user: svc.runAsUser,
      group: svc.runAsUser,
      readOnlyRootFilesystem: true,
      allowPrivilegeEscalation: false,
      privileged: false,
    },
    readiness: hc.enabled ? kplus.Probe.fromHttpGet(hc.path!, probeOpts) : undefined,
    liveness: hc.enabled ? kplus.Probe.fromHttpGet(hc.path!, { ...probeOpts, failureThreshold: hc.failureThreshold + 2 }) : undefined,
    startup: hc.enabled
      ? kplus.Probe.fromHttpGet(hc.path!, {
        ...probeOpts,
        periodSeconds: KDuration.seconds(2),
        timeoutSeconds: wholeSeconds(hc.timeout.millis),
        failureThreshold: Math.max(3, Math.ceil(hc.startPeriod.seconds / 2) + hc.failureThreshold),
      })
      : undefined,
    lifecycle: svc.preStopDelay.millis > 0 ? { preStop: kplus.Handler.fromCommand(['sleep', sleepArg(svc.preStopDelay.millis)]) } : undefined,
  });
  container.mount('/tmp', tmp);

  const obj = ApiObject.of(deployment);
  obj.addJsonPatch(JsonPatch.add('/spec/template/spec/securityContext/seccompProfile', { type: 'RuntimeDefault' }));
  obj.addJsonPatch(JsonPatch.add('/spec/template/spec/containers/0/securityContext/seccompProfile', { type: 'RuntimeDefault' }));
  obj.addJsonPatch(JsonPatch.add('/spec/template/spec/containers/0/securityContext/capabilities', { drop: ['ALL'] }));
  obj.addJsonPatch(JsonPatch.add('/spec/revisionHistoryLimit', 5));
  // cdk8s-plus labels pods with a construct address; selection is by app/version, so drop it.
  obj.addJsonPatch(JsonPatch.remove('/spec/template/metadata/labels/cdk8s.io~1metadata.addr'));
  if (!hc.enabled) {
    // cdk8s-plus injects a TCP startup probe when none is given; no health check means no probes.
    obj.addJsonPatch(JsonPatch.remove('/spec/template/spec/containers/0/startupProbe'));
  }
  applyPatches(obj, vm.hatches.kubernetes.deployment, vm.path, owned);
}

function envVariables(scope: Construct, model: StackModel, m: ServiceModel, vm: VersionModel): Record<string, kplus.EnvValue> {
  const env: Record<string, kplus.EnvValue> = {};
  for (const callee of m.calls) {
    const c = model.service(callee);
    env[c.urlVariable] = kplus.EnvValue.fromValue(c.addresses.kubernetes);
  }
  for (const [k, v] of Object.entries(vm.env)) {
    if (v.secret) {
      const id = `secret-${v.secret.name}`;
      const secret = (scope.node.tryFindChild(id) as kplus.ISecret | undefined) ?? kplus.Secret.fromSecretName(scope, id, v.secret.name);
      env[k] = kplus.EnvValue.fromSecretValue({ secret, key: v.secret.key });
    } else {
      env[k] = kplus.EnvValue.fromValue(v.value!);
    }
  }
  const sorted: Record<string, kplus.EnvValue> = {};
  for (const k of Object.keys(env).sort()) sorted[k] = env[k];
  return sorted;
}

function rank(kind: string): number {
  const i = KIND_ORDER.indexOf(kind);
  return i < 0 ? KIND_ORDER.length : i;
}

/** The user's own cdk8s objects (ApiObjects, cdk8s-plus constructs) inside a stack, synthesized with it. */
function userObjects(model: StackModel): ApiObject[] {
  const stack = model.construct;
  return stack.node.findAll().filter((c): c is ApiObject => c instanceof ApiObject && Chart.of(c) === stack);
}

/** The stack's Kubernetes objects as JSON, in apply order: pyfleet's, its extensions' and the user's own. */
export function manifests(model: StackModel, extensions: readonly KubernetesExtension[] = []): KubeObject[] {
  const { chart, owned } = build(model, extensions);
  const objects = [...chart.node.findAll().filter((c): c is ApiObject => c instanceof ApiObject), ...userObjects(model)].map((o) => {
    const owner = owned.get(o);
    if (owner === undefined) return o.toJson() as KubeObject;
    try {
      return o.toJson() as KubeObject;
    } catch (e) {
      throw new PyfleetError(owner, `a JSON patch on the generated ${o.kind} "${o.metadata.name}" cannot be applied: ${String((e as Error).message).split('\n')[0]}`,
        'patch a path that exists in the generated object (see it in the synthesized manifest), or use JsonPatch.add for a new field');
    }
  });
  // Stable: by kind rank, then name (construct order is definition order, which is deterministic).
  return objects
    .map((o, i) => ({ o, i }))
    .sort((a, b) => rank(a.o.kind) - rank(b.o.kind) || String(a.o.metadata?.name).localeCompare(String(b.o.metadata?.name)) || a.i - b.i)
    .map((x) => x.o);
}

/** Serializes manifests the way cdk8s does (one multi-document file), with js-yaml for speed. */
export function toYaml(objects: readonly object[]): string {
  return objects.map((o) => yaml.dump(o, { noRefs: true, lineWidth: -1, sortKeys: false })).join('---\n');
}

/** The Kubernetes target: `<stack>.k8s.yaml` with every object of the stack, its extensions' included. */
export function kubernetesTarget(options: KubernetesTargetOptions = {}): Target<KubernetesResult> & { readonly extensions: readonly KubernetesExtension[] } {
  const extensions = [...(options.extensions ?? [])];
  return {
    name: 'kubernetes',
    extensions,
    validate: (models) => extensions.flatMap((x) => x.validate?.(models) ?? []),
    render(model) {
      const objects = manifests(model, extensions);
      return { result: objects, artifacts: [{ path: `${model.name}.k8s.yaml`, content: toYaml(objects) }] };
    },
  };
}
