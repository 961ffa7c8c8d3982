import * as fs from 'fs';
import * as path from 'path';
import { Construct } from 'constructs';
import { PyfleetError } from '../core/errors';
import { Duration } from '../core/units';
import { checkPort } from '../core/names';
import { DEFAULT_DEBIAN_RELEASE, DEFAULT_METRICS_PORT, DEFAULT_PYTHON_VERSION, PROMETHEUS_CLIENT_REQUIREMENT } from '../python/base';
import { readRequirements, RequirementsInfo } from '../python/requirements';
import { WorkerSizing, workersFor } from '../python/workers';
import { listSourceFiles } from '../service/asset';
import type { BuildRecipe } from '../service/build';
import { ContainerImage } from '../service/image';
import { DataStoreKind } from '../data/base';
import { Worker, WorkerHealthCheck, WorkerProps } from './worker';

/** The environment variable Celery reads its broker URL from (Celery's own `CELERY_BROKER_URL`). */
export const CELERY_BROKER_ENV = 'CELERY_BROKER_URL';

/** The generated module a Celery worker with metrics runs as its app (`celery -A pyfleet_celery:app`): it imports the user's app and adds the metrics signal handlers. */
export const CELERY_WRAPPER_FILE = 'pyfleet_celery.py';
/** Container port of a Celery worker's metrics endpoint unless `metrics: { port }` moves it (the web apps' default too). */
export const DEFAULT_CELERY_METRICS_PORT = DEFAULT_METRICS_PORT;

/** Where a Celery worker serves its Prometheus metrics. */
export interface CeleryMetricsOptions {
  /**
   * Container port of the metrics endpoint (`/metrics`), served by the worker's main process. Never
   * published; on Kubernetes the container port named `metrics`.
   * @default 9100
   */
  readonly port?: number;
}

/**
 * How many prefork processes a Celery worker gets for its CPU limit: 2 per core (tasks mostly wait
 * on I/O: a database, an HTTP call, a mail server), at least 2 (one long task does not stall the
 * queue), at most 16, as `ceil(2 x cores)` clamped; the same rule as gunicorn's workers (lib/python/workers.ts).
 */
export const CELERY_SIZING: WorkerSizing = Object.freeze({ perCore: 2, extra: 0, min: 2, max: 16 });

/** What the image of a Celery worker is made of: the image generator turns it into a Dockerfile and a .dockerignore. */
export interface CeleryWorkerRecipe extends BuildRecipe {
  /** `python-celery`. */
  readonly kind: 'python-celery';
  /** Construct path (for comments). */
  readonly constructPath: string;
  /** Worker name (OCI title). */
  readonly workerName: string;
  /** Pinned base image with Python. */
  readonly baseImage: string;
  /** Requirements files to copy, the main one first. */
  readonly requirementsFiles: readonly string[];
  /** The Celery app, `module:attribute`. */
  readonly app: string;
  /** Non-root UID and GID. */
  readonly uid: number;
  /** The worker command the image runs (exec form, Celery as PID 1). */
  readonly command: readonly string[];
  /** The metrics endpoint (the generated `pyfleet_celery.py` wraps the app), or undefined when metrics are off. */
  readonly metrics?: {
    /** Default metrics port (`PYFLEET_METRICS_PORT` overrides it at run time). */
    readonly port: number;
  };
  /** Pinned requirements the generated files need beside the user's (pyfleet-requirements.txt). */
  readonly extraRequirements: readonly string[];
  /** The health check command the image declares (HEALTHCHECK), if any. */
  readonly healthCheck?: {
    /** Exec-form command. */
    readonly command: readonly string[];
    /** Seconds between checks. */
    readonly intervalSeconds: number;
    /** Seconds one check may take. */
    readonly timeoutSeconds: number;
    /** Seconds after start during which failures do not count. */
    readonly startPeriodSeconds: number;
    /** Consecutive failures before unhealthy. */
    readonly retries: number;
  };
}

