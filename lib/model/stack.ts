import type { ComposeLogging, ComposeNetworkMode, Stack } from '../core/stack';
import type { DataStore } from '../data/base';
import type { Mesh } from '../mesh/mesh';
import type { MonitoringModel } from '../monitoring/monitoring';
import type { ImageAsset } from '../service/asset';
import type { EnvValue } from '../service/env';
import type { MicroService, ServiceVersion } from '../service/microservice';
import type { MigrationModel, ScheduleModel, WorkerModel } from './jobs';
import type { MountsModel } from './volumes';

// The resolved model: one immutable value per stack, made by `App.synthesize()` before any target
// renders. Targets read it and never the construct tree's mutable state; `construct` references are
// kept for the construct path of messages and for the mesh policies, which targets read through
// lib/mesh/model.

/**
 * One environment variable as a target sets it: a literal, or a key of a secret. Either form has
 * `name` (the variable's name); a literal has `value` (its string), a secret reference has `secret`
 * (`name` of the Secret and `key` inside it) instead.
 */
export type EnvEntry =
  | { readonly name: string; readonly value: string; readonly secret?: undefined }
  | { readonly name: string; readonly value?: undefined; readonly secret: { readonly name: string; readonly key: string } };

/** The image a version runs. */
export interface ImageModel {
  /** `registry` (pulled) or `build` (staged and built). */
  readonly kind: 'registry' | 'build';
  /** The reference every target runs: the pinned registry reference or `<registry>/<service>:<content hash>`. */
  readonly reference: string;
  /** The staged build context (built images only). */
  readonly asset?: ImageAsset;
  /** Dockerfile path relative to the context (built images only). */
  readonly dockerfile?: string;
  /** Build arguments (built images only). */
  readonly buildArgs: Readonly<Record<string, string>>;
}

/** A named extra container port. */
export interface PortModel {
  /** Port name (a Kubernetes port name, e.g. `metrics`). */
  readonly name: string;
  /** Container port number, 1 to 65535. */
  readonly port: number;
}

/** The health check of a service, resolved (durations in milliseconds). */
export interface HealthModel {
  /** False for `HealthCheck.none()`: no probes, no compose healthcheck. */
  readonly enabled: boolean;
  /** Request path (HTTP checks). */
  readonly path?: string;
  /** Container port the check requests. */
  readonly port: number;
  /** Time between checks, in milliseconds (whole seconds). */
  readonly intervalMs: number;
  /** How long one check may take, in milliseconds (whole seconds, at most the interval). */
  readonly timeoutMs: number;
  /** Grace period after start during which failures do not count, in milliseconds (whole seconds). */
  readonly startPeriodMs: number;
  /** Consecutive failures before the container counts as unhealthy. */
  readonly failureThreshold: number;
}

/** CPU in millicores and memory in MiB, as every target and the Pulumi components read them. */
export interface ResourcesModel {
  /** CPU limit, in millicores (500 for half a core). */
  readonly cpuLimitMillis: number;
  /** CPU request, in millicores; at most the limit. */
  readonly cpuRequestMillis: number;
  /** Memory limit, in MiB (fractional when the size is not a whole number of MiB). */
  readonly memoryLimitMiB: number;
  /** Memory request (compose `mem_reservation`), in MiB; at most the limit. */
  readonly memoryRequestMiB: number;
}

/** A version's horizontal autoscaling, resolved (a HorizontalPodAutoscaler on Kubernetes). */
export interface AutoscaleModel {
  /** Fewest pods (also what compose runs). */
  readonly min: number;
  /** Most pods. */
  readonly max: number;
  /** Target average CPU utilization, in percent of the CPU request. */
  readonly cpuUtilization: number;
  /** Target average memory utilization, in percent of the memory request, when scaling on memory. */
  readonly memoryUtilization?: number;
  /** Scale-down stabilization window, in whole seconds. */
  readonly scaleDownStabilizationSeconds: number;
}

/** A version's PodDisruptionBudget, resolved; exactly one of the two fields is set. */
export interface DisruptionBudgetModel {
  /** Pods that may be unavailable at once. */
  readonly maxUnavailable?: number;
  /** Pods that must stay available. */
  readonly minAvailable?: number;
}

