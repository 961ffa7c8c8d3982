import { PyfleetError } from '../core/errors';
import type { Stack } from '../core/stack';
import { dataStoreProblems } from '../data/validation';
import { resolveVersion, stackMesh } from '../mesh/model';
import { validateBackground } from './jobs';
import { ROLLOUT } from './resolve';
import { volumeProblems } from './volumes';
import { monitoringProblems } from '../monitoring/validation';
import type { MicroService, ServiceVersion } from '../service/microservice';

/**
 * Cross-object rules checked once for the whole app before any renderer runs. Returns every problem
 * found, each naming the construct path and the fix.
 */
export function validateModel(stacks: readonly Stack[]): PyfleetError[] {
  const errors: PyfleetError[] = [];
  const allServices = new Set<MicroService>(stacks.flatMap((s) => s.services));

  for (const stack of stacks) {
    for (const svc of stack.services) {
      for (const callee of svc.calls) {
        const clash = svc.versions.find((v) => callee.urlVariable in v.env);
        if (clash) {
          errors.push(new PyfleetError(clash.node.path, `sets ${callee.urlVariable} itself, but \`calls: [${callee.serviceName}]\` injects that variable with the right address for each target`,
            `remove ${callee.urlVariable} from env (or drop "${callee.serviceName}" from calls and manage the URL yourself)`));
        }
        if (callee === svc) {
          errors.push(new PyfleetError(svc.node.path, 'the service lists itself in `calls`', 'remove it from its own calls'));
        } else if (!allServices.has(callee)) {
          errors.push(new PyfleetError(svc.node.path, `calls "${callee.node.path}", a service of another App`, 'define both services in the same App (and Stack)'));
        } else if (callee.stack !== stack) {
          errors.push(new PyfleetError(svc.node.path, `calls "${callee.node.path}" in stack "${callee.stack.stackName}"; each stack is its own compose project and namespace, so the call could not be wired on every target`, `move "${callee.serviceName}" into stack "${stack.stackName}", or call it through an env var you set yourself`));
        }
      }
    }
    errors.push(...findCycles(stack));
    errors.push(...nameClashes(stack));
    errors.push(...scalingProblems(stack));
    errors.push(...volumeProblems(stack));
    errors.push(...monitoringProblems(stack));
  }

  errors.push(...sharedNamespaceClashes(stacks));
  errors.push(...dataStoreProblems(stacks));
  errors.push(...validateBackground(stacks));
  return errors;
}

/** Where a MeshRoute sends live traffic (a `to`, or a split share above 0) to `version`: `<route path> rule <i>`. */
function routesTo(stack: Stack, version: ServiceVersion): string[] {
  const out: string[] = [];
  for (const route of stackMesh(stack).routes) {
    if (route.service !== version.service) continue;
    route.rules.forEach((rule, i) => {
      const live = rule.to !== undefined ? [rule.to] : (rule.split ?? []).filter((d) => d.weight > 0).map((d) => d.to);
      if (live.some((ref) => resolveVersion(route.service, ref) === version)) out.push(`${route.node.path} rule ${i}`);
    });
  }
  return out;
}

/**
 * Autoscaling and disruption budgets: an autoscaler minimum of 0 (an autoscaler on resource metrics
 * never scales up from zero pods, and routed requests would fail), and a budget that would let no pod
 * be evicted, so that a node drain would wait forever.
 */