/** Properties of a CeleryWorker. */
export interface CeleryWorkerProps extends Omit<WorkerProps, 'image' | 'command' | 'args'> {
  /**
   * Directory of the worker's source (absolute, or relative to the working directory): the module
   * holding the Celery app and the requirements file. Often the web service's own source.
   */
  readonly source: string;
  /**
   * The Celery app, `module:attribute`, importable from the source root (`celery -A <app> worker`).
   * @default 'tasks:celery'
   */
  readonly app?: string;
  /**
   * The pip requirements file, relative to `source`; it must list `celery`.
   * @default 'requirements.txt'
   */
  readonly requirements?: string;
  /**
   * Python version of the base image `python:<version>-slim-bookworm` (a full `3.x.y`).
   * @default '3.12.8'
   */
  readonly pythonVersion?: string;
  /**
   * Base image instead of the official slim one (pinned).
   * @default - `python:<pythonVersion>-slim-bookworm`
   */
  readonly baseImage?: string;
  /**
   * Package index pip installs from at build time (the build argument `PIP_INDEX_URL`, builder stage only).
   * @default - pip's default (PyPI)
   */
  readonly packageIndexUrl?: string;
  /**
   * Prefork processes (`--concurrency`), fixed.
   * @default - sized from the CPU limit: ceil(2 x cores), from 2 to 16
   */
  readonly concurrency?: number;
  /**
   * The longest a task may run (Celery's hard `--time-limit`): its process is killed after it. A task
   * running at SIGTERM gets to finish (warm shutdown), so `gracefulShutdown` must be at least this.
   * @default Duration.minutes(5)
   */
  readonly taskTimeLimit?: Duration;
  /**
   * Prometheus metrics of the worker (tasks by name and state, task duration, tasks in progress, pool
   * processes), summed over the prefork pool by prometheus-client's multiprocess mode and served by the
   * worker's main process on a metrics port that is never published. `false` turns them off.
   * @default true (port 9100)
   */
  readonly metrics?: boolean | CeleryMetricsOptions;
}

const APP_RE = /^([A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z_][A-Za-z0-9_]*)*):([A-Za-z_][A-Za-z0-9_]*)$/;

/**
 * A Celery worker with a generated image (the same recipe, Dockerfile stages and non-root defaults as
 * the web apps): `celery -A <app> worker` as PID 1, concurrency sized from the CPU limit, a hard task
 * time limit, `celery inspect ping` against its own node as health check, and a warm shutdown on
 * SIGTERM that lets a running task finish within the grace period. The broker (`CELERY_BROKER_URL`)
 * is the Redis in `calls`, or `CELERY_BROKER_URL` in `env`.
 */
export class CeleryWorker extends Worker {
  /** Absolute source directory. */
  public readonly source: string;
  /** The Celery app, `module:attribute`. */
  public readonly app: string;
  /** Requirements file, relative to the source. */
  public readonly requirementsFile: string;
  /** Pinned base image. */
  public readonly baseImage: string;
  /** Prefork processes. */
  public readonly concurrency: number;
  /** Whether the concurrency was fixed by the user. */
  public readonly fixedConcurrency: boolean;
  /** Hard task time limit. */
  public readonly taskTimeLimit: Duration;
  /** Container port of the metrics endpoint, or undefined when metrics are off. */
  public readonly metricsPort?: number;
  private readonly requirements: RequirementsInfo;

