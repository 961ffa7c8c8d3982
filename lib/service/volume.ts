import * as path from 'path';
import { PyfleetError } from '../core/errors';
import { checkDnsLabel, suggestLabel } from '../core/names';
import { Size } from '../core/units';

// Volumes of a service: what the user asked for (a path, a size, a kind), validated when made. The
// targets decide what they become: a PersistentVolumeClaim or an emptyDir on Kubernetes, a named
// volume, a tmpfs or an anonymous volume on compose (lib/render/kubernetes/volumes.ts,
// lib/render/compose/volumes.ts).

/** How a Kubernetes node may mount a persistent volume. */
export enum VolumeAccessMode {
  /** One node mounts it read-write (every block storage class). */
  READ_WRITE_ONCE = 'ReadWriteOnce',
  /** One pod mounts it read-write (Kubernetes 1.27+, CSI drivers only). */
  READ_WRITE_ONCE_POD = 'ReadWriteOncePod',
  /** Many nodes mount it read-write (NFS, CephFS, EFS...). */
  READ_WRITE_MANY = 'ReadWriteMany',
}

/** Where an ephemeral volume keeps its bytes. */
export enum VolumeMedium {
  /** The node's disk (an emptyDir; an anonymous volume on compose). */
  DISK = 'disk',
  /** Memory (an emptyDir with `medium: Memory`; a tmpfs on compose); it counts toward the container's memory limit. */
  MEMORY = 'memory',
}

/** Options of a persistent volume. */
export interface PersistentVolumeOptions {
  /**
   * Storage asked for: the PersistentVolumeClaim's `resources.requests.storage`. Compose's local
   * volume driver cannot cap a named volume, so there it only documents what the data may need.
   * Whole MiB, from 1 MiB to 64 TiB.
   */
  readonly size: Size;
  /**
   * Name of the volume, part of the PersistentVolumeClaim name (`<service>-<version>-<name>`) and of the
   * compose named volume (`<service>-<version>-<name>`). Keep it when you move the path: the name is
   * what finds the existing data.
   * @default - the mount path as a DNS label (`/data/uploads` -> `data-uploads`)
   */
  readonly name?: string;
  /**
   * Kubernetes storage class of the claim.
   * @default - the cluster's default storage class (no `storageClassName`)
   */
  readonly storageClass?: string;
  /**
   * Kubernetes access mode of the claim.
   * @default VolumeAccessMode.READ_WRITE_ONCE
   */
  readonly accessMode?: VolumeAccessMode;
}

/** Options of an ephemeral (scratch) volume. */
export interface EphemeralVolumeOptions {
  /**
   * Most the volume may hold (the emptyDir `sizeLimit`; the tmpfs `size` on compose). Whole KiB.
   * @default - Size.gibibytes(1) on disk, Size.mebibytes(64) in memory
   */
  readonly size?: Size;
  /**
   * Disk or memory.
   * @default VolumeMedium.DISK
   */
  readonly medium?: VolumeMedium;
  /**
   * Name of the volume in the pod spec and compose file.
   * @default - the mount path as a DNS label (`/var/cache/app` -> `var-cache-app`)
   */
  readonly name?: string;
}

const MAX_PERSISTENT = 64 * 1024 ** 4;
const MIB = 1024 ** 2;

/** Checks a mount path: absolute, normalized, not the root. Returns it. */
export function checkMountPath(where: string, what: string, p: unknown): string {
  if (typeof p !== 'string' || p === '') {
    throw new PyfleetError(where, `${what} has no mount path`, 'give an absolute path inside the container, e.g. "/data/uploads"');
  }
  if (!p.startsWith('/')) {
    throw new PyfleetError(where, `${what} path "${p}" is not absolute`, `give an absolute path inside the container, e.g. "/${p.replace(/^\.?\/*/, '')}"`);
  }
  const normal = path.posix.normalize(p).replace(/\/+$/, '') || '/';
  if (normal !== p) {
    throw new PyfleetError(where, `${what} path "${p}" is not in normal form`, `write it as "${normal}"`);
  }
  if (normal === '/') {
    throw new PyfleetError(where, `${what} would be mounted over the root directory "/"`, 'mount it on a directory of its own, e.g. "/data"');
  }
  if (/[:,\s]/.test(p)) {
    throw new PyfleetError(where, `${what} path "${p}" contains ':', ',' or whitespace, which compose's mount syntax cannot carry`, 'choose a path of letters, digits, "/", ".", "-" and "_"');
  }
  return p;
}

/** The default volume name of a mount path: `/data/uploads` -> `data-uploads`. */
export function volumeNameOf(mountPath: string): string {
  return suggestLabel(mountPath.replace(/^\/+/, '').replace(/[/._]+/g, '-')).slice(0, 40).replace(/-+$/, '');
}

const ISVOLUME = Symbol.for('pyfleet.Volume');

