import { PyfleetError } from '../core/errors';
import { Duration } from '../core/units';

/** Options of an HTTP health check. */
export interface HttpHealthCheckOptions {
  /**
   * Container port the check requests.
   * @default - the service's HTTP port
   */
  readonly port?: number;
  /**
   * Time between checks.
   * @default Duration.seconds(10)
   */
  readonly interval?: Duration;
  /**
   * How long one check may take.
   * @default Duration.seconds(2)
   */
  readonly timeout?: Duration;
  /**
   * Consecutive failures before the container is considered unhealthy (and taken out of load balancing).
   * @default 3
   */
  readonly failureThreshold?: number;
  /**
   * Grace period after start during which failures do not count (the app's boot time).
   * @default Duration.seconds(30)
   */
  readonly startPeriod?: Duration;
  /**
   * Command compose runs inside the container for its healthcheck (exec form), for images without a
   * shell or Python.
   * @default - a shell command that tries python3, python, curl and wget in turn
   */
  readonly composeCommand?: string[];
}

/** How a service reports that it is healthy. */
export class HealthCheck {
  /** An HTTP GET that must answer 2xx/3xx. */
  public static http(path: string, options: HttpHealthCheckOptions = {}): HealthCheck {
    const where = `HealthCheck.http("${path}")`;
    if (typeof path !== 'string' || !path.startsWith('/') || /\s/.test(path)) {
      throw new PyfleetError(where, 'the health check path must start with "/" and contain no spaces', 'use a path such as "/healthz"');
    }
    const interval = options.interval ?? Duration.seconds(10);
    const timeout = options.timeout ?? Duration.seconds(2);
    const failureThreshold = options.failureThreshold ?? 3;
    if (interval.millis < 1000 || timeout.millis < 1000) {
      throw new PyfleetError(where, 'interval and timeout must be at least 1 second (Kubernetes probes count whole seconds)', 'use e.g. interval: Duration.seconds(10), timeout: Duration.seconds(2)');
    }
    if (timeout.millis > interval.millis) {
      throw new PyfleetError(where, `the timeout (${timeout}) is longer than the interval (${interval})`, 'make the timeout at most the interval');
    }
    if (!Number.isInteger(failureThreshold) || failureThreshold < 1 || failureThreshold > 100) {
      throw new PyfleetError(where, `failureThreshold ${failureThreshold} is out of range`, 'give a whole number from 1 to 100');
    }
    return new HealthCheck(path, options.port, interval, timeout, failureThreshold, options.startPeriod ?? Duration.seconds(30), options.composeCommand);
  }

  /** No health check: probes are left out and callers only wait for the container to start. */
  public static none(): HealthCheck {
    return new HealthCheck(undefined, undefined, Duration.seconds(10), Duration.seconds(2), 3, Duration.seconds(0));
  }

  private constructor(
    /** The HTTP path, or undefined for no check. */
    public readonly path: string | undefined,
    /** The container port, or undefined for the service's HTTP port. */
    public readonly port: number | undefined,
    public readonly interval: Duration,
    public readonly timeout: Duration,
    public readonly failureThreshold: number,
    public readonly startPeriod: Duration,
    public readonly composeCommand?: string[],
  ) {}

  /** Whether there is a check at all. */
  public get enabled(): boolean { return this.path !== undefined; }
}
