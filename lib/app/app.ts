import { createHash } from 'crypto';
import * as path from 'path';
import { App as Cdk8sApp, AppProps as Cdk8sAppProps, Chart } from 'cdk8s';
import { validateMesh } from '../mesh/model';
import { resolveStack } from '../model/resolve';
import type { StackModel } from '../model/stack';
import type { ComposeProject } from '../render/compose/types';
import { builtinTargets } from '../render/defaults';
import type { KubeObject } from '../render/kubernetes';
import type { Topology } from '../render/topology/types';
import { dumpDocuments } from '../render/yaml';
import type { ImageAsset } from '../service/asset';
import type { BuildGenerators } from '../service/build';
import type { ContainerImage } from '../service/image';
import { PyfleetError, PyfleetValidationError } from '../core/errors';
import { fingerprint } from '../core/fingerprint';
import { Stack } from '../core/stack';
import { Artifact, Target } from '../model/target';
import { cacheFolder, RenderCache, rendererIdentity } from './cache';
import { ContextStager } from './stage';
import { isKept, keptArtifact, writeArtifacts } from './write';
import { orphanedVolumeWarnings } from './orphans';
import { validateModel } from '../model/validation';
import { collectWarnings, formatWarning, PyfleetWarning } from '../core/warnings';

/** Properties of an App. */
export interface AppProps {
  /**
   * Directory every artifact is written to.
   * @default - `$CDK8S_OUTDIR` (set by `cdk8s synth`), else `dist`
   */
  readonly outdir?: string;
  /**
   * The output targets, in render order. A third-party target is a value added here.
   * @default - pyfleet's own: image, compose, kubernetes with Istio, and topology (`builtinTargets()`)
   */
  readonly targets?: readonly Target[];
  /**
   * Whether `synth()` keeps the files of targets that set `cacheVersion` when the program is the
   * same as at the last synth into this outdir and the files are still as that synth left them
   * (same size, inode and modification time): those targets then do not render. The program is the
   * same when every construct's fields and every resolved model are (so also every staged context's
   * content hash) and pyfleet's code is; a program that holds a function anywhere (a lazy value, a
   * callback) always renders. What the last synth left is recorded in `$PYFLEET_CACHE_DIR`, else in
   * `node_modules/.cache/pyfleet` (`PYFLEET_CACHE_DIR=off` turns it off for every App).
   * @default true
   */
  readonly renderCache?: boolean;
}

/** What the last `synth()` did with the render cache (tests and benchmarks). @internal */
export interface CacheReport {
  /** `<stack>/<target>` of the targets whose files were kept instead of rendered. */
  readonly kept: readonly string[];
  /** Why nothing was kept or recorded, if so: no cache folder, turned off, or where the program holds a function. */
  readonly off?: string;
}

/** What synthesizing one stack gave. */
export interface StackOutput {
  /** The stack. */
  readonly stack: Stack;
  /** Its resolved model, as the targets saw it. */
  readonly model: StackModel;
  /** The Kubernetes objects in apply order (empty without a kubernetes target). */
  readonly kubernetes: readonly KubeObject[];
  /** The compose project, when the stack has one. */
  readonly compose?: ComposeProject;
  /**
   * Every target's in-memory result by target name (`kubernetes`, `compose`, `image`, `topology`, and
   * third-party ones): `kubernetes` is the objects in apply order, `compose` the compose project,
   * `image` the paths of the staged build contexts below the outdir, and `topology` the graph of the
   * stack. A target that is not among the App's targets, or returns no result, has no entry.
   */
  readonly results: { readonly kubernetes?: KubeObject[]; readonly compose?: ComposeProject; readonly image?: string[]; readonly topology?: Topology; readonly [target: string]: unknown };
  /** Every file to write below the outdir. */
  readonly artifacts: readonly Artifact[];
}

function asPyfleetError(e: unknown, where = ''): PyfleetError {
  if (e instanceof PyfleetError) return e;
  return new PyfleetError(where, (e as Error)?.message ?? String(e), 'see the message');
}

