import { Construct } from 'constructs';
import { DataStore } from '../data/base';
import { PyfleetError } from '../core/errors';
import { checkDns1035Label, checkDnsLabel, checkEnvName, checkPort, checkPortName, envPrefix } from '../core/names';
import { ComposeNetworkMode, Stack } from '../core/stack';
import { checkResources, Cpu, Duration, Size } from '../core/units';
import { EnvInput, EnvValue, toEnvValue } from './env';
import { HealthCheck } from './health';
import { ContainerImage } from './image';
import { AutoscaleOptions, AutoscaleSettings, checkAutoscale, DisruptionBudget, ScalingResources, TopologySpread } from './scaling';
import { addCallee } from './calls';
import { checkMounts, ConfigFile, SecretFile } from './config-file';
import type { Volume } from './volume';

/** What compose does when a container exits. Kubernetes Deployments always restart. */
export enum RestartPolicy {
  /** Restart whatever the exit, including after the Docker daemon restarts. */
  ALWAYS = 'always',
  /** Restart unless the operator stopped the container. */
  UNLESS_STOPPED = 'unless-stopped',
  /** Restart only after a non-zero exit. */
  ON_FAILURE = 'on-failure',
}

/** Public exposure of a service. */
export interface ExposeOptions {
  /** Port reachable from outside (load balancer port on Kubernetes, host port on compose). */
  readonly port: number;
}

/** Properties shared by every service version. */
export interface VersionOptions {
  /**
   * Image of this version.
   * @default - the service's image
   */
  readonly image?: ContainerImage;
  /**
   * Number of pods (Kubernetes) or containers (compose) of this version.
   * @default - the service's replicas (or its autoscaling)
   */
  readonly replicas?: number;
  /**
   * Autoscale this version's pods (a HorizontalPodAutoscaler) instead of running a fixed number;
   * exclusive with `replicas`. Compose runs `min` containers.
   * @default - the service's `autoscale` unless `replicas` is given
   */
  readonly autoscale?: AutoscaleOptions;
  /**
   * The PodDisruptionBudget of this version.
   * @default - the service's `disruptionBudget`
   */
  readonly disruptionBudget?: DisruptionBudget;
  /**
   * Extra environment variables of this version, on top of the service's.
   * @default - none
   */
  readonly env?: Record<string, EnvInput>;
}

