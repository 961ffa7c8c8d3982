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
}

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
    return new Mesh('istio', mtls, options.holdApplicationUntilProxyStarts ?? true, { ...selector });
  }

  private constructor(
    /** The mesh implementation. */
    public readonly kind: 'istio',
    /** Mutual TLS mode. */
    public readonly mtls: MtlsMode,
    /** Whether the app waits for the sidecar. */
    public readonly holdApplicationUntilProxyStarts: boolean,
    /** Ingress gateway selector. */
    public readonly ingressSelector: Readonly<Record<string, string>>,
  ) {}
}