/**
 * The root of a pyfleet program: a cdk8s App whose `synth()` writes every artifact of every stack
 * (Kubernetes manifests, compose project, staged build contexts), or nothing at all when the model has
 * a mistake.
 */
export class App extends Cdk8sApp {
  /** The output targets. */
  public readonly targets: readonly Target[];
  /** Warnings of the last `synth()` about the output it replaced (volumes it no longer writes). */
  private synthNotes: PyfleetWarning[] = [];
  private readonly renderCache: boolean;
  /** @internal */
  public _lastCache: CacheReport = { kept: [] };

  constructor(props: AppProps = {}) {
    super({ outdir: props.outdir } as Cdk8sAppProps);
    const targets = [...(props.targets ?? builtinTargets())];
    const names = new Set<string>();
    for (const t of targets) {
      if (!t || typeof t.name !== 'string' || typeof t.render !== 'function') {
        throw new PyfleetError('', 'a value in `targets` is not a target (it needs a name and a render function)', 'pass targets made by their factories, e.g. [...builtinTargets(), myTarget()]');
      }
      if (names.has(t.name)) throw new PyfleetError('', `two targets are named "${t.name}"`, 'give each target its own name');
      names.add(t.name);
    }
    this.targets = targets;
    this.renderCache = props.renderCache ?? true;
  }

  /** The stacks of this app, in definition order. */
  public get stacks(): Stack[] {
    return this.node.findAll().filter((c): c is Stack => c instanceof Stack);
  }

  /** Build generators of the App's targets (targets that carry `buildGenerators`). */
  private get buildGenerators(): BuildGenerators {
    const out: Record<string, BuildGenerators[string]> = {};
    for (const t of this.targets) Object.assign(out, (t as { buildGenerators?: BuildGenerators }).buildGenerators ?? {});
    return out;
  }

  /**
   * Resolves every stack into its model, validates everything, and renders every stack with every
   * target in memory, without writing anything. Throws one PyfleetValidationError listing every problem
   * found (props, cross-object rules, target rules, construct validations, two artifacts on one path).
   * It never changes the construct tree: call it as often as you like.
   */
  public synthesize(): StackOutput[] {
    return this.render(true);
  }

  /**
   * Resolves, validates and renders; without `keepResults`, only the artifacts are kept (what `synth()`
   * writes). With `cache`, a target whose files of the last synth are current keeps them (its
   * artifacts are then kept artifacts, and its result is absent). With `stager`, each staged context
   * starts to be copied as soon as it is resolved (or, when some other target makes it, as soon as
   * that target returns it).
   */
  private render(keepResults: boolean, cache?: RenderCache, stager?: ContextStager): StackOutput[] {
    const stacks = this.stacks;
    const errors: PyfleetError[] = [...validateModel(stacks), ...validateMesh(stacks)];
    const assets = new Map<ContainerImage, ImageAsset>();
    const ctx = { buildGenerators: this.buildGenerators, assets, outdir: path.resolve(this.outdir), staged: stager && ((a: ImageAsset, g: Readonly<Record<string, string>>) => stager.stageAsset(a, g)) };
    const models = stacks.map((s) => resolveStack(s, ctx, errors));
    stager?.flush();
    for (const t of this.targets) {
      try {
        errors.push(...(t.validate?.(models) ?? []).map((e) => asPyfleetError(e)));
      } catch (e) {
        errors.push(asPyfleetError(e));
      }
    }
    // cdk8s construct-level validation (node.addValidation).
    for (const c of this.node.findAll()) errors.push(...c.node.validate().map((m) => new PyfleetError(c.node.path, m, 'see the message')));
    if (errors.length > 0) throw new PyfleetValidationError(errors);

    const keys = cache ? this.cacheKeys(models) : undefined;
    const kept: string[] = [];
    const outputs = models.map((model) => {
      const results: Record<string, unknown> = {};
      const artifacts: Artifact[] = [];
      for (const t of this.targets) {
        try {
          const key = keys?.(t);
          let files = key === undefined ? undefined : cache!.lookup(model.path, t.name, key);
          if (files) {
            for (const f of files) artifacts.push(keptArtifact(f));
            kept.push(`${model.path}/${t.name}`);
          } else {
            const from = artifacts.length;
            renderTarget(t, model, keepResults, results, artifacts);
            const made = artifacts.slice(from);
            stager?.offer(made);
            // A target with a staged context is not one the cache can keep.
            if (key !== undefined && made.every((a) => a.content !== undefined)) files = made.map((a) => a.path);
          }
          if (files) cache!.record(model.path, t.name, key!, files);
        } catch (e) {
          errors.push(asPyfleetError(e, model.path));
        }
      }
      return {
        stack: model.construct,
        model,
        kubernetes: (results.kubernetes as KubeObject[] | undefined) ?? [],
        compose: results.compose as ComposeProject | undefined,
        results,
        artifacts,
      } as StackOutput;
    });
    errors.push(...artifactClashes(outputs.flatMap((o) => o.artifacts)));
    if (errors.length > 0) throw new PyfleetValidationError(errors);
    if (cache) this._lastCache = { ...this._lastCache, kept };
    return outputs;
  }

