// Metrics and logs of the generated Python apps, in the model and every output: the `metrics` port
// (Kubernetes Service and container, EXPOSE, never published on compose, never opened to callers by
// NetworkPolicies or AuthorizationPolicies), the generated files, the version env of the access log,
// compose log rotation, and the errors for bad props. The generated files run for real in
// test/e2e/metrics.test.ts and test/e2e/gunicorn.test.ts.
import { execFileSync } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import {
  App, ComposeNetworkMode, ContainerImage, DEFAULT_METRICS_PORT, FastApiApp, GunicornFlaskApp, Mesh, MicroService, PyfleetError, PyfleetValidationError, Size, Stack, StackProps,
} from '../../lib';
import { BUILTIN_BUILD_GENERATORS } from '../../lib/render/image';
import { imageAsset } from '../../lib/service/asset';

const ROOT = path.join(__dirname, '..', '..');
const FLASK = path.join(ROOT, 'examples', 'flask-gunicorn', 'app');
const USERS = path.join(ROOT, 'examples', 'shop', 'services', 'user');

function build(props: StackProps = {}, metrics?: boolean | { port?: number }) {
  const app = new App({ outdir: '/nonexistent-pyfleet-test' });
  const stack = new Stack(app, 'shop', props);
  const users = new FastApiApp(stack, 'users', { source: USERS, port: 8001, metrics });
  const orders = new GunicornFlaskApp(stack, 'orders', { source: FLASK, port: 8002, calls: [users], expose: { port: 80 } });
  return { app, stack, users, orders };
}

const out = (app: App) => app.synthesize()[0];
const kube = (app: App): any[] => out(app).kubernetes as any[];
const find = (objs: any[], kind: string, name: string): any => objs.find((o) => o.kind === kind && o.metadata.name === name);

