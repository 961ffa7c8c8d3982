// The part of the Compose Specification that pyfleet writes, as types (the compose target's result).

/** A `depends_on` entry (long syntax). */
export interface ComposeDependency {
  readonly condition: 'service_started' | 'service_healthy' | 'service_completed_successfully';
  readonly restart?: boolean;
}

/** A `healthcheck`. */
export interface ComposeHealthcheck {
  readonly test: readonly string[];
  readonly interval?: string;
  readonly timeout?: string;
  readonly retries?: number;
  readonly start_period?: string;
  readonly start_interval?: string;
}

/** `deploy` (resources everywhere; restart and update policy on a swarm). */
export interface ComposeDeploy {
  readonly replicas?: number;
  readonly resources?: {
    readonly limits?: { readonly cpus?: string; readonly memory?: string };
    readonly reservations?: { readonly cpus?: string; readonly memory?: string };
  };
  readonly restart_policy?: { readonly condition: string };
  readonly update_config?: { readonly order?: string; readonly parallelism?: number; readonly failure_action?: string };
}

/** A volume mount (long syntax). */
export interface ComposeVolumeMount {
  readonly type: 'bind' | 'volume' | 'tmpfs';
  readonly source?: string;
  readonly target: string;
  readonly read_only?: boolean;
}

/** One compose service as pyfleet writes it. Further keys may come from `Compose.of(...).addOverride`. */
export interface ComposeService {
  image?: string;
  build?: { context: string; dockerfile?: string; tags?: string[]; args?: Record<string, string> };
  depends_on?: Record<string, ComposeDependency>;
  volumes?: ComposeVolumeMount[];
  environment?: Record<string, string>;
  ports?: string[];
  networks?: Record<string, { aliases?: string[] }>;
  network_mode?: string;
  command?: string[];
  entrypoint?: string[];
  restart?: string;
  healthcheck?: ComposeHealthcheck;
  labels?: Record<string, string>;
  user?: string;
  cap_drop?: string[];
  deploy?: ComposeDeploy;
  read_only?: boolean;
  security_opt?: string[];
  stop_grace_period?: string;
  stop_signal?: string;
  tmpfs?: string[];
  [key: string]: unknown;
}

/** A compose network. */
export interface ComposeNetwork {
  readonly driver: 'bridge' | 'overlay';
  readonly attachable?: boolean;
  /** No outside access: containers on it reach only each other (networks per call). */
  readonly internal?: boolean;
}

/** The compose project of a stack: the compose target's typed result. */
export interface ComposeProject {
  /** Project name (the stack's). */
  name: string;
  /** Services by name, sorted. */
  services: Record<string, ComposeService>;
  /** Networks (none in host network mode): one per call, see lib/render/compose/networks.ts. */
  networks?: Record<string, ComposeNetwork>;
}
