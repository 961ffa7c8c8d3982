import { Construct } from 'constructs';
import { PyfleetError } from '../core/errors';
import { checkDns1035Label, checkDnsSubdomain, checkPort, envPrefix } from '../core/names';
import { Stack } from '../core/stack';
import { checkResources, Cpu, Duration, Size } from '../core/units';
import type { DataStoreModel } from '../model/stack';

// The shared part of pyfleet's backing services (Postgres, Redis): a named, stateful container of an
// official image, with its data on a volume, its password in a Secret that no output contains, a
// health check with the engine's own tool, and callers that reach it through `calls: [store]`.
// Like every construct it knows nothing of YAML or compose: lib/data/resolve.ts turns it into the
// `DataStoreModel` the targets read.

/** Which engine a backing service runs. */
export enum DataStoreKind {
  /** PostgreSQL (the official `postgres` image). */
  POSTGRES = 'postgres',
  /** Redis (the official `redis` image). */
  REDIS = 'redis',
}

/** Properties every backing service takes. */
export interface DataStoreProps {
  /**
   * Size of the persistent volume that holds the data (a PersistentVolumeClaim on Kubernetes, a named
   * volume on compose). Kubernetes takes a whole number of MiB, from 1 MiB to 64 TiB.
   * @default - Postgres: Size.gibibytes(10); Redis as a store: Size.gibibytes(1); Redis as a cache: no volume
   */
  readonly storage?: Size;
  /**
   * CPU limit of the container.
   * @default - Postgres: Cpu.cores(1); Redis: Cpu.millis(500)
   */
  readonly cpu?: Cpu;
  /**
   * CPU request of the container.
   * @default - the CPU limit
   */
  readonly cpuRequest?: Cpu;
  /**
   * Memory limit of the container; the engine is killed above it.
   * @default - Postgres: Size.mebibytes(512); Redis: Size.mebibytes(256)
   */
  readonly memory?: Size;
  /**
   * Memory request of the container.
   * @default - the memory limit
   */
  readonly memoryRequest?: Size;
  /**
   * Name of the Secret (Kubernetes) that holds the password under the key `password`. The manifests
   * reference it and never contain it: create it once (`kubectl create secret generic <name>
   * --from-literal=password=...`, the synth note gives the command), or name a Secret you already have.
   * `pyfleet/pulumi` creates it with a random password. On compose the password comes from the deploying
   * shell's variable `<NAME>_PASSWORD` (the secret name upper-cased, `-` and `.` as `_`).
   * @default `<name>-credentials`
   */
  readonly credentialsSecret?: string;
  /**
   * The TCP port the engine listens on (also its port on the compose host in host network mode).
   * @default - Postgres: 5432; Redis: 6379
   */
  readonly port?: number;
  /**
   * How often the health check runs (the engine's own tool: `pg_isready`, `redis-cli ping`).
   * @default Duration.seconds(5)
   */
  readonly healthInterval?: Duration;
  /**
   * How the compose target passes the password.
   * @default - from the deploying shell's variable `<NAME>_PASSWORD` (interpolated into the file's environment)
   */
  readonly compose?: DataStoreComposeOptions;
}

/**
 * Compose options of a backing service. By default compose interpolates the password from the
 * deploying shell's variable into the store's and the callers' environment, which `docker inspect`
 * then shows. With `passwordFile` the password stays in a file on the deploying machine, mounted as a
 * compose secret at `/run/secrets/<store>-password` into the store and each caller: no container's
 * configuration holds it.
 */
export interface DataStoreComposeOptions {
  /**
   * Path of a file on the deploying machine that holds the password (compose `secrets.<store>-password.file`;
   * relative paths are relative to the compose file). One line, no whitespace or quotes (hex, as
   * `openssl rand -hex 24` makes); readable by the store's user 999 and the callers' users (outside a
   * swarm compose bind-mounts the file with its own owner and mode, e.g. `chmod 0444`). The store reads it
   * (Postgres: `POSTGRES_PASSWORD_FILE`; Redis: a `sh -c` start that feeds `requirepass` to
   * `redis-server` on stdin), generated Python apps build `<NAME>_PASSWORD` and `<NAME>_URL` from it at
   * start; a caller with an image of your own gets `<NAME>_PASSWORD_FILE` and `<NAME>_URL_TEMPLATE` and must read them.
   * @default - none: the password comes from the deploying shell's variable
   */
  readonly passwordFile?: string;
}

/** What a concrete store (Postgres, Redis) fixes for the base class. */
export interface DataStoreDefaults {
  /** The engine. */
  readonly kind: DataStoreKind;
  /** Default port. */
  readonly port: number;
  /** Default CPU limit. */
  readonly cpu: Cpu;
  /** Default memory limit. */
  readonly memory: Size;
  /** Default volume size, or undefined for none. */
  readonly storage?: Size;
}

