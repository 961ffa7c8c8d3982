// `pyfleet` must load without any Pulumi package; `pyfleet/pulumi` is its own entry point.
import { execFileSync } from 'child_process';
import * as fs from 'fs';
import * as path from 'path';

const root = path.join(__dirname, '..', '..');

/** Every module specifier imported (statically or by require) by a TypeScript file. */
function importsOf(file: string): string[] {
  const src = fs.readFileSync(file, 'utf8');
  const out: string[] = [];
  for (const m of src.matchAll(/(?:^|\n)\s*(?:import|export)[^'"\n;]*?(?:from\s*)?['"]([^'"]+)['"]/g)) out.push(m[1]);
  for (const m of src.matchAll(/(?:require|import)\(\s*['"]([^'"]+)['"]\s*\)/g)) out.push(m[1]);
  return out;
}

function resolveLocal(from: string, spec: string): string | undefined {
  const base = path.resolve(path.dirname(from), spec);
  for (const c of [`${base}.ts`, path.join(base, 'index.ts')]) if (fs.existsSync(c)) return c;
  return undefined;
}

/** The files reachable from `entry` through relative imports, and the packages they import. */
function closure(entry: string): { files: Set<string>; packages: Set<string> } {
  const files = new Set<string>();
  const packages = new Set<string>();
  const todo = [entry];
  while (todo.length > 0) {
    const f = todo.pop()!;
    if (files.has(f)) continue;
    files.add(f);
    for (const spec of importsOf(f)) {
      if (spec.startsWith('.')) {
        const r = resolveLocal(f, spec);
        if (r) todo.push(r);
      } else {
        packages.add(spec.startsWith('@') ? spec.split('/').slice(0, 2).join('/') : spec.split('/')[0]);
      }
    }
  }
  return { files, packages };
}

test('lib/index.ts reaches no Pulumi package and no file of lib/pulumi', () => {
  const { files, packages } = closure(path.join(root, 'lib/index.ts'));
  expect(files.size).toBeGreaterThan(5);
  expect([...packages].filter((p) => p.startsWith('@pulumi/'))).toEqual([]);
  expect([...files].filter((f) => f.includes(`${path.sep}lib${path.sep}pulumi${path.sep}`))).toEqual([]);
});

test('lib/pulumi reaches the Pulumi packages (the closure walk sees them)', () => {
  const { packages } = closure(path.join(root, 'lib/pulumi/index.ts'));
  expect([...packages].filter((p) => p.startsWith('@pulumi/')).sort()).toEqual(['@pulumi/docker', '@pulumi/kubernetes', '@pulumi/pulumi', '@pulumi/random']);
});

test('package.json: two entry points, Pulumi packages as optional peers', () => {
  const pkg = JSON.parse(fs.readFileSync(path.join(root, 'package.json'), 'utf8'));
  expect(pkg.exports['.']).toEqual({ types: './build/index.d.ts', default: './build/index.js' });
  expect(pkg.exports['./pulumi']).toEqual({ types: './build/pulumi/index.d.ts', default: './build/pulumi/index.js' });
  for (const p of ['@pulumi/pulumi', '@pulumi/kubernetes', '@pulumi/docker']) {
    expect(pkg.peerDependencies[p]).toBeDefined();
    expect(pkg.peerDependenciesMeta[p]).toEqual({ optional: true });
    expect(pkg.dependencies?.[p]).toBeUndefined();
  }
  expect(pkg.peerDependencies['@pulumi/pulumi']).toBe('~3.248.0');
  expect(pkg.peerDependencies['@pulumi/kubernetes']).toMatch(/^\^4\./);
});

test('compiled: `pyfleet` loads and synthesizes with every @pulumi package unresolvable; `pyfleet/pulumi` needs them', () => {
  // Compile to a folder inside the repository (so node_modules resolves), ignored by git (*.tmp-pyfleet*).
  const out = path.join(root, `build-check.tmp-pyfleet-${process.pid}`);
  try {
    execFileSync(process.execPath, [require.resolve('typescript/bin/tsc'), '-p', path.join(root, 'tsconfig.json'), '--outDir', out], { stdio: 'pipe', timeout: 120_000 });
    const script = `
      const Module = require('module');
      const resolve = Module._resolveFilename;
      Module._resolveFilename = function (request, ...rest) {
        if (request.startsWith('@pulumi/')) { const e = new Error('Cannot find module ' + request); e.code = 'MODULE_NOT_FOUND'; throw e; }
        return resolve.call(this, request, ...rest);
      };
      const os = require('os'), path = require('path'), fs = require('fs');
      const p = require(${JSON.stringify(out)});
      const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'pyfleet-pulumi-entry-'));
      try {
        const app = new p.App({ outdir: dir });
        const stack = new p.Stack(app, 'plain');
        new p.MicroService(stack, 'api', { image: p.ContainerImage.fromRegistry('ghcr.io/acme/api:1.0.0') });
        app.synth();
        console.log('synth-ok', fs.readdirSync(dir).sort().join(','));
      } finally { fs.rmSync(dir, { recursive: true, force: true }); }
      try { require(${JSON.stringify(path.join(out, 'pulumi'))}); console.log('pulumi-loaded'); } catch (e) { console.log('pulumi-needs', e.message); }
    `;
    const stdout = execFileSync(process.execPath, ['-e', script], { encoding: 'utf8', timeout: 60_000, cwd: root });
    expect(stdout).toMatch(/synth-ok .*plain\.k8s\.yaml/);
    expect(stdout).toMatch(/pulumi-needs Cannot find module @pulumi\//);
  } finally {
    fs.rmSync(out, { recursive: true, force: true });
  }
});