/** Properties of a MicroService. */
export interface MicroServiceProps {
  /** Where the container image comes from. */
  readonly image: ContainerImage;
  /**
   * The container port that serves HTTP (named `http`).
   * @default 8080
   */
  readonly port?: number;
  /**
   * Further named container ports (e.g. `{ metrics: 9100 }`), TCP.
   * @default - none
   */
  readonly additionalPorts?: Record<string, number>;
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
   * CPU request (what the scheduler reserves).
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
   * @default - the memory limit (no eviction surprises)
   */
  readonly memoryRequest?: Size;
  /**
   * Pods (Kubernetes) or containers (compose) of the default version.
   * @default 2
   */
  readonly replicas?: number;
  /**
   * Autoscale the default version (and versions that give neither `replicas` nor `autoscale`) with a
   * HorizontalPodAutoscaler on CPU utilization (and memory, if asked); exclusive with `replicas`. The
   * Deployment then has no `replicas`, so an apply never resets what the autoscaler chose. Compose
   * cannot autoscale and runs `min` containers (with a synth warning).
   * @default - a fixed number of pods (`replicas`)
   */
  readonly autoscale?: AutoscaleOptions;
  /**
   * The PodDisruptionBudget of each version with two or more replicas (the autoscaler's `min` when
   * autoscaled). Versions with fewer get none.
   * @default DisruptionBudget.maxUnavailable(1)
   */
  readonly disruptionBudget?: DisruptionBudget;
  /**
   * How each version's pods are spread: soft topology spread constraints (`ScheduleAnyway`, max skew 1).
   * @default TopologySpread.nodes()
   */
  readonly topologySpread?: TopologySpread;
  /**
   * HTTP health check, used by probes and the compose healthcheck.
   * @default HealthCheck.http('/healthz')
   */
  readonly healthCheck?: HealthCheck;
  /**
   * What compose does when the container exits (Kubernetes Deployments always restart).
   * @default RestartPolicy.UNLESS_STOPPED
   */
  readonly restartPolicy?: RestartPolicy;
  /**
   * Services and backing services this one calls. A service injects `<OTHER>_URL` (e.g.
   * `USER_SERVICE_URL`) with the address of the callee for the target at hand; a backing service
   * (Postgres, Redis) injects `<NAME>_URL` with its credentials (e.g. `ORDERS_DB_URL`) and the parts
   * (`_HOST`, `_PORT`, `_USER`, `_PASSWORD`, `_DB`). Compose starts this service only once each callee is healthy.
   * @default - none
   */
  readonly calls?: Array<MicroService | DataStore>;
  /**
   * Make the service reachable from outside: a public port mapped to the HTTP port.
   * @default - internal only
   */
  readonly expose?: ExposeOptions;
  /**
   * How long the server takes to finish in-flight requests after SIGTERM.
   * The termination grace period is this plus the pre-stop delay plus 5 seconds.
   * @default Duration.seconds(30)
   */
  readonly gracefulShutdown?: Duration;
  /**
   * Pause before SIGTERM so that endpoints stop routing to a terminating pod (zero-downtime rollouts).
   * Runs `sleep` in the container; set to `Duration.seconds(0)` for images without one.
   * @default Duration.seconds(5)
   */
  readonly preStopDelay?: Duration;
  /**
   * How long the app server keeps an idle keep-alive connection open, when known. Mesh policies are
   * checked against it: a proxy idle timeout that is not below it races the server's close ("503 UC").
   * @default - unknown (GunicornFlaskApp and FastApiApp set it from their gunicorn settings)
   */
  readonly keepAlive?: Duration;
  /**
   * UID (and GID) the container runs as.
   * @default 10001
   */
  readonly runAsUser?: number;
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
   * Name of the first version.
   * @default 'v1'
   */
  readonly defaultVersionName?: string;
  /**
   * Volumes mounted into every container of every version: `Volume.persistent(path, { size })` (a
   * PersistentVolumeClaim per version on Kubernetes, a named volume per version on compose; the
   * version then runs one replica with the `Recreate` strategy, see the README) and
   * `Volume.ephemeral(path)` (scratch space). The root filesystem stays read-only.
   * @default - none (only pyfleet's writable /tmp)
   */
  readonly volumes?: Volume[];
  /**
   * Files mounted read-only into every container: `ConfigFile.fromFile(src, path)` /
   * `ConfigFile.fromString(text, path)` (a ConfigMap named by content hash; a generated file on
   * compose) and `SecretFile.fromFile(src, path)` (a Secret you create; a compose secret).
   * @default - none
   */
  readonly files?: Array<ConfigFile | SecretFile>;
}

/** One version of a service: its own workload, labelled `app=<service>`, `version=<name>`. */
export class ServiceVersion extends Construct {
  /** The service this version belongs to. */
  public readonly service: MicroService;
  /** The version name (the `version` label). */
  public readonly versionName: string;
  /** The image of this version. */
  public readonly image: ContainerImage;
  /** Replicas of this version: the fixed count, or the autoscaler's minimum when autoscaled. */
  public readonly replicas: number;
  /** The autoscaling of this version (defaults applied), or undefined for a fixed replica count. */
  public readonly autoscale?: AutoscaleSettings;
  /** The disruption budget asked for this version, or undefined for the default (`maxUnavailable(1)`). */
  public readonly disruptionBudget?: DisruptionBudget;
  private readonly _env: Record<string, EnvValue> = {};

