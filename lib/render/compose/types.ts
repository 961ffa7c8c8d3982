// The part of the Compose Specification that pyfleet writes, as types (the compose target's result).

/** A `depends_on` entry (long syntax). */
export interface ComposeDependency {
  /** When the dependent may start: once the dependency has started, is healthy, or has exited with 0. */
  readonly condition: 'service_started' | 'service_healthy' | 'service_completed_successfully';
  /** Restart the dependent after compose restarts or updates the dependency (Compose v2; docker-compose 1.29 rejects it). */
  readonly restart?: boolean;
}

/** A `healthcheck`. */
export interface ComposeHealthcheck {
  /** The check, `['CMD', ...]` (exec form) or `['CMD-SHELL', command]`; exit code 0 means healthy. */
  readonly test: readonly string[];
  /** Time between checks, a compose duration (`10s`). */
  readonly interval?: string;
  /** How long one check may take, a compose duration (`2s`). */
  readonly timeout?: string;
  /** Consecutive failures before the container is unhealthy. */
  readonly retries?: number;
  /** Grace period after start during which failures do not count, a compose duration (`30s`). */
  readonly start_period?: string;
  /** Time between checks during the start period, a compose duration (`2s`). */
  readonly start_interval?: string;
}

/** `deploy` (resources everywhere; restart and update policy on a swarm). */
export interface ComposeDeploy {
  /** Containers of the service. */
  readonly replicas?: number;
  /** CPU and memory of each container. */
  readonly resources?: {
    /** The most a container may use. */
    readonly limits?: {
      /** CPUs, a decimal string (`'0.5'` is half a core). */
      readonly cpus?: string;
      /** Memory, a compose byte value with a binary unit (`256m`, `1g`). */
      readonly memory?: string;
    };
    /** What is reserved for a container. */
    readonly reservations?: {
      /** CPUs, a decimal string (`'0.5'` is half a core). */
      readonly cpus?: string;
      /** Memory, a compose byte value with a binary unit (`256m`, `1g`). */
      readonly memory?: string;
    };
  };
  /** When a swarm restarts a task. */
  readonly restart_policy?: {
    /** `any`, `on-failure` or `none`. */
    readonly condition: string;
  };
  /** How a swarm rolls out a new version of the service. */
  readonly update_config?: {
    /** `start-first` (new task before the old one stops) or `stop-first`. */
    readonly order?: string;
    /** Tasks updated at a time. */
    readonly parallelism?: number;
    /** What a failed update does: `continue`, `rollback` or `pause`. */
    readonly failure_action?: string;
    /** How long after each task's update a failure still counts, a compose duration. */
    readonly monitor?: string;
  };
  /** How a swarm rolls a failed update back (same fields as `update_config`). */
  readonly rollback_config?: {
    /** `start-first` or `stop-first`. */
    readonly order?: string;
    /** Tasks rolled back at a time. */
    readonly parallelism?: number;
    /** What a failed rollback does: `continue` or `pause`. */
    readonly failure_action?: string;
    /** How long after each task's rollback a failure still counts, a compose duration. */
    readonly monitor?: string;
  };
  /** Where a swarm may run the service's tasks. */
  readonly placement?: {
    /** Constraints such as `node.role==worker` (the stack's `compose.placement`). */
    readonly constraints?: readonly string[];
  };
}

/** A swarm config mounted into a service (overlay stacks: the gateway's generated files). */
export interface ComposeConfigMount {
  /** Key of the config in the project's top-level `configs`. */
  readonly source: string;
  /** Path of the file inside the container. */
  readonly target: string;
  /** File mode (0444: readable by every user). */
  readonly mode?: number;
}

/** A volume mount (long syntax). */
export interface ComposeVolumeMount {
  /** Mount type: a host path (`bind`), a named volume, or a tmpfs. */
  readonly type: 'bind' | 'volume' | 'tmpfs';
  /** Host path (bind, relative to the compose file or absolute) or volume name. */
  readonly source?: string;
  /** Path inside the container. */
  readonly target: string;
  /** Mount it read-only. */
  readonly read_only?: boolean;
  /** tmpfs options (`type: tmpfs`): its most bytes. */
  readonly tmpfs?: {
    /** Most bytes the tmpfs holds. */
    readonly size: number;
  };
}

/** A compose secret mounted into a service (a file at `target`, read-only). */
export interface ComposeSecretMount {
  /** Key of the secret in the project's top-level `secrets`. */
  readonly source: string;
  /** Absolute path of the file inside the container. */
  readonly target: string;
}

