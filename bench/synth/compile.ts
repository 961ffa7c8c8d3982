// Compiles the library and the benchmark's child program to JavaScript (with source maps) below
// bench/out/js, so that every measurement runs under plain `node`: no TypeScript compiler in the
// timings or in the child's memory. Types are not checked here (`npx projen typecheck` does that);
// each file is transpiled on its own, which takes a few seconds for the whole library.
import * as fs from 'fs';
import * as path from 'path';
import * as ts from 'typescript';

/** The repository root (this file is bench/synth/compile.ts). */
export const REPO = path.resolve(__dirname, '..', '..');
/** Where the JavaScript goes; inside the repository, so that `node_modules` resolves as for the sources. */
export const JS_ROOT = path.join(REPO, 'bench', 'out', 'js');

function tsFiles(dir: string): string[] {
  return fs.readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    const p = path.join(dir, e.name);
    if (e.isDirectory()) return tsFiles(p);
    return e.name.endsWith('.ts') && !e.name.endsWith('.d.ts') ? [p] : [];
  });
}

/** Transpiles lib/ and bench/synth/ into JS_ROOT; returns the path of the compiled child program. */
export function compileChild(): string {
  fs.rmSync(JS_ROOT, { recursive: true, force: true });
  const options: ts.CompilerOptions = {
    module: ts.ModuleKind.CommonJS,
    target: ts.ScriptTarget.ES2022,
    esModuleInterop: true,
    experimentalDecorators: true,
    sourceMap: true,
  };
  for (const file of [...tsFiles(path.join(REPO, 'lib')), ...tsFiles(path.join(REPO, 'bench', 'synth'))]) {
    const rel = path.relative(REPO, file);
    const out = path.join(JS_ROOT, rel.replace(/\.ts$/, '.js'));
    const { outputText, sourceMapText } = ts.transpileModule(fs.readFileSync(file, 'utf8'), { compilerOptions: options, fileName: file });
    fs.mkdirSync(path.dirname(out), { recursive: true });
    fs.writeFileSync(out, outputText);
    // Source paths absolute, so that profile locations map back to the .ts files.
    const map = JSON.parse(sourceMapText!) as { sources: string[] };
    map.sources = [file];
    fs.writeFileSync(`${out}.map`, JSON.stringify(map));
  }
  return path.join(JS_ROOT, 'bench', 'synth', 'child.js');
}
