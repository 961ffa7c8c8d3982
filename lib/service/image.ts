import * as fs from 'fs';
import * as path from 'path';
import { PyfleetError } from '../core/errors';
import { FINGERPRINT } from '../core/fingerprint';
import { listSourceFiles } from './asset';
import type { BuildRecipe } from './build';

const TAG = /^[\w][\w.-]{0,127}$/;
/** A path component of the distribution reference grammar: lowercase alphanumerics joined by `.`, `_`, `__` or dashes. */
const PATH_COMPONENT = /^[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*$/;
/** A domain component (a registry host name may have upper-case letters). */
const DOMAIN_COMPONENT = /^(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])$/;
/** Longest repository name (registry and path) the distribution grammar accepts. */
const NAME_MAX = 255;

/** The parts of an image reference `[registry/]path[:tag][@digest]`. */
interface ParsedReference {
  readonly registry?: string;
  readonly path: string;
  readonly tag?: string;
  readonly digest?: string;
}

/**
 * Parses an image reference by the distribution (Docker/OCI) reference grammar and throws a
 * PyfleetError naming the part that is wrong. The first component is a registry host when it has a
 * "." or a ":" or is "localhost" (as Docker reads it).
 */
function parseReference(where: string, ref: string): ParsedReference {
  let rest = ref;
  let digest: string | undefined;
  const at = rest.indexOf('@');
  if (at >= 0) {
    digest = rest.slice(at + 1);
    rest = rest.slice(0, at);
    const colon = digest.indexOf(':');
    const algorithm = colon < 0 ? digest : digest.slice(0, colon);
    if (colon < 0 || algorithm !== 'sha256') {
      throw new PyfleetError(where, `the digest "${digest}" is not a sha256 digest`, 'give "@sha256:" and the 64 hex digits registries report, e.g. from `docker buildx imagetools inspect <image>`');
    }
    if (!/^[a-f0-9]{64}$/.test(digest.slice(colon + 1))) {
      const hex = digest.slice(colon + 1);
      throw new PyfleetError(where, `the digest "${digest}" is not "sha256:" plus exactly 64 lowercase hex digits (it has ${hex.length} characters${/[A-F]/.test(hex) ? ', some upper-case' : ''})`,
        'copy the full digest, e.g. from `docker buildx imagetools inspect <image>` (lowercase, 64 hex digits)');
    }
  }
  let tag: string | undefined;
  const lastSlash = rest.lastIndexOf('/');
  const colon = rest.lastIndexOf(':');
  if (colon > lastSlash) {
    tag = rest.slice(colon + 1);
    rest = rest.slice(0, colon);
    if (!TAG.test(tag)) {
      throw new PyfleetError(where, `"${tag}" is not a valid image tag`, 'use letters, digits, "_", "." and "-" (at most 128 characters, not starting with "." or "-")');
    }
  }
  if (rest.length > NAME_MAX) {
    throw new PyfleetError(where, `the repository name is ${rest.length} characters long, more than the ${NAME_MAX} registries accept`, 'shorten it');
  }
  const components = rest.split('/');
  let registry: string | undefined;
  if (components.length > 1 && (/[.:]/.test(components[0]) || components[0] === 'localhost')) {
    registry = components.shift()!;
    checkRegistryHost(where, registry);
  }
  const repoPath = components.join('/');
  if (components.some((c) => c === '')) {
    throw new PyfleetError(where, `the repository path "${repoPath}" has an empty component (a leading, trailing or doubled "/")`, `remove the extra "/", e.g. "${[registry, ...components.filter((c) => c !== '')].filter(Boolean).join('/')}${tag ? `:${tag}` : ''}"`);
  }
  if (/[A-Z]/.test(repoPath)) {
    throw new PyfleetError(where, `the repository path "${repoPath}" has upper-case letters, which image references do not allow`, `use lowercase, e.g. "${[registry, repoPath.toLowerCase()].filter(Boolean).join('/')}${tag ? `:${tag}` : ''}"`);
  }
  const bad = components.find((c) => !PATH_COMPONENT.test(c));
  if (bad !== undefined) {
    throw new PyfleetError(where, `"${bad}" is not a valid repository path component`, 'use lowercase letters and digits, separated by single ".", "_", "__" or dashes, e.g. "acme/order-service"');
  }
  return { registry, path: repoPath, tag, digest };
}

