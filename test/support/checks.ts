// Independent checks of synthesized output: real Kubernetes schemas (kubernetes-models), the Compose
// Specification schema bundled with dclint, dclint's rules, and cross-object rules.
import * as fs from 'fs';
import * as path from 'path';
import Ajv from 'ajv';

let crdValidators: Map<string, ReturnType<Ajv['compile']>> | undefined;

/**
 * The strict schemas of the custom resources pyfleet writes besides Istio's (prometheus-operator's
 * ServiceMonitor, test/fixtures/prometheus-operator-schemas.json, made from the CRD by
 * scripts/prometheus-operator-crds.js): unknown fields are errors.
 */
function crdValidator(obj: any): ReturnType<Ajv['compile']> | undefined {
  if (!crdValidators) {
    const fixture = JSON.parse(fs.readFileSync(path.join(__dirname, '../fixtures/prometheus-operator-schemas.json'), 'utf8'));
    const ajv = new Ajv({ allErrors: true, strict: false });
    // Formats Ajv has no checker for without ajv-formats (the types are checked; date-time is status only).
    for (const f of ['int32', 'int64', 'date-time']) ajv.addFormat(f, true);
    crdValidators = new Map(Object.entries<any>(fixture.schemas).map(([k, schema]) => [k, ajv.compile(schema)]));
  }
  return crdValidators.get(`${obj.apiVersion}/${obj.kind}`);
}

/** Validates one Kubernetes object with kubernetes-models (or a custom resource with its strict CRD schema); returns problems (empty when valid). */
export function validateKubernetesObject(obj: any): string[] {
  const crd = crdValidator(obj);
  if (crd) {
    // The CRD schema's metadata is a bare object: check the ObjectMeta part with the core schema's rules.
    const meta = obj.metadata ?? {};
    const problems = crd(obj) ? [] : (crd.errors ?? []).map((e) => `${obj.kind}/${meta.name}: ${e.instancePath} ${e.message}`);
    if (typeof meta.name !== 'string' || !/^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/.test(meta.name) || meta.name.length > 63) problems.push(`${obj.kind}: metadata.name ${meta.name} is not a DNS label`);
    for (const k of Object.keys(meta)) if (!['name', 'namespace', 'labels', 'annotations'].includes(k)) problems.push(`${obj.kind}/${meta.name}: metadata.${k} is not written by pyfleet`);
    return problems;
  }
  const [group, version] = String(obj.apiVersion).includes('/') ? String(obj.apiVersion).split('/') : ['', obj.apiVersion];
  const modulePath = `kubernetes-models/${group ? `${group}/` : ''}${version}/${obj.kind}`;
  let Model: any;
  try {
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    Model = require(modulePath)[obj.kind];
  } catch {
    return [`${obj.kind} ${obj.apiVersion}: no schema in kubernetes-models (${modulePath})`];
  }
  try {
    new Model(obj).validate();
  } catch (e) {
    return [`${obj.kind}/${obj.metadata?.name}: ${(e as Error).message}`];
  }
  return unknownFieldProblems(obj);
}

let k8sTypes: Record<string, any> | undefined;
let jsonNames: Map<string, string[]> | undefined;

/** Property name -> the JSON field names it is written as (`'setHostnameAsFQDN': obj.setHostnameAsFqdn`). */
function wireNames(source: string): Map<string, string[]> {
  const out = new Map<string, string[]>();
  for (const m of source.matchAll(/'([^']+)': [^\n]*?\bobj\.(\w+)/g)) {
    const list = out.get(m[2]) ?? [];
    if (!list.includes(m[1])) list.push(m[1]);
    out.set(m[2], list);
  }
  return out;
}

/**
 * Fields the Kubernetes API does not define (kubernetes-models accepts them; the API server would drop
 * them or, with strict field validation, refuse the object). The field lists come from the Kubernetes
 * 1.27 OpenAPI types that cdk8s-plus-27 imported (its jsii assembly), a second, independent source.
 * Kinds it has no type for (Istio: see the strict CRD schemas) are not checked here.
 */
