// What the backing services render to: Kubernetes (strict schemas, Pod Security restricted, the
// Secret referenced and never contained, `$(VAR)` references defined earlier in the same container),
// compose (schemas, dclint, docker-compose 1.29 and the swarm's loader), in each network mode.
import { execFileSync } from 'child_process';
import * as fs from 'fs';
import * as path from 'path';
import * as yaml from 'js-yaml';
import { App, ComposeNetworkMode, ContainerImage, Mesh, MicroService, Postgres, Redis, RedisMode, Size, Stack } from '../../lib';
import { crossObjectProblems, dclint, restrictedProblems, validateComposeSchema, validateKubernetesObject } from '../support/checks';
import { forDockerCompose129, stackConfig, swarmCli } from '../support/docker';
import { haveEngine } from '../support/engines';
import { synth, Synthesized } from '../support/synth';

const image = (n: string): ContainerImage => ContainerImage.fromRegistry(`registry.example.com/${n}:1.0.0`);
const PASSWORDS = { ORDERS_DB_CREDENTIALS_PASSWORD: 'pg-secret-1', CACHE_CREDENTIALS_PASSWORD: 'redis-secret-2', QUEUE_CREDENTIALS_PASSWORD: 'q3' };

function program(app: App, mode = ComposeNetworkMode.BRIDGE, mesh = false): Stack {
  const stack = new Stack(app, 'shop', { namespace: 'shop', compose: { networkMode: mode }, mesh: mesh ? Mesh.istio() : undefined, imageRegistry: 'ghcr.io/acme/shop' });
  const db = new Postgres(stack, 'orders-db', { storage: Size.gibibytes(10), settings: { max_connections: '50' } });
  const cache = new Redis(stack, 'cache', { maxMemory: Size.mebibytes(128) });
  const queue = new Redis(stack, 'queue', { mode: RedisMode.STORE, port: 6380 });
  const users = new MicroService(stack, 'user-service', { image: image('users'), port: 8001, replicas: 1, calls: [cache] });
  new MicroService(stack, 'order-service', { image: image('orders'), port: 8002, replicas: 1, calls: [users, db, cache, queue], env: { MODE: 'prod' } });
  return stack;
}

/** Every `$(VAR)` in a container's env values must name a variable defined earlier in the same container (Kubernetes leaves it unexpanded otherwise). */
function undefinedReferences(objects: any[]): string[] {
  const problems: string[] = [];
  for (const o of objects.filter((x) => x.kind === 'Deployment' || x.kind === 'StatefulSet')) {
    for (const c of o.spec.template.spec.containers) {
      const defined = new Set<string>();
      for (const e of c.env ?? []) {
        for (const m of String(e.value ?? '').matchAll(/\$\(([A-Za-z_][A-Za-z0-9_]*)\)/g)) {
          if (!defined.has(m[1])) problems.push(`${o.kind}/${o.metadata.name}/${c.name}: ${e.name} references $(${m[1]}) before it is defined`);
        }
        defined.add(e.name);
      }
      for (const a of [...(c.args ?? []), ...(c.command ?? [])]) {
        for (const m of String(a).matchAll(/\$\(([A-Za-z_][A-Za-z0-9_]*)\)/g)) if (!defined.has(m[1])) problems.push(`${o.kind}/${o.metadata.name}/${c.name}: an argument references $(${m[1]}), which the container does not define`);
      }
    }
  }
  return problems;
}

