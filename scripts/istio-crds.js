#!/usr/bin/env node
// Filters the Istio CRDs to the kinds and API version pyfleet emits, for `cdk8s import` and for the
// committed test schema. Usage (from the repository root):
//   node scripts/istio-crds.js ../shared/reference/istio-crds-1.30.gen.yaml
// writes  .istio-crds.filtered.yaml          (input of cdk8s import; git-ignored)
//         test/fixtures/istio-schemas.json   (strict JSON schemas, committed)
// then regenerate the typed classes with:
//   npx cdk8s import .istio-crds.filtered.yaml --language typescript --output lib/imports
const fs = require('fs');
const path = require('path');
const yaml = require('js-yaml');

const KINDS = ['AuthorizationPolicy', 'DestinationRule', 'Gateway', 'VirtualService', 'PeerAuthentication'];
const VERSION = 'v1';

/** Reads the CRD file; returns the kept CRDs (v1 only) and the strict schemas by `group/version/kind`. */
function filterCrds(src) {
  const docs = yaml.loadAll(fs.readFileSync(src, 'utf8')).filter((d) => d && d.kind === 'CustomResourceDefinition');
  const kept = [];
  const schemas = {};
  for (const crd of docs) {
    const kind = crd.spec.names.kind;
    if (!KINDS.includes(kind)) continue;
    const version = crd.spec.versions.find((v) => v.name === VERSION);
    if (!version) throw new Error(`${kind} has no ${VERSION}`);
    kept.push({ ...crd, spec: { ...crd.spec, versions: [version] } });
    schemas[`${crd.spec.group}/${VERSION}/${kind}`] = strict(version.schema.openAPIV3Schema);
  }
  if (kept.length !== KINDS.length) throw new Error(`found ${kept.length} of ${KINDS.length} kinds`);
  kept.sort((a, b) => a.spec.names.kind.localeCompare(b.spec.names.kind));
  const sorted = Object.fromEntries(Object.keys(schemas).sort().map((k) => [k, schemas[k]]));
  return { kept, schemas: sorted };
}

function main() {
  const src = process.argv[2];
  if (!src) { console.error('usage: node scripts/istio-crds.js <istio-crds.gen.yaml>'); process.exit(2); }
  const { kept, schemas } = filterCrds(src);
  fs.writeFileSync('.istio-crds.filtered.yaml', kept.map((d) => yaml.dump(d, { lineWidth: -1, noRefs: true })).join('---\n'));
  fs.mkdirSync(path.join('test', 'fixtures'), { recursive: true });
  fs.writeFileSync(path.join('test', 'fixtures', 'istio-schemas.json'), JSON.stringify({ source: path.basename(src), schemas }, null, 1) + '\n');
  console.log(`kept ${kept.map((d) => d.spec.names.kind).join(', ')}`);
}

module.exports = { filterCrds, strict, KINDS, VERSION };
if (require.main === module) main();

/**
 * Makes a CRD schema strict for Ajv: unknown fields are errors (additionalProperties: false on every
 * object schema with properties that does not preserve unknown fields), Kubernetes extensions are
 * dropped, and the `duration(self)` CEL rules become a duration pattern.
 */
function strict(schema) {
  if (Array.isArray(schema)) return schema.map(strict);
  if (!schema || typeof schema !== 'object') return schema;
  const out = {};
  for (const [k, v] of Object.entries(schema)) {
    if (k.startsWith('x-kubernetes-') || k === 'description') continue;
    out[k] = (k === 'properties') ? Object.fromEntries(Object.entries(v).map(([p, s]) => [p, strict(s)])) : strict(v);
  }
  const rules = schema['x-kubernetes-validations'] || [];
  if (rules.some((r) => /duration\(self\)/.test(r.rule)) && out.type === 'string') {
    out.pattern = '^([0-9]+(\\.[0-9]+)?(h|m|s|ms|us|µs|ns))+$';
  }
  if (out.type === 'object' && out.properties && !schema['x-kubernetes-preserve-unknown-fields'] && out.additionalProperties === undefined) {
    out.additionalProperties = false;
  }
  if (schema['x-kubernetes-int-or-string']) { delete out.type; out.anyOf = [{ type: 'integer' }, { type: 'string' }]; }
  return out;
}
