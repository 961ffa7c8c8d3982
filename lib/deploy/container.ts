import { execFile } from 'child_process';
import { createHash } from 'crypto';
import * as path from 'path';

// The docker CLI side of a release: a compose service of the generated file turned into the `docker
// run` of one container (the same settings compose would give it, in a release slot), and the few
// docker commands a release needs. Keys this does not know are refused, never dropped.

/** Runs docker; resolves to stdout, rejects with stderr. */
export function docker(args: readonly string[], env: NodeJS.ProcessEnv, timeoutMs = 300_000): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile('docker', [...args], { env, encoding: 'utf8', timeout: timeoutMs, maxBuffer: 64 << 20 }, (err, stdout, stderr) => {
      if (err) reject(new Error(`docker ${args.slice(0, 2).join(' ')} failed: ${(stderr || err.message).trim().slice(-2000)}`));
      else resolve(stdout);
    });
  });
}

/** Milliseconds of a Go duration ("1m30s", "2s", "500ms"). */
export function goDurationMs(s: string): number {
  let total = 0;
  const re = /(\d+(?:\.\d+)?)(h|ms|m|s|us|ns)/g;
  let m: RegExpExecArray | null;
  let seen = '';
  while ((m = re.exec(s)) !== null) {
    const n = Number(m[1]);
    total += n * ({ h: 3_600_000, m: 60_000, s: 1000, ms: 1, us: 0.001, ns: 0.000001 } as Record<string, number>)[m[2]];
    seen += m[0];
  }
  if (seen !== s || s === '') throw new Error(`"${s}" is not a duration`);
  return total;
}

/** Compose interpolation of one value: `$$` is `$`; `${VAR}`, `${VAR:?message}`, `${VAR:-default}` and `$VAR` read `env`. */
export function interpolate(value: string, env: NodeJS.ProcessEnv, where: string): string {
  return value.replace(/\$\$|\$\{([A-Za-z_][A-Za-z0-9_]*)(?:(:?[?-])([^}]*))?\}|\$([A-Za-z_][A-Za-z0-9_]*)/g, (all, name?: string, op?: string, arg?: string, bare?: string) => {
    if (all === '$$') return '$';
    const v = env[(name ?? bare)!];
    if (op?.endsWith('?') && (v === undefined || (op === ':?' && v === ''))) throw new Error(`${where}: ${arg || `${name} is not set`}`);
    if (op?.endsWith('-') && (v === undefined || (op === ':-' && v === ''))) return arg ?? '';
    return v ?? '';
  });
}

/** Keys of a generated compose service that a release container is started with. */
const KNOWN = new Set(['image', 'build', 'depends_on', 'environment', 'network_mode', 'entrypoint', 'command', 'restart', 'healthcheck', 'logging', 'labels', 'user',
  'cap_drop', 'deploy', 'read_only', 'security_opt', 'stop_grace_period', 'stop_signal', 'tmpfs', 'volumes']);

/** The parts of a compose service a release needs. */
export interface ReleaseSpec {
  /** Image the container runs. */
  readonly image: string;
  /** How to build it, when the compose service builds it. */
  readonly build?: { context: string; dockerfile?: string; args: Record<string, string> };
  /** The container's environment (interpolated), before the slot's port variables. */
  readonly env: Record<string, string>;
  /** `docker run` arguments before the image (without name, environment and labels of the release). */
  readonly runArgs: string[];
  /** Arguments after the image. */
  readonly command: string[];
  /** Content hash of the service definition: a container with this hash runs this release. */
  readonly hash: string;
  /** Time between SIGTERM and SIGKILL. */
  readonly stopGraceMs: number;
  /** Health check timings (a release needs one). */
  readonly health: { intervalMs: number; timeoutMs: number; startPeriodMs: number; retries: number };
}

function envList(e: unknown): Record<string, string> {
  if (e === undefined || e === null) return {};
  if (Array.isArray(e)) {
    const out: Record<string, string> = {};
    for (const kv of e as string[]) { const i = kv.indexOf('='); out[i < 0 ? kv : kv.slice(0, i)] = i < 0 ? '' : kv.slice(i + 1); }
    return out;
  }
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(e as Record<string, unknown>)) out[k] = v === null ? '' : String(v);
  return out;
}

/** Shell-quotes one word (for an exec-form health check given to `docker run --health-cmd`, which runs it in a shell). */
function shq(s: string): string {
  return /^[A-Za-z0-9_./:=@%+-]+$/.test(s) ? s : `'${s.replace(/'/g, "'\\''")}'`;
}

/**
 * The release spec of compose service `name` (of the file in `dir`). `env` is the deploying shell's
 * environment, for `${VAR}` references (secrets).
 */
