// The manifest writer against js-yaml, which it must match byte for byte.
import * as path from 'path';
import * as yaml from 'js-yaml';
import { dumpDocument, dumpDocuments, isSimpleScalar, prerender, tryDumpDocument } from '../../lib/render/yaml';
import { App, ContainerImage, MicroService, Stack } from '../../lib';
import { synth } from '../support/synth';
import { EXAMPLES } from '../support/examples';

const examples = EXAMPLES;

const reference = (doc: unknown): string => yaml.dump(doc, { noRefs: true, lineWidth: -1, sortKeys: false });

test.each(examples)('every manifest of examples/%s is written exactly as js-yaml writes it', (_name, build) => {
  const out = synth((app) => { build(app); });
  try {
    const files = [...out.files.keys()].filter((f) => f.endsWith('.k8s.yaml'));
    expect(files.length).toBeGreaterThan(0);
    for (const f of files) {
      const docs = yaml.loadAll(out.files.get(f)!) as object[];
      expect(docs.length).toBeGreaterThan(0);
      expect(dumpDocuments(docs)).toBe(docs.map(reference).join('---\n'));
      expect(dumpDocuments(docs)).toBe(out.files.get(f));
    }
    // The compose file: every string value force-quoted, keys plain.
    for (const f of [...out.files.keys()].filter((x) => x.endsWith('.compose.yml'))) {
      const text = out.files.get(f)!;
      const doc = yaml.load(text) as object;
      const body = text.slice(text.indexOf('\n') + 1); // after the header comment
      expect(dumpDocument(doc, { forceQuotes: true })).toBe(yaml.dump(doc, { noRefs: true, lineWidth: -1, sortKeys: false, forceQuotes: true, quotingType: "'" }));
      expect(dumpDocument(doc, { forceQuotes: true })).toBe(body);
    }
  } finally {
    out.cleanup();
  }
});

// A small deterministic generator of documents with awkward scalars: YAML keywords, numbers as text,
// indicators, quotes, unicode, empty strings, empty and nested collections.
function* random(seed: number): Generator<number> {
  let x = seed;
  for (;;) {
    x = (x * 1103515245 + 12345) % 2147483648;
    yield x / 2147483648;
  }
}
const awkward = ['', ' ', 'yes', 'No', 'null', '~', 'true', '0x1F', '012', '1e3', '.inf', '-.5', '2026-12-03', '12:30', 'a: b', 'a #b', '#c', '- x', '? q',
  '[x]', '{y}', 'it\'s', '"dq"', '*ref', '&anc', '!tag', '%pct', '@at', '`bt`', 'tab\there', 'ünïcödé', '日本', 'emoji 🚀', 'x,y', 'trailing ', ' leading',
  '/api/v2', 'http://a.b:80/c?d=e', '^/v[0-9]+/.*$', '(?i)foo', 'a|b', '>fold', 'plain', 'app.kubernetes.io/name', '500m', '64Mi', '\u0007bell', 'null\u0000'];
function value(r: Generator<number>, depth: number): unknown {
  const p = r.next().value as number;
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor((r.next().value as number) * xs.length)];
  if (depth > 4 || p < 0.45) {
    const q = r.next().value as number;
    if (q < 0.6) return pick(awkward);
    if (q < 0.75) return Math.floor((r.next().value as number) * 100000) - 500;
    if (q < 0.85) return pick([0.5, 1.25, -0.0, 3.0e21, 1e-7, Number.MAX_SAFE_INTEGER]);
    return pick([true, false]);
  }
  if (p < 0.7) return Array.from({ length: Math.floor((r.next().value as number) * 4) }, () => value(r, depth + 1));
  const o: Record<string, unknown> = {};
  const n = Math.floor((r.next().value as number) * 5);
  for (let i = 0; i < n; i++) o[pick(awkward) + (i % 2 ? String(i) : '')] = value(r, depth + 1);
  return o;
}

test('generated documents with awkward scalars and nesting are written exactly as js-yaml writes them', () => {
  const r = random(42);
  for (let i = 0; i < 3000; i++) {
    const doc = { apiVersion: 'v1', kind: 'X', metadata: { name: `n${i}` }, spec: value(r, 0) };
    expect(dumpDocument(doc)).toBe(reference(doc));
    expect(dumpDocument(doc, { forceQuotes: true })).toBe(yaml.dump(doc, { noRefs: true, lineWidth: -1, sortKeys: false, forceQuotes: true, quotingType: "'" }));
  }
});

test('what it does not write itself, js-yaml writes: multi-line strings, long keys, top-level empties', () => {
  for (const doc of [{ a: 'line one\nline two\n' }, { [`k${'x'.repeat(1100)}`]: 1 }, { a: { b: ['x\ny'] } }, {}, { a: [[]], b: [{}] }, { a: [[1, [2, 3]], { b: [] }] }]) {
    expect(dumpDocument(doc)).toBe(reference(doc));
  }
  expect(path.basename(__filename)).toBe('yaml.test.ts');
});