  constructor(scope: Construct, id: string, props: CeleryWorkerProps) {
    const where = scope.node.path ? `${scope.node.path}/${id}` : id;
    if (!props || typeof props.source !== 'string') {
      throw new PyfleetError(where, 'no source directory was given', 'pass source: the folder holding the Celery app module and its requirements.txt');
    }
    const loose = props as unknown as Record<string, unknown>;
    for (const key of ['image', 'command', 'args']) {
      if (loose[key] !== undefined) throw new PyfleetError(where, `CeleryWorker generates its image and command, so \`${key}\` cannot be given`, 'drop it, or use Worker for an image and command of your own');
    }
    const app = props.app ?? 'tasks:celery';
    const m = APP_RE.exec(app);
    if (!m) throw new PyfleetError(where, `app "${app}" is not of the form "module:attribute"`, 'give e.g. "tasks:celery" (the Celery() object in tasks.py)');
    const source = path.resolve(props.source);
    if (!fs.existsSync(source) || !fs.statSync(source).isDirectory()) {
      throw new PyfleetError(where, `the source directory ${source} does not exist`, 'pass the folder holding the Celery app');
    }
    const rel = m[1].split('.').join('/');
    if (![`${rel}.py`, path.join(rel, '__init__.py')].some((f) => fs.existsSync(path.join(source, f)))) {
      throw new PyfleetError(where, `module "${m[1]}" of app "${app}" is not in ${source} (no ${rel}.py or ${rel}/__init__.py)`, 'point `app` at the module that creates the Celery app, or `source` at its folder');
    }
    listSourceFiles(source, where);
    const requirementsFile = props.requirements ?? 'requirements.txt';
    const requirements = readRequirements(where, source, requirementsFile);
    if (!requirements.packages.has('celery')) {
      throw new PyfleetError(where, `${requirementsFile} does not list "celery", but the image runs \`celery worker\``, `add a pinned "celery" line to ${requirementsFile}, e.g. "celery==5.5.3"`);
    }
    const taskTimeLimit = props.taskTimeLimit ?? Duration.minutes(5);
    if (!(taskTimeLimit instanceof Duration) || taskTimeLimit.millis < 1000 || taskTimeLimit.millis % 1000 !== 0) {
      throw new PyfleetError(where, 'taskTimeLimit must be a whole number of seconds, at least 1', 'give e.g. Duration.minutes(5)');
    }
    const baseImage = checkBase(where, props.baseImage, props.pythonVersion);
    const metricsPort = checkMetrics(where, props.metrics);
    const holder: { w?: CeleryWorker } = {};
    const image = ContainerImage._generated(source, () => holder.w!.recipe(), props.packageIndexUrl ? { PIP_INDEX_URL: props.packageIndexUrl } : {});
    const health = props.healthCheck ?? WorkerHealthCheck.command(celeryPingCommand(app), { interval: Duration.seconds(30), timeout: Duration.seconds(10), startPeriod: Duration.seconds(30), failureThreshold: 3 });
    super(scope, id, {
      ...props,
      image,
      healthCheck: health,
      gracefulShutdown: props.gracefulShutdown ?? taskTimeLimit.plus(Duration.seconds(10)),
    });
    holder.w = this;
    this.source = source;
    this.app = app;
    this.requirementsFile = requirementsFile;
    this.requirements = requirements;
    this.baseImage = baseImage;
    this.taskTimeLimit = taskTimeLimit;
    this.metricsPort = metricsPort;
    if (props.concurrency !== undefined && (!Number.isInteger(props.concurrency) || props.concurrency < 1 || props.concurrency > 256)) {
      throw new PyfleetError(this.node.path, `concurrency ${props.concurrency} is not valid`, 'give a whole number from 1 to 256, or leave it out to size it from the CPU limit');
    }
    this.fixedConcurrency = props.concurrency !== undefined;
    this.concurrency = props.concurrency ?? workersFor(CELERY_SIZING, this.cpuLimit.millis);
  }

  /**
   * The worker command: `celery -A <app> worker` with the concurrency and time limit (exec form). With
   * metrics on, the app is the generated wrapper (`pyfleet_celery:app`), which imports the user's app.
   */
  public get workerCommand(): string[] {
    const app = this.metricsPort !== undefined ? `${CELERY_WRAPPER_FILE.replace(/\.py$/, '')}:app` : this.app;
    return ['celery', '-A', app, 'worker', '--loglevel=INFO', `--concurrency=${this.concurrency}`, `--time-limit=${this.taskTimeLimit.wholeSeconds}`, '--hostname=celery@%h'];
  }

  /** The image recipe. */
  public recipe(): CeleryWorkerRecipe {
    const hc = this.healthCheck;
    return {
      kind: 'python-celery',
      constructPath: this.node.path,
      workerName: this.workerName,
      baseImage: this.baseImage,
      requirementsFiles: this.requirements.files,
      app: this.app,
      uid: this.runAsUser,
      command: this.workerCommand,
      metrics: this.metricsPort !== undefined ? { port: this.metricsPort } : undefined,
      extraRequirements: this.metricsPort !== undefined && !this.requirements.packages.has('prometheus-client') ? [PROMETHEUS_CLIENT_REQUIREMENT] : [],
      healthCheck: hc.command ? {
        command: hc.command,
        intervalSeconds: hc.interval.wholeSeconds,
        timeoutSeconds: hc.timeout.wholeSeconds,
        startPeriodSeconds: hc.startPeriod.wholeSeconds,
        retries: hc.failureThreshold,
      } : undefined,
    };
  }

