import { k8s } from 'cdk8s-plus-27';
import type { MigrationModel, ScheduleModel, WorkerHealthModel, WorkerModel } from '../../model/jobs';
import type { EnvValue } from '../../service/env';
import type { ResourcesModel, StackModel, VersionModel } from '../../model/stack';
import { KubeObject, kubeObject } from './object';

// Workers (Deployments without a Service), migration Jobs with the gate that holds a release's pods
// until its Job succeeded, and CronJobs, as typed objects of the generated Kubernetes 1.27 API.
//
// The gate: every pod of a version whose service has a Migration starts with an init container
// `migration-gate` (the release's own image and Python, nothing else) that polls
// GET /apis/batch/v1/namespaces/<ns>/jobs/<job> with a projected service account token mounted into
// that init container only, and exits 0 once the Job is Complete, 1 once it Failed (the pod then
// shows Init:Error / Init:CrashLoopBackOff, and the Deployment's rollout stalls until its progress
// deadline). The service account's Role allows `get` on that one Job by resourceNames, nothing else.
// Since the Deployments keep maxUnavailable 0, the old release keeps serving meanwhile.

/** Where the gate's projected token and the cluster CA are mounted (init container only). */
export const GATE_MOUNT = '/var/run/secrets/pyfleet/gate';

/**
 * The gate's Python (stdlib only): waits for the Job named by $PYFLEET_GATE_JOB in
 * $PYFLEET_GATE_NAMESPACE to complete, reading the token afresh on each poll (the kubelet rotates it).
 */
export const GATE_SCRIPT = [
  'import json, os, ssl, sys, time, urllib.error, urllib.request',
  'job, ns = os.environ["PYFLEET_GATE_JOB"], os.environ["PYFLEET_GATE_NAMESPACE"]',
  `d = "${GATE_MOUNT}"`,
  'url = "https://%s:%s/apis/batch/v1/namespaces/%s/jobs/%s" % (os.environ["KUBERNETES_SERVICE_HOST"], os.environ["KUBERNETES_SERVICE_PORT"], ns, job)',
  'ctx = ssl.create_default_context(cafile=d + "/ca.crt")',
  'while True:',
  '    try:',
  '        token = open(d + "/token").read().strip()',
  '        req = urllib.request.Request(url, headers={"Authorization": "Bearer " + token})',
  '        status = json.load(urllib.request.urlopen(req, context=ctx, timeout=10)).get("status", {})',
  '        done = {c.get("type"): c.get("status") for c in status.get("conditions") or []}',
  '        if done.get("Complete") == "True":',
  '            print("migration job %s succeeded" % job, flush=True); sys.exit(0)',
  '        if done.get("Failed") == "True":',
  '            print("migration job %s failed: this release does not start (see kubectl logs job/%s)" % (job, job), file=sys.stderr, flush=True); sys.exit(1)',
  '    except urllib.error.HTTPError as e:',
  '        print("waiting for migration job %s: HTTP %s" % (job, e.code), file=sys.stderr, flush=True)',
  '    except OSError as e:',
  '        print("waiting for migration job %s: %s" % (job, e), file=sys.stderr, flush=True)',
  '    time.sleep(2)',
].join('\n');

function seconds(ms: number): number {
  return Math.ceil(ms / 1000);
}

function mebibytes(mib: number): string {
  if (Number.isInteger(mib)) return `${mib}Mi`;
  const kib = mib * 1024;
  return Number.isInteger(kib) ? `${kib}Ki` : `${Math.round(mib * 1024 * 1024)}`;
}

function resources(r: ResourcesModel): k8s.ResourceRequirements {
  return {
    limits: { cpu: k8s.Quantity.fromString(`${r.cpuLimitMillis}m`), memory: k8s.Quantity.fromString(mebibytes(r.memoryLimitMiB)) },
    requests: { cpu: k8s.Quantity.fromString(`${r.cpuRequestMillis}m`), memory: k8s.Quantity.fromString(mebibytes(r.memoryRequestMiB)) },
  };
}

const SECCOMP = { type: 'RuntimeDefault' };

function containerSecurity(uid: number): k8s.SecurityContext {
  return { runAsNonRoot: true, runAsUser: uid, runAsGroup: uid, readOnlyRootFilesystem: true, allowPrivilegeEscalation: false, privileged: false, capabilities: { drop: ['ALL'] }, seccompProfile: SECCOMP };
}

