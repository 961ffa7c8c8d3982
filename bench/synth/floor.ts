// The floor of bench/synth.ts: the cost of only serializing the scenario's Kubernetes documents and
// writing them, with nothing else. The documents are the ones pyfleet wrote (parsed from its
// `*.k8s.yaml`, outside the timing), as plain objects.
//
// Two serializers are measured, so that the floor is the fastest one on npm we know of:
//   js-yaml  `dump()` per document, options as pyfleet uses them (no anchors, no line wrapping);
//   yaml@2   `stringify()` per document, options as cdk8s uses them (it is cdk8s's serializer; it is
//            taken from cdk8s's own dependencies, as cdk8s loads it).
import * as fs from 'fs';
import * as path from 'path';
import * as jsYaml from 'js-yaml';

export type Serializer = 'js-yaml' | 'yaml';
export const SERIALIZERS: readonly Serializer[] = ['js-yaml', 'yaml'];

/** Turns a list of documents into one multi-document YAML string. */
export type Dump = (docs: readonly object[]) => string;

/** The part of the `yaml` package's API used here. */
interface YamlModule {
  stringify(value: unknown, options: { keepUndefined: boolean; lineWidth: number; version: '1.1' }): string;
}

/** The dump function of a serializer (loading its module is not part of the timing). */
export function loadSerializer(name: Serializer): Dump {
  if (name === 'js-yaml') {
    return (docs) => docs.map((d) => jsYaml.dump(d, { noRefs: true, lineWidth: -1 })).join('---\n');
  }
  // The `yaml` package cdk8s itself requires (cdk8s/lib/yaml.js), resolved from cdk8s's folder, called
  // with the options of cdk8s's `Yaml.stringify`.
  const cdk8sDir = path.dirname(require.resolve('cdk8s/package.json'));
  const YAML = require(require.resolve('yaml', { paths: [cdk8sDir] })) as YamlModule;
  return (docs) => docs.map((d) => YAML.stringify(d, { keepUndefined: true, lineWidth: 0, version: '1.1' })).join('---\n');
}

/** Serializes `docs` and writes them to `file`: the only work the floor does. */
export function writeFloor(dump: Dump, docs: readonly object[], file: string): void {
  fs.mkdirSync(path.dirname(file), { recursive: true });
  fs.writeFileSync(file, dump(docs));
}
