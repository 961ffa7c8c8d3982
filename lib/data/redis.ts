import { Construct } from 'constructs';
import { PyfleetError } from '../core/errors';
import { Cpu, Size } from '../core/units';
import { checkSettings, checkVersion, DataStore, DataStoreEngine, DataStoreKind, DataStoreProps } from './base';

/** The Redis version pyfleet runs by default (`redis:<version>-bookworm`). */
export const DEFAULT_REDIS_VERSION = '7.4.1';

/** What a Redis holds, which decides its persistence and eviction. */
export enum RedisMode {
  /**
   * A cache: `maxmemory` with an eviction policy (`allkeys-lru` by default), no persistence (no RDB
   * snapshots, no append-only file) and no volume. Its content is lost on restart.
   */
  CACHE = 'cache',
  /**
   * A store: the append-only file (`appendonly yes`, `appendfsync everysec`) on a persistent volume,
   * and no eviction (`noeviction`: writes fail when `maxMemory` is reached, keys are never dropped).
   */
  STORE = 'store',
}

/** Redis eviction policies (`maxmemory-policy`). */
export enum RedisEvictionPolicy {
  /** Evict the least recently used keys (any key). */
  ALLKEYS_LRU = 'allkeys-lru',
  /** Evict the least frequently used keys (any key). */
  ALLKEYS_LFU = 'allkeys-lfu',
  /** Evict random keys. */
  ALLKEYS_RANDOM = 'allkeys-random',
  /** Evict the least recently used keys that have an expiry. */
  VOLATILE_LRU = 'volatile-lru',
  /** Evict the least frequently used keys that have an expiry. */
  VOLATILE_LFU = 'volatile-lfu',
  /** Evict keys with an expiry, the nearest expiry first. */
  VOLATILE_TTL = 'volatile-ttl',
  /** Evict random keys that have an expiry. */
  VOLATILE_RANDOM = 'volatile-random',
  /** Never evict: writes fail at maxmemory. */
  NOEVICTION = 'noeviction',
}

/** Properties of a Redis backing service. */
export interface RedisProps extends DataStoreProps {
  /**
   * Redis version: the official image `redis:<version>-bookworm` (a pinned version).
   * @default '7.4.1'
   */
  readonly version?: string;
  /**
   * Cache (eviction, no persistence, no volume) or store (append-only file on a volume).
   * @default RedisMode.CACHE
   */
  readonly mode?: RedisMode;
  /**
   * `maxmemory`: the most memory Redis uses for data. It must stay below the container's memory limit
   * (Redis needs memory beyond its data for buffers and, in store mode, for rewriting the AOF).
   * @default - cache: three quarters of the memory limit (192 MiB of the default 256 MiB); store: unset (no limit but the container's)
   */
  readonly maxMemory?: Size;
  /**
   * `maxmemory-policy`: what Redis does at `maxMemory`.
   * @default - cache: RedisEvictionPolicy.ALLKEYS_LRU; store: RedisEvictionPolicy.NOEVICTION
   */
  readonly evictionPolicy?: RedisEvictionPolicy;
  /**
   * Further configuration directives, passed as `--name value` (e.g. `{ 'maxmemory-samples': '10' }`).
   * @default - none
   */
  readonly settings?: Record<string, string>;
}

/** Directives pyfleet sets itself. */
const OWN = ['port', 'bind', 'requirepass', 'dir', 'save', 'appendonly', 'appendfsync', 'maxmemory', 'maxmemory-policy', 'protected-mode'];

/**
 * A Redis: a cache (default) or a store, the official image run as its own `redis` user (UID 999).
 * Callers that list it in `calls` get `<NAME>_URL` (`redis://:password@host:6379/0`) and the parts
 * (`_HOST`, `_PORT`, `_PASSWORD`, `_DB`).
 */
export class Redis extends DataStore {
  /** The Redis version. */
  public readonly version: string;
  /** Cache or store. */
  public readonly mode: RedisMode;
  /** `maxmemory`, or undefined for none. */
  public readonly maxMemory?: Size;
  /** `maxmemory-policy`. */
  public readonly evictionPolicy: RedisEvictionPolicy;
  /** Further directives, sorted by name. */
  public readonly settings: Readonly<Record<string, string>>;

