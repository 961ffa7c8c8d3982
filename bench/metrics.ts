// Benchmark: the cost of pyfleet's Prometheus metrics. wrk against the same Flask app
// (examples/flask-gunicorn: each request waits 10 ms on a simulated backend, then renders JSON) under
// the gunicorn.conf.py pyfleet generates for a 2-CPU limit, the server pinned by taskset to 2 CPUs as
// in bench:gunicorn, with metrics (the default: multiprocess prometheus-client, per-request counter,
// histogram and in-flight gauge, the metrics endpoint scraped once a second during the run, far more
// often than Prometheus's 15 s) and without (`metrics: false`). The two alternate in one run, round
// after round (the order flips every round), and the medians are compared: overhead = 1 - with/without.
// Target: under 5%. Requests per second swing with whatever else the machine runs (running both servers
// at once on the same 2 CPUs was tried: in all 10 rounds the one started first served 1.1-2.2x the
// other's requests, whichever variant it was, so that is not offered).
// Beside requests per second: the server's CPU time per request (user + system time of the gunicorn
// master and workers, from /proc, over the measured wrk run, divided by the requests served).
// Two scenarios in the same run: the 10 ms backend wait of bench:gunicorn, and no wait at all
// (BACKEND_LATENCY_MS=0: every request is pure CPU, the worst case for the per-request cost of metrics).
// Last, the steadiest figure: the CPU time per request of the generated wrapper called in-process
// (bench/metrics_inprocess.py: no server, no socket; this process's CPU time only), with and without
// metrics, interleaved, which must also count every request exactly.
// Run: npx projen bench:metrics   (needs wrk and taskset: bash .ci/setup.d/70-bench.sh; python3). Not
// part of npm test. Figures go to stdout and bench/out/metrics.json.
import { execFile, execFileSync } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { promisify } from 'util';
import * as yaml from 'js-yaml';
import { App, Cpu, GunicornFlaskApp, Size, Stack } from '../lib';
import { freePort, get, start, Started, waitForHttp } from '../test/support/process';
import { ensureVenv } from '../test/support/python';

const SCRATCH = fs.mkdtempSync(path.join(os.tmpdir(), 'pyfleet-bench-metrics-'));
// The multiprocess directory lives in memory, as in the generated containers (their /tmp is a tmpfs),
// not on this machine's /tmp (ext4), where the kernel would write the mmap'd metric files back.
const MEMORY = fs.existsSync('/dev/shm') ? fs.mkdtempSync('/dev/shm/pyfleet-bench-metrics-') : SCRATCH;
process.on('exit', () => {
  fs.rmSync(SCRATCH, { recursive: true, force: true });
  fs.rmSync(MEMORY, { recursive: true, force: true });
});

const SOURCE = path.join(__dirname, '..', 'examples', 'flask-gunicorn', 'app');
const DURATION = process.env.BENCH_SECONDS ?? '8';
const CONNECTIONS = process.env.BENCH_CONNECTIONS ?? '64';
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? '5');
const CPUS = 2;
const PATH_UNDER_TEST = '/items/42';
const INSTRUCTION_SECONDS = Number(process.env.BENCH_INSTRUCTION_SECONDS ?? '20');

const run = promisify(execFile);

interface Variant { label: string; dir: string; env: Record<string, string>; port: number; metricsPort?: number }
interface Result { label: string; backendMs: number; round: number; rps: number; p99ms: number; errors: number; scrapes: number; cpuMsPerRequest: number }
interface InProcess { label: string; round: number; minUs: number; medianUs: number; requests: number; counted: number | null }

const TICKS_PER_SECOND = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim());

/** User + system CPU time of a process and its live children (gunicorn's master and workers), in milliseconds. */
function cpuMs(pid: number): number {
  const ticks = (p: number): number => {
    try {
      const stat = fs.readFileSync(`/proc/${p}/stat`, 'utf8');
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      return Number(fields[11]) + Number(fields[12]); // utime, stime
    } catch {
      return 0;
    }
  };
  let children: number[] = [];
  try {
    children = fs.readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8').trim().split(/\s+/).filter(Boolean).map(Number);
  } catch { /* none */ }
  return ((ticks(pid) + children.reduce((n, c) => n + ticks(c), 0)) * 1000) / TICKS_PER_SECOND;
}

