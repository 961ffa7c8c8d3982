import { PyfleetError } from '../core/errors';

/** Mutual TLS mode between the sidecars of a stack. */
export enum MtlsMode {
  /** Only mutual-TLS traffic is accepted (the default when the mesh is on). */
  STRICT = 'STRICT',
  /** Plain-text and mutual-TLS traffic are both accepted (migration). */
  PERMISSIVE = 'PERMISSIVE',
}

/** Options of an Istio mesh. */
export interface IstioMeshOptions {
  /**
   * Mutual TLS mode of the stack's namespace (a PeerAuthentication); DestinationRules use
   * `ISTIO_MUTUAL` to agree with it.
   * @default MtlsMode.STRICT
   */
  readonly mtls?: MtlsMode | 'STRICT' | 'PERMISSIVE';
  /**
   * Start the application container only once the sidecar proxy is ready (pod annotation
   * `proxy.istio.io/config: holdApplicationUntilProxyStarts`), so early outbound calls do not fail.
   * @default true
   */
  readonly holdApplicationUntilProxyStarts?: boolean;
  /**
   * Label selecting the ingress gateway deployment that public entries (MeshGateway) bind to.
   * @default { istio: 'ingressgateway' }
   */
  readonly ingressSelector?: Record<string, string>;
  /**
   * Namespace of the ingress gateway deployment: NetworkPolicies admit it to the services a
   * MeshGateway exposes, and its principal names this namespace.
   * @default 'istio-system'
   */
  readonly ingressNamespace?: string;
  /**
   * ServiceAccount of the ingress gateway, for its principal in AuthorizationPolicies
   * (`<trustDomain>/ns/<ingressNamespace>/sa/<ingressServiceAccount>`).
   * @default 'istio-ingressgateway-service-account' (what istioctl's default profile installs)
   */
  readonly ingressServiceAccount?: string;
  /**
   * Namespace of istiod: sidecars reach it (port 15012, configuration and certificates) through the
   * stack's egress NetworkPolicies.
   * @default 'istio-system'
   */
  readonly controlPlaneNamespace?: string;
  /**
   * Trust domain of the mesh's workload identities (principals `<trustDomain>/ns/<ns>/sa/<sa>`).
   * @default 'cluster.local'
   */
  readonly trustDomain?: string;
  /**
   * AuthorizationPolicies from the call graph: each service ALLOWs only its callers' principals (and
   * the ingress gateway's where a MeshGateway exposes it). They need STRICT mTLS: plain-text requests
   * carry no principal. Refused under PERMISSIVE.
   * @default - true under STRICT mTLS, false under PERMISSIVE
   */
  readonly authorizationPolicies?: boolean;
}

const DNS_LABEL = /^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/;
const SUBDOMAIN = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;
const TRUST_DOMAIN = /^[a-z0-9]([-a-z0-9._]*[a-z0-9])?$/;

/** Service-mesh settings of a stack (`new Stack(app, 'shop', { mesh: Mesh.istio() })`). */
export class Mesh {
  /** Istio sidecar mesh: injection label on the namespace, PeerAuthentication, DestinationRules, VirtualServices. */
  public static istio(options: IstioMeshOptions = {}): Mesh {
    const mtls = (options.mtls ?? MtlsMode.STRICT) as MtlsMode;
    if (!Object.values(MtlsMode).includes(mtls)) {
      throw new PyfleetError('Mesh.istio', `mtls mode "${mtls}" is unknown`, 'use MtlsMode.STRICT or MtlsMode.PERMISSIVE');
    }
    const selector = options.ingressSelector ?? { istio: 'ingressgateway' };
    if (Object.keys(selector).length === 0) {
      throw new PyfleetError('Mesh.istio', 'ingressSelector is empty, so a Gateway would bind every pod', 'give the ingress gateway labels, e.g. { istio: "ingressgateway" }');
    }
    const names: Array<[string, string | undefined, RegExp, string]> = [
      ['ingressNamespace', options.ingressNamespace, DNS_LABEL, 'a namespace name, e.g. "istio-system"'],
      ['controlPlaneNamespace', options.controlPlaneNamespace, DNS_LABEL, 'a namespace name, e.g. "istio-system"'],
      ['ingressServiceAccount', options.ingressServiceAccount, SUBDOMAIN, 'a ServiceAccount name, e.g. "istio-ingressgateway-service-account"'],
      ['trustDomain', options.trustDomain, TRUST_DOMAIN, 'a trust domain, e.g. "cluster.local"'],
    ];
    for (const [name, value, re, example] of names) {
      if (value !== undefined && (typeof value !== 'string' || value.length > 253 || !re.test(value))) {
        throw new PyfleetError('Mesh.istio', `${name} "${value}" is not valid`, `give ${example}`);
      }
    }
    if (options.authorizationPolicies !== undefined && typeof options.authorizationPolicies !== 'boolean') {
      throw new PyfleetError('Mesh.istio', `authorizationPolicies is ${JSON.stringify(options.authorizationPolicies)}, not a boolean`, 'use true, false, or leave it out');
    }
    return new Mesh('istio', mtls, options.holdApplicationUntilProxyStarts ?? true, { ...selector }, {
      ingressNamespace: options.ingressNamespace ?? 'istio-system',
      ingressServiceAccount: options.ingressServiceAccount ?? 'istio-ingressgateway-service-account',
      controlPlaneNamespace: options.controlPlaneNamespace ?? 'istio-system',
      trustDomain: options.trustDomain ?? 'cluster.local',
      authorizationPolicies: options.authorizationPolicies ?? mtls === MtlsMode.STRICT,
    });
  }

  /** Namespace of the ingress gateway. */
  public readonly ingressNamespace: string;
  /** ServiceAccount of the ingress gateway. */
  public readonly ingressServiceAccount: string;
  /** Namespace of istiod. */
  public readonly controlPlaneNamespace: string;
  /** Trust domain of workload identities. */
  public readonly trustDomain: string;
  /** Whether AuthorizationPolicies are rendered from the call graph (true under PERMISSIVE only when asked for, which validation refuses). */
  public readonly authorizationPolicies: boolean;

  private constructor(
    /** The mesh implementation. */
    public readonly kind: 'istio',
    /** Mutual TLS mode. */
    public readonly mtls: MtlsMode,
    /** Whether the app waits for the sidecar. */
    public readonly holdApplicationUntilProxyStarts: boolean,
    /** Ingress gateway selector. */
    public readonly ingressSelector: Readonly<Record<string, string>>,
    identity: {
      ingressNamespace: string; ingressServiceAccount: string; controlPlaneNamespace: string; trustDomain: string;
      authorizationPolicies: boolean;
    },
  ) {
    this.ingressNamespace = identity.ingressNamespace;
    this.ingressServiceAccount = identity.ingressServiceAccount;
    this.controlPlaneNamespace = identity.controlPlaneNamespace;
    this.trustDomain = identity.trustDomain;
    this.authorizationPolicies = identity.authorizationPolicies;
  }

  /** The SPIFFE-style principal of a ServiceAccount: `<trustDomain>/ns/<namespace>/sa/<name>`. */
  public principal(namespace: string, serviceAccount: string): string {
    return `${this.trustDomain}/ns/${namespace}/sa/${serviceAccount}`;
  }
}
