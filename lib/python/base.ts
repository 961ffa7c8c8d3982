import * as fs from 'fs';
import * as path from 'path';
import { Construct } from 'constructs';
import { PyfleetError } from '../core/errors';
import { Duration, Size } from '../core/units';
import { IWarningSource } from '../core/warnings';
import { listSourceFiles } from '../service/asset';
import { EnvInput, EnvValue, toEnvValue } from '../service/env';
import { HealthCheck } from '../service/health';
import { checkPort } from '../core/names';
import { ContainerImage } from '../service/image';
import { MicroService, MicroServiceProps, ServiceVersion, VersionOptions } from '../service/microservice';
import { appInterface, findModuleAttribute } from './module';
import { APP_DIR, EXTRA_REQUIREMENTS_FILE, GunicornSettingValue, LISTEN_HOST_ENV, LISTEN_PORT_ENV, METRICS_HOST_ENV, METRICS_PORT_ENV, PythonServiceRecipe, VERSION_ENV, WRAPPER_FILE } from './recipe';
import { readRequirements, RequirementsInfo } from './requirements';
import { ARBITER_MEMORY, AsgiWorkerClass, WorkerProfile, workerProfile, workersFor, WsgiWorkerClass } from './workers';

/** Python version of the default base image (`python:<version>-slim-bookworm`). */
export const DEFAULT_PYTHON_VERSION = '3.12.8';
/** Debian release of the default base image. */
export const DEFAULT_DEBIAN_RELEASE = 'bookworm';

/**
 * Threads per gthread worker. Threads are cheap while they wait on I/O (the common case for a web
 * service calling a database or other services): measured with bench/gunicorn.ts, 4 threads per
 * worker reached a quarter of the best throughput of a service waiting 10 ms per request, 32 came
 * within ~15% of it, and cost ~15% on a purely CPU-bound handler against 4.
 */
export const DEFAULT_THREADS = 32;

/** Environment variable gunicorn (and pyfleet's generated config) reads the worker count from. */
export const WORKERS_ENV = 'WEB_CONCURRENCY';

/** Common idle timeout of proxies in front of a service (AWS ALB, nginx `keepalive_timeout`): 60 s. */
const PROXY_IDLE_TIMEOUT = Duration.seconds(60);

/**
 * gunicorn settings pyfleet manages through props: `gunicornSettings` may not set them (the value
 * would silently disagree with the model).
 */
const MANAGED_SETTINGS: Record<string, string> = {
  bind: 'port',
  workers: 'workers (or the WEB_CONCURRENCY environment variable)',
  worker_class: 'workerClass',
  threads: 'threads',
  timeout: 'timeout',
  graceful_timeout: 'gracefulTimeout',
  keepalive: 'keepAlive',
  max_requests: 'maxRequests',
  max_requests_jitter: 'maxRequestsJitter',
  preload_app: 'preload',
  wsgi_app: 'module',
  worker_tmp_dir: '(always /dev/shm: the root filesystem is read-only)',
  control_socket_disable: '(always disabled: the control socket fails on a read-only root)',
  config: '(the generated gunicorn.conf.py is the config)',
  accesslog: '(the generated app wrapper writes JSON access logs to stdout)',
  access_log_format: '(the generated app wrapper writes JSON access logs to stdout)',
};

