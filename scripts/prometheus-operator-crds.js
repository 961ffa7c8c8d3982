#!/usr/bin/env node
// The prometheus-operator ServiceMonitor CRD (monitoring.coreos.com/v1), for `cdk8s import` and for the
// committed strict test schema. Usage (from the repository root):
//   node scripts/prometheus-operator-crds.js ../shared/reference/prometheus-operator-0.87-servicemonitors.crd.yaml
// writes  test/fixtures/prometheus-operator-schemas.json   (strict JSON schemas, committed)
// then regenerate the typed classes with:
//   npx cdk8s import ../shared/reference/prometheus-operator-0.87-servicemonitors.crd.yaml --language typescript --output lib/imports
// (the file holds just the one CRD, so it is imported as it is).
const fs = require('fs');
const path = require('path');
const yaml = require('js-yaml');
const { strict } = require('./istio-crds.js');

const KINDS = ['ServiceMonitor'];
const VERSION = 'v1';

/** Reads the CRD file; returns the strict schemas by `group/version/kind`. */
function operatorSchemas(src) {
  const docs = yaml.loadAll(fs.readFileSync(src, 'utf8')).filter((d) => d && d.kind === 'CustomResourceDefinition');
  const schemas = {};
  for (const crd of docs) {
    const kind = crd.spec.names.kind;
    if (!KINDS.includes(kind)) continue;
    const version = crd.spec.versions.find((v) => v.name === VERSION);
    if (!version) throw new Error(`${kind} has no ${VERSION}`);
    schemas[`${crd.spec.group}/${VERSION}/${kind}`] = strict(version.schema.openAPIV3Schema);
  }
  if (Object.keys(schemas).length !== KINDS.length) throw new Error(`found ${Object.keys(schemas).length} of ${KINDS.length} kinds`);
  return { schemas };
}

function main() {
  const src = process.argv[2];
  if (!src) { console.error('usage: node scripts/prometheus-operator-crds.js <servicemonitors.crd.yaml>'); process.exit(2); }
  const { schemas } = operatorSchemas(src);
  fs.writeFileSync(path.join('test', 'fixtures', 'prometheus-operator-schemas.json'), JSON.stringify({ source: path.basename(src), schemas }, null, 1) + '\n');
  console.log(`kept ${Object.keys(schemas).join(', ')}`);
}

module.exports = { operatorSchemas };
if (require.main === module) main();
