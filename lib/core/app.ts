import * as fs from 'fs';
import * as path from 'path';
import { App as Cdk8sApp, AppProps as Cdk8sAppProps } from 'cdk8s';
import { PyfleetError, PyfleetValidationError } from './errors';
import { Artifact, renderers, StackOutput } from './renderer';
import { Stack } from './stack';
import { validateModel } from './validation';
import { collectWarnings, formatWarning, PyfleetWarning } from './warnings';

/** Properties of an App. */
export interface AppProps {
  /**
   * Directory every artifact is written to.
   * @default - `$CDK8S_OUTDIR` (set by `cdk8s synth`), else `dist`
   */
  readonly outdir?: string;
}

/**
 * The root of a pyfleet program: a cdk8s App whose `synth()` writes every artifact of every stack
 * (Kubernetes manifests, compose project, staged build contexts), or nothing at all when the model has
 * a mistake.
 */
export class App extends Cdk8sApp {
  private readonly prepared = new Set<Stack>();

  constructor(props: AppProps = {}) {
    super({ outdir: props.outdir } as Cdk8sAppProps);
  }

  /** The stacks of this app, in definition order. */
  public get stacks(): Stack[] {
    return this.node.findAll().filter((c): c is Stack => c instanceof Stack);
  }

  /**
   * Validates the whole model and renders every stack in memory, without writing anything.
   * Throws one PyfleetValidationError listing every problem found.
   */
  public synthesize(): StackOutput[] {
    const stacks = this.stacks;
    const errors: Error[] = [...validateModel(stacks)];
    for (const stack of stacks) {
      for (const r of renderers()) errors.push(...(r.validate?.(stack) ?? []));
    }
    const pyErrors = errors.map((e) => (e instanceof PyfleetError ? e : new PyfleetError('', e.message, 'see the message')));
    if (pyErrors.length > 0) throw new PyfleetValidationError(pyErrors);

    for (const stack of stacks) {
      if (this.prepared.has(stack)) continue;
      for (const r of renderers()) r.prepare?.(stack);
      this.prepared.add(stack);
    }
    // cdk8s construct-level validation (node.addValidation), once for the whole app.
    const constructErrors = this.node.findAll().flatMap((c) => c.node.validate().map((m) => new PyfleetError(c.node.path, m, 'see the message')));
    if (constructErrors.length > 0) throw new PyfleetValidationError(constructErrors);

    return stacks.map((stack) => {
      const results: Record<string, unknown> = {};
      const artifacts: Artifact[] = [];
      for (const r of renderers()) {
        const out = r.render?.(stack, results);
        if (!out) continue;
        if (out.result !== undefined) results[r.name] = out.result;
        artifacts.push(...(out.artifacts ?? []));
      }
      return { stack, results, artifacts };
    });
  }

  /**
   * Writes every artifact below `outdir`. Everything is rendered and checked in memory first, then
   * written to a temporary directory and moved into place, so a mistake leaves no half-written output.
   */
  public synth(): void {
    const outputs = this.synthesize();
    writeArtifacts(this.outdir, outputs.flatMap((o) => o.artifacts));
    // eslint-disable-next-line no-console
    for (const w of this.warnings()) console.warn(formatWarning(w));
  }

  /**
   * Warnings about the model (things that may go wrong but do not stop the synth, e.g. workers that
   * may not fit the memory limit). `synth()` prints them to stderr.
   */
  public warnings(): PyfleetWarning[] {
    return collectWarnings(this);
  }
}

function writeArtifacts(outdir: string, artifacts: Artifact[]): void {
  const seen = new Set<string>();
  for (const a of artifacts) {
    if (seen.has(a.path)) throw new PyfleetError('', `two artifacts would be written to ${a.path}`, 'give stacks distinct names');
    seen.add(a.path);
  }
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