/** Properties shared by the Python web service constructs. */
export interface PythonAppOptions extends Omit<MicroServiceProps, 'image'> {
  /**
   * Directory of the service's source code (absolute, or relative to the current working directory):
   * the app module and its requirements file. It is copied into a staged build context beside the
   * generated Dockerfile, gunicorn.conf.py and .dockerignore (which replace files of the same name).
   */
  readonly source: string;
  /**
   * The application object, `module:variable` (or `module:factory()`), importable from the source root.
   * @default 'app:app'
   */
  readonly module?: string;
  /**
   * Python version of the base image `python:<version>-slim-bookworm` (a full `3.x.y` version: the base is pinned).
   * @default '3.12.8'
   */
  readonly pythonVersion?: string;
  /**
   * Base image of both build stages instead of the official slim image (e.g. a mirror of it). It must
   * be pinned (tag or digest) and have `python` with the `venv` module, `useradd` and `groupadd`.
   * @default - `python:<pythonVersion>-slim-bookworm`
   */
  readonly baseImage?: string;
  /**
   * The pip requirements file, relative to `source`. Its `-r`/`-c` includes are followed and copied too.
   * It must list `gunicorn` (and the worker class's package, e.g. `uvicorn`).
   * @default 'requirements.txt'
   */
  readonly requirements?: string;
  /**
   * Package index pip installs from at build time (for teams behind a mirror). It is passed as the
   * build argument `PIP_INDEX_URL`, used only by the builder stage, and never reaches the final image.
   * @default - pip's default (PyPI)
   */
  readonly packageIndexUrl?: string;
  /**
   * Number of worker processes, fixed.
   * @default - automatic: sized from the CPU limit for the worker class (set as WEB_CONCURRENCY on
   * every target); an image started without WEB_CONCURRENCY sizes itself from the cgroup CPU quota
   */
  readonly workers?: number;
  /**
   * Workers silent for longer than this are killed and restarted (gunicorn `timeout`).
   * @default Duration.seconds(30)
   */
  readonly timeout?: Duration;
  /**
   * Time workers get to finish in-flight requests after SIGTERM (gunicorn `graceful_timeout`). It is
   * the service's `gracefulShutdown`, so the Kubernetes termination grace period and compose's stop
   * grace period are longer. Give one of the two.
   * @default - `gracefulShutdown`, itself 30 seconds by default
   */
  readonly gracefulTimeout?: Duration;
  /**
   * How long an idle keep-alive connection is kept open (gunicorn `keepalive`). Keep it longer than the
   * idle timeout of any proxy in front (60 s for AWS ALB and nginx), or the proxy may reuse a connection
   * the server just closed and answer 502. Ignored by the sync worker, which closes every connection.
   * @default Duration.seconds(75)
   */
  readonly keepAlive?: Duration;
  /**
   * Restart a worker after this many requests (bounds slow memory leaks); 0 never restarts.
   * @default 0
   */
  readonly maxRequests?: number;
  /**
   * Random extra requests (0 to this) added to `maxRequests` per worker, so workers do not restart together.
   * @default - a tenth of `maxRequests`
   */
  readonly maxRequestsJitter?: number;
  /**
   * Import the app in the arbiter before forking workers (saves memory through copy-on-write, but
   * code reloads need a full restart and the app must not open connections at import).
   * @default false
   */
  readonly preload?: boolean;
  /**
   * Further gunicorn settings written verbatim into gunicorn.conf.py, e.g.
   * `{ forwarded_allow_ips: '*', limit_request_line: 8190 }`. Settings pyfleet manages through props
   * (bind, workers, worker_class, timeouts...) are refused.
   * @default - none
   */
  readonly gunicornSettings?: Record<string, GunicornSettingValue>;
  /**
   * Path of the health endpoint: a short form of `healthCheck: HealthCheck.http(path)`. Give one of the two.
   * @default '/healthz'
   */
  readonly healthCheckPath?: string;
  /**
   * Typical resident memory of one worker, used to warn when the workers cannot fit the memory limit.
   * Measure it (`ps -o rss`) for a large app.
   * @default - per worker class: 40 MiB sync, 45 MiB gthread, 50 MiB gevent, 75 MiB uvicorn
   */
  readonly workerMemory?: Size;
  /**
   * Prometheus metrics of the app (requests by method, route template and status, a latency histogram,
   * in-flight requests, worker count and restarts), aggregated over every gunicorn worker and served by
   * the gunicorn master on a separate container port named `metrics`. The port is not published on
   * compose, and NetworkPolicies/AuthorizationPolicies do not open it to the service's callers (only a
   * monitoring scraper may reach it). `false` turns metrics off; `{ port }` moves the port.
   * @default - on, port 9100
   */
  readonly metrics?: boolean | PythonMetricsOptions;
}

/** Where a Python app serves its Prometheus metrics. */
export interface PythonMetricsOptions {
  /**
   * Container port of the metrics endpoint (`/metrics`). It must differ from every other port of the service.
   * @default 9100
   */
  readonly port?: number;
}

/** Container port of the metrics endpoint unless `metrics: { port }` moves it. */
export const DEFAULT_METRICS_PORT = 9100;
/** Name of the metrics container port (Kubernetes Service and container port name). */
export const METRICS_PORT_NAME = 'metrics';
/** Package the generated image adds for metrics, pinned, unless the requirements list it. */
export const PROMETHEUS_CLIENT_REQUIREMENT = 'prometheus-client==0.26.0';

/** Options of an extra version of a Python service. */
export interface PythonVersionOptions extends VersionOptions {
  /**
   * Source directory of this version, built with the service's settings (module, requirements file,
   * gunicorn settings). Give either `source` or `image`.
   * @default - the service's image
   */
  readonly source?: string;
}

/** @internal what a subclass passes to the shared base. */
export interface PythonAppKind {
  readonly framework: 'flask' | 'fastapi';
  readonly construct: string;
  readonly workerClass: WsgiWorkerClass | AsgiWorkerClass;
  readonly threads?: number;
}

/**
 * A Python web service run by gunicorn, with a generated production image. Use `GunicornFlaskApp` or
 * `FastApiApp`.
 */
export abstract class PythonWebApp extends MicroService implements IWarningSource {
  /** `flask` or `fastapi`. */
  public readonly framework: 'flask' | 'fastapi';
  /** Absolute source directory of the default version. */
  public readonly source: string;
  /** The application object, `module:variable`. */
  public readonly module: string;
  /** Pinned base image of the generated Dockerfile. */
  public readonly baseImage: string;
  /** Requirements file, relative to the source. */
  public readonly requirementsFile: string;
  /** Package index used at build time, if any. */
  public readonly packageIndexUrl?: string;
  /** The gunicorn worker class. */
  public readonly workerClass: WsgiWorkerClass | AsgiWorkerClass;
  /** Threads per worker (threaded worker classes only). */
  public readonly threads?: number;
  /** A fixed worker count, if one was given. */
  public readonly fixedWorkers?: number;
  /** gunicorn `timeout`: a worker silent for longer is killed and replaced (30 s by default). */
  public readonly timeout: Duration;
  /**
   * gunicorn `graceful_timeout`: time workers get to finish in-flight requests after SIGTERM. Always
   * equal to {@link MicroService.gracefulShutdown} (the prop `gracefulTimeout` is another way to set it).
   */
  public readonly gracefulTimeout: Duration;
  /** gunicorn `keepalive` (also the MicroService keep-alive the mesh checks idle timeouts against). */
  declare public readonly keepAlive: Duration;
  /** gunicorn `max_requests`: a worker is restarted after this many requests; 0 (the default) never restarts. */
  public readonly maxRequests: number;
  /** gunicorn `max_requests_jitter`: up to this many extra requests per worker (a tenth of `maxRequests` by default). */
  public readonly maxRequestsJitter: number;
  /** gunicorn `preload_app`: whether the arbiter imports the app before forking workers (false by default). */
  public readonly preload: boolean;
  /** Further gunicorn settings. */
  public readonly gunicornSettings: Readonly<Record<string, GunicornSettingValue>>;
  /** Typical memory of one worker (for the memory-fit warning). */
  public readonly workerMemory: Size;
  /** Container port of the metrics endpoint, or undefined when metrics are off. */
  public readonly metricsPort?: number;
  private readonly requirementsByDir: Map<string, RequirementsInfo>;