  constructor(service: MicroService, name: string, options: VersionOptions) {
    super(service, name);
    this.service = service;
    this.versionName = name;
    this.image = options.image ?? service.image;
    if (options.replicas !== undefined && options.autoscale !== undefined) {
      throw new PyfleetError(this.node.path, 'both replicas and autoscale were given for the version', 'give replicas for a fixed number of pods, or autoscale: { min, max } to let an autoscaler choose');
    }
    this.autoscale = options.autoscale !== undefined ? checkAutoscale(this.node.path, options.autoscale, service._scalingResources())
      : options.replicas === undefined ? service.autoscale : undefined;
    this.replicas = this.autoscale?.min ?? options.replicas ?? service.replicas;
    checkReplicas(this.node.path, this.replicas);
    if (options.disruptionBudget !== undefined && !(options.disruptionBudget instanceof DisruptionBudget)) {
      throw new PyfleetError(this.node.path, 'disruptionBudget must be a DisruptionBudget', 'use DisruptionBudget.maxUnavailable(1), DisruptionBudget.minAvailable(n) or DisruptionBudget.none()');
    }
    this.disruptionBudget = options.disruptionBudget ?? service.disruptionBudget;
    for (const [k, v] of Object.entries(options.env ?? {})) {
      checkEnvName(this.node.path, k);
      this._env[k] = toEnvValue(v, this.node.path, k);
    }
  }

  /** The full name of the workload, `<service>-<version>`. */
  public get workloadName(): string {
    return `${this.service.serviceName}-${this.versionName}`;
  }

  /** Environment of this version: the service's, plus injected URLs (by renderers), plus the version's own. */
  public get env(): Readonly<Record<string, EnvValue>> {
    return { ...this.service.env, ...this._env };
  }
}

function checkReplicas(path: string, replicas: number): void {
  if (!Number.isInteger(replicas) || replicas < 0 || replicas > 1000) {
    throw new PyfleetError(path, `replicas ${replicas} is not valid`, 'give a whole number from 0 to 1000');
  }
}

const ISMICROSERVICE = Symbol.for('pyfleet.MicroService');

/**
 * A named HTTP service: one or more versions of a container, a stable address, resources, health,
 * and the services it calls.
 */
export class MicroService extends Construct {
  /**
   * Whether `x` is a MicroService (or a subclass such as GunicornFlaskApp). It checks a brand
   * symbol rather than `instanceof`, so it also holds for a construct made by another copy of pyfleet.
   */
  public static isMicroService(x: unknown): x is MicroService {
    return typeof x === 'object' && x !== null && (x as any)[ISMICROSERVICE] === true;
  }

  /** The stack this service belongs to. */
  public readonly stack: Stack;
  /** The service name (its id): DNS name, compose service name, `app` label. */
  public readonly serviceName: string;
  /** The default image. */
  public readonly image: ContainerImage;
  /** The HTTP container port. */
  public readonly port: number;
  /** Further named ports. */
  public readonly additionalPorts: Readonly<Record<string, number>>;
  /** CPU limit of each container (from {@link MicroServiceProps.cpu}; half a core by default). */
  public readonly cpuLimit: Cpu;
  /** CPU request of each container, at most the limit (the limit by default). */
  public readonly cpuRequest: Cpu;
  /** Memory limit of each container; it is killed above it (from {@link MicroServiceProps.memory}; 256 MiB by default). */
  public readonly memoryLimit: Size;
  /** Memory request (compose `mem_reservation`), at most the limit (the limit by default). */
  public readonly memoryRequest: Size;
  /** Replicas of the default version (the autoscaler's minimum when autoscaled). */
  public readonly replicas: number;
  /** Autoscaling of the default version (defaults applied), or undefined for a fixed replica count. */
  public readonly autoscale?: AutoscaleSettings;
  /** The disruption budget asked for the versions, or undefined for the default (`maxUnavailable(1)`). */
  public readonly disruptionBudget?: DisruptionBudget;
  /** How each version's pods are spread over nodes (and zones); `TopologySpread.nodes()` by default. */
  public readonly topologySpread: TopologySpread;
  /** The health check behind probes and the compose healthcheck (`HealthCheck.http('/healthz')` by default). */
  public readonly healthCheck: HealthCheck;
  /** What compose does when a container exits (`RestartPolicy.UNLESS_STOPPED` by default). */
  public readonly restartPolicy: RestartPolicy;
  /** The public port, or undefined for an internal-only service. */
  public readonly expose?: ExposeOptions;
  /** Time the server has to finish in-flight requests after SIGTERM (30 s by default). */
  public readonly gracefulShutdown: Duration;
  /** Pause before SIGTERM while endpoints stop routing to the container (5 s by default). */
  public readonly preStopDelay: Duration;
  /** UID and GID the container runs as, never 0 (10001 by default). */
  public readonly runAsUser: number;
  /** The app server's idle keep-alive timeout, when known. */
  public readonly keepAlive?: Duration;
  /** Container command (entrypoint override) in exec form, or undefined for the image's. */
  public readonly command?: string[];
  /** Container arguments in exec form, or undefined for the image's. */
  public readonly args?: string[];
  /** The first version. */
  public readonly defaultVersion: ServiceVersion;
  /** Volumes mounted into every container (see {@link MicroServiceProps.volumes}). */
  public readonly volumes: readonly Volume[];
  /** Config files mounted read-only into every container. */
  public readonly configFiles: readonly ConfigFile[];
  /** Secret files mounted read-only into every container. */
  public readonly secretFiles: readonly SecretFile[];
  private readonly _versions: ServiceVersion[] = [];
  private readonly _calls: MicroService[] = [];
  private readonly _storeCalls: DataStore[] = [];
  private readonly _env: Record<string, EnvValue> = {};

