import { createHash } from 'crypto';
import * as fs from 'fs';
import * as path from 'path';
import type { ContainerImage } from './image';

/** Names never copied into a staged build context (VCS data, caches, virtualenvs, build output). */
const ALWAYS_SKIPPED = new Set(['.git', '.hg', '.svn', 'node_modules', '__pycache__', '.venv', 'venv', '.mypy_cache', '.pytest_cache', '.ruff_cache', '.tox', 'dist', 'cdk.out']);
const SKIPPED_SUFFIXES = ['.pyc', '.pyo'];

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
  /** Generated files written beside the source (they win over a source file of the same name). */
  readonly generated: Readonly<Record<string, string>>;
}

const cache = new WeakMap<ContainerImage, ImageAsset>();

/** The staged context of a built image (computed once per image object). */
export function imageAsset(image: ContainerImage): ImageAsset {
  if (image.kind !== 'build' || !image.directory) throw new Error('imageAsset: not a built image');
  const hit = cache.get(image);
  if (hit) return hit;
  const generated = image.generated?.().files ?? {};
  const files = listFiles(image.directory).filter((f) => !(f in generated));
  const h = createHash('sha256');
  h.update(`dockerfile\0${image.dockerfile}\0`);
  for (const k of Object.keys(image.buildArgs).sort()) h.update(`arg\0${k}\0${image.buildArgs[k]}\0`);
  for (const f of files) {
    h.update(`file\0${f}\0`);
    h.update(fs.readFileSync(path.join(image.directory, f)));
    h.update('\0');
  }
  for (const f of Object.keys(generated).sort()) h.update(`gen\0${f}\0${generated[f]}\0`);
  const hash = h.digest('hex');
  const tag = hash.slice(0, 12);
  const asset: ImageAsset = { hash, tag, contextPath: `assets/context.${tag}`, directory: image.directory, files, generated };
  cache.set(image, asset);
  return asset;
}

function listFiles(root: string): string[] {
  const out: string[] = [];
  const walk = (rel: string): void => {
    const entries = fs.readdirSync(path.join(root, rel), { withFileTypes: true }).sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
    for (const e of entries) {
      if (ALWAYS_SKIPPED.has(e.name) || SKIPPED_SUFFIXES.some((s) => e.name.endsWith(s))) continue;
      const r = rel ? `${rel}/${e.name}` : e.name;
      if (e.isDirectory()) walk(r);
      else if (e.isFile()) out.push(r);
    }
  };
  walk('');
  return out;
}
