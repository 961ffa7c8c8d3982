import { PyfleetError } from '../core/errors';
import type { Stack } from '../core/stack';
import { stackDataStores } from './resolve';

/**
 * Cross-object rules of backing services, checked with the rest of the model before anything
 * renders: a `calls` edge to a store of another stack (or App), a store named like a service of its
 * stack, a caller that sets an injected variable itself, and two stores whose variables would clash.
 */
export function dataStoreProblems(stacks: readonly Stack[]): PyfleetError[] {
  const errors: PyfleetError[] = [];
  for (const stack of stacks) {
    const stores = stackDataStores(stack);
    const prefixes = new Map<string, string>();
    for (const d of stores) {
      const svc = stack.services.find((s) => s.serviceName === d.storeName);
      if (svc) {
        errors.push(new PyfleetError(d.node.path, `stack "${stack.stackName}" also has a service named "${d.storeName}": both would be the same DNS name, compose service and Kubernetes Service`, 'give the backing service another name, e.g. "' + d.storeName + '-db"'));
      }
      const other = prefixes.get(d.envPrefix) ?? stack.services.find((s) => s.urlVariable === d.urlVariable)?.node.path;
      if (other) {
        errors.push(new PyfleetError(d.node.path, `its variables (${d.urlVariable}, ...) would clash with those of "${other}"`, 'give one of them a name that differs in more than "-" and "_"'));
      }
      prefixes.set(d.envPrefix, d.node.path);
    }
    for (const svc of stack.services) {
      for (const d of svc.storeCalls) {
        if (d.stack !== stack) {
          errors.push(new PyfleetError(svc.node.path, `calls the backing service "${d.node.path}" of stack "${d.stack.stackName}"; each stack is its own namespace and compose project, so its address, Secret and network could not be wired on every target`,
            `define "${d.storeName}" in stack "${stack.stackName}" (a store serves the services of its own stack), or pass its URL yourself through env`));
          continue;
        }
        for (const v of svc.versions) {
          const clash = Object.keys(v.env).find((k) => k === d.urlVariable || k.startsWith(`${d.envPrefix}_`) && ['HOST', 'PORT', 'USER', 'PASSWORD', 'DB'].includes(k.slice(d.envPrefix.length + 1)));
          if (clash) {
            errors.push(new PyfleetError(v.node.path, `sets ${clash} itself, but \`calls: [${d.storeName}]\` injects it with the right value for each target`, `remove ${clash} from env (or drop "${d.storeName}" from calls and wire it yourself)`));
          }
        }
      }
    }
  }
  return errors;
}
