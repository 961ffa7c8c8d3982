// The generated gunicorn.conf.py is Python: these tests execute it (python3 only, no gunicorn needed)
// against fake cgroup trees, and check that its sizing agrees with the model's.
import { spawnSync } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { App, AsgiWorkerClass, FastApiApp, GunicornFlaskApp, Stack, workerProfile, workersFor, WsgiWorkerClass } from '../../lib';
import { renderGunicornConf } from '../../lib/render/image/python';
import { which } from '../support/engines';
import { havePython } from '../support/python';

const ROOT = path.join(__dirname, '..', '..');
const USER = path.join(ROOT, 'examples', 'shop', 'services', 'user');
const FLASK = path.join(ROOT, 'examples', 'flask-gunicorn', 'app');
const run = havePython() ? describe : describe.skip;

function conf(workerClass: WsgiWorkerClass | AsgiWorkerClass, workers?: number): string {
  const s = new Stack(new App({ outdir: os.tmpdir() }), 'c');
  const svc = workerClass === AsgiWorkerClass.UVICORN
    ? new FastApiApp(s, 'svc', { source: USER, workers })
    : new GunicornFlaskApp(s, 'svc', { source: FLASK, workerClass, workers });
  const file = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'pyfleet-conf-')), 'gunicorn.conf.py');
  fs.writeFileSync(file, renderGunicornConf(svc.recipe()));
  return file;
}

/** A fake cgroup tree: files relative to the root, and what /proc/self/cgroup says. */
function cgroup(files: Record<string, string>, procSelf: string): { root: string; proc: string } {
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'pyfleet-cgroup-'));
  for (const [f, content] of Object.entries(files)) {
    fs.mkdirSync(path.dirname(path.join(root, f)), { recursive: true });
    fs.writeFileSync(path.join(root, f), content);
  }
  const proc = path.join(root, 'proc-self-cgroup');
  fs.writeFileSync(proc, procSelf);
  return { root, proc };
}

const PRINT = 'import json, sys\ng = {"__file__": sys.argv[1]}\nexec(compile(open(sys.argv[1]).read(), sys.argv[1], "exec"), g)\n' +
  'print(json.dumps({k: g[k] for k in ("workers", "_WORKERS_REASON", "worker_class", "threads", "bind", "worker_tmp_dir", "control_socket_disable", "accesslog", "keepalive", "graceful_timeout", "timeout", "wsgi_app") if k in g}))';

function load(file: string, env: Record<string, string>, cpus?: string): { workers: number; _WORKERS_REASON: string; [k: string]: unknown } {
  const base = { PATH: process.env.PATH ?? '', HOME: os.tmpdir() };
  const cmd = cpus ? ['taskset', '-c', cpus, 'python3', '-c', PRINT, file] : ['python3', '-c', PRINT, file];
  const r = spawnSync(cmd[0], cmd.slice(1), { env: { ...base, ...env }, encoding: 'utf8', timeout: 20_000 });
  if (r.status !== 0) throw new Error(`python3 failed: ${r.stderr}`);
  return JSON.parse(r.stdout);
}

