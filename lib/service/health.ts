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

/**
 * Throws unless `path` is a health check path every target can carry: it starts with "/" and has only
 * printable ASCII without whitespace, quotes, `$`, backslash, backtick or `#`. The compose healthcheck
 * puts the URL inside a quoted shell command (quotes, `$`, backslash and backtick break it or are
 * expanded; compose also interpolates `$`), HAProxy's `option httpchk` takes it unquoted (whitespace
 * and `#` end it), and a fragment (`#...`) is never sent to the server.
 */
function checkHealthPath(where: string, path: unknown): asserts path is string {
  if (typeof path !== 'string' || !path.startsWith('/')) {
    throw new PyfleetError(where, 'the health check path must start with "/"', 'use a path such as "/healthz"');
  }
  const bad = [...path].find((c) => /[\s'"$\\`#]/.test(c) || c < '\x21' || c > '\x7e');
  if (bad === undefined) return;
  let why: string;
  let fix: string;
  if (/\s/.test(bad)) {
    why = 'contains whitespace';
    fix = 'remove it, or percent-encode it (a space is "%20"), e.g. "/healthz"';
  } else if (bad === '#') {
    why = 'contains "#", which starts a URL fragment that is never sent to the server (and a comment in the compose gateway\'s haproxy.cfg)';
    fix = 'drop the fragment, or percent-encode "#" as "%23"';
  } else if (bad < '\x21' || bad > '\x7e') {
    why = `contains the character U+${bad.codePointAt(0)!.toString(16).toUpperCase().padStart(4, '0')}, which is not printable ASCII (a request path is ASCII)`;
    fix = 'percent-encode it (its UTF-8 bytes as %XX), e.g. encodeURI(path)';
  } else {
    why = `contains ${JSON.stringify(bad)}, which breaks the quoted shell command of the compose healthcheck (or is expanded by the shell and by compose's variable interpolation)`;
    fix = `percent-encode it as "%${bad.charCodeAt(0).toString(16).toUpperCase()}", or use a plain path such as "/healthz"`;
  }
  throw new PyfleetError(where, `the health check path ${why}`, fix);
}

/** Returns `d` when it is a Duration of whole seconds, at least `minSeconds`; throws otherwise. */
function checkWholeSeconds(where: string, what: string, d: Duration, minSeconds: number): Duration {
  if (!(d instanceof Duration)) {
    throw new PyfleetError(where, `${what} must be a Duration, not ${typeof d === 'number' ? `the number ${d}` : typeof d}`, `use e.g. ${what}: Duration.seconds(${Math.max(minSeconds, 2)})`);
  }
  if (d.millis < minSeconds * 1000) {
    throw new PyfleetError(where, minSeconds === 1
      ? `${what} ${d} is under 1 second (interval and timeout must be at least 1 second: Kubernetes probes count whole seconds)`
      : `${what} ${d} is negative`, `use e.g. ${what}: Duration.seconds(${Math.max(minSeconds, 2)})`);
  }
  if (d.millis % 1000 !== 0) {
    throw new PyfleetError(where, `${what} ${d} is not a whole number of seconds, and Kubernetes probes take whole seconds`, `round it, e.g. Duration.seconds(${Math.ceil(d.seconds)})`);
  }
  return d;
}

/** How a service reports that it is healthy. */
export class HealthCheck {
  /** An HTTP GET that must answer 2xx/3xx. */
  public static http(path: string, options: HttpHealthCheckOptions = {}): HealthCheck {
    const where = `HealthCheck.http(${JSON.stringify(path)})`;
    checkHealthPath(where, path);
    if (options.port !== undefined && (!Number.isInteger(options.port) || options.port < 1 || options.port > 65535)) {
      throw new PyfleetError(where, `port ${options.port} is out of range`, 'give a whole number from 1 to 65535, or leave port out to use the service\'s HTTP port');
    }
    const interval = checkWholeSeconds(where, 'interval', options.interval ?? Duration.seconds(10), 1);
    const timeout = checkWholeSeconds(where, 'timeout', options.timeout ?? Duration.seconds(2), 1);
    const startPeriod = checkWholeSeconds(where, 'startPeriod', options.startPeriod ?? Duration.seconds(30), 0);
    const failureThreshold = options.failureThreshold ?? 3;
    if (timeout.millis > interval.millis) {
      throw new PyfleetError(where, `the timeout (${timeout}) is longer than the interval (${interval})`, 'make the timeout at most the interval');
    }
    if (!Number.isInteger(failureThreshold) || failureThreshold < 1 || failureThreshold > 100) {
      throw new PyfleetError(where, `failureThreshold ${failureThreshold} is out of range`, 'give a whole number from 1 to 100');
    }
    const cmd = options.composeCommand;
    if (cmd !== undefined && (!Array.isArray(cmd) || cmd.length === 0 || !cmd.every((c) => typeof c === 'string'))) {
      throw new PyfleetError(where, 'composeCommand is not a non-empty list of strings', 'give the command in exec form, e.g. ["/app/healthcheck", "--quiet"]');
    }
    return new HealthCheck(path, options.port, interval, timeout, failureThreshold, startPeriod, cmd);
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
    /** Time between checks, whole seconds (10 s unless {@link HttpHealthCheckOptions.interval} says otherwise). */
    public readonly interval: Duration,
    /** How long one check may take, whole seconds and at most the interval (2 s by default). */
    public readonly timeout: Duration,
    /** Consecutive failures before the container counts as unhealthy, 1 to 100 (3 by default). */
    public readonly failureThreshold: number,
    /** Grace period after start during which failures do not count, whole seconds (30 s by default). */
    public readonly startPeriod: Duration,
    /** The exec-form command compose runs for its healthcheck, or undefined for pyfleet's own shell command. */
    public readonly composeCommand?: string[],
  ) {}

  /** Whether there is a check at all. */
  public get enabled(): boolean { return this.path !== undefined; }
}