describe('backing services on Kubernetes', () => {
  let out: Synthesized;
  let objects: any[];
  beforeAll(() => { out = synth((app) => { program(app, ComposeNetworkMode.BRIDGE, true); }); objects = out.k8s('shop'); });
  afterAll(() => out.cleanup());
  const find = (kind: string, name: string): any => objects.find((o) => o.kind === kind && o.metadata.name === name);

  test('every object passes the strict schema; cross-object rules and Pod Security restricted hold', () => {
    // Istio's kinds are checked against their CRD schemas in test/render/istio.test.ts.
    for (const o of objects.filter((x) => !String(x.apiVersion).includes('istio.io'))) expect(validateKubernetesObject(o)).toEqual([]);
    expect(crossObjectProblems(objects)).toEqual([]);
    for (const name of ['orders-db', 'cache', 'queue']) expect(restrictedProblems(find('StatefulSet', name))).toEqual([]);
  });

  test('Postgres: a StatefulSet with a retained claim, headless and client Services, the image user, probes with pg_isready, limits', () => {
    const s = find('StatefulSet', 'orders-db');
    expect(s.spec).toMatchObject({ replicas: 1, serviceName: 'orders-db-headless', persistentVolumeClaimRetentionPolicy: { whenDeleted: 'Retain', whenScaled: 'Retain' } });
    expect(s.spec.volumeClaimTemplates).toEqual([expect.objectContaining({ metadata: expect.objectContaining({ name: 'data' }), spec: { accessModes: ['ReadWriteOnce'], resources: { requests: { storage: '10Gi' } } } })]);
    const pod = s.spec.template.spec;
    expect(pod.securityContext).toMatchObject({ runAsNonRoot: true, runAsUser: 999, runAsGroup: 999, fsGroup: 999, seccompProfile: { type: 'RuntimeDefault' } });
    const c = pod.containers[0];
    expect(c.image).toBe('postgres:17.2-bookworm');
    expect(c.args).toEqual(['postgres', '-c', 'port=5432', '-c', 'max_connections=50']);
    expect(c.readinessProbe.exec.command).toEqual(['pg_isready', '-q', '-h', '127.0.0.1', '-p', '5432', '-U', 'orders_db', '-d', 'orders_db']);
    expect(c.resources).toEqual({ limits: { cpu: '1000m', memory: '512Mi' }, requests: { cpu: '1000m', memory: '512Mi' } });
    expect(c.volumeMounts).toEqual([{ name: 'data', mountPath: '/var/lib/postgresql/data' }, { name: 'scratch-0', mountPath: '/tmp' }, { name: 'scratch-1', mountPath: '/var/run/postgresql' }]);
    expect(c.env).toContainEqual({ name: 'POSTGRES_PASSWORD', valueFrom: { secretKeyRef: { name: 'orders-db-credentials', key: 'password' } } });
    expect(c.lifecycle.preStop.exec.command.slice(0, 2)).toEqual(['pg_ctl', 'stop']);
    expect(find('Service', 'orders-db').spec).toMatchObject({ type: 'ClusterIP', selector: { app: 'orders-db' }, ports: [{ name: 'postgres', port: 5432, targetPort: 'postgres' }] });
    expect(find('Service', 'orders-db-headless').spec).toMatchObject({ clusterIP: 'None', selector: { app: 'orders-db' } });
  });

  test('Redis: a cache has no claim and no persistence; a store keeps its append-only file on a claim', () => {
    const cache = find('StatefulSet', 'cache');
    expect(cache.spec.volumeClaimTemplates).toBeUndefined();
    expect(cache.spec.template.spec.volumes[0]).toMatchObject({ name: 'data', emptyDir: {} });
    expect(cache.spec.template.spec.containers[0].args).toEqual(expect.arrayContaining(['--appendonly', 'no', '--maxmemory', '128mb', '--maxmemory-policy', 'allkeys-lru']));
    const queue = find('StatefulSet', 'queue');
    expect(queue.spec.volumeClaimTemplates[0].spec.resources.requests.storage).toBe('1Gi');
    expect(queue.spec.template.spec.containers[0].args).toEqual(expect.arrayContaining(['--port', '6380', '--appendonly', 'yes', '--maxmemory-policy', 'noeviction']));
  });

  test('no Secret is contained, no password literal anywhere; callers get the parts, the password by secretKeyRef and the URL after it', () => {
    expect(objects.filter((o) => o.kind === 'Secret')).toEqual([]);
    const text = out.files.get('shop.k8s.yaml')!;
    for (const p of Object.values(PASSWORDS)) expect(text).not.toContain(p);
    const env = find('Deployment', 'order-service-v1').spec.template.spec.containers[0].env;
    expect(env).toContainEqual({ name: 'ORDERS_DB_PASSWORD', valueFrom: { secretKeyRef: { name: 'orders-db-credentials', key: 'password' } } });
    expect(env).toContainEqual({ name: 'ORDERS_DB_URL', value: 'postgresql://orders_db:$(ORDERS_DB_PASSWORD)@orders-db.shop.svc.cluster.local:5432/orders_db' });
    expect(env).toContainEqual({ name: 'CACHE_URL', value: 'redis://:$(CACHE_PASSWORD)@cache.shop.svc.cluster.local:6379/0' });
    expect(env).toContainEqual({ name: 'QUEUE_HOST', value: 'queue.shop.svc.cluster.local' });
    expect(env).toContainEqual({ name: 'MODE', value: 'prod' });
  });

  test('every $(VAR) reference is defined earlier in the same container (and the check catches one that is not)', () => {
    expect(undefinedReferences(objects)).toEqual([]);
    const broken = JSON.parse(JSON.stringify(find('Deployment', 'order-service-v1')));
    const env = broken.spec.template.spec.containers[0].env;
    env.unshift(env.splice(env.findIndex((e: any) => e.name === 'CACHE_URL'), 1)[0]);
    expect(undefinedReferences([broken])).toEqual(['Deployment/order-service-v1/app: CACHE_URL references $(CACHE_PASSWORD) before it is defined']);
  });

  test('StatefulSets come after Services in apply order; Istio admits only the callers\' principals on the store port', () => {
    const kinds = objects.map((o) => o.kind);
    expect(kinds.indexOf('StatefulSet')).toBeGreaterThan(kinds.lastIndexOf('Service'));
    const ap = find('AuthorizationPolicy', 'orders-db');
    expect(ap.spec).toEqual({ action: 'ALLOW', selector: { matchLabels: { app: 'orders-db' } }, rules: [{ from: [{ source: { principals: ['cluster.local/ns/shop/sa/order-service'] } }], to: [{ operation: { ports: ['5432'] } }] }] });
    expect(find('AuthorizationPolicy', 'cache').spec.rules[0].from[0].source.principals).toEqual(['cluster.local/ns/shop/sa/user-service', 'cluster.local/ns/shop/sa/order-service']);
  });

  test('synth notes the Secret to create, with the kubectl command', () => {
    const app = new App({ outdir: '/nonexistent/x' });
    program(app);
    const notes = app.warnings().filter((w) => w.constructPath === 'shop/orders-db');
    expect(notes.map((w) => w.message)).toEqual([expect.stringContaining('kubectl create secret generic orders-db-credentials -n shop --from-literal=password="$(openssl rand -hex 24)"')]);
  });
});

