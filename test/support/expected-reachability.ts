// What the program says may connect to what: the call graph plus the exposure, mesh-ingress, DNS and
// monitoring edges (with `monitoring` on the stack, the scraper reaches each Python app's metrics port
// and nothing else), read from the constructs (the user's program), to compare with what test/support/reachability
// finds in the synthesized output. Flow notation as there.
import { CeleryWorker, ComposeNetworkMode, DataStore, MeshGateway, MicroService, Migration, PythonWebApp, Stack, Worker } from '../../lib';
import { INTERNET, WORLD } from './reachability';

const DNS = 'kube-system/kube-dns';
const ISTIOD = 'istio-system/istiod';
const INGRESS = 'istio-system/istio-ingressgateway';

function gateways(stack: Stack): MeshGateway[] {
  return stack.node.findAll().filter((c): c is MeshGateway => MeshGateway.isMeshGateway(c));
}

/** The backing services of a stack (Postgres, Redis): each one pod, reached by its callers on its one port only. */
function stores(stack: Stack): DataStore[] {
  return stack.node.findAll().filter((c): c is DataStore => DataStore.isDataStore(c));
}

function storePod(stack: Stack, d: DataStore): string {
  return `${stack.namespaceName}/${d.storeName}`;
}

/** The workers of a stack (Deployments without a Service: they call, nobody calls them). */
function workers(stack: Stack): Worker[] {
  return stack.node.findAll().filter((c): c is Worker => Worker.isWorker(c));
}

function workerPod(stack: Stack, w: Worker): string {
  return `${stack.namespaceName}/${w.workerName}`;
}

/** Services a Migration holds back: their pods' gate reads the Job from the API server (any address, port 443 or 6443). */
function migrated(stack: Stack): Set<MicroService> {
  return new Set(stack.node.findAll().filter((c): c is Migration => c instanceof Migration).map((m) => m.of));
}

function pods(stack: Stack, s: MicroService): string[] {
  return s.versions.map((v) => `${stack.namespaceName}/${s.serviceName}-${v.versionName}`);
}

/** The metrics port of a Python app (undefined for other services, and with metrics: false). */
function metricsOf(s: MicroService): number | undefined {
  return s instanceof PythonWebApp ? s.metricsPort : undefined;
}

/** The metrics port of a Celery worker (undefined for other workers, and with metrics: false). */
function workerMetricsOf(w: Worker): number | undefined {
  return w instanceof CeleryWorker ? w.metricsPort : undefined;
}

/** The ports a caller may open: every declared port but the metrics port of a Python app (only the monitoring scraper may reach it). */
function ports(s: MicroService): number[] {
  const metrics = metricsOf(s);
  return [s.port, ...Object.values(s.additionalPorts)].filter((p) => p !== metrics);
}

/** The cluster workloads the stack's monitoring names as its scraper: those in its namespace with all its pod labels. */
function scrapers(stack: Stack): string[] {
  const m = stack.monitoring?.settings;
  if (!m) return [];
  return WORLD.workloads.filter((w) => w.namespace === m.scraperNamespace && Object.entries(m.scraperPodLabels).every(([k, v]) => w.labels[k] === v)).map((w) => w.id);
}

const sorted = (xs: Iterable<string>): string[] => [...new Set(xs)].sort();