function podSecurity(uid: number): k8s.PodSecurityContext {
  return { runAsNonRoot: true, runAsUser: uid, runAsGroup: uid, fsGroup: uid, fsGroupChangePolicy: 'Always', seccompProfile: SECCOMP };
}

const TMP_VOLUME: k8s.Volume = { name: 'tmp', emptyDir: { sizeLimit: k8s.Quantity.fromString('64Mi') } };
const TMP_MOUNT: k8s.VolumeMount = { name: 'tmp', mountPath: '/tmp' };

/**
 * Environment of a background container, laid out as a calling service's (index.ts, data.ts): the
 * URLs of the services it calls, the stores' plain variables and passwords (secretKeyRef) and the
 * user's own, sorted by name; then the variables that name a password with `$(...)` (the stores' URLs
 * and the Celery broker), which Kubernetes expands only after the variable they name.
 */
export function backgroundEnv(model: StackModel, calls: readonly string[], stores: readonly string[], env: Readonly<Record<string, EnvValue>>, broker?: string): k8s.EnvVar[] | undefined {
  const plain = new Map<string, k8s.EnvVar>();
  const dependent: k8s.EnvVar[] = [];
  const password = (name: string): string => model.dataStore(name).connection.kubernetes.find((v) => v.password)!.name;
  for (const name of calls) {
    const c = model.service(name);
    plain.set(c.urlVariable, { name: c.urlVariable, value: c.addresses.kubernetes });
  }
  for (const name of stores) {
    const d = model.dataStore(name);
    for (const v of d.connection.kubernetes) {
      if (v.url) dependent.push({ name: v.name, value: `${v.url.before}$(${password(name)})${v.url.after}` });
      else if (v.password) plain.set(v.name, { name: v.name, valueFrom: { secretKeyRef: { name: d.secret.name, key: d.secret.key } } });
      else plain.set(v.name, { name: v.name, value: v.value! });
    }
  }
  if (broker) {
    const url = model.dataStore(broker).connection.kubernetes.find((v) => v.url)!.url!;
    dependent.push({ name: 'CELERY_BROKER_URL', value: `${url.before}$(${password(broker)})${url.after}` });
  }
  for (const [name, v] of Object.entries(env)) {
    plain.set(name, v.secret ? { name, valueFrom: { secretKeyRef: { name: v.secret.name, key: v.secret.key } } } : { name, value: v.value! });
  }
  const out = [...[...plain.keys()].sort().map((k) => plain.get(k)!), ...dependent];
  return out.length > 0 ? out : undefined;
}

function execProbe(h: WorkerHealthModel): k8s.Probe {
  return {
    exec: { command: [...h.command] },
    initialDelaySeconds: seconds(h.startPeriodMs),
    periodSeconds: seconds(h.intervalMs),
    timeoutSeconds: seconds(h.timeoutMs),
    failureThreshold: h.failureThreshold,
  };
}

/**
 * A worker's ServiceAccount (no token) and Deployment (no Service: nobody calls it). A CeleryWorker
 * with metrics declares the container port `metrics` (a PodMonitor or the scrape annotations find it;
 * the NetworkPolicy admits only the scraper to it), and its pods carry a `version` label (the image
 * tag) that the scrape adds to every series, as a service version's pods do.
 */