run('generated gunicorn.conf.py, executed by python3', () => {
  const sync = conf(WsgiWorkerClass.SYNC);
  const uvicorn = conf(AsgiWorkerClass.UVICORN);
  const gthread = conf(WsgiWorkerClass.GTHREAD);
  const cpus = which('taskset') ? '0' : undefined; // pin to one CPU so a quota under 1 core is the limit

  test('cgroup v2: cpu.max quota sizes the workers', () => {
    const cg = cgroup({ 'cpu.max': '150000 100000\n' }, '0::/\n');
    const c = load(sync, { PYFLEET_CGROUP_ROOT: cg.root, PYFLEET_PROC_CGROUP: cg.proc });
    expect(c.workers).toBe(4); // ceil(2 x 1.5) + 1
    expect(c._WORKERS_REASON).toBe('sized for the cgroup CPU quota of 1500 millicores');
    expect(load(uvicorn, { PYFLEET_CGROUP_ROOT: cg.root, PYFLEET_PROC_CGROUP: cg.proc }).workers).toBe(2);
  });

  test('cgroup v2: a limit on an ancestor cgroup applies; "max" means none', () => {
    const cg = cgroup({
      'cpu.max': 'max 100000\n',
      'kubepods/cpu.max': 'max 100000\n',
      'kubepods/pod1/cpu.max': '50000 100000\n',
      'kubepods/pod1/app/cpu.max': 'max 100000\n',
    }, '0::/kubepods/pod1/app\n');
    const c = load(sync, { PYFLEET_CGROUP_ROOT: cg.root, PYFLEET_PROC_CGROUP: cg.proc });
    expect(c._WORKERS_REASON).toBe('sized for the cgroup CPU quota of 500 millicores');
    expect(c.workers).toBe(2);
  });

  test('cgroup v1: cpu.cfs_quota_us / cpu.cfs_period_us; -1 means none', () => {
    const cg = cgroup({
      'cpu,cpuacct/docker/abc/cpu.cfs_quota_us': '50000\n',
      'cpu,cpuacct/docker/abc/cpu.cfs_period_us': '100000\n',
      'cpu,cpuacct/cpu.cfs_quota_us': '-1\n',
      'cpu,cpuacct/cpu.cfs_period_us': '100000\n',
    }, '12:memory:/docker/abc\n4:cpu,cpuacct:/docker/abc\n0::/\n');
    const c = load(gthread, { PYFLEET_CGROUP_ROOT: cg.root, PYFLEET_PROC_CGROUP: cg.proc });
    expect(c._WORKERS_REASON).toBe('sized for the cgroup CPU quota of 500 millicores');
    expect(c.workers).toBe(workersFor(workerProfile(WsgiWorkerClass.GTHREAD).sizing, 500));
    const none = cgroup({ 'cpu/cpu.cfs_quota_us': '-1\n', 'cpu/cpu.cfs_period_us': '100000\n' }, '3:cpu:/\n');
    const n = load(sync, { PYFLEET_CGROUP_ROOT: none.root, PYFLEET_PROC_CGROUP: none.proc }, cpus);
    expect(n._WORKERS_REASON).toMatch(/CPU\(s\) available, no lower cgroup quota$/);
  });

  test('without any quota, the CPUs the process may run on count (not the host\'s cores)', () => {
    if (!cpus) return;
    const cg = cgroup({}, '0::/\n');
    const c = load(sync, { PYFLEET_CGROUP_ROOT: cg.root, PYFLEET_PROC_CGROUP: cg.proc }, cpus);
    expect(c._WORKERS_REASON).toBe('sized for the 1 CPU(s) available, no lower cgroup quota');
    expect(c.workers).toBe(3);
  });

  test('WEB_CONCURRENCY wins over the quota and over a fixed count; a bad value stops the start', () => {
    const cg = cgroup({ 'cpu.max': '100000 100000\n' }, '0::/\n');
    const env = { PYFLEET_CGROUP_ROOT: cg.root, PYFLEET_PROC_CGROUP: cg.proc };
    expect(load(sync, { ...env, WEB_CONCURRENCY: '7' })).toMatchObject({ workers: 7, _WORKERS_REASON: 'WEB_CONCURRENCY=7' });
    const fixed = conf(WsgiWorkerClass.SYNC, 6);
    expect(load(fixed, env)).toMatchObject({ workers: 6, _WORKERS_REASON: 'fixed by the construct' });
    expect(load(fixed, { ...env, WEB_CONCURRENCY: '2' }).workers).toBe(2);
    expect(() => load(sync, { ...env, WEB_CONCURRENCY: 'lots' })).toThrow(/WEB_CONCURRENCY='lots' is not a positive whole number/);
  });

  test('the Python sizing and the model\'s agree for every worker class over a range of CPU limits', () => {
    const millis = [1, 100, 250, 333, 500, 999, 1000, 1001, 1500, 2000, 2500, 3300, 4000, 8000, 16000, 64000];
    const script = 'import json, sys\nout = {}\nfor f in sys.argv[1:]:\n  g = {"__file__": f}\n  exec(compile(open(f).read(), f, "exec"), g)\n  r = []\n' +
      `  for m in ${JSON.stringify(millis)}:\n    g["_cpu_millis"] = (lambda m=m: (m, "test"))\n    r.append(g["_workers"]()[0])\n  out[f] = r\nprint(json.dumps(out))`;
    const files = { [WsgiWorkerClass.SYNC]: sync, [WsgiWorkerClass.GTHREAD]: gthread, [AsgiWorkerClass.UVICORN]: uvicorn, [WsgiWorkerClass.GEVENT]: undefined };
    const wanted = Object.entries(files).filter(([, f]) => f) as [WsgiWorkerClass, string][];
    const r = spawnSync('python3', ['-c', script, ...wanted.map(([, f]) => f)], { env: { PATH: process.env.PATH ?? '' }, encoding: 'utf8', timeout: 20_000 });
    expect(r.stderr).toBe('');
    const got = JSON.parse(r.stdout);
    for (const [cls, f] of wanted) {
      expect(got[f]).toEqual(millis.map((m) => workersFor(workerProfile(cls).sizing, m)));
    }
  });

  test('production settings: bind, /dev/shm heartbeat, access log by the wrapper, no control socket, timeouts', () => {
    const c = load(gthread, {});
    expect(c).toMatchObject({
      bind: ['0.0.0.0:8080'],
      worker_class: 'gthread',
      threads: 32,
      // gunicorn's own access log is off: pyfleet_app.py writes one JSON object per request to stdout.
      accesslog: null,
      control_socket_disable: true,
      keepalive: 75,
      graceful_timeout: 30,
      timeout: 30,
      wsgi_app: 'pyfleet_app:app',
    });
    expect(c.worker_tmp_dir).toBe(fs.existsSync('/dev/shm') ? '/dev/shm' : null);
  });

  test('PYFLEET_LISTEN_HOST narrows the bind address (compose host mode sets it for internal services)', () => {
    expect(load(gthread, { PYFLEET_LISTEN_HOST: '127.0.0.1' }).bind).toEqual(['127.0.0.1:8080']);
    expect(load(gthread, { PYFLEET_LISTEN_HOST: '' }).bind).toEqual(['0.0.0.0:8080']);
  });
});
