import * as fs from 'fs';
import * as path from 'path';
import { PyfleetError } from '../core/errors';

const DIGEST = /@sha256:[a-f0-9]{64}$/;
const TAG = /^[\w][\w.-]{0,127}$/;

/** Options for an image built from a directory holding the user's own Dockerfile. */
export interface DirectoryImageOptions {
  /**
   * Path of the Dockerfile, relative to the directory.
   * @default 'Dockerfile'
   */
  readonly dockerfile?: string;
  /**
   * Build arguments passed to `docker build`.
   * @default - none
   */
  readonly buildArgs?: Record<string, string>;
}

/** What a generated build adds to a staged context (filled by the Python constructs). */
export interface GeneratedBuildFiles {
  /** File name (relative to the context root) to its content. */
  readonly files: Record<string, string>;
}

/**
 * Where a service's container image comes from: a registry (pinned) or a directory that is built.
 */
export class ContainerImage {
  /**
   * An image from a registry, pinned by tag or digest. `latest` and untagged references are refused,
   * because they make rollouts unrepeatable.
   */
  public static fromRegistry(reference: string): ContainerImage {
    const ref = String(reference ?? '').trim();
    const where = `ContainerImage.fromRegistry("${ref}")`;
    if (!ref || /\s/.test(ref)) {
      throw new PyfleetError(where, 'the image reference is empty or contains spaces', 'give a reference such as "ghcr.io/acme/users:1.4.2"');
    }
    if (!DIGEST.test(ref)) {
      const lastSegment = ref.split('/').pop()!;
      const colon = lastSegment.lastIndexOf(':');
      if (colon < 0) {
        throw new PyfleetError(where, 'the image has no tag, so every pull may run different code', `pin a tag or digest, e.g. "${ref}:1.0.0" or "${ref}@sha256:<digest>"`);
      }
      const tag = lastSegment.slice(colon + 1);
      if (tag === 'latest') {
        throw new PyfleetError(where, 'the tag "latest" moves, so rollouts are not repeatable', 'pin a version tag or a digest, e.g. ":1.4.2" or "@sha256:<digest>"');
      }
      if (!TAG.test(tag)) {
        throw new PyfleetError(where, `"${tag}" is not a valid image tag`, 'use letters, digits, "_", "." and "-" (at most 128 characters)');
      }
    }
    return new ContainerImage({ kind: 'registry', reference: ref });
  }

  /**
   * An image built from a directory that holds the user's own Dockerfile. The directory is staged
   * (copied) into the output and tagged by the hash of its content.
   *
   * @param directory absolute, or relative to the current working directory
   */
  public static fromDirectory(directory: string, options: DirectoryImageOptions = {}): ContainerImage {
    const dir = path.resolve(directory);
    const where = `ContainerImage.fromDirectory("${directory}")`;
    if (!fs.existsSync(dir) || !fs.statSync(dir).isDirectory()) {
      throw new PyfleetError(where, `the directory ${dir} does not exist`, 'pass the path of the service source, e.g. path.join(__dirname, "services/user")');
    }
    const dockerfile = options.dockerfile ?? 'Dockerfile';
    if (!fs.existsSync(path.join(dir, dockerfile))) {
      throw new PyfleetError(where, `there is no ${dockerfile} in ${dir}`, 'add a Dockerfile there, point `dockerfile` at it, or use GunicornFlaskApp/FastApiApp to have one generated');
    }
    return new ContainerImage({ kind: 'build', directory: dir, dockerfile, buildArgs: options.buildArgs ?? {} });
  }

  /** @internal used by the Python constructs: a directory built with a generated Dockerfile. */
  public static _generated(directory: string, generated: () => GeneratedBuildFiles, buildArgs: Record<string, string> = {}): ContainerImage {
    return new ContainerImage({ kind: 'build', directory: path.resolve(directory), dockerfile: 'Dockerfile', buildArgs, generated });
  }

  /** `registry` or `build`. */
  public readonly kind: 'registry' | 'build';
  /** The registry reference (registry images only). */
  public readonly reference?: string;
  /** The absolute source directory (built images only). */
  public readonly directory?: string;
  /** The Dockerfile path relative to the context (built images only). */
  public readonly dockerfile?: string;
  /** Build arguments (built images only). */
  public readonly buildArgs: Record<string, string>;
  /** Generated files that the staged context gets beside the source. */
  public readonly generated?: () => GeneratedBuildFiles;

  private constructor(props: { kind: 'registry' | 'build'; reference?: string; directory?: string; dockerfile?: string; buildArgs?: Record<string, string>; generated?: () => GeneratedBuildFiles }) {
    this.kind = props.kind;
    this.reference = props.reference;
    this.directory = props.directory;
    this.dockerfile = props.dockerfile;
    this.buildArgs = props.buildArgs ?? {};
    this.generated = props.generated;
  }
}