  constructor(scope: Construct, id: string, props: MicroServiceProps) {
    const path = scope.node.path ? `${scope.node.path}/${id}` : id;
    const stack = Stack.of(scope);
    if (stack._hasService(id)) {
      throw new PyfleetError(path, `stack "${stack.stackName}" already has a service named "${id}"`, 'give every service of a stack its own name');
    }
    checkDns1035Label(path, 'service name', id, 50);
    if (!props || !(props.image instanceof ContainerImage)) {
      throw new PyfleetError(path, 'no image was given', 'pass image: ContainerImage.fromRegistry("repo:tag") or ContainerImage.fromDirectory(dir), or use GunicornFlaskApp/FastApiApp');
    }
    super(scope, id);
    Object.defineProperty(this, ISMICROSERVICE, { value: true });
    this.stack = stack;
    this.serviceName = id;
    this.image = props.image;

    this.port = props.port ?? 8080;
    checkPort(path, 'port', this.port);
    const extra = { ...(props.additionalPorts ?? {}) };
    const seen = new Map<number, string>([[this.port, 'http']]);
    for (const [name, port] of Object.entries(extra)) {
      checkPortName(path, name);
      checkPort(path, `port "${name}"`, port);
      if (name === 'http') throw new PyfleetError(path, 'additionalPorts names a port "http", which is the service\'s HTTP port', 'set `port` for the HTTP port and give other ports other names');
      if (seen.has(port)) throw new PyfleetError(path, `port ${port} is declared twice ("${seen.get(port)}" and "${name}")`, 'give each named port its own number');
      seen.set(port, name);
    }
    this.additionalPorts = extra;

    this.cpuLimit = props.cpu ?? Cpu.millis(500);
    this.cpuRequest = props.cpuRequest ?? this.cpuLimit;
    this.memoryLimit = props.memory ?? Size.mebibytes(256);
    this.memoryRequest = props.memoryRequest ?? this.memoryLimit;
    checkResources(path, this.cpuLimit, this.cpuRequest, this.memoryLimit, this.memoryRequest);

    if (props.replicas !== undefined && props.autoscale !== undefined) {
      throw new PyfleetError(path, 'both replicas and autoscale were given', 'give replicas for a fixed number of pods, or autoscale: { min, max } to let an autoscaler choose');
    }
    this.autoscale = props.autoscale !== undefined ? checkAutoscale(path, props.autoscale, this._scalingResources()) : undefined;
    this.replicas = this.autoscale?.min ?? props.replicas ?? 2;
    checkReplicas(path, this.replicas);
    if (props.disruptionBudget !== undefined && !(props.disruptionBudget instanceof DisruptionBudget)) {
      throw new PyfleetError(path, 'disruptionBudget must be a DisruptionBudget', 'use DisruptionBudget.maxUnavailable(1), DisruptionBudget.minAvailable(n) or DisruptionBudget.none()');
    }
    this.disruptionBudget = props.disruptionBudget;
    if (props.topologySpread !== undefined && !(props.topologySpread instanceof TopologySpread)) {
      throw new PyfleetError(path, 'topologySpread must be a TopologySpread', 'use TopologySpread.nodes(), TopologySpread.nodesAndZones() or TopologySpread.none()');
    }
    this.topologySpread = props.topologySpread ?? TopologySpread.nodes();
    this.healthCheck = props.healthCheck ?? HealthCheck.http('/healthz');
    if (this.healthCheck.port !== undefined && !seen.has(this.healthCheck.port)) {
      throw new PyfleetError(path, `the health check uses port ${this.healthCheck.port}, which the service does not declare`, `declare it in additionalPorts or drop the port option to use the HTTP port ${this.port}`);
    }
    this.restartPolicy = props.restartPolicy ?? RestartPolicy.UNLESS_STOPPED;
    if (!Object.values(RestartPolicy).includes(this.restartPolicy)) {
      throw new PyfleetError(path, `restart policy "${this.restartPolicy}" cannot be expressed on every target (Kubernetes Deployments always restart)`, 'use RestartPolicy.ALWAYS, UNLESS_STOPPED or ON_FAILURE');
    }
    if (props.expose) checkPort(path, 'expose.port', props.expose.port);
    this.expose = props.expose;
    this.gracefulShutdown = props.gracefulShutdown ?? Duration.seconds(30);
    this.preStopDelay = props.preStopDelay ?? Duration.seconds(5);
    if (this.gracefulShutdown.millis < 1000) {
      throw new PyfleetError(path, 'gracefulShutdown is under one second, so in-flight requests are cut off', 'give at least Duration.seconds(1), e.g. Duration.seconds(30)');
    }
    this.runAsUser = props.runAsUser ?? 10001;
    if (!Number.isInteger(this.runAsUser) || this.runAsUser < 1 || this.runAsUser > 2147483647) {
      throw new PyfleetError(path, `runAsUser ${this.runAsUser} is not a non-root UID`, 'give a UID from 1 upwards, e.g. 10001 (Pod Security "restricted" forbids root)');
    }
    if (props.keepAlive !== undefined && (!(props.keepAlive instanceof Duration) || props.keepAlive.millis < 1000)) {
      throw new PyfleetError(path, 'keepAlive must be a Duration of at least one second', 'use e.g. Duration.seconds(75)');
    }
    this.keepAlive = props.keepAlive;
    this.command = props.command;
    this.args = props.args;
    const mounts = checkMounts(path, props.volumes, props.files, { appDirectory: this._appDirectory(), memoryLimitBytes: this.memoryLimit.bytes });
    this.volumes = [...mounts.volumes];
    this.configFiles = [...mounts.configFiles];
    this.secretFiles = [...mounts.secretFiles];

    for (const [k, v] of Object.entries(props.env ?? {})) this.addEnv(k, v);
    for (const callee of props.calls ?? []) this.addCall(callee);

    stack._registerService(this);
    const versionName = props.defaultVersionName ?? 'v1';
    this.defaultVersion = this.addVersion(versionName, {});
  }

