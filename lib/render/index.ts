// pyfleet's own output targets, as values an App takes (`new App({ targets })`).
export { builtinTargets } from './defaults';
export { imageTarget, ImageTarget, ImageTargetOptions, BUILTIN_BUILD_GENERATORS } from './image';
export { composeTarget } from './compose';
export { Compose, ComposeHatchOwner, ComposeServiceHatch } from './compose/hatch';
export * from './compose/types';
export { kubernetesTarget, KubernetesExtension, KubernetesTargetOptions, KubeObject, KubernetesResult } from './kubernetes';
export { kubeObject } from './kubernetes/object';
export { Kubernetes, KubernetesDataStoreObjects, KubernetesMigrationObjects, KubernetesObjectHatch, KubernetesScheduleObjects, KubernetesServiceObjects, KubernetesVersionObjects, KubernetesWorkerObjects } from './kubernetes/hatch';
export { istioExtension } from './istio';
export {
  topologyTarget, buildTopology, edgeLabel, isTopology, stackTitle, Topology, TopologyEdge, TopologyEdgeKind, TopologyNode, TopologyNodeKind, TOPOLOGY_FORMAT,
  toMermaid, topologyMarkdown, toDot, toText,
} from './topology';
export { networkPolicyExtension } from './network-policy';
export { prometheusScrapeJobs, PrometheusScrapeJob, PrometheusScrapeOptions } from './monitoring/prometheus';
export { monitoringExtension } from './monitoring/kubernetes';
