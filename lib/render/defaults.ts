import type { Target } from '../core/target';
import { composeTarget } from './compose';
import { imageTarget } from './image';
import { istioExtension } from './istio';
import { kubernetesTarget } from './kubernetes';
import { networkPolicyExtension } from './network-policy';

/** pyfleet's own targets, in render order: image, compose, and kubernetes with Istio and the NetworkPolicies as its extensions. */
export function builtinTargets(): Target[] {
  return [imageTarget(), composeTarget() as Target, kubernetesTarget({ extensions: [istioExtension(), networkPolicyExtension()] }) as Target];
}