  /**
   * The cache key of each target that may be kept (undefined for one that always renders), or
   * undefined when the program has no fingerprint (it holds a function): every target renders.
   */
  private cacheKeys(models: readonly StackModel[]): ((t: Target) => string | undefined) | undefined {
    // The models' lookup functions (`service(name)`, `dataStore(name)`) only read the models.
    const data = models.map((m) => ({ ...m, service: undefined, dataStore: undefined }));
    const fp = fingerprint(this, { extra: data, salt: rendererIdentity(), skipRootFields: ['targets', 'synthNotes', '_lastCache', 'renderCache'] });
    if (fp.digest === undefined) {
      this._lastCache = { kept: [], off: `the program holds a function at ${fp.opaque}` };
      return undefined;
    }
    const digest = fp.digest;
    return (t) => (t.cacheVersion === undefined ? undefined : createHash('sha256').update(`${digest}\0${t.name}\0${t.cacheVersion}`).digest('hex'));
  }

  /**
   * Writes every artifact below `outdir`, plus `<chart>.k8s.yaml` for each plain cdk8s Chart beside
   * the stacks. Everything is rendered and checked in memory first, so a mistake writes nothing. Then
   * only what changed is written: a file that already holds the same bytes is left untouched, a staged
   * context already there under its content hash is not copied again, and files of earlier synths that
   * this one does not make are removed. Each file and each new context is moved into place whole.
   */
  public synth(): void {
    const outdir = path.resolve(this.outdir);
    const folder = this.renderCache ? cacheFolder() : undefined;
    this._lastCache = { kept: [], off: folder ? undefined : this.renderCache ? 'no cache folder' : 'renderCache is false' };
    const cache = folder ? new RenderCache(folder, outdir) : undefined;
    // Staged contexts are copied (into temporary folders) from when they are resolved, while the rest checks and renders.
    const stager = new ContextStager(outdir);
    let models: StackModel[];
    try {
      const outputs = this.render(false, cache, stager);
      models = outputs.map((o) => o.model);
      const plain = this.plainCharts().map((c) => ({ path: `${c.node.id}.k8s.yaml`, content: dumpDocuments(c.toJson()) }));
      const artifacts = [...outputs.flatMap((o) => o.artifacts), ...plain];
      const clashes = artifactClashes(artifacts);
      if (clashes.length > 0) throw new PyfleetValidationError(clashes);
      // Read before the files are replaced: volumes the earlier output had and this one drops. The
      // manifests it finds unchanged, the writer leaves alone without comparing them again.
      const unchanged = new Set<string>();
      this.synthNotes = orphanedVolumeWarnings(outdir, artifacts, unchanged);
      writeArtifacts(outdir, dedupe(artifacts), { unchanged, stager });
    } finally {
      // After a failure: nothing this synth copied remains (after the writer finished, nothing to do).
      stager.abort();
    }
    cache?.save();
    // eslint-disable-next-line no-console
    for (const w of this.warningsOf(models)) console.warn(formatWarning(w));
  }

