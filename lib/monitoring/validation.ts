import { PyfleetError } from '../core/errors';
import type { Stack } from '../core/stack';
import { stackWorkers } from '../workers/registry';

/**
 * Monitoring on a stack that has nothing to scrape: no service serves pyfleet's metrics endpoint
 * (every service is a plain image, or has `metrics: false`), and no CeleryWorker does either.
 */
export function monitoringProblems(stack: Stack): PyfleetError[] {
  if (!stack.monitoring) return [];
  if (stack.services.some((s) => s._metricsPort() !== undefined)) return [];
  if (stackWorkers(stack).some((w) => (w as { metricsPort?: number }).metricsPort !== undefined)) return [];
  const what = stack.services.length === 0 ? 'the stack has no services' : `none of its ${stack.services.length} service(s) serves pyfleet's metrics endpoint (only GunicornFlaskApp and FastApiApp do, unless metrics: false)`;
  return [new PyfleetError(stack.node.path, `monitoring is on, but ${what}, and no CeleryWorker has metrics, so Prometheus would have nothing to scrape`,
    'turn metrics on for a Python service or a CeleryWorker (metrics: true is the default of GunicornFlaskApp, FastApiApp and CeleryWorker), or leave monitoring out of the stack props')];
}