function commandExists(cmd: string): boolean {
  try {
    execFileSync('sh', ['-c', `command -v ${cmd}`], { stdio: 'pipe' });
    return true;
  } catch {
    return false;
  }
}

function need(cmd: string): void {
  try {
    execFileSync('sh', ['-c', `command -v ${cmd}`], { stdio: 'pipe' });
  } catch {
    throw new Error(`${cmd} is needed (bash .ci/setup.d/70-bench.sh)`);
  }
}

function toMs(v: string): number {
  const m = /^([\d.]+)(us|ms|s|m)$/.exec(v.trim());
  if (!m) throw new Error(`cannot read wrk latency "${v}"`);
  const n = Number(m[1]);
  return m[2] === 'us' ? n / 1000 : m[2] === 'ms' ? n : m[2] === 's' ? n * 1000 : n * 60_000;
}

/** The generated build context and compose environment of the app, with or without metrics. */
function generated(label: string, port: number, metricsPort: number | undefined): Variant {
  const outdir = fs.mkdtempSync(path.join(SCRATCH, 'out-'));
  const app = new App({ outdir });
  const stack = new Stack(app, 'bench');
  new GunicornFlaskApp(stack, 'catalog', {
    source: SOURCE, port, cpu: Cpu.cores(CPUS), memory: Size.gibibytes(1),
    metrics: metricsPort !== undefined ? { port: metricsPort } : false,
  });
  app.synth();
  const compose = yaml.load(fs.readFileSync(path.join(outdir, 'bench.compose.yml'), 'utf8')) as any;
  const svc = compose.services.catalog;
  return { label, dir: path.join(outdir, svc.build.context), env: svc.environment ?? {}, port, metricsPort };
}

const median = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};

interface Running { v: Variant; server: Started; scrapes(): number; stop(): Promise<void> }

/** Starts the variant's gunicorn (pinned to the 2 CPUs) and, with metrics, a scraper reading its endpoint once a second. */
async function startServer(bin: string, v: Variant, backendMs: number): Promise<Running> {
  const home = fs.mkdtempSync(path.join(SCRATCH, 'home-'));
  const multiproc = fs.mkdtempSync(path.join(MEMORY, 'mp-'));
  const server = start('taskset', ['-c', '0-1', path.join(bin, 'gunicorn'), '--config', 'gunicorn.conf.py'], {
    cwd: v.dir,
    env: {
      ...v.env, PATH: `${bin}:${process.env.PATH}`, HOME: home, PYTHONDONTWRITEBYTECODE: '1',
      BACKEND_LATENCY_MS: String(backendMs), GUNICORN_CMD_ARGS: `--bind=127.0.0.1:${v.port}`, PYFLEET_METRICS_HOST: '127.0.0.1', PROMETHEUS_MULTIPROC_DIR: multiproc,
    },
  });
  let scrapes = 0;
  let scraping = true;
  const scraper = (async () => {
    while (scraping && v.metricsPort !== undefined) {
      const r = await get(`http://127.0.0.1:${v.metricsPort}/metrics`).catch(() => undefined);
      if (r?.status === 200) scrapes++;
      await new Promise((res) => setTimeout(res, 1000));
    }
  })();
  const stop = async (): Promise<void> => {
    scraping = false;
    await scraper;
    await server.stop('SIGTERM', 15_000);
  };
  try {
    await waitForHttp(`http://127.0.0.1:${v.port}/healthz`, 60_000, server);
  } catch (e) {
    await stop();
    throw e;
  }
  return { v, server, scrapes: () => scrapes, stop };
}

/** wrk on the second CPU (shared with the servers), as in bench:gunicorn: a 2 s warm-up, then the measured run. */
async function wrk(port: number, warmUp: boolean): Promise<string> {
  const url = `http://127.0.0.1:${port}${PATH_UNDER_TEST}`;
  if (warmUp) return (await run('taskset', ['-c', '1', 'wrk', '-t1', `-c${CONNECTIONS}`, '-d2s', url], { timeout: 30_000 })).stdout;
  return (await run('taskset', ['-c', '1', 'wrk', '-t1', `-c${CONNECTIONS}`, `-d${DURATION}s`, '--timeout', '5s', '--latency', url], { timeout: 120_000 })).stdout;
}

