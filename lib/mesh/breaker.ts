import { Construct } from 'constructs';
import { PyfleetError } from '../core/errors';
import { Stack } from '../core/stack';
import { recordMeshConstruct } from './registry';
import { Duration } from '../core/units';
import { MicroService, ServiceVersion } from '../service/microservice';

/** How requests are spread over the pods (containers) of a service or version. */
export class LoadBalancer {
  /** Each host in turn. */
  public static roundRobin(): LoadBalancer { return new LoadBalancer('roundRobin'); }
  /** The host with the fewest requests in flight. */
  public static leastRequest(): LoadBalancer { return new LoadBalancer('leastRequest'); }
  /** A random host. */
  public static random(): LoadBalancer { return new LoadBalancer('random'); }
  /** The same host for the same value of request header `name` (sticky sessions). */
  public static consistentHashHeader(name: string): LoadBalancer {
    if (!/^[a-z0-9-]+$/.test(name ?? '')) throw new PyfleetError(`LoadBalancer.consistentHashHeader("${name}")`, `"${name}" is not a lowercase header name`, 'e.g. "x-user-id"');
    return new LoadBalancer('header', name);
  }
  /** The same host for the same value of cookie `name`. */
  public static consistentHashCookie(name: string): LoadBalancer {
    if (!/^[A-Za-z0-9_.-]+$/.test(name ?? '')) throw new PyfleetError(`LoadBalancer.consistentHashCookie("${name}")`, `"${name}" is not a cookie name`, 'e.g. "session"');
    return new LoadBalancer('cookie', name);
  }
  /** The same host for the same client IP address. */
  public static consistentHashSourceIp(): LoadBalancer { return new LoadBalancer('sourceIp'); }

  private constructor(
    /** The algorithm. */
    public readonly kind: 'roundRobin' | 'leastRequest' | 'random' | 'header' | 'cookie' | 'sourceIp',
    /** Header or cookie name for consistent hashing. */
    public readonly key?: string,
  ) {}
}

/** TLS from the client sidecar to the destination. */
export enum UpstreamTls {
  /** Istio mutual TLS (required when the stack's mTLS mode is STRICT). */
  ISTIO_MUTUAL = 'ISTIO_MUTUAL',
  /** Plain text (only with MtlsMode.PERMISSIVE). */
  DISABLE = 'DISABLE',
}

/** The settings of a circuit breaker (connection pool, outlier detection, load balancing). */
export interface CircuitBreakerSettings {
  /**
   * TLS from the calling sidecar to the destination.
   * @default UpstreamTls.ISTIO_MUTUAL
   */
  readonly upstreamTls?: UpstreamTls;
  /**
   * Most TCP connections to each host of the destination; further requests wait as pending requests.
   * @default - unlimited (Istio: 2^32-1)
   */
  readonly maxConnections?: number;
  /**
   * Time allowed to open a TCP connection.
   * @default - 10s (Istio's default)
   */
  readonly connectTimeout?: Duration;
  /**
   * Most requests waiting for a connection; beyond it requests fail fast with 503.
   * @default - unlimited
   */
  readonly maxPendingRequests?: number;
  /**
   * Most requests in flight to the destination at once; beyond it requests fail fast with 503.
   * @default - unlimited
   */
  readonly maxRequests?: number;
  /**
   * Requests per upstream connection before it is closed (1 disables keep-alive).
   * @default - unlimited
   */
  readonly maxRequestsPerConnection?: number;
  /**
   * Most retries in flight to the destination at once.
   * @default - unlimited
   */
  readonly maxRetries?: number;
  /**
   * Upstream connections idle this long are closed. Keep it below the app server's keep-alive, or
   * requests race a closing connection and fail with "503 UC".
   * @default - 1 hour (Istio's default)
   */
  readonly idleTimeout?: Duration;
  /**
   * Consecutive 5xx answers (or connection errors) after which a host is ejected.
   * @default - no ejection on 5xx
   */
  readonly consecutive5xxErrors?: number;
  /**
   * Consecutive 502/503/504 answers (or connection errors) after which a host is ejected.
   * @default - no ejection on gateway errors
   */
  readonly consecutiveGatewayErrors?: number;
  /**
   * Time between ejection sweeps.
   * @default Duration.seconds(10)
   */
  readonly interval?: Duration;
  /**
   * How long an ejected host stays out (Istio multiplies it by the number of ejections).
   * @default Duration.seconds(30)
   */
  readonly baseEjectionTime?: Duration;
  /**
   * Most hosts, in percent, that may be ejected at once.
   * @default - 10 (Istio's default)
   */
  readonly maxEjectionPercent?: number;
  /**
   * Outlier detection stops when fewer hosts than this percentage are healthy.
   * @default - 0 (Istio's default)
   */
  readonly minHealthPercent?: number;
  /**
   * How requests are spread over hosts.
   * @default LoadBalancer.roundRobin()
   */
  readonly loadBalancer?: LoadBalancer;
}

