import type { BuildRecipe } from '../service/build';
import type { WorkerSizing } from './workers';

/** The address gunicorn listens on: 0.0.0.0 unless set (compose host mode sets 127.0.0.1 for services that are not exposed). */
export const LISTEN_HOST_ENV = 'PYFLEET_LISTEN_HOST';

/** The address the metrics server listens on: 0.0.0.0 unless set (compose host mode sets 127.0.0.1: metrics are never public). */
export const METRICS_HOST_ENV = 'PYFLEET_METRICS_HOST';
/** The port gunicorn listens on when set (compose host mode: the release slot's loopback port), else the service port. */
export const LISTEN_PORT_ENV = 'PYFLEET_LISTEN_PORT';
/** The port the metrics server listens on when set (compose host mode: the release slot's), else the metrics port. */
export const METRICS_PORT_ENV = 'PYFLEET_METRICS_PORT';
/** The version name a container runs (pyfleet sets it on every version); the JSON access log carries it. */
export const VERSION_ENV = 'PYFLEET_VERSION';
/** The generated module that wraps the user's app with request metrics and the JSON access log (gunicorn runs `pyfleet_app:app`). */
export const WRAPPER_FILE = 'pyfleet_app.py';
/** The generated requirements file of the packages the generated files need beside the user's (e.g. prometheus-client). */
export const EXTRA_REQUIREMENTS_FILE = 'pyfleet-requirements.txt';

/** A value of a gunicorn setting, written as a Python literal. */
export type GunicornSettingValue = string | number | boolean | null | readonly (string | number | boolean)[];

/**
 * What the image of a Python web service is made of, target-neutral: the image generator turns it
 * into a Dockerfile, a gunicorn.conf.py and a .dockerignore.
 */
export interface PythonServiceRecipe extends BuildRecipe {
  /** The recipe kind: it selects the build generator (`BUILTIN_BUILD_GENERATORS['python-gunicorn']`). */
  readonly kind: 'python-gunicorn';
  /** Construct path (for comments in generated files). */
  readonly constructPath: string;
  /** Service name (OCI title label). */
  readonly serviceName: string;
  /** `flask` or `fastapi` (for comments and labels). */
  readonly framework: 'flask' | 'fastapi';
  /** Pinned base image with Python, e.g. `python:3.12.8-slim-bookworm`. */
  readonly baseImage: string;
  /** Requirements files to copy before the source (relative to the context), the main one first. */
  readonly requirementsFiles: readonly string[];
  /** WSGI/ASGI application, `module:variable` (or `module:factory()`). */
  readonly module: string;
  /** Port gunicorn binds (all interfaces). */
  readonly port: number;
  /** Health check the image declares (HEALTHCHECK), if any. */
  readonly healthCheck?: {
    /** HTTP path the check requests, starting with `/`. */
    readonly path: string;
    /** Container port the check requests. */
    readonly port: number;
    /** Seconds between checks (HEALTHCHECK `--interval`). */
    readonly intervalSeconds: number;
    /** Seconds one check may take (HEALTHCHECK `--timeout`). */
    readonly timeoutSeconds: number;
    /** Seconds after start during which failures do not count (HEALTHCHECK `--start-period`). */
    readonly startPeriodSeconds: number;
    /** Consecutive failures before the container is unhealthy (HEALTHCHECK `--retries`). */
    readonly retries: number;
    /** Exec-form command that exits 0 when healthy (needs only the image's Python). */
    readonly command: readonly string[];
  };
  /** Non-root UID and GID of the runtime user. */
  readonly uid: number;
  /** gunicorn `worker_class`. */
  readonly workerClass: string;
  /** How many workers for a CPU budget, when neither WEB_CONCURRENCY nor a fixed count is given. */
  readonly sizing: WorkerSizing;
  /** A fixed worker count baked into the config (still overridden by WEB_CONCURRENCY), if the user gave one. */
  readonly fixedWorkers?: number;
  /** gunicorn `threads` (threaded workers only). */
  readonly threads?: number;
  /** gunicorn `timeout`, whole seconds: a worker silent this long is killed and replaced. */
  readonly timeoutSeconds: number;
  /** gunicorn `graceful_timeout`, whole seconds: time workers get to finish after SIGTERM. */
  readonly gracefulTimeoutSeconds: number;
  /** gunicorn `keepalive`, whole seconds: how long an idle keep-alive connection stays open. */
  readonly keepAliveSeconds: number;
  /** gunicorn `max_requests`: restart a worker after this many requests; 0 never restarts. */
  readonly maxRequests: number;
  /** gunicorn `max_requests_jitter`: up to this many extra requests per worker before its restart. */
  readonly maxRequestsJitter: number;
  /** gunicorn `preload_app`: import the app in the arbiter before forking workers. */
  readonly preload: boolean;
  /** Further gunicorn settings, verbatim. */
  readonly extraSettings: Readonly<Record<string, GunicornSettingValue>>;
  /** The Prometheus metrics endpoint the gunicorn master serves, if metrics are on. */
  readonly metrics?: {
    /** Container port of `/metrics`. */
    readonly port: number;
  };
  /** Pinned requirements the generated files need that the user's requirements do not list (written to pyfleet-requirements.txt). */
  readonly extraRequirements: readonly string[];
  /**
   * Mount paths of the service's disk volumes (persistent, and ephemeral on disk), sorted: the image
   * creates them owned by the runtime user, so that Docker seeds a new named or anonymous volume with
   * that owner (compose has no fsGroup). Absent for none.
   */
  readonly volumeDirectories?: readonly string[];
  /**
   * True when the service calls a backing service with `compose: { passwordFile }`: gunicorn.conf.py and
   * the wrapper then build `<NAME>_PASSWORD` and `<NAME>_URL` from the mounted file at start.
   * Absent for none.
   */
  readonly passwordFiles?: true;
}

/** Where the generated images keep the code (their WORKDIR); volumes may not cover it. */
export const APP_DIR = '/app';
