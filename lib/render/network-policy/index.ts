import { k8s } from 'cdk8s-plus-27';
import { PyfleetError } from '../../core/errors';
import type { ServiceModel, StackModel } from '../../model/stack';
import { BackgroundSource, backgroundCallersOf, backgroundSources, callerPorts, dataStorePort, NamedPort, ServiceIngress, stackDataIngress, stackIngress } from '../../model/traffic';
import type { KubernetesExtension } from '../kubernetes';
import { KubeObject, kubeObject } from '../kubernetes/object';

// Kubernetes NetworkPolicies from the call graph (lib/model/traffic), as an extension of the
// Kubernetes target. In the stack's namespace:
//
// - `default-deny` selects every pod and allows nothing, for ingress and egress: a pod that no other
//   policy admits is unreachable and reaches nothing (pods the user adds to the namespace included);
// - one policy per service, named like it, selecting its pods (`app: <service>`, every version):
//   ingress from the pods of its callers on every port its Service names, from anywhere on `http`
//   when it is exposed (the load balancer's source addresses are not known, and with the default
//   externalTrafficPolicy they are the nodes'), from the mesh's ingress gateway on `http` when a
//   MeshGateway routes to it, from the monitoring scraper (`Monitoring.prometheus()`: its
//   namespace and pod labels) on `metrics` alone; egress to the pods of each service it calls on that service's ports,
//   to the cluster DNS (kube-system pods labelled `k8s-app: kube-dns`, UDP and TCP 53) and, in an
//   Istio mesh, to istiod on 15012 (the sidecar's configuration and certificates).
//
// Ports are the named ports the Services and containers use (`http`, additional port names), so a
// changed port number needs no policy change. Kubelet probes come from the node, which NetworkPolicy
// implementations always admit; Istio rewrites probes to its agent on the node-reachable port 15020.

/** Name of the policy that denies everything the other policies do not admit. */
export const DEFAULT_DENY = 'default-deny';

/** Label the API server sets on every namespace (Kubernetes 1.22+): its name. */
const NAMESPACE_NAME_LABEL = 'kubernetes.io/metadata.name';

/** Where the cluster DNS runs (CoreDNS and kube-dns both carry `k8s-app: kube-dns` in kube-system). */
const CLUSTER_DNS = { namespace: 'kube-system', labels: { 'k8s-app': 'kube-dns' } };

/** istiod's pods and the port sidecars fetch configuration (XDS) and certificates from. */
const ISTIOD = { labels: { app: 'istiod' }, port: 15012 };

function named(p: NamedPort): k8s.NetworkPolicyPort {
  return { port: k8s.IntOrString.fromString(p.name), protocol: 'TCP' };
}

function inNamespace(namespace: string, labels: Readonly<Record<string, string>>): k8s.NetworkPolicyPeer {
  return { namespaceSelector: { matchLabels: { [NAMESPACE_NAME_LABEL]: namespace } }, podSelector: { matchLabels: { ...labels } } };
}

function ingressRules(model: StackModel, edge: ServiceIngress): k8s.NetworkPolicyIngressRule[] {
  const rules: k8s.NetworkPolicyIngressRule[] = [];
  // Workers, migrations and schedules that call the service reach it like its callers do.
  const callers = [...edge.callers.map((c) => c.selector), ...backgroundCallersOf(model, edge.service.name, 'service').map((b) => b.selector)];
  if (callers.length > 0) {
    rules.push({ from: callers.map((sel) => ({ podSelector: { matchLabels: { ...sel } } })), ports: edge.callerPorts.map(named) });
  }
  // No `from`: every source, since the load balancer's (or the nodes') addresses are not known.
  if (edge.publicPort) rules.push({ ports: [named(edge.publicPort)] });
  if (edge.meshIngressPort && model.mesh) {
    rules.push({ from: [inNamespace(model.mesh.ingressNamespace, model.mesh.ingressSelector)], ports: [named(edge.meshIngressPort)] });
  }
  // The monitoring scraper (the cluster's Prometheus pods) on the metrics port alone.
  if (edge.scraperPort && model.monitoring) {
    rules.push({ from: [inNamespace(model.monitoring.scraperNamespace, model.monitoring.scraperPodLabels)], ports: [named(edge.scraperPort)] });
  }
  return rules;
}

/** The Kubernetes API server, which a migration gate reads its Job from: its address is the cluster's, so any address on the API ports. */
const API_SERVER_PORTS = [443, 6443];