/** How a Deployment replaces its pods (a rolling update), resolved. */
export interface RolloutModel {
  /** Pods above the replica count a rollout may start. */
  readonly maxSurge: number;
  /** Pods below the replica count a rollout may take down. */
  readonly maxUnavailable: number;
}

/** The settings of a service's workloads, resolved: what every version runs with. */
export interface WorkloadModel {
  /** Container port of the HTTP server. */
  readonly port: number;
  /** Port of the Kubernetes Service (the public port when exposed, else the container port). */
  readonly servicePort: number;
  /** Public port (load balancer on Kubernetes, host port on compose); undefined when not exposed. */
  readonly exposedPort?: number;
  /** Further named container ports, sorted by name. */
  readonly additionalPorts: readonly PortModel[];
  /** The container port of pyfleet's generated metrics endpoint (one of `additionalPorts`, named `metrics`), if any. */
  readonly metricsPort?: number;
  /** Container command (entrypoint) override. */
  readonly command?: readonly string[];
  /** Container arguments override. */
  readonly args?: readonly string[];
  /** Non-root user and group id the container runs as. */
  readonly runAsUser: number;
  /** CPU and memory limits and requests of each container. */
  readonly resources: ResourcesModel;
  /** The health check behind probes and the compose healthcheck. */
  readonly health: HealthModel;
  /** Time the server gets to finish in-flight requests after SIGTERM. */
  readonly gracefulShutdownMs: number;
  /** Pause before SIGTERM so that load balancers stop sending first. */
  readonly preStopDelayMs: number;
  /** Pre-stop delay + graceful shutdown + 5 s: how long the engine waits before it kills. */
  readonly terminationGracePeriodMs: number;
  /** The rolling update of every version's Deployment. */
  readonly rollout: RolloutModel;
  /**
   * Node label keys each version's pods are spread across (soft constraints, max skew 1), in order:
   * `kubernetes.io/hostname`, then a zone key when asked; empty for none.
   */
  readonly topologyKeys: readonly string[];
}

/** A JSON patch recorded through an escape hatch (a cdk8s `JsonPatch`, opaque to the model). */
export type RecordedPatch = object;

/** Escape-hatch changes recorded for one generated object, applied by its target at render time. */
export interface Hatches {
  /** Kubernetes JSON patches by object role (`deployment`, `hpa`, `pdb`, `service`, `serviceAccount`). */
  readonly kubernetes: Readonly<Record<string, readonly RecordedPatch[]>>;
  /**
   * Compose overrides in the order they were recorded: `path` is the dotted key path in the compose
   * service, `value` the value set there, and `remove` true when the key is deleted instead.
   */
  readonly compose: ReadonlyArray<{ readonly path: string; readonly value: unknown; readonly remove: boolean }>;
}

/** One version of a service, resolved. */
export interface VersionModel {
  /** The construct (for messages). */
  readonly construct: ServiceVersion;
  /** Construct path. */
  readonly path: string;
  /** Version name (`version` label). */
  readonly name: string;
  /** `<service>-<version>`. */
  readonly workloadName: string;
  /**
   * Pods (Kubernetes) or containers (compose) of this version, 0 to 1000; the autoscaler's minimum
   * when autoscaled (compose runs that many).
   */
  readonly replicas: number;
  /** Horizontal autoscaling, or undefined for a fixed replica count. */
  readonly autoscale?: AutoscaleModel;
  /**
   * The PodDisruptionBudget, or undefined when none is written (fewer than two replicas, or
   * `DisruptionBudget.none()`).
   */
  readonly disruptionBudget?: DisruptionBudgetModel;
  /** The image this version runs. */
  readonly image: ImageModel;
  /** Labels of the version's workload and pods (stack labels, `app`, `version`, `app.kubernetes.io/*`). */
  readonly labels: Readonly<Record<string, string>>;
  /** Labels that select this version's pods: `app` and `version`. */
  readonly selector: Readonly<Record<string, string>>;
  /** The user's environment of this version (service env, then the version's own), sorted by name. */
  readonly env: Readonly<Record<string, EnvValue>>;
  /** Escape hatches of this version's workload. */
  readonly hatches: Hatches;
}