describe('backing services on compose', () => {
  const outs: Synthesized[] = [];
  const make = (mode: ComposeNetworkMode): Synthesized => { const o = synth((app) => { program(app, mode); }); outs.push(o); return o; };
  afterAll(() => outs.forEach((o) => o.cleanup()));

  test.each([ComposeNetworkMode.BRIDGE, ComposeNetworkMode.HOST, ComposeNetworkMode.OVERLAY])('%s: valid against the Compose schema, clean under dclint, no password in the file', (mode) => {
    const out = make(mode);
    const doc = out.compose('shop');
    expect(validateComposeSchema(doc)).toEqual([]);
    expect(dclint(path.join(out.dir, 'shop.compose.yml')).errors).toEqual([]);
    for (const p of Object.values(PASSWORDS)) expect(out.files.get('shop.compose.yml')).not.toContain(p);
  });

  test('bridge: a named volume, healthcheck, restart policy, limits, the image user; callers wait until healthy and share one network per call', () => {
    const doc = make(ComposeNetworkMode.BRIDGE).compose('shop');
    const db = doc.services['orders-db'];
    expect(db).toMatchObject({ image: 'postgres:17.2-bookworm', user: '999:999', read_only: true, restart: 'unless-stopped', stop_signal: 'SIGINT', cap_drop: ['ALL'] });
    expect(db.volumes).toEqual([{ type: 'volume', source: 'orders-db-data', target: '/var/lib/postgresql/data' }]);
    expect(db.tmpfs).toEqual(['/tmp', '/var/run/postgresql']);
    expect(db.healthcheck.test).toEqual(['CMD', 'pg_isready', '-q', '-h', '127.0.0.1', '-p', '5432', '-U', 'orders_db', '-d', 'orders_db']);
    expect(db.environment.POSTGRES_PASSWORD).toBe('${ORDERS_DB_CREDENTIALS_PASSWORD:?set ORDERS_DB_CREDENTIALS_PASSWORD to the password of orders-db}');
    expect(db.deploy.resources.limits).toEqual({ cpus: '1', memory: '512m' });
    expect(doc.volumes).toEqual({ 'orders-db-data': {}, 'queue-data': {} });
    expect(Object.keys(db.networks)).toEqual(['order-service_to_orders-db']);
    expect(Object.keys(doc.services.cache.networks)).toEqual(['order-service_to_cache', 'user-service_to_cache']);
    const orders = doc.services['order-service'];
    expect(orders.depends_on['orders-db']).toEqual({ condition: 'service_healthy', restart: true });
    expect(orders.environment.ORDERS_DB_URL).toBe('postgresql://orders_db:${ORDERS_DB_CREDENTIALS_PASSWORD:?set ORDERS_DB_CREDENTIALS_PASSWORD to the password of orders-db}@orders-db:5432/orders_db');
    expect(orders.environment.ORDERS_DB_HOST).toBe('orders-db');
    expect(doc.services['user-service'].environment.ORDERS_DB_URL).toBeUndefined();
  });

  test('host: the engines listen on loopback, callers reach 127.0.0.1 on the store port; a store port taken by a service is refused', () => {
    const doc = make(ComposeNetworkMode.HOST).compose('shop');
    expect(doc.services['orders-db'].network_mode).toBe('host');
    expect(doc.services['orders-db'].command).toEqual(['postgres', '-c', 'port=5432', '-c', 'max_connections=50', '-c', 'listen_addresses=127.0.0.1']);
    expect(doc.services.queue.command.slice(-2)).toEqual(['--bind', '127.0.0.1']);
    expect(doc.services['order-service'].environment.QUEUE_URL).toMatch(/^redis:\/\/:\$\{QUEUE_CREDENTIALS_PASSWORD:\?[^}]*\}@127\.0\.0\.1:6380\/0$/);
    const app = new App({ outdir: '/nonexistent/x' });
    const s = new Stack(app, 'h', { compose: { networkMode: ComposeNetworkMode.HOST } });
    new MicroService(s, 'api', { image: image('api'), port: 5432, replicas: 1 });
    new Postgres(s, 'db');
    expect(() => app.synthesize()).toThrow(/h\/db: port 5432 is already taken by "h\/api".*Fix: give the backing service another port/);
  });

  const dc = haveEngine('docker-compose', 'apt-get install docker-compose');
  (dc ? test : test.skip).each([ComposeNetworkMode.BRIDGE, ComposeNetworkMode.HOST])('docker-compose 1.29 accepts the %s project and interpolates the passwords from the shell', (mode) => {
    const out = make(mode);
    const file = path.join(out.dir, 'compat.compose.yml');
    fs.writeFileSync(file, yaml.dump(forDockerCompose129(out.compose('shop'))));
    const printed = execFileSync('docker-compose', ['-p', 'shop', '-f', file, 'config'], { cwd: out.dir, env: { ...process.env, ...PASSWORDS }, encoding: 'utf8', timeout: 60_000 });
    const resolved = yaml.load(printed) as any;
    const host = mode === ComposeNetworkMode.HOST ? '127.0.0.1' : 'orders-db';
    expect(resolved.services['order-service'].environment.ORDERS_DB_URL).toBe(`postgresql://orders_db:pg-secret-1@${host}:5432/orders_db`);
    expect(resolved.services.cache.command).toEqual(expect.arrayContaining(['--requirepass', 'redis-secret-2']));
    expect(resolved.volumes).toEqual({ 'orders-db-data': {}, 'queue-data': {} });
    const run = () => execFileSync('docker-compose', ['-p', 'shop', '-f', file, 'config', '-q'], { cwd: out.dir, env: { ...process.env, ...PASSWORDS, ORDERS_DB_CREDENTIALS_PASSWORD: '' }, encoding: 'utf8', stdio: 'pipe', timeout: 60_000 });
    expect(run).toThrow(/ORDERS_DB_CREDENTIALS_PASSWORD/);
  });

  const cli = swarmCli();
  (cli ? test : test.skip)('overlay: the swarm loader accepts it; tmpfs mounts in volumes, stop-first updates, no start order', () => {
    const out = make(ComposeNetworkMode.OVERLAY);
    const resolved = stackConfig(cli!, path.join(out.dir, 'shop.compose.yml'), PASSWORDS);
    const db = resolved.services['orders-db'];
    expect(db.environment.POSTGRES_PASSWORD).toBe('pg-secret-1');
    expect(db.deploy.update_config.order).toBe('stop-first');
    expect(db.volumes).toEqual(expect.arrayContaining([expect.objectContaining({ type: 'volume', source: 'orders-db-data', target: '/var/lib/postgresql/data' }), expect.objectContaining({ type: 'tmpfs', target: '/var/run/postgresql' })]));
    expect(resolved.services['order-service'].depends_on).toBeUndefined();
    expect(resolved.services['order-service'].environment.CACHE_URL).toBe('redis://:redis-secret-2@cache:6379/0');
  });
});

