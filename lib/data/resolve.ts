import { ComposeNetworkMode, Stack } from '../core/stack';
import { hatchesOf } from '../model/hatches';
import type { ConnectionVariable, DataStoreAddress, DataStoreModel } from '../model/stack';
import { DataStore } from './base';

// A backing service construct into its DataStoreModel: the engine's part (image, arguments, health
// command) from the construct, the addresses and callers' connection variables per target here.

/** The backing services of a stack, in construct order. */
export function stackDataStores(stack: Stack): DataStore[] {
  return stack.node.findAll().filter((c): c is DataStore => DataStore.isDataStore(c) && c.stack === stack);
}

/** The shell variable compose reads a secret key from (as for `EnvValue.fromSecret`): `<NAME>_<KEY>` upper-cased. */
export function secretShellVariable(name: string, key: string): string {
  return `${name}_${key}`.toUpperCase().replace(/[^A-Z0-9]/g, '_');
}

/**
 * The variables a caller gets, in definition order: `_HOST`, `_PORT`, `_USER` (Postgres), `_DB`,
 * `_PASSWORD`, then `_URL`, which contains the password and so comes after it.
 */
function connection(prefix: string, address: DataStoreAddress, user: string | undefined, database: string, scheme: string, urlUser: string): ConnectionVariable[] {
  const out: ConnectionVariable[] = [
    { name: `${prefix}_HOST`, value: address.host },
    { name: `${prefix}_PORT`, value: String(address.port) },
  ];
  if (user !== undefined) out.push({ name: `${prefix}_USER`, value: user });
  out.push(
    { name: `${prefix}_DB`, value: database },
    { name: `${prefix}_PASSWORD`, password: true },
    { name: `${prefix}_URL`, url: { before: `${scheme}://${urlUser}:`, after: `@${address.host}:${address.port}/${database}` } },
  );
  return out;
}

/** The placeholder of `<NAME>_URL_TEMPLATE` that the caller replaces with the (percent-encoded) password. */
export const PASSWORD_PLACEHOLDER = '{password}';

/**
 * A caller's variables on compose with a password file: the parts, `_PASSWORD_FILE` (where the secret
 * is mounted) and `_URL_TEMPLATE` (the URL with {@link PASSWORD_PLACEHOLDER}); no password, no URL.
 */
function fileConnection(vars: ConnectionVariable[], prefix: string, mountPath: string): ConnectionVariable[] {
  const out: ConnectionVariable[] = [];
  for (const v of vars) {
    if (v.password) out.push({ name: `${prefix}_PASSWORD_FILE`, value: mountPath });
    else if (v.url) out.push({ name: `${prefix}_URL_TEMPLATE`, value: `${v.url.before}${PASSWORD_PLACEHOLDER}${v.url.after}` });
    else out.push(v);
  }
  return out;
}

/** The model of one backing service; `callers` are the names of the stack's services that call it. */
export function resolveDataStore(store: DataStore, callers: readonly string[]): DataStoreModel {
  const stack = store.stack;
  const e = store._engine();
  const addresses = {
    kubernetes: { host: `${store.storeName}.${stack.namespaceName}.svc.cluster.local`, port: store.port },
    compose: { host: stack.composeNetworkMode === ComposeNetworkMode.HOST ? '127.0.0.1' : store.storeName, port: store.port },
  };
  const prefix = store.envPrefix;
  const secretName = `${store.storeName}-password`;
  const mountPath = `/run/secrets/${secretName}`;
  const fileEngine = store.composePasswordFile !== undefined ? store._passwordFileEngine(mountPath) : undefined;
  const composeConnection = connection(prefix, addresses.compose, e.user, e.database, e.urlScheme, e.urlUser);
  const interval = store.healthInterval.millis;
  return {
    construct: store,
    hatches: hatchesOf(store),
    kind: store.kind,
    path: store.node.path,
    name: store.storeName,
    image: e.image,
    port: store.port,
    portName: e.portName,
    storageBytes: store.storage?.bytes,
    dataPath: e.dataPath,
    scratchPaths: [...e.scratchPaths],
    runAsUser: e.runAsUser,
    user: e.user,
    database: e.database,
    secret: { name: store.credentialsSecret, key: 'password', shellVariable: secretShellVariable(store.credentialsSecret, 'password') },
    resources: {
      cpuLimitMillis: store.cpuLimit.millis,
      cpuRequestMillis: store.cpuRequest.millis,
      memoryLimitMiB: store.memoryLimit.mebibytes,
      memoryRequestMiB: store.memoryRequest.mebibytes,
    },
    health: { command: [...e.healthCommand], intervalMs: interval, timeoutMs: Math.min(interval, 3000), startPeriodMs: e.startPeriodMs, failureThreshold: 5 },
    env: e.env.map((x) => ({ ...x })),
    args: [...e.args],
    loopbackArgs: [...e.loopbackArgs],
    stopSignal: e.stopSignal,
    preStop: e.preStop ? [...e.preStop] : undefined,
    terminationGracePeriodMs: 60_000,
    settings: { ...e.settings },
    redisMode: e.redisMode,
    maxMemoryBytes: e.maxMemoryBytes,
    maxMemoryPolicy: e.maxMemoryPolicy,
    addresses,
    envPrefix: prefix,
    urlVariable: store.urlVariable,
    connection: {
      kubernetes: connection(prefix, addresses.kubernetes, e.user, e.database, e.urlScheme, e.urlUser),
      compose: fileEngine ? fileConnection(composeConnection, prefix, mountPath) : composeConnection,
    },
    labels: {
      ...stack.extraLabels,
      'app': store.storeName,
      'app.kubernetes.io/name': store.storeName,
      'app.kubernetes.io/component': e.component,
      'app.kubernetes.io/part-of': stack.stackName,
      'app.kubernetes.io/managed-by': 'pyfleet',
    },
    selector: { app: store.storeName },
    callers: [...callers],
    composePasswordFile: fileEngine && {
      source: store.composePasswordFile!,
      secretName,
      mountPath,
      env: fileEngine.env.map((x) => ({ ...x })),
      args: [...fileEngine.args],
      healthCommand: [...fileEngine.healthCommand],
    },
  };
}
