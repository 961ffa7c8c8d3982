// How close the cdk8s-plus program's documents are to pyfleet's: objects are matched by kind and name,
// and every field that is missing on one side or has another value is listed once per kind, with
// array positions written as [] (`bench/synth.ts --check`).

/** A field that differs between the two sides, for one kind of object. */
export interface FieldDifference {
  readonly kind: string;
  /** JSON path, e.g. `spec.template.metadata.labels.cdk8s.io/metadata.addr`. */
  readonly path: string;
  /** `pyfleet only`, `cdk8s-plus only`, or `value`: both have it, with different values. */
  readonly what: 'pyfleet only' | 'cdk8s-plus only' | 'value';
  /** An example of each side's value (JSON). */
  readonly example: string;
}

/** The comparison of two sets of Kubernetes documents. */
export interface Comparison {
  /** Objects (kind/name) present on both sides. */
  readonly matched: number;
  readonly onlyPyfleet: readonly string[];
  readonly onlyCdk8sPlus: readonly string[];
  readonly fields: readonly FieldDifference[];
}

type Json = null | boolean | number | string | Json[] | { [k: string]: Json };

const keyOf = (d: any): string => `${d?.kind}/${d?.metadata?.name}`;

/** Compares pyfleet's documents with cdk8s-plus's. */
export function compareDocuments(pyfleet: readonly Json[], cdk8sPlus: readonly Json[]): Comparison {
  const left = new Map(pyfleet.map((d) => [keyOf(d), d]));
  const right = new Map(cdk8sPlus.map((d) => [keyOf(d), d]));
  const fields = new Map<string, FieldDifference>();
  let matched = 0;
  for (const [key, a] of left) {
    const b = right.get(key);
    if (b === undefined) continue;
    matched++;
    const kind = key.split('/')[0];
    diff(a, b, '', (p, what, example) => {
      const id = `${kind}\0${p}\0${what}`;
      if (!fields.has(id)) fields.set(id, { kind, path: p, what, example });
    });
  }
  return {
    matched,
    onlyPyfleet: [...left.keys()].filter((k) => !right.has(k)),
    onlyCdk8sPlus: [...right.keys()].filter((k) => !left.has(k)),
    fields: [...fields.values()].sort((x, y) => x.kind.localeCompare(y.kind) || x.path.localeCompare(y.path)),
  };
}

function isObject(x: Json | undefined): x is { [k: string]: Json } {
  return typeof x === 'object' && x !== null && !Array.isArray(x);
}

function diff(a: Json | undefined, b: Json | undefined, at: string, report: (path: string, what: FieldDifference['what'], example: string) => void): void {
  if (isObject(a) && isObject(b)) {
    for (const k of new Set([...Object.keys(a), ...Object.keys(b)])) diff(a[k], b[k], at ? `${at}.${k}` : k, report);
  } else if (Array.isArray(a) && Array.isArray(b) && a.length === b.length) {
    a.forEach((x, i) => diff(x, b[i], `${at}[]`, report));
  } else if (a === undefined) {
    report(at, 'cdk8s-plus only', JSON.stringify(b));
  } else if (b === undefined) {
    report(at, 'pyfleet only', JSON.stringify(a));
  } else if (JSON.stringify(a) !== JSON.stringify(b)) {
    report(at, 'value', `${JSON.stringify(a)} vs ${JSON.stringify(b)}`);
  }
}
