// The comparison program of bench/synth.ts: the Kubernetes documents of the scenario built by hand with
// cdk8s-plus-27 and synthesized by cdk8s's own `App.synth()` (one Chart, one `<chart>.k8s.yaml`).
//
// It is what a user would write without pyfleet to get the same manifests: per service a ServiceAccount
// and a Service, per version a Deployment, configured like pyfleet's output (containers, ports, probes,
// resources, security contexts, rollout settings, labels and selectors), and the Istio documents
// (PeerAuthentication, DestinationRule, VirtualService) as plain cdk8s ApiObjects. Where cdk8s-plus has
// no setting for a field pyfleet writes, a cdk8s JSON patch on the object adds it (cdk8s's own escape
// hatch); `bench/synth.ts --check` prints the fields that still differ from pyfleet's documents.
//
// It writes only Kubernetes manifests: no build contexts, compose project or gateway configs.
import { ApiObject, App, Chart, Duration, JsonPatch, Size } from 'cdk8s';
import * as kplus from 'cdk8s-plus-27';
import { SCENARIO, serviceName, VERSIONS } from './scenario';

/** Labels pyfleet puts on every object of the stack. */
const STACK_LABELS = { 'app.kubernetes.io/managed-by': 'pyfleet', 'app.kubernetes.io/part-of': SCENARIO.stack };
const HOST_SUFFIX = `${SCENARIO.namespace}.svc.cluster.local`;
/** Run-as UID and GID of pyfleet's containers. */
const UID = 10001;
/** pyfleet's preStop pause and termination grace period (pause + 30 s graceful shutdown + 5 s). */
const PRE_STOP_SECONDS = 5;
const GRACE_PERIOD_SECONDS = 40;
/** Startup probe: every 2 s for up to 36 s (pyfleet's 30 s start period rounded up to whole probes). */
const STARTUP = { periodSeconds: 2, failureThreshold: 18 };
const SECCOMP = { type: 'RuntimeDefault' };

/**
 * Builds the scenario's Kubernetes documents for services 0..n-1 in a cdk8s App writing to `outdir`.
 * `images` maps each workload (`svc-<i>-<version>`) to its image reference; they are the content-hash
 * tags pyfleet computed for its build contexts (read from its output, outside the timing).
 */
export function buildCdk8sPlus(n: number, images: Readonly<Record<string, string>>, outdir: string): App {
  const app = new App({ outdir });
  const chart = new Chart(app, SCENARIO.stack, { namespace: SCENARIO.namespace, disableResourceNameHashes: true });

  const ns = new kplus.Namespace(chart, 'namespace', {
    metadata: {
      name: SCENARIO.namespace,
      labels: {
        ...STACK_LABELS,
        'istio-injection': 'enabled',
        'pod-security.kubernetes.io/enforce': 'restricted',
        'pod-security.kubernetes.io/enforce-version': 'latest',
      },
    },
  });
  // A Namespace is cluster-scoped: cdk8s would otherwise give it the chart's namespace.
  ApiObject.of(ns).addJsonPatch(JsonPatch.remove('/metadata/namespace'), JsonPatch.add('/spec', {}));

  new ApiObject(chart, 'peer-authentication', {
    apiVersion: 'security.istio.io/v1',
    kind: 'PeerAuthentication',
    metadata: { name: 'default', labels: { ...STACK_LABELS } },
    spec: { mtls: { mode: 'STRICT' } },
  });

  for (let i = 0; i < n; i++) addService(chart, i, images);
  return app;
}

function addService(chart: Chart, i: number, images: Readonly<Record<string, string>>): void {
  const name = serviceName(i);
  const host = `${name}.${HOST_SUFFIX}`;
  const labels = { app: name, ...STACK_LABELS, 'app.kubernetes.io/name': name };

  const account = new kplus.ServiceAccount(chart, `${name}-sa`, { metadata: { name, labels }, automountToken: false });

  const service = new kplus.Service(chart, `${name}-svc`, {
    metadata: { name, labels },
    type: kplus.ServiceType.CLUSTER_IP,
    ports: [{ name: 'http', port: SCENARIO.port, targetPort: SCENARIO.port, protocol: kplus.Protocol.TCP }],
  });
  service.selectLabel('app', name);
  // cdk8s-plus has no appProtocol. Its target port is a number (8000, where pyfleet names the port
  // `http`); a JSON patch to the name does not survive, as the Service maps its ports once more after
  // the patches and loses a string.
  ApiObject.of(service).addJsonPatch(JsonPatch.add('/spec/ports/0/appProtocol', 'http'));

  for (const version of VERSIONS) {
    addDeployment(chart, i, version, account, images[`${name}-${version}`]);
  }

  new ApiObject(chart, `${name}-dr`, {
    apiVersion: 'networking.istio.io/v1',
    kind: 'DestinationRule',
    metadata: { name, labels },
    spec: {
      host,
      subsets: VERSIONS.map((v) => ({ name: v, labels: { version: v } })),
      trafficPolicy: {
        connectionPool: { http: { idleTimeout: '74500ms' }, tcp: { maxConnections: SCENARIO.breaker.maxConnections } },
        outlierDetection: {
          baseEjectionTime: `${SCENARIO.breaker.baseEjectionSeconds}s`,
          consecutive5xxErrors: SCENARIO.breaker.consecutive5xxErrors,
          interval: `${SCENARIO.breaker.intervalSeconds}s`,
        },
        tls: { mode: 'ISTIO_MUTUAL' },
      },
    },
  });

  new ApiObject(chart, `${name}-vs`, {
    apiVersion: 'networking.istio.io/v1',
    kind: 'VirtualService',
    metadata: { name, labels },
    spec: {
      hosts: [host],
      http: [{
        name: 'rule-0',
        retries: { attempts: 0 },
        route: [
          { destination: { host, port: { number: SCENARIO.port }, subset: 'v1' }, weight: 100 - SCENARIO.canaryWeight },
          { destination: { host, port: { number: SCENARIO.port }, subset: 'v2' }, weight: SCENARIO.canaryWeight },
        ],
      }],
    },
  });
}

