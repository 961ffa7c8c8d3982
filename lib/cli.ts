#!/usr/bin/env node
// `pyfleet`, the command line: `pyfleet graph` prints the topology of a synthesized outdir (or of the
// program, run first the way `cdk8s synth` runs it) as text, Mermaid, DOT or JSON. It reads the
// `<stack>.topology.json` files the topology target writes and loads none of the constructs.
import { spawnSync } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import * as yaml from 'js-yaml';
import { DEPLOY_USAGE, DeployUsageError, parseDeployArgs } from './deploy/cli';
import { deploy } from './deploy/release';
import { toDot } from './render/topology/dot';
import { toMermaid } from './render/topology/mermaid';
import { toText } from './render/topology/text';
import { isTopology, Topology } from './render/topology/types';

const USAGE = `Usage: pyfleet graph [OUTDIR] [options]
       pyfleet deploy COMPOSE_FILE [options]   (pyfleet deploy --help)

Prints the topology of every stack (services, versions, routes, breakers, public entries, calls)
from the <stack>.topology.json files of a synthesized outdir.

  OUTDIR               where the program wrote its files (default: $CDK8S_OUTDIR, else ./dist)
  --app "<command>"    run this program first, as cdk8s synth does, into a temporary outdir
  --synth              run the "app" command of ./cdk8s.yaml first (same as --app "<that command>")
  --stack <name>       only this stack
  --format <format>    text (default), mermaid or dot (one stack), json (an array of every stack)
  -h, --help           this help
`;

/** Where the command writes. */
export interface CliIo {
  out(text: string): void;
  err(text: string): void;
}

class UsageError extends Error {}

interface GraphOptions {
  outdir?: string;
  app?: string;
  synth: boolean;
  stack?: string;
  format: 'text' | 'mermaid' | 'dot' | 'json';
}

function parseGraphArgs(args: readonly string[]): GraphOptions {
  const o: GraphOptions = { synth: false, format: 'text' };
  const value = (i: number, flag: string): string => {
    const v = args[i + 1];
    if (v === undefined || v.startsWith('--')) throw new UsageError(`${flag} needs a value`);
    return v;
  };
  for (let i = 0; i < args.length; i++) {
    const a = args[i];
    if (a === '--app') o.app = value(i++, a);
    else if (a === '--synth') o.synth = true;
    else if (a === '--stack') o.stack = value(i++, a);
    else if (a === '--format') {
      const f = value(i++, a);
      if (f !== 'text' && f !== 'mermaid' && f !== 'dot' && f !== 'json') throw new UsageError(`--format "${f}" is unknown: use text, mermaid, dot or json`);
      o.format = f;
    } else if (a.startsWith('-')) throw new UsageError(`unknown option ${a}`);
    else if (o.outdir === undefined) o.outdir = a;
    else throw new UsageError(`one outdir only (got "${o.outdir}" and "${a}")`);
  }
  const sources = [o.outdir !== undefined, o.app !== undefined, o.synth].filter(Boolean).length;
  if (sources > 1) throw new UsageError('give an OUTDIR, --app or --synth, not several');
  return o;
}

/** The `app` command of ./cdk8s.yaml. */
function cdk8sApp(cwd: string): string {
  const file = path.join(cwd, 'cdk8s.yaml');
  if (!fs.existsSync(file)) throw new Error(`--synth reads the "app" command of cdk8s.yaml, and there is none in ${cwd}: run it where cdk8s.yaml is, or pass --app "<command>"`);
  const doc = yaml.load(fs.readFileSync(file, 'utf8')) as { app?: unknown } | undefined;
  if (typeof doc?.app !== 'string' || doc.app.trim() === '') throw new Error(`${file} has no "app" command: add one (e.g. app: npx ts-node main.ts) or pass --app "<command>"`);
  return doc.app;
}

/** Runs the user's program as cdk8s synth does: a shell command with CDK8S_OUTDIR set. Its output goes to stderr. */
function runApp(command: string, outdir: string, cwd: string): void {
  const r = spawnSync(command, { shell: true, cwd, env: { ...process.env, CDK8S_OUTDIR: outdir }, stdio: ['ignore', process.stderr, process.stderr] });
  if (r.error) throw new Error(`could not run "${command}": ${r.error.message}`);
  if (r.status !== 0) throw new Error(`"${command}" failed (${r.status === null ? `signal ${r.signal}` : `exit code ${r.status}`}); its output is above`);
}

