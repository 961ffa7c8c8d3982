import { execFileSync } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { pathToFileURL } from 'url';

/** What Mermaid's parser understood of one flowchart, or the error it gave. */
export interface ParsedMermaid {
  readonly error?: string;
  readonly type?: string;
  readonly vertices?: ReadonlyArray<{ id: string; text: string; type: string | null; classes: string[] }>;
  readonly edges?: ReadonlyArray<{ start: string; end: string; text: string; type: string; stroke: string }>;
  readonly subgraphs?: ReadonlyArray<{ id: string; title: string; nodes: string[] }>;
}

/**
 * Parses diagrams with Mermaid's own parser, in one child process (Mermaid is an ES module and needs
 * a DOM: see mermaid-parse.mjs). Bounded: the process is killed after `timeoutMs`.
 */
export function parseMermaid(texts: readonly string[], timeoutMs = 60_000): ParsedMermaid[] {
  const out = execFileSync(process.execPath, [path.join(__dirname, 'mermaid-parse.mjs')], {
    input: JSON.stringify(texts), encoding: 'utf8', timeout: timeoutMs, stdio: ['pipe', 'pipe', 'pipe'], maxBuffer: 64 * 1024 * 1024,
  });
  return JSON.parse(out) as ParsedMermaid[];
}

/** The text inside the first ```mermaid fence of a Markdown file. */
export function mermaidBlock(markdown: string): string {
  const m = /```mermaid\n([\s\S]*?)\n```/.exec(markdown);
  if (!m) throw new Error('no ```mermaid block');
  return m[1] + '\n';
}

/** What Chromium drew of one Mermaid diagram. */
export interface RenderedMermaid {
  /** The SVG Mermaid's renderer made, as the page holds it. */
  readonly svg: string;
  /** The screenshot, when one was asked for. */
  readonly png?: Buffer;
}

/**
 * Draws a diagram with Mermaid's browser bundle (the `mermaid` package's dist/mermaid.min.js, no
 * download) in Debian's headless Chromium: one run dumps the page (the SVG, or the error Mermaid
 * threw), a second takes a screenshot sized to the drawing. Each Chromium run has its own profile
 * directory and is killed after `timeoutMs`.
 */
export function renderMermaidInChromium(chromium: string, text: string, options: { screenshot?: boolean; timeoutMs?: number } = {}): RenderedMermaid {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'pyfleet-mermaid-'));
  try {
    const bundle = require.resolve('mermaid/dist/mermaid.min.js');
    const page = path.join(dir, 'page.html');
    const script = `mermaid.initialize({ startOnLoad: false, securityLevel: 'strict', flowchart: { useMaxWidth: false } });
mermaid.render('topology', ${JSON.stringify(text).replace(/</g, '\\u003c')}).then(
  (r) => { document.getElementById('out').innerHTML = r.svg; document.title = 'rendered'; },
  (e) => { document.title = 'error: ' + (e && e.message ? e.message : e); });`;
    fs.writeFileSync(page, `<!doctype html><html><head><meta charset="utf-8"><title>pending</title>
<style>html, body { margin: 0; background: #fff; } #out { display: inline-block; padding: 16px; }</style>
<script src="${pathToFileURL(bundle).href}"></script></head>
<body><div id="out"></div><script>${script}</script></body></html>\n`);
    const run = (extra: string[]): string => execFileSync(chromium, [
      '--headless', '--no-sandbox', '--disable-gpu', '--no-first-run', '--disable-dev-shm-usage', '--hide-scrollbars',
      `--user-data-dir=${path.join(dir, 'profile')}`, '--allow-file-access-from-files', '--virtual-time-budget=20000',
      ...extra, pathToFileURL(page).href,
    ], { encoding: 'utf8', timeout: options.timeoutMs ?? 90_000, stdio: ['ignore', 'pipe', 'pipe'], maxBuffer: 64 * 1024 * 1024 });
    const dom = run(['--dump-dom']);
    const title = /<title>([^<]*)<\/title>/.exec(dom)?.[1] ?? '';
    if (title !== 'rendered') throw new Error(`Mermaid did not render the diagram: ${title}`);
    const svg = /<svg[\s\S]*<\/svg>/.exec(dom)?.[0] ?? '';
    if (!options.screenshot) return { svg };
    // Size the window to the drawing (its width and height attributes, useMaxWidth off) plus the padding.
    const viewBox = /viewBox="([-\d.]+) ([-\d.]+) ([\d.]+) ([\d.]+)"/.exec(svg);
    const [w, h] = viewBox ? [Math.ceil(Number(viewBox[3])) + 32, Math.ceil(Number(viewBox[4])) + 32] : [1600, 900];
    const shot = path.join(dir, 'shot.png');
    run([`--screenshot=${shot}`, `--window-size=${w},${h}`]);
    return { svg, png: fs.readFileSync(shot) };
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}
