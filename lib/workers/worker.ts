import { Construct } from 'constructs';
import { PyfleetError } from '../core/errors';
import { checkDns1035Label, checkEnvName } from '../core/names';
import { Stack } from '../core/stack';
import { checkResources, Cpu, Duration, Size } from '../core/units';
import { addCallee } from '../service/calls';
import { EnvInput, EnvValue, toEnvValue } from '../service/env';
import { HealthCheck } from '../service/health';
import { ContainerImage } from '../service/image';
import { DataStore } from '../data/base';
import { MicroService, RestartPolicy } from '../service/microservice';
import { recordWorker } from './registry';

/** Options of a worker's command health check. */
export interface WorkerHealthCheckOptions {
  /**
   * Time between checks.
   * @default Duration.seconds(30)
   */
  readonly interval?: Duration;
  /**
   * How long one check may take before it counts as failed.
   * @default Duration.seconds(10)
   */
  readonly timeout?: Duration;
  /**
   * Consecutive failures before the container counts as unhealthy (and is restarted on Kubernetes).
   * @default 3
   */
  readonly failureThreshold?: number;
  /**
   * Grace period after start during which failures do not count.
   * @default Duration.seconds(30)
   */
  readonly startPeriod?: Duration;
}

/**
 * The health check of a worker: a command run inside the container (a worker serves no HTTP), the
 * liveness probe on Kubernetes and the compose healthcheck.
 */
export class WorkerHealthCheck {
  /** A command in exec form that exits 0 while the worker is healthy. */
  public static command(command: string[], options: WorkerHealthCheckOptions = {}): WorkerHealthCheck {
    const where = 'WorkerHealthCheck.command';
    if (!Array.isArray(command) || command.length === 0 || !command.every((c) => typeof c === 'string' && c.length > 0)) {
      throw new PyfleetError(where, 'the command is not a non-empty list of strings', 'give it in exec form, e.g. ["sh", "-c", "test -f /tmp/heartbeat"]');
    }
    const interval = wholeSeconds(where, 'interval', options.interval ?? Duration.seconds(30), 1);
    const timeout = wholeSeconds(where, 'timeout', options.timeout ?? Duration.seconds(10), 1);
    const startPeriod = wholeSeconds(where, 'startPeriod', options.startPeriod ?? Duration.seconds(30), 0);
    if (timeout.millis > interval.millis) {
      throw new PyfleetError(where, `the timeout (${timeout}) is longer than the interval (${interval})`, 'make the timeout at most the interval');
    }
    const failureThreshold = options.failureThreshold ?? 3;
    if (!Number.isInteger(failureThreshold) || failureThreshold < 1 || failureThreshold > 100) {
      throw new PyfleetError(where, `failureThreshold ${failureThreshold} is out of range`, 'give a whole number from 1 to 100');
    }
    return new WorkerHealthCheck([...command], interval, timeout, failureThreshold, startPeriod);
  }

  /** No health check: no probe, no compose healthcheck. */
  public static none(): WorkerHealthCheck {
    return new WorkerHealthCheck(undefined, Duration.seconds(30), Duration.seconds(10), 3, Duration.seconds(30));
  }

  private constructor(
    /** The command (exec form), or undefined for none. */
    public readonly command: readonly string[] | undefined,
    /** Time between checks. */
    public readonly interval: Duration,
    /** How long one check may take. */
    public readonly timeout: Duration,
    /** Consecutive failures before unhealthy. */
    public readonly failureThreshold: number,
    /** Grace period after start. */
    public readonly startPeriod: Duration,
  ) {}

  /** Whether there is a check. */
  public get enabled(): boolean { return this.command !== undefined; }
}

function wholeSeconds(where: string, what: string, d: Duration, min: number): Duration {
  if (!(d instanceof Duration) || d.millis < min * 1000 || d.millis % 1000 !== 0) {
    throw new PyfleetError(where, `${what} must be a whole number of seconds, at least ${min}`, `use e.g. Duration.seconds(${Math.max(min, 10)})`);
  }
  return d;
}