/** The address of a service on each target. */
export interface ServiceAddresses {
  /** In-cluster URL, `http://<svc>.<namespace>.svc.cluster.local:<port>`. */
  readonly kubernetes: string;
  /** URL inside the compose project (`http://<svc>:<port>`, or loopback in host network mode). */
  readonly compose: string;
}

/** One service, resolved. */
export interface ServiceModel {
  /** The construct (settings, messages, mesh lookups). */
  readonly construct: MicroService;
  /** Construct path, e.g. `shop/order-service`. */
  readonly path: string;
  /** Service name: DNS name, compose service name and `app` label. */
  readonly name: string;
  /** Versions, the default first. */
  readonly versions: readonly VersionModel[];
  /** Names of the services this one calls, in declaration order (services only; see `stores`). */
  readonly calls: readonly string[];
  /**
   * Names of the backing services (Postgres, Redis: `StackModel.dataStores`) this one calls, in
   * declaration order. Each injects the store's connection variables (`DataStoreModel.connection`)
   * and makes compose start this service only once the store is healthy.
   */
  readonly stores: readonly string[];
  /** Where callers reach it. */
  readonly addresses: ServiceAddresses;
  /** Settings every version's workload runs with. */
  readonly settings: WorkloadModel;
  /** Labels of the service-wide objects (Service, ServiceAccount). */
  readonly labels: Readonly<Record<string, string>>;
  /** Labels that select every pod of the service, whatever the version: `app`. */
  readonly selector: Readonly<Record<string, string>>;
  /** `<NAME>_URL`. */
  readonly urlVariable: string;
  /** Escape hatches of the service-wide objects (Service, ServiceAccount). */
  readonly hatches: Hatches;
  /** Volumes, config files and secret files mounted into every container, sorted by mount path. */
  readonly mounts: MountsModel;
}

/** One stack, resolved. */
export interface StackModel {
  /** The construct (messages, and user cdk8s objects inside it). */
  readonly construct: Stack;
  /** Construct path of the stack. */
  readonly path: string;
  /** Stack name (its id): the chart name and compose project name. */
  readonly name: string;
  /** Kubernetes namespace of every object of the stack. */
  readonly namespace: string;
  /** Registry prefix built images are named under (`<registry>/<service>:<content hash>`). */
  readonly imageRegistry: string;
  /** The user's labels for every Kubernetes object of the stack (without pyfleet's own). */
  readonly labels: Readonly<Record<string, string>>;
  /**
   * Compose settings: `enabled` is false when the stack writes no compose project, `networkMode` says
   * how its containers reach each other, `placement` holds the swarm placement constraints of an
   * overlay stack (empty for none).
   */
  readonly compose: {
    /** Whether the stack writes a compose project. */
    readonly enabled: boolean;
    /** How its containers reach each other. */
    readonly networkMode: ComposeNetworkMode;
    /** Swarm placement constraints of every service of an overlay stack (`deploy.placement.constraints`). */
    readonly placement: readonly string[];
    /** Log rotation of every compose service. */
    readonly logging: ComposeLogging;
  };
  /** The stack's service mesh, or undefined without one. */
  readonly mesh?: Mesh;
  /** Whether targets restrict traffic to the call graph (NetworkPolicies, compose networks per call). */
  readonly networkPolicy: {
    /** True: targets allow only the call graph, exposure and DNS. */
    readonly enabled: boolean;
  };
  /** The stack's monitoring (`Monitoring.prometheus()`), or undefined without it. */
  readonly monitoring?: MonitoringModel;
  /** Every service of the stack, in the order they were added. */
  readonly services: readonly ServiceModel[];
  /** Every worker of the stack (no port; it calls, nobody calls it), in the order they were added. */
  readonly workers: readonly WorkerModel[];
  /** Every migration run: one per version (release) of the migrated service, in definition order. */
  readonly migrations: readonly MigrationModel[];
  /** Every schedule (cron job) of the stack, in definition order. */
  readonly schedules: readonly ScheduleModel[];
  /** Looks a service up by name. */
  service(name: string): ServiceModel;
  /** Every backing service (Postgres, Redis) of the stack, in the order they were added. */
  readonly dataStores: readonly DataStoreModel[];
  /** Looks a backing service up by name. */
  dataStore(name: string): DataStoreModel;
}

