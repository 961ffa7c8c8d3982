import { createHash } from 'crypto';
import * as fs from 'fs';
import * as path from 'path';
import { PyfleetError } from '../core/errors';
import { FINGERPRINT } from '../core/fingerprint';
import { BuildGenerators, BuildRecipe, generateBuildFiles } from './build';
import type { ContainerImage } from './image';
import type { Artifact } from '../model/target';

/** Names never copied into a staged build context (VCS data, caches, virtualenvs, build output). */
const ALWAYS_SKIPPED = new Set(['.git', '.hg', '.svn', 'node_modules', '__pycache__', '.venv', 'venv', '.mypy_cache', '.pytest_cache', '.ruff_cache', '.tox', 'dist', 'cdk.out']);
const SKIPPED_SUFFIXES = ['.pyc', '.pyo'];

/** Whether a path relative to a source directory is never staged (it is, or is inside, a skipped folder). */
export function isSkippedSourcePath(relative: string): boolean {
  return relative.split(/[\\/]/).some((seg) => ALWAYS_SKIPPED.has(seg));
}

/** A staged build context: the source files plus generated ones, named by content hash. */
export interface ImageAsset {
  /** sha256 over every file's path and bytes, the Dockerfile name and build args. */
  readonly hash: string;
  /** Short hash used as image tag and folder name. */
  readonly tag: string;
  /** Context path relative to the outdir, e.g. `assets/context.1a2b3c4d5e6f`. */
  readonly contextPath: string;
  /** The source directory. */
  readonly directory: string;
  /** Source files to copy (relative, '/'-separated, sorted). */
  readonly files: readonly string[];
  /**
   * Generated files written beside the source (they win over a source file of the same name). Made
   * again from the image's recipe when read, not kept: at 2,000 services holding them until the
   * files are written raised the peak memory of a synth by 50 MiB.
   */
  readonly generated: Readonly<Record<string, string>>;
  /** The names of the generated files, sorted (without making them). */
  readonly generatedNames: readonly string[];
}

/** An ImageAsset whose generated files are made when read (see `ImageAsset.generated`). */
class StagedContext implements ImageAsset {
  constructor(readonly hash: string, readonly tag: string, readonly contextPath: string, readonly directory: string, readonly files: readonly string[],
    readonly generatedNames: readonly string[], private readonly make: () => Readonly<Record<string, string>>) {
    Object.freeze(this);
  }

  get generated(): Readonly<Record<string, string>> {
    return this.make();
  }

  /** In a program's fingerprint: the content hash covers the source and the generated files. */
  [FINGERPRINT](): unknown {
    return [this.hash, this.contextPath, this.directory, this.files, this.generatedNames];
  }
}

/** The staged context each artifact of {@link contextArtifacts} was made for. */
const ARTIFACT_ASSETS = new WeakMap<Artifact, ImageAsset>();

/**
 * The artifacts of a staged context: one that copies the source files, and one per generated file,
 * whose content is made when read (the files of every image are not all held while other targets
 * render). Each is known to come from `asset` (see {@link artifactAsset}).
 */
export function contextArtifacts(asset: ImageAsset): Artifact[] {
  const out: Artifact[] = [{ path: asset.contextPath, copyFrom: { directory: asset.directory, files: asset.files } }];
  for (const f of [...asset.generatedNames].sort((a, b) => a.localeCompare(b))) {
    out.push(Object.defineProperty({ path: `${asset.contextPath}/${f}` }, 'content', { get: () => asset.generated[f], enumerable: true }) as Artifact);
  }
  for (const a of out) ARTIFACT_ASSETS.set(a, asset);
  return out;
}

/** The staged context `a` was made for by {@link contextArtifacts}, if it was. */
export function artifactAsset(a: Artifact): ImageAsset | undefined {
  return ARTIFACT_ASSETS.get(a);
}

/**
 * The staged context of a built image, from the source directory as it is now and the files the
 * build generator of its recipe makes. `cache` (one per synthesis) avoids hashing an image twice;
 * `made` is handed each new context with the generated files made to hash it (a synth starts copying it).
 */
export function imageAsset(image: ContainerImage, generators: BuildGenerators, where = '', cache?: Map<ContainerImage, ImageAsset>,
  made?: (asset: ImageAsset, generated: Readonly<Record<string, string>>) => void): ImageAsset {
  if (image.kind !== 'build' || !image.directory) throw new Error('imageAsset: not a built image');
  const hit = cache?.get(image);
  if (hit) return hit;
  const recipe = image.recipe?.();
  const key = recipe ? recipeKey(recipe) : undefined;
  const make = maker(recipe, generators, where, key);
  const generated = make();
  const files = listSourceFiles(image.directory, where || `the build context ${image.directory}`).filter((f) => !(f in generated));
  const h = createHash('sha256');
  h.update(`dockerfile\0${image.dockerfile}\0`);
  for (const k of Object.keys(image.buildArgs).sort()) h.update(`arg\0${k}\0${image.buildArgs[k]}\0`);
  for (const f of files) {
    h.update(`file\0${f}\0`);
    h.update(fs.readFileSync(path.join(image.directory, f)));
    h.update('\0');
  }
  // The same bytes as one `gen\0<name>\0<content>\0` string, without copying each generated file
  // (kilobytes per image) into a new string first.
  for (const f of Object.keys(generated).sort()) {
    h.update(`gen\0${f}\0`);
    h.update(generated[f]);
    h.update('\0');
  }
  const hash = h.digest('hex');
  const tag = hash.slice(0, 12);
  const asset: ImageAsset = new StagedContext(hash, tag, `assets/context.${tag}`, image.directory, files, Object.keys(generated).sort(), make);
  cache?.set(image, asset);
  made?.(asset, generated);
  return asset;
}