function scalingProblems(stack: Stack): PyfleetError[] {
  const errors: PyfleetError[] = [];
  for (const svc of stack.services) {
    for (const v of svc.versions) {
      const a = v.autoscale;
      if (a && a.min < 1) {
        const routes = routesTo(stack, v);
        errors.push(routes.length > 0
          ? new PyfleetError(v.node.path, `autoscale.min is 0 while ${routes.join(', ')} sends traffic to version "${v.versionName}": with no pod those requests fail with 503, and an autoscaler on CPU or memory never scales up from zero pods (none reports usage)`,
            `set autoscale.min to at least 1 (e.g. { min: 1, max: ${a.max} }), or route that share to another version`)
          : new PyfleetError(v.node.path, 'autoscale.min is 0, but an autoscaler on CPU or memory never scales up from zero pods (none reports usage), so the version would stay at zero',
            `set autoscale.min to at least 1 (e.g. { min: 1, max: ${a.max} }), or park the version with replicas: 0 instead of autoscale`));
      }
      const budget = v.disruptionBudget;
      if (!budget?.minAvailable || v.replicas === 0) continue;
      // The fewest pods the version may have: its replicas (the autoscaler's minimum), less what a rollout takes down.
      const floor = v.replicas - ROLLOUT.maxUnavailable;
      if (budget.minAvailable >= floor) {
        const count = a ? `autoscale.min ${v.replicas}` : `${v.replicas} replica${v.replicas === 1 ? '' : 's'}`;
        errors.push(new PyfleetError(v.node.path, `the disruption budget keeps minAvailable ${budget.minAvailable} pods available, but the version may have as few as ${floor} (${count}): no pod could ever be evicted and every node drain would wait forever`,
          floor >= 2 ? `use DisruptionBudget.maxUnavailable(1) (the default), or DisruptionBudget.minAvailable(${floor - 1}) at most, or raise ${a ? 'autoscale.min' : 'replicas'} to ${budget.minAvailable + 1}`
            : `raise ${a ? 'autoscale.min' : 'replicas'} to ${budget.minAvailable + 1} or more, or use DisruptionBudget.maxUnavailable(1) (the default)`));
      }
    }
  }
  return errors;
}

/** A service named like another service's `<service>-<version>` workload: their objects would share a name. */
function nameClashes(stack: Stack): PyfleetError[] {
  const errors: PyfleetError[] = [];
  const services = new Map(stack.services.map((s) => [s.serviceName, s]));
  for (const svc of stack.services) {
    for (const v of svc.versions) {
      const other = services.get(v.workloadName);
      if (other && other !== svc) {
        errors.push(new PyfleetError(other.node.path, `service "${other.serviceName}" has the name of the workload of version "${v.versionName}" of "${svc.serviceName}" (${v.workloadName}); their Deployments and compose services would collide`,
          `rename "${other.serviceName}" or the version "${v.versionName}"`));
      }
    }
  }
  return errors;
}

/**
 * Two stacks in one namespace: each writes the Namespace object (with its own labels) and, in a mesh,
 * the namespace's PeerAuthentication `default`, so the second apply would overwrite the first's.
 */
function sharedNamespaceClashes(stacks: readonly Stack[]): PyfleetError[] {
  const errors: PyfleetError[] = [];
  const owner = new Map<string, Stack>();
  for (const stack of stacks) {
    const other = owner.get(stack.namespaceName);
    if (!other) {
      owner.set(stack.namespaceName, stack);
      continue;
    }
    const common = stack.services.filter((s) => other.services.some((o) => o.serviceName === s.serviceName)).map((s) => `"${s.serviceName}"`);
    errors.push(new PyfleetError(stack.node.path, `stacks "${other.stackName}" and "${stack.stackName}" share namespace "${stack.namespaceName}": both would write the Namespace object${common.length ? ` and the objects of service ${common.join(', ')}` : ''}, and the last apply would overwrite the other's`,
      'give each stack its own namespace (StackProps.namespace), or put the services into one stack'));
  }
  return errors;
}

function findCycles(stack: Stack): PyfleetError[] {
  const errors: PyfleetError[] = [];
  const state = new Map<MicroService, 'visiting' | 'done'>();
  const trail: MicroService[] = [];
  const reported = new Set<string>();
  const visit = (svc: MicroService): void => {
    state.set(svc, 'visiting');
    trail.push(svc);
    for (const callee of svc.calls) {
      if (callee === svc || callee.stack !== stack) continue;
      const s = state.get(callee);
      if (s === 'visiting') {
        const cycle = [...trail.slice(trail.indexOf(callee)), callee].map((x) => x.serviceName);
        const key = [...cycle].sort().join(',');
        if (!reported.has(key)) {
          reported.add(key);
          errors.push(new PyfleetError(callee.node.path, `dependency cycle: ${cycle.join(' -> ')}; no start order exists and compose would wait forever`,
            'remove one of these `calls`; if both really call each other, set the URL of one through `env` instead'));
        }
      } else if (s === undefined) {
        visit(callee);
      }
    }
    trail.pop();
    state.set(svc, 'done');
  };
  for (const svc of stack.services) if (!state.has(svc)) visit(svc);
  return errors;
}
