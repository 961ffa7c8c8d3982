import { execFileSync } from 'child_process';
import * as fs from 'fs';
import * as path from 'path';
import { haveEngine } from './engines';

/** Packages the real-run tests need, from pip's local index. */
export const VENV_PACKAGES = ['flask', 'gunicorn', 'fastapi', 'uvicorn', 'httpx', 'prometheus-client', 'psycopg[binary]', 'redis'];

/** Where the shared test virtualenv lives (reused across runs; `npm ci` starts it afresh). */
export const VENV_DIR = process.env.PYFLEET_TEST_VENV ?? path.join(__dirname, '..', '..', 'node_modules', '.cache', 'pyfleet-venv');

/** Whether python3 (with venv) is here; throws in CI when it is not (see engines.ts). */
export function havePython(): boolean {
  return haveEngine('python3', 'apt-get install python3 python3-venv');
}

/**
 * The bin directory of a virtualenv holding Flask, gunicorn, FastAPI, uvicorn and httpx, made once from
 * pip's configured index (no public index is needed) and reused. Safe when several jest workers ask at once.
 */
export function ensureVenv(): string {
  return ensureVenvOf(VENV_DIR, VENV_PACKAGES);
}

/**
 * Packages of the background-job tests: Celery's dependencies with Redis, Alembic with SQLAlchemy and
 * psycopg, and the web app that enqueues. Celery itself is installed after them without dependencies:
 * the local index lacks two of its CLI dependencies, click-didyoumean and click-repl (measured), which
 * only add "did you mean" suggestions and the `celery amqp` REPL.
 */
export const JOBS_VENV_PACKAGES = [...VENV_PACKAGES, 'redis', 'alembic', 'sqlalchemy', 'psycopg[binary]', 'kombu', 'billiard', 'vine', 'click', 'click-plugins', 'python-dateutil', 'tzdata', 'tzlocal'];

/** The Celery release of the local index, installed with --no-deps into the jobs virtualenv. */
export const CELERY_VERSION = '5.6.3';

/**
 * The virtualenv of the background-job tests (its own requirements set, made once and reused like the
 * other). The two missing CLI modules get stand-ins of the two names Celery imports from them
 * (`DYMGroup`, a plain click Group; `register_repl`, a no-op), which `celery worker` and `celery
 * inspect` never call otherwise. Generated images install the real packages from PyPI.
 */
export function ensureJobsVenv(): string {
  return ensureVenvOf(`${VENV_DIR}-jobs`, JOBS_VENV_PACKAGES, (bin) => {
    execFileSync(path.join(bin, 'pip'), ['install', '--quiet', '--disable-pip-version-check', '--retries', '0', '--timeout', '20', '--no-deps', `celery==${CELERY_VERSION}`], { stdio: 'pipe', timeout: 280_000 });
    const site = execFileSync(path.join(bin, 'python'), ['-c', 'import sysconfig; print(sysconfig.get_paths()["purelib"])'], { encoding: 'utf8' }).trim();
    fs.writeFileSync(path.join(site, 'click_didyoumean.py'), '# test stand-in: the local index has no click-didyoumean\nimport click\n\n\nclass DYMGroup(click.Group):\n    pass\n');
    fs.writeFileSync(path.join(site, 'click_repl.py'), '# test stand-in: the local index has no click-repl\n\n\ndef register_repl(group, name="repl"):\n    pass\n');
  });
}

/** A virtualenv at `dir` holding `packages` (one per requirements set), made once from pip's configured index and reused. */
export function ensureVenvOf(dir: string, packages: readonly string[], after?: (bin: string) => void): string {
  const VENV_DIR = dir;
  const VENV_PACKAGES = packages;
  const bin = path.join(VENV_DIR, 'bin');
  const marker = path.join(VENV_DIR, '.pyfleet-ready');
  const want = VENV_PACKAGES.join(' ');
  if (fs.existsSync(marker) && fs.readFileSync(marker, 'utf8') === want) return bin;
  const lock = `${VENV_DIR}.lock`;
  fs.mkdirSync(path.dirname(VENV_DIR), { recursive: true });
  const deadline = Date.now() + 300_000;
  for (;;) {
    try {
      fs.mkdirSync(lock);
      break;
    } catch {
      if (fs.existsSync(marker) && fs.readFileSync(marker, 'utf8') === want) return bin;
      // A lock older than the deadline is a dead run's: take it over.
      const st = fs.statSync(lock, { throwIfNoEntry: false });
      if (st && Date.now() - st.mtimeMs > 300_000) fs.rmSync(lock, { recursive: true, force: true });
      if (Date.now() > deadline) throw new Error(`timed out waiting for ${lock}`);
      execFileSync('sleep', ['1']);
    }
  }
  try {
    if (fs.existsSync(marker) && fs.readFileSync(marker, 'utf8') === want) return bin;
    fs.rmSync(VENV_DIR, { recursive: true, force: true });
    execFileSync('python3', ['-m', 'venv', VENV_DIR], { stdio: 'pipe', timeout: 120_000 });
    // --retries 0: pip's default index is unreachable here; the configured local index answers at once.
    execFileSync(path.join(bin, 'pip'), ['install', '--quiet', '--disable-pip-version-check', '--retries', '0', '--timeout', '20', ...VENV_PACKAGES],
      { stdio: 'pipe', timeout: 280_000 });
    after?.(bin);
    fs.writeFileSync(marker, want);
    return bin;
  } finally {
    fs.rmSync(lock, { recursive: true, force: true });
  }
}
