import * as net from 'net';

// A client of HAProxy's runtime API (the `stats socket` of the gateway, admin level). Each command goes
// on its own connection (non-interactive mode): HAProxy answers and closes.

/** One server of a backend, as `show servers state` reports it. */
export interface ServerState {
  readonly backend: string;
  readonly server: string;
  readonly address: string;
  /** 0 stopped (down), 1 starting, 2 running (up), 3 soft-stopping. */
  readonly opState: number;
  /** Bit field: 0x01 forced maintenance, 0x08 forced drain (and others). */
  readonly adminState: number;
  /** The weight set at run time. */
  readonly weight: number;
}

/** Where the runtime API listens: `127.0.0.1:<port>`, `ipv4@...` or a unix socket path. */
export class RuntimeApi {
  constructor(private readonly address: string, private readonly timeoutMs = 10_000) {}

  /** Sends one command; resolves to the answer (an empty answer is success for `set` commands). */
  public command(cmd: string): Promise<string> {
    const a = this.address.replace(/^ipv4@/, '');
    const m = /^([^/:]+):(\d+)$/.exec(a);
    return new Promise((resolve, reject) => {
      const socket = m ? net.connect({ host: m[1], port: Number(m[2]) }) : net.connect({ path: a });
      let data = '';
      const timer = setTimeout(() => { socket.destroy(); reject(new Error(`the gateway's runtime API at ${this.address} did not answer "${cmd}" within ${this.timeoutMs} ms`)); }, this.timeoutMs);
      socket.setEncoding('utf8');
      socket.on('connect', () => socket.write(`${cmd}\n`));
      socket.on('data', (d: string) => { data += d; });
      socket.on('error', (e) => { clearTimeout(timer); reject(new Error(`cannot reach the gateway's runtime API at ${this.address} (${e.message}): is the gateway of this service running?`)); });
      socket.on('close', () => { clearTimeout(timer); resolve(data); });
    });
  }

  /** Sends a `set`/`del`/`add` command and fails on any answer but the empty one. */
  public async set(cmd: string): Promise<void> {
    const answer = (await this.command(cmd)).trim();
    if (answer !== '' && !/^(Health check status changed|.*changed from .* to )/.test(answer)) {
      throw new Error(`the gateway refused "${cmd}": ${answer}`);
    }
  }

  /** The servers of a backend. */
  public async servers(backend: string): Promise<ServerState[]> {
    const out = await this.command(`show servers state ${backend}`);
    const lines = out.split('\n');
    const header = lines.find((l) => l.startsWith('# be_id'));
    if (!header) throw new Error(`unexpected answer of the gateway to "show servers state ${backend}": ${out.trim().slice(0, 300)}`);
    const cols = header.slice(2).trim().split(/\s+/);
    const col = (f: string[], name: string): string => f[cols.indexOf(name)];
    return lines.filter((l) => /^\d+ /.test(l)).map((l) => l.trim().split(/\s+/)).map((f) => ({
      backend: col(f, 'be_name'),
      server: col(f, 'srv_name'),
      address: `${col(f, 'srv_addr')}:${col(f, 'srv_port')}`,
      opState: Number(col(f, 'srv_op_state')),
      adminState: Number(col(f, 'srv_admin_state')),
      weight: Number(col(f, 'srv_uweight')),
    }));
  }

  /** One server's state. */
  public async server(backend: string, server: string): Promise<ServerState> {
    const s = (await this.servers(backend)).find((x) => x.server === server);
    if (!s) throw new Error(`the gateway has no server ${backend}/${server}: the running gateway is older than the compose file; restart it once (docker compose up -d) and release again`);
    return s;
  }

  /** Requests in flight on a server and queued for it (`show stat` scur + qcur). */
  public async inFlight(backend: string, server: string): Promise<number> {
    const out = await this.command(`show stat ${backend} 4 -1`);
    const lines = out.split('\n');
    const cols = (lines[0] ?? '').replace(/^# /, '').split(',');
    for (const l of lines.slice(1)) {
      const f = l.split(',');
      if (f[0] === backend && f[1] === server) return Number(f[cols.indexOf('scur')] || 0) + Number(f[cols.indexOf('qcur')] || 0);
    }
    throw new Error(`the gateway reports no statistics for ${backend}/${server}`);
  }
}

/** Whether a server is forced into maintenance (admin state bit 0x01). */
export function inMaintenance(s: ServerState): boolean {
  return (s.adminState & 0x01) !== 0;
}
