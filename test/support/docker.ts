// A private Docker engine for the image and compose tests: dockerd started by the test with its own
// data, exec and socket directories (host networking only, no iptables), the stand-in base image that
// .ci/setup.d/40-docker.sh prepares, and pip's local index served on loopback for `docker build`.
import { execFileSync, ExecFileSyncOptions, spawnSync } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { haveEngine } from './engines';
import { freePort, start, Started, waitForHttp } from './process';

/** Where .ci/setup.d/40-docker.sh keeps the base root filesystem and its verdict on dockerd. */
export const TEST_CACHE = process.env.PYFLEET_TEST_CACHE ?? path.join(os.homedir(), '.cache', 'pyfleet-test');
export const BASE_ROOTFS = path.join(TEST_CACHE, 'bookworm-python-rootfs.tar');
const UNAVAILABLE = path.join(TEST_CACHE, 'dockerd-unavailable');

/**
 * Whether the docker tests can run. Missing commands fail in CI (see engines.ts). A machine where the
 * setup script found that dockerd cannot start gives a skip with the recorded reason, never a silent one.
 */
export function haveDocker(): boolean {
  if (!haveEngine('dockerd', 'apt-get install docker.io, or bash .ci/setup.d/40-docker.sh')) return false;
  if (!haveEngine('docker-compose', 'apt-get install docker-compose')) return false;
  if (fs.existsSync(UNAVAILABLE)) {
    // eslint-disable-next-line no-console
    console.warn(`skipping the docker tests: ${fs.readFileSync(UNAVAILABLE, 'utf8')}`);
    return false;
  }
  if (!fs.existsSync(BASE_ROOTFS)) {
    const hint = 'run bash .ci/setup.d/40-docker.sh (as root) to make it';
    if (process.env.CI === 'true') throw new Error(`the docker tests need the base root filesystem ${BASE_ROOTFS}; ${hint}`);
    // eslint-disable-next-line no-console
    console.warn(`skipping the docker tests: no ${BASE_ROOTFS} (${hint})`);
    return false;
  }
  return true;
}

export interface Engine {
  /** Environment for docker and docker-compose: DOCKER_HOST points at this engine only. */
  readonly env: NodeJS.ProcessEnv;
  docker(args: string[], options?: ExecFileSyncOptions): string;
  compose(args: string[], cwd: string, timeoutMs?: number): string;
  /** Stops dockerd by PID (bounded) and removes its directories. */
  stop(): Promise<void>;
}