  /** Adds a version: its own workload beside the others, reached through the same service address. */
  public addVersion(name: string, options: VersionOptions = {}): ServiceVersion {
    const path = `${this.node.path}/${name}`;
    checkDnsLabel(path, 'version name', name, 12);
    if (this._versions.some((v) => v.versionName === name)) {
      throw new PyfleetError(path, `service "${this.serviceName}" already has a version "${name}"`, 'give each version its own name, e.g. "v2"');
    }
    const version = new ServiceVersion(this, name, options);
    this._versions.push(version);
    return version;
  }

  /** Looks up a version by name. */
  public version(name: string): ServiceVersion | undefined {
    return this._versions.find((v) => v.versionName === name);
  }

  /** All versions, the default first. */
  public get versions(): readonly ServiceVersion[] {
    return this._versions;
  }

  /** Adds an environment variable for every version. */
  public addEnv(name: string, value: EnvInput): void {
    checkEnvName(this.node.path, name);
    this._env[name] = toEnvValue(value, this.node.path, name);
  }

  /** Environment variables set on the service (without injected URLs). */
  public get env(): Readonly<Record<string, EnvValue>> {
    return this._env;
  }

  /** Declares that this service calls `other` (a service or a backing service): injects `<OTHER>_URL` and orders startup. */
  public addCall(other: MicroService | DataStore): void {
    addCallee(this.node.path, other, this._calls, this._storeCalls);
  }