  protected constructor(scope: Construct, id: string, props: PythonAppOptions, kind: PythonAppKind) {
    const where = scope.node.path ? `${scope.node.path}/${id}` : id;
    if (!props || typeof props.source !== 'string') {
      throw new PyfleetError(where, 'no source directory was given', `pass source: path.join(__dirname, "services/${id}"), the folder holding the app and its requirements.txt`);
    }
    const anyProps = props as PythonAppOptions & { image?: unknown };
    if (anyProps.image !== undefined) {
      throw new PyfleetError(where, `${kind.construct} builds its own image from \`source\`, so \`image\` cannot be given`, 'drop `image`, or use MicroService for a prebuilt image');
    }
    const module = props.module ?? 'app:app';
    const requirementsFile = props.requirements ?? 'requirements.txt';
    checkWorkerClassFits(where, kind);
    const checked = checkSource(where, props.source, module, requirementsFile, kind);
    const source = checked.dir;
    const requirements = readRequirements(where, source, requirementsFile);
    checkPackages(where, requirementsFile, requirements, kind);
    checkAppAttribute(where, checked, module, kind);

    if (props.gracefulTimeout && props.gracefulShutdown && props.gracefulTimeout.millis !== props.gracefulShutdown.millis) {
      throw new PyfleetError(where, `gracefulTimeout (${props.gracefulTimeout}) and gracefulShutdown (${props.gracefulShutdown}) disagree; they are the same setting`, 'give only one of them');
    }
    if (props.healthCheckPath !== undefined && props.healthCheck !== undefined) {
      throw new PyfleetError(where, 'both healthCheckPath and healthCheck were given', 'give healthCheck: HealthCheck.http(path, options) alone, or healthCheckPath alone');
    }
    const userCheck = props.healthCheck ?? atConstruct(where, 'healthCheckPath', () => HealthCheck.http(props.healthCheckPath ?? '/healthz'));
    checkEnv(where, props.env);

    // The image is built lazily at synth (the recipe reads the final model), through a holder since
    // `this` does not exist before super().
    const holder: { app?: PythonWebApp } = {};
    const image = generatedImage(source, () => holder.app!, props.packageIndexUrl);
    const metricsPort = checkMetrics(where, props);
    super(scope, id, {
      ...props,
      additionalPorts: metricsPort !== undefined ? { ...props.additionalPorts, [METRICS_PORT_NAME]: metricsPort } : props.additionalPorts,
      image,
      gracefulShutdown: props.gracefulTimeout ?? props.gracefulShutdown,
      keepAlive: props.keepAlive ?? Duration.seconds(75),
      healthCheck: withPythonCommand(userCheck, props.port ?? 8080),
    });
    holder.app = this;
    this.metricsPort = metricsPort;

    this.framework = kind.framework;
    this.source = source;
    this.module = module;
    this.requirementsFile = requirementsFile;
    this.requirementsByDir = new Map([[source, requirements]]);
    this.baseImage = checkBaseImage(this.node.path, props.baseImage, props.pythonVersion);
    this.packageIndexUrl = checkIndexUrl(this.node.path, props.packageIndexUrl);
    this.workerClass = kind.workerClass;
    const profile = this.profile;
    if (!profile) {
      throw new PyfleetError(this.node.path, `worker class "${kind.workerClass}" is not one ${kind.construct} supports`, kind.framework === 'flask' ? 'use WsgiWorkerClass.SYNC, GTHREAD or GEVENT' : 'use AsgiWorkerClass.UVICORN');
    }
    if (kind.threads !== undefined && !profile.threaded) {
      throw new PyfleetError(this.node.path, `threads is set but the ${profile.gunicornClass} worker runs no thread pool (gunicorn would silently switch a sync worker to gthread)`,
        kind.framework === 'flask' ? 'use workerClass: WsgiWorkerClass.GTHREAD, or drop threads' : 'drop threads');
    }
    if (profile.threaded) {
      this.threads = kind.threads ?? DEFAULT_THREADS;
      checkCount(this.node.path, 'threads', this.threads, 1, 256);
    }
    if (props.workers !== undefined) {
      checkCount(this.node.path, 'workers', props.workers, 1, 256);
      this.fixedWorkers = props.workers;
    }
    this.timeout = props.timeout ?? Duration.seconds(30);
    checkSeconds(this.node.path, 'timeout', this.timeout, 1, 3600);
    this.gracefulTimeout = this.gracefulShutdown;
    checkSeconds(this.node.path, 'keepAlive', this.keepAlive, 1, 3600);
    this.maxRequests = props.maxRequests ?? 0;
    checkCount(this.node.path, 'maxRequests', this.maxRequests, 0, 100_000_000);
    this.maxRequestsJitter = props.maxRequestsJitter ?? Math.floor(this.maxRequests / 10);
    checkCount(this.node.path, 'maxRequestsJitter', this.maxRequestsJitter, 0, 100_000_000);
    if (this.maxRequestsJitter > 0 && this.maxRequests === 0) {
      throw new PyfleetError(this.node.path, 'maxRequestsJitter is set but maxRequests is 0 (workers are never restarted)', 'set maxRequests too, or drop maxRequestsJitter');
    }
    this.preload = props.preload ?? false;
    this.gunicornSettings = checkSettings(this.node.path, props.gunicornSettings ?? {});
    this.workerMemory = props.workerMemory ?? profile.typicalWorkerMemory;
    if (!(this.workerMemory instanceof Size)) {
      throw new PyfleetError(this.node.path, 'workerMemory must be a Size', 'use e.g. Size.mebibytes(80)');
    }

    const userWorkers = this.env[WORKERS_ENV];
    if (userWorkers) {
      checkWorkersEnv(this.node.path, userWorkers);
    } else {
      // pyfleet knows the CPU limit on every target: pass the count it implies, visibly.
      this.addEnv(WORKERS_ENV, String(this.workersFor(this.defaultVersion)));
    }
    for (const v of this.versions) {
      const e = v.env[WORKERS_ENV];
      if (e) checkWorkersEnv(v.node.path, e);
    }
  }

