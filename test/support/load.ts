// A bounded HTTP load for the release tests and the release benchmark: GETs at a fixed concurrency over
// keep-alive connections, a fixed number of them or until a promise settles (then one second more),
// recording each outcome and the longest latency. Traffic goes to 127.0.0.1 only.
import * as http from 'http';
import * as net from 'net';
import { freePort } from './process';

/** What a bounded load saw. */
export interface Load {
  readonly ok: number;
  readonly failed: number;
  /** The first failures (status or error), at most 10. */
  readonly errors: string[];
  /** Bodies of the successful answers, in the order they arrived. */
  readonly bodies: string[];
  /** Longest request, milliseconds. */
  readonly maxLatencyMs: number;
}

/** Runs a bounded load on `url`. */
export async function load(url: string, options: { requests?: number; until?: Promise<unknown>; concurrency: number; tailMs?: number }): Promise<Load> {
  if (!/^http:\/\/(127\.0\.0\.1|\[::1\])[:/]/.test(url)) throw new Error(`load goes to loopback only, not ${url}`);
  if (options.requests === undefined && options.until === undefined) throw new Error('bounded loads only: give requests or until');
  const agent = new http.Agent({ keepAlive: true, maxSockets: options.concurrency });
  const bodies: string[] = [];
  const errors: string[] = [];
  let failed = 0;
  let ok = 0;
  let started = 0;
  let maxLatencyMs = 0;
  let stopAt = Infinity;
  let stop = false;
  const settle = () => { stopAt = Date.now() + (options.tailMs ?? 1000); };
  options.until?.then(settle, settle);
  const one = () => new Promise<void>((resolve) => {
    const t0 = Date.now();
    const done = () => { maxLatencyMs = Math.max(maxLatencyMs, Date.now() - t0); resolve(); };
    const req = http.get(url, { agent, timeout: 30_000 }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (d) => { body += d; });
      res.on('end', () => {
        if (res.statusCode === 200) { ok++; bodies.push(body); } else { failed++; if (errors.length < 10) errors.push(`HTTP ${res.statusCode}: ${body.slice(0, 100)}`); }
        done();
      });
    });
    req.on('timeout', () => req.destroy(new Error('timeout')));
    req.on('error', (e) => { failed++; if (errors.length < 10) errors.push(e.message); done(); });
  });
  const worker = async () => {
    for (;;) {
      if (stop || Date.now() > stopAt) return;
      if (options.requests !== undefined && started >= options.requests) return;
      started++;
      await one();
    }
  };
  const safety = setTimeout(() => { stop = true; }, 600_000);
  await Promise.all(Array.from({ length: options.concurrency }, worker));
  clearTimeout(safety);
  agent.destroy();
  return { ok, failed, errors, bodies, maxLatencyMs };
}

/** A port p such that p .. p+count-1 are free on 127.0.0.1. */
export async function freeBlock(count: number): Promise<number> {
  for (let attempt = 0; attempt < 50; attempt++) {
    const p = await freePort();
    if (p + count > 65535) continue;
    let free = true;
    for (let i = 0; i < count && free; i++) {
      free = await new Promise<boolean>((resolve) => {
        const s = net.createServer();
        s.once('error', () => resolve(false));
        s.listen(p + i, '127.0.0.1', () => s.close(() => resolve(true)));
      });
    }
    if (free) return p;
  }
  throw new Error('no block of free ports on 127.0.0.1');
}
