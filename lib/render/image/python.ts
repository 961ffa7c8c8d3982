import { APP_DIR, EXTRA_REQUIREMENTS_FILE, LISTEN_HOST_ENV, LISTEN_PORT_ENV, METRICS_HOST_ENV, METRICS_PORT_ENV, WRAPPER_FILE } from '../../python/recipe';
import { passwordFilesPython } from './password-files';
import { renderAppWrapper } from './pyfleet-app';
import type { GunicornSettingValue, PythonServiceRecipe } from '../../python/recipe';

/** Where the runtime image keeps the virtualenv and the app. */
const VENV = '/opt/venv';

/** Build argument carrying the package index URL into the builder stage only. */
export const INDEX_ARG = 'PIP_INDEX_URL';
/** The app gunicorn runs: the generated wrapper module around the user's app. */
export const WRAPPER_APP = `${WRAPPER_FILE.replace(/\.py$/, '')}:app`;
/** Where prometheus-client keeps the workers' metric files unless PROMETHEUS_MULTIPROC_DIR says otherwise (/tmp is a tmpfs on every target). */
export const METRICS_DIR = '/tmp/prometheus';
/** Environment variable that moves where the generated gunicorn.conf.py reads cgroup files (tests). */
export const CGROUP_ROOT_ENV = 'PYFLEET_CGROUP_ROOT';
/** Environment variable naming the file the generated config reads this process's cgroup from (tests). */
export const PROC_CGROUP_ENV = 'PYFLEET_PROC_CGROUP';

const FRAMEWORK = { flask: 'Flask', fastapi: 'FastAPI' } as const;
const CONSTRUCT = { flask: 'GunicornFlaskApp', fastapi: 'FastApiApp' } as const;

/** A Python literal: JSON strings, numbers and lists are Python too; booleans and null are spelled differently. */
export function pythonLiteral(v: GunicornSettingValue | undefined): string {
  if (v === null || v === undefined) return 'None';
  if (typeof v === 'boolean') return v ? 'True' : 'False';
  if (typeof v === 'number') return String(v);
  if (typeof v === 'string') return JSON.stringify(v);
  return `[${v.map((x) => pythonLiteral(x)).join(', ')}]`;
}

/** The image reference as OCI `base.name` wants it (fully qualified for Docker Hub images). */
function qualifiedBase(ref: string): string {
  const first = ref.split('/')[0];
  const hasRegistry = ref.includes('/') && (first.includes('.') || first.includes(':') || first === 'localhost');
  if (hasRegistry) return ref;
  return ref.includes('/') ? `docker.io/${ref}` : `docker.io/library/${ref}`;
}

/** What the shared builder and runtime stages of a generated Python image need. */
export interface PythonStagesInput {
  /** Pinned base image of both stages. */
  readonly baseImage: string;
  /** Requirements files to copy (the main one first). */
  readonly requirementsFiles: readonly string[];
  /** Pinned requirements the generated files need beside the user's (written to pyfleet-requirements.txt). */
  readonly extraRequirements: readonly string[];
  /** Non-root UID and GID of the runtime user. */
  readonly uid: number;
  /** OCI title. */
  readonly title: string;
  /** OCI description. */
  readonly description: string;
  /** Mount points of disk volumes, created owned by the runtime user (Docker seeds a new volume with that owner). */
  readonly volumeDirectories?: readonly string[];
}

/**
 * The builder and runtime stages every generated Python image shares (web apps and Celery workers):
 * a virtualenv built with the requirements before the source, a slim runtime with a fixed non-root
 * user, bytecode compiled at build time, and `USER` last.
 */