  /** The worker class's profile (sizing rule, typical memory). */
  public get profile(): WorkerProfile {
    return workerProfile(this.workerClass);
  }

  /** Worker processes pyfleet sizes for the CPU limit (or the fixed count), before any WEB_CONCURRENCY override. */
  public get plannedWorkers(): number {
    return this.fixedWorkers ?? workersFor(this.profile.sizing, this.cpuLimit.millis);
  }

  /** Worker processes a version runs with: its WEB_CONCURRENCY if set, else the planned count. */
  public workersFor(version: ServiceVersion): number {
    const e = version.env[WORKERS_ENV];
    if (e?.value !== undefined && /^\d+$/.test(e.value)) return Number(e.value);
    return this.plannedWorkers;
  }

  /**
   * Adds a version. With `source`, it is built from that directory with the service's settings.
   */
  public addVersion(name: string, options: PythonVersionOptions = {}): ServiceVersion {
    const where = `${this.node.path}/${name}`;
    checkEnv(where, options.env);
    // The JSON access log names the version that served each request.
    options = { ...options, env: { [VERSION_ENV]: name, ...options.env } };
    if (options.source === undefined) return super.addVersion(name, options);
    if (options.image !== undefined) {
      throw new PyfleetError(where, 'both source and image were given for the version', 'give one of them');
    }
    const kind: PythonAppKind = { framework: this.framework, construct: this.constructor.name, workerClass: this.workerClass };
    const checked = checkSource(where, options.source, this.module, this.requirementsFile, kind);
    const source = checked.dir;
    const requirements = readRequirements(where, source, this.requirementsFile);
    checkPackages(where, this.requirementsFile, requirements, kind);
    checkAppAttribute(where, checked, this.module, kind);
    this.requirementsByDir.set(source, requirements);
    const { source: _ignored, ...rest } = options;
    const version = super.addVersion(name, { ...rest, image: generatedImage(source, () => this, this.packageIndexUrl) });
    const e = version.env[WORKERS_ENV];
    if (e) checkWorkersEnv(version.node.path, e);
    return version;
  }

  /** The target-neutral build recipe of the image built from `directory` (the default source if omitted). */
  public recipe(directory: string = this.source): PythonServiceRecipe {
    const requirements = this.requirementsByDir.get(directory) ?? readRequirements(this.node.path, directory, this.requirementsFile);
    const hc = this.healthCheck;
    return {
      kind: 'python-gunicorn',
      constructPath: this.node.path,
      serviceName: this.serviceName,
      framework: this.framework,
      baseImage: this.baseImage,
      requirementsFiles: requirements.files,
      module: this.module,
      port: this.port,
      healthCheck: hc.enabled ? {
        path: hc.path!,
        port: this.healthPort,
        intervalSeconds: hc.interval.wholeSeconds,
        timeoutSeconds: hc.timeout.wholeSeconds,
        startPeriodSeconds: hc.startPeriod.wholeSeconds,
        retries: hc.failureThreshold,
        command: hc.composeCommand ?? pythonHealthCommand(`http://127.0.0.1:${this.healthPort}${hc.path}`, hc.timeout.wholeSeconds),
      } : undefined,
      uid: this.runAsUser,
      workerClass: this.profile.gunicornClass,
      sizing: this.profile.sizing,
      fixedWorkers: this.fixedWorkers,
      threads: this.threads,
      timeoutSeconds: this.timeout.wholeSeconds,
      gracefulTimeoutSeconds: this.gracefulTimeout.wholeSeconds,
      keepAliveSeconds: this.keepAlive.wholeSeconds,
      maxRequests: this.maxRequests,
      maxRequestsJitter: this.maxRequestsJitter,
      preload: this.preload,
      extraSettings: this.gunicornSettings,
      metrics: this.metricsPort !== undefined ? { port: this.metricsPort } : undefined,
      extraRequirements: this.metricsPort !== undefined && !requirements.packages.has('prometheus-client') ? [PROMETHEUS_CLIENT_REQUIREMENT] : [],
      ...volumeDirectories(this),
      ...(this.storeCalls.some((d) => d.composePasswordFile !== undefined) ? { passwordFiles: true as const } : {}),
    };
  }