/**
 * A volume mounted into every container of a service: persistent (its data outlives the container)
 * or ephemeral (scratch space, empty at each start). Either keeps the container's root filesystem
 * read-only: only the mount path is writable.
 */
export class Volume {
  /**
   * Storage that outlives the container: a PersistentVolumeClaim per version on Kubernetes, a named
   * volume per version on compose. A version with a persistent volume runs one pod: more than one
   * replica (or an autoscaler above one) is refused at synth, and its Deployment is switched to the
   * `Recreate` strategy (the old pod stops before the new one starts, since the claim is
   * read-write-once), with a synth warning that its releases have downtime.
   * @param mountPath absolute path inside the container
   */
  public static persistent(mountPath: string, options: PersistentVolumeOptions): Volume {
    const where = `Volume.persistent(${JSON.stringify(mountPath)})`;
    checkMountPath(where, 'the volume', mountPath);
    if (!options || !(options.size instanceof Size)) {
      throw new PyfleetError(where, 'no size was given (a Size)', 'give { size: Size.gibibytes(5) }');
    }
    const b = options.size.bytes;
    if (b % MIB !== 0 || b < MIB || b > MAX_PERSISTENT) {
      throw new PyfleetError(where, `size ${options.size} is not a whole number of MiB from 1 MiB to 64 TiB, which storage provisioners take`, `give e.g. Size.gibibytes(${Math.max(1, Math.ceil(b / 1024 ** 3))})`);
    }
    const accessMode = options.accessMode ?? VolumeAccessMode.READ_WRITE_ONCE;
    if (!Object.values(VolumeAccessMode).includes(accessMode)) {
      throw new PyfleetError(where, `access mode "${accessMode}" is not one Kubernetes knows`, 'use VolumeAccessMode.READ_WRITE_ONCE, READ_WRITE_ONCE_POD or READ_WRITE_MANY');
    }
    if (options.storageClass !== undefined) checkDnsLabel(where, 'storage class', options.storageClass, 253);
    return new Volume('persistent', mountPath, volumeName(where, options.name, mountPath), options.size, accessMode, options.storageClass, undefined);
  }

  /**
   * Scratch space, empty whenever the container starts: an emptyDir on Kubernetes; on compose a tmpfs
   * (memory medium) or an anonymous volume (disk medium; compose keeps an anonymous volume when it
   * recreates a container unless `up --renew-anon-volumes`, so do not rely on it being empty).
   * @param mountPath absolute path inside the container
   */
  public static ephemeral(mountPath: string, options: EphemeralVolumeOptions = {}): Volume {
    const where = `Volume.ephemeral(${JSON.stringify(mountPath)})`;
    checkMountPath(where, 'the volume', mountPath);
    const medium = options.medium ?? VolumeMedium.DISK;
    if (!Object.values(VolumeMedium).includes(medium)) {
      throw new PyfleetError(where, `medium "${medium}" is not known`, 'use VolumeMedium.DISK or VolumeMedium.MEMORY');
    }
    if (options.size !== undefined && !(options.size instanceof Size)) {
      throw new PyfleetError(where, 'size must be a Size', 'use e.g. Size.mebibytes(512)');
    }
    const size = options.size ?? (medium === VolumeMedium.MEMORY ? Size.mebibytes(64) : Size.gibibytes(1));
    if (size.bytes % 1024 !== 0) {
      throw new PyfleetError(where, `size ${size} is not a whole number of KiB`, `give e.g. Size.kibibytes(${Math.ceil(size.bytes / 1024)})`);
    }
    return new Volume('ephemeral', mountPath, volumeName(where, options.name, mountPath), size, undefined, undefined, medium);
  }

  /** Whether `x` is a Volume (a brand check, so it holds across copies of pyfleet). */
  public static isVolume(x: unknown): x is Volume {
    return typeof x === 'object' && x !== null && (x as any)[ISVOLUME] === true;
  }

  private constructor(
    /** `persistent` or `ephemeral`. */
    public readonly kind: 'persistent' | 'ephemeral',
    /** Absolute mount path inside the container. */
    public readonly mountPath: string,
    /** Volume name (a DNS label), part of the claim and compose volume names. */
    public readonly name: string,
    /** Requested (persistent) or maximum (ephemeral) size. */
    public readonly size: Size,
    /** Kubernetes access mode (persistent volumes). */
    public readonly accessMode: VolumeAccessMode | undefined,
    /** Kubernetes storage class (persistent volumes), or undefined for the cluster's default. */
    public readonly storageClass: string | undefined,
    /** Disk or memory (ephemeral volumes). */
    public readonly medium: VolumeMedium | undefined,
  ) {
    Object.defineProperty(this, ISVOLUME, { value: true });
  }
}

function volumeName(where: string, name: string | undefined, mountPath: string): string {
  const n = name ?? volumeNameOf(mountPath);
  checkDnsLabel(where, 'volume name', n, 40);
  return n;
}