export function unknownFieldProblems(obj: any): string[] {
  k8sTypes ??= JSON.parse(fs.readFileSync(require.resolve('cdk8s-plus-27/.jsii'), 'utf8')).types as Record<string, any>;
  // jsii camel-cases acronyms (setHostnameAsFqdn); the wire names are in the generated toJson functions.
  jsonNames ??= wireNames(fs.readFileSync(path.join(path.dirname(require.resolve('cdk8s-plus-27/.jsii')), 'lib', 'imports', 'k8s.js'), 'utf8'));
  const types = k8sTypes;
  const names = jsonNames;
  // Versioned names first (autoscaling/v2 -> KubeHorizontalPodAutoscalerV2Props), then the plain one.
  const suffix = String(obj.apiVersion).split('/').pop()!.replace(/^v/, 'V').replace(/alpha|beta/, (x) => x[0].toUpperCase() + x.slice(1));
  const rootFqn = [`cdk8s-plus-27.k8s.Kube${obj.kind}${suffix}Props`, `cdk8s-plus-27.k8s.Kube${obj.kind}Props`].find((f) => types[f]);
  if (!rootFqn) return [];
  const problems: string[] = [];
  const where = `${obj.kind}/${obj.metadata?.name}`;
  const check = (value: unknown, ref: any, at: string): void => {
    if (value === null || value === undefined || ref === undefined) return;
    if (ref.collection) {
      const items = ref.collection.kind === 'array' ? (Array.isArray(value) ? value.map((v, i) => [`${at}[${i}]`, v]) : [])
        : (typeof value === 'object' ? Object.entries(value as object).map(([k, v]) => [`${at}.${k}`, v]) : []);
      for (const [a, v] of items) check(v, ref.collection.elementtype, a);
      return;
    }
    if (ref.union) return; // scalars of several kinds
    if (!ref.fqn) return; // primitives (types are kubernetes-models' job)
    const t = types[ref.fqn];
    if (!t || t.kind !== 'interface' || !t.datatype) return; // IntOrString, Quantity, enums: scalars
    if (typeof value !== 'object' || Array.isArray(value)) return;
    const props = new Map<string, any>((t.properties ?? []).flatMap((p: any) => (names.get(p.name) ?? [p.name]).map((n) => [n, p.type])));
    for (const [k, v] of Object.entries(value as object)) {
      if (!props.has(k)) problems.push(`${where}: unknown field ${at ? `${at}.` : ''}${k} (not in ${ref.fqn.replace('cdk8s-plus-27.k8s.', '')})`);
      else check(v, props.get(k), at ? `${at}.${k}` : k);
    }
  };
  const { apiVersion: _a, kind: _k, ...rest } = obj;
  check(rest, { fqn: rootFqn }, '');
  return problems;
}

let composeValidator: any;
/** Validates a compose document against the Compose Specification schema dclint bundles. */
/** The Compose Specification schema that dclint bundles (its `exports` hide the file from require.resolve). */
export const DCLINT_COMPOSE_SCHEMA = path.join(path.dirname(require.resolve('dclint/package.json')), 'schemas', 'compose.schema.json');

export function validateComposeSchema(doc: any, schemaFile = DCLINT_COMPOSE_SCHEMA): string[] {
  const compile = (file: string): any => {
    const schema = JSON.parse(fs.readFileSync(file, 'utf8'));
    delete schema.$schema;
    return new Ajv({ allErrors: true, strict: false }).compile(schema);
  };
  const validate = schemaFile === DCLINT_COMPOSE_SCHEMA ? (composeValidator ??= compile(schemaFile)) : compile(schemaFile);
  return validate(doc) ? [] : (validate.errors as any[]).map((e) => `${e.instancePath} ${e.message} ${JSON.stringify(e.params)}`);
}

/** The reference copy of the Compose schema, present beside the repository in CI only. */
export const REFERENCE_COMPOSE_SCHEMA = path.resolve(__dirname, '../../../shared/reference/compose-spec.json');

/** Runs dclint (schema + best-practice rules) on a compose file; returns its messages. */
export function dclint(file: string): { errors: string[]; warnings: string[] } {
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const { DCLinter } = require('dclint');
  const linter = new DCLinter({ rules: {}, quiet: false, debug: false, exclude: [] });
  const results = linter.lintFiles([file], false) as any[];
  const msgs = results.flatMap((r) => r.messages);
  return {
    errors: msgs.filter((m) => m.type === 'error').map((m) => `${m.rule}: ${m.message}`),
    warnings: msgs.filter((m) => m.type === 'warning').map((m) => `${m.rule}: ${m.message}`),
  };
}

