import type { Hatches, StackModel } from '../../model/stack';
import { composeName, needsGateway } from './gateway';

// The numbers behind each compose service pyfleet generates, for consumers that drive Docker
// directly (the Pulumi Docker host component): CPU, memory and timings as numbers taken from the
// model, so that nobody parses back the strings the compose target wrote ("512m", "1m30s").

/** Health check timings of a compose service, in milliseconds. */
export interface ComposeHealthRuntime {
  readonly intervalMs: number;
  readonly timeoutMs: number;
  readonly startPeriodMs: number;
  readonly retries: number;
}

/**
 * What one generated compose service runs with, as numbers. A field is `undefined` when a compose
 * override (`Compose.of(...).addOverride`) replaced the key it renders to: the override's own value is
 * then the truth, and the consumer reads it from the compose service.
 */
export interface ComposeRuntime {
  /** CPU limit in millicores. */
  readonly cpuLimitMillis?: number;
  /** Memory limit in MiB (may be fractional). */
  readonly memoryLimitMiB?: number;
  /** Memory reservation in MiB (may be fractional). */
  readonly memoryReservationMiB?: number;
  /** Time between the stop signal and the kill (`stop_grace_period`). */
  readonly stopGracePeriodMs?: number;
  /** Health check timings; absent when the service has no health check. */
  readonly health?: ComposeHealthRuntime;
}

/** The gateway proxy container's resources and timings (the compose target renders these). */
export const GATEWAY_RUNTIME = {
  cpuLimitMillis: 500,
  cpuRequestMillis: 100,
  memoryLimitMiB: 128,
  memoryReservationMiB: 32,
  health: { intervalMs: 10_000, timeoutMs: 2_000, startPeriodMs: 5_000, retries: 3 },
} as const;

/** Whether an override path replaces `key` or something inside it, or one of its parents. */
function overridden(hatches: Hatches, key: string): boolean {
  return hatches.compose.some((o) => o.path === key || o.path.startsWith(`${key}.`) || key.startsWith(`${o.path}.`));
}

function withOverrides(runtime: ComposeRuntime, hatches: Hatches): ComposeRuntime {
  if (hatches.compose.length === 0) return runtime;
  return {
    cpuLimitMillis: overridden(hatches, 'deploy.resources.limits.cpus') ? undefined : runtime.cpuLimitMillis,
    memoryLimitMiB: overridden(hatches, 'deploy.resources.limits.memory') ? undefined : runtime.memoryLimitMiB,
    memoryReservationMiB: overridden(hatches, 'deploy.resources.reservations.memory') ? undefined : runtime.memoryReservationMiB,
    stopGracePeriodMs: overridden(hatches, 'stop_grace_period') ? undefined : runtime.stopGracePeriodMs,
    health: overridden(hatches, 'healthcheck') ? undefined : runtime.health,
  };
}

/**
 * The numbers of every compose service the compose target generates for `model`, by compose service
 * name (the same names as the compose project's `services`).
 */
export function composeRuntime(model: StackModel): Record<string, ComposeRuntime> {
  const out: Record<string, ComposeRuntime> = {};
  for (const m of model.services) {
    const s = m.settings;
    const gateway = needsGateway(m.construct);
    const health: ComposeHealthRuntime | undefined = s.health.enabled
      ? { intervalMs: s.health.intervalMs, timeoutMs: s.health.timeoutMs, startPeriodMs: s.health.startPeriodMs, retries: s.health.failureThreshold }
      : undefined;
    for (const vm of m.versions) {
      out[composeName(vm.construct)] = withOverrides({
        cpuLimitMillis: s.resources.cpuLimitMillis,
        memoryLimitMiB: s.resources.memoryLimitMiB,
        memoryReservationMiB: s.resources.memoryRequestMiB,
        stopGracePeriodMs: s.gracefulShutdownMs + s.preStopDelayMs,
        health,
      }, vm.hatches);
    }
    if (gateway) {
      out[m.name] = withOverrides({
        cpuLimitMillis: GATEWAY_RUNTIME.cpuLimitMillis,
        memoryLimitMiB: GATEWAY_RUNTIME.memoryLimitMiB,
        memoryReservationMiB: GATEWAY_RUNTIME.memoryReservationMiB,
        stopGracePeriodMs: s.gracefulShutdownMs,
        health: GATEWAY_RUNTIME.health,
      }, m.hatches);
    }
  }
  return out;
}
