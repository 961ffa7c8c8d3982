// Parses Mermaid diagrams with Mermaid's own parser (the `mermaid` package), in Node: reads a JSON array
// of diagram texts on stdin and prints, for each, either { error } or what the parser understood
// (flowcharts: vertices, edges and subgraphs, with Mermaid's entity codes decoded as its renderer
// would). Mermaid is an ES module and its sanitizer needs a DOM, so this runs as its own process over
// a jsdom window; test/support/mermaid.ts starts it.
import { JSDOM } from 'jsdom';

const dom = new JSDOM('<!doctype html><html><body></body></html>');
globalThis.window = dom.window;
globalThis.document = dom.window.document;
const { default: mermaid } = await import('mermaid');
mermaid.initialize({ startOnLoad: false, logLevel: 'fatal' });

// Mermaid turns `#35;` into placeholders before parsing and back into `&#35;` when it renders.
function decode(text) {
  const html = String(text ?? '').replace(/ﬂ°°/g, '&#').replace(/ﬂ°/g, '&').replace(/¶ß/g, ';');
  const el = dom.window.document.createElement('textarea');
  el.innerHTML = html;
  return el.value;
}

let input = '';
for await (const chunk of process.stdin) input += chunk;
const out = [];
for (const text of JSON.parse(input)) {
  try {
    const parsed = await mermaid.parse(text);
    const diagram = await mermaid.mermaidAPI.getDiagramFromText(text);
    const db = diagram.db;
    const result = { type: parsed.diagramType };
    if (typeof db.getVertices === 'function') {
      result.vertices = [...db.getVertices().values()].map((v) => ({ id: v.id, text: decode(v.text), type: v.type ?? null, classes: [...(v.classes ?? [])] }));
      result.edges = db.getEdges().map((e) => ({ start: e.start, end: e.end, text: decode(e.text), type: e.type, stroke: e.stroke }));
      result.subgraphs = db.getSubGraphs().map((s) => ({ id: s.id, title: decode(s.title), nodes: [...s.nodes] }));
    }
    out.push(result);
  } catch (e) {
    out.push({ error: String(e && e.message ? e.message : e) });
  }
}
process.stdout.write(JSON.stringify(out));