describe('the metrics port', () => {
  test('on by default: port 9100 named metrics on the Service and the container', () => {
    const { app, users } = build();
    expect(users.metricsPort).toBe(DEFAULT_METRICS_PORT);
    expect(users.additionalPorts).toEqual({ metrics: 9100 });
    const objs = kube(app);
    expect(find(objs, 'Service', 'users').spec.ports).toContainEqual({ name: 'metrics', port: 9100, targetPort: 'metrics', protocol: 'TCP' });
    const container = find(objs, 'Deployment', 'users-v1').spec.template.spec.containers[0];
    expect(container.ports).toContainEqual({ name: 'metrics', containerPort: 9100, protocol: 'TCP' });
    expect(out(app).model.service('users').settings.metricsPort).toBe(9100);
  });

  test('metrics: { port } moves it; metrics: false removes it and prometheus-client from the image', () => {
    const moved = build({}, { port: 9300 });
    expect(find(kube(moved.app), 'Service', 'users').spec.ports.map((p: any) => `${p.name}:${p.port}`)).toEqual(['http:8001', 'metrics:9300']);
    const off = build({}, false);
    expect(off.users.metricsPort).toBeUndefined();
    expect(find(kube(off.app), 'Service', 'users').spec.ports.map((p: any) => p.name)).toEqual(['http']);
    const files = imageAsset(off.users.image, BUILTIN_BUILD_GENERATORS).generated;
    expect(Object.keys(files).sort()).toEqual(['.dockerignore', 'Dockerfile', 'gunicorn.conf.py', 'pyfleet_app.py']);
    expect(files.Dockerfile).toMatch(/^EXPOSE 8001$/m);
    expect(files['gunicorn.conf.py']).not.toMatch(/prometheus|child_exit/);
    expect(files['pyfleet_app.py']).toMatch(/^_METRICS = False$/m);
  });

  test('NetworkPolicies and AuthorizationPolicies never open it to callers (no monitoring in the model yet)', () => {
    const { app } = build({ mesh: Mesh.istio() });
    const objs = kube(app);
    const np = find(objs, 'NetworkPolicy', 'users');
    const ingressPorts = np.spec.ingress.flatMap((r: any) => r.ports.map((p: any) => p.port));
    expect(ingressPorts).toEqual(['http']);
    const egress = find(objs, 'NetworkPolicy', 'orders').spec.egress.find((r: any) => r.to?.[0]?.podSelector?.matchLabels?.app === 'users');
    expect(egress.ports.map((p: any) => p.port)).toEqual(['http']);
    const authz = objs.filter((o) => o.kind === 'AuthorizationPolicy' && JSON.stringify(o.spec).includes('orders'));
    expect(authz.length).toBeGreaterThan(0);
    for (const a of authz) expect(JSON.stringify(a.spec)).not.toContain('"9100"');
  });

  test('compose: never published (host network mode binds it on loopback: test/render/compose.test.ts)', () => {
    const bridge = out(build().app).compose!;
    for (const s of Object.values<any>(bridge.services)) for (const p of s.ports ?? []) expect(p).not.toMatch(/9100/);
    expect(bridge.services.orders.ports).toEqual(['0.0.0.0:80:8002/tcp']);
  });

  test('clashes are refused with the construct path and the fix', () => {
    const app = new App({ outdir: '/nonexistent-pyfleet-test' });
    const stack = new Stack(app, 'shop');
    expect(() => new FastApiApp(stack, 'a', { source: USERS, port: 9100 })).toThrow(/shop\/a.*the metrics port 9100 clashes with the service's HTTP port 9100.*metrics: \{ port: <another port> \} \(e\.g\. 9101\)/s);
    expect(() => new FastApiApp(stack, 'b', { source: USERS, additionalPorts: { admin: 9200 }, metrics: { port: 9200 } })).toThrow(/shop\/b.*clashes with additional port "admin" \(9200\)/s);
    expect(() => new FastApiApp(stack, 'c', { source: USERS, additionalPorts: { metrics: 9300 } })).toThrow(/additionalPorts names a port "metrics".*metrics: \{ port \}/s);
    expect(() => new FastApiApp(stack, 'd', { source: USERS, metrics: { port: 70000 } })).toThrow(PyfleetError);
    expect(() => new FastApiApp(stack, 'e', { source: USERS, metrics: 'yes' as any })).toThrow(/metrics must be true, false or \{ port \}/);
    // Compose host mode: every metrics port is a host port; two services on 9100 collide at synth.
    const happ = new App({ outdir: '/nonexistent-pyfleet-test' });
    const h = new Stack(happ, 'vps', { compose: { networkMode: ComposeNetworkMode.HOST } });
    new FastApiApp(h, 'one', { source: USERS, port: 8001, replicas: 1 });
    new FastApiApp(h, 'two', { source: USERS, port: 8002, replicas: 1 });
    let err: unknown;
    try { happ.synthesize(); } catch (e) { err = e; }
    expect(err).toBeInstanceOf(PyfleetValidationError);
    expect(String((err as Error).message)).toMatch(/vps\/two.*host port 9100 is already taken by "vps\/one".*a metrics port is a host port too.*metrics: \{ port: 9101 \}/s);
  });

  test('prometheus-client is added, pinned, unless the requirements list it', () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'pyfleet-metrics-src-'));
    fs.copyFileSync(path.join(USERS, 'app.py'), path.join(dir, 'app.py'));
    fs.writeFileSync(path.join(dir, 'requirements.txt'), `${fs.readFileSync(path.join(USERS, 'requirements.txt'), 'utf8')}\nprometheus_client==0.25.0\n`);
    try {
      const app = new App({ outdir: '/nonexistent-pyfleet-test' });
      const svc = new FastApiApp(new Stack(app, 's'), 'own', { source: dir });
      const files = imageAsset(svc.image, BUILTIN_BUILD_GENERATORS).generated;
      expect(files['pyfleet-requirements.txt']).toBeUndefined();
      expect(files.Dockerfile).toMatch(/pip install .* -r requirements\.txt$/m);
      const def = imageAsset(build().users.image, BUILTIN_BUILD_GENERATORS).generated;
      expect(def['pyfleet-requirements.txt']).toMatch(/^prometheus-client==0\.26\.0$/m);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('generated files', () => {
  test('gunicorn.conf.py and pyfleet_app.py compile; the hooks are the multiprocess ones', () => {
    const { users } = build();
    const files = imageAsset(users.image, BUILTIN_BUILD_GENERATORS).generated;
    const conf = files['gunicorn.conf.py'];
    for (const hook of ['on_starting', 'when_ready', 'post_fork', 'child_exit', 'nworkers_changed']) expect(conf).toMatch(new RegExp(`^def ${hook}\\(`, 'm'));
    expect(conf).toContain('multiprocess.mark_process_dead(worker.pid, _METRICS_DIR)');
    expect(conf).toContain('os.environ.get("PROMETHEUS_MULTIPROC_DIR") or "/tmp/prometheus"');
    expect(conf).toMatch(/^_METRICS_PORT = int\(os\.environ\.get\("PYFLEET_METRICS_PORT"\) or "9100"\)$/m);
    expect(files['pyfleet_app.py']).toMatch(/^_TARGET = "app:app"$/m);
    expect(files['pyfleet_app.py']).toMatch(/^_INTERFACE = "asgi"$/m);
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'pyfleet-compile-'));
    try {
      for (const f of ['gunicorn.conf.py', 'pyfleet_app.py']) fs.writeFileSync(path.join(dir, f), files[f]);
      execFileSync('python3', ['-c', 'import sys, ast; [ast.parse(open(f).read(), f) for f in sys.argv[1:]]', ...['gunicorn.conf.py', 'pyfleet_app.py'].map((f) => path.join(dir, f))], { stdio: 'pipe' });
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  test('every version carries its name for the access log (PYFLEET_VERSION)', () => {
    const { app, users } = build();
    users.addVersion('v2', { source: USERS });
    const m = out(app).model.service('users');
    expect(m.versions.map((v) => [v.name, v.env.PYFLEET_VERSION?.value])).toEqual([['v1', 'v1'], ['v2', 'v2']]);
  });

  test('a source with its own pyfleet_app.py gets a warning (the generated one replaces it)', () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'pyfleet-own-wrapper-'));
    for (const f of ['app.py', 'requirements.txt']) fs.copyFileSync(path.join(USERS, f), path.join(dir, f));
    fs.writeFileSync(path.join(dir, 'pyfleet_app.py'), '# mine\n');
    try {
      const app = new App({ outdir: '/nonexistent-pyfleet-test' });
      new FastApiApp(new Stack(app, 's'), 'own', { source: dir });
      expect(app.warnings().map((w) => w.message).join('\n')).toMatch(/has its own pyfleet_app\.py, which the generated one replaces/);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('compose log rotation', () => {
  test('json-file, 10m x 3 on every service, gateways included', () => {
    const { app, stack, users } = build();
    users.addVersion('v2', { source: USERS });
    new MicroService(stack, 'audit', { image: ContainerImage.fromRegistry('ghcr.io/acme/audit:2.0.1') });
    const doc = out(app).compose!;
    const names = Object.keys(doc.services);
    expect(names).toEqual(expect.arrayContaining(['users', 'users-v1', 'users-v2', 'orders', 'audit']));
    for (const n of names) expect([n, doc.services[n].logging]).toEqual([n, { driver: 'json-file', options: { 'max-file': '3', 'max-size': '10m' } }]);
  });

  test('compose.logging sets size and count; bad values are refused', () => {
    const { app } = build({ compose: { logging: { maxSize: Size.kibibytes(512), maxFiles: 5 } } });
    expect(out(app).compose!.services.orders.logging).toEqual({ driver: 'json-file', options: { 'max-file': '5', 'max-size': '512k' } });
    const { app: app2 } = build({ compose: { logging: { maxSize: Size.gibibytes(1) } } });
    expect(out(app2).compose!.services.orders.logging!.options['max-size']).toBe('1024m');
    const a = new App({ outdir: '/nonexistent-pyfleet-test' });
    expect(() => new Stack(a, 'x', { compose: { logging: { maxFiles: 0 } } })).toThrow(/x.*compose\.logging\.maxFiles 0 is not valid/s);
    expect(() => new Stack(a, 'y', { compose: { logging: { maxSize: Size.bytes(1500) } } })).toThrow(/compose\.logging\.maxSize 1500 bytes is not a whole number of kibibytes/);
    expect(() => new Stack(a, 'z', { compose: { logging: { maxSize: '10m' as any } } })).toThrow(/must be a Size/);
  });
});