function result(r: Running, out: string, cpu: number, round: number, backendMs: number): Result {
  const requests = Number(/(\d+) requests in/.exec(out)?.[1]);
  const rps = Number(/Requests\/sec:\s+([\d.]+)/.exec(out)?.[1]);
  const p99 = toMs(/^\s+99%\s+(\S+)/m.exec(out)?.[1] ?? 'NaN');
  const non2xx = Number(/Non-2xx or 3xx responses:\s+(\d+)/.exec(out)?.[1] ?? 0);
  const sockErr = /Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)/.exec(out);
  const errors = non2xx + (sockErr ? sockErr.slice(1).reduce((n, x) => n + Number(x), 0) : 0);
  return { label: r.v.label, backendMs, round, rps, p99ms: p99, errors, scrapes: r.scrapes(), cpuMsPerRequest: cpu / requests };
}

/** One measurement: the variant's server alone on its 2 CPUs, a warm-up, then the measured wrk run. */
async function measure(bin: string, v: Variant, round: number, backendMs: number): Promise<Result> {
  const s = await startServer(bin, v, backendMs);
  try {
    await wrk(v.port, true);
    const before = cpuMs(s.server.pid);
    const out = await wrk(v.port, false);
    return result(s, out, cpuMs(s.server.pid) - before, round, backendMs);
  } finally {
    await s.stop();
  }
}

function print(r: Result, v: Variant): void {
  console.log(`  round ${r.round}  ${v.label.padEnd(24)} ${r.rps.toFixed(0).padStart(7)} req/s  p99 ${r.p99ms.toFixed(1).padStart(6)} ms  cpu ${r.cpuMsPerRequest.toFixed(3)} ms/req  errors ${r.errors}${v.metricsPort !== undefined ? `  scrapes ${r.scrapes}` : ''}`);
}

/** The generated wrapper called in-process (bench/metrics_inprocess.py), with and without metrics, in interleaved rounds. */
async function inProcess(bin: string, vs: Variant[]): Promise<InProcess[]> {
  const out: InProcess[] = [];
  const script = path.join(__dirname, 'metrics_inprocess.py');
  for (let round = 1; round <= ROUNDS; round++) {
    for (const v of round % 2 ? vs : [...vs].reverse()) {
      const { stdout } = await run(path.join(bin, 'python'), [script, v.dir, '5000', '5'], { timeout: 300_000, env: { ...process.env, PYTHONDONTWRITEBYTECODE: '1' } });
      const r = JSON.parse(stdout.trim().split('\n').pop()!);
      out.push({ label: v.label, round, minUs: r.min_us, medianUs: r.median_us, requests: r.requests, counted: r.counted });
      console.log(`  round ${round}  ${v.label.padEnd(24)} ${r.min_us.toFixed(1).padStart(6)} µs/req fastest of 5 x 5000  (median ${r.median_us.toFixed(1)})${r.counted !== null ? `  counted ${r.counted} of ${r.requests}` : ''}`);
    }
  }
  return out;
}

/**
 * User-space instructions the server executes per request (valgrind's callgrind: a count, not a time,
 * so it does not move with what else the machine runs). The variant's gunicorn runs under callgrind
 * with one worker (the work per request does not depend on how many serve), warms up, has its
 * counters zeroed (`callgrind_control --zero`), serves a fixed-time wrk load, and is dumped
 * (`callgrind_control --dump`); the instructions of the master and the worker since the zero, over the
 * requests wrk counted. No scrapes in that window: Prometheus's one scrape in 15 s is nothing per request.
 */