function addDeployment(chart: Chart, i: number, version: string, account: kplus.ServiceAccount, image: string | undefined): void {
  const name = serviceName(i);
  const workload = `${name}-${version}`;
  if (!image) throw new Error(`no image reference for ${workload}`);
  const labels = {
    'app': name,
    'app.kubernetes.io/instance': workload,
    ...STACK_LABELS,
    'app.kubernetes.io/name': name,
    'app.kubernetes.io/version': version,
    version,
  };
  // The URL of the service this one calls, and the worker count of one CPU limit of 500m (in pyfleet's order).
  const env: Record<string, kplus.EnvValue> = {};
  if (i > 0) {
    const callee = serviceName(i - 1);
    env[`${callee.toUpperCase().replace(/-/g, '_')}_URL`] = kplus.EnvValue.fromValue(`http://${callee}.${HOST_SUFFIX}:${SCENARIO.port}`);
  }
  env.WEB_CONCURRENCY = kplus.EnvValue.fromValue('1');
  const probe = (failureThreshold: number, periodSeconds: number): kplus.Probe => kplus.Probe.fromHttpGet(SCENARIO.healthPath, {
    port: SCENARIO.port,
    scheme: kplus.ConnectionScheme.HTTP,
    periodSeconds: Duration.seconds(periodSeconds),
    timeoutSeconds: Duration.seconds(2),
    failureThreshold,
  });

  const tmp = kplus.Volume.fromEmptyDir(chart, `${workload}-tmp`, 'tmp', { sizeLimit: Size.mebibytes(64) });
  const deployment = new kplus.Deployment(chart, `${workload}-deploy`, {
    metadata: { name: workload, labels },
    replicas: version === 'v1' ? SCENARIO.replicas.v1 : SCENARIO.replicas.v2,
    select: false,
    minReady: Duration.seconds(0),
    progressDeadline: Duration.seconds(600),
    strategy: kplus.DeploymentStrategy.rollingUpdate({
      maxSurge: kplus.PercentOrAbsolute.absolute(1),
      maxUnavailable: kplus.PercentOrAbsolute.absolute(0),
    }),
    serviceAccount: account,
    automountServiceAccountToken: false,
    terminationGracePeriod: Duration.seconds(GRACE_PERIOD_SECONDS),
    securityContext: {
      ensureNonRoot: true,
      user: UID,
      group: UID,
      fsGroup: UID,
      fsGroupChangePolicy: kplus.FsGroupChangePolicy.ALWAYS,
    },
    volumes: [tmp],
    containers: [{
      name: 'app',
      image,
      imagePullPolicy: kplus.ImagePullPolicy.IF_NOT_PRESENT,
      ports: [{ number: SCENARIO.port, name: 'http', protocol: kplus.Protocol.TCP }],
      envVariables: env,
      resources: {
        cpu: { request: kplus.Cpu.millis(SCENARIO.cpuMillis), limit: kplus.Cpu.millis(SCENARIO.cpuMillis) },
        memory: { request: Size.mebibytes(SCENARIO.memoryMiB), limit: Size.mebibytes(SCENARIO.memoryMiB) },
      },
      liveness: probe(5, SCENARIO.healthIntervalSeconds),
      readiness: probe(3, SCENARIO.healthIntervalSeconds),
      startup: probe(STARTUP.failureThreshold, STARTUP.periodSeconds),
      lifecycle: { preStop: kplus.Handler.fromCommand(['sleep', String(PRE_STOP_SECONDS)]) },
      securityContext: {
        ensureNonRoot: true,
        user: UID,
        group: UID,
        privileged: false,
        readOnlyRootFilesystem: true,
        allowPrivilegeEscalation: false,
      },
      volumeMounts: [{ path: '/tmp', volume: tmp }],
    }],
  });
  deployment.select(kplus.LabelSelector.of({ labels: { app: name, version } }));
  for (const [k, v] of Object.entries(labels)) deployment.podMetadata.addLabel(k, v);
  deployment.podMetadata.addAnnotation('proxy.istio.io/config', '{"holdApplicationUntilProxyStarts":true}');
  // No cdk8s-plus setting: revision history, seccomp profiles (pod and container), and dropping every
  // capability (its Capability enum has no ALL). cdk8s-plus's own additions stay: the pod label
  // `cdk8s.io/metadata.addr` and an empty `externalIPs` on the Service.
  ApiObject.of(deployment).addJsonPatch(
    JsonPatch.add('/spec/revisionHistoryLimit', 5),
    JsonPatch.add('/spec/template/spec/securityContext/seccompProfile', SECCOMP),
    JsonPatch.add('/spec/template/spec/containers/0/securityContext/seccompProfile', SECCOMP),
    JsonPatch.add('/spec/template/spec/containers/0/securityContext/capabilities', { drop: ['ALL'] }),
  );
}
