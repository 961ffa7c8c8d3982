import { PyfleetError } from '../core/errors';
import { Duration } from '../core/units';

// Scaling and availability settings of services and versions: horizontal autoscaling, disruption
// budgets and topology spread. The constructs check them when they are given; rules that need other
// objects (a route sending traffic to a version) are checked at synth (lib/model/validation.ts).

/** Horizontal autoscaling of a version on CPU (and optionally memory) utilization. */
export interface AutoscaleOptions {
  /**
   * Fewest pods. Also the containers compose runs (compose cannot autoscale) and the replica count
   * the disruption budget is checked against. At least 1: an autoscaler on resource metrics cannot
   * scale up from zero pods, which report no usage.
   */
  readonly min: number;
  /** Most pods, at least `min` (and at most 1000). */
  readonly max: number;
  /**
   * Target average CPU use, in percent of the CPU request. Above 100 is allowed when the CPU limit is
   * above the request, up to the limit (`cpu / cpuRequest x 100`): a pod is throttled at its limit and
   * could never reach more.
   * @default 70
   */
  readonly cpuUtilization?: number;
  /**
   * Target average memory use, in percent of the memory request; the same bounds as `cpuUtilization`
   * (a pod is killed at its memory limit). Python processes rarely give memory back, so scale on
   * memory only when memory follows load.
   * @default - CPU only
   */
  readonly memoryUtilization?: number;
  /**
   * How long the autoscaler looks back before it removes pods (`behavior.scaleDown.stabilizationWindowSeconds`):
   * it scales down to the highest recommendation of this window, so a short dip in load does not
   * remove pods that the next peak needs. Whole seconds, 0 to 3600.
   * @default Duration.minutes(5)
   */
  readonly scaleDownStabilization?: Duration;
}

/** Autoscaling settings with every default applied (what a version runs with). */
export interface AutoscaleSettings {
  /** Fewest pods. */
  readonly min: number;
  /** Most pods. */
  readonly max: number;
  /** Target average CPU utilization, percent of the CPU request. */
  readonly cpuUtilization: number;
  /** Target average memory utilization, percent of the memory request, if scaling on memory. */
  readonly memoryUtilization?: number;
  /** Scale-down stabilization window. */
  readonly scaleDownStabilization: Duration;
}

/** The default CPU utilization target, in percent of the request. */
export const DEFAULT_CPU_UTILIZATION = 70;

/** The resources utilization targets are checked against, in millicores and bytes. */
export interface ScalingResources {
  /** CPU limit, millicores. */
  readonly cpuLimitMillis: number;
  /** CPU request, millicores. */
  readonly cpuRequestMillis: number;
  /** Memory limit, bytes. */
  readonly memoryLimitBytes: number;
  /** Memory request, bytes. */
  readonly memoryRequestBytes: number;
}

function wholeNumber(where: string, what: string, n: unknown, min: number, max: number, fix?: string): number {
  if (typeof n !== 'number' || !Number.isInteger(n) || n < min || n > max) {
    throw new PyfleetError(where, `${what} ${JSON.stringify(n)} is not valid`, fix ?? `give a whole number from ${min} to ${max}`);
  }
  return n;
}

function utilization(where: string, what: string, value: unknown, limit: number, request: number, resource: 'cpu' | 'memory'): number {
  const cap = Math.max(100, Math.floor((limit / request) * 100));
  const raise = resource === 'cpu' ? 'raise the CPU limit (cpu) above cpuRequest' : 'raise the memory limit (memory) above memoryRequest';
  if (typeof value !== 'number' || !Number.isInteger(value) || value < 1) {
    throw new PyfleetError(where, `autoscale.${what} ${JSON.stringify(value)} is not a percentage of the ${resource} request`, `give a whole number from 1 to ${cap}, e.g. ${Math.min(cap, 70)}`);
  }
  if (value > cap) {
    throw new PyfleetError(where, `autoscale.${what} ${value}% of the ${resource} request can never be reached: a pod ${resource === 'cpu' ? 'is throttled' : 'is killed'} at its ${resource} limit, which is ${cap}% of the request`,
      `give at most ${cap}${cap === 100 ? ` (or ${raise} to allow more)` : ''}`);
  }
  return value;
}

