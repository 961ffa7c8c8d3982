#!/usr/bin/env node
// The prometheus-operator ServiceMonitor and PodMonitor CRDs (monitoring.coreos.com/v1), for `cdk8s import`
// and for the committed strict test schemas. Usage (from the repository root):
//   node scripts/prometheus-operator-crds.js ../shared/reference/prometheus-operator-0.87-servicemonitors.crd.yaml <podmonitors.crd.yaml>
// writes  test/fixtures/prometheus-operator-schemas.json   (strict JSON schemas, committed)
// then regenerate the typed classes with:
//   npx cdk8s import ../shared/reference/prometheus-operator-0.87-servicemonitors.crd.yaml --language typescript --output lib/imports
//   npx cdk8s import <podmonitors.crd.yaml> --language typescript --output /tmp/pm
//   mv /tmp/pm/monitoring.coreos.com.ts lib/imports/podmonitor.monitoring.coreos.com.ts
// (each file holds just the one CRD, so it is imported as it is; cdk8s names both outputs by the group,
// so the PodMonitor's is renamed, its content unchanged).
// The PodMonitor CRD is not in ../shared/reference: it is
// prometheus-operator/prometheus-operator example/prometheus-operator-crd/monitoring.coreos.com_podmonitors.yaml
// at tag v0.87.0 (commit 0ff52b38b82db983c210eae0147d7d675a23ca70, blob 3ae2bec487a3faa456dd55ab6464edeb375078b8, Apache-2.0),
// the same tag as the reference ServiceMonitor CRD (blob ad8b4c3).
const fs = require('fs');
const path = require('path');
const yaml = require('js-yaml');
const { strict } = require('./istio-crds.js');

const KINDS = ['ServiceMonitor', 'PodMonitor'];
const VERSION = 'v1';

/** Reads the CRD files; returns the strict schemas of the kinds they hold, by `group/version/kind`. */
function operatorSchemas(...srcs) {
  const docs = srcs.flatMap((src) => yaml.loadAll(fs.readFileSync(src, 'utf8'))).filter((d) => d && d.kind === 'CustomResourceDefinition');
  const schemas = {};
  for (const crd of docs) {
    const kind = crd.spec.names.kind;
    if (!KINDS.includes(kind)) continue;
    const version = crd.spec.versions.find((v) => v.name === VERSION);
    if (!version) throw new Error(`${kind} has no ${VERSION}`);
    schemas[`${crd.spec.group}/${VERSION}/${kind}`] = strict(version.schema.openAPIV3Schema);
  }
  return { schemas };
}

function main() {
  const srcs = process.argv.slice(2);
  if (srcs.length === 0) { console.error('usage: node scripts/prometheus-operator-crds.js <servicemonitors.crd.yaml> <podmonitors.crd.yaml>'); process.exit(2); }
  const { schemas } = operatorSchemas(...srcs);
  if (Object.keys(schemas).length !== KINDS.length) throw new Error(`found ${Object.keys(schemas).length} of ${KINDS.length} kinds`);
  fs.writeFileSync(path.join('test', 'fixtures', 'prometheus-operator-schemas.json'), JSON.stringify({ source: srcs.map((s) => path.basename(s)).join(', '), schemas }, null, 1) + '\n');
  console.log(`kept ${Object.keys(schemas).join(', ')}`);
}

module.exports = { operatorSchemas };
if (require.main === module) main();