/** Properties of a Worker. */
export interface WorkerProps {
  /** Where the container image comes from. */
  readonly image: ContainerImage;
  /**
   * Container command (entrypoint override), exec form.
   * @default - the image's
   */
  readonly command?: string[];
  /**
   * Container arguments, exec form.
   * @default - the image's
   */
  readonly args?: string[];
  /**
   * Environment variables: a string is a literal, `EnvValue.fromSecret` reads a secret.
   * @default - none
   */
  readonly env?: Record<string, EnvInput>;
  /**
   * CPU limit.
   * @default Cpu.millis(500)
   */
  readonly cpu?: Cpu;
  /**
   * CPU request.
   * @default - the CPU limit
   */
  readonly cpuRequest?: Cpu;
  /**
   * Memory limit; the container is killed above it.
   * @default Size.mebibytes(256)
   */
  readonly memory?: Size;
  /**
   * Memory request.
   * @default - the memory limit
   */
  readonly memoryRequest?: Size;
  /**
   * Pods (Kubernetes) or containers (compose) of the worker, 0 to 1000.
   * @default 1
   */
  readonly replicas?: number;
  /**
   * Services and backing services (Postgres, Redis) the worker calls: each injects the same variables
   * as on a service (`<OTHER>_URL`, a store's connection variables), and the worker may open
   * connections to it (NetworkPolicies, compose networks). Nobody calls a worker.
   * @default - none
   */
  readonly calls?: Array<MicroService | DataStore>;
  /**
   * The health check: a command run in the container (workers serve no HTTP, so `HealthCheck.http` is refused).
   * @default WorkerHealthCheck.none() (CeleryWorker: `celery inspect ping` against its own node)
   */
  readonly healthCheck?: WorkerHealthCheck;
  /**
   * Time the worker gets after SIGTERM to finish what it is doing before it is killed. The Kubernetes
   * termination grace period and compose's stop grace period are this plus 5 seconds.
   * @default Duration.seconds(30) (CeleryWorker: its taskTimeLimit plus 10 seconds)
   */
  readonly gracefulShutdown?: Duration;
  /**
   * UID (and GID) the container runs as.
   * @default 10001
   */
  readonly runAsUser?: number;
  /**
   * What compose does when the container exits (Kubernetes Deployments always restart).
   * @default RestartPolicy.UNLESS_STOPPED
   */
  readonly restartPolicy?: RestartPolicy;
}

const ISWORKER = Symbol.for('pyfleet.Worker');

/**
 * A background process with no HTTP port (a queue consumer, a Celery worker): a Deployment on
 * Kubernetes and a compose service, with limits, a command health check and a graceful shutdown.
 * It may call services; nobody calls it.
 */
export class Worker extends Construct {
  /** Whether `x` is a Worker (or a CeleryWorker), by brand rather than `instanceof`. */
  public static isWorker(x: unknown): x is Worker {
    return typeof x === 'object' && x !== null && (x as any)[ISWORKER] === true;
  }

  /** The stack. */
  public readonly stack: Stack;
  /** The worker's name (its id): Deployment and compose service name, `app` label. */
  public readonly workerName: string;
  /** The image. */
  public readonly image: ContainerImage;
  /** Container command in exec form, or undefined for the image's. */
  public readonly command?: readonly string[];
  /** Container arguments in exec form, or undefined for the image's. */
  public readonly args?: readonly string[];
  /** CPU limit. */
  public readonly cpuLimit: Cpu;
  /** CPU request. */
  public readonly cpuRequest: Cpu;
  /** Memory limit. */
  public readonly memoryLimit: Size;
  /** Memory request. */
  public readonly memoryRequest: Size;
  /** Replicas. */
  public readonly replicas: number;
  /** The health check. */
  public readonly healthCheck: WorkerHealthCheck;
  /** Time the worker gets after SIGTERM. */
  public readonly gracefulShutdown: Duration;
  /** UID and GID. */
  public readonly runAsUser: number;
  /** Compose restart policy. */
  public readonly restartPolicy: RestartPolicy;
  private readonly _env: Record<string, EnvValue> = {};
  private readonly _calls: MicroService[] = [];
  private readonly _storeCalls: DataStore[] = [];

