import type { Target } from '../../model/target';
import type { StackModel } from '../../model/stack';
import { toDot } from './dot';
import { buildTopology } from './graph';
import type { Topology } from './types';
import { topologyMarkdown } from './mermaid';

export { buildTopology, describeMatch } from './graph';
export { edgeLabel, isTopology, stackTitle, Topology, TopologyEdge, TopologyEdgeKind, TopologyNode, TopologyNodeKind, TOPOLOGY_FORMAT } from './types';
export { mermaidText, toMermaid, topologyMarkdown } from './mermaid';
export { dotString, toDot } from './dot';
export { toText } from './text';

/** JSON with every object's keys sorted, two-space indented, ending with a newline. */
export function stableJson(value: unknown): string {
  const sort = (v: unknown): unknown => {
    if (Array.isArray(v)) return v.map(sort);
    if (v === null || typeof v !== 'object') return v;
    const src = v as Record<string, unknown>;
    // No prototype: a key named like an Object.prototype member is a key like any other.
    const out: Record<string, unknown> = Object.create(null);
    for (const k of Object.keys(src).sort()) if (src[k] !== undefined) out[k] = sort(src[k]);
    return out;
  };
  return JSON.stringify(sort(value), null, 2) + '\n';
}

/**
 * The topology target: a picture of each stack's services, versions, routes, breakers and public
 * entries, as `<stack>.topology.md` (a Mermaid diagram that GitHub and GitLab draw in place),
 * `<stack>.topology.dot` (Graphviz) and `<stack>.topology.json` (the graph itself, which
 * `pyfleet graph` prints). None of them ends in `.yaml`, so `cdk8s synth` does not take them for
 * manifests. Its result is the Topology value.
 */
export function topologyTarget(): Target<Topology> {
  return {
    name: 'topology',
    cacheVersion: 'pyfleet',
    render(model: StackModel) {
      const topology = buildTopology(model);
      return {
        result: topology,
        artifacts: [
          { path: `${model.name}.topology.md`, content: topologyMarkdown(topology) },
          { path: `${model.name}.topology.dot`, content: toDot(topology) },
          { path: `${model.name}.topology.json`, content: stableJson(topology) },
        ],
      };
    },
  };
}