export function pythonStages(r: PythonStagesInput): string[] {
  const extra = r.extraRequirements.length > 0 ? [EXTRA_REQUIREMENTS_FILE] : [];
  const copyRequirements = [...r.requirementsFiles, ...extra].map((f) => `COPY ${f} ${f}`);
  const install = [r.requirementsFiles[0], ...extra].map((f) => `-r ${f}`).join(' ');
  const labels = [
    ['org.opencontainers.image.title', r.title],
    ['org.opencontainers.image.description', r.description],
    ['org.opencontainers.image.base.name', qualifiedBase(r.baseImage)],
  ];
  return [
    '# Builder: a virtualenv with the requirements. The package index (and any credentials in it) is',
    '# used here only; the runtime stage copies the finished virtualenv and never sees it.',
    `FROM ${r.baseImage} AS builder`,
    `ARG ${INDEX_ARG}=https://pypi.org/simple`,
    'ENV PIP_NO_CACHE_DIR=1 \\',
    '    PIP_DISABLE_PIP_VERSION_CHECK=1 \\',
    '    PIP_NO_INPUT=1',
    `RUN python -m venv ${VENV}`,
    'WORKDIR /src',
    '# Requirements first: a change to the code alone reuses this layer.',
    ...copyRequirements,
    ...(extra.length > 0 ? [`# ${EXTRA_REQUIREMENTS_FILE}: what the generated files need beside your requirements (${r.extraRequirements.join(', ')}).`] : []),
    `RUN ${VENV}/bin/pip install --no-cache-dir --index-url "\${${INDEX_ARG}}" ${install}`,
    '',
    '# Runtime: the slim base, the virtualenv, the app, a fixed non-root user.',
    `FROM ${r.baseImage} AS runtime`,
    `LABEL ${labels.map(([k, v]) => `${k}=${JSON.stringify(v)}`).join(' \\\n      ')}`,
    'ENV PYTHONDONTWRITEBYTECODE=1 \\',
    '    PYTHONUNBUFFERED=1 \\',
    `    VIRTUAL_ENV=${VENV} \\`,
    `    PATH=${VENV}/bin:$PATH \\`,
    '    HOME=/tmp',
    `RUN groupadd --system --gid ${r.uid} app \\`,
    ` && useradd --system --uid ${r.uid} --gid ${r.uid} --home-dir /tmp --no-create-home --shell /usr/sbin/nologin app`,
    `COPY --from=builder ${VENV} ${VENV}`,
    `WORKDIR ${APP_DIR}`,
    'COPY . .',
    '# Bytecode compiled at build time: the root filesystem is read-only at run time.',
    `RUN python -m compileall -q ${APP_DIR}`,
    ...(r.volumeDirectories?.length ? [
      '# Volume mount points, owned by the runtime user: Docker gives a new volume the owner of its mount point.',
      `RUN mkdir -p ${r.volumeDirectories.join(' ')} && chown ${r.uid}:${r.uid} ${r.volumeDirectories.join(' ')}`,
    ] : []),
    `USER ${r.uid}:${r.uid}`,
  ];
}

/** The generated Dockerfile: multi-stage, dependencies before source, non-root, gunicorn as PID 1. */
export function renderDockerfile(r: PythonServiceRecipe): string {
  const lines: string[] = [
    `# Generated by pyfleet for ${r.constructPath} (${FRAMEWORK[r.framework]} under gunicorn). Do not edit:`,
    `# change the ${CONSTRUCT[r.framework]} props instead. Build with: docker build -t <name:tag> .`,
    `# (add --build-arg ${INDEX_ARG}=<url> to install the requirements from a mirror)`,
    '',
    ...pythonStages({ ...r, title: r.serviceName, description: `${r.serviceName}: ${FRAMEWORK[r.framework]} app ${r.module} served by gunicorn (generated by pyfleet)` }),
    `EXPOSE ${[r.port, ...(r.metrics ? [r.metrics.port] : [])].join(' ')}`,
    'STOPSIGNAL SIGTERM',
  ];
  if (r.healthCheck) {
    const h = r.healthCheck;
    lines.push(`HEALTHCHECK --interval=${h.intervalSeconds}s --timeout=${h.timeoutSeconds}s --start-period=${h.startPeriodSeconds}s --retries=${h.retries} \\`);
    lines.push(`  CMD ${JSON.stringify(h.command)}`);
  }
  lines.push('# Exec form: gunicorn is PID 1 and receives SIGTERM itself.');
  lines.push(`CMD ${JSON.stringify(['gunicorn', '--config', `${APP_DIR}/gunicorn.conf.py`])}`);
  return lines.join('\n') + '\n';
}

