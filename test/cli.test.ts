// `pyfleet graph`: the topology of a synthesized outdir, or of the program run first, printed as text
// (or Mermaid, DOT, JSON). The command runs for real as a child process; its argument handling in process.
import { execFileSync, spawnSync } from 'child_process';
import * as fs from 'fs';
import * as path from 'path';
import { App, Topology, toDot, toMermaid, toText } from '../lib';
import { main } from '../lib/cli';
import { buildCanary } from '../examples/canary/main';
import { buildHello } from '../examples/hello/main';
import { haveEngine } from './support/engines';
import { synth, Synthesized, tmpdir } from './support/synth';

const root = path.join(__dirname, '..');

/** Runs lib/cli.ts as `pyfleet` does from build/cli.js, in a child process killed after `timeoutMs`. */
function pyfleet(args: string[], options: { cwd?: string; env?: NodeJS.ProcessEnv; timeoutMs?: number } = {}) {
  const r = spawnSync(process.execPath, ['-r', require.resolve('ts-node/register/transpile-only'), path.join(root, 'lib/cli.ts'), ...args], {
    cwd: options.cwd ?? root, encoding: 'utf8', timeout: options.timeoutMs ?? 60_000,
    env: { ...process.env, TS_NODE_PROJECT: path.join(root, 'tsconfig.json'), ...options.env },
  });
  if (r.error) throw r.error;
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

/** Runs main() in process, collecting what it writes. */
function run(argv: string[], cwd = root): { code: number; out: string; err: string } {
  let out = '';
  let err = '';
  const code = main(argv, { out: (s) => { out += s; }, err: (s) => { err += s; } }, cwd);
  return { code, out, err };
}

describe('pyfleet graph on a synthesized outdir', () => {
  let canary: Synthesized;
  let t: Topology;
  beforeAll(() => {
    canary = synth(buildCanary);
    t = JSON.parse(canary.files.get('canary.topology.json')!);
  });
  afterAll(() => canary.cleanup());

  test('prints the text topology (the command itself, as a child process), and nothing on stderr', () => {
    const r = pyfleet(['graph', canary.dir]);
    expect(r).toEqual({ code: 0, stdout: toText(t), stderr: '' });
    expect(r.stdout).toContain('rule 2: every request -> v1 70%, v2 30%');
  });

  test('reads $CDK8S_OUTDIR, else ./dist, when no outdir is given', () => {
    expect(pyfleet(['graph'], { env: { CDK8S_OUTDIR: canary.dir } }).stdout).toBe(toText(t));
    const r = pyfleet(['graph'], { cwd: path.dirname(canary.dir), env: { CDK8S_OUTDIR: '' } });
    // An empty CDK8S_OUTDIR counts as unset; the synth helper's outdir is <tmp>/dist.
    expect(r).toMatchObject({ code: 0, stdout: toText(t) });
  });

  test('--format mermaid, dot and json print the same graph the files hold', () => {
    expect(run(['graph', canary.dir, '--format', 'mermaid'])).toEqual({ code: 0, out: toMermaid(t), err: '' });
    expect(run(['graph', canary.dir, '--format', 'dot'])).toEqual({ code: 0, out: toDot(t), err: '' });
    expect(JSON.parse(run(['graph', canary.dir, '--format', 'json']).out)).toEqual([t]);
    if (haveEngine('dot', 'apt-get install graphviz; .ci/setup.d/50-topology.sh')) {
      const svg = execFileSync('dot', ['-Tsvg'], { input: pyfleet(['graph', canary.dir, '--format', 'dot']).stdout, encoding: 'utf8', timeout: 60_000 });
      expect(svg).toContain('<title>svc_order_service</title>');
    }
  });

  test('several stacks: text prints each, --stack picks one, a Mermaid or DOT diagram needs --stack', () => {
    const dir = path.join(tmpdir(), 'dist');
    try {
      const app = new App({ outdir: dir });
      buildCanary(app);
      buildHello(app);
      const spy = jest.spyOn(console, 'warn').mockImplementation(() => undefined);
      try { app.synth(); } finally { spy.mockRestore(); }
      const [a, b] = ['canary', 'hello'].map((s) => JSON.parse(fs.readFileSync(path.join(dir, `${s}.topology.json`), 'utf8')) as Topology);
      expect(run(['graph', dir]).out).toBe(`${toText(a)}\n${toText(b)}`);
      expect(run(['graph', dir, '--stack', 'hello']).out).toBe(toText(b));
      expect(run(['graph', dir, '--stack', 'nope'])).toMatchObject({ code: 1, err: expect.stringContaining('no stack "nope" in') });
      expect(run(['graph', dir, '--stack', 'nope']).err).toContain('(it has canary, hello)');
      expect(run(['graph', dir, '--format', 'mermaid'])).toMatchObject({ code: 2, err: expect.stringContaining('2 stacks (canary, hello): one mermaid diagram is one stack, choose it with --stack') });
      expect(run(['graph', dir, '--format', 'dot', '--stack', 'canary']).out).toBe(toDot(a));
    } finally {
      fs.rmSync(path.dirname(dir), { recursive: true, force: true });
    }
  });
});

test('pyfleet graph --synth runs the app command of ./cdk8s.yaml (examples/canary) into a temporary outdir; the program\'s own output goes to stderr', () => {
  const dist = path.join(root, 'examples/canary/dist');
  const before = fs.existsSync(dist) ? fs.statSync(dist).mtimeMs : undefined;
  const r = pyfleet(['graph', '--synth'], { cwd: path.join(root, 'examples/canary'), timeoutMs: 180_000 });
  const app = new App({ outdir: path.join(tmpdir(), 'unused') });
  buildCanary(app);
  expect(r.code).toBe(0);
  expect(r.stdout).toBe(toText(app.synthesize()[0].results.topology!));
  expect(r.stderr).toContain('pyfleet wrote'); // examples' printSummary, moved off stdout
  // Nothing was written beside the example.
  expect(fs.existsSync(dist) ? fs.statSync(dist).mtimeMs : undefined).toBe(before);
});

test('pyfleet graph --app runs a command; a failing one is reported with its exit code and its output kept', () => {
  const dir = tmpdir('pyfleet-cli-app-');
  try {
    // A tiny program of its own, written in JavaScript against the library's sources (ts-node registered by the parent command).
    fs.writeFileSync(path.join(dir, 'main.js'), [
      `require(${JSON.stringify(require.resolve('ts-node/register/transpile-only'))});`,
      `const p = require(${JSON.stringify(path.join(root, 'lib'))});`,
      'const app = new p.App();',
      "const stack = new p.Stack(app, 'tiny');",
      "new p.MicroService(stack, 'api', { image: p.ContainerImage.fromRegistry('ghcr.io/acme/api:1.0.0'), expose: { port: 8080 } });",
      'app.synth();',
      "console.log('synthesized');",
    ].join('\n'));
    const ok = pyfleet(['graph', '--app', `"${process.execPath}" main.js`], { cwd: dir, timeoutMs: 120_000 });
    expect(ok.code).toBe(0);
    expect(ok.stdout).toBe([
      'stack tiny, namespace tiny, no mesh', '', 'public :8080 -> api :8080', '', 'api (container :8080)', '  v1 (2 replicas; ghcr.io/acme/api:1.0.0)', '',
    ].join('\n'));
    expect(ok.stderr).toBe('synthesized\n');
    expect(fs.readdirSync(dir)).toEqual(['main.js']); // the program wrote into the temporary outdir, not ./dist

    const failed = pyfleet(['graph', '--app', 'echo broken >&2; exit 3'], { cwd: dir });
    expect(failed).toEqual({ code: 1, stdout: '', stderr: 'broken\npyfleet graph: "echo broken >&2; exit 3" failed (exit code 3); its output is above\n' });
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

describe('mistakes get a message that says what to do', () => {
  test('no outdir, an outdir without topology files, a file that is not a topology', () => {
    const dir = tmpdir('pyfleet-cli-');
    try {
      expect(run(['graph', path.join(dir, 'missing')])).toEqual({ code: 1, out: '', err: `pyfleet graph: ${path.join(dir, 'missing')} does not exist: synthesize first (cdk8s synth, or run your program), or pass --synth / --app "<command>"\n` });
      expect(run(['graph', dir]).err).toContain(`no *.topology.json in ${dir}: synthesize with pyfleet's topology target`);
      fs.writeFileSync(path.join(dir, 'x.topology.json'), '{"format":"other"}');
      expect(run(['graph', dir]).err).toContain('x.topology.json is not a topology this pyfleet can read: synthesize again with this version');
      fs.writeFileSync(path.join(dir, 'x.topology.json'), '{');
      expect(run(['graph', dir]).err).toMatch(/x\.topology\.json is not JSON \(.*\): synthesize again/);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  test('--synth without cdk8s.yaml, or one without an app command', () => {
    const dir = tmpdir('pyfleet-cli-');
    try {
      expect(run(['graph', '--synth'], dir).err).toContain(`--synth reads the "app" command of cdk8s.yaml, and there is none in ${dir}`);
      fs.writeFileSync(path.join(dir, 'cdk8s.yaml'), 'language: typescript\n');
      expect(run(['graph', '--synth'], dir)).toMatchObject({ code: 1, err: expect.stringContaining('cdk8s.yaml has no "app" command: add one (e.g. app: npx ts-node main.ts)') });
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  test('usage errors exit with 2 and print the usage on stderr; --help prints it on stdout', () => {
    for (const argv of [[], ['draw'], ['graph', '--colour'], ['graph', 'a', 'b'], ['graph', 'dist', '--synth'], ['graph', '--app'], ['graph', '--format', 'png']]) {
      const r = run(argv);
      expect({ argv, code: r.code, out: r.out }).toEqual({ argv, code: 2, out: '' });
      expect(r.err).toContain('Usage: pyfleet graph [OUTDIR] [options]');
    }
    expect(run(['draw']).err.split('\n')[0]).toBe('pyfleet: unknown command "draw"');
    expect(run(['graph', '--format', 'png']).err.split('\n')[0]).toBe('pyfleet: --format "png" is unknown: use text, mermaid, dot or json');
    expect(run(['graph', 'dist', '--synth']).err.split('\n')[0]).toBe('pyfleet: give an OUTDIR, --app or --synth, not several');
    expect(run(['--help'])).toMatchObject({ code: 0, err: '' });
    expect(run(['graph', '-h']).out).toContain('--format <format>');
  });
});

test('package.json maps the `pyfleet` command to the compiled lib/cli.ts, which starts with a node shebang', () => {
  const pkg = JSON.parse(fs.readFileSync(path.join(root, 'package.json'), 'utf8'));
  expect(pkg.bin).toEqual({ pyfleet: 'build/cli.js' });
  const tsconfig = JSON.parse(fs.readFileSync(path.join(root, 'tsconfig.json'), 'utf8').replace(/^\/\/.*\n/, ''));
  expect(tsconfig.compilerOptions).toMatchObject({ rootDir: 'lib', outDir: 'build' });
  expect(fs.readFileSync(path.join(root, 'lib/cli.ts'), 'utf8').split('\n')[0]).toBe('#!/usr/bin/env node');
  // The command loads no construct library: it only reads the JSON files.
  const src = fs.readFileSync(path.join(root, 'lib/cli.ts'), 'utf8');
  expect(src).not.toMatch(/from '\.\/(core|model|mesh|service|render\/topology\/graph)/);
});