/**
 * One environment variable a backing service injects into each caller: a literal (`value`), the
 * password (`password: true`, from the store's Secret on Kubernetes and the deploying shell's variable
 * on compose), or a URL with the password inside (`url`: the text before and after the password).
 * Exactly one of the three is set. A URL depends on the password variable, which comes before it.
 */
export interface ConnectionVariable {
  /** Variable name, e.g. `ORDERS_DB_HOST`. */
  readonly name: string;
  /** The literal value. */
  readonly value?: string;
  /** True for the password itself. */
  readonly password?: true;
  /** A value built around the password: `before` + password + `after`. */
  readonly url?: {
    /** The text before the password (`postgresql://orders_db:`). */
    readonly before: string;
    /** The text after the password (`@orders-db:5432/orders_db`). */
    readonly after: string;
  };
}

/** The health check of a backing service: the engine's own tool, run in its container. */
export interface DataStoreHealthModel {
  /** The check in exec form (Kubernetes exec probe; compose `CMD`), exit code 0 when healthy. */
  readonly command: readonly string[];
  /** Time between checks, in milliseconds (whole seconds). */
  readonly intervalMs: number;
  /** How long one check may take, in milliseconds (whole seconds). */
  readonly timeoutMs: number;
  /** Grace period after start (initdb, AOF replay) during which failures do not count, in milliseconds. */
  readonly startPeriodMs: number;
  /** Consecutive failures before the container counts as unhealthy. */
  readonly failureThreshold: number;
}

/** An environment variable of a backing service's own container: a literal, or the password. */
export interface DataStoreEnv {
  /** Variable name, e.g. `POSTGRES_USER`. */
  readonly name: string;
  /** The literal value (absent for the password). */
  readonly value?: string;
  /** True when the variable carries the password from the store's Secret. */
  readonly password?: true;
}

/** Where callers reach a backing service on one target. */
export interface DataStoreAddress {
  /** Host name (or 127.0.0.1 in compose host network mode). */
  readonly host: string;
  /** TCP port. */
  readonly port: number;
}