describe('backing services in the topology', () => {
  test("Mermaid's parser reads a cylinder per store and the call edges with their URL variables", () => {
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    const { mermaidBlock, parseMermaid } = require('../support/mermaid') as typeof import('../support/mermaid');
    const out = synth((app) => { program(app, ComposeNetworkMode.BRIDGE, true); });
    try {
      const [p] = parseMermaid([mermaidBlock(out.files.get('shop.topology.md')!)]);
      expect(p.error).toBeUndefined();
      const db = p.vertices!.find((v) => v.id === 'db_orders_db')!;
      expect(db.type).toBe('cylinder');
      expect(db.text.split(/<br\s*\/?>|\n/)).toEqual(['<b>orders-db</b>', 'postgres:17.2-bookworm :5432', 'database orders_db, user orders_db', 'volume 10Gi', 'secret orders-db-credentials']);
      expect(p.edges!.filter((e) => e.start === 'svc_order_service' && e.end.startsWith('db_')).map((e) => `${e.end} ${e.text}`))
        .toEqual(['db_orders_db ORDERS_DB_URL, mTLS', 'db_cache CACHE_URL, mTLS', 'db_queue QUEUE_URL, mTLS']);
      const json = JSON.parse(out.files.get('shop.topology.json')!);
      expect(json.nodes.find((n: any) => n.id === 'db_cache').details).toEqual(['redis:7.4.1-bookworm :6379', 'Redis cache, maxmemory 128 MiB allkeys-lru', 'no volume', 'secret cache-credentials']);
    } finally {
      out.cleanup();
    }
  });
});
