import { ChildProcess, spawn, SpawnOptions } from 'child_process';
import * as http from 'http';
import * as net from 'net';

/** A process a test started; always stop it with `stop()` (by PID, bounded). */
export interface Started {
  readonly child: ChildProcess;
  readonly pid: number;
  output(): string;
  /** Sends `signal`, waits up to `timeoutMs` for exit, then SIGKILLs. Resolves with exit info and how long it took. */
  stop(signal?: NodeJS.Signals, timeoutMs?: number): Promise<{ code: number | null; signal: NodeJS.Signals | null; elapsedMs: number; killed: boolean }>;
}

const running = new Set<Started>();

export function start(command: string, args: string[], options: SpawnOptions = {}): Started {
  const child = spawn(command, args, { stdio: ['ignore', 'pipe', 'pipe'], ...options });
  if (!child.pid) throw new Error(`could not start ${command}`);
  let out = '';
  child.stdout?.on('data', (d) => { out += d.toString(); });
  child.stderr?.on('data', (d) => { out += d.toString(); });
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => child.once('exit', (code, signal) => resolve({ code, signal })));
  const started: Started = {
    child,
    pid: child.pid,
    output: () => out,
    async stop(signal = 'SIGTERM', timeoutMs = 15_000) {
      running.delete(started);
      const t0 = Date.now();
      if (child.exitCode !== null || child.signalCode !== null) {
        const r = await exited;
        return { ...r, elapsedMs: 0, killed: false };
      }
      process.kill(child.pid!, signal);
      let timer: NodeJS.Timeout | undefined;
      const timedOut = new Promise<'timeout'>((resolve) => { timer = setTimeout(() => resolve('timeout'), timeoutMs); });
      const r = await Promise.race([exited, timedOut]);
      clearTimeout(timer);
      if (r === 'timeout') {
        try { process.kill(child.pid!, 'SIGKILL'); } catch { /* already gone */ }
        const k = await exited;
        return { ...k, elapsedMs: Date.now() - t0, killed: true };
      }
      return { ...r, elapsedMs: Date.now() - t0, killed: false };
    },
  };
  running.add(started);
  return started;
}

/**
 * Stops every process still running (call from afterAll as a safety net): SIGTERM, then SIGKILL after
 * 5 s. A server killed outright leaves state behind (PostgreSQL its shared-memory segments in /dev/shm).
 */
export async function stopAll(): Promise<void> {
  await Promise.all([...running].map((s) => s.stop('SIGTERM', 5_000)));
}

/** A free TCP port on 127.0.0.1. */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const port = (srv.address() as net.AddressInfo).port;
      srv.close(() => resolve(port));
    });
  });
}

/** One HTTP GET to 127.0.0.1 (or ::1); resolves with status, body and headers. */
export function get(url: string, headers: Record<string, string> = {}, timeoutMs = 5_000): Promise<{ status: number; body: string; headers: http.IncomingHttpHeaders }> {
  const u = new URL(url);
  if (!['127.0.0.1', 'localhost', '[::1]'].includes(u.hostname)) throw new Error(`tests only talk to loopback, not ${u.hostname}`);
  return new Promise((resolve, reject) => {
    const req = http.get(url, { headers, timeout: timeoutMs, agent: false }, (res) => {
      let body = '';
      res.on('data', (d) => { body += d.toString(); });
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body, headers: res.headers }));
    });
    req.on('timeout', () => req.destroy(new Error(`timeout after ${timeoutMs} ms: ${url}`)));
    req.on('error', reject);
  });
}

/** Polls `url` until it answers 2xx, or fails after `timeoutMs` (bounded). */
export async function waitForHttp(url: string, timeoutMs = 30_000, proc?: Started): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let last = '';
  while (Date.now() < deadline) {
    if (proc && (proc.child.exitCode !== null || proc.child.signalCode !== null)) {
      throw new Error(`process exited before ${url} answered:\n${proc.output()}`);
    }
    try {
      const r = await get(url, {}, 2_000);
      if (r.status >= 200 && r.status < 300) return;
      last = `status ${r.status}`;
    } catch (e) {
      last = String(e);
    }
    await new Promise((r) => setTimeout(r, 200));
  }
  throw new Error(`${url} did not answer within ${timeoutMs} ms (${last})${proc ? `\n${proc.output()}` : ''}`);
}
