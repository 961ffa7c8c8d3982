import { goDurationMs } from './container';
import { DeployOptions, parseSteps } from './release';

/** Help of `pyfleet deploy`. */
export const DEPLOY_USAGE = `Usage: pyfleet deploy COMPOSE_FILE [options]

Releases the services behind a host-network-mode gateway without dropping a request: for each
version whose compose service changed, starts the new release in the version's free slot beside the
running one, waits until Docker reports it healthy, moves traffic to it through the gateway's runtime
API (step by step with --steps), drains the old release (in-flight requests finish, bounded by its
stop_grace_period), then stops and removes it. A new release that never turns healthy is removed, the
old one keeps serving, and the command fails with the reason.

  COMPOSE_FILE            the generated <stack>.compose.yml (ComposeNetworkMode.HOST)
  --service <name>        only this service (repeatable; pyfleet or compose service name)
  -p, --project-name <n>  compose project (default: the file's name, $COMPOSE_PROJECT_NAME, its directory)
  --steps <a,b,...,100>   canary: the new release's share after each step (default 100)
  --pause <duration>      between steps; the new release must stay up and healthy (default 30s)
  --abort                 back to the older release of a release in progress
  --force                 release (and rebuild) even when nothing changed
  --build-arg <K=V>       passed to docker build (repeatable)
  --build-network <mode>  docker build --network (e.g. host, for a package index on loopback)
  -h, --help              this help
`;

/** A mistake in the command line (exit code 2). */
export class DeployUsageError extends Error {}

/** Parses the arguments of `pyfleet deploy` (after the word `deploy`). */
export function parseDeployArgs(args: readonly string[]): Omit<DeployOptions, 'env' | 'log'> {
  let file: string | undefined;
  const services: string[] = [];
  const buildArgs: Record<string, string> = {};
  let project: string | undefined;
  let steps: number[] | undefined;
  let pauseMs: number | undefined;
  let abort = false;
  let force = false;
  let buildNetwork: string | undefined;
  const value = (i: number, flag: string): string => {
    const v = args[i + 1];
    if (v === undefined || v.startsWith('--')) throw new DeployUsageError(`${flag} needs a value`);
    return v;
  };
  for (let i = 0; i < args.length; i++) {
    const a = args[i];
    if (a === '--service') services.push(value(i++, a));
    else if (a === '-p' || a === '--project-name') project = value(i++, a);
    else if (a === '--steps') {
      try { steps = parseSteps(value(i++, a)); } catch (e) { throw new DeployUsageError((e as Error).message); }
    } else if (a === '--pause') {
      const v = value(i++, a);
      try { pauseMs = goDurationMs(v); } catch { throw new DeployUsageError(`--pause "${v}" is not a duration (e.g. 30s, 2m)`); }
    } else if (a === '--abort') abort = true;
    else if (a === '--force') force = true;
    else if (a === '--build-arg') {
      const v = value(i++, a);
      const eq = v.indexOf('=');
      if (eq <= 0) throw new DeployUsageError(`--build-arg "${v}" is not KEY=VALUE`);
      buildArgs[v.slice(0, eq)] = v.slice(eq + 1);
    } else if (a === '--build-network') buildNetwork = value(i++, a);
    else if (a.startsWith('-')) throw new DeployUsageError(`unknown option ${a}`);
    else if (file === undefined) file = a;
    else throw new DeployUsageError(`one compose file only (got "${file}" and "${a}")`);
  }
  if (file === undefined) throw new DeployUsageError('give the compose file to release from (e.g. dist/shop.compose.yml)');
  if (abort && steps !== undefined) throw new DeployUsageError('--abort goes back to the old release; it takes no --steps');
  return { file, project, services, steps, pauseMs, abort, force, buildArgs, buildNetwork };
}
