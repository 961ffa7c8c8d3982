import { Construct } from 'constructs';
import { PyfleetError } from '../core/errors';
import { Stack } from '../core/stack';
import { recordMeshConstruct } from './registry';
import { Duration } from '../core/units';
import { MicroService, ServiceVersion } from '../service/microservice';
import { checkHeaderName, Match } from './match';

/** Conditions under which a failed try is retried. */
export enum RetryOn {
  /** Any 5xx answer, a reset, a refused connection or a per-try timeout (Envoy `5xx`). */
  SERVER_ERROR = '5xx',
  /** 502, 503 or 504 answers (Envoy `gateway-error`). */
  GATEWAY_ERROR = 'gateway-error',
  /** The connection to the upstream could not be made (Envoy `connect-failure`). */
  CONNECT_FAILURE = 'connect-failure',
  /** The upstream closed or reset the connection without an answer (Envoy `reset`). */
  RESET = 'reset',
  /** A 409 answer (Envoy `retriable-4xx`). */
  RETRIABLE_4XX = 'retriable-4xx',
}

/** Retry policy of a route rule. */
export interface RetryPolicy {
  /** Number of retries after the first try (0 disables retries). */
  readonly attempts: number;
  /**
   * Timeout of each try.
   * @default - the rule's timeout
   */
  readonly perTryTimeout?: Duration;
  /**
   * When to retry.
   * @default [RetryOn.CONNECT_FAILURE, RetryOn.GATEWAY_ERROR, RetryOn.RESET]
   */
  readonly retryOn?: RetryOn[];
  /**
   * Also retry POST and PATCH requests (not idempotent: a retry may apply them twice).
   * @default false
   */
  readonly retryNonIdempotent?: boolean;
}

/** Fault injection of a route rule (testing resilience). */
export interface FaultInjection {
  /**
   * Delay this share of requests by a fixed time.
   * @default - no delay
   */
  readonly delay?: {
    /** How long each delayed request waits, at least one millisecond. */
    readonly fixed: Duration;
    /** Share of requests delayed, a percentage from 0 to 100. */
    readonly percentage: number;
  };
  /**
   * Answer this share of requests with an HTTP status, without calling the service.
   * @default - no abort
   */
  readonly abort?: {
    /** The HTTP status answered, from 200 to 599 (e.g. 503). */
    readonly httpStatus: number;
    /** Share of requests aborted, a percentage from 0 to 100. */
    readonly percentage: number;
  };
}

/** Header changes. */
export interface HeaderChanges {
  /**
   * Headers set (replacing existing values).
   * @default - none
   */
  readonly set?: Record<string, string>;
  /**
   * Headers appended.
   * @default - none
   */
  readonly add?: Record<string, string>;
  /**
   * Headers removed.
   * @default - none
   */
  readonly remove?: string[];
}

/** A version reference: the ServiceVersion object, or its name. */
export type VersionRef = ServiceVersion | string;

/** One weighted destination of a split. */
export interface WeightedDestination {
  /** The version. */
  readonly to: VersionRef;
  /** Integer share in percent; the weights of a split sum to 100. */
  readonly weight: number;
}

/** One rule of a MeshRoute; rules are tried in order, the first whose match holds applies. */
export interface RouteRule {
  /**
   * Condition(s): a Match (AND of its conditions) or a list of Matches (OR).
   * @default - every request
   */
  readonly match?: Match | Match[];
  /**
   * Send every matching request to this version. Exactly one of `to` and `split` is given.
   * @default - `split`
   */
  readonly to?: VersionRef;
  /**
   * Split matching requests between versions by integer weights summing to 100.
   * @default - `to`
   */
  readonly split?: WeightedDestination[];
  /**
   * Total time the gateway waits for an answer, retries included.
   * @default - no timeout
   */
  readonly timeout?: Duration;
  /**
   * Retries.
   * @default - no retries
   */
  readonly retries?: RetryPolicy;
  /**
   * Fault injection (delay or abort a share of requests).
   * @default - none
   */
  readonly fault?: FaultInjection;
  /**
   * Copy a share of requests to another version (answers are discarded).
   * @default - no mirroring
   */
  readonly mirror?: {
    /** The version that receives the copies. */
    readonly to: VersionRef;
    /**
     * Share of requests copied, a percentage from 0 to 100.
     * @default 100
     */
    readonly percentage?: number;
  };
  /**
   * Replace the matched path prefix (or, without a prefix match, the whole path) before forwarding.
   * @default - unchanged
   */
  readonly rewriteUri?: string;
  /**
   * Changes to the request headers.
   * @default - none
   */
  readonly requestHeaders?: HeaderChanges;
  /**
   * Changes to the response headers.
   * @default - none
   */
  readonly responseHeaders?: HeaderChanges;
}

