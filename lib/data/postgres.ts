import { Construct } from 'constructs';
import { PyfleetError } from '../core/errors';
import { Cpu, Size } from '../core/units';
import { checkSettings, checkVersion, DataStore, DataStoreEngine, DataStoreKind, DataStoreProps } from './base';

/** The PostgreSQL version pyfleet runs by default (`postgres:<version>-bookworm`). */
export const DEFAULT_POSTGRES_VERSION = '17.2';

/** Properties of a Postgres backing service. */
export interface PostgresProps extends DataStoreProps {
  /**
   * PostgreSQL version: the official image `postgres:<version>-bookworm` (a pinned minor version).
   * @default '17.2'
   */
  readonly version?: string;
  /**
   * Name of the database the image creates at first start (`POSTGRES_DB`), and the path of the URL.
   * @default - the store's name with `-` as `_` (`orders-db` -> `orders_db`)
   */
  readonly database?: string;
  /**
   * The database user the image creates (`POSTGRES_USER`), owner of the database; callers connect as it.
   * @default - the database name
   */
  readonly user?: string;
  /**
   * Server parameters, passed as `postgres -c name=value` (e.g. `{ max_connections: '50' }`).
   * @default - none (the image's defaults)
   */
  readonly settings?: Record<string, string>;
}

const IDENTIFIER = /^[a-z_][a-z0-9_]{0,62}$/;

/**
 * A PostgreSQL database: a StatefulSet with a volume claim on Kubernetes, a service with a named
 * volume on compose, the official image run as its own `postgres` user (UID 999). Callers that list it
 * in `calls` get `<NAME>_URL` (`postgresql://user:password@host:5432/database`) and the parts
 * (`_HOST`, `_PORT`, `_USER`, `_PASSWORD`, `_DB`).
 */
export class Postgres extends DataStore {
  /** The PostgreSQL version. */
  public readonly version: string;
  /** The database name. */
  public readonly database: string;
  /** The database user. */
  public readonly user: string;
  /** Server parameters (`-c name=value`), sorted by name. */
  public readonly settings: Readonly<Record<string, string>>;

  constructor(scope: Construct, id: string, props: PostgresProps = {}) {
    super(scope, id, props, { kind: DataStoreKind.POSTGRES, port: 5432, cpu: Cpu.cores(1), memory: Size.mebibytes(512), storage: Size.gibibytes(10) });
    const path = this.node.path;
    this.version = props.version ?? DEFAULT_POSTGRES_VERSION;
    checkVersion(path, 'Postgres', this.version, DEFAULT_POSTGRES_VERSION);
    this.database = props.database ?? id.replace(/-/g, '_');
    this.user = props.user ?? this.database;
    for (const [what, v] of [['database', this.database], ['user', this.user]]) {
      if (!IDENTIFIER.test(v)) {
        throw new PyfleetError(path, `${what} "${v}" is not a plain PostgreSQL identifier`, 'use lowercase letters, digits and "_", starting with a letter or "_", at most 63 characters (it also goes into the URL unquoted)');
      }
    }
    this.settings = checkSettings(path, props.settings ?? {});
    if ('listen_addresses' in this.settings || 'port' in this.settings) {
      throw new PyfleetError(path, 'settings sets listen_addresses or port, which pyfleet sets for each target', 'remove it; set the port with the `port` prop');
    }
  }

  /** @internal */
  public _engine(): DataStoreEngine {
    const args = ['postgres', '-c', `port=${this.port}`];
    for (const [k, v] of Object.entries(this.settings)) args.push('-c', `${k}=${v}`);
    return {
      image: `postgres:${this.version}-bookworm`,
      portName: 'postgres',
      // A subdirectory: the root of a fresh volume holds lost+found, and initdb wants an empty directory.
      dataPath: '/var/lib/postgresql/data',
      scratchPaths: ['/tmp', '/var/run/postgresql'],
      runAsUser: 999,
      user: this.user,
      database: this.database,
      env: [
        { name: 'PGDATA', value: '/var/lib/postgresql/data/pgdata' },
        { name: 'POSTGRES_DB', value: this.database },
        { name: 'POSTGRES_USER', value: this.user },
        { name: 'POSTGRES_PASSWORD', password: true },
      ],
      args,
      loopbackArgs: ['-c', 'listen_addresses=127.0.0.1'],
      // SIGTERM is PostgreSQL's "smart" shutdown, which waits for every client (a pool never leaves);
      // SIGINT is the fast one (the official image's STOPSIGNAL).
      stopSignal: 'SIGINT',
      preStop: ['pg_ctl', 'stop', '-D', '/var/lib/postgresql/data/pgdata', '-m', 'fast', '-w', '-t', '50'],
      settings: { ...this.settings },
      // Over TCP: during initdb the image's temporary server listens on the socket only, so the check
      // turns healthy only once the real server accepts connections.
      healthCommand: ['pg_isready', '-q', '-h', '127.0.0.1', '-p', String(this.port), '-U', this.user, '-d', this.database],
      startPeriodMs: 30_000,
      urlScheme: 'postgresql',
      urlUser: this.user,
      component: 'database',
    };
  }

  /** @internal The official image reads `POSTGRES_PASSWORD_FILE` at first start; pg_isready needs no password. */
  public _passwordFileEngine(file: string): Pick<DataStoreEngine, 'env' | 'args' | 'healthCommand'> {
    const e = this._engine();
    return {
      env: e.env.map((x) => (x.password ? { name: 'POSTGRES_PASSWORD_FILE', value: file } : x)),
      args: e.args,
      healthCommand: e.healthCommand,
    };
  }
}