/** Starts a private dockerd and waits until it answers (bounded). */
export async function startEngine(): Promise<Engine> {
  // Short paths: containerd's shim sockets live under the exec root and unix socket paths are short.
  const dir = fs.mkdtempSync('/tmp/pfd-');
  const host = `unix://${dir}/docker.sock`;
  const env: NodeJS.ProcessEnv = { ...process.env, DOCKER_HOST: host, DOCKER_BUILDKIT: '0', COMPOSE_DOCKER_CLI_BUILD: '0' };
  delete env.DOCKER_CONTEXT;
  // Its log goes to a file, not a pipe: the tests block in execFileSync while images build, and a pipe
  // nobody drains would fill up and stall dockerd.
  const logFile = path.join(dir, 'dockerd.log');
  const logFd = fs.openSync(logFile, 'a');
  const proc = start('dockerd', ['--iptables=false', '--ip6tables=false', '--bridge=none', '--storage-driver=overlay2',
    '--data-root', path.join(dir, 'data'), '--exec-root', path.join(dir, 'exec'), '--pidfile', path.join(dir, 'docker.pid'), '-H', host],
  { stdio: ['ignore', logFd, logFd] });
  fs.closeSync(logFd);
  const log = (): string => fs.readFileSync(logFile, 'utf8').slice(-3000);
  const docker = (args: string[], options: ExecFileSyncOptions = {}): string =>
    execFileSync('docker', args, { env, encoding: 'utf8', stdio: ['pipe', 'pipe', 'pipe'], timeout: 300_000, maxBuffer: 64 << 20, ...options }) as string;
  const deadline = Date.now() + 60_000;
  for (;;) {
    try {
      docker(['info', '--format', '{{.ServerVersion}}'], { timeout: 10_000 });
      break;
    } catch (e) {
      if (proc.child.exitCode !== null || Date.now() > deadline) {
        await proc.stop('SIGTERM', 20_000);
        throw new Error(`dockerd did not start: ${String(e)}\n${log()}`);
      }
      await new Promise((r) => setTimeout(r, 500));
    }
  }
  return {
    env,
    docker,
    compose: (args, cwd, timeoutMs = 180_000) =>
      execFileSync('docker-compose', args, { cwd, env, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], timeout: timeoutMs }),
    async stop() {
      await proc.stop('SIGTERM', 30_000);
      // dockerd leaves its network namespace mount (and, when killed, overlay mounts) behind: unmount
      // whatever is still mounted under its directories before removing them.
      const mounts = fs.readFileSync('/proc/mounts', 'utf8').split('\n').map((l) => l.split(' ')[1]).filter((m) => m?.startsWith(`${dir}/`));
      for (const m of mounts.sort().reverse()) {
        try { execFileSync('umount', ['-l', m], { timeout: 20_000 }); } catch { /* already gone */ }
      }
      fs.rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** Imports the stand-in base root filesystem under `tag` (the tag the generated Dockerfiles pin). */
export function importBase(engine: Engine, tag: string): void {
  engine.docker(['import', BASE_ROOTFS, tag], { timeout: 180_000 });
}

/** The local package index pip is configured with (a PEP 503 directory on disk). */
export function localIndexDir(): string {
  const out = execFileSync('python3', ['-m', 'pip', 'config', 'list'], { encoding: 'utf8', timeout: 30_000 });
  for (const line of out.split('\n')) {
    const m = /index-url='([^']*)'/.exec(line);
    if (!m) continue;
    for (const url of m[1].split(/\s+/)) {
      if (!url.startsWith('file://')) continue;
      const dir = url.slice('file://'.length).replace(/\/$/, '');
      if (fs.existsSync(dir) && fs.readdirSync(dir).length > 0) return dir;
    }
  }
  throw new Error(`no local package index in pip's configuration:\n${out}`);
}

/**
 * Serves a PEP 503 directory over HTTP on 127.0.0.1 (for `docker build --network host`). Its pages link
 * to files beside it (../../packages/...), so the parent directory is served and the URL names the index.
 */
export async function serveIndex(dir: string): Promise<{ url: string; server: Started }> {
  const port = await freePort();
  // It logs every request; with no pipe to fill (see startEngine), long builds cannot stall it.
  const server = start('python3', ['-m', 'http.server', String(port), '--bind', '127.0.0.1', '--directory', path.dirname(dir)],
    { stdio: 'ignore' });
  const url = `http://127.0.0.1:${port}/${path.basename(dir)}`;
  await waitForHttp(`${url}/gunicorn/`, 15_000, server);
  return { url, server };
}

/**
 * The compose document as docker-compose 1.29 (Debian's; no compose v2 plugin here) can take it: it
 * predates exactly four keys of the current specification (top-level `name`, `build.tags`,
 * `healthcheck.start_interval`, `depends_on.restart`). With `prebuilt`, built services use the image their
 * `build.tags` names (built beforehand with `docker build`) instead of building.
 */
export function forDockerCompose129(doc: any, options: { prebuilt?: boolean } = {}): any {
  const copy = JSON.parse(JSON.stringify(doc));
  delete copy.name;
  for (const s of Object.values<any>(copy.services)) {
    if (s.build) {
      if (options.prebuilt) {
        s.image = s.build.tags[0];
        delete s.build;
      } else {
        delete s.build.tags;
      }
    }
    if (s.healthcheck) delete s.healthcheck.start_interval;
    for (const d of Object.values<any>(s.depends_on ?? {})) delete d.restart;
  }
  return copy;
}

/** A container's log, stdout and stderr together (gunicorn logs to stderr). */
export function containerLogs(engine: Engine, id: string): string {
  const r = spawnSync('docker', ['logs', id], { env: engine.env, encoding: 'utf8', timeout: 30_000 });
  return `${r.stdout}${r.stderr}`;
}

/**
 * The first `docker` client on PATH that has `docker stack config` (the swarm's own compose loader;
 * it needs no daemon). Debian's docker.io 20.10 client lacks it; the Docker 28 client that this
 * machine kind ships in /usr/local/bin (first on PATH) has it. In CI a missing one is a failure; on a
 * user's clone the tests that need it are skipped with a note.
 */
