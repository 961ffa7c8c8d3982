import { ApiObject, Duration as KDuration, JsonPatch, Size as KSize } from 'cdk8s';
import * as kplus from 'cdk8s-plus-27';
import { Construct } from 'constructs';
import * as yaml from 'js-yaml';
import { registerRenderer } from '../../core/renderer';
import { Stack } from '../../core/stack';
import { serviceLabels, serviceSelector, versionLabels, versionSelector } from '../../service/labels';
import { MicroService, ServiceVersion } from '../../service/microservice';
import { imageReference } from '../../service/reference';

/** Apply order for `kubectl apply -f`: namespaces and identities first, workloads last. */
const KIND_ORDER = ['Namespace', 'ServiceAccount', 'Secret', 'ConfigMap', 'PeerAuthentication', 'Service', 'DestinationRule', 'Deployment', 'HorizontalPodAutoscaler', 'Gateway', 'VirtualService'];

/** In-cluster address of a service. */
export function clusterUrl(svc: MicroService): string {
  return `http://${svc.serviceName}.${svc.stack.namespaceName}.svc.cluster.local:${servicePort(svc)}`;
}

function servicePort(svc: MicroService): number {
  return svc.expose?.port ?? svc.port;
}

function toKDuration(ms: number): KDuration {
  return KDuration.millis(ms);
}

function prepare(stack: Stack): void {
  const root = new Construct(stack, 'kubernetes');
  const ns = new kplus.Namespace(root, 'namespace', {
    metadata: {
      name: stack.namespaceName,
      labels: {
        ...stack.extraLabels,
        'app.kubernetes.io/part-of': stack.stackName,
        'app.kubernetes.io/managed-by': 'pyfleet',
        'pod-security.kubernetes.io/enforce': 'restricted',
        'pod-security.kubernetes.io/enforce-version': 'latest',
      },
    },
  });
  // A Namespace is cluster-scoped: the chart's namespace must not be stamped on it.
  ApiObject.of(ns).addJsonPatch(JsonPatch.remove('/metadata/namespace'));
  for (const svc of stack.services) renderService(root, svc);
}

function renderService(root: Construct, svc: MicroService): void {
  const scope = new Construct(root, svc.serviceName);
  const sa = new kplus.ServiceAccount(scope, 'service-account', {
    metadata: { name: svc.serviceName, labels: serviceLabels(svc) },
    automountToken: false,
  });

  // A plain ApiObject: cdk8s-plus-27's Service drops `targetPort` when it serializes (its generated
  // toJson maps the resolved value through IntOrString again), which would break named target ports.
  new ApiObject(scope, 'service', {
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

  for (const version of svc.versions) renderVersion(scope, svc, version, sa);
}

function renderVersion(scope: Construct, svc: MicroService, version: ServiceVersion, sa: kplus.ServiceAccount): void {
  const labels = versionLabels(version);
  const tmp = kplus.Volume.fromEmptyDir(scope, `${version.versionName}-tmp`, 'tmp', { sizeLimit: KSize.mebibytes(64) });
  const deployment = new kplus.Deployment(scope, version.versionName, {
    metadata: { name: version.workloadName, labels },
    podMetadata: { labels },
    select: false,
    replicas: version.replicas,
    strategy: kplus.DeploymentStrategy.rollingUpdate({
      maxSurge: kplus.PercentOrAbsolute.absolute(1),
      maxUnavailable: kplus.PercentOrAbsolute.absolute(0),
    }),
    serviceAccount: sa,
    automountServiceAccountToken: false,
    terminationGracePeriod: toKDuration(svc.terminationGracePeriod.millis),
    securityContext: { ensureNonRoot: true, user: svc.runAsUser, group: svc.runAsUser, fsGroup: svc.runAsUser },
    volumes: [tmp],
  });
  deployment.select(kplus.LabelSelector.of({ labels: versionSelector(version) }));

  const hc = svc.healthCheck;
  const probeOpts = {
    port: svc.healthPort,
    periodSeconds: toKDuration(hc.interval.millis),
    timeoutSeconds: toKDuration(hc.timeout.millis),
    failureThreshold: hc.failureThreshold,
  };
  const container = deployment.addContainer({
    name: 'app',
    image: imageReference(version),
    imagePullPolicy: kplus.ImagePullPolicy.IF_NOT_PRESENT,
    ports: [
      { name: 'http', number: svc.port, protocol: kplus.Protocol.TCP },
      ...Object.entries(svc.additionalPorts).sort(([a], [b]) => a.localeCompare(b)).map(([name, number]) => ({ name, number, protocol: kplus.Protocol.TCP })),
    ],
    command: svc.command,
    args: svc.args,
    envVariables: envVariables(scope, version),
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
        timeoutSeconds: toKDuration(hc.timeout.millis),
        failureThreshold: Math.max(3, Math.ceil(hc.startPeriod.seconds / 2) + hc.failureThreshold),
      })
      : undefined,
    lifecycle: svc.preStopDelay.millis > 0 ? { preStop: kplus.Handler.fromCommand(['sleep', `${svc.preStopDelay.wholeSeconds}`]) } : undefined,
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
}

function envVariables(scope: Construct, version: ServiceVersion): Record<string, kplus.EnvValue> {
  const svc = version.service;
  const env: Record<string, kplus.EnvValue> = {};
  for (const callee of svc.calls) env[callee.urlVariable] = kplus.EnvValue.fromValue(clusterUrl(callee));
  for (const [k, v] of Object.entries(version.env)) {
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

/** The stack's Kubernetes objects as JSON, in apply order (validated once by App.synthesize). */
export function manifests(stack: Stack): any[] {
  const objects = stack.node.findAll()
    .filter((c): c is ApiObject => c instanceof ApiObject && Stack.of(c) === stack)
    .map((o) => o.toJson());
  const rank = (kind: string): number => {
    const i = KIND_ORDER.indexOf(kind);
    return i < 0 ? KIND_ORDER.length : i;
  };
  // Stable: by kind rank, then name (findAll order is definition order, which is already deterministic).
  return objects
    .map((o, i) => ({ o, i }))
    .sort((a, b) => rank(a.o.kind) - rank(b.o.kind) || String(a.o.metadata?.name).localeCompare(String(b.o.metadata?.name)) || a.i - b.i)
    .map((x) => x.o);
}

/** Serializes manifests the way cdk8s does (one multi-document file), with js-yaml for speed. */
export function toYaml(objects: any[]): string {
  return objects.map((o) => yaml.dump(o, { noRefs: true, lineWidth: -1, sortKeys: false })).join('---\n');
}

registerRenderer({
  name: 'kubernetes',
  order: 100,
  prepare,
  render(stack) {
    const objects = manifests(stack);
    return { result: objects, artifacts: [{ path: `${stack.stackName}.k8s.yaml`, content: toYaml(objects) }] };
  },
});