/** A compose service's `logging` key. */
export interface ComposeServiceLogging {
  /** Logging driver. */
  driver: string;
  /** Driver options (`max-size`, `max-file`). */
  options: Record<string, string>;
}

/** One compose service as pyfleet writes it. Further keys may come from `Compose.of(...).addOverride`. */
export interface ComposeService {
  /** Image reference to run (registry images, and built images on a swarm, which cannot build). */
  image?: string;
  /** How compose builds the image. */
  build?: {
    /** Build context, relative to the compose file (`./assets/context.<hash>`). */
    context: string;
    /** Dockerfile path relative to the context. */
    dockerfile?: string;
    /** Tags given to the built image (`<registry>/<service>:<content hash>`). */
    tags?: string[];
    /** Build arguments. */
    args?: Record<string, string>;
  };
  /** Services started first, by compose service name. */
  depends_on?: Record<string, ComposeDependency>;
  /** Mounts (pyfleet writes bind mounts of generated files, read-only). */
  volumes?: ComposeVolumeMount[];
  /** Swarm configs mounted as files (overlay stacks: the gateway's configuration, config files). */
  configs?: ComposeConfigMount[];
  /** Compose secrets mounted as files (secret files). */
  secrets?: ComposeSecretMount[];
  /** Log driver and rotation. */
  logging?: ComposeServiceLogging;
  /** Environment variables; `$` in literal values is escaped as `$$`, secrets read `${VARIABLE:?...}`. */
  environment?: Record<string, string>;
  /** Published ports, short syntax (`0.0.0.0:80:8080/tcp`). */
  ports?: string[];
  /** Networks the container joins, each with the names it answers to there. */
  networks?: Record<string, {
    /** Further names of the container on this network (the service or workload name). */
    aliases?: string[];
  }>;
  /** `host` in host network mode, where the container shares the host's network (no `networks`). */
  network_mode?: string;
  /** Container arguments (the model's `args`), exec form. */
  command?: string[];
  /** Container entrypoint (the model's `command`), exec form. */
  entrypoint?: string[];
  /** Restart policy: `always`, `unless-stopped` or `on-failure`. */
  restart?: string;
  /** The container's health check. */
  healthcheck?: ComposeHealthcheck;
  /** Container labels (`app`, `version`, `app.kubernetes.io/*`). */
  labels?: Record<string, string>;
  /** `uid:gid` the container runs as. */
  user?: string;
  /** Linux capabilities dropped (`ALL`). */
  cap_drop?: string[];
  /** Replicas, resources, and a swarm's restart and update policy. */
  deploy?: ComposeDeploy;
  /** Mount the root filesystem read-only. */
  read_only?: boolean;
  /** Security options (`no-new-privileges:true`). */
  security_opt?: string[];
  /** How long compose waits after the stop signal before it kills, a compose duration. */
  stop_grace_period?: string;
  /** Signal that asks the container to stop (`SIGTERM`; `SIGUSR1` for the HAProxy gateway). */
  stop_signal?: string;
  /** Paths mounted as tmpfs (`/tmp`, since the root filesystem is read-only). */
  tmpfs?: string[];
  /** Any other key, set through an override. */
  [key: string]: unknown;
}

/** A compose network. */
export interface ComposeNetwork {
  /** `bridge` on one machine, `overlay` on a swarm. */
  readonly driver: 'bridge' | 'overlay';
  /** Whether standalone containers may join an overlay network. */
  readonly attachable?: boolean;
  /** No outside access: containers on it reach only each other (networks per call). */
  readonly internal?: boolean;
}

/** The compose project of a stack: the compose target's typed result. */
export interface ComposeProject {
  /**
   * Project name (the stack's); absent on an overlay stack, whose swarm loader has no such key (the
   * stack is named by `docker stack deploy ... <stack>`).
   */
  name?: string;
  /** Services by name, sorted. */
  services: Record<string, ComposeService>;
  /** Networks (none in host network mode): one per call, see lib/render/compose/networks.ts. */
  networks?: Record<string, ComposeNetwork>;
  /**
   * Named volumes by key (compose prefixes the project name): persistent volumes, `<service>-<version>-<volume>`,
   * the data of backing services, `<store>-data`, and of the monitoring services.
   */
  volumes?: Record<string, Record<string, never>>;
  /** Swarm configs by key, each read from a generated file beside the compose file (overlay stacks). */
  configs?: Record<string, {
    /** Path of the file, relative to the compose file. */
    file: string;
  }>;
  /** Secrets by key, each read from a file on the deploying machine (secret files). */
  secrets?: Record<string, {
    /** Path of the secret file, relative to the compose file or absolute. */
    file: string;
  }>;
}