/** Connections the NetworkPolicies must allow (and nothing else): calls, exposure, mesh ingress, DNS, istiod. */
export function expectedKubernetesFlows(stack: Stack): string[] {
  const out: string[] = [];
  const outside = [...WORLD.workloads.map((w) => w.id), INTERNET.id];
  const meshIngress = new Set(gateways(stack).map((g) => g.service));
  for (const s of stack.services) {
    for (const p of pods(stack, s)) {
      out.push(`${p} -> ${DNS} UDP/53`, `${p} -> ${DNS} TCP/53`);
      if (stack.mesh) out.push(`${p} -> ${ISTIOD} TCP/15012`);
      for (const t of s.calls) for (const q of pods(stack, t)) for (const port of ports(t)) out.push(`${p} -> ${q} TCP/${port}`);
      for (const d of s.storeCalls) out.push(`${p} -> ${storePod(stack, d)} TCP/${d.port}`);
    }
    for (const q of pods(stack, s)) {
      // Exposed: anyone outside the namespace may connect to the HTTP port (the load balancer's sources are unknown).
      if (s.expose) for (const w of outside) out.push(`${w} -> ${q} TCP/${s.port}`);
      if (stack.mesh && meshIngress.has(s)) out.push(`${INGRESS} -> ${q} TCP/${s.port}`);
      // Monitoring: the scraper on the metrics port alone.
      const metrics = metricsOf(s);
      if (metrics !== undefined) for (const w of scrapers(stack)) out.push(`${w} -> ${q} TCP/${metrics}`);
    }
  }
  // A worker reaches DNS (istiod), what it calls, and nothing reaches it but the scraper on a Celery worker's metrics port.
  for (const w of workers(stack)) {
    const p = workerPod(stack, w);
    const metrics = workerMetricsOf(w);
    if (metrics !== undefined) for (const s of scrapers(stack)) out.push(`${s} -> ${p} TCP/${metrics}`);
    out.push(`${p} -> ${DNS} UDP/53`, `${p} -> ${DNS} TCP/53`);
    if (stack.mesh) out.push(`${p} -> ${ISTIOD} TCP/15012`);
    for (const t of w.calls) for (const q of pods(stack, t)) for (const port of ports(t)) out.push(`${p} -> ${q} TCP/${port}`);
    for (const d of w.storeCalls) out.push(`${p} -> ${storePod(stack, d)} TCP/${d.port}`);
  }
  // A release held back by a Migration reads its Job from the API server, outside the pod network (the internet's 443 here).
  for (const s of migrated(stack)) for (const p of pods(stack, s)) out.push(`${p} -> ${INTERNET.id} TCP/443`);
  // A backing service reaches only DNS (and istiod in a mesh).
  for (const d of stores(stack)) {
    out.push(`${storePod(stack, d)} -> ${DNS} UDP/53`, `${storePod(stack, d)} -> ${DNS} TCP/53`);
    if (stack.mesh) out.push(`${storePod(stack, d)} -> ${ISTIOD} TCP/15012`);
  }
  return sorted(out);
}

/** Requests Istio must admit at the stack's sidecars (STRICT mTLS and AuthorizationPolicies): callers' identities, the ingress gateway, and anyone on an exposed port. */
export function expectedIstioFlows(stack: Stack): string[] {
  const out: string[] = [];
  const everyone = [...stack.services.flatMap((s) => pods(stack, s)), ...stores(stack).map((d) => storePod(stack, d)), ...workers(stack).map((w) => workerPod(stack, w)), ...WORLD.workloads.map((w) => w.id), INTERNET.id];
  const meshIngress = new Set(gateways(stack).map((g) => g.service));
  for (const s of stack.services) {
    for (const t of s.calls) for (const p of pods(stack, s)) for (const q of pods(stack, t)) for (const port of ports(t)) out.push(`${p} -> ${q} TCP/${port}`);
    for (const d of s.storeCalls) for (const p of pods(stack, s)) out.push(`${p} -> ${storePod(stack, d)} TCP/${d.port}`);
    for (const q of pods(stack, s)) {
      if (s.expose) for (const w of everyone) if (w !== q) out.push(`${w} -> ${q} TCP/${s.port}`);
      if (meshIngress.has(s)) out.push(`${INGRESS} -> ${q} TCP/${s.port}`);
      // With monitoring the metrics port bypasses the sidecar (the scraper has no mesh identity): Istio
      // admits everyone there, and the NetworkPolicy alone keeps it to the scraper.
      const metrics = metricsOf(s);
      if (stack.monitoring && metrics !== undefined) for (const w of everyone) if (w !== q) out.push(`${w} -> ${q} TCP/${metrics}`);
    }
  }
  for (const w of workers(stack)) {
    for (const t of w.calls) for (const q of pods(stack, t)) for (const port of ports(t)) out.push(`${workerPod(stack, w)} -> ${q} TCP/${port}`);
    for (const d of w.storeCalls) out.push(`${workerPod(stack, w)} -> ${storePod(stack, d)} TCP/${d.port}`);
    // A Celery worker's metrics port bypasses the sidecar too, with monitoring.
    const metrics = workerMetricsOf(w);
    const q = workerPod(stack, w);
    if (stack.monitoring && metrics !== undefined) for (const x of everyone) if (x !== q) out.push(`${x} -> ${q} TCP/${metrics}`);
  }
  return sorted(out);
}

