import { execFileSync } from 'child_process';
import * as fs from 'fs';
import * as path from 'path';
import { indexWithStandIns, localIndexDir } from './docker';
import { haveEngine } from './engines';

/** Packages the real-run tests need, from pip's local index. */
export const VENV_PACKAGES = ['flask', 'gunicorn', 'fastapi', 'uvicorn', 'httpx', 'prometheus-client', 'psycopg[binary]'];

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

/** Packages of the background-job tests: Celery with Redis, Alembic with SQLAlchemy and psycopg, and the web app that enqueues. */
export const JOBS_VENV_PACKAGES = [...VENV_PACKAGES, 'celery==5.6.3', 'redis', 'alembic', 'sqlalchemy', 'psycopg[binary]'];

/**
 * The virtualenv of the background-job tests (its own requirements set, made once and reused like the
 * other), installed from the local index plus stand-ins for the two CLI packages of Celery it lacks
 * (test/support/docker.ts `indexWithStandIns`; the Docker builds of the tests get the same).
 */
export function ensureJobsVenv(): string {
  return ensureVenvOf(`${VENV_DIR}-jobs`, JOBS_VENV_PACKAGES, undefined, () => ['--index-url', `file://${indexWithStandIns(localIndexDir())}`]);
}

/** A virtualenv at `dir` holding `packages` (one per requirements set), made once from pip's configured index and reused. */
export function ensureVenvOf(dir: string, packages: readonly string[], after?: (bin: string) => void, pipArgs?: () => string[]): string {
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
    execFileSync(path.join(bin, 'pip'), ['install', '--quiet', '--disable-pip-version-check', '--retries', '0', '--timeout', '20', ...(pipArgs?.() ?? []), ...VENV_PACKAGES],
      { stdio: 'pipe', timeout: 280_000 });
    after?.(bin);
    fs.writeFileSync(marker, want);
    return bin;
  } finally {
    fs.rmSync(lock, { recursive: true, force: true });
  }
}
