import { Construct } from 'constructs';
import { PyfleetError } from '../core/errors';
import { checkDnsLabel, checkPort } from '../core/names';
import { Stack } from '../core/stack';
import { recordMeshConstruct } from './registry';
import { MicroService } from '../service/microservice';
import { Match } from './match';

/** TLS of a public entry. */
export interface GatewayTls {
  /** Kubernetes secret (type kubernetes.io/tls) holding the certificate and key, in the ingress gateway's namespace. */
  readonly secretName: string;
  /**
   * Answer plain HTTP requests with a redirect to HTTPS.
   * @default true
   */
  readonly httpsRedirect?: boolean;
  /**
   * For the compose project: a PEM file holding the certificate chain and the private key on the
   * machine that runs compose (absolute, or relative to the compose file), mounted read-only into the
   * gateway proxy. The Kubernetes secret is not readable there.
   * @default - none: a stack with a compose project refuses `tls` without it
   */
  readonly composeCertificateFile?: string;
}

/** Properties of a MeshGateway. */
export interface MeshGatewayProps {
  /** The service exposed. */
  readonly service: MicroService;
  /** Public host names (e.g. `shop.example.com`). */
  readonly hosts: string[];
  /**
   * Serve HTTPS with a certificate from a Kubernetes secret.
   * @default - plain HTTP only
   */
  readonly tls?: GatewayTls;
  /**
   * Expose only requests matching one of these (the service's MeshRoute rules still apply).
   * @default - every path
   */
  readonly match?: Match[];
  /**
   * HTTP port of the gateway.
   * @default 80
   */
  readonly httpPort?: number;
  /**
   * HTTPS port of the gateway.
   * @default 443
   */
  readonly httpsPort?: number;
}

const ISGATEWAY = Symbol.for('pyfleet.MeshGateway');
const HOST = /^(\*\.)?([a-z0-9]([-a-z0-9]*[a-z0-9])?\.)+[a-z]{2,63}$/;

/**
 * Throws unless `h` is a fully qualified lowercase host name (optionally `*.` for a wildcard), at most
 * 253 characters in all and 63 per label, as DNS (RFC 1035) and Istio's Gateway validation require.
 */
function checkHost(where: string, h: string): void {
  if (typeof h !== 'string' || !HOST.test(h)) {
    throw new PyfleetError(where, `"${h}" is not a fully qualified lowercase host name`, 'e.g. "shop.example.com" or "*.example.com"');
  }
  const long = h.split('.').find((label) => label.length > 63);
  if (long !== undefined) {
    throw new PyfleetError(where, `host "${h}" has the label "${long.slice(0, 20)}..." of ${long.length} characters, more than the 63 DNS allows per label`, 'shorten that part of the name');
  }
  if (h.length > 253) {
    throw new PyfleetError(where, `host "${h.slice(0, 40)}..." is ${h.length} characters long, more than the 253 DNS allows`, 'use a shorter host name');
  }
}

/**
 * A public entry into the mesh: an Istio Gateway on the ingress gateway bound to a VirtualService
 * for the service, with TLS from a Kubernetes secret and an HTTP-to-HTTPS redirect.
 */
export class MeshGateway extends Construct {
  /**
   * Whether `x` is a MeshGateway. It checks a brand symbol rather than `instanceof`, so it also holds for
   * a gateway made by another copy of pyfleet.
   */
  public static isMeshGateway(x: unknown): x is MeshGateway {
    return typeof x === 'object' && x !== null && (x as any)[ISGATEWAY] === true;
  }

  /** The service exposed. */
  public readonly service: MicroService;
  /** Public host names the gateway answers for (e.g. `shop.example.com`, or `*.example.com`). */
  public readonly hosts: readonly string[];
  /** TLS settings, or undefined for plain HTTP only. */
  public readonly tls?: GatewayTls;
  /** The matches a request must meet to be exposed, or undefined to expose every path. */
  public readonly match?: readonly Match[];
  /** HTTP port of the gateway (80 by default). */
  public readonly httpPort: number;
  /** HTTPS port of the gateway, used only with `tls` (443 by default). */
  public readonly httpsPort: number;

  constructor(scope: Construct, id: string, props: MeshGatewayProps) {
    super(scope, id);
    Object.defineProperty(this, ISGATEWAY, { value: true });
    const stack = Stack.of(this);
    const where = this.node.path;
    checkDnsLabel(where, 'gateway id (the Istio Gateway name)', id);
    if (!props || !MicroService.isMicroService(props.service)) throw new PyfleetError(where, '`service` is not a MicroService', 'pass the service construct');
    if (!Array.isArray(props.hosts) || props.hosts.length === 0) throw new PyfleetError(where, 'no public host names', 'give hosts, e.g. ["shop.example.com"]');
    for (const h of props.hosts) checkHost(where, h);
    if (props.tls) {
      if (!/^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$/.test(props.tls.secretName ?? '')) throw new PyfleetError(where, `tls.secretName "${props.tls.secretName}" is not a Kubernetes object name`, 'e.g. "shop-tls"');
      const f = props.tls.composeCertificateFile;
      if (f !== undefined && (typeof f !== 'string' || f.length === 0 || /[\s:"]/.test(f))) {
        throw new PyfleetError(where, `tls.composeCertificateFile "${f}" is not a usable path (no spaces, colons or quotes)`, 'e.g. "./certs/shop.pem" or "/etc/ssl/private/shop.pem"');
      }
    }
    if (props.match) {
      if (props.match.length === 0) throw new PyfleetError(where, '`match` is empty, so nothing would be exposed', 'leave it out to expose every path');
      for (const m of props.match) if (!(m instanceof Match)) throw new PyfleetError(where, '`match` holds something that is not a Match', 'use Match.pathPrefix(...)');
    }
    this.httpPort = props.httpPort ?? 80;
    this.httpsPort = props.httpsPort ?? 443;
    checkPort(where, 'httpPort', this.httpPort);
    checkPort(where, 'httpsPort', this.httpsPort);
    if (props.tls && this.httpPort === this.httpsPort) throw new PyfleetError(where, 'httpPort and httpsPort are the same', 'use two ports, e.g. 80 and 443');
    this.service = props.service;
    this.hosts = [...props.hosts];
    this.tls = props.tls;
    this.match = props.match ? [...props.match] : undefined;
    recordMeshConstruct(stack, this);
  }
}