const ISDATASTORE = Symbol.for('pyfleet.DataStore');

/** The most storage pyfleet asks a PersistentVolumeClaim for: 64 TiB (the largest block volume the big clouds provision). */
export const MAX_STORAGE_BYTES = 64 * 1024 ** 4;

/**
 * A backing service (database, cache): a stateful container of an official image that services
 * reach through `calls: [store]`. Use {@link Postgres} or {@link Redis}.
 */
export abstract class DataStore extends Construct {
  /**
   * Whether `x` is a DataStore (Postgres, Redis). It checks a brand symbol rather than `instanceof`, so
   * it also holds for a construct made by another copy of pyfleet.
   */
  public static isDataStore(x: unknown): x is DataStore {
    return typeof x === 'object' && x !== null && (x as any)[ISDATASTORE] === true;
  }

  /** The stack this store belongs to. */
  public readonly stack: Stack;
  /** The store's name (its id): DNS name, compose service name, `app` label. */
  public readonly storeName: string;
  /** The engine. */
  public readonly kind: DataStoreKind;
  /** The TCP port the engine listens on. */
  public readonly port: number;
  /** Size of the data volume, or undefined for a store without one (Redis as a cache). */
  public readonly storage?: Size;
  /** CPU limit of the container. */
  public readonly cpuLimit: Cpu;
  /** CPU request of the container. */
  public readonly cpuRequest: Cpu;
  /** Memory limit of the container. */
  public readonly memoryLimit: Size;
  /** Memory request of the container. */
  public readonly memoryRequest: Size;
  /** Name of the Secret holding the password (key `password`). */
  public readonly credentialsSecret: string;
  /** Time between health checks. */
  public readonly healthInterval: Duration;
  /** The password file compose mounts as a secret, if any (`compose.passwordFile`). */
  public readonly composePasswordFile?: string;