const matches = (selector: Record<string, string>, labels: Record<string, string> = {}): boolean =>
  Object.entries(selector).every(([k, v]) => labels[k] === v);

/**
 * Cross-object rules a cluster would only reveal at runtime: every Service selects pods of some
 * workload; every Service targetPort and probe port is declared by the container; workload selectors
 * match their own pod labels; pods meet Pod Security "restricted"; an autoscaler scales an existing
 * Deployment that sets no replicas and has the requests it scales on; a disruption budget selects the
 * pods of exactly one Deployment and can let a drain evict one.
 */
export function crossObjectProblems(objects: any[]): string[] {
  const problems: string[] = [];
  const deployments = objects.filter((o) => o.kind === 'Deployment');
  // Workloads whose pods Services select: Deployments and the backing services' StatefulSets.
  const workloads = objects.filter((o) => o.kind === 'Deployment' || o.kind === 'StatefulSet');
  const names = new Set(objects.map((o) => `${o.kind}/${o.metadata?.name}`));
  for (const d of workloads) {
    const tpl = d.spec.template;
    if (!matches(d.spec.selector.matchLabels, tpl.metadata.labels)) problems.push(`${d.kind}/${d.metadata.name}: selector does not match its pod labels`);
    const sa = tpl.spec.serviceAccountName;
    if (sa && !names.has(`ServiceAccount/${sa}`)) problems.push(`${d.kind}/${d.metadata.name}: service account ${sa} is not defined`);
    problems.push(...restrictedProblems(d));
    for (const c of tpl.spec.containers) {
      const declared = new Map<string | number, number>();
      for (const p of c.ports ?? []) { declared.set(p.containerPort, p.containerPort); if (p.name) declared.set(p.name, p.containerPort); }
      for (const probe of ['readinessProbe', 'livenessProbe', 'startupProbe']) {
        const port = c[probe]?.httpGet?.port ?? c[probe]?.tcpSocket?.port;
        if (port !== undefined && !declared.has(port)) problems.push(`Deployment/${d.metadata.name}: ${probe} port ${port} is not declared by container ${c.name}`);
      }
    }
  }
  for (const h of objects.filter((o) => o.kind === 'HorizontalPodAutoscaler')) {
    const ref = h.spec?.scaleTargetRef ?? {};
    const target = deployments.find((d) => d.metadata.namespace === h.metadata.namespace && d.metadata.name === ref.name);
    if (ref.kind !== 'Deployment' || ref.apiVersion !== 'apps/v1' || !target) {
      problems.push(`HorizontalPodAutoscaler/${h.metadata.name}: scaleTargetRef ${ref.apiVersion}/${ref.kind}/${ref.name} is not a Deployment of the namespace`);
    } else if (target.spec.replicas !== undefined) {
      problems.push(`HorizontalPodAutoscaler/${h.metadata.name}: Deployment/${target.metadata.name} sets replicas, which every apply would reset`);
    }
    if (!(h.spec?.minReplicas >= 1) || !(h.spec?.maxReplicas >= h.spec?.minReplicas)) problems.push(`HorizontalPodAutoscaler/${h.metadata.name}: replicas ${h.spec?.minReplicas}..${h.spec?.maxReplicas} are not a range from 1`);
    for (const m of h.spec?.metrics ?? []) {
      if (m.type !== 'Resource' || m.resource?.target?.type !== 'Utilization') continue;
      const missing = target?.spec.template.spec.containers.filter((c: any) => c.resources?.requests?.[m.resource.name] === undefined) ?? [];
      for (const c of missing) problems.push(`HorizontalPodAutoscaler/${h.metadata.name}: scales on ${m.resource.name} utilization but container ${c.name} has no ${m.resource.name} request`);
    }
  }
  for (const p of objects.filter((o) => o.kind === 'PodDisruptionBudget')) {
    const selector = p.spec?.selector?.matchLabels ?? {};
    const selected = deployments.filter((d) => d.metadata.namespace === p.metadata.namespace && matches(selector, d.spec.template.metadata.labels));
    if (selected.length !== 1) {
      problems.push(`PodDisruptionBudget/${p.metadata.name}: selects the pods of ${selected.length} Deployments (${selected.map((d) => d.metadata.name).join(', ')}), not exactly one version's`);
      continue;
    }
    // The fewest pods the version may have: its replicas, or its autoscaler's minimum.
    const d = selected[0];
    const hpa = objects.find((o) => o.kind === 'HorizontalPodAutoscaler' && o.metadata.namespace === d.metadata.namespace && o.spec?.scaleTargetRef?.name === d.metadata.name);
    const floor = hpa ? hpa.spec.minReplicas : d.spec.replicas ?? 1;
    if (p.spec.minAvailable !== undefined && !(p.spec.minAvailable < floor)) problems.push(`PodDisruptionBudget/${p.metadata.name}: minAvailable ${p.spec.minAvailable} of ${floor} pods blocks every drain`);
    if (p.spec.maxUnavailable !== undefined && !(p.spec.maxUnavailable >= 1)) problems.push(`PodDisruptionBudget/${p.metadata.name}: maxUnavailable ${p.spec.maxUnavailable} blocks every drain`);
  }
  for (const s of objects.filter((o) => o.kind === 'Service')) {
    const selected = workloads.filter((d) => d.metadata.namespace === s.metadata.namespace && matches(s.spec.selector ?? {}, d.spec.template.metadata.labels));
    if (selected.length === 0) problems.push(`Service/${s.metadata.name}: selects no pods`);
    for (const p of s.spec.ports) {
      for (const d of selected) {
        const ok = d.spec.template.spec.containers.some((c: any) => (c.ports ?? []).some((cp: any) => cp.name === p.targetPort || cp.containerPort === p.targetPort));
        if (!ok) problems.push(`Service/${s.metadata.name}: targetPort ${p.targetPort} is not declared by ${d.kind}/${d.metadata.name}`);
      }
    }
  }
  return problems;
}

