import { PyfleetError } from '../core/errors';
import type { Stack } from '../core/stack';
import type { MicroService } from '../service/microservice';

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
  }

  errors.push(...sharedNamespaceClashes(stacks));
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
