// The race of a DockerHostDeployment release behind the gateway on a bridge network, replayed on
// loopback with the real HAProxy and the generated gateway configuration: Docker's DNS answers a
// version's containers, Pulumi creates the new release's container (it joins the network, so DNS answers
// it, when it starts), waits until Docker reports it healthy (`wait`), then deletes the old one (SIGTERM:
// the server stops accepting, finishes what it has, exits and leaves DNS). Tests send no traffic to
// bridge addresses, so Docker's DNS is played by a small DNS server on 127.0.0.1 and every container by
// a loopback server on a port of its own: the config differs from the compose one only in the resolver's
// address and in naming the version by an SRV record (which carries each server's port, where Docker's
// A records all share the service port). What is measured: failed requests and the longest request
// under a steady load through the gateway while the release happens, with the timings of the model's
// default health check.
import * as dgram from 'dgram';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import * as dnsPacket from 'dns-packet';
import { App, ContainerImage, HealthCheck, Mesh, MeshRoute, MicroService, Stack } from '../../lib';
import { GATEWAY_LUA, gatewayConfig } from '../../lib/render/compose/gateway';
import { haveEngine } from '../support/engines';
import { freePort, start, Started, waitForHttp } from '../support/process';
import { Backend, request, startBackend } from './backends';

const HAVE = haveEngine('haproxy', 'apt-get install haproxy');
const d = HAVE ? describe : describe.skip;
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** Docker's embedded DNS, played on loopback: the SRV record of a version lists its live containers. */
class FakeDockerDns {
  /** Ports of the containers DNS answers now. */
  public ports: number[] = [];
  private readonly socket = dgram.createSocket('udp4');
  constructor(private readonly srvName: string) {
    this.socket.on('message', (msg, rinfo) => {
      let query: dnsPacket.Packet;
      try {
        query = dnsPacket.decode(msg);
      } catch {
        return;
      }
      const q = query.questions?.[0];
      const answers: dnsPacket.Answer[] = [];
      const additionals: dnsPacket.Answer[] = [];
      const known = q && q.name.toLowerCase() === this.srvName;
      if (known && q.type === 'SRV') {
        for (const port of this.ports) {
          const target = `c${port}.pyfleet.test`;
          answers.push({ type: 'SRV', name: q.name, ttl: 1, class: 'IN', data: { priority: 0, weight: 1, port, target } });
          additionals.push({ type: 'A', name: target, ttl: 1, class: 'IN', data: '127.0.0.1' });
        }
      } else if (q && q.type === 'A' && /^c\d+\.pyfleet\.test$/.test(q.name) && this.ports.includes(Number(q.name.slice(1).split('.')[0]))) {
        answers.push({ type: 'A', name: q.name, ttl: 1, class: 'IN', data: '127.0.0.1' });
      }
      const reply = dnsPacket.encode({
        type: 'response', id: query.id, flags: dnsPacket.RECURSION_DESIRED | dnsPacket.RECURSION_AVAILABLE | (answers.length === 0 && !known ? 3 : 0),
        questions: query.questions, answers, additionals,
      });
      this.socket.send(reply, rinfo.port, rinfo.address);
    });
  }
  listen(port: number): Promise<void> {
    return new Promise((resolve) => this.socket.bind(port, '127.0.0.1', () => resolve()));
  }
  close(): Promise<void> {
    return new Promise((resolve) => this.socket.close(() => resolve()));
  }
}