  constructor(scope: Construct, id: string, props: RedisProps = {}) {
    const mode = props.mode ?? RedisMode.CACHE;
    if (mode !== RedisMode.CACHE && mode !== RedisMode.STORE) {
      throw new PyfleetError(`${scope.node.path}/${id}`, `mode "${String(mode)}" is not a Redis mode`, 'use RedisMode.CACHE or RedisMode.STORE');
    }
    if (mode === RedisMode.CACHE && props.storage !== undefined) {
      throw new PyfleetError(`${scope.node.path}/${id}`, 'storage was given for a Redis cache, which keeps nothing on disk', 'leave storage out, or use mode: RedisMode.STORE for data that must survive a restart');
    }
    super(scope, id, props, { kind: DataStoreKind.REDIS, port: 6379, cpu: Cpu.millis(500), memory: Size.mebibytes(256), storage: mode === RedisMode.STORE ? Size.gibibytes(1) : undefined });
    const path = this.node.path;
    this.mode = mode;
    this.version = props.version ?? DEFAULT_REDIS_VERSION;
    checkVersion(path, 'Redis', this.version, DEFAULT_REDIS_VERSION);
    if (props.maxMemory !== undefined && !(props.maxMemory instanceof Size)) {
      throw new PyfleetError(path, 'maxMemory must be a Size', 'use e.g. Size.mebibytes(192)');
    }
    this.maxMemory = props.maxMemory ?? (mode === RedisMode.CACHE ? Size.mebibytes(Math.floor(this.memoryLimit.mebibytes * 0.75)) : undefined);
    if (this.maxMemory !== undefined && this.maxMemory.bytes >= this.memoryLimit.bytes) {
      throw new PyfleetError(path, `maxMemory ${this.maxMemory.toKubernetes()} is not below the container's memory limit ${this.memoryLimit.toKubernetes()}: Redis needs memory beyond its data, and the container would be killed before Redis evicts (or refuses writes)`,
        `give maxMemory at most about three quarters of the limit (e.g. Size.mebibytes(${Math.floor(this.memoryLimit.mebibytes * 0.75)})), or raise memory`);
    }
    this.evictionPolicy = props.evictionPolicy ?? (mode === RedisMode.CACHE ? RedisEvictionPolicy.ALLKEYS_LRU : RedisEvictionPolicy.NOEVICTION);
    if (!Object.values(RedisEvictionPolicy).includes(this.evictionPolicy)) {
      throw new PyfleetError(path, `evictionPolicy "${String(this.evictionPolicy)}" is not a Redis eviction policy`, 'use a RedisEvictionPolicy value, e.g. RedisEvictionPolicy.ALLKEYS_LRU');
    }
    this.settings = checkSettings(path, props.settings ?? {});
    const own = Object.keys(this.settings).filter((k) => OWN.includes(k));
    if (own.length > 0) {
      throw new PyfleetError(path, `settings sets ${own.join(', ')}, which pyfleet sets from the props`, 'use the props (port, mode, maxMemory, evictionPolicy) instead');
    }
  }

  /** @internal */
  public _engine(): DataStoreEngine {
    const args = ['redis-server', '--port', String(this.port), '--requirepass', '$(REDIS_PASSWORD)', '--dir', '/data'];
    if (this.mode === RedisMode.CACHE) args.push('--save', '', '--appendonly', 'no');
    else args.push('--save', '', '--appendonly', 'yes', '--appendfsync', 'everysec');
    if (this.maxMemory) args.push('--maxmemory', redisBytes(this.maxMemory));
    args.push('--maxmemory-policy', this.evictionPolicy);
    for (const [k, v] of Object.entries(this.settings)) args.push(`--${k}`, v);
    return {
      image: `redis:${this.version}-bookworm`,
      portName: 'redis',
      dataPath: '/data',
      scratchPaths: ['/tmp'],
      runAsUser: 999,
      user: undefined,
      database: '0',
      env: [
        { name: 'REDIS_PASSWORD', password: true },
        // redis-cli reads the password from REDISCLI_AUTH, so the health check passes none on its command line.
        { name: 'REDISCLI_AUTH', password: true },
      ],
      args,
      loopbackArgs: ['--bind', '127.0.0.1'],
      // SIGTERM: Redis flushes the append-only file and exits.
      stopSignal: 'SIGTERM',
      preStop: undefined,
      settings: { ...this.settings },
      redisMode: this.mode,
      maxMemoryBytes: this.maxMemory?.bytes,
      maxMemoryPolicy: this.evictionPolicy,
      healthCommand: ['sh', '-c', `redis-cli -p ${this.port} ping | grep -q PONG`],
      startPeriodMs: this.mode === RedisMode.STORE ? 30_000 : 10_000,
      urlScheme: 'redis',
      urlUser: '',
      component: this.mode === RedisMode.CACHE ? 'cache' : 'database',
    };
  }

  /**
   * @internal Redis has no `_FILE` variable: a `sh -c` reads the file and passes `requirepass` to
   * `redis-server` as configuration on stdin (`-`, a here-document), then execs it (it stays PID 1 and
   * gets the stop signal). The password is in no argument (`docker inspect` and the process list show
   * `redis-server --port ... -`), only in the server's memory. The health check reads the file into
   * `REDISCLI_AUTH`, the environment of redis-cli alone.
   */
  public _passwordFileEngine(file: string): Pick<DataStoreEngine, 'env' | 'args' | 'healthCommand'> {
    const e = this._engine();
    const at = e.args.indexOf('--requirepass');
    const args = [...e.args.slice(0, at), ...e.args.slice(at + 2)];
    return {
      env: [],
      args: ['sh', '-c', `P="$(cat ${file})" && exec "$@" - <<EOF\nrequirepass $P\nEOF`, 'sh', ...args],
      healthCommand: ['sh', '-c', `REDISCLI_AUTH="$(cat ${file})" redis-cli -p ${this.port} ping | grep -q PONG`],
    };
  }
}

/** A memory size as Redis reads it: `<n>mb` for whole MiB (Redis' `mb` is 1024²), else bytes. */
function redisBytes(size: Size): string {
  return size.bytes % (1024 * 1024) === 0 ? `${size.bytes / 1024 / 1024}mb` : String(size.bytes);
}
