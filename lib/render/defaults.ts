import type { Target } from '../model/target';
import { composeTarget } from './compose';
import { imageTarget } from './image';
import { istioExtension } from './istio';
import { kubernetesTarget } from './kubernetes';
import { monitoringExtension } from './monitoring/kubernetes';
import { networkPolicyExtension } from './network-policy';
import { topologyTarget } from './topology';

/**
 * pyfleet's own targets, in render order: image, compose, kubernetes with Istio, the NetworkPolicies
 * and monitoring (ServiceMonitors) as its extensions, and the topology picture.
 */
export function builtinTargets(): Target[] {
  return [imageTarget(), composeTarget() as Target, kubernetesTarget({ extensions: [istioExtension(), networkPolicyExtension(), monitoringExtension()] }) as Target, topologyTarget() as Target];
}
