import { PyfleetError } from './errors';
import type { Stack } from './stack';
import { ComposeNetworkMode } from './stack';
import type { MicroService } from '../service/microservice';

/** A cross-object check contributed by a model module (e.g. lib/mesh); returns problems instead of throwing. */
export type ModelCheck = (stacks: readonly Stack[]) => PyfleetError[];
const modelChecks: ModelCheck[] = [];

/** Registers a model-level cross-object check, run by validateModel before any renderer. */
export function registerModelCheck(check: ModelCheck): void {
  if (!modelChecks.includes(check)) modelChecks.push(check);
}

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
    errors.push(...checkComposePorts(stack));
  }

  // Every stack may run on the same machine: public host ports must be unique across the app.
  const hostPorts = new Map<number, MicroService>();
  for (const stack of stacks) {
    for (const svc of stack.services) {
      const published = publishedHostPorts(svc);
      for (const port of published) {
        const other = hostPorts.get(port);
        if (other && other !== svc) {
          errors.push(new PyfleetError(svc.node.path, `host port ${port} is already taken by "${other.node.path}"`, 'give each service its own public port (expose.port) or, in host network mode, its own container port'));
        } else {
          hostPorts.set(port, svc);
        }
      }
    }
  }
  for (const check of modelChecks) errors.push(...check(stacks));
  return errors;
}

function publishedHostPorts(svc: MicroService): number[] {
  if (svc.stack.composeNetworkMode === ComposeNetworkMode.HOST) {
    return [svc.port, ...Object.values(svc.additionalPorts)];
  }
  return svc.expose ? [svc.expose.port] : [];
}

function checkComposePorts(stack: Stack): PyfleetError[] {
  const errors: PyfleetError[] = [];
  if (stack.composeNetworkMode !== ComposeNetworkMode.HOST) return errors;
  for (const svc of stack.services) {
    const containers = svc.versions.reduce((n, v) => n + v.replicas, 0);
    if (svc.versions.length > 1 || svc.versions.some((v) => v.replicas > 1)) {
      errors.push(new PyfleetError(svc.node.path, `host network mode runs one container per service, but "${svc.serviceName}" asks for ${containers} containers (${svc.versions.length} version(s)); they would all bind port ${svc.port}`,
        'set replicas: 1 and keep one version for host mode, or use ComposeNetworkMode.BRIDGE'));
    }
    if (svc.expose && svc.expose.port !== svc.port) {
      errors.push(new PyfleetError(svc.node.path, `in host network mode the container publishes its own port ${svc.port}, so it cannot be exposed on ${svc.expose.port}`,
        `set expose.port to ${svc.port}, change the service port, or use ComposeNetworkMode.BRIDGE`));
    }
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