/** The compose containers of each service, identified by their labels: the gateway proxy and the version containers. */
function composeContainers(doc: any): Map<string, { gateway?: string; versions: string[] }> {
  const out = new Map<string, { gateway?: string; versions: string[] }>();
  for (const [name, def] of Object.entries<any>(doc.services)) {
    const app = def.labels?.app;
    if (!app) throw new Error(`compose service ${name} has no app label`);
    if (def.labels['app.kubernetes.io/component'] === 'monitoring') continue;
    const entry = out.get(app) ?? { versions: [] };
    if (def.labels['app.kubernetes.io/component'] === 'gateway') entry.gateway = name;
    else entry.versions.push(name);
    out.set(app, entry);
  }
  return out;
}

/**
 * Connections the compose networks must allow, in both directions (a Docker network does not tell
 * caller from callee): each calling container with the callee's entry (its gateway proxy, or its only
 * container), each gateway with its versions; and for what is public, the internet on its published
 * host ports and outbound access. Also the names each container must resolve.
 */
export function expectedCompose(stack: Stack, doc: any): { flows: string[]; resolves: Record<string, string[]> } {
  const containers = composeContainers(doc);
  const of = (s: MicroService): { gateway?: string; versions: string[] } => {
    const c = containers.get(s.serviceName);
    if (!c) throw new Error(`no compose container of ${s.serviceName}`);
    return c;
  };
  const entry = (s: MicroService): string => {
    const c = of(s);
    if (c.gateway) return c.gateway;
    if (c.versions.length !== 1) throw new Error(`${s.serviceName} has ${c.versions.length} containers and no gateway`);
    return c.versions[0];
  };
  const pairs: Array<[string, string]> = [];
  const out: string[] = [];
  const publicPorts = new Map<MicroService, number[]>();
  for (const g of gateways(stack)) publicPorts.set(g.service, [...(publicPorts.get(g.service) ?? []), g.httpPort, ...(g.tls ? [g.httpsPort] : [])]);
  for (const s of stack.services) {
    for (const t of s.calls) for (const c of of(s).versions) pairs.push([c, entry(t)]);
    // A backing service is one container named like it.
    for (const d of s.storeCalls) for (const c of of(s).versions) pairs.push([c, d.storeName]);
    const gw = of(s).gateway;
    if (gw) for (const v of of(s).versions) pairs.push([gw, v]);
    const published = [...(s.expose ? [s.expose.port] : []), ...(publicPorts.get(s) ?? [])];
    if (published.length > 0) {
      out.push(`${entry(s)} -> ${INTERNET.id} */*`);
      for (const p of published) out.push(`${INTERNET.id} -> ${entry(s)} TCP/${p}`);
    }
  }
  // Monitoring: Prometheus with every version container of a service with metrics (not its gateway),
  // Grafana with Prometheus, and Grafana published on a bridge.
  if (stack.monitoring) {
    for (const s of stack.services) if (metricsOf(s) !== undefined) for (const c of of(s).versions) pairs.push(['prometheus', c]);
    for (const w of workers(stack)) if (workerMetricsOf(w) !== undefined) pairs.push(['prometheus', w.workerName]);
    if (stack.monitoring.settings.grafana) {
      pairs.push(['grafana', 'prometheus']);
      if (stack.composeNetworkMode === ComposeNetworkMode.BRIDGE) {
        out.push(`grafana -> ${INTERNET.id} */*`, `${INTERNET.id} -> grafana TCP/${stack.monitoring.settings.grafanaPort}`);
      }
    }
  }
  // A worker's container, and a migration's one-shot per release, with what they call.
  for (const w of workers(stack)) {
    for (const t of w.calls) pairs.push([w.workerName, entry(t)]);
    for (const d of w.storeCalls) pairs.push([w.workerName, d.storeName]);
  }
  for (const m of stack.node.findAll().filter((c): c is Migration => c instanceof Migration)) {
    for (const v of m.of.versions) {
      const one = `${v.workloadName}-${m.migrationName}`;
      for (const t of [...m.of.calls, ...m.calls]) pairs.push([one, entry(t)]);
      for (const d of [...m.of.storeCalls, ...m.storeCalls]) pairs.push([one, d.storeName]);
    }
  }
  const resolves: Record<string, Set<string>> = Object.fromEntries(Object.keys(doc.services).map((n) => [n, new Set<string>()]));
  for (const [a, b] of pairs) {
    out.push(`${a} -> ${b} */*`, `${b} -> ${a} */*`);
    resolves[a].add(b);
    resolves[b].add(a);
  }
  return { flows: sorted(out), resolves: Object.fromEntries(Object.entries(resolves).map(([k, v]) => [k, [...v].sort()])) };
}
