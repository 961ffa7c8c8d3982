import { createHash } from 'crypto';
import * as fs from 'fs';
import * as path from 'path';
import { PyfleetError } from '../core/errors';
import { checkDnsSubdomain } from '../core/names';
import { checkMountPath, Volume, volumeNameOf } from './volume';

// Files mounted read-only into a service's containers: a config file whose content pyfleet knows
// (a ConfigMap named by content hash on Kubernetes; a generated file on compose) and a secret file
// whose content pyfleet never sees (a Secret the user creates; a compose secret read from a path on
// the deploying machine).

/** Most bytes one ConfigMap holds (the API server's limit on an object is 1 MiB). */
export const CONFIG_FILE_MAX_BYTES = 1024 * 1024;

const ISCONFIG = Symbol.for('pyfleet.ConfigFile');
const ISSECRET = Symbol.for('pyfleet.SecretFile');

/**
 * A configuration file mounted read-only at `mountPath` in every container of a service. On Kubernetes
 * it is a ConfigMap named `<service>-<hash of the content>`, so a change makes a new ConfigMap and
 * rolls the pods (the old ConfigMap is pruned with the rest of the stack's objects); on compose it is a
 * file written beside the compose file and bind-mounted read-only (a swarm config on an overlay stack).
 */
export class ConfigFile {
  /**
   * A file read now (at construction): it must exist, be UTF-8 text and hold at most 1 MiB.
   * @param source path of the file (relative to the working directory)
   * @param mountPath absolute path of the file inside the container
   */
  public static fromFile(source: string, mountPath: string): ConfigFile {
    const where = `ConfigFile.fromFile(${JSON.stringify(source)})`;
    checkMountPath(where, 'the config file', mountPath);
    const file = path.resolve(String(source));
    let stat: fs.Stats;
    try {
      stat = fs.statSync(file);
    } catch {
      throw new PyfleetError(where, `the file ${file} does not exist`, 'give the path of an existing file (relative paths are read from the working directory; path.join(__dirname, ...) is safer)');
    }
    if (!stat.isFile()) throw new PyfleetError(where, `${file} is not a regular file`, 'give the path of a file, not a directory');
    if (stat.size > CONFIG_FILE_MAX_BYTES) {
      throw new PyfleetError(where, `the file ${file} holds ${stat.size} bytes, more than the 1 MiB (${CONFIG_FILE_MAX_BYTES} bytes) a Kubernetes ConfigMap can hold`, 'shrink it, split it into several files, or bake it into the image');
    }
    return ConfigFile.checked(where, fs.readFileSync(file), mountPath);
  }

  /**
   * A file with the given text (at most 1 MiB as UTF-8).
   * @param content the file's text
   * @param mountPath absolute path of the file inside the container
   */
  public static fromString(content: string, mountPath: string): ConfigFile {
    const where = `ConfigFile.fromString(${JSON.stringify(mountPath)})`;
    checkMountPath(where, 'the config file', mountPath);
    if (typeof content !== 'string') throw new PyfleetError(where, 'content is not a string', 'pass the file\'s text');
    return ConfigFile.checked(where, Buffer.from(content, 'utf8'), mountPath);
  }

  /** Whether `x` is a ConfigFile (a brand check). */
  public static isConfigFile(x: unknown): x is ConfigFile {
    return typeof x === 'object' && x !== null && (x as any)[ISCONFIG] === true;
  }

  private static checked(where: string, bytes: Buffer, mountPath: string): ConfigFile {
    if (bytes.length > CONFIG_FILE_MAX_BYTES) {
      throw new PyfleetError(where, `the content is ${bytes.length} bytes, more than the 1 MiB (${CONFIG_FILE_MAX_BYTES} bytes) a Kubernetes ConfigMap can hold`, 'shrink it, split it into several files, or bake it into the image');
    }
    const text = bytes.toString('utf8');
    if (!Buffer.from(text, 'utf8').equals(bytes)) {
      throw new PyfleetError(where, 'the content is not UTF-8 text', 'mount text files only (a binary file belongs in the image or a volume)');
    }
    return new ConfigFile(text, mountPath);
  }

  /** Content hash, 10 hex digits of sha256 over the text (part of the ConfigMap name). */
  public readonly hash: string;

  private constructor(
    /** The file's text. */
    public readonly content: string,
    /** Absolute path of the file inside the container. */
    public readonly mountPath: string,
  ) {
    Object.defineProperty(this, ISCONFIG, { value: true });
    this.hash = createHash('sha256').update(content).digest('hex').slice(0, 10);
  }
}