export function swarmCli(): string | undefined {
  let candidates: string[] = [];
  try {
    candidates = execFileSync('sh', ['-c', 'which -a docker'], { encoding: 'utf8', timeout: 10_000 }).split('\n').filter(Boolean);
  } catch { /* none */ }
  for (const c of candidates) {
    const r = spawnSync(c, ['stack', 'config', '--help'], { encoding: 'utf8', timeout: 20_000 });
    if (r.status === 0 && /compose-file/.test(r.stdout)) return c;
  }
  const why = `no docker client with \`docker stack config\` on PATH (tried: ${candidates.join(', ') || 'none'}); it came with Docker CLI 23+`;
  if (process.env.CI === 'true') throw new Error(why);
  // eslint-disable-next-line no-console
  console.warn(`skipping the swarm loader tests: ${why}`);
  return undefined;
}

/**
 * Runs the swarm's loader, `docker stack config -c <file>`, on a written compose file (no daemon is
 * asked: DOCKER_HOST points nowhere) and returns what it resolved. Throws with the loader's message
 * when it rejects the file or says anything on stderr.
 */
export function stackConfig(cli: string, file: string, env: NodeJS.ProcessEnv = {}): any {
  const r = spawnSync(cli, ['stack', 'config', '-c', file], { cwd: path.dirname(file), encoding: 'utf8', timeout: 60_000,
    env: { ...process.env, ...env, DOCKER_HOST: 'unix:///nonexistent-pyfleet.sock' } });
  if (r.status !== 0 || r.stderr !== '') throw new Error(`docker stack config rejected ${file} (${r.status ?? r.signal}): ${r.stderr}`);
  // js-yaml is loaded lazily: docker.ts is also imported by tests that parse no YAML.
  return (require('js-yaml') as typeof import('js-yaml')).load(r.stdout);
}

/**
 * A stand-in for the official HAProxy image (no registry is reachable here): Debian's haproxy 2.6 (the
 * same LTS branch as the pinned haproxy:2.6 image) and the shared libraries it links that the base lacks,
 * on the stand-in base image, honouring the official image's contract: the config at
 * /usr/local/etc/haproxy/haproxy.cfg, master-worker in the foreground, a non-root user (99, as the
 * official image's `haproxy` user), and a `wget -q -O /dev/null URL` for the generated health check
 * (the official alpine image has busybox wget; this one is a small Python script).
 */