/** Pod Security Standards "restricted" (the fields the admission controller checks). */
export function restrictedProblems(d: any): string[] {
  const problems: string[] = [];
  const spec = d.spec.template.spec;
  const where = `${d.kind ?? 'Deployment'}/${d.metadata.name}`;
  const podSc = spec.securityContext ?? {};
  if (spec.hostNetwork || spec.hostPID || spec.hostIPC) problems.push(`${where}: host namespaces`);
  for (const c of [...(spec.initContainers ?? []), ...spec.containers]) {
    const sc = c.securityContext ?? {};
    const nonRoot = sc.runAsNonRoot ?? podSc.runAsNonRoot;
    if (nonRoot !== true) problems.push(`${where}/${c.name}: runAsNonRoot is not true`);
    if ((sc.runAsUser ?? podSc.runAsUser) === 0) problems.push(`${where}/${c.name}: runs as UID 0`);
    if (sc.allowPrivilegeEscalation !== false) problems.push(`${where}/${c.name}: allowPrivilegeEscalation is not false`);
    if (sc.privileged) problems.push(`${where}/${c.name}: privileged`);
    const drop = sc.capabilities?.drop ?? [];
    if (!drop.includes('ALL')) problems.push(`${where}/${c.name}: capabilities do not drop ALL`);
    if ((sc.capabilities?.add ?? []).some((cap: string) => cap !== 'NET_BIND_SERVICE')) problems.push(`${where}/${c.name}: adds capabilities`);
    const seccomp = sc.seccompProfile?.type ?? podSc.seccompProfile?.type;
    if (!['RuntimeDefault', 'Localhost'].includes(seccomp)) problems.push(`${where}/${c.name}: no seccompProfile RuntimeDefault`);
    if (sc.readOnlyRootFilesystem !== true) problems.push(`${where}/${c.name}: root filesystem is writable`);
  }
  // Pod Security "baseline" (and so "restricted") allows only the safe sysctls.
  const safe = ['kernel.shm_rmid_forced', 'net.ipv4.ip_local_port_range', 'net.ipv4.ip_unprivileged_port_start', 'net.ipv4.tcp_syncookies', 'net.ipv4.ping_group_range', 'net.ipv4.ip_local_reserved_ports'];
  for (const sysctl of podSc.sysctls ?? []) {
    if (!safe.includes(sysctl.name)) problems.push(`${where}: sysctl ${sysctl.name} is not a safe sysctl`);
  }
  for (const v of spec.volumes ?? []) {
    if (v.hostPath) problems.push(`${where}: hostPath volume ${v.name}`);
  }
  return problems;
}