  /** @internal The generated gunicorn.conf.py binds the host this variable names (default 0.0.0.0). */
  public _loopbackListenEnv(): Record<string, string> | undefined {
    return { [LISTEN_HOST_ENV]: '127.0.0.1' };
  }

  /** @internal The generated image's WORKDIR, which volumes may not cover. */
  public _appDirectory(): string | undefined {
    return APP_DIR;
  }

  /** @internal The generated gunicorn.conf.py (and metrics server) listen on the ports these variables name. */
  public _listenPortEnv(ports: { port: number; metricsPort?: number }): Record<string, string> | undefined {
    return {
      [LISTEN_PORT_ENV]: String(ports.port),
      ...(this.metricsPort !== undefined && ports.metricsPort !== undefined ? { [METRICS_PORT_ENV]: String(ports.metricsPort) } : {}),
    };
  }

  /** @internal The metrics port, which callers and the public never reach (NetworkPolicies, compose). */
  public _metricsPort(): number | undefined {
    return this.metricsPort;
  }

  /** @internal Compose host mode binds the metrics server on loopback: it is never public. */
  public _loopbackMetricsEnv(): Record<string, string> | undefined {
    return this.metricsPort !== undefined ? { [METRICS_HOST_ENV]: '127.0.0.1' } : undefined;
  }

  /**
   * Autoscaled versions whose CPU target the workers can never reach: the worker count stays sized
   * from the CPU limit (or fixed), each worker uses about one core, so a pod's CPU use is capped by
   * both; a target above that cap keeps the autoscaler from ever scaling up.
   */
  private autoscaleFitWarnings(): string[] {
    const out: string[] = [];
    for (const version of this.versions) {
      const a = version.autoscale;
      if (!a) continue;
      const workers = this.workersFor(version);
      const reachable = Math.min(this.cpuLimit.millis, workers * WORKER_CPU_MILLIS);
      const target = Math.ceil((a.cpuUtilization / 100) * this.cpuRequest.millis);
      if (target <= reachable) continue;
      const who = this.versions.length > 1 ? `version "${version.versionName}": ` : '';
      const most = Math.floor((reachable / this.cpuRequest.millis) * 100);
      out.push(`${who}autoscale.cpuUtilization ${a.cpuUtilization}% of the CPU request ${this.cpuRequest.millis}m is ${target}m per pod, but ${workers} ${this.profile.gunicornClass} worker${workers === 1 ? '' : 's'} can use about ${reachable}m ` +
        `(one core each at most: Python runs under the GIL), so the autoscaler would never scale up. Lower cpuUtilization to ${most} or less, lower cpuRequest, or run more workers`);
    }
    return out;
  }

  /** @internal warnings computed from the final model (printed by App.synth). */
  public _synthWarnings(): string[] {
    const warnings: string[] = [...super._synthWarnings()];
    for (const version of this.versions) {
      const workers = this.workersFor(version);
      const need = ARBITER_MEMORY.bytes + workers * this.workerMemory.bytes;
      if (need > this.memoryLimit.bytes) {
        const who = this.versions.length > 1 ? `version "${version.versionName}": ` : '';
        warnings.push(`${who}${workers} ${this.profile.gunicornClass} workers x ~${mib(this.workerMemory)} MiB + ~${mib(ARBITER_MEMORY)} MiB for the arbiter = ~${mib(Size.bytes(need))} MiB cannot fit the memory limit of ${mib(this.memoryLimit)} MiB; the container would be OOM-killed under load. ` +
          `Raise memory to at least Size.mebibytes(${Math.ceil(need / 1024 ** 2)}), lower workers, or set workerMemory if you measured less`);
      }
    }
    warnings.push(...this.autoscaleFitWarnings());
    if (this.workerClass !== WsgiWorkerClass.SYNC && this.keepAlive.millis <= PROXY_IDLE_TIMEOUT.millis) {
      warnings.push(`keepAlive ${this.keepAlive} is not longer than the 60 s idle timeout of common proxies (AWS ALB, nginx): a proxy may reuse a connection gunicorn just closed and answer 502. Use keepAlive: Duration.seconds(75) or more`);
    }
    const sources = new Set<string>([this.source, ...[...this.requirementsByDir.keys()]]);
    for (const dir of sources) {
      // One listing per folder, not a lookup per generated name (five per folder at a thousand services).
      let names: Set<string>;
      try {
        names = new Set(fs.readdirSync(dir));
      } catch {
        continue; // a folder gone since construction: the synth says so when it stages the context
      }
      const replaced = ['Dockerfile', 'gunicorn.conf.py', '.dockerignore', WRAPPER_FILE, EXTRA_REQUIREMENTS_FILE].filter((f) => names.has(f));
      if (replaced.length > 0) {
        warnings.push(`${dir} has its own ${replaced.join(', ')}, which the generated one${replaced.length > 1 ? 's' : ''} replace${replaced.length > 1 ? '' : 's'} in the build context. Delete ${replaced.length > 1 ? 'them' : 'it'}, and pass extra gunicorn settings through gunicornSettings`);
      }
    }
    if (this.packageIndexUrl && /\/\/[^/]*@/.test(this.packageIndexUrl)) {
      warnings.push('packageIndexUrl carries credentials, which are written to the compose file as a build argument. Prefer a netrc or pip.conf passed as a build secret');
    }
    return warnings;
  }
}

