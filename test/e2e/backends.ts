import * as http from 'http';
import * as net from 'net';

/** How a test backend answers requests other than its health check. */
export type BackendMode = 'ok' | 'fail' | 'flaky' | 'slow';

/** A small HTTP server on 127.0.0.1 that answers with its version; a test can make it fail or slow. */
export interface Backend {
  readonly name: string;
  readonly port: number;
  readonly address: string;
  mode: BackendMode;
  /** Status of failing answers. */
  failStatus: number;
  /** Delay of slow answers, ms. */
  delayMs: number;
  /** Requests seen (health checks excluded), with method, path and headers. */
  readonly seen: Array<{ method: string; path: string; headers: http.IncomingHttpHeaders }>;
  /** Requests in flight now / at most. */
  inFlight: number;
  maxInFlight: number;
  close(): Promise<void>;
  /** Stops accepting connections (as gunicorn on SIGTERM), lets in-flight requests finish, resolves once every connection is closed. */
  drain(): Promise<void>;
}

export async function startBackend(name: string): Promise<Backend> {
  const sockets = new Set<net.Socket>();
  let counter = 0;
  const b: any = { name, mode: 'ok', failStatus: 500, delayMs: 0, seen: [], inFlight: 0, maxInFlight: 0 };
  const server = http.createServer((req, res) => {
    if (req.url === '/healthz') { res.writeHead(200, { 'content-type': 'text/plain' }); res.end('ok'); return; }
    b.seen.push({ method: req.method, path: req.url, headers: req.headers });
    b.inFlight++;
    b.maxInFlight = Math.max(b.maxInFlight, b.inFlight);
    const answer = (status: number): void => {
      b.inFlight--;
      if (res.destroyed) return;
      res.writeHead(status, { 'content-type': 'application/json', 'x-backend': name });
      res.end(JSON.stringify({ version: name, path: req.url, headers: req.headers }));
    };
    req.resume();
    req.on('end', () => {
      counter++;
      if (b.mode === 'fail') return answer(b.failStatus);
      if (b.mode === 'flaky') return answer(counter % 2 === 1 ? b.failStatus : 200);
      if (b.mode === 'slow') { setTimeout(() => answer(200), b.delayMs); return; }
      answer(200);
    });
  });
  server.on('connection', (s) => { sockets.add(s); s.on('close', () => sockets.delete(s)); });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
  b.port = (server.address() as net.AddressInfo).port;
  b.address = `127.0.0.1:${b.port}`;
  b.close = () => new Promise<void>((resolve) => {
    for (const s of sockets) s.destroy();
    if (!server.listening) { resolve(); return; }
    server.close(() => resolve());
  });
  b.drain = () => new Promise<void>((resolve) => {
    server.close(() => resolve());
    server.closeIdleConnections();
  });
  return b as Backend;
}

/** One request through a fresh connection; resolves with status, body and headers (bounded by timeoutMs). */
export function request(url: string, options: { method?: string; headers?: Record<string, string>; timeoutMs?: number } = {}): Promise<{ status: number; body: string; headers: http.IncomingHttpHeaders; ms: number }> {
  const u = new URL(url);
  if (u.hostname !== '127.0.0.1') throw new Error('tests only talk to 127.0.0.1');
  const t0 = Date.now();
  return new Promise((resolve, reject) => {
    const req = http.request(url, { method: options.method ?? 'GET', headers: options.headers, agent: false, timeout: options.timeoutMs ?? 10_000 }, (res) => {
      let body = '';
      res.on('data', (d) => { body += d.toString(); });
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body, headers: res.headers, ms: Date.now() - t0 }));
    });
    req.on('timeout', () => req.destroy(new Error(`timeout: ${url}`)));
    req.on('error', reject);
    req.end(options.method === 'POST' || options.method === 'PATCH' ? '{}' : undefined);
  });
}

/** Runs `count` calls of `fn` with at most `concurrency` at once. */
export async function pool<T>(count: number, concurrency: number, fn: (i: number) => Promise<T>): Promise<T[]> {
  const out: T[] = new Array(count);
  let next = 0;
  await Promise.all(Array.from({ length: Math.min(concurrency, count) }, async () => {
    while (next < count) {
      const i = next++;
      out[i] = await fn(i);
    }
  }));
  return out;
}