  protected constructor(scope: Construct, id: string, props: DataStoreProps, defaults: DataStoreDefaults) {
    const path = scope.node.path ? `${scope.node.path}/${id}` : id;
    const stack = Stack.of(scope);
    checkDns1035Label(path, 'backing service name', id, 50);
    if (stack._hasService(id) || stack.node.findAll().some((c) => DataStore.isDataStore(c) && c.storeName === id)) {
      throw new PyfleetError(path, `stack "${stack.stackName}" already has a service or backing service named "${id}"`, 'give every service and backing service of a stack its own name');
    }
    super(scope, id);
    Object.defineProperty(this, ISDATASTORE, { value: true });
    this.stack = stack;
    this.storeName = id;
    this.kind = defaults.kind;
    this.port = props.port ?? defaults.port;
    checkPort(path, 'port', this.port);
    this.cpuLimit = props.cpu ?? defaults.cpu;
    this.cpuRequest = props.cpuRequest ?? this.cpuLimit;
    this.memoryLimit = props.memory ?? defaults.memory;
    this.memoryRequest = props.memoryRequest ?? this.memoryLimit;
    checkResources(path, this.cpuLimit, this.cpuRequest, this.memoryLimit, this.memoryRequest);
    this.storage = props.storage ?? defaults.storage;
    if (this.storage !== undefined) checkStorage(path, this.storage);
    this.credentialsSecret = props.credentialsSecret ?? `${id}-credentials`;
    checkDnsSubdomain(path, 'credentialsSecret', this.credentialsSecret);
    if (!/^[a-z]/.test(this.credentialsSecret)) {
      throw new PyfleetError(path, `credentialsSecret "${this.credentialsSecret}" starts with a digit, so compose could not read it from a shell variable`, `rename it to start with a letter, e.g. "s-${this.credentialsSecret}"`);
    }
    this.healthInterval = props.healthInterval ?? Duration.seconds(5);
    if (!(this.healthInterval instanceof Duration) || this.healthInterval.millis < 1000 || this.healthInterval.millis % 1000 !== 0) {
      throw new PyfleetError(path, 'healthInterval must be a whole number of seconds, at least one', 'use e.g. Duration.seconds(5)');
    }
    const file = props.compose?.passwordFile;
    if (file !== undefined && (typeof file !== 'string' || file === '' || /[\s$'"\\]/.test(file))) {
      throw new PyfleetError(path, `compose.passwordFile "${String(file)}" is not a usable file path`, 'give the path of the password file on the machine that runs compose, without whitespace, quotes, "\\" or "$"');
    }
    this.composePasswordFile = file;
  }

  /**
   * @internal The engine's compose variant with the password read from a mounted file: its
   * environment, arguments (the image's command) and health command, none of which holds the password.
   */
  public abstract _passwordFileEngine(file: string): Pick<DataStoreEngine, 'env' | 'args' | 'healthCommand'>;

  /** @internal what the engine contributes to its model (image, arguments, environment, health command). */
  public abstract _engine(): DataStoreEngine;

  /**
   * The synth note of every backing service: its Kubernetes Secret is referenced, never contained, so
   * it must exist before the manifests are applied; the command creates it with a random URL-safe
   * password (hex: it goes into `<NAME>_URL` as it is).
   * @internal
   */
  public _synthWarnings(): string[] {
    const variable = `${this.credentialsSecret}_password`.toUpperCase().replace(/[^A-Z0-9]/g, '_');
    return [`the Kubernetes manifests reference the Secret "${this.credentialsSecret}" (key "password") and do not contain it: create it once before applying them, ` +
      `e.g. kubectl create secret generic ${this.credentialsSecret} -n ${this.stack.namespaceName} --from-literal=password="$(openssl rand -hex 24)". ` +
      (this.composePasswordFile !== undefined ? `Compose reads the password from the file ${this.composePasswordFile} (a compose secret); pyfleet/pulumi creates the Secret itself`
        : `Compose reads the password from the deploying shell's ${variable}; pyfleet/pulumi creates the Secret itself`)];
  }

  /** Prefix of the variables injected into callers: `orders-db` -> `ORDERS_DB`. */
  public get envPrefix(): string {
    return envPrefix(this.storeName);
  }

  /** Name of the variable that carries the connection URL into callers: `ORDERS_DB_URL`. */
  public get urlVariable(): string {
    return `${this.envPrefix}_URL`;
  }
}

/** Throws unless a storage size is one that every target takes. */
export function checkStorage(path: string, storage: Size): void {
  if (!(storage instanceof Size)) {
    throw new PyfleetError(path, 'storage must be a Size', 'use e.g. Size.gibibytes(10)');
  }
  if (storage.bytes % (1024 * 1024) !== 0) {
    throw new PyfleetError(path, `storage ${storage.bytes} bytes is not a whole number of MiB, which volume provisioners round in ways that differ (a claim could get more or less than asked)`,
      `give a whole number of MiB, e.g. Size.mebibytes(${Math.max(1, Math.ceil(storage.bytes / 1024 ** 2))})`);
  }
  if (storage.bytes > MAX_STORAGE_BYTES) {
    throw new PyfleetError(path, `storage ${storage.toKubernetes()} is above 64Ti, the largest volume the big clouds' block storage provisions (a claim for it would stay Pending)`,
      'give at most Size.gibibytes(65536), or split the data');
  }
}

/** @internal The engine-specific part of a {@link DataStoreModel}. */
export type DataStoreEngine = Pick<DataStoreModel, 'image' | 'portName' | 'dataPath' | 'scratchPaths' | 'runAsUser' | 'user' | 'database' | 'env' | 'args' | 'loopbackArgs' | 'settings' | 'redisMode' | 'maxMemoryBytes' | 'maxMemoryPolicy' | 'stopSignal' | 'preStop'> & {
  /** The health command in exec form. */
  readonly healthCommand: readonly string[];
  /** Health start period, in milliseconds. */
  readonly startPeriodMs: number;
  /** The URL of a caller's connection: scheme and user part before the password, then `@host:port/database`. */
  readonly urlScheme: string;
  /** The user part of the URL (empty for Redis' default user). */
  readonly urlUser: string;
  /** `<NAME>_COMPONENT` label value: `database` or `cache`. */
  readonly component: string;
};

const SETTING_NAME = /^[a-z][a-z0-9_.-]*$/;

/** Throws unless engine settings are names and one-line values. */
export function checkSettings(path: string, settings: Readonly<Record<string, string>>): Record<string, string> {
  const out: Record<string, string> = {};
  for (const k of Object.keys(settings).sort()) {
    const v = settings[k];
    if (!SETTING_NAME.test(k)) throw new PyfleetError(path, `engine setting "${k}" is not a setting name`, 'use the engine\'s own lowercase name, e.g. "max_connections" or "maxmemory-samples"');
    if (typeof v !== 'string' || /[\n\r\0]/.test(v)) throw new PyfleetError(path, `engine setting "${k}" must be a one-line string`, `give it as a string, e.g. { "${k}": "100" }`);
    out[k] = v;
  }
  return out;
}

/** Throws unless a version is a pinned `major.minor` or `major.minor.patch`. */
export function checkVersion(path: string, engine: string, version: string, example: string): void {
  if (typeof version !== 'string' || !/^\d+\.\d+(\.\d+)?$/.test(version)) {
    throw new PyfleetError(path, `${engine} version "${version}" is not a pinned version`, `give the minor (or patch) version, e.g. "${example}": the image is the official \`${engine.toLowerCase()}:<version>-bookworm\``);
  }
}
