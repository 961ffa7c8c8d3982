import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import * as yaml from 'js-yaml';
import { App } from '../../lib';

export interface Synthesized {
  readonly dir: string;
  /** Every file written, relative path -> content. */
  readonly files: Map<string, string>;
  /** Parsed Kubernetes documents of a stack. */
  k8s(stack: string): any[];
  /** Parsed compose document of a stack. */
  compose(stack: string): any;
  /** Kubernetes objects of a stack by kind and name. */
  find(stack: string, kind: string, name: string): any;
  cleanup(): void;
}

export function tmpdir(prefix = 'pyfleet-test-'): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), prefix));
}

export function readTree(dir: string): Map<string, string> {
  const files = new Map<string, string>();
  const walk = (rel: string): void => {
    for (const e of fs.readdirSync(path.join(dir, rel), { withFileTypes: true }).sort((a, b) => a.name.localeCompare(b.name))) {
      const r = rel ? `${rel}/${e.name}` : e.name;
      if (e.isDirectory()) walk(r);
      else files.set(r, fs.readFileSync(path.join(dir, r), 'utf8'));
    }
  };
  if (fs.existsSync(dir)) walk('');
  return files;
}

/**
 * Builds a program into a fresh App with its own outdir, synthesizes it and parses what was written.
 * What synth prints to stderr is captured (the test log stays quiet) and checked to be exactly
 * `app.warnings()`, which tests assert on.
 */
export function synth(build: (app: App) => void): Synthesized {
  const dir = path.join(tmpdir(), 'dist');
  const app = new App({ outdir: dir });
  build(app);
  quietSynth(app);
  return load(dir);
}

/**
 * `app.synth()` with what it prints to stderr captured, so the test log stays quiet, and checked to be
 * exactly `app.warnings()` (which tests assert on).
 */
export function quietSynth(app: App): void {
  const printed: string[] = [];
  const spy = jest.spyOn(console, 'warn').mockImplementation((...args: unknown[]) => { printed.push(args.map(String).join(' ')); });
  try {
    app.synth();
  } finally {
    spy.mockRestore();
  }
  expect(printed).toEqual(app.warnings().map((w) => `[pyfleet] warning: ${w.constructPath || '<app>'}: ${w.message}`));
}

export function load(dir: string): Synthesized {
  const files = readTree(dir);
  const k8s = (stack: string): any[] => {
    const text = files.get(`${stack}.k8s.yaml`);
    if (text === undefined) throw new Error(`no ${stack}.k8s.yaml in ${dir}`);
    return yaml.loadAll(text) as any[];
  };
  return {
    dir,
    files,
    k8s,
    compose: (stack) => {
      const text = files.get(`${stack}.compose.yml`);
      if (text === undefined) throw new Error(`no ${stack}.compose.yml in ${dir}`);
      return yaml.load(text);
    },
    find: (stack, kind, name) => {
      const o = k8s(stack).find((d) => d.kind === kind && d.metadata?.name === name);
      if (!o) throw new Error(`no ${kind}/${name} in ${stack}`);
      return o;
    },
    cleanup: () => fs.rmSync(path.dirname(dir), { recursive: true, force: true }),
  };
}

/** A source directory with a Dockerfile, for built services in tests. */
export function sourceDir(files: Record<string, string> = {}): string {
  const dir = tmpdir('pyfleet-src-');
  const all = { 'Dockerfile': 'FROM python:3.12.8-slim-bookworm\nCOPY app.py .\nCMD ["python", "app.py"]\n', 'app.py': 'print("hi")\n', ...files };
  for (const [f, content] of Object.entries(all)) {
    fs.mkdirSync(path.dirname(path.join(dir, f)), { recursive: true });
    fs.writeFileSync(path.join(dir, f), content);
  }
  return dir;
}
