// The topology target: <stack>.topology.md (Mermaid), .dot (Graphviz) and .json, and the terminal text.
// The Mermaid text is parsed by Mermaid's own parser and drawn by Mermaid's renderer in headless
// Chromium; the DOT text is read and drawn by Graphviz's dot. Both read back what the graph holds.
import { execFileSync } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import {
  App, CircuitBreaker, ContainerImage, Duration, edgeLabel, Match, Mesh, MeshGateway, MeshRoute, MicroService, MtlsMode, Stack, Topology,
  toDot, toMermaid, toText, UpstreamTls,
} from '../../lib';
import { buildCanary } from '../../examples/canary/main';
import { buildFlaskGunicorn } from '../../examples/flask-gunicorn/main';
import { buildHello } from '../../examples/hello/main';
import { buildShop } from '../../examples/shop/main';
import { buildVps } from '../../examples/vps/main';
import { haveEngine } from '../support/engines';
import { mermaidBlock, ParsedMermaid, parseMermaid, renderMermaidInChromium } from '../support/mermaid';
import { synth, Synthesized } from '../support/synth';

const examples: Array<[string, (app: App) => unknown]> = [
  ['canary', buildCanary], ['flask-gunicorn', buildFlaskGunicorn], ['hello', buildHello], ['shop', buildShop], ['vps', buildVps],
];

/**
 * Where the pictures of examples/canary are written: `$PYFLEET_PICTURES` when set (kept after the run,
 * to look at), else a folder of the run's temporary directory, which the run removes like every other.
 */
const PICTURES = process.env.PYFLEET_PICTURES ?? path.join(os.tmpdir(), 'pyfleet-topology');

/** A DOT label as Graphviz reads it: `\n` is a line break, `\\` a backslash. */
function dotLabel(raw: string): string {
  return raw.replace(/\\(.)/g, (_, c: string) => (c === 'n' ? '\n' : c));
}

/** Mermaid's node text without the markup the printer adds: lines split at <br>, the title's <b> dropped. */
function lines(text: string): string[] {
  const [title, ...rest] = text.split(/<br\s*\/?>/);
  return [/^<b>([\s\S]*)<\/b>$/.exec(title)?.[1] ?? title, ...rest];
}

function topologyOf(out: Synthesized, stack: string): Topology {
  return JSON.parse(out.files.get(`${stack}.topology.json`)!);
}

/** What Mermaid's parser must have read: every node with its lines, every edge with its label, the stack's subgraph. */
function expectMermaidMatches(parsed: ParsedMermaid, t: Topology): void {
  expect(parsed.error).toBeUndefined();
  expect(parsed.type).toBe('flowchart-v2');
  // A `style` line on the stack's subgraph gives Mermaid's parser a vertex of that id too (drawn as the subgraph).
  const groups = new Set(parsed.subgraphs!.map((s) => s.id));
  const vertices = new Map(parsed.vertices!.filter((v) => !groups.has(v.id)).map((v) => [v.id, v]));
  expect([...vertices.keys()].sort()).toEqual(t.nodes.map((n) => n.id).sort());
  for (const n of t.nodes) {
    const v = vertices.get(n.id)!;
    expect(lines(v.text).slice(0, 1 + n.details.length)).toEqual([n.title, ...n.details]);
    expect(v.classes).toEqual([n.kind]);
  }
  expect(parsed.edges!.map((e) => [e.start, e.end, e.text])).toEqual(t.edges.map((e) => [e.from, e.to, edgeLabel(e)]));
  const inside = t.nodes.filter((n) => n.kind !== 'entry' && n.kind !== 'gateway').map((n) => n.id);
  expect(parsed.subgraphs!.map((s) => [s.nodes.slice().sort(), s.title])).toEqual([[inside.sort(), expect.stringContaining(`stack ${t.stack}`)]]);
}

