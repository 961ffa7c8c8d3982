import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import * as yaml from 'js-yaml';
import { App } from '../../lib';
import { gatewayConfig } from '../../lib/render/compose/gateway';
import { buildCanary } from '../../examples/canary/main';
import { Backend, pool, request, startBackend } from '../e2e/backends';
import { haveEngine } from '../support/engines';
import { freePort, start, stopAll, waitForHttp } from '../support/process';

let outdir: string;
beforeAll(() => { outdir = fs.mkdtempSync(path.join(os.tmpdir(), 'pyfleet-canary-')); });
afterAll(async () => {
  await stopAll();
  fs.rmSync(outdir, { recursive: true, force: true });
});

describe('examples/canary', () => {
  test('synth writes Istio resources that say what the example promises', () => {
    const app = new App({ outdir });
    buildCanary(app);
    app.synth();
    const objs = yaml.loadAll(fs.readFileSync(path.join(outdir, 'canary.k8s.yaml'), 'utf8')) as any[];
    const vs = objs.find((o) => o.kind === 'VirtualService' && o.metadata.name === 'order-service');
    expect(vs.spec.http[0].match).toEqual([{ uri: { prefix: '/api/v2' } }]);
    expect(vs.spec.http[0].route.map((r: any) => r.destination.subset)).toEqual(['v2']);
    expect(vs.spec.http[1].match).toBeUndefined();
    expect(vs.spec.http[1].route.map((r: any) => [r.destination.subset, r.weight])).toEqual([['v1', 70], ['v2', 30]]);
    const dr = objs.find((o) => o.kind === 'DestinationRule' && o.metadata.name === 'order-service');
    expect(dr.spec.trafficPolicy.connectionPool).toEqual({ tcp: { maxConnections: 100 } });
    expect(dr.spec.trafficPolicy.outlierDetection).toEqual({ consecutive5xxErrors: 5, interval: '10s', baseEjectionTime: '30s' });
    const compose = yaml.load(fs.readFileSync(path.join(outdir, 'canary.compose.yml'), 'utf8')) as any;
    expect(Object.keys(compose.services).sort()).toEqual(['order-service', 'order-service-v1', 'order-service-v2', 'user-service']);
    expect(compose.services['order-service'].ports).toEqual(['0.0.0.0:80:8002/tcp']);
    const cfg = fs.readFileSync(path.join(outdir, 'canary.compose/order-service-gateway.cfg'), 'utf8');
    // Two replicas of v1, a spare server slot each for releases.
    expect(cfg).toMatch(/server-template v1- 4 order-service-v1:8002 .*inter 10s .*rise 4 .*error-limit 5 on-error mark-down maxconn 100/);
  });

  const HAVE = haveEngine('haproxy', 'apt-get install haproxy');
  (HAVE ? test : test.skip)('the example gateway routes /api/v2 to v2 and splits the rest 70/30 (real haproxy)', async () => {
    const app = new App({ outdir });
    const stack = buildCanary(app);
    app.synthesize();
    const orders = stack.services.find((s) => s.serviceName === 'order-service')!;
    const v1: Backend = await startBackend('v1');
    const v2: Backend = await startBackend('v2');
    try {
      const port = await freePort();
      const healthPort = await freePort();
      const file = path.join(outdir, 'gw.cfg');
      fs.writeFileSync(file, gatewayConfig(orders, { addresses: { 'order-service-v1': [v1.address], 'order-service-v2': [v2.address] }, bind: `127.0.0.1:${port}`, healthBind: `127.0.0.1:${healthPort}` }));
      const proc = start('haproxy', ['-db', '-f', file]);
      try {
        await waitForHttp(`http://127.0.0.1:${healthPort}/healthz`, 15_000, proc);
        for (let i = 0; i < 50; i++) expect(JSON.parse((await request(`http://127.0.0.1:${port}/api/v2/orders/${i}`)).body).version).toBe('v2');
        const rest = await pool(2000, 16, (i) => request(`http://127.0.0.1:${port}/api/orders/${i}`));
        const share = (100 * rest.filter((r) => JSON.parse(r.body).version === 'v1').length) / rest.length;
        expect(Math.abs(share - 70)).toBeLessThanOrEqual(5);
      } finally {
        await proc.stop('SIGTERM', 5_000);
      }
    } finally {
      await v1.close();
      await v2.close();
    }
  });
});