/** Properties of a MeshRoute. */
export interface MeshRouteProps {
  /** The service whose traffic is routed (every caller's requests to it). */
  readonly service: MicroService;
  /**
   * Name of the service port the rules apply to; HTTP routing needs the named HTTP port.
   * @default 'http'
   */
  readonly port?: string;
  /** Ordered rules; a request no rule matches goes to every version of the service as without routes. */
  readonly rules: RouteRule[];
}

const ISROUTE = Symbol.for('pyfleet.MeshRoute');

/**
 * Ordered routing rules for one service: match on path, headers, query parameters and method; send to
 * a version or split by weight; timeouts, retries, fault injection, mirroring, rewrites and header
 * changes. Rendered as an Istio VirtualService (plus DestinationRule subsets), and on compose by the
 * service's gateway proxy.
 */
export class MeshRoute extends Construct {
  /**
   * Whether `x` is a MeshRoute. It checks a brand symbol rather than `instanceof`, so it also holds for
   * a route made by another copy of pyfleet.
   */
  public static isMeshRoute(x: unknown): x is MeshRoute {
    return typeof x === 'object' && x !== null && (x as any)[ISROUTE] === true;
  }

  /** The routed service. */
  public readonly service: MicroService;
  /** The rules, in order. */
  public readonly rules: readonly RouteRule[];
  /** The port name the rules apply to. */
  public readonly port: string;

  constructor(scope: Construct, id: string, props: MeshRouteProps) {
    super(scope, id);
    Object.defineProperty(this, ISROUTE, { value: true });
    const where = this.node.path;
    const stack = Stack.of(this);
    if (!props || !MicroService.isMicroService(props.service)) {
      throw new PyfleetError(where, '`service` is not a MicroService', 'pass the service construct, e.g. service: orders');
    }
    if (!Array.isArray(props.rules) || props.rules.length === 0) {
      throw new PyfleetError(where, 'a route needs at least one rule', 'add a rule, e.g. { split: [{ to: v1, weight: 90 }, { to: v2, weight: 10 }] }');
    }
    this.service = props.service;
    this.port = props.port ?? 'http';
    this.rules = props.rules.map((r, i) => checkRule(`${where} rule ${i}`, r));
    recordMeshConstruct(stack, this);
  }
}

function checkPercent(where: string, what: string, p: number): void {
  if (typeof p !== 'number' || !Number.isFinite(p) || p < 0 || p > 100) {
    throw new PyfleetError(where, `${what} ${p} is out of range`, 'give a percentage from 0 to 100');
  }
}