describe('every example', () => {
  const outs = new Map<string, Synthesized>();
  beforeAll(() => { for (const [name, build] of examples) outs.set(name, synth(build)); });
  afterAll(() => { for (const o of outs.values()) o.cleanup(); });

  test('writes <stack>.topology.md, .dot and .json, and no .yaml a cdk8s CLI would take for a manifest', () => {
    for (const [name] of examples) {
      const files = [...outs.get(name)!.files.keys()].filter((f) => f.startsWith(`${name}.topology`));
      expect(files.sort()).toEqual([`${name}.topology.dot`, `${name}.topology.json`, `${name}.topology.md`]);
    }
  });

  test("the Mermaid block of every topology file parses with Mermaid's parser, which reads back every node, label and edge", () => {
    const parsed = parseMermaid(examples.map(([name]) => mermaidBlock(outs.get(name)!.files.get(`${name}.topology.md`)!)));
    examples.forEach(([name], i) => {
      const t = topologyOf(outs.get(name)!, name);
      // Every service and every version of the model is drawn.
      const model = new Set(t.nodes.map((n) => `${n.kind}:${n.title}`));
      expect(model.size).toBeGreaterThanOrEqual(2);
      expectMermaidMatches(parsed[i], t);
    });
  });

  test('every service and version of the model is a node; the JSON is the target result', () => {
    for (const [name, build] of examples) {
      const app = new App({ outdir: path.join(os.tmpdir(), 'pyfleet-topology-unused') });
      build(app);
      const [out] = app.synthesize();
      const t = out.results.topology!;
      expect(JSON.parse(outs.get(name)!.files.get(`${name}.topology.json`)!)).toEqual(JSON.parse(JSON.stringify(t)));
      for (const s of out.model.services) {
        const svc = t.nodes.find((n) => n.kind === 'service' && n.title === s.name)!;
        expect(svc).toBeDefined();
        expect(svc.details[0]).toContain(`container :${s.settings.port}`);
        for (const v of s.versions) {
          const node = t.nodes.find((n) => n.kind === 'version' && n.owner === svc.id && n.title === v.name)!;
          expect(node.details[0]).toBe(`${v.replicas} ${v.replicas === 1 ? 'replica' : 'replicas'}`);
          // Every version is reachable from its service.
          expect(t.edges.some((e) => e.from === svc.id && e.to === node.id)).toBe(true);
        }
        if (s.settings.exposedPort !== undefined) {
          expect(t.edges).toContainEqual({ from: `pub_${s.name.replace(/-/g, '_')}`, to: svc.id, kind: 'expose', ports: { public: s.settings.exposedPort, container: s.settings.port } });
        }
        for (const callee of s.calls) expect(t.edges.some((e) => e.kind === 'call' && e.from === svc.id && e.to === `svc_${callee.replace(/-/g, '_')}`)).toBe(true);
      }
    }
  });

  test('the files are deterministic: a second synth writes the same bytes, and the JSON keys are sorted', () => {
    for (const [name, build] of examples) {
      const again = synth(build);
      try {
        for (const ext of ['md', 'dot', 'json']) expect(again.files.get(`${name}.topology.${ext}`)).toBe(outs.get(name)!.files.get(`${name}.topology.${ext}`));
      } finally {
        again.cleanup();
      }
      const json = outs.get(name)!.files.get(`${name}.topology.json`)!;
      const sortedKeys = (v: unknown): boolean => (Array.isArray(v) ? v.every(sortedKeys)
        : v !== null && typeof v === 'object' ? Object.keys(v).join() === Object.keys(v).sort().join() && Object.values(v).every(sortedKeys) : true);
      expect(sortedKeys(JSON.parse(json))).toBe(true);
    }
  });

  const haveDot = haveEngine('dot', 'apt-get install graphviz; .ci/setup.d/50-topology.sh');
  (haveDot ? test : test.skip)('the DOT file of every example is read by Graphviz (dot -Tjson) with the same nodes, labels and edges', () => {
    for (const [name] of examples) {
      const out = outs.get(name)!;
      const t = topologyOf(out, name);
      const g = JSON.parse(execFileSync('dot', ['-Tjson', path.join(out.dir, `${name}.topology.dot`)], { encoding: 'utf8', timeout: 60_000 }));
      const objects = (g.objects as any[]).filter((o) => !o.name.startsWith('cluster_'));
      expect(objects.map((o) => o.name).sort()).toEqual(t.nodes.map((n) => n.id).sort());
      for (const o of objects) {
        const n = t.nodes.find((x) => x.id === o.name)!;
        expect(dotLabel(o.label).split('\n').slice(0, 1 + n.details.length)).toEqual([n.title, ...n.details]);
      }
      // Graphviz lists edges grouped by their tail: compare them as sets.
      const names = (g.objects as any[]).map((o) => o.name);
      const key = (a: string[]): string => JSON.stringify(a);
      expect((g.edges as any[]).map((e) => key([names[e.tail], names[e.head], e.label === undefined ? '' : dotLabel(e.label)])).sort())
        .toEqual(t.edges.map((e) => key([e.from, e.to, edgeLabel(e)])).sort());
    }
  });
});

