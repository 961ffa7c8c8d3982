import { IConstruct } from 'constructs';

/** Metadata type under which pyfleet records a warning on a construct. */
export const WARNING_METADATA_TYPE = 'pyfleet:warning';

/** Something that deserves a look but does not stop the synth (an error would). */
export interface PyfleetWarning {
  /** Path of the construct the warning is about. */
  readonly constructPath: string;
  /** What may go wrong, and how to avoid it. */
  readonly message: string;
}

/**
 * A construct that reports warnings computed at synth time, from its final state (later mutations,
 * such as an added environment variable, are taken into account).
 */
export interface IWarningSource {
  /** @internal */
  _synthWarnings(): string[];
}

/** Records a warning on a construct. `App.synth()` prints it; `App.warnings()` lists it. */
export function addWarning(scope: IConstruct, message: string): void {
  scope.node.addMetadata(WARNING_METADATA_TYPE, message, { stackTrace: false });
}

/** Every warning below `root`: recorded ones and those reported by warning sources, in construct order. */
export function collectWarnings(root: IConstruct): PyfleetWarning[] {
  const out: PyfleetWarning[] = [];
  for (const c of root.node.findAll()) {
    const messages = c.node.metadata.filter((m) => m.type === WARNING_METADATA_TYPE).map((m) => String(m.data));
    const source = c as unknown as Partial<IWarningSource>;
    if (typeof source._synthWarnings === 'function') messages.push(...source._synthWarnings());
    for (const message of messages) out.push({ constructPath: c.node.path, message });
  }
  return out;
}

/** One line per warning, as printed by `App.synth()`. */
export function formatWarning(w: PyfleetWarning): string {
  return `[pyfleet] warning: ${w.constructPath || '<app>'}: ${w.message}`;
}