export function releaseSpec(name: string, def: Record<string, any>, dir: string, env: NodeJS.ProcessEnv): ReleaseSpec {
  const where = `service "${name}"`;
  for (const k of Object.keys(def)) {
    if (!KNOWN.has(k)) throw new Error(`${where} has the key "${k}", which pyfleet deploy does not know how to start: remove the override that adds it, or release this service with docker compose up -d`);
  }
  if (def.network_mode !== 'host') throw new Error(`${where} is not in host network mode`);
  const args: string[] = ['--network', 'host'];
  const environment = envList(def.environment);
  const vars: Record<string, string> = {};
  for (const k of Object.keys(environment).sort()) vars[k] = interpolate(environment[k], env, `${where} variable ${k}`);
  if (def.user) args.push('--user', String(def.user));
  if (def.read_only) args.push('--read-only');
  for (const t of def.tmpfs ?? []) args.push('--tmpfs', String(t));
  for (const c of def.cap_drop ?? []) args.push('--cap-drop', String(c));
  for (const o of def.security_opt ?? []) args.push('--security-opt', String(o));
  if (def.restart) args.push('--restart', String(def.restart));
  if (def.stop_signal) args.push('--stop-signal', String(def.stop_signal));
  const stopGraceMs = def.stop_grace_period ? goDurationMs(String(def.stop_grace_period)) : 10_000;
  args.push('--stop-timeout', String(Math.ceil(stopGraceMs / 1000)));
  if (def.logging?.driver) {
    args.push('--log-driver', String(def.logging.driver));
    for (const k of Object.keys(def.logging.options ?? {}).sort()) args.push('--log-opt', `${k}=${def.logging.options[k]}`);
  }
  const limits = def.deploy?.resources?.limits ?? {};
  const reservations = def.deploy?.resources?.reservations ?? {};
  if (limits.cpus) args.push('--cpus', String(limits.cpus));
  if (limits.memory) args.push('--memory', String(limits.memory));
  if (reservations.memory) args.push('--memory-reservation', String(reservations.memory));
  for (const v of def.volumes ?? []) {
    if (typeof v !== 'object' || !['bind', 'tmpfs'].includes(v.type)) throw new Error(`${where} mounts ${JSON.stringify(v)}, which pyfleet deploy does not start: use the long syntax with type bind or tmpfs`);
    if (v.type === 'tmpfs') args.push('--tmpfs', String(v.target));
    else args.push('--mount', `type=bind,source=${path.resolve(dir, String(v.source))},target=${v.target}${v.read_only ? ',readonly' : ''}`);
  }
  const labels = (def.labels ?? {}) as Record<string, string>;
  for (const k of Object.keys(labels).sort()) args.push('--label', `${k}=${labels[k]}`);
  const hc = def.healthcheck;
  if (!hc || hc.disable || !hc.test) {
    throw new Error(`${where} has no health check, so pyfleet deploy cannot tell when a new release is ready: give the service a health check (healthCheck: HealthCheck.http('/healthz'))`);
  }
  const test: string[] = Array.isArray(hc.test) ? hc.test.map((x: unknown) => String(x)) : ['CMD-SHELL', String(hc.test)];
  const cmd = test[0] === 'CMD-SHELL' ? interpolate(test[1], {}, where) : test.slice(1).map(shq).join(' ');
  const health = {
    intervalMs: hc.interval ? goDurationMs(String(hc.interval)) : 30_000,
    timeoutMs: hc.timeout ? goDurationMs(String(hc.timeout)) : 30_000,
    startPeriodMs: hc.start_period ? goDurationMs(String(hc.start_period)) : 0,
    retries: hc.retries !== undefined ? Number(hc.retries) : 3,
  };
  args.push('--health-cmd', cmd, '--health-interval', `${health.intervalMs}ms`, '--health-timeout', `${health.timeoutMs}ms`,
    '--health-retries', String(health.retries), '--health-start-period', `${health.startPeriodMs}ms`);
  let entry: string[] = [];
  if (def.entrypoint !== undefined) {
    entry = Array.isArray(def.entrypoint) ? def.entrypoint.map(String) : [String(def.entrypoint)];
    args.push('--entrypoint', entry[0]);
  }
  const command = [...entry.slice(1), ...(def.command !== undefined ? (Array.isArray(def.command) ? def.command.map(String) : [String(def.command)]) : [])];
  let image: string;
  let build: ReleaseSpec['build'];
  if (def.build) {
    const b = typeof def.build === 'string' ? { context: def.build } : def.build;
    image = def.image ?? b.tags?.[0];
    if (!image) throw new Error(`${where} builds an image without naming it (build.tags): synthesize it with pyfleet`);
    build = { context: path.resolve(dir, String(b.context)), dockerfile: b.dockerfile, args: envList(b.args) };
  } else {
    image = String(def.image);
  }
  const hash = createHash('sha256').update(JSON.stringify({ image, build, env: vars, args, command })).digest('hex').slice(0, 12);
  return { image, build, env: vars, runArgs: args, command, hash, stopGraceMs, health };
}
