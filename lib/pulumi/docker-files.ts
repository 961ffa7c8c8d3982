import { createHash } from 'crypto';
import * as fs from 'fs';
import * as path from 'path';
import * as pulumi from '@pulumi/pulumi';
import { PyfleetError } from '../core/errors';

// How DockerHostDeployment places the files a compose service mounts (generated configs, config files,
// secret files, backing services' password files) into containers whose root filesystem is read-only.
//
// The Docker provider uploads a file by sending dockerd a tar archive whose entry is the file's full
// path, extracted at "/" (PUT /containers/<id>/archive?path=/). dockerd refuses any extraction at "/"
// into a container with a read-only root filesystem ("container rootfs is marked read-only"), even when
// the file lands in a volume: it checks the destination path ("/"), not the entry. Measured on dockerd
// 20.10 (test/e2e/docker-files.test.ts). So the files go to a named volume per directory, filled through
// a holder container that mounts the same volumes, is created (the provider uploads into it) and never
// started, and is not read-only. The service's containers mount those volumes read-only at the same
// directories. A volume's name carries the hash of its files and of the image (Docker seeds a new
// named volume with what the image has in that directory), so a change of either is a new volume, and
// the containers that mount it are replaced; the old volume and holder go after them.

/** A file a compose service's containers read, and where its content comes from. */
export interface HostFile {
  /** Absolute path in the container. */
  readonly target: string;
  /** The content of a generated file. */
  readonly content?: string;
  /** For a backing service's password file: the compose secret's name (the content is the password). */
  readonly password?: string;
  /** Absolute path of a file on the deploying machine, which the provider reads at upload time (its content never enters the state). */
  readonly source?: string;
  /** SHA-256 of `source` (hex), so that a changed file is a new upload. */
  readonly sourceHash?: string;
}

/** Where DockerHostDeployment finds the content of the files compose services mount. */
export interface HostFileSources {
  /** Generated files by the `./<path>` source the compose file bind-mounts them from. */
  readonly generated: ReadonlyMap<string, string>;
  /** The compose document's top-level `secrets` (name to `{ file }`). */
  readonly composeSecrets: Readonly<Record<string, { file?: string }>>;
  /** Compose secret names of backing services' password files. */
  readonly passwords: ReadonlySet<string>;
  /** The directory relative paths are relative to: the compose file's (the App's outdir). */
  readonly baseDir: string;
}

/** Files of one compose service, or the problems that keep it from being deployed. */
export interface ServiceFiles {
  readonly files: HostFile[];
  readonly problems: PyfleetError[];
}

/** The mount targets of a compose service's volumes and tmpfs mounts (not its bind mounts). */
function mountTargets(def: any): string[] {
  const out: string[] = [];
  for (const v of def.volumes ?? []) {
    if (typeof v === 'object' && v.type !== 'bind') out.push(v.target);
    else if (typeof v === 'string' && v.split(':').length >= 2 && !/^[./~]/.test(v.split(':')[0])) out.push(v.split(':')[1]);
  }
  for (const t of def.tmpfs ?? []) out.push(String(t).split(':')[0]);
  return out;
}

/** A file on the deploying machine, as an upload the provider reads (content hashed here, never stored). */
function localFile(where: string, what: string, file: string, baseDir: string, problems: PyfleetError[], target: string): HostFile | undefined {
  const abs = path.resolve(baseDir, file);
  let stat: fs.Stats | undefined;
  try {
    stat = fs.statSync(abs);
  } catch {
    stat = undefined;
  }
  if (!stat || !stat.isFile()) {
    problems.push(new PyfleetError(where, `${what} ${file} (${abs}) is ${stat ? 'not a regular file' : 'missing'} on this machine, and DockerHostDeployment uploads it from here (relative paths are relative to the compose file, the App's outdir)`,
      `create the file at ${abs} before pulumi up, or give an absolute path`));
    return undefined;
  }
  return { target, source: abs, sourceHash: createHash('sha256').update(fs.readFileSync(abs)).digest('hex') };
}

/**
 * The files compose service `svcName` mounts: its bind mounts (a generated file, or a file on the
 * deploying machine, such as a gateway's TLS certificate) and its secrets (a secret file on the
 * deploying machine, or a backing service's password file, whose content is the password).
 */