describe('examples/canary', () => {
  let out: Synthesized;
  let t: Topology;
  beforeAll(() => { out = synth(buildCanary); t = topologyOf(out, 'canary'); });
  afterAll(() => out.cleanup());

  test("Mermaid's parser reads the canary split, the /api/v2 rule, the breaker, the public port and mTLS", () => {
    const [p] = parseMermaid([mermaidBlock(out.files.get('canary.topology.md')!)]);
    expect(p.error).toBeUndefined();
    const text = (id: string): string[] => lines(p.vertices!.find((v) => v.id === id)!.text);
    const edge = (from: string, to: string): string[] => p.edges!.filter((e) => e.start === from && e.end === to).map((e) => e.text);
    expect(text('svc_order_service')).toEqual(['order-service', 'container :8002, Service :80']);
    expect(text('ver_order_service__v1')).toEqual(['v1', '2 replicas', 'ghcr.io/acme/order-service:2.3.0']);
    expect(text('ver_order_service__v2')).toEqual(['v2', '1 replica', 'ghcr.io/acme/order-service:3.0.0-rc.1']);
    expect(edge('svc_order_service', 'ver_order_service__v1')).toEqual(['rule 2: 70%']);
    expect(edge('svc_order_service', 'ver_order_service__v2')).toEqual(['rule 1: prefix /api/v2', 'rule 2: 30%']);
    expect(p.edges!.filter((e) => e.start === 'svc_order_service' && e.end.startsWith('ver_')).every((e) => e.stroke === 'thick')).toBe(true);
    expect(text('brk_orders_breaker')).toEqual(['breaker orders-breaker', 'max 100 connections', 'eject after 5 consecutive 5xx', 'every 10s, out for 30s']);
    expect(p.vertices!.find((v) => v.id === 'brk_orders_breaker')!.type).toBe('hexagon');
    expect(p.edges!.filter((e) => e.start === 'brk_orders_breaker')).toEqual([{ start: 'brk_orders_breaker', end: 'svc_order_service', text: '', type: 'arrow_open', stroke: 'dotted' }]);
    expect(text('pub_order_service')).toEqual(['public :80']);
    expect(edge('pub_order_service', 'svc_order_service')).toEqual([':80 -> :8002']);
    expect(edge('svc_order_service', 'svc_user_service')).toEqual(['USER_SERVICE_URL, mTLS']);
    expect(p.subgraphs![0].title).toBe('stack canary, namespace canary, Istio mesh, mTLS STRICT');
  });

  test('the Markdown file: a heading, one mermaid block and a legend of the shapes it uses', () => {
    const md = out.files.get('canary.topology.md')!;
    expect(md.split('\n')[0]).toBe('# Topology of stack canary');
    expect(md.match(/```mermaid/g)).toHaveLength(1);
    expect(md).toContain('| hexagon | a CircuitBreaker and what it sets |');
    expect(md).toContain('| thick arrow |');
    expect(md).not.toContain('| trapezoid |'); // no MeshGateway in this stack
  });

  test('the terminal text', () => {
    expect(toText(t)).toBe([
      'stack canary, namespace canary, Istio mesh, mTLS STRICT',
      '',
      'public :80 -> order-service :8002',
      '',
      'user-service (container :8001)',
      '  v1 (2 replicas; ghcr.io/acme/user-service:1.4.2)',
      '',
      'order-service (container :8002, Service :80)',
      '  calls user-service (USER_SERVICE_URL, mTLS)',
      '  rule 1: prefix /api/v2 -> v2',
      '  rule 2: every request -> v1 70%, v2 30%',
      '  breaker orders-breaker (max 100 connections; eject after 5 consecutive 5xx; every 10s, out for 30s)',
      '  v1 (2 replicas; ghcr.io/acme/order-service:2.3.0)',
      '  v2 (1 replica; ghcr.io/acme/order-service:3.0.0-rc.1)',
      '',
    ].join('\n'));
  });

  test("the README's picture and terminal text of the canary are what pyfleet makes of it", () => {
    const readme = fs.readFileSync(path.join(__dirname, '../../README.md'), 'utf8');
    const section = readme.slice(readme.indexOf('## The topology picture'));
    const [p, generated] = parseMermaid([mermaidBlock(section), mermaidBlock(out.files.get('canary.topology.md')!)]);
    expect(p.error).toBeUndefined();
    // The README leaves out the colours (classDef, class and style lines, so also the subgraph's style vertex).
    expect(p.vertices).toEqual(generated.vertices!.filter((v) => v.id !== 'stack_canary').map((v) => ({ ...v, classes: [] })));
    expect(p.subgraphs).toEqual(generated.subgraphs);
    expect(p.edges).toEqual(generated.edges);
    const shown = /\$ npx pyfleet graph[^\n]*\n([\s\S]*?)```/.exec(section)![1];
    expect(shown).toBe(toText(t));
  });

  const haveDot = haveEngine('dot', 'apt-get install graphviz; .ci/setup.d/50-topology.sh');
  (haveDot ? test : test.skip)('Graphviz draws the DOT form as SVG and PNG (kept in $PYFLEET_PICTURES when set)', () => {
    const file = path.join(out.dir, 'canary.topology.dot');
    const svg = execFileSync('dot', ['-Tsvg', file], { encoding: 'utf8', timeout: 60_000 });
    for (const n of t.nodes) expect(svg).toContain(`<title>${n.id}</title>`);
    expect(svg).toContain('>rule 2: 70%</text>');
    expect(svg).toContain('>rule 2: 30%</text>');
    expect((svg.match(/<g id="edge\d+" class="edge">/g) ?? []).length).toBe(t.edges.length);
    const png = execFileSync('dot', ['-Tpng', file], { timeout: 60_000 });
    expect(png.subarray(1, 4).toString()).toBe('PNG');
    const [w, h] = [png.readUInt32BE(16), png.readUInt32BE(20)];
    expect(w).toBeGreaterThan(600);
    expect(h).toBeGreaterThan(150);
    fs.mkdirSync(PICTURES, { recursive: true });
    fs.writeFileSync(path.join(PICTURES, 'canary.dot.png'), png);
  });

  const haveChromium = haveEngine('chromium', 'apt-get install chromium; .ci/setup.d/50-topology.sh');
  (haveChromium ? test : test.skip)("Mermaid's renderer draws the Mermaid form in headless Chromium (the PNG is kept in $PYFLEET_PICTURES when set)", () => {
    const r = renderMermaidInChromium('chromium', mermaidBlock(out.files.get('canary.topology.md')!), { screenshot: true });
    // Every node is drawn (Mermaid ids its node groups "<diagram>-flowchart-<node id>-<n>"), with its labels.
    for (const n of t.nodes) expect(r.svg).toMatch(new RegExp(`id="topology-flowchart-${n.id}-\\d+"`));
    expect((r.svg.match(/<g class="node /g) ?? []).length).toBe(t.nodes.length);
    expect(r.svg.match(/<g class="cluster" id="[^"]*"/g)).toEqual(['<g class="cluster" id="topology-stack_canary"']);
    for (const label of ['rule 2: 70%', 'rule 2: 30%', 'rule 1: prefix /api/v2', 'USER_SERVICE_URL, mTLS', 'breaker orders-breaker', 'max 100 connections', 'public :80']) {
      expect(r.svg).toContain(label);
    }
    expect(r.svg).not.toMatch(/Syntax error/i);
    expect(r.png!.subarray(1, 4).toString()).toBe('PNG');
    expect(r.png!.readUInt32BE(16)).toBeGreaterThan(600);
    fs.mkdirSync(PICTURES, { recursive: true });
    fs.writeFileSync(path.join(PICTURES, 'canary.mermaid.png'), r.png!);
  }, 180_000);
});

function topologyFor(build: (stack: Stack) => void, props: ConstructorParameters<typeof Stack>[2] = {}): Topology {
  const app = new App({ outdir: path.join(os.tmpdir(), 'pyfleet-topology-unused') });
  const stack = new Stack(app, 'shop', props);
  build(stack);
  return app.synthesize()[0].results.topology!;
}

const img = (name: string): ContainerImage => ContainerImage.fromRegistry(`registry.example.com/${name}:1.0.0`);

describe('the graph', () => {
  test('versions without a route: one version is plain, several are "any pod"; a route without a catch-all sends "other requests" to every version', () => {
    const t = topologyFor((s) => {
      new MicroService(s, 'one', { image: img('one') });
      const two = new MicroService(s, 'two', { image: img('two') });
      two.addVersion('v2');
      const three = new MicroService(s, 'three', { image: img('three') });
      const v2 = three.addVersion('v2');
      new MeshRoute(s, 'three-route', { service: three, rules: [{ match: Match.header('x-canary', 'yes'), to: v2, mirror: { to: three.defaultVersion, percentage: 5 } }] });
    }, { mesh: Mesh.istio() });
    const labels = (from: string): string[] => t.edges.filter((e) => e.from === from).map((e) => `${e.kind} ${e.to} ${edgeLabel(e)}`.trim());
    expect(labels('svc_one')).toEqual(['select ver_one__v1']);
    expect(labels('svc_two')).toEqual(['select ver_two__v1 any pod', 'select ver_two__v2 any pod']);
    expect(labels('svc_three')).toEqual([
      'route ver_three__v2 rule 1: header x-canary = yes',
      'mirror ver_three__v1 rule 1: mirror 5%',
      'select ver_three__v1 other requests',
      'select ver_three__v2 other requests',
    ]);
    expect(toText(t)).toContain('three (container :8080)\n  rule 1: header x-canary = yes -> v2; mirror 5% to v1\n  other requests -> v1, v2\n');
    const [p] = parseMermaid([toMermaid(t)]);
    expectMermaidMatches(p, t);
    expect(p.edges!.find((e) => e.text === 'rule 1: mirror 5%')).toMatchObject({ type: 'arrow_point', stroke: 'dotted' });
  });

  test('rule settings, a version breaker, a gateway with TLS, plain-text calls under PERMISSIVE, and the same in DOT', () => {
    const t = topologyFor((s) => {
      const users = new MicroService(s, 'users', { image: img('users') });
      const orders = new MicroService(s, 'orders', { image: img('orders'), calls: [users], additionalPorts: { metrics: 9100 } });
      const v2 = orders.addVersion('v2', { replicas: 3 });
      new MeshRoute(s, 'r', { service: orders, rules: [
        { match: [Match.pathExact('/health'), Match.method('GET').and(Match.queryParam('beta', '1'))], to: v2, timeout: Duration.seconds(10), retries: { attempts: 3, perTryTimeout: Duration.seconds(2) } },
        { split: [{ to: orders.defaultVersion, weight: 90 }, { to: v2, weight: 10 }], fault: { abort: { httpStatus: 503, percentage: 1 } } },
      ] });
      new CircuitBreaker(s, 'v2-breaker', { service: orders, version: v2, maxConnections: 10, consecutiveGatewayErrors: 3 });
      new CircuitBreaker(s, 'users-plain', { service: users, upstreamTls: UpstreamTls.DISABLE, maxRequests: 50 });
      new MeshGateway(s, 'public', { service: orders, hosts: ['shop.example.com'], tls: { secretName: 'shop-tls' }, match: [Match.pathPrefix('/api')] });
    }, { mesh: Mesh.istio({ mtls: MtlsMode.PERMISSIVE }), compose: { enabled: false } });
    const node = (id: string) => t.nodes.find((n) => n.id === id)!;
    expect(node('svc_orders').details).toEqual(['container :8080', 'metrics :9100']);
    expect(node('ver_orders__v2').details).toEqual(['3 replicas', 'registry.example.com/orders:1.0.0']);
    expect(node('brk_v2_breaker')).toMatchObject({ owner: 'ver_orders__v2', details: ['max 10 connections', 'eject after 3 consecutive gateway errors'] });
    expect(t.edges).toContainEqual({ from: 'brk_v2_breaker', to: 'ver_orders__v2', kind: 'protect' });
    expect(node('gw_public')).toMatchObject({ kind: 'gateway', details: ['shop.example.com', 'HTTPS :443 (secret shop-tls), HTTP :80 redirects', 'only prefix /api'] });
    expect(t.edges).toContainEqual({ from: 'gw_public', to: 'svc_orders', kind: 'expose' });
    expect(t.edges.filter((e) => e.kind === 'route').map(edgeLabel)).toEqual([
      'rule 1: path = /health or query beta = 1 and method GET', 'rule 2: 90%', 'rule 2: 10%',
    ]);
    expect(t.edges.find((e) => e.kind === 'call')).toMatchObject({ from: 'svc_orders', to: 'svc_users', via: 'USERS_URL', tls: 'plain' });
    expect(toText(t)).toContain([
      'orders (container :8080; metrics :9100)',
      '  calls users (USERS_URL, plain text)',
      '  rule 1: path = /health or query beta = 1 and method GET -> v2; timeout 10s, 3 retries of 2s',
      '  rule 2: every request -> v1 90%, v2 10%; fault: HTTP 503 for 1%',
      '  v1 (2 replicas; registry.example.com/orders:1.0.0)',
      '  v2 (3 replicas; registry.example.com/orders:1.0.0)',
      '    breaker v2-breaker (max 10 connections; eject after 3 consecutive gateway errors)',
    ].join('\n'));
    expect(toText(t)).toContain('gateway public (shop.example.com; HTTPS :443 (secret shop-tls), HTTP :80 redirects; only prefix /api) -> orders');
    const [p] = parseMermaid([toMermaid(t)]);
    expectMermaidMatches(p, t);
    // Rule settings are listed in the service node of the pictures.
    expect(lines(p.vertices!.find((v) => v.id === 'svc_orders')!.text)).toEqual(['orders', 'container :8080', 'metrics :9100', 'rule 1: timeout 10s, 3 retries of 2s', 'rule 2: fault: HTTP 503 for 1%']);
    expect(toDot(t)).toContain('label="orders\\ncontainer :8080\\nmetrics :9100\\nrule 1: timeout 10s, 3 retries of 2s\\nrule 2: fault: HTTP 503 for 1%"');
  });

  test('a stack without a mesh says so and labels calls with the URL variable only; a stack without services still parses', () => {
    const t = topologyFor((s) => {
      const b = new MicroService(s, 'b', { image: img('b') });
      new MicroService(s, 'a', { image: img('a'), calls: [b] });
    });
    expect(t.mesh).toBeUndefined();
    expect(t.edges.find((e) => e.kind === 'call')!).toEqual({ from: 'svc_a', to: 'svc_b', kind: 'call', via: 'B_URL' });
    expect(toText(t).split('\n')[0]).toBe('stack shop, namespace shop, no mesh');
    const empty = topologyFor(() => undefined);
    expect(empty.nodes).toEqual([]);
    const parsed = parseMermaid([toMermaid(t), toMermaid(empty)]);
    expectMermaidMatches(parsed[0], t);
    expect(parsed[1].error).toBeUndefined();
  });

  test('labels that Mermaid or DOT would read as syntax (quotes, #, brackets, pipes, tags, backticks, backslashes, "style…:#…;") come out as written', () => {
    const hostile = 'a"b #35; [c] {d} |e| <b>f<i> &amp; `g` \\n h; lifestyle:x#y;'; // construct ids cannot hold "/"
    const regex = '(?i)^a"b#c;[d]|<e>|`f`|style:#x;';
    const t = topologyFor((s) => {
      const svc = new MicroService(s, 'orders', { image: img('orders') });
      const v2 = svc.addVersion('v2');
      new MeshRoute(s, 'r', { service: svc, rules: [{ match: Match.headerRegex('x-q', regex), to: v2 }, { to: svc.defaultVersion }] });
      new CircuitBreaker(s, hostile, { service: svc, maxConnections: 5 });
    }, { mesh: Mesh.istio() });
    const breaker = t.nodes.find((n) => n.kind === 'breaker')!;
    expect(breaker.title).toBe(`breaker ${hostile}`);
    const label = `rule 1: header x-q ~ ${regex}`;
    expect(t.edges.map(edgeLabel)).toContain(label);

    const [p] = parseMermaid([toMermaid(t)]);
    expectMermaidMatches(p, t);
    expect(lines(p.vertices!.find((v) => v.id === breaker.id)!.text)[0]).toBe(`breaker ${hostile}`);
    expect(p.edges!.map((e) => e.text)).toContain(label);

    if (haveEngine('dot', 'apt-get install graphviz')) {
      const g = JSON.parse(execFileSync('dot', ['-Tjson'], { input: toDot(t), encoding: 'utf8', timeout: 60_000 }));
      expect(dotLabel((g.objects as any[]).find((o) => o.name === breaker.id).label).split('\n')[0]).toBe(`breaker ${hostile}`);
      expect((g.edges as any[]).map((e) => (e.label === undefined ? '' : dotLabel(e.label)))).toContain(label);
    }
  });
});