async function instructionsPerRequest(bin: string, v: Variant): Promise<{ instructions: number; requests: number }> {
  const dir = fs.mkdtempSync(path.join(SCRATCH, 'cg-'));
  const home = fs.mkdtempSync(path.join(SCRATCH, 'home-'));
  const multiproc = fs.mkdtempSync(path.join(MEMORY, 'mp-'));
  const server = start('valgrind', ['--tool=callgrind', '--trace-children=yes', `--callgrind-out-file=${dir}/cg.%p`, path.join(bin, 'gunicorn'), '--config', 'gunicorn.conf.py'], {
    cwd: v.dir,
    env: {
      ...v.env, PATH: `${bin}:${process.env.PATH}`, HOME: home, PYTHONDONTWRITEBYTECODE: '1', BACKEND_LATENCY_MS: '0',
      GUNICORN_CMD_ARGS: `--bind=127.0.0.1:${v.port} --workers=1 --timeout=600 --graceful-timeout=120`, PYFLEET_METRICS_HOST: '127.0.0.1', PROMETHEUS_MULTIPROC_DIR: multiproc,
    },
  });
  try {
    await waitForHttp(`http://127.0.0.1:${v.port}/healthz`, 600_000, server);
    const url = `http://127.0.0.1:${v.port}${PATH_UNDER_TEST}`;
    await run('wrk', ['-t1', '-c4', '-d5s', '--timeout', '30s', url], { timeout: 120_000 });
    // Only this server's processes (the master runs under valgrind with its own pid, the worker is its child).
    const pids = [server.pid, ...fs.readFileSync(`/proc/${server.pid}/task/${server.pid}/children`, 'utf8').trim().split(/\s+/).filter(Boolean).map(Number)].map(String);
    if (pids.length < 2) throw new Error(`the callgrind run of "${v.label}" has no worker process`);
    for (const pid of pids) await run('callgrind_control', ['--zero', pid], { timeout: 120_000 });
    const out = (await run('wrk', ['-t1', '-c4', `-d${INSTRUCTION_SECONDS}s`, '--timeout', '30s', url], { timeout: 300_000 })).stdout;
    for (const pid of pids) await run('callgrind_control', ['--dump', pid], { timeout: 120_000 });
    const requests = Number(/(\d+) requests in/.exec(out)?.[1]);
    const non2xx = Number(/Non-2xx or 3xx responses:\s+(\d+)/.exec(out)?.[1] ?? 0);
    if (!(requests > 0) || non2xx > 0) throw new Error(`the callgrind run of "${v.label}" served ${requests} requests, ${non2xx} not 2xx:\n${out}`);
    // The dumps taken now (file names end in .<part>); the final dumps at exit come later.
    let instructions = 0;
    const parts = fs.readdirSync(dir).filter((f) => /^cg\.\d+\.\d+$/.test(f));
    if (parts.length === 0) throw new Error(`callgrind wrote no dump for "${v.label}": ${fs.readdirSync(dir).join(', ')}`);
    for (const f of parts) {
      const m = /^(?:summary|totals): (\d+)/m.exec(fs.readFileSync(path.join(dir, f), 'utf8'));
      if (m) instructions += Number(m[1]);
    }
    return { instructions, requests };
  } finally {
    await server.stop('SIGTERM', 180_000);
  }
}

