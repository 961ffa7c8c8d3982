import * as path from 'path';
import type { App } from '../app/app';
import { PyfleetError } from '../core/errors';
import type { StackOutput } from '../app/app';
import type { Artifact } from '../model/target';
import { writeArtifacts } from '../app/write';
import type { ComposeProject } from '../render/compose/types';
import type { KubeObject } from '../render/kubernetes';
import { Stack } from '../core/stack';

/** A built image of a stack: what the synthesized outputs reference and where its staged context is. */
export interface BuiltImage {
  /** The reference the manifests and the compose file use: `<stack imageRegistry>/<service>:<content hash>`. */
  readonly reference: string;
  /** `<stack imageRegistry>/<service>` (the reference without its tag). */
  readonly repository: string;
  /** Content hash tag. */
  readonly tag: string;
  /** Staged context path relative to the outdir (`assets/context.<hash>`). */
  readonly contextPath: string;
  /** Dockerfile path relative to the context. */
  readonly dockerfile: string;
  /** Build arguments. */
  readonly buildArgs: Record<string, string>;
  /** Construct paths of the service versions that run this image. */
  readonly users: string[];
}

/** The synthesized outputs of one stack, as the Pulumi components consume them. */
export interface SynthesizedStack {
  /** What `App.synthesize()` gave for the stack: its model, every target's result and the artifacts. */
  readonly output: StackOutput;
  /** Kubernetes objects in apply order. */
  readonly manifests: readonly KubeObject[];
  /** The compose project (absent when the stack has compose turned off). */
  readonly compose?: ComposeProject;
  /** Built images, by reference, in a stable order. */
  readonly images: BuiltImage[];
  /** Every artifact (staged contexts, generated files), by path. */
  readonly artifacts: readonly Artifact[];
}

/** Validates the whole app and renders `stack`, exactly as `app.synth()` would, without writing anything. */
export function synthesizeStack(stack: Stack, where: string): SynthesizedStack {
  if (!(stack instanceof Stack)) {
    throw new PyfleetError(where, '`stack` is not a pyfleet Stack', 'pass the Stack your program built, e.g. { stack: buildShop(app) }');
  }
  const app = stack.node.root as App;
  if (typeof (app as any).synthesize !== 'function') {
    throw new PyfleetError(stack.node.path, 'the stack is not inside a pyfleet App', 'create it with `new Stack(new App(), ...)` from pyfleet');
  }
  const output = app.synthesize().find((o) => o.stack === stack)!;
  const images = new Map<string, BuiltImage>();
  // Versions' images, then workers' (a CeleryWorker's is built too); migrations and schedules run their service's.
  const users = [
    ...output.model.services.flatMap((svc) => svc.versions.map((v) => ({ image: v.image, path: v.path }))),
    ...output.model.workers.map((w) => ({ image: w.image, path: w.path })),
  ];
  for (const version of users) {
    const asset = version.image.asset;
    if (version.image.kind !== 'build' || !asset) continue;
    const reference = version.image.reference;
    const existing = images.get(reference);
    if (existing) {
      existing.users.push(version.path);
      continue;
    }
    images.set(reference, {
      reference,
      repository: reference.slice(0, reference.lastIndexOf(':')),
      tag: asset.tag,
      contextPath: asset.contextPath,
      dockerfile: version.image.dockerfile ?? 'Dockerfile',
      buildArgs: { ...version.image.buildArgs },
      users: [version.path],
    });
  }
  return {
    output,
    manifests: output.kubernetes,
    compose: output.compose,
    images: [...images.values()].sort((a, b) => a.reference.localeCompare(b.reference)),
    artifacts: output.artifacts,
  };
}

/**
 * Writes the staged build contexts of `images` below `outdir` (`<outdir>/assets/context.<hash>`) and
 * returns their absolute paths by reference. A context already there under its hash is left as it is;
 * a new one is written to a temporary folder and moved into place, so a build never sees half of it.
 * Other contexts in the folder (other stacks', earlier synths') are left alone.
 */
export function writeContexts(synth: SynthesizedStack, outdir: string): Map<string, string> {
  const out = new Map<string, string>();
  const wanted: Artifact[] = [];
  for (const image of synth.images) {
    out.set(image.reference, path.resolve(outdir, image.contextPath));
    wanted.push(...synth.artifacts.filter((a) => a.path === image.contextPath || a.path.startsWith(`${image.contextPath}/`)));
  }
  writeArtifacts(outdir, wanted, { prune: false });
  return out;
}

/** The directory staged contexts go to: the option, else the app's outdir. */
export function assetOutdir(stack: Stack, option: string | undefined): string {
  return path.resolve(option ?? ((stack.node.root as any).outdir as string | undefined) ?? 'dist');
}

/** Sorted shallow copy of a record. */
export function sorted<T>(o: Record<string, T>): Record<string, T> {
  const out: Record<string, T> = {};
  for (const k of Object.keys(o).sort()) out[k] = o[k];
  return out;
}