/** Options of a secret file. */
export interface SecretFileOptions {
  /**
   * The Kubernetes Secret the file comes from. pyfleet never writes it: create it once
   * (`kubectl create secret generic <name> --from-file=<key>=<source>`, as the synth warning says).
   * @default - `<service>-<mount path as a label>` (`/run/secrets/api-key` of `orders` -> `orders-run-secrets-api-key`)
   */
  readonly secretName?: string;
  /**
   * Key of the file inside the Secret.
   * @default - the file name of the mount path
   */
  readonly key?: string;
}

/**
 * A secret file mounted read-only at `mountPath`. Its content never enters the output: on Kubernetes
 * the pod mounts a key of a Secret you create; on compose it is a compose secret whose `file` is
 * `source`, a path on the machine that runs compose (relative paths are relative to the compose file).
 */
export class SecretFile {
  /**
   * A secret file mounted at `mountPath`, from Secret `secretName` on Kubernetes and from `source` on compose.
   * @param source path of the secret file on the deploying machine (compose `secrets.<name>.file`;
   *   also the `--from-file` of the kubectl command the synth warning gives)
   * @param mountPath absolute path of the file inside the container
   * @param options the Secret's name and key
   */
  public static fromFile(source: string, mountPath: string, options: SecretFileOptions = {}): SecretFile {
    const where = `SecretFile.fromFile(${JSON.stringify(source)})`;
    checkMountPath(where, 'the secret file', mountPath);
    if (typeof source !== 'string' || source === '' || /[\s$]/.test(source)) {
      throw new PyfleetError(where, `source "${source}" is not a usable file path`, 'give the path of the secret file on the machine that runs compose, without whitespace or "$"');
    }
    if (options.secretName !== undefined) checkDnsSubdomain(where, 'secretName', options.secretName);
    const key = options.key ?? path.posix.basename(mountPath);
    if (!/^[-._a-zA-Z0-9]+$/.test(key) || key.length > 253) {
      throw new PyfleetError(where, `key "${key}" is not a valid Secret key`, 'use letters, digits, "-", "_" and "."');
    }
    return new SecretFile(source, mountPath, options.secretName, key);
  }

  /** Whether `x` is a SecretFile (a brand check). */
  public static isSecretFile(x: unknown): x is SecretFile {
    return typeof x === 'object' && x !== null && (x as any)[ISSECRET] === true;
  }

  private constructor(
    /** Path of the secret file on the deploying machine. */
    public readonly source: string,
    /** Absolute path of the file inside the container. */
    public readonly mountPath: string,
    /** The Secret name given, or undefined for the default. */
    public readonly secretName: string | undefined,
    /** Key inside the Secret. */
    public readonly key: string,
  ) {
    Object.defineProperty(this, ISSECRET, { value: true });
  }
}

/** What a service mounts, checked together. */
export interface CheckedMounts {
  /** The volumes. */
  readonly volumes: readonly Volume[];
  /** The config files. */
  readonly configFiles: readonly ConfigFile[];
  /** The secret files. */
  readonly secretFiles: readonly SecretFile[];
}

/** Where pyfleet itself mounts a writable tmpfs/emptyDir in every container (the root is read-only). */
export const PYFLEET_TMP = '/tmp';

const inside = (p: string, dir: string): boolean => p.startsWith(`${dir}/`);

/**
 * Checks the volumes and files of a service together and throws a {@link PyfleetError} at `where` when
 * two share a path, a mount lies inside a volume (or inside pyfleet's /tmp), a volume covers the app
 * directory of a generated image (`appDirectory`), two volumes share a name, or a memory volume is not
 * below the memory limit.
 */
