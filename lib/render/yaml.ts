import * as yaml from 'js-yaml';

// YAML for every target's files (manifests, the compose file), byte for byte what js-yaml writes with
// `{ noRefs: true, lineWidth: -1 }` (and `forceQuotes` for compose), for the shapes these files have:
// block mappings and sequences of single-line scalars. It walks the document
// the way js-yaml's dumper does (same indentation, `key:` before a nested block, `- ` before an item)
// and asks js-yaml itself how to write each distinct scalar once (plain, single- or double-quoted),
// so quoting can never differ. A document it does not handle (a multi-line string, a key js-yaml
// would write as an explicit `? ` pair, a value that is not JSON) is written by js-yaml as a whole.
// At a thousand services this is several times faster than js-yaml, which re-derives the scalar
// style of every repeated string ("app", "http", "TCP") each time. Tests compare both on every
// example and on generated documents.

const OPTIONS: yaml.DumpOptions = { noRefs: true, lineWidth: -1, sortKeys: false };
const QUOTED: yaml.DumpOptions = { ...OPTIONS, forceQuotes: true, quotingType: "'" };

/** Raised inside the walk when js-yaml must write the document. */
class Fallback extends Error {}

/**
 * A value already written as the text it has at one place of a document (see {@link prerender}): a
 * large document can hold each part's text instead of its objects until it is written.
 */
class Prerendered {
  constructor(readonly text: string, readonly level: number, readonly quoted: boolean) {}
}

/** How js-yaml writes each distinct string: as a key or plain value, and as a value with forced quotes. */
const plainScalars = new Map<unknown, string>();
const quotedScalars = new Map<unknown, string>();

/**
 * Strings js-yaml writes as they are (plain), or in single quotes with `forceQuotes`: a letter first,
 * then letters, digits and `. _ / : -`, not ending in `:`. Starting with a letter, none reads as a
 * number, a timestamp or a merge key; the words that read as null or a boolean (YAML 1.2, and the
 * YAML 1.1 words js-yaml quotes for older readers) are left to js-yaml, in any casing. Most names,
 * image references and paths are such strings, and many are met once (service and network names), so
 * the memo below would not spare js-yaml's look at each.
 */
const SIMPLE = /^[A-Za-z](?:[A-Za-z0-9._/:-]*[A-Za-z0-9._/-])?$/;
const WORDS = new Set(['null', 'true', 'false', 'y', 'yes', 'on', 'n', 'no', 'off']);

/** Whether js-yaml writes `value` as it is (see SIMPLE). @internal */
export function isSimpleScalar(value: string): boolean {
  return value.length <= 1024 && SIMPLE.test(value) && !(value.length <= 5 && WORDS.has(value.toLowerCase()));
}

function scalar(value: string | number | boolean, quoted: boolean): string {
  if (typeof value === 'number' && Number.isInteger(value) && !Object.is(value, -0)) return String(value);
  if (typeof value === 'boolean') return value ? 'true' : 'false';
  if (typeof value === 'string' && isSimpleScalar(value)) return quoted ? `'${value}'` : value;
  const memo = quoted ? quotedScalars : plainScalars;
  let out = memo.get(value);
  if (out === undefined) {
    const dumped = yaml.dump(value, quoted ? QUOTED : OPTIONS);
    out = dumped.slice(0, -1);
    // Multi-line (block scalars) and over-long keys depend on the context: leave those to js-yaml.
    if (out.includes('\n') || out.length > 1024) throw new Fallback();
    if (memo.size > 100_000) memo.clear();
    memo.set(value, out);
  }
  return out;
}

const indents: string[] = [];
function newline(level: number): string {
  let s = indents[level];
  if (s === undefined) s = indents[level] = `\n${' '.repeat(2 * level)}`;
  return s;
}

// Each document is written into one array of parts and joined once. Built with `+=` (as it was), a
// document is a rope of V8 cons strings, about 32 bytes per piece of a few characters, until it is
// flattened: at 2,000 services that was 300 MB of the synth's 1.4 GB of allocations (sampled with
// the inspector's heap profiler). `join` makes one flat string. A large mapping (the services of a
// compose file) joins its finished entries every CHUNK parts, so that no array grows past a few
// thousand entries: a million-entry array, and every copy of it as it grows, would be allocated
// straight into the old generation.

/** Parts after which a mapping or sequence joins the entries it has finished. */
const CHUNK = 4096;

/** Joins `parts[from..]` into one part. */
function collapse(parts: string[], from: number): void {
  parts[from] = parts.splice(from).join('');
}

/**
 * Appends `value` to `parts`. The first part appended is never empty, so its first character is the
 * first character of the value's text (a block that opens on a new line starts with "\n").
 */