export function workerObjects(model: StackModel, w: WorkerModel, extensions: readonly { workerPodAnnotations?(model: StackModel, worker: WorkerModel): Record<string, string> }[] = []): KubeObject[] {
  const metadata = { name: w.name, namespace: model.namespace, labels: { ...w.labels } };
  const annotations: Record<string, string> = {};
  for (const x of extensions) Object.assign(annotations, x.workerPodAnnotations?.(model, w) ?? {});
  const container: k8s.Container = {
    name: 'worker',
    image: w.image.reference,
    imagePullPolicy: 'IfNotPresent',
    command: w.command ? [...w.command] : undefined,
    args: w.args ? [...w.args] : undefined,
    ports: w.metrics ? [{ name: 'metrics', containerPort: w.metrics.port, protocol: 'TCP' }] : undefined,
    env: backgroundEnv(model, w.calls, w.stores, w.env, w.broker),
    resources: resources(w.resources),
    securityContext: containerSecurity(w.runAsUser),
    livenessProbe: w.health ? execProbe(w.health) : undefined,
    volumeMounts: [TMP_MOUNT],
  };
  return [
    kubeObject(k8s.KubeServiceAccount.GVK, k8s.toJson_KubeServiceAccountProps, { metadata, automountServiceAccountToken: false }, w.hatches.kubernetes.serviceAccount, w.path),
    kubeObject(k8s.KubeDeployment.GVK, k8s.toJson_KubeDeploymentProps, {
      metadata,
      spec: {
        replicas: w.replicas,
        revisionHistoryLimit: 5,
        selector: { matchLabels: { ...w.selector } },
        // A new worker starts before an old one stops; the old one finishes its tasks (warm shutdown).
        strategy: { type: 'RollingUpdate', rollingUpdate: { maxSurge: k8s.IntOrString.fromNumber(1), maxUnavailable: k8s.IntOrString.fromNumber(0) } },
        template: {
          metadata: {
            labels: w.metrics ? { ...w.labels, version: w.metrics.version } : { ...w.labels },
            annotations: Object.keys(annotations).length > 0 ? annotations : undefined,
          },
          spec: {
            serviceAccountName: w.name,
            automountServiceAccountToken: false,
            restartPolicy: 'Always',
            terminationGracePeriodSeconds: seconds(w.terminationGracePeriodMs),
            securityContext: podSecurity(w.runAsUser),
            containers: [container],
            volumes: [TMP_VOLUME],
          },
        },
      },
    }, w.hatches.kubernetes.deployment, w.path),
  ];
}

/** Role and RoleBinding names of the gate of one migration run. */
function gateName(run: MigrationModel): string {
  return `${run.jobName}-gate`;
}

/**
 * A migration run's Job (named by the release's content hash: re-applying the same release changes
 * nothing, a new release runs a new Job), and the Role/RoleBinding that let the service's account
 * read that one Job.
 */
export function migrationObjects(model: StackModel, run: MigrationModel): KubeObject[] {
  const labels = { ...run.labels };
  const pod = runToCompletion(model, labels, run.command);
  const container: k8s.Container = {
    name: 'migrate',
    image: run.image.reference,
    imagePullPolicy: 'IfNotPresent',
    command: pod.command,
    env: backgroundEnv(model, run.calls, run.stores, run.env),
    resources: resources(run.resources),
    securityContext: containerSecurity(run.runAsUser),
    volumeMounts: [TMP_MOUNT],
  };
  const job = kubeObject(k8s.KubeJob.GVK, k8s.toJson_KubeJobProps, {
    metadata: {
      name: run.jobName, namespace: model.namespace, labels,
      // Argo CD applies (and waits for) the Job before the Deployments of wave 0.
      annotations: { 'argocd.argoproj.io/sync-wave': '-1' },
    },
    spec: {
      backoffLimit: run.retries,
      activeDeadlineSeconds: run.timeoutSeconds,
      template: {
        metadata: pod.metadata,
        spec: {
          serviceAccountName: run.service,
          automountServiceAccountToken: false,
          restartPolicy: 'Never',
          securityContext: podSecurity(run.runAsUser),
          containers: [container],
          volumes: [TMP_VOLUME],
        },
      },
    },
  }, run.hatches.kubernetes.job, run.path);
  const meta = { name: gateName(run), namespace: model.namespace, labels };
  return [
    job,
    kubeObject(k8s.KubeRole.GVK, k8s.toJson_KubeRoleProps, {
      metadata: meta,
      rules: [{ apiGroups: ['batch'], resources: ['jobs'], resourceNames: [run.jobName], verbs: ['get'] }],
    }),
    kubeObject(k8s.KubeRoleBinding.GVK, k8s.toJson_KubeRoleBindingProps, {
      metadata: meta,
      roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'Role', name: gateName(run) },
      subjects: [{ kind: 'ServiceAccount', name: run.service, namespace: model.namespace }],
    }),
  ];
}