/** Checks autoscaling options and applies their defaults; errors name `where`. */
export function checkAutoscale(where: string, options: AutoscaleOptions, resources: ScalingResources): AutoscaleSettings {
  if (options === null || typeof options !== 'object') {
    throw new PyfleetError(where, 'autoscale must be an object', 'give e.g. autoscale: { min: 2, max: 10, cpuUtilization: 70 }');
  }
  const max = wholeNumber(where, 'autoscale.max', options.max, 1, 1000, 'give a whole number of pods from 1 to 1000, at least autoscale.min');
  const min = wholeNumber(where, 'autoscale.min', options.min, 0, 1000, 'give a whole number of pods from 1 to 1000');
  if (min > max) {
    throw new PyfleetError(where, `autoscale.min ${min} is above autoscale.max ${max}`, `make min at most max (e.g. { min: ${max}, max: ${min} })`);
  }
  const cpuUtilization = utilization(where, 'cpuUtilization', options.cpuUtilization ?? DEFAULT_CPU_UTILIZATION, resources.cpuLimitMillis, resources.cpuRequestMillis, 'cpu');
  const memoryUtilization = options.memoryUtilization === undefined ? undefined
    : utilization(where, 'memoryUtilization', options.memoryUtilization, resources.memoryLimitBytes, resources.memoryRequestBytes, 'memory');
  const window = options.scaleDownStabilization ?? Duration.minutes(5);
  if (!(window instanceof Duration) || window.millis > 3_600_000 || window.millis % 1000 !== 0) {
    throw new PyfleetError(where, `autoscale.scaleDownStabilization ${String(window)} is not whole seconds from 0 to 1 hour`, 'give e.g. Duration.minutes(5) (Kubernetes allows at most 3600 s)');
  }
  return Object.freeze({ min, max, cpuUtilization, memoryUtilization, scaleDownStabilization: window });
}

/**
 * How many pods of a version may be evicted at once by a voluntary disruption (a node drain, a
 * cluster upgrade): a Kubernetes PodDisruptionBudget. pyfleet writes one for every version with two or
 * more replicas (or an autoscaler minimum of two or more), with `maxUnavailable: 1` unless told
 * otherwise, and refuses a budget that could block a drain forever.
 */
export class DisruptionBudget {
  /** At most `n` pods (1 or more) unavailable at once; the default is `maxUnavailable(1)`. */
  public static maxUnavailable(n: number): DisruptionBudget {
    wholeNumber('DisruptionBudget.maxUnavailable', 'maxUnavailable', n, 1, 1000,
      'give at least 1: with 0 no pod can ever be evicted and every node drain blocks (use DisruptionBudget.none() for no budget)');
    return new DisruptionBudget(n, undefined);
  }

  /**
   * At least `n` pods (1 or more) stay available. It must be below the version's replicas (its
   * autoscaler minimum), or no pod could ever be evicted and node drains would block forever.
   */
  public static minAvailable(n: number): DisruptionBudget {
    wholeNumber('DisruptionBudget.minAvailable', 'minAvailable', n, 1, 999, 'give at least 1 and fewer than the replicas (use DisruptionBudget.none() for no budget)');
    return new DisruptionBudget(undefined, n);
  }

  /** No PodDisruptionBudget: drains may evict every pod of the version at once. */
  public static none(): DisruptionBudget {
    return new DisruptionBudget(undefined, undefined);
  }

  private constructor(
    /** Pods that may be unavailable at once, when the budget is given that way. */
    public readonly maxUnavailable: number | undefined,
    /** Pods that must stay available, when the budget is given that way. */
    public readonly minAvailable: number | undefined,
  ) {}

  /** False for `DisruptionBudget.none()`. */
  public get enabled(): boolean {
    return this.maxUnavailable !== undefined || this.minAvailable !== undefined;
  }
}

/**
 * How the pods of each version are spread over failure domains: soft topology spread constraints
 * (`whenUnsatisfiable: ScheduleAnyway`, `maxSkew: 1`), which prefer an even spread but never keep a
 * pod from being scheduled.
 */
export class TopologySpread {
  /** Across nodes (`kubernetes.io/hostname`): the default. */
  public static nodes(): TopologySpread {
    return new TopologySpread(['kubernetes.io/hostname']);
  }

  /**
   * Across nodes and across zones, named by the node label `zoneKey` (the well-known
   * `topology.kubernetes.io/zone` unless your nodes use another).
   */
  public static nodesAndZones(zoneKey = 'topology.kubernetes.io/zone'): TopologySpread {
    if (typeof zoneKey !== 'string' || !/^([a-z0-9]([-a-z0-9.]*[a-z0-9])?\/)?[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?$/.test(zoneKey) || zoneKey.length > 316) {
      throw new PyfleetError('TopologySpread.nodesAndZones', `"${String(zoneKey)}" is not a node label key`, 'give a label key such as "topology.kubernetes.io/zone"');
    }
    if (zoneKey === 'kubernetes.io/hostname') {
      throw new PyfleetError('TopologySpread.nodesAndZones', 'the zone key is the node key kubernetes.io/hostname', 'give the label that names zones, e.g. "topology.kubernetes.io/zone", or use TopologySpread.nodes()');
    }
    return new TopologySpread(['kubernetes.io/hostname', zoneKey]);
  }

  /** No spread constraints (the scheduler's own defaults apply). */
  public static none(): TopologySpread {
    return new TopologySpread([]);
  }

  private constructor(
    /** The node label keys pods are spread across, in order. */
    public readonly topologyKeys: readonly string[],
  ) {}
}