  constructor(scope: Construct, id: string, props: WorkerProps) {
    const path = scope.node.path ? `${scope.node.path}/${id}` : id;
    const stack = Stack.of(scope);
    checkDns1035Label(path, 'worker name', id, 50);
    const loose = (props ?? {}) as unknown as Record<string, unknown>;
    for (const key of ['port', 'additionalPorts', 'expose']) {
      if (loose[key] !== undefined) {
        throw new PyfleetError(path, `a worker serves no HTTP, so it has no \`${key}\``, 'drop it; for something that answers requests use MicroService (or GunicornFlaskApp/FastApiApp)');
      }
    }
    if (loose.healthCheck instanceof HealthCheck) {
      throw new PyfleetError(path, 'a worker serves no HTTP, so an HTTP health check (HealthCheck.http) could never pass', 'use WorkerHealthCheck.command([...]) (e.g. a heartbeat file check), or WorkerHealthCheck.none()');
    }
    if (!(props?.image instanceof ContainerImage)) {
      throw new PyfleetError(path, 'no image was given', 'pass image: ContainerImage.fromRegistry("repo:tag"), or use CeleryWorker to have one generated');
    }
    super(scope, id);
    Object.defineProperty(this, ISWORKER, { value: true });
    this.stack = stack;
    this.workerName = id;
    this.image = props.image;
    this.command = props.command ? checkExec(path, 'command', props.command) : undefined;
    this.args = props.args ? checkExec(path, 'args', props.args) : undefined;
    this.cpuLimit = props.cpu ?? Cpu.millis(500);
    this.cpuRequest = props.cpuRequest ?? this.cpuLimit;
    this.memoryLimit = props.memory ?? Size.mebibytes(256);
    this.memoryRequest = props.memoryRequest ?? this.memoryLimit;
    checkResources(path, this.cpuLimit, this.cpuRequest, this.memoryLimit, this.memoryRequest);
    this.replicas = props.replicas ?? 1;
    if (!Number.isInteger(this.replicas) || this.replicas < 0 || this.replicas > 1000) {
      throw new PyfleetError(path, `replicas ${this.replicas} is not valid`, 'give a whole number from 0 to 1000');
    }
    if (props.healthCheck !== undefined && !(props.healthCheck instanceof WorkerHealthCheck)) {
      throw new PyfleetError(path, 'healthCheck must be a WorkerHealthCheck', 'use WorkerHealthCheck.command([...]) or WorkerHealthCheck.none()');
    }
    this.healthCheck = props.healthCheck ?? WorkerHealthCheck.none();
    this.gracefulShutdown = props.gracefulShutdown ?? Duration.seconds(30);
    if (!(this.gracefulShutdown instanceof Duration) || this.gracefulShutdown.millis < 1000) {
      throw new PyfleetError(path, 'gracefulShutdown must be a Duration of at least one second', 'give e.g. Duration.seconds(30)');
    }
    this.runAsUser = props.runAsUser ?? 10001;
    if (!Number.isInteger(this.runAsUser) || this.runAsUser < 1 || this.runAsUser > 2147483647) {
      throw new PyfleetError(path, `runAsUser ${this.runAsUser} is not a non-root UID`, 'give a UID from 1 upwards, e.g. 10001 (Pod Security "restricted" forbids root)');
    }
    this.restartPolicy = props.restartPolicy ?? RestartPolicy.UNLESS_STOPPED;
    if (!Object.values(RestartPolicy).includes(this.restartPolicy)) {
      throw new PyfleetError(path, `restart policy "${this.restartPolicy}" is unknown`, 'use RestartPolicy.ALWAYS, UNLESS_STOPPED or ON_FAILURE');
    }
    for (const [k, v] of Object.entries(props.env ?? {})) this.addEnv(k, v);
    for (const c of props.calls ?? []) this.addCall(c);
    recordWorker(stack, this);
  }

  /** Adds an environment variable. */
  public addEnv(name: string, value: EnvInput): void {
    checkEnvName(this.node.path, name);
    this._env[name] = toEnvValue(value, this.node.path, name);
  }

  /** The user's environment (without injected URLs). */
  public get env(): Readonly<Record<string, EnvValue>> {
    return this._env;
  }

  /** Declares that the worker calls `other`, a service or a backing service (injects its variables, allows the connection). */
  public addCall(other: MicroService | DataStore): void {
    addCallee(this.node.path, other, this._calls, this._storeCalls);
  }

  /** The services this worker calls (backing services: {@link Worker.storeCalls}). */
  public get calls(): readonly MicroService[] {
    return this._calls;
  }

  /** The backing services this worker calls. */
  public get storeCalls(): readonly DataStore[] {
    return this._storeCalls;
  }

  /** Termination grace period: graceful shutdown + 5 s. */
  public get terminationGracePeriod(): Duration {
    return this.gracefulShutdown.plus(Duration.seconds(5));
  }

  /** @internal cross-object problems of this worker (checked at synth). */
  public _problems(): PyfleetError[] {
    return [];
  }
}

function checkExec(where: string, what: string, cmd: readonly string[]): readonly string[] {
  if (!Array.isArray(cmd) || cmd.length === 0 || !cmd.every((c) => typeof c === 'string')) {
    throw new PyfleetError(where, `${what} is not a non-empty list of strings`, `give ${what} in exec form, e.g. ["python", "-m", "worker"]`);
  }
  return Object.freeze([...cmd]);
}