export function serviceFiles(where: string, svcName: string, def: any, sources: HostFileSources): ServiceFiles {
  const files: HostFile[] = [];
  const problems: PyfleetError[] = [];
  for (const v of def.volumes ?? []) {
    const bind = typeof v === 'string' ? /^[./~]/.test(v.split(':')[0]) : v.type === 'bind';
    if (!bind) continue;
    const source: string = typeof v === 'string' ? v.split(':')[0] : v.source;
    const target: string = typeof v === 'string' ? v.split(':')[1] : v.target;
    const generated = sources.generated.get(source);
    if (generated !== undefined) {
      files.push({ target, content: generated });
      continue;
    }
    const f = localFile(where, `compose service "${svcName}" bind-mounts`, source, sources.baseDir, problems, target);
    if (f) files.push(f);
  }
  for (const s of def.secrets ?? []) {
    const name: string = typeof s === 'string' ? s : s.source;
    const target: string = typeof s === 'string' || !s.target ? `/run/secrets/${name}` : s.target.startsWith('/') ? s.target : `/run/secrets/${s.target}`;
    if (sources.passwords.has(name)) {
      files.push({ target, password: name });
      continue;
    }
    const file = sources.composeSecrets[name]?.file;
    if (file === undefined) {
      problems.push(new PyfleetError(where, `compose service "${svcName}" mounts the secret "${name}", which the compose document does not define with a file`, 'define it with SecretFile.fromFile(...) on the service'));
      continue;
    }
    const f = localFile(where, `the secret file of "${name}",`, file, sources.baseDir, problems, target);
    if (f) files.push(f);
  }
  const taken = new Set(mountTargets(def));
  for (const f of files) {
    const dir = path.posix.dirname(f.target);
    if (!f.target.startsWith('/') || dir === '/') {
      problems.push(new PyfleetError(where, `compose service "${svcName}" mounts a file at ${f.target}, and DockerHostDeployment places files through a volume on their directory, which cannot be ${f.target.startsWith('/') ? 'the root' : 'a relative path'}`,
        'mount the file in a directory of its own, e.g. /etc/<app>/<file>'));
    } else if (taken.has(dir)) {
      problems.push(new PyfleetError(where, `compose service "${svcName}" mounts the file ${f.target} into ${dir}, where it also mounts a volume: DockerHostDeployment places files through a volume on their directory, and one directory takes one mount`,
        `mount the file in another directory than ${dir}`));
    }
  }
  return { files, problems };
}

/** The files by the directory they are placed in, directories sorted. */
export function filesByDirectory(files: readonly HostFile[]): Array<[string, HostFile[]]> {
  const dirs = new Map<string, HostFile[]>();
  for (const f of files) {
    const dir = path.posix.dirname(f.target);
    dirs.set(dir, [...(dirs.get(dir) ?? []), f]);
  }
  return [...dirs.entries()].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)).map(([d, fs_]) => [d, fs_.sort((a, b) => (a.target < b.target ? -1 : 1))]);
}

/**
 * 12 hex digits of the hash of an image, a directory and its files' paths and contents (`contents`: the
 * value of each file's content, in order; a password makes the result a secret output).
 */
export function filesHash(image: pulumi.Input<string>, dir: string, files: readonly HostFile[], contents: ReadonlyArray<pulumi.Input<string>>): pulumi.Output<string> {
  return pulumi.all([image, ...contents]).apply(([img, ...values]) => {
    const h = createHash('sha256').update(`${img}\0${dir}\0`);
    files.forEach((f, i) => h.update(`${f.target}\0${f.source !== undefined ? 'source' : 'content'}\0${values[i]}\0`));
    return h.digest('hex').slice(0, 12);
  });
}

/** A key for a directory in a Pulumi resource name: `/usr/local/etc/haproxy` is `usr-local-etc-haproxy`. */
export function directoryKey(dir: string): string {
  return dir.replace(/^\/+/, '').replace(/[^A-Za-z0-9.]+/g, '-').replace(/^-+|-+$/g, '') || 'root';
}