d('a DockerHostDeployment release behind the gateway, replayed on loopback (real haproxy, DNS-discovered servers)', () => {
  let tmp: string;
  const procs: Started[] = [];
  const backends: Backend[] = [];
  let dns: FakeDockerDns | undefined;

  beforeAll(() => { tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'pyfleet-gwdns-')); });
  afterAll(async () => {
    for (const p of procs) await p.stop('SIGTERM', 5_000);
    for (const b of backends) await b.close();
    await dns?.close();
    fs.rmSync(tmp, { recursive: true, force: true });
  });

  test('requests keep succeeding while the new container joins DNS, turns healthy and the old one stops', async () => {
    const app = new App({ outdir: path.join(tmp, 'out') });
    const stack = new Stack(app, 'shop', { mesh: Mesh.istio() });
    // The model's default health check (10 s interval, 2 s timeout, 30 s start period, 3 failures).
    const svc = new MicroService(stack, 'orders', {
      image: ContainerImage.fromRegistry('registry.example.com/orders:1.0.0'), port: 8002, replicas: 1, healthCheck: HealthCheck.http('/healthz'),
    });
    new MeshRoute(stack, 'route', { service: svc, rules: [{ split: [{ to: svc.defaultVersion, weight: 100 }] }] });
    app.synthesize();

    const dnsPort = await freePort();
    const port = await freePort();
    const healthPort = await freePort();
    const luaPath = path.join(tmp, 'gw.lua');
    fs.writeFileSync(luaPath, GATEWAY_LUA);
    let cfg = gatewayConfig(svc, { bind: `127.0.0.1:${port}`, healthBind: `127.0.0.1:${healthPort}`, luaPath });
    // The two differences from the compose file, each applied exactly once.
    const replace = (from: RegExp, to: string): void => {
      expect(cfg.match(new RegExp(from.source, 'gm'))).toHaveLength(1);
      cfg = cfg.replace(from, to);
    };
    replace(/nameserver dns 127\.0\.0\.11:53/, `nameserver dns 127.0.0.1:${dnsPort}`);
    replace(/server-template v1- (\d+) orders-v1:8002 /, 'server-template v1- $1 _http._tcp.orders-v1 ');
    expect(cfg).toMatch(/option redispatch 1/);
    expect(cfg).toMatch(/hold valid 5s/);

    dns = new FakeDockerDns('_http._tcp.orders-v1');
    await dns.listen(dnsPort);
    const oldC = await startBackend('old');
    backends.push(oldC);
    dns.ports = [oldC.port];
    const file = path.join(tmp, 'gw.cfg');
    fs.writeFileSync(file, cfg);
    const proxy = start('haproxy', ['-db', '-f', file]);
    procs.push(proxy);
    await waitForHttp(`http://127.0.0.1:${healthPort}/healthz`, 15_000, proxy);
    const url = `http://127.0.0.1:${port}/orders`;
    // The gateway has resolved the old container.
    for (let i = 0; ; i++) {
      const r = await request(url).catch(() => undefined);
      if (r?.status === 200) break;
      if (i > 100) throw new Error('the gateway never served the old container');
      await sleep(100);
    }

    // A steady load: 8 clients, each one request after another.
    const results: Array<{ at: number; status: number; ms: number; by?: string; error?: string }> = [];
    let running = true;
    const t0 = Date.now();
    const client = async (): Promise<void> => {
      while (running) {
        const at = Date.now() - t0;
        try {
          const r = await request(url, { timeoutMs: 30_000 });
          results.push({ at, status: r.status, ms: r.ms, by: r.headers['x-backend'] as string | undefined });
        } catch (e) {
          results.push({ at, status: 0, ms: Date.now() - t0 - at, error: String(e) });
        }
      }
    };
    const clients = Array.from({ length: 8 }, () => client());

    await sleep(1_000);
    // Pulumi creates the new release's container: it joins the network when it starts.
    const newC = await startBackend('new');
    backends.push(newC);
    const joined = Date.now() - t0;
    dns.ports = [oldC.port, newC.port];
    // `wait`: Docker runs the first health check after start_interval (1 s) and reports healthy; that is
    // the earliest Pulumi goes on to delete the old container.
    await sleep(1_000);
    const stopped = Date.now() - t0;
    // SIGTERM: the old container stops accepting connections and finishes what it has, then exits.
    await oldC.drain();
    // The old container has exited: it leaves the network and DNS.
    dns.ports = [newC.port];
    const gone = Date.now() - t0;
    await sleep(7_000); // past `hold valid 5s`
    running = false;
    await Promise.all(clients);

    const failed = results.filter((r) => r.status !== 200);
    const longest = Math.max(...results.map((r) => r.ms));
    const firstNew = results.find((r) => r.by === 'new')?.at;
    // eslint-disable-next-line no-console
    if (process.env.PYFLEET_REPORT_FIGURES) console.log(`release replay: ${results.length} requests, ${failed.length} failed, longest ${longest} ms; new joined DNS at ${joined} ms, first answered at ${firstNew} ms; old stopped at ${stopped} ms, left DNS at ${gone} ms`);
    expect(results.length).toBeGreaterThan(500);
    expect(failed).toEqual([]);
    // Traffic moved to the new container, and after the old one stopped only the new one answers.
    expect(firstNew).toBeDefined();
    expect(results.filter((r) => r.at > gone + 100).every((r) => r.by === 'new')).toBe(true);
  }, 60_000);
});