export function checkMounts(where: string, volumes: unknown, files: unknown, opts: { readonly appDirectory?: string; readonly memoryLimitBytes: number }): CheckedMounts {
  if (volumes !== undefined && !Array.isArray(volumes)) throw new PyfleetError(where, '`volumes` is not a list', 'pass volumes: [Volume.persistent(...), Volume.ephemeral(...)]');
  if (files !== undefined && !Array.isArray(files)) throw new PyfleetError(where, '`files` is not a list', 'pass files: [ConfigFile.fromFile(...), SecretFile.fromFile(...)]');
  const vols = (volumes ?? []) as unknown[];
  const fileList = (files ?? []) as unknown[];
  for (const v of vols) {
    if (!Volume.isVolume(v)) throw new PyfleetError(where, '`volumes` contains something that is not a Volume', 'make each with Volume.persistent(path, { size }) or Volume.ephemeral(path)');
  }
  for (const f of fileList) {
    if (!ConfigFile.isConfigFile(f) && !SecretFile.isSecretFile(f)) throw new PyfleetError(where, '`files` contains something that is neither a ConfigFile nor a SecretFile', 'make each with ConfigFile.fromFile/fromString or SecretFile.fromFile');
  }
  const checkedVolumes = vols as Volume[];
  const mounts: Array<{ path: string; what: string; volume: boolean }> = [
    { path: PYFLEET_TMP, what: `pyfleet's writable ${PYFLEET_TMP} (the root filesystem is read-only)`, volume: true },
    ...checkedVolumes.map((v) => ({ path: v.mountPath, what: `volume "${v.name}"`, volume: true })),
    ...(fileList as Array<ConfigFile | SecretFile>).map((f) => ({ path: f.mountPath, what: `${ConfigFile.isConfigFile(f) ? 'config' : 'secret'} file ${f.mountPath}`, volume: false })),
  ];
  for (const [i, a] of mounts.entries()) {
    for (const b of mounts.slice(i + 1)) {
      if (a.path === b.path) {
        throw new PyfleetError(where, `${a.what} and ${b.what} are both mounted on ${a.path}`, 'give each volume and file its own path');
      }
      for (const [outer, inner] of [[a, b], [b, a]]) {
        if (outer.volume && inside(inner.path, outer.path)) {
          throw new PyfleetError(where, `${inner.what} (${inner.path}) lies inside ${outer.what} (${outer.path}): the inner mount would hide part of the outer one, or leave a stray mount point in its data`,
            `mount it beside, not inside, ${outer.path} (e.g. ${outer.path === PYFLEET_TMP ? '/data' : `${outer.path}-${inner.path.split('/').pop()}`})`);
        }
        if (!outer.volume && inside(inner.path, outer.path)) {
          throw new PyfleetError(where, `${inner.what} (${inner.path}) lies inside ${outer.what}, which is a file`, 'mount it elsewhere');
        }
      }
    }
  }
  const app = opts.appDirectory;
  if (app) {
    for (const v of checkedVolumes) {
      if (v.mountPath === app || inside(app, v.mountPath) || inside(v.mountPath, app)) {
        throw new PyfleetError(where, `volume "${v.name}" (${v.mountPath}) would cover the app directory ${app}, where the generated image keeps the code: the code (or part of it) would be hidden, or written into the volume`,
          `mount it outside ${app}, e.g. "/data/${v.name}"`);
      }
    }
    for (const f of fileList as Array<ConfigFile | SecretFile>) {
      if (f.mountPath === app) throw new PyfleetError(where, `a file is mounted on the app directory ${app} itself`, `mount it at a file path, e.g. "${app}/config/settings.toml"`);
    }
  }
  const labels = new Map<string, string>();
  for (const f of fileList as Array<ConfigFile | SecretFile>) {
    const label = volumeNameOf(f.mountPath);
    const other = labels.get(label);
    if (other) throw new PyfleetError(where, `files ${other} and ${f.mountPath} get the same name "${label}" (their paths differ only in "/", ".", "_" or "-"), so their ConfigMaps or compose secrets would clash`, 'rename one of them');
    labels.set(label, f.mountPath);
  }
  const names = new Map<string, string>();
  for (const v of checkedVolumes) {
    const other = names.get(v.name);
    if (other) throw new PyfleetError(where, `volumes ${other} and ${v.mountPath} are both named "${v.name}", so their claims and compose volumes would be one`, 'give one of them another `name`');
    names.set(v.name, v.mountPath);
    if (v.medium === 'memory' && v.size.bytes >= opts.memoryLimitBytes) {
      throw new PyfleetError(where, `memory volume "${v.name}" may hold ${v.size}, which is not below the container's memory limit ${Math.round(opts.memoryLimitBytes / 1024 ** 2)} MiB (what it holds counts toward the limit)`,
        'give it a smaller size, raise `memory`, or use VolumeMedium.DISK');
    }
  }
  return {
    volumes: checkedVolumes,
    configFiles: (fileList as unknown[]).filter((f): f is ConfigFile => ConfigFile.isConfigFile(f)),
    secretFiles: (fileList as unknown[]).filter((f): f is SecretFile => SecretFile.isSecretFile(f)),
  };
}
