import type { Target } from '../model/target';
import { composeTarget } from './compose';
import { imageTarget } from './image';
import { istioExtension } from './istio';
import { kubernetesTarget } from './kubernetes';

/** pyfleet's own targets, in render order: image, compose, and kubernetes with Istio as its extension. */
export function builtinTargets(): Target[] {
  return [imageTarget(), composeTarget() as Target, kubernetesTarget({ extensions: [istioExtension()] }) as Target];
}
