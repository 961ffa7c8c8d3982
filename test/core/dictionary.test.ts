// Dictionaries (objects keyed by names a program makes up) are plain objects to every reader, and keep
// their keys off the hidden class V8 gives every `{}`: after 1,536 distinct first keys there, every
// object of the process that starts empty is laid out anew, several times slower (see dictionary.ts).
import { spawnSync } from 'child_process';
import * as fs from 'fs';
import * as path from 'path';
import * as yaml from 'js-yaml';
import { dictionary, dictionaryMaker, dictionaryOf } from '../../lib/core/dictionary';
import { dumpDocument } from '../../lib/render/yaml';
import { tmpdir } from '../support/synth';

test('a dictionary is a plain object: prototype, constructor, JSON, YAML, equality and copies', () => {
  const d = dictionaryOf<unknown>([['b', 1], ['a', { x: [1, 2] }]]);
  expect(Object.getPrototypeOf(d)).toBe(Object.prototype);
  expect(d.constructor).toBe(Object);
  expect(Object.keys(d)).toEqual(['b', 'a']);
  expect(JSON.stringify(d)).toBe('{"b":1,"a":{"x":[1,2]}}');
  expect(d).toStrictEqual({ b: 1, a: { x: [1, 2] } });
  // (structuredClone makes objects of the host's realm, not jest's: compared by value.)
  expect(structuredClone(d)).toEqual({ b: 1, a: { x: [1, 2] } });
  expect(dumpDocument({ top: d })).toBe(yaml.dump({ top: { b: 1, a: { x: [1, 2] } } }, { noRefs: true, lineWidth: -1 }));
  const own = dictionaryMaker()<number>();
  own.b = 2;
  expect(Object.getPrototypeOf(own)).toBe(Object.prototype);
  expect(own).toStrictEqual({ b: 2 });
  expect(dictionaryOf([['x', 1]], dictionaryMaker())).toStrictEqual({ x: 1 });
  const e = dictionary<number>();
  e['constructor'] = 1;
  expect(Object.keys(e)).toEqual(['constructor']);
  expect({ ...e }).toStrictEqual({ constructor: 1 });
});

test('rendering a large segmented compose project leaves the hidden class of `{}` with few new transitions', () => {
  // V8 internals are read in a process of its own, with natives syntax on (%DebugPrint prints the
  // transitions of an object's hidden class). 700 services, each calling the next: before the
  // dictionaries, their network names alone hung about 1,400 first keys off `{}`'s hidden class.
  const dir = tmpdir();
  const script = path.join(dir, 'probe.js');
  fs.writeFileSync(script, [
    `require(${JSON.stringify(require.resolve('ts-node/register/transpile-only'))});`,
    `const lib = require(${JSON.stringify(path.resolve(__dirname, '../../lib'))});`,
    `const { composeTarget } = require(${JSON.stringify(path.resolve(__dirname, '../../lib/render/compose'))});`,
    `const { resolveStack } = require(${JSON.stringify(path.resolve(__dirname, '../../lib/model/resolve'))});`,
    'const transitions = () => { const probe = {}; %DebugPrint(probe); };',
    `const app = new lib.App({ outdir: ${JSON.stringify(path.join(dir, 'dist'))} });`,
    "const stack = new lib.Stack(app, 'shop');",
    "const services = Array.from({ length: 700 }, (_, i) => new lib.MicroService(stack, `svc-${i}`, { image: lib.ContainerImage.fromRegistry(`ghcr.io/acme/svc-${i}:1.0.0`) }));",
    'services.forEach((s, i) => { if (i + 1 < services.length) s.addCall(services[i + 1]); });',
    'const model = resolveStack(stack, { buildGenerators: {}, assets: new Map() }, []);',
    "process.stdout.write('@@before\\n'); transitions();",
    'const out = composeTarget().render(model, { result: false });',
    "process.stdout.write('@@after\\n'); transitions();",
    "process.stdout.write(`@@files ${out.artifacts.length} ${out.artifacts[0].content.length}\\n`);",
  ].join('\n'));
  const r = spawnSync(process.execPath, ['--allow-natives-syntax', script], { encoding: 'utf8', timeout: 120_000, maxBuffer: 64 << 20 });
  expect(r.status).toBe(0);
  const count = (label: string): number => {
    const part = r.stdout.split(`@@${label}\n`)[1] ?? '';
    const m = /^ - transitions #(\d+)/m.exec(part);
    if (!m) throw new Error(`no transitions in the output of %DebugPrint after "${label}":\n${part.slice(0, 500)}`);
    return Number(m[1]);
  };
  // The project was rendered: one compose file, with a network per call.
  expect(r.stdout).toMatch(/@@files 1 \d{6,}/);
  expect(count('after') - count('before')).toBeLessThan(100);
});
