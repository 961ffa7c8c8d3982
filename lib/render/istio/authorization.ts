import { PyfleetError } from '../../core/errors';
import {
  AuthorizationPolicy, AuthorizationPolicySpecAction, AuthorizationPolicySpecRules, PeerAuthentication, PeerAuthenticationSpecMtlsMode,
  PeerAuthenticationSpecPortLevelMtlsMode, toJson_AuthorizationPolicyProps, toJson_PeerAuthenticationProps,
} from '../../imports/security.istio.io';
import { MtlsMode } from '../../mesh/mesh';
import type { StackModel } from '../../model/stack';
import { backgroundCallersOf, NamedPort, stackDataIngress, stackIngress } from '../../model/traffic';
import { KubeObject, kubeObject } from '../kubernetes/object';

// Istio identity policies from the call graph (lib/model/traffic), for a stack in an Istio mesh.
//
// AuthorizationPolicies (STRICT mTLS; `Mesh.istio({ authorizationPolicies })`): one per service,
// named like it, selecting its pods, action ALLOW, with one rule per kind of edge: the principals of
// its callers' ServiceAccounts (`<trustDomain>/ns/<namespace>/sa/<service>`, the account the
// Kubernetes target gives each service's pods) on every port its Service names; the ingress
// gateway's principal on the HTTP port when a MeshGateway routes to it; and any source on the HTTP
// port when it is exposed (a load balancer's requests come from outside the mesh). An ALLOW policy
// denies whatever no rule matches, so a service nobody calls admits nothing, and a pod identity that
// leaked cannot reach what its service never calls. Ports are container ports: Istio matches
// `destination.port` on the workload.
//
// An exposed service's load balancer sends plain text, which STRICT mTLS refuses before any policy:
// the service gets a PeerAuthentication of its own that keeps STRICT and makes its HTTP port
// PERMISSIVE, so `expose` works in a STRICT mesh (a MeshGateway, which speaks mTLS, needs none).

/** Principal of a workload identity. */
function principal(model: StackModel, namespace: string, serviceAccount: string): string {
  return model.mesh!.principal(namespace, serviceAccount);
}

function onPorts(ports: readonly NamedPort[]): AuthorizationPolicySpecRules['to'] {
  return [{ operation: { ports: ports.map((p) => String(p.port)) } }];
}

/** The AuthorizationPolicies of a stack (none without a mesh, or with them turned off). */
export function authorizationPolicies(model: StackModel): KubeObject[] {
  const mesh = model.mesh;
  if (!mesh || !mesh.authorizationPolicies || mesh.mtls !== MtlsMode.STRICT) return [];
  // The accounts of a target's callers: services' own, and those of the workers, migrations and schedules that call it.
  const accounts = (callers: readonly { name: string }[], name: string, kind: 'service' | 'store'): string[] =>
    [...new Set([...callers.map((c) => c.name), ...backgroundCallersOf(model, name, kind).map((b) => b.serviceAccount)])];
  // A backing service admits its callers' principals on its one port, and nobody else.
  const stores = stackDataIngress(model).map((edge) => ({ edge, callers: accounts(edge.callers, edge.store.name, 'store') })).map(({ edge, callers }) => kubeObject(AuthorizationPolicy.GVK, toJson_AuthorizationPolicyProps, {
    metadata: { name: edge.store.name, namespace: model.namespace, labels: { ...edge.store.labels } },
    spec: {
      selector: { matchLabels: { ...edge.store.selector } },
      action: AuthorizationPolicySpecAction.ALLOW,
      rules: callers.length > 0 ? [{ from: [{ source: { principals: callers.map((c) => principal(model, model.namespace, c)) } }], to: onPorts([edge.port]) }] : undefined,
    },
  }));
  return [...stores, ...stackIngress(model).map((edge) => {
    const s = edge.service;
    const rules: AuthorizationPolicySpecRules[] = [];
    const callers = accounts(edge.callers, s.name, 'service');
    if (callers.length > 0) {
      // The Kubernetes target runs every pod of a service under the ServiceAccount named like the service.
      rules.push({ from: [{ source: { principals: callers.map((c) => principal(model, model.namespace, c)) } }], to: onPorts(edge.callerPorts) });
    }
    if (edge.meshIngressPort) {
      rules.push({ from: [{ source: { principals: [principal(model, mesh.ingressNamespace, mesh.ingressServiceAccount)] } }], to: onPorts([edge.meshIngressPort]) });
    }
    if (edge.publicPort) rules.push({ to: onPorts([edge.publicPort]) });
    return kubeObject(AuthorizationPolicy.GVK, toJson_AuthorizationPolicyProps, {
      metadata: { name: s.name, namespace: model.namespace, labels: { ...s.labels } },
      spec: { selector: { matchLabels: { ...s.selector } }, action: AuthorizationPolicySpecAction.ALLOW, rules: rules.length > 0 ? rules : undefined },
    });
  })];
}

/** Per-service PeerAuthentications that let an exposed service's load balancer (plain text) reach its HTTP port under STRICT mTLS. */
export function exposurePeerAuthentications(model: StackModel): KubeObject[] {
  const mesh = model.mesh;
  if (!mesh || mesh.mtls !== MtlsMode.STRICT) return [];
  return stackIngress(model).filter((e) => e.publicPort).map((edge) => kubeObject(PeerAuthentication.GVK, toJson_PeerAuthenticationProps, {
    metadata: { name: edge.service.name, namespace: model.namespace, labels: { ...edge.service.labels } },
    spec: {
      selector: { matchLabels: { ...edge.service.selector } },
      mtls: { mode: PeerAuthenticationSpecMtlsMode.STRICT },
      portLevelMtls: { [String(edge.publicPort!.port)]: { mode: PeerAuthenticationSpecPortLevelMtlsMode.PERMISSIVE } },
    },
  }));
}

/** AuthorizationPolicies asked for under PERMISSIVE mTLS. */
export function authorizationProblems(models: readonly StackModel[]): PyfleetError[] {
  const errors: PyfleetError[] = [];
  for (const model of models) {
    const mesh = model.mesh;
    if (mesh?.authorizationPolicies && mesh.mtls === MtlsMode.PERMISSIVE) {
      errors.push(new PyfleetError(model.path, 'AuthorizationPolicies admit callers by their mTLS principal, but under PERMISSIVE mTLS a plain-text request carries no principal, so every plain-text call would be denied',
        'use Mesh.istio({ mtls: MtlsMode.STRICT }) (the default), or leave authorizationPolicies out under PERMISSIVE'));
    }
    if (mesh?.mtls === MtlsMode.STRICT) {
      const clash = model.services.find((s) => s.name === 'default' && s.settings.exposedPort !== undefined);
      if (clash) {
        errors.push(new PyfleetError(clash.path, 'an exposed service named "default" would share its PeerAuthentication (the port-level exception for its load balancer) with the namespace\'s PeerAuthentication "default"',
          'rename the service'));
      }
    }
  }
  return errors;
}