/** CPU one gunicorn worker process can use: about one core, since its Python code runs under the GIL. */
const WORKER_CPU_MILLIS = 1000;

function mib(s: Size): number {
  return Math.round(s.mebibytes);
}

function generatedImage(source: string, app: () => PythonWebApp, packageIndexUrl?: string): ContainerImage {
  return ContainerImage._generated(source, () => app().recipe(source), packageIndexUrl ? { PIP_INDEX_URL: packageIndexUrl } : {});
}

/** What `p` is, in one stat call; undefined where `existsSync` would say false (nothing there, a file on the way, no access). */
function statOf(p: string): fs.Stats | undefined {
  try {
    return fs.statSync(p, { throwIfNoEntry: false });
  } catch {
    return undefined;
  }
}

const isFile = (p: string): boolean => statOf(p)?.isFile() === true;

/** The source directory, absolute, and the app module's file in it (relative, native separators). */
interface CheckedSource {
  readonly dir: string;
  readonly moduleFile: string;
}

function checkSource(where: string, source: string, module: string, requirementsFile: string, kind: PythonAppKind): CheckedSource {
  const dir = path.resolve(source);
  if (!statOf(dir)?.isDirectory()) {
    throw new PyfleetError(where, `the source directory ${dir} does not exist`, 'pass the folder holding the app, e.g. source: path.join(__dirname, "services/users")');
  }
  const m = /^([A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z_][A-Za-z0-9_]*)*):([A-Za-z_][A-Za-z0-9_]*)(\(.*\))?$/.exec(module);
  if (!m) {
    throw new PyfleetError(where, `module "${module}" is not of the form "module:variable"`, `use e.g. "app:app", "myservice.main:app" or "app:create_app()"`);
  }
  const rel = m[1].split('.').join('/');
  // A package wins over a module of the same name, as in Python's import system.
  const file = [path.join(rel, '__init__.py'), `${rel}.py`].find((f) => isFile(path.join(dir, f)));
  if (!file) {
    throw new PyfleetError(where, `module "${m[1]}" of "${module}" is not in ${dir} (no ${rel}.py or ${rel}/__init__.py)`, `point \`module\` at the file that creates the ${kind.framework === 'flask' ? 'Flask' : 'FastAPI'} app, or \`source\` at its folder`);
  }
  // Links out of the source, dangling links and special files fail here, with this construct's path.
  listSourceFiles(dir, where);
  if (typeof requirementsFile !== 'string' || !requirementsFile) {
    throw new PyfleetError(where, 'requirements is empty', 'give the requirements file relative to the source, e.g. "requirements.txt"');
  }
  return { dir, moduleFile: file };
}

/**
 * Reads the app module statically and refuses a `module` whose attribute the file clearly never binds
 * at module level, or an app whose framework does not fit the construct's worker class (an ASGI app
 * on a WSGI worker, a WSGI app on uvicorn's ASGI worker): gunicorn would fail at boot or on every
 * request. What the reading cannot follow (star imports, `__getattr__`, `globals()`) is accepted.
 */
function checkAppAttribute(where: string, { dir, moduleFile: file }: CheckedSource, module: string, kind: PythonAppKind): void {
  // checkSource has checked the form and found the file.
  const m = /^([\w.]+):(\w+)(\(.*\))?$/.exec(module)!;
  const attr = m[2];
  const factory = m[3] !== undefined;
  const shown = file.split(path.sep).join('/');
  const text = fs.readFileSync(path.join(dir, file), 'utf8');
  const found = findModuleAttribute(text, attr);
  if (found.status === 'missing') {
    // In a package, `pkg:name` may be a submodule that something imported (it then is an attribute).
    const pkg = path.dirname(path.join(dir, file));
    const submodule = file.endsWith('__init__.py') && (fs.existsSync(path.join(pkg, `${attr}.py`)) || fs.existsSync(path.join(pkg, attr)));
    if (!submodule) {
      const factories = ['create_app', 'make_app', 'get_app', 'app_factory'].filter((f) => f !== attr && findModuleAttribute(text, f).status === 'defined');
      const moduleName = module.split(':')[0];
      const fix = factory
        ? `define "def ${attr}():" at module level in ${shown}, or point \`module\` at the factory that file defines`
        : factories.length > 0
          ? `${shown} defines the factory ${factories[0]}(): use module: "${moduleName}:${factories[0]}()"`
          : `point \`module\` at the module-level variable that holds the app (e.g. "${moduleName}:application"), or assign it at module level (${attr} = ${kind.framework === 'flask' ? 'Flask(__name__)' : 'FastAPI()'})`;
      throw new PyfleetError(where, `${shown} does not define ${factory ? `the factory "${attr}"` : `"${attr}"`} at module level, so gunicorn cannot load "${module}" (it would stop with "Failed to find attribute '${attr}' in '${moduleName}'")`, fix);
    }
  }
  const iface = appInterface(found.madeBy);
  if (kind.framework === 'flask' && iface === 'asgi') {
    throw new PyfleetError(where, `"${module}" is a ${found.madeBy} app, which speaks ASGI, but ${kind.construct} runs it on the ${kind.workerClass} worker class, which speaks WSGI: every request would fail`,
      'use FastApiApp (gunicorn with uvicorn workers) for an ASGI app');
  }
  if (kind.framework === 'fastapi' && iface === 'wsgi') {
    throw new PyfleetError(where, `"${module}" is a ${found.madeBy} app, which speaks WSGI, but ${kind.construct} runs it on uvicorn's ASGI worker, which cannot serve it: every request would fail`,
      'use GunicornFlaskApp (sync, gthread or gevent workers) for a WSGI app');
  }
}