test('large mappings and sequences, whose finished entries are joined in chunks, are written exactly as js-yaml writes them', () => {
  // Thousands of entries at the top, nested and inside sequences: each level joins its finished
  // entries past a few thousand parts, including entries whose value opens a block and empty ones.
  const r = random(7);
  const services: Record<string, unknown> = {};
  for (let i = 0; i < 3000; i++) services[`svc-${i}`] = { image: `registry/x:${i}`, ports: [`${8000 + i}:8000`], env: { A: 'yes', B: '0.5' }, spec: value(r, 1), empty: {}, none: [] };
  const items = Array.from({ length: 5000 }, (_, i) => (i % 3 === 0 ? [i, [i + 1, { k: 'v' }]] : i % 3 === 1 ? { name: `n${i}`, list: ['a', 'b'] } : `s${i}`));
  const doc = { name: 'big', services, items, nested: { deeper: { list: items.slice(0, 3000) } } };
  expect(dumpDocument(doc)).toBe(reference(doc));
  expect(dumpDocument(doc, { forceQuotes: true })).toBe(yaml.dump(doc, { noRefs: true, lineWidth: -1, sortKeys: false, forceQuotes: true, quotingType: "'" }));
  expect(dumpDocument({ items })).toBe(reference({ items }));
  expect(dumpDocument(items as unknown as object)).toBe(reference(items));
});

test('values prerendered at their place write the same document; what js-yaml must write is never prerendered', () => {
  const r = random(11);
  let held = 0;
  for (let i = 0; i < 2000; i++) {
    const services: Record<string, unknown> = {};
    for (let j = 0; j < 4; j++) services[`svc-${j}`] = { image: `registry/x:${j}`, spec: value(r, 1), list: [value(r, 2)] };
    for (const forceQuotes of [false, true]) {
      const doc = { name: `n${i}`, services };
      const pre = Object.fromEntries(Object.entries(services).map(([k, v]) => {
        const p = prerender(v as object, 2, { forceQuotes });
        if (p) held++;
        return [k, p ?? v];
      }));
      const text = tryDumpDocument({ name: doc.name, services: pre }, { forceQuotes });
      expect(text).toBe(dumpDocument(doc, { forceQuotes }));
      // At another level, or with other quoting, a prerendered value is refused, never misplaced.
      const someHeld = Object.values(pre).find((v) => !Object.values(services).includes(v));
      if (someHeld) {
        expect(tryDumpDocument({ services: { deeper: { x: someHeld } } }, { forceQuotes })).toBeUndefined();
        expect(tryDumpDocument({ services: { x: someHeld } }, { forceQuotes: !forceQuotes })).toBeUndefined();
      }
    }
  }
  expect(held).toBeGreaterThan(1000);
  expect(prerender({ a: 'line one\nline two' }, 2)).toBeUndefined();
  expect(tryDumpDocument({ a: 'line one\nline two' })).toBeUndefined();
});

test('the compose file synth() writes from prerendered services is the document synthesize() returns, also when js-yaml must write it', () => {
  for (const motd of ['one line', 'line one\nline two']) {
    const out = synth((app) => {
      const stack = new Stack(app, 'shop');
      new MicroService(stack, 'orders', { image: ContainerImage.fromRegistry('registry.example.com/orders:1.0.0'), port: 8002, env: { MOTD: motd } });
    });
    try {
      const project = new App({ outdir: out.dir });
      const stack = new Stack(project, 'shop');
      new MicroService(stack, 'orders', { image: ContainerImage.fromRegistry('registry.example.com/orders:1.0.0'), port: 8002, env: { MOTD: motd } });
      const document = project.synthesize()[0].compose!;
      const text = out.files.get('shop.compose.yml')!;
      expect(text.slice(text.indexOf('\n') + 1)).toBe(dumpDocument(document, { forceQuotes: true }));
      expect((yaml.load(text) as any).services.orders.environment.MOTD).toBe(motd);
    } finally {
      out.cleanup();
    }
  }
});

test('every string written without asking js-yaml is written as js-yaml writes it: plain, force-quoted, and as a key', () => {
  // Every string of up to four characters over letters (among them those of the words YAML reads as
  // booleans and null), digits and the punctuation allowed, and every casing of those words.
  const alphabet = 'aZ0._/:-yNoTlu ';
  const strings: string[] = [];
  const grow = (prefix: string, left: number): void => {
    if (prefix) strings.push(prefix);
    if (left > 0) for (const c of alphabet) grow(prefix + c, left - 1);
  };
  grow('', 4);
  const casings = (w: string): string[] => (w ? casings(w.slice(1)).flatMap((rest) => [w[0].toLowerCase() + rest, w[0].toUpperCase() + rest]) : ['']);
  for (const w of ['null', 'true', 'false', 'y', 'yes', 'on', 'n', 'no', 'off', 'nan', 'inf']) strings.push(...casings(w));
  strings.push('ghcr.io/acme/orders:1.4.2', 'svc-0001-v1_to_svc-0002', 'service_healthy', 'app.kubernetes.io/part-of', 'a:b:', 'x'.repeat(1025));
  let simple = 0;
  for (const s of strings) {
    if (!isSimpleScalar(s)) continue;
    simple++;
    expect([dumpDocument({ k: s }), dumpDocument({ k: s }, { forceQuotes: true }), dumpDocument({ [s]: 1 })])
      .toEqual([yaml.dump({ k: s }, { noRefs: true, lineWidth: -1 }), yaml.dump({ k: s }, { noRefs: true, lineWidth: -1, forceQuotes: true, quotingType: "'" }), yaml.dump({ [s]: 1 }, { noRefs: true, lineWidth: -1 })]);
  }
  // Most of them take the short way (the test would pass on none).
  expect(simple).toBeGreaterThan(10_000);
  expect(isSimpleScalar('ghcr.io/acme/orders:1.4.2')).toBe(true);
  expect(['a:b:', 'True', 'no', 'x'.repeat(1025), '0a', 'a b'].filter(isSimpleScalar)).toEqual([]);
});
