import type { Stack } from '../core/stack';
import type { Migration } from '../jobs/migration';
import type { Schedule } from '../jobs/schedule';
import type { Worker } from './worker';

// The background constructs of each stack (workers, migrations, schedules), recorded when they are
// constructed, in definition order, so that resolving reads them without walking the construct tree.

interface Entry {
  readonly workers: Worker[];
  readonly migrations: Migration[];
  readonly schedules: Schedule[];
}

const byStack = new WeakMap<Stack, Entry>();

function entry(stack: Stack): Entry {
  let e = byStack.get(stack);
  if (!e) {
    e = { workers: [], migrations: [], schedules: [] };
    byStack.set(stack, e);
  }
  return e;
}

/** @internal records a worker of `stack`. */
export function recordWorker(stack: Stack, w: Worker): void { entry(stack).workers.push(w); }
/** @internal records a migration of `stack`. */
export function recordMigration(stack: Stack, m: Migration): void { entry(stack).migrations.push(m); }
/** @internal records a schedule of `stack`. */
export function recordSchedule(stack: Stack, s: Schedule): void { entry(stack).schedules.push(s); }

/** The workers of a stack, in definition order. */
export function stackWorkers(stack: Stack): readonly Worker[] { return byStack.get(stack)?.workers ?? []; }
/** The migrations of a stack, in definition order. */
export function stackMigrations(stack: Stack): readonly Migration[] { return byStack.get(stack)?.migrations ?? []; }
/** The schedules of a stack, in definition order. */
export function stackSchedules(stack: Stack): readonly Schedule[] { return byStack.get(stack)?.schedules ?? []; }