/** One backing service (Postgres, Redis), resolved. */
export interface DataStoreModel {
  /** The construct (messages). */
  readonly construct: DataStore;
  /** Escape hatches recorded on the construct (`Kubernetes.of(...)`, `Compose.of(...)`). */
  readonly hatches: Hatches;
  /** `postgres` or `redis`. */
  readonly kind: 'postgres' | 'redis';
  /** Construct path, e.g. `shop/orders-db`. */
  readonly path: string;
  /** Name: DNS name, compose service name, `app` label, StatefulSet and Service name. */
  readonly name: string;
  /** The pinned official image, e.g. `postgres:17.2-bookworm`. */
  readonly image: string;
  /** TCP port the engine listens on (named `postgres` or `redis`). */
  readonly port: number;
  /** Name of the port (`postgres`, `redis`). */
  readonly portName: string;
  /** Size of the data volume in bytes; undefined for a store without one (Redis as a cache). */
  readonly storageBytes?: number;
  /** Where the data volume is mounted in the container. */
  readonly dataPath: string;
  /** Further writable directories of the read-only container (emptyDir / tmpfs), e.g. `/var/run/postgresql`, `/tmp`. */
  readonly scratchPaths: readonly string[];
  /** The image's own non-root user and group id (999 for both official images). */
  readonly runAsUser: number;
  /** Database user (Postgres), or undefined (Redis uses its default user). */
  readonly user?: string;
  /** Database name (Postgres) or number (Redis: `0`). */
  readonly database: string;
  /**
   * The password's Secret: `name` (Kubernetes Secret), `key` inside it (`password`), and
   * `shellVariable`, the deploying shell's variable compose reads it from (`ORDERS_DB_CREDENTIALS_PASSWORD`).
   */
  readonly secret: {
    /** Name of the Kubernetes Secret. */
    readonly name: string;
    /** Key of the password inside it. */
    readonly key: string;
    /** The deploying shell's variable compose reads the password from. */
    readonly shellVariable: string;
  };
  /** CPU and memory of the container. */
  readonly resources: ResourcesModel;
  /** The engine's health check. */
  readonly health: DataStoreHealthModel;
  /** Environment of the store's own container, in order. */
  readonly env: readonly DataStoreEnv[];
  /**
   * The container arguments (the image's command): the engine and its settings. `$(<VAR>)` (Kubernetes'
   * dependent-variable syntax) names a variable of `env`; compose renders it as the shell variable.
   */
  readonly args: readonly string[];
  /** The signal that makes the engine shut down quickly and cleanly (compose `stop_signal`): SIGINT for Postgres (fast shutdown), SIGTERM for Redis. */
  readonly stopSignal: string;
  /** A pre-stop command that does the same on Kubernetes, which always sends SIGTERM (Postgres: `pg_ctl stop -m fast`), if needed. */
  readonly preStop?: readonly string[];
  /** How long the engine has to shut down before it is killed, in milliseconds. */
  readonly terminationGracePeriodMs: number;
  /** Arguments added in compose host network mode so that the engine listens on loopback only. */
  readonly loopbackArgs: readonly string[];
  /** Engine settings as given (Postgres `-c` parameters, Redis config directives), sorted by name. */
  readonly settings: Readonly<Record<string, string>>;
  /** Redis only: `cache` (maxmemory + eviction, no persistence) or `store` (append-only file). */
  readonly redisMode?: 'cache' | 'store';
  /** Redis only: maxmemory in bytes, if set. */
  readonly maxMemoryBytes?: number;
  /** Redis only: the eviction policy. */
  readonly maxMemoryPolicy?: string;
  /** Where callers reach it on each target. */
  readonly addresses: {
    /** In the cluster: `<name>.<namespace>.svc.cluster.local` and the port. */
    readonly kubernetes: DataStoreAddress;
    /** In the compose project: the store's name, or 127.0.0.1 in host network mode, and the port. */
    readonly compose: DataStoreAddress;
  };
  /** Prefix of the variables injected into callers (`ORDERS_DB`). */
  readonly envPrefix: string;
  /** `<NAME>_URL`, the connection URL injected into callers. */
  readonly urlVariable: string;
  /** The variables a caller gets on each target, in definition order (the URL after the password). */
  readonly connection: {
    /** On Kubernetes (the cluster address; the password through a secretKeyRef). */
    readonly kubernetes: readonly ConnectionVariable[];
    /** On compose (the project address; the password from the deploying shell). */
    readonly compose: readonly ConnectionVariable[];
  };
  /** Labels of its objects and pods (stack labels, `app`, `app.kubernetes.io/*` with component `database` or `cache`). */
  readonly labels: Readonly<Record<string, string>>;
  /** Labels that select its pods: `app`. */
  readonly selector: Readonly<Record<string, string>>;
  /** Names of the services of the stack that call it, in the stack's order. */
  readonly callers: readonly string[];
  /**
   * Compose with `compose.passwordFile`: the compose secret that carries the password, and the store's
   * compose variant that reads it (environment, arguments, health command); `connection.compose` then
   * holds `<NAME>_PASSWORD_FILE` and `<NAME>_URL_TEMPLATE` instead of the password and the URL.
   */
  readonly composePasswordFile?: DataStorePasswordFileModel;
}

/** The compose secret of a backing service's password (`compose.passwordFile`). */
export interface DataStorePasswordFileModel {
  /** Path of the file on the deploying machine (compose `secrets.<name>.file`). */
  readonly source: string;
  /** Key of the compose secret: `<store>-password`. */
  readonly secretName: string;
  /** Where the store and its callers see it: `/run/secrets/<store>-password`. */
  readonly mountPath: string;
  /** The store's environment in this variant (no password variable). */
  readonly env: readonly DataStoreEnv[];
  /** The store's arguments in this variant. */
  readonly args: readonly string[];
  /** The store's health command in this variant. */
  readonly healthCommand: readonly string[];
}
