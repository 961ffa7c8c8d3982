import * as fs from 'fs';
import * as path from 'path';
import { App as Cdk8sApp, AppProps as Cdk8sAppProps, Chart } from 'cdk8s';
import * as yaml from 'js-yaml';
import { validateMesh } from '../mesh/model';
import { resolveStack } from '../model/resolve';
import type { StackModel } from '../model/stack';
import type { ComposeProject } from '../render/compose/types';
import { builtinTargets } from '../render/defaults';
import type { KubeObject } from '../render/kubernetes';
import type { Topology } from '../render/topology/types';
import type { ImageAsset } from '../service/asset';
import type { BuildGenerators } from '../service/build';
import type { ContainerImage } from '../service/image';
import { PyfleetError, PyfleetValidationError } from './errors';
import { Stack } from './stack';
import { Artifact, Target } from './target';
import { validateModel } from './validation';
import { collectWarnings, formatWarning, PyfleetWarning } from './warnings';

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
  /** Every target's in-memory result by target name (`kubernetes`, `compose`, `image`, `topology`, and third-party ones). */
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
    const stacks = this.stacks;
    const errors: PyfleetError[] = [...validateModel(stacks), ...validateMesh(stacks)];
    const assets = new Map<ContainerImage, ImageAsset>();
    const ctx = { buildGenerators: this.buildGenerators, assets };
    const models = stacks.map((s) => resolveStack(s, ctx, errors));
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

    const outputs = models.map((model) => {
      const results: Record<string, unknown> = {};
      const artifacts: Artifact[] = [];
      for (const t of this.targets) {
        try {
          const out = t.render(model);
          if (out.result !== undefined) results[t.name] = out.result;
          artifacts.push(...(out.artifacts ?? []));
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
    return outputs;
  }

  /**
   * Writes every artifact below `outdir`, plus `<chart>.k8s.yaml` for each plain cdk8s Chart beside
   * the stacks. Everything is rendered and checked in memory first, then written to a temporary
   * directory and moved into place, so a mistake leaves no half-written output.
   */
  public synth(): void {
    const outputs = this.synthesize();
    const plain = this.plainCharts().map((c) => ({ path: `${c.node.id}.k8s.yaml`, content: dumpAll(c.toJson()) }));
    const artifacts = [...outputs.flatMap((o) => o.artifacts), ...plain];
    const clashes = artifactClashes(artifacts);
    if (clashes.length > 0) throw new PyfleetValidationError(clashes);
    writeArtifacts(this.outdir, dedupe(artifacts));
    // eslint-disable-next-line no-console
    for (const w of this.warnings()) console.warn(formatWarning(w));
  }

  /** Every manifest of the App (stacks and plain charts) as one YAML string, like cdk8s's `synthYaml`. */
  public synthYaml(): string {
    const outputs = this.synthesize();
    const docs: object[] = [];
    for (const chart of this.charts) {
      const out = outputs.find((o) => o.stack === (chart as unknown));
      docs.push(...(out ? out.kubernetes : chart.toJson()));
    }
    return dumpAll(docs);
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
   * may not fit the memory limit). `synth()` prints them to stderr.
   */
  public warnings(): PyfleetWarning[] {
    const out = collectWarnings(this);
    const withWarnings = this.targets.filter((t) => t.warnings);
    if (withWarnings.length === 0) return out;
    try {
      const models = this.stacks.map((s) => resolveStack(s, { buildGenerators: this.buildGenerators, assets: new Map() }, []));
      for (const t of withWarnings) out.push(...t.warnings!(models));
    } catch { /* a model that does not resolve reports its problems at synth */ }
    return out;
  }

  private plainCharts(): Chart[] {
    return this.charts.filter((c) => !(c instanceof Stack));
  }
}

function dumpAll(docs: readonly object[]): string {
  return docs.map((o) => yaml.dump(o, { noRefs: true, lineWidth: -1, sortKeys: false })).join('---\n');
}

function sameArtifact(a: Artifact, b: Artifact): boolean {
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

function writeArtifacts(outdir: string, artifacts: readonly Artifact[]): void {
  const abs = path.resolve(outdir);
  const tmp = path.join(path.dirname(abs), `.${path.basename(abs)}.tmp-pyfleet-${process.pid}`);
  fs.rmSync(tmp, { recursive: true, force: true });
  try {
    for (const a of artifacts) {
      const target = path.join(tmp, a.path);
      if (a.copyFrom) {
        for (const f of a.copyFrom.files) {
          const dest = path.join(target, f);
          fs.mkdirSync(path.dirname(dest), { recursive: true });
          fs.copyFileSync(path.join(a.copyFrom.directory, f), dest);
        }
        fs.mkdirSync(target, { recursive: true });
      } else {
        fs.mkdirSync(path.dirname(target), { recursive: true });
        fs.writeFileSync(target, a.content ?? '');
      }
    }
    fs.mkdirSync(abs, { recursive: true });
    // Replace each top-level entry we own as a whole (stale assets of older synths go with it).
    for (const entry of fs.readdirSync(tmp)) {
      fs.rmSync(path.join(abs, entry), { recursive: true, force: true });
      fs.renameSync(path.join(tmp, entry), path.join(abs, entry));
    }
  } finally {
    fs.rmSync(tmp, { recursive: true, force: true });
  }
}