  /** The services this one calls (without backing services: see {@link MicroService.storeCalls}). */
  public get calls(): readonly MicroService[] {
    return this._calls;
  }

  /** The backing services (Postgres, Redis) this one calls, in declaration order. */
  public get storeCalls(): readonly DataStore[] {
    return this._storeCalls;
  }

  /** Name of the variable that carries this service's URL into its callers: `ORDER_SERVICE_URL`. */
  public get urlVariable(): string {
    return `${envPrefix(this.serviceName)}_URL`;
  }

  /** Termination grace period: pre-stop delay + graceful shutdown + 5 s. */
  public get terminationGracePeriod(): Duration {
    return this.preStopDelay.plus(this.gracefulShutdown).plus(Duration.seconds(5));
  }

  /** @internal the resources utilization targets are checked against. */
  public _scalingResources(): ScalingResources {
    return { cpuLimitMillis: this.cpuLimit.millis, cpuRequestMillis: this.cpuRequest.millis, memoryLimitBytes: this.memoryLimit.bytes, memoryRequestBytes: this.memoryRequest.bytes };
  }

  /** The port the health check requests. */
  public get healthPort(): number {
    return this.healthCheck.port ?? this.port;
  }

  /**
   * Environment that makes this service's server listen on 127.0.0.1 only. Compose in host network
   * mode sets it for services that are not exposed: their callers reach them at 127.0.0.1, and a port
   * bound on every interface of a VPS would be open to the internet. Undefined when pyfleet does not
   * control the server's bind address (an image of the user's own).
   * @internal
   */
  public _loopbackListenEnv(): Record<string, string> | undefined {
    return undefined;
  }

  /**
   * The directory a generated image keeps the code in (volumes may not cover it), or undefined for an
   * image of the user's own.
   * @internal
   */
  public _appDirectory(): string | undefined {
    return undefined;
  }

  /**
   * Environment that makes this service's server listen on `port` (and its metrics on `metricsPort`)
   * instead of the configured ports: compose host mode runs each release of a version on a loopback
   * port of its own. Undefined when pyfleet does not control the server's ports (an image of the user's own).
   * @internal
   */
  public _listenPortEnv(_ports: { port: number; metricsPort?: number }): Record<string, string> | undefined {
    return undefined;
  }

  /**
   * The container port pyfleet's generated metrics endpoint listens on, or undefined. It is one of
   * `additionalPorts` (named `metrics`) that callers and the public never reach.
   * @internal
   */
  public _metricsPort(): number | undefined {
    return undefined;
  }

  /**
   * Environment that makes the generated metrics server listen on 127.0.0.1 (compose host network mode).
   * @internal
   */
  public _loopbackMetricsEnv(): Record<string, string> | undefined {
    return undefined;
  }

  /** @internal */
  public _synthWarnings(): string[] {
    if (this.stack.composeNetworkMode !== ComposeNetworkMode.HOST || this.expose || this._loopbackListenEnv()) return [];
    return [`in compose host network mode "${this.serviceName}" shares the host's network, and pyfleet cannot set the listen address of an image of your own: ` +
      `unless its server binds 127.0.0.1:${this.port}, port ${this.port} is open on every interface of the host. Make the server bind 127.0.0.1, or use ComposeNetworkMode.BRIDGE`];
  }
}