  /** Every manifest of the App (stacks and plain charts) as one YAML string, like cdk8s's `synthYaml`. */
  public synthYaml(): string {
    const outputs = this.synthesize();
    const docs: object[] = [];
    for (const chart of this.charts) {
      const out = outputs.find((o) => o.stack === (chart as unknown));
      docs.push(...(out ? out.kubernetes : chart.toJson()));
    }
    return dumpDocuments(docs);
  }

  /**
   * The Kubernetes manifests of one stack, as `stack.toJson()` and cdk8s's `Testing.synth(stack)`
   * return them.
   * @internal
   */
  public _stackManifests(stack: Stack): KubeObject[] {
    const out = this.synthesize().find((o) => o.stack === stack);
    return out ? [...out.kubernetes] : [];
  }

  /**
   * Warnings about the model (things that may go wrong but do not stop the synth, e.g. workers that
   * may not fit the memory limit), and those of the last `synth()` about the output it replaced (a
   * named volume or claim the earlier output had and the new one does not). `synth()` prints them to stderr.
   */
  public warnings(): PyfleetWarning[] {
    if (!this.targets.some((t) => t.warnings)) return this.warningsOf([]);
    let models: StackModel[] | undefined;
    try {
      models = this.stacks.map((s) => resolveStack(s, { buildGenerators: this.buildGenerators, assets: new Map() }, []));
    } catch { /* a model that does not resolve reports its problems at synth */ }
    return this.warningsOf(models);
  }

  /** The warnings of the constructs, and the targets' warnings about these models (none without models). */
  private warningsOf(models: readonly StackModel[] | undefined): PyfleetWarning[] {
    const out = [...collectWarnings(this), ...this.synthNotes];
    if (!models) return out;
    for (const t of this.targets) if (t.warnings) out.push(...t.warnings(models));
    return out;
  }

  private plainCharts(): Chart[] {
    // cdk8s's `charts` orders every chart by its dependencies, which at 1,000 services took 25 ms of a
    // synth: asked for only when there is a chart that is not a stack.
    if (!this.node.findAll().some((c) => c instanceof Chart && !(c instanceof Stack))) return [];
    return this.charts.filter((c) => !(c instanceof Stack));
  }
}

/**
 * One target's output into `results` and `artifacts`. A function of its own so that the output is
 * referenced from no frame once it returns: a local of the loop above stayed a root of the heap while
 * the next target rendered (at 2,000 services the compose document, 37 MB, lived through the
 * Kubernetes target). synth() needs only the files: the objects go as soon as they are serialized.
 */
function renderTarget(t: Target, model: StackModel, keepResults: boolean, results: Record<string, unknown>, artifacts: Artifact[]): void {
  const out = t.render(model, { result: keepResults });
  if (out.result !== undefined && keepResults) results[t.name] = out.result;
  for (const a of out.artifacts ?? []) artifacts.push(a);
}

function sameArtifact(a: Artifact, b: Artifact): boolean {
  // A kept file was checked when the same program last wrote it.
  if (isKept(a) || isKept(b)) return true;
  if (a.content !== undefined || b.content !== undefined) return a.content === b.content;
  return a.copyFrom!.directory === b.copyFrom!.directory && a.copyFrom!.files.join('\0') === b.copyFrom!.files.join('\0');
}

/** Two different artifacts on one path (the same staged context of two stacks is shared instead). */
function artifactClashes(artifacts: readonly Artifact[]): PyfleetError[] {
  const seen = new Map<string, Artifact>();
  const errors: PyfleetError[] = [];
  for (const a of artifacts) {
    const other = seen.get(a.path);
    if (other && !sameArtifact(a, other)) errors.push(new PyfleetError('', `two different artifacts would be written to ${a.path}`, 'give stacks (and plain charts) distinct names'));
    else seen.set(a.path, a);
  }
  return errors;
}

function dedupe(artifacts: readonly Artifact[]): Artifact[] {
  const seen = new Set<string>();
  return artifacts.filter((a) => (seen.has(a.path) ? false : (seen.add(a.path), true)));
}
