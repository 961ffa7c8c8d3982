// Prints what a synth wrote: every file (assets folded per context) and Kubernetes objects per kind.
import * as fs from 'fs';
import * as path from 'path';
import * as yaml from 'js-yaml';

export function printSummary(outdir: string): void {
  const root = path.resolve(outdir);
  const lines: string[] = [`pyfleet wrote ${path.relative(process.cwd(), root) || '.'}/`];
  for (const entry of fs.readdirSync(root).sort()) {
    const full = path.join(root, entry);
    if (entry === 'assets') {
      for (const ctx of fs.readdirSync(full).sort()) {
        const n = countFiles(path.join(full, ctx));
        lines.push(`  assets/${ctx}/  (build context, ${n} files)`);
      }
      continue;
    }
    if (fs.statSync(full).isDirectory()) {
      for (const f of fs.readdirSync(full).sort()) lines.push(`  ${entry}/${f}`);
      continue;
    }
    if (entry.endsWith('.k8s.yaml')) {
      const docs = yaml.loadAll(fs.readFileSync(full, 'utf8')) as any[];
      const kinds = new Map<string, number>();
      for (const d of docs) kinds.set(d.kind, (kinds.get(d.kind) ?? 0) + 1);
      lines.push(`  ${entry}  (${docs.length} objects: ${[...kinds].map(([k, n]) => `${n} ${k}`).join(', ')})`);
    } else if (entry.endsWith('.compose.yml')) {
      const doc = yaml.load(fs.readFileSync(full, 'utf8')) as any;
      lines.push(`  ${entry}  (${Object.keys(doc.services).length} compose services: ${Object.keys(doc.services).join(', ')})`);
    } else {
      lines.push(`  ${entry}`);
    }
  }
  console.log(lines.join('\n'));
}

function countFiles(dir: string): number {
  return fs.readdirSync(dir, { withFileTypes: true }).reduce((n, e) => n + (e.isDirectory() ? countFiles(path.join(dir, e.name)) : 1), 0);
}