/**
 * The generated files of the last few recipes. The versions of a service have the same recipe and
 * come one after another (when hashed, and when written): they share one generation, and nothing
 * keeps every image's files alive.
 */
const recent: { readonly generators: BuildGenerators; readonly key: string; readonly files: Readonly<Record<string, string>> }[] = [];
const RECENT = 8;

/**
 * What makes an asset's generated files again. Made here, not in imageAsset: a closure there would
 * share its scope with the files it generated first and keep them alive.
 */
function maker(recipe: BuildRecipe | undefined, generators: BuildGenerators, where: string, key: string | undefined): () => Readonly<Record<string, string>> {
  return () => (recipe ? generatedFiles(recipe, generators, where, key) : {});
}

/** A recipe's JSON, or undefined for one with a function in it (not plain data: two that print alike may differ). */
function recipeKey(recipe: BuildRecipe): string | undefined {
  let plain = true;
  const key = JSON.stringify(recipe, (_k, v: unknown) => {
    if (typeof v === 'function') plain = false;
    return v;
  });
  return plain ? key : undefined;
}

function generatedFiles(recipe: BuildRecipe, generators: BuildGenerators, where: string, key: string | undefined): Readonly<Record<string, string>> {
  if (key !== undefined) {
    const hit = recent.find((r) => r.generators === generators && r.key === key);
    if (hit) return hit.files;
  }
  // Frozen: the same files are handed to every reader.
  const files = Object.freeze(generateBuildFiles(recipe, generators, where));
  if (key !== undefined) {
    recent.unshift({ generators, key, files });
    if (recent.length > RECENT) recent.pop();
  }
  return files;
}

/**
 * The files of a source directory that a staged build context gets: relative, '/'-separated, sorted,
 * without VCS data, caches, virtualenvs and build output. A symbolic link to a file or folder inside
 * the directory is followed (the context gets the target's content); a link that points outside the
 * directory, dangles or loops back into a folder it is in, and anything that is neither a file, a
 * folder nor a link (a socket, a FIFO, a device), is refused with a {@link PyfleetError}: the build
 * could not see it, and skipping it silently would build an image without it.
 *
 * @param root the source directory
 * @param where construct path (or value) named in the error; the directory itself when omitted
 */
export function listSourceFiles(root: string, where: string = root): string[] {
  // The real path of the root is needed only when a link is found: until then the folders walked
  // are named from ROOT, which stands for it (a folder that is not a link is really where its parent
  // really is, under its own name). Most source folders have no link and cost no realpath call.
  let realRootMemo: string | undefined;
  const realRoot = (): string => (realRootMemo ??= fs.realpathSync.native(root));
  const ROOT = '\0';
  const real = (p: string): string => (p.startsWith(ROOT) ? path.join(realRoot(), p.slice(ROOT.length)) : p);
  const inside = (p: string): boolean => p === realRoot() || p.startsWith(realRoot().endsWith(path.sep) ? realRoot() : realRoot() + path.sep);
  const out: string[] = [];
  const walk = (rel: string, ancestors: readonly string[]): void => {
    const entries = fs.readdirSync(path.join(root, rel), { withFileTypes: true }).sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
    for (const e of entries) {
      if (ALWAYS_SKIPPED.has(e.name) || SKIPPED_SUFFIXES.some((s) => e.name.endsWith(s))) continue;
      const r = rel ? `${rel}/${e.name}` : e.name;
      const abs = path.join(root, r);
      let stat: fs.Stats | undefined;
      let linked = abs;
      if (e.isSymbolicLink()) {
        const target = fs.readlinkSync(abs);
        try {
          linked = fs.realpathSync.native(abs);
          stat = fs.statSync(linked);
        } catch (err) {
          const loop = (err as NodeJS.ErrnoException).code === 'ELOOP';
          throw new PyfleetError(where, `"${r}" in ${root} is a symbolic link to "${target}", which ${loop ? 'loops back to itself' : 'does not exist'}`,
            'remove the link, or make it point at a file inside the source directory');
        }
        if (!inside(linked)) {
          throw new PyfleetError(where, `"${r}" in ${root} is a symbolic link to "${target}" (${linked}), outside the source directory; a build context holds only the source directory, so the image would not get it`,
            'copy the file or folder into the source directory instead of linking it, or move the link out of the source directory');
        }
        if (stat.isDirectory() && ancestors.some((a) => real(a) === linked)) {
          throw new PyfleetError(where, `"${r}" in ${root} is a symbolic link to "${target}", a folder it is itself in, so the tree never ends`,
            'remove the link, or point it at a folder that does not contain it');
        }
      }
      const isDir = stat ? stat.isDirectory() : e.isDirectory();
      const isFile = stat ? stat.isFile() : e.isFile();
      if (isDir) {
        walk(r, [...ancestors, stat ? linked : `${ancestors[ancestors.length - 1]}${path.sep}${e.name}`]);
      } else if (isFile) {
        out.push(r);
      } else {
        throw new PyfleetError(where, `"${r}" in ${root} is ${stat ? 'a symbolic link to ' : ''}a socket, FIFO or device, which cannot be copied into a build context`,
          'move it out of the source directory');
      }
    }
  };
  walk('', [ROOT]);
  return out;
}