function checkHeaderChanges(where: string, h: HeaderChanges | undefined): void {
  if (!h) return;
  for (const [k, v] of [...Object.entries(h.set ?? {}), ...Object.entries(h.add ?? {})]) {
    checkHeaderName(where, k);
    if (typeof v !== 'string' || /[\r\n"]/.test(v)) throw new PyfleetError(where, `header "${k}" value contains a line break or a double quote`, 'give a single-line value without double quotes');
  }
  for (const k of h.remove ?? []) {
    checkHeaderName(where, k);
  }
}

/** Checks what one rule can check on its own (cross-object rules come at synth). */
function checkRule(where: string, rule: RouteRule): RouteRule {
  if (!rule || typeof rule !== 'object') throw new PyfleetError(where, 'the rule is empty', 'give `to` or `split`');
  if ((rule.to === undefined) === (rule.split === undefined)) {
    throw new PyfleetError(where, 'a rule needs exactly one of `to` and `split`', 'send to one version with `to`, or split with `split: [{ to, weight }]`');
  }
  for (const m of rule.match === undefined ? [] : Array.isArray(rule.match) ? rule.match : [rule.match]) {
    if (!(m instanceof Match)) throw new PyfleetError(where, '`match` holds something that is not a Match', 'build matches with Match.pathPrefix(...), Match.header(...), ...');
  }
  if (Array.isArray(rule.match) && rule.match.length === 0) throw new PyfleetError(where, '`match` is an empty list, which would never match', 'leave `match` out to match every request');
  if (rule.split) {
    if (rule.split.length === 0) throw new PyfleetError(where, '`split` is empty', 'list at least one { to, weight }');
    for (const d of rule.split) {
      if (!Number.isInteger(d.weight) || d.weight < 0 || d.weight > 100) {
        throw new PyfleetError(where, `weight ${d.weight} is not a whole number from 0 to 100`, 'give integer percentages, e.g. 70 and 30');
      }
    }
  }
  if (rule.timeout !== undefined && (!(rule.timeout instanceof Duration) || rule.timeout.millis < 1)) {
    throw new PyfleetError(where, 'timeout must be a positive Duration', 'e.g. timeout: Duration.seconds(10)');
  }
  const r = rule.retries;
  if (r) {
    if (!Number.isInteger(r.attempts) || r.attempts < 0 || r.attempts > 10) throw new PyfleetError(where, `retries.attempts ${r.attempts} is out of range`, 'give a whole number from 0 to 10');
    if (r.perTryTimeout !== undefined && (!(r.perTryTimeout instanceof Duration) || r.perTryTimeout.millis < 1)) throw new PyfleetError(where, 'retries.perTryTimeout must be a positive Duration', 'e.g. Duration.seconds(2)');
    for (const c of r.retryOn ?? []) if (!Object.values(RetryOn).includes(c)) throw new PyfleetError(where, `retryOn "${c}" is unknown`, `use RetryOn.${Object.keys(RetryOn).join(', RetryOn.')}`);
    if (r.retryOn && r.retryOn.length === 0) throw new PyfleetError(where, 'retries.retryOn is empty, so nothing would be retried', 'list conditions or set attempts: 0');
  }
  const f = rule.fault;
  if (f) {
    if (!f.delay && !f.abort) throw new PyfleetError(where, 'fault has neither delay nor abort', 'give fault.delay or fault.abort, or drop fault');
    if (f.delay) {
      checkPercent(where, 'fault.delay.percentage', f.delay.percentage);
      if (!(f.delay.fixed instanceof Duration) || f.delay.fixed.millis < 1) throw new PyfleetError(where, 'fault.delay.fixed must be a positive Duration', 'e.g. Duration.seconds(2)');
    }
    if (f.abort) {
      checkPercent(where, 'fault.abort.percentage', f.abort.percentage);
      if (!Number.isInteger(f.abort.httpStatus) || f.abort.httpStatus < 200 || f.abort.httpStatus > 599) throw new PyfleetError(where, `fault.abort.httpStatus ${f.abort.httpStatus} is out of range`, 'give an HTTP status from 200 to 599, e.g. 503');
    }
  }
  if (rule.mirror && rule.mirror.percentage !== undefined) checkPercent(where, 'mirror.percentage', rule.mirror.percentage);
  if (rule.rewriteUri !== undefined && (typeof rule.rewriteUri !== 'string' || !rule.rewriteUri.startsWith('/') || /[\s"#?]/.test(rule.rewriteUri))) {
    throw new PyfleetError(where, `rewriteUri "${rule.rewriteUri}" is not a path`, 'give a path starting with "/", e.g. "/v2/"');
  }
  checkHeaderChanges(where, rule.requestHeaders);
  checkHeaderChanges(where, rule.responseHeaders);
  return rule;
}