/** Properties of a CircuitBreaker. */
export interface CircuitBreakerProps extends CircuitBreakerSettings {
  /** The protected service. */
  readonly service: MicroService;
  /**
   * Apply to one version only (its settings override the service-wide breaker's, field by field).
   * @default - every version of the service
   */
  readonly version?: ServiceVersion;
}

const ISBREAKER = Symbol.for('pyfleet.CircuitBreaker');
const MAX_INT32 = 2147483647;

/**
 * Protects a service (or one version) from overload and failing hosts: a connection pool, outlier
 * detection (ejection of hosts that keep failing) and load balancing. Rendered as an Istio
 * DestinationRule traffic policy, and on compose by the service's gateway proxy.
 */
export class CircuitBreaker extends Construct {
  /**
   * Whether `x` is a CircuitBreaker. It checks a brand symbol rather than `instanceof`, so it also holds for
   * a circuit breaker made by another copy of pyfleet.
   */
  public static isCircuitBreaker(x: unknown): x is CircuitBreaker {
    return typeof x === 'object' && x !== null && (x as any)[ISBREAKER] === true;
  }

  /** The protected service. */
  public readonly service: MicroService;
  /** The version, when the breaker applies to one. */
  public readonly version?: ServiceVersion;
  /** The settings. */
  public readonly settings: CircuitBreakerSettings;

  constructor(scope: Construct, id: string, props: CircuitBreakerProps) {
    super(scope, id);
    Object.defineProperty(this, ISBREAKER, { value: true });
    const stack = Stack.of(this);
    const where = this.node.path;
    if (!props || !MicroService.isMicroService(props.service)) {
      throw new PyfleetError(where, '`service` is not a MicroService', 'pass the service construct, e.g. service: orders');
    }
    if (props.version !== undefined && props.version.service !== props.service) {
      throw new PyfleetError(where, `version "${props.version.node.path}" belongs to service "${props.version.service.serviceName}", not "${props.service.serviceName}"`, `pass a version of "${props.service.serviceName}"`);
    }
    const { service, version, ...settings } = props;
    const count = (k: keyof CircuitBreakerSettings, min: number, max: number): void => {
      const v = settings[k] as number | undefined;
      if (v !== undefined && (!Number.isInteger(v) || v < min || v > max)) {
        throw new PyfleetError(where, `${k} ${v} is out of range`, `give a whole number from ${min} to ${max}`);
      }
    };
    count('maxConnections', 1, MAX_INT32);
    count('maxPendingRequests', 1, MAX_INT32);
    count('maxRequests', 1, MAX_INT32);
    count('maxRequestsPerConnection', 1, 536870912);
    count('maxRetries', 0, MAX_INT32);
    count('consecutive5xxErrors', 1, 1000);
    count('consecutiveGatewayErrors', 1, 1000);
    count('maxEjectionPercent', 0, 100);
    count('minHealthPercent', 0, 100);
    for (const k of ['connectTimeout', 'idleTimeout', 'interval', 'baseEjectionTime'] as const) {
      const d = settings[k];
      if (d !== undefined && (!(d instanceof Duration) || d.millis < 1)) {
        throw new PyfleetError(where, `${k} must be a positive Duration`, `e.g. ${k}: Duration.seconds(10)`);
      }
      if (d !== undefined && d.millis < 1000 && d.millis % 1 !== 0) {
        throw new PyfleetError(where, `${k} is not a whole number of milliseconds`, 'round it');
      }
    }
    if (settings.upstreamTls !== undefined && !Object.values(UpstreamTls).includes(settings.upstreamTls)) {
      throw new PyfleetError(where, `upstreamTls "${settings.upstreamTls}" is unknown`, 'use UpstreamTls.ISTIO_MUTUAL or UpstreamTls.DISABLE');
    }
    if (settings.loadBalancer !== undefined && !(settings.loadBalancer instanceof LoadBalancer)) {
      throw new PyfleetError(where, '`loadBalancer` is not a LoadBalancer', 'use LoadBalancer.roundRobin(), leastRequest(), random() or a consistentHash*() factory');
    }
    if (Object.values(settings).every((v) => v === undefined)) {
      throw new PyfleetError(where, 'the breaker sets nothing', 'set a limit (e.g. maxConnections: 100) or an ejection rule (e.g. consecutive5xxErrors: 5)');
    }
    this.service = service;
    this.version = version;
    this.settings = settings;
    recordMeshConstruct(stack, this);
  }

  /** Whether any outlier-detection field is set. */
  public get detectsOutliers(): boolean {
    const s = this.settings;
    return s.consecutive5xxErrors !== undefined || s.consecutiveGatewayErrors !== undefined || s.interval !== undefined
      || s.baseEjectionTime !== undefined || s.maxEjectionPercent !== undefined || s.minHealthPercent !== undefined;
  }
}