/** The generated .dockerignore: keeps secrets, caches and VCS data out; never the files the Dockerfile needs. */
export function renderDockerignore(r: PythonServiceRecipe): string {
  return [
    `# Generated by pyfleet for ${r.constructPath}. The Dockerfile copies ${[...r.requirementsFiles, ...(r.extraRequirements.length > 0 ? [EXTRA_REQUIREMENTS_FILE] : [])].join(', ')},`,
    `# gunicorn.conf.py, ${WRAPPER_FILE} and the app source: none of them may be excluded here.`,
    '**/.git',
    '**/.hg',
    '**/.svn',
    '**/__pycache__',
    '**/*.pyc',
    '**/*.pyo',
    '**/.venv',
    '**/venv',
    '**/.env',
    '**/.env.*',
    '**/.pytest_cache',
    '**/.mypy_cache',
    '**/.ruff_cache',
    '**/.tox',
    '**/node_modules',
    '**/.DS_Store',
    'Dockerfile',
    '.dockerignore',
    '',
  ].join('\n');
}

/** The generated gunicorn.conf.py. */
export function renderGunicornConf(r: PythonServiceRecipe): string {
  const s = r.sizing;
  const settings: [string, string, string?][] = [
    ['wsgi_app', pythonLiteral(WRAPPER_APP), `${r.module}, wrapped with the JSON access log${r.metrics ? ' and request metrics' : ''} (${WRAPPER_FILE})`],
    ['bind', `[(os.environ.get("${LISTEN_HOST_ENV}") or "0.0.0.0") + ":" + (os.environ.get("${LISTEN_PORT_ENV}") or "${r.port}")]`, `the service port, on all interfaces unless $${LISTEN_HOST_ENV} names one ($${LISTEN_PORT_ENV}: a release slot's port)`],
    ['worker_class', pythonLiteral(r.workerClass)],
    ['workers', '_WORKERS'],
  ];
  if (r.threads !== undefined) settings.push(['threads', String(r.threads)]);
  settings.push(
    ['timeout', String(r.timeoutSeconds), 'a worker silent this long is killed and replaced'],
    ['graceful_timeout', String(r.gracefulTimeoutSeconds), 'after SIGTERM; shorter than the termination grace period'],
    ['keepalive', String(r.keepAliveSeconds), 'longer than the idle timeout of proxies in front'],
    ['max_requests', String(r.maxRequests)],
    ['max_requests_jitter', String(r.maxRequestsJitter)],
    ['preload_app', pythonLiteral(r.preload)],
    ['proc_name', pythonLiteral(r.serviceName)],
    ['worker_tmp_dir', '"/dev/shm" if os.path.isdir("/dev/shm") else None', 'heartbeat files in memory: the root filesystem is read-only'],
    ['accesslog', 'None', `${WRAPPER_FILE} writes the access log to stdout, one JSON object per line`],
    ['errorlog', '"-"'],
    ['control_socket_disable', 'True', 'gunicorn >= 25 control socket: it would be created under $HOME, which fails on a read-only root'],
  );
  const extra = Object.keys(r.extraSettings).sort();
  const width = Math.max(...settings.map(([k]) => k.length), ...extra.map((k) => k.length));
  const settingLines = settings.map(([k, v, c]) => `${k.padEnd(width)} = ${v}${c ? `  # ${c}` : ''}`);
  const extraLines = extra.map((k) => `${k.padEnd(width)} = ${pythonLiteral(r.extraSettings[k])}`);

  return `# Generated by pyfleet for ${r.constructPath} (${FRAMEWORK[r.framework]} under gunicorn). Do not edit:
# change the ${CONSTRUCT[r.framework]} props instead. gunicorn's own GUNICORN_CMD_ARGS and command-line
# flags still override any setting here.
import math
import os
${r.passwordFiles ? passwordFilesPython() : ''}
# Workers: $WEB_CONCURRENCY when set (pyfleet sets it from the CPU limit it knows), else the count the
# construct fixed, else ceil(${s.perCore} x cores) + ${s.extra}, kept within ${s.min}..${s.max}, where cores is the
# container's CPU limit read from the cgroup quota (v2 cpu.max, v1 cpu.cfs_quota_us / cpu.cfs_period_us),
# or the CPUs this process may run on when there is no quota. Never the host's core count alone.
_PER_CORE = ${s.perCore}
_EXTRA = ${s.extra}
_MIN_WORKERS = ${s.min}
_MAX_WORKERS = ${s.max}
_FIXED_WORKERS = ${r.fixedWorkers ?? 'None'}
_CGROUP_ROOT = os.environ.get("${CGROUP_ROOT_ENV}", "/sys/fs/cgroup")
_PROC_CGROUP = os.environ.get("${PROC_CGROUP_ENV}", "/proc/self/cgroup")


def _read(path):
    try:
        with open(path) as f:
            return f.read().strip()
    except OSError:
        return None


def _own_cgroups():
    """This process's cgroup path per hierarchy: "" for the v2 unified one, "cpu" for the v1 CPU controller."""
    paths = {}
    for line in (_read(_PROC_CGROUP) or "").splitlines():
        parts = line.split(":", 2)
        if len(parts) != 3:
            continue
        if parts[0] == "0" and parts[1] == "":
            paths[""] = parts[2]
        elif "cpu" in parts[1].split(","):
            paths["cpu"] = parts[2]
    return paths


def _up_from(base, rel):
    """base/rel and each parent directory up to base: a limit set on an ancestor applies too."""
    dirs = []
    parts = [p for p in (rel or "").split("/") if p and p != ".."]
    while True:
        dirs.append(os.path.join(base, *parts))
        if not parts:
            return dirs
        parts.pop()


def _quota_millis():
    """The cgroup CPU quota in millicores, or None when no quota applies."""
    own = _own_cgroups()
    found = []
    for d in _up_from(_CGROUP_ROOT, own.get("")):
        fields = (_read(os.path.join(d, "cpu.max")) or "").split()
        if len(fields) == 2 and fields[0] != "max":
            found.append((fields[0], fields[1]))
    for mount in ("cpu,cpuacct", "cpu", "cpuacct,cpu"):
        base = os.path.join(_CGROUP_ROOT, mount)
        if os.path.isdir(base):
            for d in _up_from(base, own.get("cpu")):
                quota = _read(os.path.join(d, "cpu.cfs_quota_us"))
                period = _read(os.path.join(d, "cpu.cfs_period_us"))
                if quota is not None and period is not None:
                    found.append((quota, period))
            break
    best = None
    for quota, period in found:
        try:
            q, p = int(quota), int(period)
        except ValueError:
            continue
        if q > 0 and p > 0:
            millis = max(1, round(q * 1000 / p))
            best = millis if best is None else min(best, millis)
    return best


def _cpu_millis():
    try:
        cpus = len(os.sched_getaffinity(0))
    except AttributeError:
        cpus = os.cpu_count() or 1
    quota = _quota_millis()
    if quota is not None and quota < cpus * 1000:
        return quota, "cgroup CPU quota of %d millicores" % quota
    return cpus * 1000, "%d CPU(s) available, no lower cgroup quota" % cpus


def _workers():
    env = os.environ.get("WEB_CONCURRENCY", "").strip()
    if env:
        try:
            n = int(env)
        except ValueError:
            n = 0
        if n < 1:
            raise RuntimeError("WEB_CONCURRENCY=%r is not a positive whole number of workers" % env)
        return n, "WEB_CONCURRENCY=%d" % n
    if _FIXED_WORKERS is not None:
        return _FIXED_WORKERS, "fixed by the construct"
    millis, why = _cpu_millis()
    n = max(_MIN_WORKERS, min(_MAX_WORKERS, math.ceil(_PER_CORE * millis / 1000) + _EXTRA))
    return n, "sized for the %s" % why


_WORKERS, _WORKERS_REASON = _workers()

${settingLines.join('\n')}
${extraLines.length > 0 ? `\n# Further settings given to the construct (gunicornSettings).\n${extraLines.join('\n')}\n` : ''}
${r.metrics ? metricsHooks(r.metrics.port) : `

def on_starting(server):
    server.log.info("pyfleet: %d %s worker(s), %s", _WORKERS, worker_class, _WORKERS_REASON)
`}`;
}

/**
 * Python lines, at one level of indentation, that empty the multiprocess directory `_METRICS_DIR` (files
 * of a previous run would be summed into this one's totals): gunicorn's master and Celery's main process
 * both run them at start.
 */
export const EMPTY_METRICS_DIR_PY = `    for name in os.listdir(_METRICS_DIR):
        path = os.path.join(_METRICS_DIR, name)
        if os.path.isdir(path) and not os.path.islink(path):
            shutil.rmtree(path)
        else:
            os.unlink(path)`;

/**
 * The metrics part of gunicorn.conf.py: prometheus-client in multiprocess mode. Every process writes
 * its samples to files in PROMETHEUS_MULTIPROC_DIR (on /tmp, a tmpfs), emptied when the master starts;
 * the master marks each dead worker (its live gauges stop counting, its counters keep counting, so
 * totals never go back) and serves the sum over all files on the metrics port.
 */
function metricsHooks(port: number): string {
  return `
# Metrics: prometheus-client in multiprocess mode. Each worker writes its samples to files in
# PROMETHEUS_MULTIPROC_DIR (on /tmp, a tmpfs), which the master empties when it starts; the master
# marks dead workers in child_exit and serves one view summed over every worker on port ${port}.
_METRICS_PORT = int(os.environ.get("${METRICS_PORT_ENV}") or "${port}")
_METRICS_HOST = os.environ.get("${METRICS_HOST_ENV}") or "0.0.0.0"
_METRICS_DIR = os.environ.get("PROMETHEUS_MULTIPROC_DIR") or "${METRICS_DIR}"
os.environ["PROMETHEUS_MULTIPROC_DIR"] = _METRICS_DIR
_MASTER = {}


def on_starting(server):
    server.log.info("pyfleet: %d %s worker(s), %s", _WORKERS, worker_class, _WORKERS_REASON)
    # Files of a previous run would be summed into this one's totals.
    import shutil

    os.makedirs(_METRICS_DIR, exist_ok=True)
${EMPTY_METRICS_DIR_PY}


def when_ready(server):
    from prometheus_client import CollectorRegistry, Counter, Gauge, start_http_server
    from prometheus_client.multiprocess import MultiProcessCollector

    # Written by the master only.
    _MASTER["workers"] = Gauge("gunicorn_workers", "Worker processes gunicorn keeps running.", multiprocess_mode="max")
    _MASTER["restarts"] = Counter("gunicorn_worker_restarts", "Worker processes that exited (and were replaced unless the server was stopping).")
    _MASTER["workers"].set(server.num_workers)
    registry = CollectorRegistry()
    MultiProcessCollector(registry, path=_METRICS_DIR)
    try:
        _MASTER["server"], _ = start_http_server(_METRICS_PORT, addr=_METRICS_HOST, registry=registry)
    except OSError as e:
        # The app still serves; only its metrics are missing.
        server.log.error("pyfleet: cannot serve metrics on %s:%d: %s", _METRICS_HOST, _METRICS_PORT, e)
        return
    server.log.info("pyfleet: metrics on http://%s:%d/metrics", _METRICS_HOST, _METRICS_PORT)


def post_fork(server, worker):
    # A worker inherits the master's metrics socket: close its copy (only the master serves metrics).
    srv = _MASTER.get("server")
    if srv is not None:
        srv.socket.close()


def nworkers_changed(server, new_value, old_value):
    if "workers" in _MASTER:
        _MASTER["workers"].set(new_value)


def child_exit(server, worker):
    from prometheus_client import multiprocess

    multiprocess.mark_process_dead(worker.pid, _METRICS_DIR)
    if "restarts" in _MASTER:
        _MASTER["restarts"].inc()
`;
}

/** The build generator of Python web services: Dockerfile, .dockerignore and gunicorn.conf.py. */
export const pythonGunicornGenerator = (r: PythonServiceRecipe): Record<string, string> => ({
  'Dockerfile': renderDockerfile(r),
  '.dockerignore': renderDockerignore(r),
  'gunicorn.conf.py': renderGunicornConf(r),
  [WRAPPER_FILE]: renderAppWrapper(r),
  ...(r.extraRequirements.length > 0 ? { [EXTRA_REQUIREMENTS_FILE]: `# Generated by pyfleet: what the generated ${WRAPPER_FILE} and gunicorn.conf.py need beside ${r.requirementsFiles[0]}.\n${r.extraRequirements.join('\n')}\n` } : {}),
});
