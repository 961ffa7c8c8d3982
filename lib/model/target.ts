import type { PyfleetError } from '../core/errors';
import type { PyfleetWarning } from '../core/warnings';
import type { StackModel } from './stack';

/** A file a target wants written below the app's outdir. */
export interface Artifact {
  /** Path relative to the outdir, with '/' separators. */
  readonly path: string;
  /** Text content. Exactly one of `content` and `copyFrom` is set. */
  readonly content?: string;
  /** Copy this directory's files (already filtered) to `path`. */
  readonly copyFrom?: {
    /** The source directory the files are read from. */
    readonly directory: string;
    /** The files to copy, relative to `directory`, '/'-separated and sorted. */
    readonly files: readonly string[];
  };
}

/** What one target made of one stack: its typed in-memory result and the files to write. */
export interface TargetOutput<R = unknown> {
  /** The in-memory result (e.g. Kubernetes objects, the compose project). */
  readonly result?: R;
  /** Files to write below the outdir. */
  readonly artifacts?: readonly Artifact[];
}

/** How a target's output is used. */
export interface RenderOptions {
  /**
   * Whether the caller keeps the in-memory result (`TargetOutput.result`).
   * @default true
   */
  readonly result?: boolean;
}

/**
 * One output target: a pure function from the resolved model of a stack to a typed result and its
 * files. A target never adds to or edits the user's construct tree. Targets are values passed to the
 * App (`new App({ targets: [...] })`); pyfleet's own are the default.
 */
export interface Target<R = unknown> {
  /** Unique name; also the key of the target's result in `StackOutput.results`. */
  readonly name: string;
  /**
   * Rules only this target has, checked against every stack's model before anything is rendered.
   * Return problems instead of throwing; they are reported together with every other problem.
   */
  validate?(models: readonly StackModel[]): PyfleetError[];
  /** Things that may go wrong on this target but do not stop the synth (listed by `App.warnings()`). */
  warnings?(models: readonly StackModel[]): PyfleetWarning[];
  /**
   * Renders one stack. Called only after every model validated. With `options.result` false the
   * caller keeps only the artifacts (`app.synth()`), so a target may leave its result out and save
   * the memory it takes; the artifacts must be the same either way.
   */
  render(model: StackModel, options?: RenderOptions): TargetOutput<R>;
  /**
   * Set on a target whose artifacts are a function of the program alone (its constructs and resolved
   * models) and of its own code: no file, clock or environment variable read at render time, and no
   * staged context (`copyFrom`). A `synth()` of an unchanged program into an outdir that still holds
   * the files this target wrote there then keeps them and does not render it (see `AppProps.renderCache`).
   * The value names the target's code: change it whenever the code changes. pyfleet's own targets set
   * `pyfleet`, and every key also holds pyfleet's code and the versions of its serializers.
   * @default - the target renders at every synth
   */
  readonly cacheVersion?: string;
}