/** Refuses a worker class of the other interface (e.g. a WSGI class given to FastApiApp through a cast). */
function checkWorkerClassFits(where: string, kind: PythonAppKind): void {
  const asgi = (Object.values(AsgiWorkerClass) as string[]).includes(kind.workerClass);
  const wsgi = (Object.values(WsgiWorkerClass) as string[]).includes(kind.workerClass);
  if (kind.framework === 'fastapi' && wsgi) {
    throw new PyfleetError(where, `worker class "${kind.workerClass}" is a WSGI worker, but ${kind.construct} serves an ASGI (FastAPI) app: the worker would call it as WSGI and every request would fail`,
      'use workerClass: AsgiWorkerClass.UVICORN (the default), or GunicornFlaskApp for a WSGI app');
  }
  if (kind.framework === 'flask' && asgi) {
    throw new PyfleetError(where, `worker class "${kind.workerClass}" is an ASGI worker, but ${kind.construct} serves a WSGI (Flask) app, which uvicorn's worker cannot call`,
      'use workerClass: WsgiWorkerClass.GTHREAD (the default), SYNC or GEVENT, or FastApiApp for an ASGI app');
  }
}

/**
 * Runs `make` (which builds a value object from the prop `prop`) and re-raises its PyfleetError at the
 * construct path `where`, so that the error points at the construct, not at the value object.
 */
function atConstruct<T>(where: string, prop: string, make: () => T): T {
  try {
    return make();
  } catch (e) {
    if (e instanceof PyfleetError && e.constructPath !== where) throw new PyfleetError(where, `${prop}: ${e.problem}`, e.fix);
    throw e;
  }
}

/** The metrics port from the `metrics` prop (undefined when off), checked against every other port of the service. */
function checkMetrics(where: string, props: PythonAppOptions): number | undefined {
  const m = props.metrics;
  if (m === false) return undefined;
  if (m !== undefined && m !== true && (typeof m !== 'object' || m === null)) {
    throw new PyfleetError(where, 'metrics must be true, false or { port }', 'give metrics: false to turn metrics off, or metrics: { port: 9100 }');
  }
  const port = (typeof m === 'object' ? m.port : undefined) ?? DEFAULT_METRICS_PORT;
  checkPort(where, 'metrics.port', port);
  const httpPort = props.port ?? 8080;
  if (port === httpPort) {
    throw new PyfleetError(where, `the metrics port ${port} clashes with the service's HTTP port ${httpPort}`, `give metrics: { port: <another port> } (e.g. ${httpPort === DEFAULT_METRICS_PORT ? 9101 : DEFAULT_METRICS_PORT}), or change port`);
  }
  for (const [name, p] of Object.entries(props.additionalPorts ?? {})) {
    if (name === METRICS_PORT_NAME) {
      throw new PyfleetError(where, 'additionalPorts names a port "metrics", which pyfleet declares for the generated metrics endpoint', 'choose the port with metrics: { port } instead, or set metrics: false to serve metrics yourself');
    }
    if (p === port) {
      throw new PyfleetError(where, `the metrics port ${port} clashes with additional port "${name}" (${p})`, `give metrics: { port: <another port> }, or move "${name}"`);
    }
  }
  return port;
}

/** Refuses env values that are not strings or EnvValues, naming the construct path and the variable. */
function checkEnv(where: string, env: Record<string, EnvInput> | undefined): void {
  for (const [k, v] of Object.entries(env ?? {})) toEnvValue(v, where, k);
}

function checkPackages(where: string, file: string, req: RequirementsInfo, kind: PythonAppKind): void {
  const needed = ['gunicorn', workerProfile(kind.workerClass)?.needs].filter((x): x is string => !!x);
  for (const pkg of needed) {
    if (!req.packages.has(pkg)) {
      const why = pkg === 'gunicorn' ? 'the image runs gunicorn' : `the ${kind.workerClass} worker class needs it`;
      throw new PyfleetError(where, `${file} does not list "${pkg}", but ${why}`, `add a pinned "${pkg}" line to ${file}, e.g. "${pkg}==<version>"`);
    }
  }
}

function checkBaseImage(where: string, baseImage?: string, pythonVersion?: string): string {
  if (baseImage !== undefined) {
    if (pythonVersion !== undefined) {
      throw new PyfleetError(where, 'both baseImage and pythonVersion were given', 'give one: pythonVersion picks the official slim image, baseImage replaces it');
    }
    try {
      return ContainerImage.fromRegistry(baseImage).reference!;
    } catch (e) {
      if (e instanceof PyfleetError) throw new PyfleetError(where, `baseImage: ${e.problem}`, e.fix);
      throw e;
    }
  }
  const version = pythonVersion ?? DEFAULT_PYTHON_VERSION;
  const m = /^3\.(\d+)\.(\d+)$/.exec(version);
  if (!m) {
    throw new PyfleetError(where, `pythonVersion "${version}" is not a full 3.x.y version, so the base image would not be pinned`, `give e.g. "${DEFAULT_PYTHON_VERSION}"`);
  }
  if (Number(m[1]) < 9) {
    throw new PyfleetError(where, `Python ${version} is too old for current gunicorn, Flask and FastAPI`, `use ${DEFAULT_PYTHON_VERSION} or later`);
  }
  return `python:${version}-slim-${DEFAULT_DEBIAN_RELEASE}`;
}

