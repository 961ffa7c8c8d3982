import { edgeLabel, stackTitle, Topology, TopologyEdge, TopologyNode } from './types';

// The topology as plain text for a terminal (`npx pyfleet graph`): one block per service with its
// calls, route rules, breakers and versions; public entries first.

function details(n: TopologyNode): string {
  return n.details.length ? ` (${n.details.join('; ')})` : '';
}

/** The text form of a topology, ending with a newline. */
export function toText(t: Topology): string {
  const byId = new Map(t.nodes.map((n) => [n.id, n]));
  const title = (id: string): string => byId.get(id)?.title ?? id;
  const from = (id: string, ...kinds: TopologyEdge['kind'][]): TopologyEdge[] => t.edges.filter((e) => e.from === id && kinds.includes(e.kind));
  const breakersOf = (id: string): TopologyNode[] => t.nodes.filter((n) => n.kind === 'breaker' && n.owner === id);
  const lines: string[] = [stackTitle(t)];

  const entries = t.nodes.filter((n) => n.kind === 'entry' || n.kind === 'gateway');
  if (entries.length) lines.push('');
  for (const n of entries) {
    for (const e of from(n.id, 'expose')) {
      const svc = byId.get(e.to);
      lines.push(n.kind === 'entry' && e.ports
        ? `${n.title} -> ${title(e.to)} :${e.ports.container}`
        : `${n.title}${details(n)} -> ${svc?.title ?? e.to}`);
    }
  }

  for (const s of t.nodes.filter((n) => n.kind === 'service')) {
    lines.push('', `${s.title}${details(s)}`);
    for (const e of from(s.id, 'call')) lines.push(`  calls ${title(e.to)}${edgeLabel(e) ? ` (${edgeLabel(e)})` : ''}`);
    const rules = new Map<number, TopologyEdge[]>();
    for (const e of from(s.id, 'route', 'mirror')) rules.set(e.rule!, [...(rules.get(e.rule!) ?? []), e]);
    for (const [n, es] of [...rules.entries()].sort((a, b) => a[0] - b[0])) {
      const routes = es.filter((e) => e.kind === 'route');
      const first = routes[0];
      const to = routes.map((e) => `${title(e.to)}${e.weight !== undefined ? ` ${e.weight}%` : ''}`).join(', ');
      const more = [first?.extras, ...es.filter((e) => e.kind === 'mirror').map((e) => `mirror ${e.weight}% to ${title(e.to)}`)].filter(Boolean);
      lines.push(`  rule ${n}: ${first?.match ?? 'every request'} -> ${to}${more.length ? `; ${more.join('; ')}` : ''}`);
    }
    const select = from(s.id, 'select');
    if (select.length && select[0].reason !== 'only') {
      lines.push(`  ${select[0].reason === 'unmatched' ? 'other requests' : 'no route: any pod of'} -> ${select.map((e) => title(e.to)).join(', ')}`);
    }
    for (const b of breakersOf(s.id)) lines.push(`  ${b.title}${details(b)}`);
    for (const v of t.nodes.filter((n) => n.kind === 'version' && n.owner === s.id)) {
      lines.push(`  ${v.title}${details(v)}`);
      for (const b of breakersOf(v.id)) lines.push(`    ${b.title}${details(b)}`);
    }
  }
  for (const d of t.nodes.filter((n) => n.kind === 'datastore' || n.kind === 'worker' || n.kind === 'job')) {
    lines.push('', `${d.title}${details(d)}`);
    for (const e of t.edges.filter((x) => x.from === d.id && x.kind === 'call')) lines.push(`  calls ${title(e.to)}${e.via ? ` (${e.via})` : ''}`);
  }
  return lines.join('\n') + '\n';
}
