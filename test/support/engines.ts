import { execFileSync } from 'child_process';

/** Absolute path of a command on PATH, or undefined. */
export function which(command: string): string | undefined {
  try {
    return execFileSync('sh', ['-c', `command -v ${command}`], { encoding: 'utf8' }).trim() || undefined;
  } catch {
    return undefined;
  }
}

/**
 * Whether a real engine (gunicorn, nginx, haproxy, docker-compose...) is available to a test.
 * In CI (`CI=true`, as `.ci/run` runs) a missing engine is a failure, never a silent skip: `.ci/run`
 * installs every engine. On a user's clone without it, the test is skipped with a note.
 */
export function haveEngine(command: string, installHint: string): boolean {
  if (which(command)) return true;
  if (process.env.CI === 'true') {
    throw new Error(`${command} is required in CI but is not installed (${installHint}); .ci/setup.d should install it`);
  }
  // eslint-disable-next-line no-console
  console.warn(`skipping tests that need ${command}: not installed (${installHint})`);
  return false;
}