  /** @internal */
  public _problems(): PyfleetError[] {
    const errors: PyfleetError[] = [];
    const redis = this.storeCalls.filter((d) => d.kind === DataStoreKind.REDIS);
    if (redis.length > 1 && !(CELERY_BROKER_ENV in this.env)) {
      errors.push(new PyfleetError(this.node.path, `the Celery worker calls ${redis.length} Redis (${redis.map((d) => d.storeName).join(', ')}), so which one is the broker is ambiguous`,
        `set env: { ${CELERY_BROKER_ENV}: ... } yourself, or call only the broker's Redis`));
    }
    if (redis.length > 0 && CELERY_BROKER_ENV in this.env) {
      errors.push(new PyfleetError(this.node.path, `sets ${CELERY_BROKER_ENV} itself, but calling the Redis "${redis[0].storeName}" injects it with the right address for each target`,
        `remove ${CELERY_BROKER_ENV} from env (or drop the Redis from calls)`));
    }
    if (redis.length === 0 && !(CELERY_BROKER_ENV in this.env)) {
      errors.push(new PyfleetError(this.node.path, `the Celery worker has no broker: neither a Redis in \`calls\` nor ${CELERY_BROKER_ENV} in \`env\``,
        `add the Redis it consumes from to calls (calls: [cache]), or set env: { ${CELERY_BROKER_ENV}: "redis://host:6379/0" }`));
    }
    if (this.gracefulShutdown.millis < this.taskTimeLimit.millis) {
      errors.push(new PyfleetError(this.node.path, `taskTimeLimit ${this.taskTimeLimit} is longer than gracefulShutdown ${this.gracefulShutdown}: a task running at SIGTERM may still be running when the worker is killed, and is cut off`,
        `raise gracefulShutdown to at least Duration.seconds(${this.taskTimeLimit.wholeSeconds + 10}) (or leave it out: it defaults to taskTimeLimit + 10 s), or lower taskTimeLimit`));
    }
    return errors;
  }
}

/**
 * The health check command of a Celery worker: `celery inspect ping` addressed to this node only
 * (`celery@<hostname>`, the name `--hostname=celery@%h` gives it), so one healthy worker does not make
 * a stuck one look healthy. Exits non-zero when the node does not answer within 5 seconds.
 */
export function celeryPingCommand(app: string): string[] {
  return ['sh', '-c', `exec celery -A ${app} inspect ping --destination "celery@$(hostname)" --timeout 5`];
}

function checkMetrics(where: string, m: boolean | CeleryMetricsOptions | undefined): number | undefined {
  if (m === false) return undefined;
  if (m !== undefined && m !== true && (typeof m !== 'object' || m === null)) {
    throw new PyfleetError(where, 'metrics must be true, false or { port }', 'give metrics: false to turn the worker\'s metrics off, or metrics: { port: 9100 }');
  }
  const port = (typeof m === 'object' ? m.port : undefined) ?? DEFAULT_CELERY_METRICS_PORT;
  checkPort(where, 'metrics.port', port);
  return port;
}

function checkBase(where: string, baseImage?: string, pythonVersion?: string): string {
  if (baseImage !== undefined) {
    if (pythonVersion !== undefined) throw new PyfleetError(where, 'both baseImage and pythonVersion were given', 'give one of them');
    return ContainerImage.fromRegistry(baseImage).reference!;
  }
  const version = pythonVersion ?? DEFAULT_PYTHON_VERSION;
  if (!/^3\.(9|[1-9]\d)\.\d+$/.test(version)) {
    throw new PyfleetError(where, `pythonVersion "${version}" is not a full 3.x.y version of Python 3.9 or later`, `give e.g. "${DEFAULT_PYTHON_VERSION}"`);
  }
  return `python:${version}-slim-${DEFAULT_DEBIAN_RELEASE}`;
}