async function main(): Promise<void> {
  need('wrk');
  need('taskset');
  const bin = ensureVenv();
  const withMetrics = generated('with metrics (default)', await freePort(), await freePort());
  const without = generated('metrics: false', await freePort(), undefined);
  const scenarios = (process.env.BENCH_BACKEND_MS ?? '10,0').split(',').map(Number);
  const results: Result[] = [];
  const summary: Array<{ backendMs: number; withMetrics: number; without: number; overhead: number; cpuWith: number; cpuWithout: number; cpuOverhead: number }> = [];
  for (const backendMs of scenarios) {
    console.log(`\ngenerated Flask app, gunicorn.conf.py for ${CPUS} CPUs, server pinned to ${CPUS} CPUs; wrk -c${CONNECTIONS} -d${DURATION}s GET ${PATH_UNDER_TEST} (${backendMs} ms backend wait); ${ROUNDS} interleaved rounds`);
    for (let round = 1; round <= ROUNDS; round++) {
      const order = round % 2 ? [withMetrics, without] : [without, withMetrics];
      for (const v of order) {
        const r = await measure(bin, v, round, backendMs);
        results.push(r);
        print(r, v);
      }
    }
    const of = (v: Variant): Result[] => results.filter((r) => r.label === v.label && r.backendMs === backendMs);
    const a = median(of(withMetrics).map((r) => r.rps));
    const b = median(of(without).map((r) => r.rps));
    const cpuWith = median(of(withMetrics).map((r) => r.cpuMsPerRequest));
    const cpuWithout = median(of(without).map((r) => r.cpuMsPerRequest));
    summary.push({ backendMs, withMetrics: a, without: b, overhead: 1 - a / b, cpuWith, cpuWithout, cpuOverhead: cpuWith / cpuWithout - 1 });
  }

  console.log(`\nin-process: the generated wrapper around the same app called as a WSGI app (GET ${PATH_UNDER_TEST}, no backend wait, no server), CPU time of the process; ${ROUNDS} interleaved rounds`);
  const inproc = await inProcess(bin, [withMetrics, without]);
  // Per variant: the median over the rounds of each round's fastest repeat (one lucky or unlucky round does not decide).
  const fastest = (v: Variant): number => median(inproc.filter((r) => r.label === v.label).map((r) => r.minUs));
  const addedUs = fastest(withMetrics) - fastest(without);

  const pct = (x: number): string => `${x >= 0 ? '+' : ''}${(x * 100).toFixed(1)}%`;
  console.log('\nmedians, side by side:');
  console.log('  backend wait | with metrics | metrics: false | req/s with/without | req/s overhead | CPU ms/req with | without | CPU overhead');
  for (const s of summary) {
    const ok = (x: number): string => (x < 0.05 ? 'OK' : 'OVER');
    console.log(`  ${`${s.backendMs} ms`.padStart(12)} | ${s.withMetrics.toFixed(0).padStart(6)} req/s | ${s.without.toFixed(0).padStart(8)} req/s | ${(s.withMetrics / s.without).toFixed(3).padStart(18)} | ${`${pct(s.overhead)} ${ok(s.overhead)}`.padStart(14)} | ${s.cpuWith.toFixed(3).padStart(15)} | ${s.cpuWithout.toFixed(3).padStart(7)} | ${pct(s.cpuOverhead)} ${ok(s.cpuOverhead)} (target < 5%)`);
  }
  const serverCpuUs = summary.find((s) => s.backendMs === 0)?.cpuWithout;
  console.log(`  in-process: ${fastest(withMetrics).toFixed(1)} µs/req with metrics, ${fastest(without).toFixed(1)} without (median of the rounds' fastest repeats): metrics add ${addedUs.toFixed(1)} µs of CPU per request${serverCpuUs ? `, ${pct(addedUs / (serverCpuUs * 1000))} of the ${(serverCpuUs * 1000).toFixed(0)} µs a request costs the server without metrics (0 ms backend, median)` : ''}`);
  let counted: Array<{ label: string; instructions: number; requests: number }> | undefined;
  if (process.env.BENCH_INSTRUCTIONS !== '0' && commandExists('valgrind') && commandExists('callgrind_control')) {
    console.log(`\ninstructions per request: the server under valgrind's callgrind (one worker, no backend wait), wrk -c4 for ${INSTRUCTION_SECONDS} s after a warm-up; user-space instructions of master and worker`);
    counted = [];
    for (const v of [withMetrics, without]) {
      const r = await instructionsPerRequest(bin, v);
      counted.push({ label: v.label, ...r });
      console.log(`  ${v.label.padEnd(24)} ${(r.instructions / r.requests / 1000).toFixed(1).padStart(8)} k instructions/req over ${r.requests} requests`);
    }
    const per = (i: number): number => counted![i].instructions / counted![i].requests;
    console.log(`  metrics add ${((per(0) - per(1)) / 1000).toFixed(1)} k instructions per request: ${pct(per(0) / per(1) - 1)} ${per(0) / per(1) - 1 < 0.05 ? 'OK' : 'OVER'} (target < 5%)`);
  }
  const outDir = path.join(__dirname, 'out');
  fs.mkdirSync(outDir, { recursive: true });
  fs.writeFileSync(path.join(outDir, 'metrics.json'), JSON.stringify({ results, summary, inProcess: inproc, inProcessAddedUs: addedUs, instructions: counted }, null, 2) + '\n');
  if (results.some((r) => r.errors > 0)) process.exitCode = 1;
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