/** Throws unless `host` is `name[:port]` or `[ipv6][:port]` with a port from 1 to 65535. */
function checkRegistryHost(where: string, host: string): void {
  const m = /^(\[[0-9a-fA-F:.]+\]|[^:]*)(?::(.*))?$/.exec(host)!;
  const name = m[1];
  const port = m[2];
  if (!name.startsWith('[') && !name.split('.').every((c) => DOMAIN_COMPONENT.test(c))) {
    throw new PyfleetError(where, `the registry host "${name}" is not a valid host name`, 'give a host such as "ghcr.io", "registry.example.com:5000" or "localhost:5000"');
  }
  if (port !== undefined && (!/^[0-9]+$/.test(port) || Number(port) < 1 || Number(port) > 65535)) {
    throw new PyfleetError(where, `the registry port "${port}" of "${host}" is not a port number`, `give a number from 1 to 65535, e.g. "${name}:5000"`);
  }
}

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
    const parsed = parseReference(where, ref);
    if (!parsed.digest) {
      if (parsed.tag === undefined) {
        throw new PyfleetError(where, 'the image has no tag, so every pull may run different code', `pin a tag or digest, e.g. "${ref}:1.0.0" or "${ref}@sha256:<digest>"`);
      }
      if (parsed.tag === 'latest') {
        throw new PyfleetError(where, 'the tag "latest" moves, so rollouts are not repeatable', 'pin a version tag or a digest, e.g. ":1.4.2" or "@sha256:<digest>"');
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
    const given = options.dockerfile ?? 'Dockerfile';
    if (typeof given !== 'string' || given === '') {
      throw new PyfleetError(where, '`dockerfile` is empty', 'give the Dockerfile path relative to the directory, e.g. "Dockerfile" or "docker/Dockerfile.prod"');
    }
    const rel = path.relative(dir, path.resolve(dir, given));
    if (rel === '' || rel === '..' || rel.startsWith(`..${path.sep}`) || path.isAbsolute(rel)) {
      throw new PyfleetError(where, `the dockerfile "${given}" is outside the build context ${dir}, which is the only folder staged for the build`,
        'move the Dockerfile into the directory and give its path relative to it (e.g. "Dockerfile"), or pass the folder holding both the Dockerfile and the sources as the directory');
    }
    const dockerfile = rel.split(path.sep).join('/');
    if (!fs.existsSync(path.join(dir, dockerfile))) {
      throw new PyfleetError(where, `there is no ${dockerfile} in ${dir}`, 'add a Dockerfile there, point `dockerfile` at it, or use GunicornFlaskApp/FastApiApp to have one generated');
    }
    // Lists the context now, so that a link out of it or a Dockerfile that is not staged fails here.
    const files = listSourceFiles(dir, where);
    if (!files.includes(dockerfile)) {
      throw new PyfleetError(where, `the dockerfile "${dockerfile}" is not staged into the build context (${fs.statSync(path.join(dir, dockerfile)).isDirectory() ? 'it is a directory' : 'it is in a folder pyfleet never copies, such as dist/, node_modules/ or .git/'})`,
        'give the path of a Dockerfile outside those folders, e.g. "docker/Dockerfile"');
    }
    return new ContainerImage({ kind: 'build', directory: dir, dockerfile, buildArgs: options.buildArgs ?? {} });
  }

  /** @internal used by the Python constructs: a directory built with a generated Dockerfile. */
  public static _generated(directory: string, recipe: () => BuildRecipe, buildArgs: Record<string, string> = {}): ContainerImage {
    return new ContainerImage({ kind: 'build', directory: path.resolve(directory), dockerfile: 'Dockerfile', buildArgs, recipe });
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
  /**
   * The target-neutral recipe of a generated build (Python constructs); the image target's build
   * generator turns it into the files the staged context gets beside the source.
   */
  public readonly recipe?: () => BuildRecipe;

  private constructor(props: { kind: 'registry' | 'build'; reference?: string; directory?: string; dockerfile?: string; buildArgs?: Record<string, string>; recipe?: () => BuildRecipe }) {
    this.kind = props.kind;
    this.reference = props.reference;
    this.directory = props.directory;
    this.dockerfile = props.dockerfile;
    this.buildArgs = props.buildArgs ?? {};
    this.recipe = props.recipe;
  }

  /**
   * In a program's fingerprint: everything but the recipe, a function whose result the resolved model
   * holds (the content hash of the staged context covers the files it generates).
   * @internal
   */
  public [FINGERPRINT](): unknown {
    return [this.kind, this.reference, this.directory, this.dockerfile, this.buildArgs, this.recipe !== undefined];
  }
}
