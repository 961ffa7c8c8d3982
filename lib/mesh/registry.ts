import type { Construct } from 'constructs';
import type { Stack } from '../core/stack';

/**
 * The mesh constructs of each stack, recorded when they are constructed (in definition order), so
 * renderers look them up without walking the construct tree once per service.
 */
const byStack = new WeakMap<Stack, Construct[]>();

export function recordMeshConstruct(stack: Stack, c: Construct): void {
  const list = byStack.get(stack);
  if (list) list.push(c); else byStack.set(stack, [c]);
}

export function meshConstructs(stack: Stack): readonly Construct[] {
  return byStack.get(stack) ?? [];
}