/** The gate's init container and volume for a version's pods, or undefined when its service has no migration. */
export function migrationGate(model: StackModel, vm: VersionModel, uid: number): { initContainers: k8s.Container[]; volumes: k8s.Volume[] } | undefined {
  const runs = model.migrations.filter((r) => r.workloadName === vm.workloadName);
  if (runs.length === 0) return undefined;
  const volume: k8s.Volume = {
    name: 'migration-gate',
    projected: {
      defaultMode: 0o444,
      sources: [
        { serviceAccountToken: { path: 'token', expirationSeconds: 3600 } },
        { configMap: { name: 'kube-root-ca.crt', items: [{ key: 'ca.crt', path: 'ca.crt' }] } },
      ],
    },
  };
  const initContainers = runs.map((run, i): k8s.Container => ({
    name: runs.length === 1 ? 'migration-gate' : `migration-gate-${i + 1}`,
    image: vm.image.reference,
    imagePullPolicy: 'IfNotPresent',
    command: ['python', '-c', GATE_SCRIPT],
    env: [{ name: 'PYFLEET_GATE_JOB', value: run.jobName }, { name: 'PYFLEET_GATE_NAMESPACE', value: model.namespace }],
    resources: { limits: { cpu: k8s.Quantity.fromString('100m'), memory: k8s.Quantity.fromString('64Mi') }, requests: { cpu: k8s.Quantity.fromString('100m'), memory: k8s.Quantity.fromString('64Mi') } },
    securityContext: containerSecurity(uid),
    volumeMounts: [{ name: 'migration-gate', mountPath: GATE_MOUNT, readOnly: true }],
  }));
  return { initContainers, volumes: [volume] };
}

/** A schedule's CronJob: never two runs at once, a starting deadline, bounded history, its time zone. */
export function scheduleObjects(model: StackModel, s: ScheduleModel): KubeObject[] {
  const labels = { ...s.labels };
  const pod = runToCompletion(model, labels, s.command);
  const container: k8s.Container = {
    name: 'job',
    image: s.image.reference,
    imagePullPolicy: 'IfNotPresent',
    command: pod.command,
    env: backgroundEnv(model, s.calls, s.stores, s.env),
    resources: resources(s.resources),
    securityContext: containerSecurity(s.runAsUser),
    volumeMounts: [TMP_MOUNT],
  };
  return [kubeObject(k8s.KubeCronJob.GVK, k8s.toJson_KubeCronJobProps, {
    metadata: { name: s.name, namespace: model.namespace, labels },
    spec: {
      schedule: s.cron,
      timeZone: s.timeZone,
      concurrencyPolicy: 'Forbid',
      startingDeadlineSeconds: s.startingDeadlineSeconds,
      successfulJobsHistoryLimit: 3,
      failedJobsHistoryLimit: 3,
      suspend: false,
      jobTemplate: {
        metadata: { labels },
        spec: {
          backoffLimit: s.retries,
          activeDeadlineSeconds: s.timeoutSeconds,
          template: {
            metadata: pod.metadata,
            spec: {
              serviceAccountName: s.runsAs.name,
              automountServiceAccountToken: false,
              restartPolicy: 'Never',
              securityContext: podSecurity(s.runAsUser),
              containers: [container],
              volumes: [TMP_VOLUME],
            },
          },
        },
      },
    },
  }, s.hatches.kubernetes.cronJob, s.path)];
}

/**
 * Pod metadata and command of a run-to-completion pod (a migration or schedule). In a mesh the pod
 * keeps its sidecar (STRICT mTLS: without one it could reach nothing in the mesh): the command starts
 * once the proxy is up (`holdApplicationUntilProxyStarts`) and, when it exits, asks the proxy to quit
 * (pilot-agent's `POST /quitquitquit` on 15020), or the Job would never complete; its exit code is kept.
 */
function runToCompletion(model: StackModel, labels: Record<string, string>, command: readonly string[]): { metadata: k8s.ObjectMeta; command: string[] } {
  if (!model.mesh) return { metadata: { labels }, command: [...command] };
  const quit = 'python -c "import urllib.request as u; u.urlopen(u.Request(\'http://127.0.0.1:15020/quitquitquit\', method=\'POST\'), timeout=5)" || true';
  return {
    metadata: { labels, annotations: { 'proxy.istio.io/config': '{"holdApplicationUntilProxyStarts": true}' } },
    command: ['sh', '-c', `"$@"; code=$?; ${quit}; exit $code`, 'sh', ...command],
  };
}

/** Every background object of the stack. */
export function backgroundObjects(model: StackModel, extensions: Parameters<typeof workerObjects>[2] = []): KubeObject[] {
  return [
    ...model.workers.flatMap((w) => workerObjects(model, w, extensions)),
    ...model.migrations.flatMap((r) => migrationObjects(model, r)),
    ...model.schedules.flatMap((s) => scheduleObjects(model, s)),
  ];
}