function checkIndexUrl(where: string, url?: string): string | undefined {
  if (url === undefined) return undefined;
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    throw new PyfleetError(where, `packageIndexUrl "${url}" is not a URL`, 'give e.g. "https://pypi.example.com/simple"');
  }
  if (u.protocol !== 'https:' && u.protocol !== 'http:') {
    throw new PyfleetError(where, `packageIndexUrl "${url}" is not an http(s) URL`, 'give e.g. "https://pypi.example.com/simple"');
  }
  if (/\s/.test(url)) throw new PyfleetError(where, 'packageIndexUrl contains spaces', 'percent-encode them');
  return url;
}

function checkCount(where: string, what: string, n: number, min: number, max: number): void {
  if (!Number.isInteger(n) || n < min || n > max) {
    throw new PyfleetError(where, `${what} ${n} is not valid`, `give a whole number from ${min} to ${max}`);
  }
}

function checkSeconds(where: string, what: string, d: Duration, minS: number, maxS: number): void {
  if (!(d instanceof Duration)) {
    throw new PyfleetError(where, `${what} must be a Duration`, `use e.g. Duration.seconds(${minS * 30})`);
  }
  if (d.millis < minS * 1000 || d.millis > maxS * 1000) {
    throw new PyfleetError(where, `${what} ${d} is out of range`, `give from ${minS} s to ${maxS} s (gunicorn counts whole seconds)`);
  }
  if (d.millis % 1000 !== 0) {
    throw new PyfleetError(where, `${what} ${d} is not a whole number of seconds, which gunicorn needs`, `use Duration.seconds(${Math.ceil(d.seconds)})`);
  }
}

function checkWorkersEnv(where: string, v: EnvValue): void {
  if (v.secret) return;
  if (!/^[1-9]\d{0,2}$/.test(v.value ?? '')) {
    throw new PyfleetError(where, `${WORKERS_ENV}="${v.value}" is not a worker count`, `give a whole number from 1 to 999, or leave ${WORKERS_ENV} unset to size workers from the CPU limit`);
  }
}

function checkSettings(where: string, settings: Record<string, GunicornSettingValue>): Record<string, GunicornSettingValue> {
  const out: Record<string, GunicornSettingValue> = {};
  for (const key of Object.keys(settings).sort()) {
    if (!/^[a-z_][a-z0-9_]*$/.test(key)) {
      throw new PyfleetError(where, `gunicornSettings key "${key}" is not a gunicorn setting name`, 'use the names of gunicorn.conf.py, e.g. "forwarded_allow_ips"');
    }
    if (key in MANAGED_SETTINGS) {
      throw new PyfleetError(where, `gunicornSettings sets "${key}", which pyfleet manages`, `use the prop ${MANAGED_SETTINGS[key]} instead`);
    }
    const v = settings[key];
    const ok = (x: unknown): boolean => x === null || typeof x === 'string' || typeof x === 'boolean' || (typeof x === 'number' && Number.isFinite(x));
    if (!(ok(v) || (Array.isArray(v) && v.every((x) => x !== null && ok(x))))) {
      throw new PyfleetError(where, `gunicornSettings "${key}" has a value that cannot be written to gunicorn.conf.py`, 'give a string, number, boolean, null or a list of those');
    }
    out[key] = v;
  }
  return out;
}

/** The user's health check, probed from inside the container with the image's Python (slim has no curl). */
function withPythonCommand(hc: HealthCheck, servicePort: number): HealthCheck {
  if (!hc.enabled || hc.composeCommand) return hc;
  return HealthCheck.http(hc.path!, {
    port: hc.port,
    interval: hc.interval,
    timeout: hc.timeout,
    failureThreshold: hc.failureThreshold,
    startPeriod: hc.startPeriod,
    composeCommand: hc.port === undefined
      ? pythonListenPortHealthCommand(servicePort, hc.path!, hc.timeout.wholeSeconds)
      : pythonHealthCommand(`http://127.0.0.1:${hc.port}${hc.path}`, hc.timeout.wholeSeconds),
  });
}

/**
 * The health command of a check on the service port: it requests the port $PYFLEET_LISTEN_PORT names
 * when set (a release slot in compose host mode), else the service port, as gunicorn.conf.py binds.
 */
export function pythonListenPortHealthCommand(port: number, pathName: string, timeoutSeconds: number): string[] {
  return ['python', '-c', `import os, urllib.request; urllib.request.urlopen("http://127.0.0.1:%s" % (os.environ.get("${LISTEN_PORT_ENV}") or "${port}") + ${JSON.stringify(pathName)}, timeout=${timeoutSeconds})`];
}

/** An exec-form command that exits 0 when `url` answers 2xx/3xx: Python's urllib, no curl needed. */
export function pythonHealthCommand(url: string, timeoutSeconds: number): string[] {
  return ['python', '-c', `import urllib.request; urllib.request.urlopen(${JSON.stringify(url)}, timeout=${timeoutSeconds})`];
}

/** The recipe's `volumeDirectories`: the disk volumes' mount paths, or nothing when there are none. */
function volumeDirectories(app: MicroService): { volumeDirectories?: string[] } {
  const dirs = app.volumes.filter((v) => v.kind === 'persistent' || v.medium === 'disk').map((v) => v.mountPath).sort();
  return dirs.length > 0 ? { volumeDirectories: dirs } : {};
}