export function buildHaproxyStandIn(engine: Engine, tag: string, base: string): void {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'pf-haproxy-'));
  try {
    const binary = execFileSync('sh', ['-c', 'command -v haproxy'], { encoding: 'utf8', timeout: 10_000 }).trim();
    fs.mkdirSync(path.join(dir, 'lib'));
    fs.copyFileSync(binary, path.join(dir, 'haproxy'));
    const ldd = execFileSync('ldd', [binary], { encoding: 'utf8', timeout: 10_000 });
    for (const m of ldd.matchAll(/=> (\/\S+)/g)) {
      // The C library and loader come from the base (the same Debian release).
      if (/\/(libc|libm|libdl|libpthread|librt|ld-linux[^/]*)\.so/.test(m[1])) continue;
      fs.copyFileSync(m[1], path.join(dir, 'lib', path.basename(m[1])));
    }
    fs.writeFileSync(path.join(dir, 'wget'), [
      '#!/usr/bin/env python3',
      '# Stand-in for busybox wget as the generated health check calls it: wget -q -O /dev/null URL.',
      'import sys, urllib.request',
      'try:',
      '    urllib.request.urlopen(sys.argv[-1], timeout=5).read()',
      'except Exception as e:',
      '    sys.exit(1)',
      '',
    ].join('\n'), { mode: 0o755 });
    fs.writeFileSync(path.join(dir, 'Dockerfile'), [
      `FROM ${base}`,
      'COPY lib/ /usr/local/lib/haproxy-standin/',
      'COPY haproxy /usr/local/sbin/haproxy',
      'COPY wget /usr/local/bin/wget',
      'ENV LD_LIBRARY_PATH=/usr/local/lib/haproxy-standin',
      'USER 99:99',
      'STOPSIGNAL SIGUSR1',
      'CMD ["haproxy", "-W", "-db", "-f", "/usr/local/etc/haproxy/haproxy.cfg"]',
      '',
    ].join('\n'));
    engine.docker(['build', '-t', tag, dir], { timeout: 300_000 });
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

/**
 * Stand-ins for packages the local index lacks (measured), built as wheels (a zip with the module and
 * its dist-info): the two that Celery's CLI imports, click-didyoumean (`DYMGroup`, here a plain click
 * Group: no "did you mean" suggestions) and click-repl (`register_repl`, here a no-op: no `celery amqp`
 * REPL), which `celery worker` and `celery inspect` never call otherwise; and async-timeout, which
 * redis 8 requires on Python before 3.11.3 (the stand-in base image's Debian Python is 3.11.2), here
 * the standard library's `asyncio.timeout`, which it backports.
 */
const STAND_INS: ReadonlyArray<{ name: string; module: string; version: string; source: string; requires?: string }> = [
  { name: 'async-timeout', module: 'async_timeout', version: '4.0.3', source: '# test stand-in: the local index has no async-timeout; Python 3.11 has what it backports\nfrom asyncio import Timeout, timeout  # noqa: F401\n' },
  { name: 'click-didyoumean', module: 'click_didyoumean', version: '0.3.1', requires: 'click>=7', source: '# test stand-in: the local index has no click-didyoumean\nimport click\n\n\nclass DYMMixin:\n    pass\n\n\nclass DYMGroup(click.Group):\n    pass\n' },
  { name: 'click-repl', module: 'click_repl', version: '0.3.0', requires: 'click>=7', source: '# test stand-in: the local index has no click-repl\n\n\ndef register_repl(group, name="repl"):\n    pass\n\n\ndef repl(*args, **kwargs):\n    raise SystemExit("the REPL is not available in this test stand-in")\n' },
];

/**
 * The local index (`dir`, a PEP 503 `simple` directory) with the stand-ins beside it, as a directory
 * of this run's temp dir: every project of the index linked in, plus a page and a wheel per stand-in.
 * Returns the new `simple` directory, to serve with {@link serveIndex}.
 */
export function indexWithStandIns(dir: string): string {
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'pyfleet-index-'));
  const simple = path.join(root, path.basename(dir));
  fs.mkdirSync(simple);
  for (const entry of fs.readdirSync(dir)) fs.symlinkSync(path.join(dir, entry), path.join(simple, entry));
  // The index's pages link to ../../<files dir>: link every sibling of the index in too.
  for (const sibling of fs.readdirSync(path.dirname(dir))) {
    if (sibling !== path.basename(dir)) fs.symlinkSync(path.join(path.dirname(dir), sibling), path.join(root, sibling));
  }
  const wheels = path.join(root, 'stand-ins');
  fs.mkdirSync(wheels);
  for (const s of STAND_INS) {
    const wheel = `${s.module}-${s.version}-py3-none-any.whl`;
    const script = [
      'import base64, hashlib, sys, zipfile',
      'path, module, name, version, source, requires = sys.argv[1:7]',
      'info = "%s-%s.dist-info" % (module, version)',
      'files = {module + ".py": source, info + "/METADATA": "Metadata-Version: 2.1\\nName: %s\\nVersion: %s\\n%s" % (name, version, ("Requires-Dist: %s\\n" % requires) if requires else ""),',
      '         info + "/WHEEL": "Wheel-Version: 1.0\\nGenerator: pyfleet-test\\nRoot-Is-Purelib: true\\nTag: py3-none-any\\n"}',
      'def digest(b): return "sha256=" + base64.urlsafe_b64encode(hashlib.sha256(b).digest()).rstrip(b"=").decode()',
      'record = "".join("%s,%s,%d\\n" % (f, digest(c.encode()), len(c.encode())) for f, c in files.items()) + info + "/RECORD,,\\n"',
      'with zipfile.ZipFile(path, "w") as z:',
      '    for f, c in files.items(): z.writestr(f, c)',
      '    z.writestr(info + "/RECORD", record)',
    ].join('\n');
    execFileSync('python3', ['-c', script, path.join(wheels, wheel), s.module, s.name, s.version, s.source, s.requires ?? ''], { timeout: 30_000 });
    if (fs.existsSync(path.join(simple, s.name))) fs.unlinkSync(path.join(simple, s.name));
    fs.mkdirSync(path.join(simple, s.name));
    fs.writeFileSync(path.join(simple, s.name, 'index.html'), `<!DOCTYPE html><html><body><a href="../../stand-ins/${wheel}">${wheel}</a></body></html>\n`);
  }
  return simple;
}