function egressRules(model: StackModel, s: ServiceModel | BackgroundSource | undefined): k8s.NetworkPolicyEgressRule[] {
  const rules: k8s.NetworkPolicyEgressRule[] = s ? s.calls.map((name) => model.service(name)).map((c) => ({
    to: [{ podSelector: { matchLabels: { ...c.selector } } }],
    ports: callerPorts(c).map(named),
  })) : [];
  // Backing services it calls: their one port.
  if (s) for (const d of s.stores.map((name) => model.dataStore(name))) rules.push({ to: [{ podSelector: { matchLabels: { ...d.selector } } }], ports: [named(dataStorePort(d))] });
  // A release held back by a Migration's gate reads its Job from the API server.
  if (s && 'versions' in s && model.migrations.some((r) => r.service === s.name)) {
    rules.push({ to: [{ ipBlock: { cidr: '0.0.0.0/0' } }, { ipBlock: { cidr: '::/0' } }], ports: API_SERVER_PORTS.map((p) => ({ port: k8s.IntOrString.fromNumber(p), protocol: 'TCP' })) });
  }
  rules.push({
    to: [inNamespace(CLUSTER_DNS.namespace, CLUSTER_DNS.labels)],
    ports: [{ port: k8s.IntOrString.fromNumber(53), protocol: 'UDP' }, { port: k8s.IntOrString.fromNumber(53), protocol: 'TCP' }],
  });
  if (model.mesh) {
    rules.push({ to: [inNamespace(model.mesh.controlPlaneNamespace, ISTIOD.labels)], ports: [{ port: k8s.IntOrString.fromNumber(ISTIOD.port), protocol: 'TCP' }] });
  }
  return rules;
}

function policy(name: string, model: StackModel, labels: Readonly<Record<string, string>>, spec: k8s.NetworkPolicySpec): KubeObject {
  return kubeObject(k8s.KubeNetworkPolicy.GVK, k8s.toJson_KubeNetworkPolicyProps, { metadata: { name, namespace: model.namespace, labels: { ...labels } }, spec });
}

/** The stack's NetworkPolicies: `default-deny` and one per service (none when `networkPolicy.enabled` is false). */
export function networkPolicies(model: StackModel): KubeObject[] {
  if (!model.networkPolicy.enabled) return [];
  const out: KubeObject[] = [policy(DEFAULT_DENY, model, { ...model.labels, 'app.kubernetes.io/part-of': model.name, 'app.kubernetes.io/managed-by': 'pyfleet' }, {
    podSelector: {},
    policyTypes: ['Ingress', 'Egress'],
  })];
  for (const edge of stackIngress(model)) {
    const s = edge.service;
    const ingress = ingressRules(model, edge);
    out.push(policy(s.name, model, s.labels, {
      podSelector: { matchLabels: { ...s.selector } },
      policyTypes: ['Ingress', 'Egress'],
      ingress: ingress.length > 0 ? ingress : undefined,
      egress: egressRules(model, s),
    }));
  }
  // A backing service admits only its callers, on its one port, and reaches nothing but DNS (and istiod in a mesh).
  for (const edge of stackDataIngress(model)) {
    const d = edge.store;
    // Workers, migrations and schedules that call the store reach it like its callers do.
    const callers = [...edge.callers.map((c) => c.selector), ...backgroundCallersOf(model, d.name, 'store').map((b) => b.selector)];
    out.push(policy(d.name, model, d.labels, {
      podSelector: { matchLabels: { ...d.selector } },
      policyTypes: ['Ingress', 'Egress'],
      ingress: callers.length > 0 ? [{ from: callers.map((sel) => ({ podSelector: { matchLabels: { ...sel } } })), ports: [named(edge.port)] }] : undefined,
      egress: egressRules(model, undefined),
    }));
  }
  // Workers, migrations and schedules: no ingress (but the scraper on a worker's metrics port), egress to what they call.
  for (const b of backgroundSources(model)) {
    out.push(policy(b.name, model, b.labels, {
      podSelector: { matchLabels: { ...b.selector } },
      policyTypes: ['Ingress', 'Egress'],
      ingress: b.scraperPort && model.monitoring ? [{ from: [inNamespace(model.monitoring.scraperNamespace, model.monitoring.scraperPodLabels)], ports: [named(b.scraperPort)] }] : undefined,
      egress: egressRules(model, b),
    }));
  }
  return out;
}

function problems(models: readonly StackModel[]): PyfleetError[] {
  const errors: PyfleetError[] = [];
  for (const model of models) {
    if (!model.networkPolicy.enabled) continue;
    for (const s of [...model.services, ...model.dataStores]) {
      if (s.name === DEFAULT_DENY) {
        errors.push(new PyfleetError(s.path, `a service named "${DEFAULT_DENY}" would share its NetworkPolicy's name with the stack's default deny`,
          `rename the service, or turn the policies off with networkPolicy: { enabled: false } on stack "${model.name}"`));
      }
    }
  }
  return errors;
}

/** NetworkPolicies from the call graph, as part of the Kubernetes target (on by default; `networkPolicy: { enabled: false }` on a Stack turns them off). */
export function networkPolicyExtension(): KubernetesExtension {
  return {
    name: 'network-policy',
    cacheVersion: 'pyfleet',
    validate: problems,
    objects: networkPolicies,
  };
}