function readTopologies(dir: string): Topology[] {
  if (!fs.existsSync(dir) || !fs.statSync(dir).isDirectory()) {
    throw new Error(`${dir} does not exist: synthesize first (cdk8s synth, or run your program), or pass --synth / --app "<command>"`);
  }
  const files = fs.readdirSync(dir).filter((f) => f.endsWith('.topology.json')).sort();
  if (files.length === 0) {
    throw new Error(`no *.topology.json in ${dir}: synthesize with pyfleet's topology target (a default target) first, or pass --synth / --app "<command>"`);
  }
  return files.map((f) => {
    const file = path.join(dir, f);
    let data: unknown;
    try {
      data = JSON.parse(fs.readFileSync(file, 'utf8'));
    } catch (e) {
      throw new Error(`${file} is not JSON (${(e as Error).message}): synthesize again`);
    }
    if (!isTopology(data)) throw new Error(`${file} is not a topology this pyfleet can read: synthesize again with this version`);
    return data;
  });
}

function print(t: Topology, format: Exclude<GraphOptions['format'], 'json'>): string {
  switch (format) {
    case 'text': return toText(t);
    case 'mermaid': return toMermaid(t);
    case 'dot': return toDot(t);
  }
}

function graph(args: readonly string[], io: CliIo, cwd: string): number {
  const o = parseGraphArgs(args);
  const app = o.synth ? cdk8sApp(cwd) : o.app;
  let dir = path.resolve(cwd, o.outdir ?? (process.env.CDK8S_OUTDIR || 'dist'));
  let tmp: string | undefined;
  try {
    if (app !== undefined) {
      tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'pyfleet-graph-'));
      dir = tmp;
      runApp(app, tmp, cwd);
    }
    let all = readTopologies(dir);
    if (o.stack !== undefined) {
      const names = all.map((t) => t.stack);
      all = all.filter((t) => t.stack === o.stack);
      if (all.length === 0) throw new Error(`no stack "${o.stack}" in ${app !== undefined ? `the output of "${app}"` : dir} (it has ${names.join(', ')})`);
    }
    const format = o.format;
    if (format === 'json') {
      io.out(JSON.stringify(all, null, 2) + '\n');
    } else if (format !== 'text' && all.length > 1) {
      throw new UsageError(`${all.length} stacks (${all.map((t) => t.stack).join(', ')}): one ${format} diagram is one stack, choose it with --stack`);
    } else {
      io.out(all.map((t) => print(t, format)).join('\n'));
    }
    return 0;
  } finally {
    if (tmp) fs.rmSync(tmp, { recursive: true, force: true });
  }
}

/** Runs the command line; returns the exit code (0 done, 1 failed, 2 wrong usage). */
export function main(argv: readonly string[], io: CliIo = { out: (s) => process.stdout.write(s), err: (s) => process.stderr.write(s) }, cwd = process.cwd()): number {
  const [command, ...rest] = argv;
  try {
    if (command === undefined) {
      io.err(USAGE);
      return 2;
    }
    if (command === '-h' || command === '--help' || command === 'help') {
      io.out(USAGE);
      return 0;
    }
    if (command === 'deploy') throw new UsageError('deploy runs asynchronously: call deployCommand (the pyfleet binary does)');
    if (command !== 'graph') throw new UsageError(`unknown command "${command}"`);
    if (rest.includes('-h') || rest.includes('--help')) {
      io.out(USAGE);
      return 0;
    }
    return graph(rest, io, cwd);
  } catch (e) {
    if (e instanceof UsageError) {
      io.err(`pyfleet: ${e.message}\n\n${USAGE}`);
      return 2;
    }
    io.err(`pyfleet graph: ${(e as Error).message}\n`);
    return 1;
  }
}

/**
 * Runs `pyfleet deploy` (after the word `deploy`); resolves to the exit code (0 released, 1 failed,
 * 2 wrong usage). Progress goes to `io.out`, the reason of a failure to `io.err`.
 */
export async function deployCommand(args: readonly string[], io: CliIo = { out: (s) => process.stdout.write(s), err: (s) => process.stderr.write(s) },
  cwd = process.cwd(), env: NodeJS.ProcessEnv = process.env): Promise<number> {
  if (args.includes('-h') || args.includes('--help')) {
    io.out(DEPLOY_USAGE);
    return 0;
  }
  let options: ReturnType<typeof parseDeployArgs>;
  try {
    options = parseDeployArgs(args);
  } catch (e) {
    if (e instanceof DeployUsageError) {
      io.err(`pyfleet deploy: ${e.message}\n\n${DEPLOY_USAGE}`);
      return 2;
    }
    throw e;
  }
  try {
    await deploy({ ...options, file: path.resolve(cwd, options.file), env, log: (line) => io.out(`${line}\n`) });
    return 0;
  } catch (e) {
    io.err(`pyfleet deploy: ${(e as Error).message}\n`);
    return 1;
  }
}

if (require.main === module) {
  const argv = process.argv.slice(2);
  if (argv[0] === 'deploy') void deployCommand(argv.slice(1)).then((code) => { process.exitCode = code; });
  else process.exitCode = main(argv);
}