function node(parts: string[], level: number, value: unknown, compact: boolean, quoted: boolean): void {
  switch (typeof value) {
    case 'string':
    case 'number':
    case 'boolean':
      parts.push(scalar(value, quoted));
      return;
    case 'object':
      if (value === null) throw new Fallback();
      if (value instanceof Prerendered) {
        if (value.level !== level || value.quoted !== quoted || compact) throw new Fallback();
        parts.push(value.text);
        return;
      }
      if (Array.isArray(value)) {
        if (value.length === 0) parts.push('[]');
        else sequence(parts, level, value, compact, quoted);
        return;
      }
      if (Object.getPrototypeOf(value) !== Object.prototype && Object.getPrototypeOf(value) !== null) throw new Fallback();
      mapping(parts, level, value as Record<string, unknown>, compact, quoted);
      return;
    default:
      throw new Fallback();
  }
}

function mapping(parts: string[], level: number, object: Record<string, unknown>, compact: boolean, quoted: boolean): void {
  let first = true;
  // Parts before `mark` stay where they are: the first one (the caller looks at it) and earlier chunks.
  let mark = parts.length + 1;
  for (const key in object) {
    if (!Object.prototype.hasOwnProperty.call(object, key)) continue;
    if (!compact || !first) parts.push(newline(level));
    first = false;
    // Keys are never force-quoted (js-yaml quotes only values).
    parts.push(scalar(key, false));
    // The separator depends on how the value starts: filled in once the value is written.
    const at = parts.push(': ') - 1;
    node(parts, level + 1, object[key], false, quoted);
    if (parts[at + 1].charCodeAt(0) === 10) parts[at] = ':';
    if (parts.length - mark > CHUNK) {
      collapse(parts, mark);
      mark++;
    }
  }
  if (first) parts.push('{}');
}

function sequence(parts: string[], level: number, items: readonly unknown[], compact: boolean, quoted: boolean): void {
  let mark = parts.length + 1;
  for (let i = 0; i < items.length; i++) {
    if (!(i in items)) throw new Fallback();
    if (!compact || i > 0) parts.push(newline(level));
    const at = parts.push('- ') - 1;
    node(parts, level + 1, items[i], true, quoted);
    if (parts[at + 1].charCodeAt(0) === 10) parts[at] = '-';
    if (parts.length - mark > CHUNK) {
      collapse(parts, mark);
      mark++;
    }
  }
}

/** Options of {@link dumpDocument}. */
export interface DumpOptions {
  /** Quote every string value, as js-yaml's `forceQuotes: true, quotingType: "'"` does (keys stay plain). */
  readonly forceQuotes?: boolean;
}

/**
 * One document, exactly as `yaml.dump(doc, { noRefs: true, lineWidth: -1 })` writes it (with
 * `forceQuotes: true, quotingType: "'"` added when `forceQuotes` is set).
 */
export function dumpDocument(doc: object, options: DumpOptions = {}): string {
  return tryDumpDocument(doc, options) ?? yaml.dump(doc, options.forceQuotes ? QUOTED : OPTIONS);
}

/**
 * `value` written as the value of a mapping key at nesting `level` of a document (a top-level key's
 * value is at level 1), for {@link tryDumpDocument}; undefined when js-yaml would have to write it.
 * @internal
 */
export function prerender(value: object, level: number, options: DumpOptions = {}): object | undefined {
  const quoted = options.forceQuotes === true;
  try {
    const parts: string[] = [];
    node(parts, level, value, false, quoted);
    return new Prerendered(parts.join(''), level, quoted);
  } catch (e) {
    if (e instanceof Fallback) return undefined;
    throw e;
  }
}

/**
 * {@link dumpDocument} for a document that may hold {@link prerender}ed values: undefined where
 * `dumpDocument` would hand the document to js-yaml (which cannot read them); the caller then writes
 * it again without them.
 * @internal
 */
export function tryDumpDocument(doc: object, options: DumpOptions = {}): string | undefined {
  try {
    const parts: string[] = [];
    node(parts, 0, doc, true, options.forceQuotes === true);
    parts.push('\n');
    return parts.join('');
  } catch (e) {
    if (e instanceof Fallback) return undefined;
    throw e;
  }
}

/** What goes between two documents of a multi-document file. @internal */
export const DOCUMENT_SEPARATOR = '---\n';

/** Documents joined the way cdk8s writes a multi-document manifest file. */
export function dumpDocuments(docs: readonly object[]): string {
  return docs.map((d) => dumpDocument(d)).join(DOCUMENT_SEPARATOR);
}
