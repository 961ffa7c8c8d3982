import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import * as yaml from 'js-yaml';
import {
  App, AsgiWorkerClass, CircuitBreaker, Cpu, Duration, EnvValue, FastApiApp, GunicornFlaskApp, HealthCheck, MicroService, PyfleetError, Mesh, Size, Stack, workersFor, workerProfile, WsgiWorkerClass,
} from '../../lib';

const SHOP = path.join(__dirname, '..', '..', 'examples', 'shop', 'services');
const FLASK = path.join(__dirname, '..', '..', 'examples', 'flask-gunicorn', 'app');

function fixture(files: Record<string, string>): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'pyfleet-src-'));
  for (const [f, content] of Object.entries(files)) {
    fs.mkdirSync(path.dirname(path.join(dir, f)), { recursive: true });
    fs.writeFileSync(path.join(dir, f), content);
  }
  return dir;
}

function stack(): Stack {
  return new Stack(new App({ outdir: fs.mkdtempSync(path.join(os.tmpdir(), 'pyfleet-out-')) }), 'test');
}

function thrown(fn: () => unknown): PyfleetError {
  try {
    fn();
  } catch (e) {
    expect(e).toBeInstanceOf(PyfleetError);
    return e as PyfleetError;
  }
  throw new Error('expected a PyfleetError');
}

describe('construct model', () => {
  test('both constructs are MicroServices with the service defaults', () => {
    const s = stack();
    const api = new FastApiApp(s, 'api', { source: path.join(SHOP, 'user') });
    const web = new GunicornFlaskApp(s, 'web', { source: FLASK });
    for (const svc of [api, web]) {
      expect(svc).toBeInstanceOf(MicroService);
      expect(MicroService.isMicroService(svc)).toBe(true);
      expect(svc.image.kind).toBe('build');
      expect(svc.port).toBe(8080);
      expect(svc.runAsUser).toBe(10001);
      expect(svc.healthCheck.path).toBe('/healthz');
    }
    expect(api.workerClass).toBe(AsgiWorkerClass.UVICORN);
    expect(web.workerClass).toBe(WsgiWorkerClass.GTHREAD);
    expect(web.threads).toBe(32);
    expect(api.threads).toBeUndefined();
  });

  test.each([
    [WsgiWorkerClass.SYNC, 500, 2], [WsgiWorkerClass.SYNC, 1000, 3], [WsgiWorkerClass.SYNC, 2000, 5], [WsgiWorkerClass.SYNC, 1500, 4], [WsgiWorkerClass.SYNC, 16000, 12],
    [WsgiWorkerClass.GTHREAD, 500, 2], [WsgiWorkerClass.GTHREAD, 2000, 3], [WsgiWorkerClass.GTHREAD, 4000, 5],
    [AsgiWorkerClass.UVICORN, 500, 1], [AsgiWorkerClass.UVICORN, 1000, 1], [AsgiWorkerClass.UVICORN, 1500, 2], [AsgiWorkerClass.UVICORN, 2000, 2], [AsgiWorkerClass.UVICORN, 64000, 8],
  ])('%s workers for %d millicores: %d', (cls, millis, expected) => {
    expect(workersFor(workerProfile(cls).sizing, millis)).toBe(expected);
  });

  test('the worker count from the CPU limit is passed as WEB_CONCURRENCY on compose and Kubernetes', () => {
    const s = stack();
    new GunicornFlaskApp(s, 'web', { source: FLASK, workerClass: WsgiWorkerClass.SYNC, cpu: Cpu.cores(2), memory: Size.mebibytes(512) });
    const [out] = (s.node.root as App).synthesize();
    const compose = out.results.compose as any;
    expect(compose.services.web.environment.WEB_CONCURRENCY).toBe('5');
    const deployment = (out.results.kubernetes as any[]).find((o) => o.kind === 'Deployment');
    const env = deployment.spec.template.spec.containers[0].env;
    expect(env).toContainEqual({ name: 'WEB_CONCURRENCY', value: '5' });
  });

  test('workers and a user WEB_CONCURRENCY override the sizing; a version may override it again', () => {
    const s = stack();
    const fixed = new GunicornFlaskApp(s, 'fixed', { source: FLASK, workers: 7, memory: Size.gibibytes(1) });
    expect(fixed.env.WEB_CONCURRENCY.value).toBe('7');
    expect(fixed.recipe().fixedWorkers).toBe(7);
    const env = new FastApiApp(s, 'env', { source: path.join(SHOP, 'user'), env: { WEB_CONCURRENCY: '3' }, memory: Size.mebibytes(512) });
    expect(env.env.WEB_CONCURRENCY.value).toBe('3');
    expect(env.workersFor(env.defaultVersion)).toBe(3);
    const v2 = env.addVersion('v2', { env: { WEB_CONCURRENCY: '4' } });
    expect(env.workersFor(v2)).toBe(4);
    expect(thrown(() => new FastApiApp(s, 'bad', { source: path.join(SHOP, 'user'), env: { WEB_CONCURRENCY: 'many' } })).problem).toMatch(/WEB_CONCURRENCY="many"/);
  });

  test('graceful timeout is the service gracefulShutdown, and shorter than the termination grace period', () => {
    const s = stack();
    const a = new FastApiApp(s, 'a', { source: path.join(SHOP, 'user'), gracefulTimeout: Duration.seconds(20) });
    expect(a.gracefulShutdown.seconds).toBe(20);
    expect(a.recipe().gracefulTimeoutSeconds).toBe(20);
    expect(a.terminationGracePeriod.seconds).toBeGreaterThan(20);
    const b = new FastApiApp(s, 'b', { source: path.join(SHOP, 'user'), gracefulShutdown: Duration.seconds(12) });
    expect(b.recipe().gracefulTimeoutSeconds).toBe(12);
    expect(thrown(() => new FastApiApp(s, 'c', { source: path.join(SHOP, 'user'), gracefulTimeout: Duration.seconds(5), gracefulShutdown: Duration.seconds(6) })).problem).toMatch(/disagree/);
  });

  test('clear errors for a missing source, requirements file, module and packages', () => {
    const s = stack();
    expect(thrown(() => new FastApiApp(s, 'a', { source: '/nonexistent/pyfleet' })).problem).toMatch(/does not exist/);
    const noReq = fixture({ 'app.py': 'app = None\n' });
    const e = thrown(() => new FastApiApp(s, 'b', { source: noReq }));
    expect(e.constructPath).toBe('test/b');
    expect(e.problem).toMatch(/requirements file requirements.txt does not exist/);
    expect(e.fix).toMatch(/requirements/);
    const noModule = fixture({ 'requirements.txt': 'fastapi\ngunicorn\nuvicorn\n' });
    expect(thrown(() => new FastApiApp(s, 'c', { source: noModule })).problem).toMatch(/no app.py or app\/__init__.py/);
    expect(thrown(() => new FastApiApp(s, 'd', { source: noModule, module: 'app' })).problem).toMatch(/module:variable/);
    const noUvicorn = fixture({ 'app.py': '', 'requirements.txt': 'fastapi\ngunicorn==26.2.0\n' });
    expect(thrown(() => new FastApiApp(s, 'e', { source: noUvicorn })).problem).toMatch(/does not list "uvicorn"/);
    const noGunicorn = fixture({ 'app.py': '', 'requirements.txt': 'flask\n' });
    expect(thrown(() => new GunicornFlaskApp(s, 'f', { source: noGunicorn })).problem).toMatch(/does not list "gunicorn"/);
    expect(thrown(() => new GunicornFlaskApp(s, 'g', { source: FLASK, workerClass: WsgiWorkerClass.GEVENT })).problem).toMatch(/does not list "gevent"/);
  });

  test('requirements includes are followed and copied; a package module is found', () => {
    const dir = fixture({
      'svc/__init__.py': '', 'svc/main.py': 'app = None\n',
      'requirements/prod.txt': '-r base.txt\n-c constraints.txt\nuvicorn[standard]==0.54.0  # server\n',
      'requirements/base.txt': 'FastAPI>=0.100\n--requirement=extra.txt\n',
      'requirements/extra.txt': 'Gunicorn==26.2.0 \\\n  --hash=sha256:abc\n',
      'requirements/constraints.txt': 'starlette<2\n',
    });
    const s = stack();
    const app = new FastApiApp(s, 'a', { source: dir, module: 'svc.main:app', requirements: 'requirements/prod.txt' });
    expect(app.recipe().requirementsFiles).toEqual(['requirements/prod.txt', 'requirements/base.txt', 'requirements/extra.txt', 'requirements/constraints.txt']);
    const outside = fixture({ 'app.py': '', 'requirements.txt': '-r ../shared.txt\ngunicorn\nuvicorn\n' });
    expect(thrown(() => new FastApiApp(s, 'b', { source: outside })).problem).toMatch(/outside the source directory/);
  });

  test('prop validation', () => {
    const s = stack();
    const src = path.join(SHOP, 'user');
    expect(thrown(() => new GunicornFlaskApp(s, 'a', { source: FLASK, workerClass: WsgiWorkerClass.SYNC, threads: 4 })).problem).toMatch(/threads is set but the sync worker/);
    expect(thrown(() => new FastApiApp(s, 'b', { source: src, pythonVersion: '3.12' })).problem).toMatch(/not a full 3.x.y/);
    expect(thrown(() => new FastApiApp(s, 'c', { source: src, baseImage: 'python:latest' })).problem).toMatch(/latest/);
    expect(thrown(() => new FastApiApp(s, 'd', { source: src, timeout: Duration.millis(1500) })).problem).toMatch(/whole number of seconds/);
    expect(thrown(() => new FastApiApp(s, 'e', { source: src, gunicornSettings: { bind: '0.0.0.0:1' } })).fix).toMatch(/port/);
    expect(thrown(() => new FastApiApp(s, 'f', { source: src, gunicornSettings: { 'bad-key': 1 } })).problem).toMatch(/not a gunicorn setting name/);
    expect(thrown(() => new FastApiApp(s, 'g', { source: src, packageIndexUrl: 'ftp://mirror/simple' })).problem).toMatch(/http/);
    expect(thrown(() => new FastApiApp(s, 'h', { source: src, healthCheckPath: '/h', healthCheck: HealthCheck.none() })).problem).toMatch(/both/);
    expect(thrown(() => new FastApiApp(s, 'i', { source: src, workers: 0 })).problem).toMatch(/workers 0/);
    expect(thrown(() => new FastApiApp(s, 'j', { source: src, maxRequestsJitter: 5 })).problem).toMatch(/maxRequests is 0/);
    expect(thrown(() => new FastApiApp(s, 'k', { source: src, image: {} } as any)).problem).toMatch(/builds its own image/);
    const ok = new FastApiApp(s, 'l', { source: src, pythonVersion: '3.13.1', maxRequests: 1000, gunicornSettings: { forwarded_allow_ips: '*', limit_request_line: 8190 } });
    expect(ok.baseImage).toBe('python:3.13.1-slim-bookworm');
    expect(ok.maxRequestsJitter).toBe(100);
    expect(ok.recipe().extraSettings).toEqual({ forwarded_allow_ips: '*', limit_request_line: 8190 });
  });

  test('the health check runs with the image\'s Python (slim has no curl), on compose too', () => {
    const s = stack();
    new FastApiApp(s, 'api', { source: path.join(SHOP, 'user'), port: 9000, healthCheckPath: '/ready' });
    const [out] = (s.node.root as App).synthesize();
    const test = (out.results.compose as any).services.api.healthcheck.test;
    expect(test.slice(0, 3)).toEqual(['CMD', 'python', '-c']);
    // The port $PYFLEET_LISTEN_PORT names (a release slot in compose host mode), else the service port.
    expect(test[3]).toContain('urlopen("http://127.0.0.1:%s" % (os.environ.get("PYFLEET_LISTEN_PORT") or "9000") + "/ready"');
  });

  test('a version built from another source gets its own context; the package index is a build argument', () => {
    const s = stack();
    const v2src = fixture({ 'app.py': 'from fastapi import FastAPI\napp = FastAPI()\n', 'requirements.txt': 'fastapi\ngunicorn\nuvicorn\n' });
    const api = new FastApiApp(s, 'api', { source: path.join(SHOP, 'user'), packageIndexUrl: 'https://pypi.example.com/simple', memory: Size.mebibytes(512) });
    const v2 = api.addVersion('v2', { source: v2src });
    expect(v2.image).not.toBe(api.image);
    expect(v2.image.directory).toBe(v2src);
    expect(v2.image.buildArgs).toEqual({ PIP_INDEX_URL: 'https://pypi.example.com/simple' });
    const [out] = (s.node.root as App).synthesize();
    const services = (out.results.compose as any).services;
    expect(services['api-v1'].build.context).not.toBe(services['api-v2'].build.context);
    expect(services['api-v2'].build.args).toEqual({ PIP_INDEX_URL: 'https://pypi.example.com/simple' });
    expect(thrown(() => api.addVersion('v3', { source: v2src, image: api.image })).problem).toMatch(/both source and image/);
  });
});

describe('warnings', () => {
  test('workers that cannot fit the memory limit are warned about, and printed by synth', () => {
    const app = new App({ outdir: fs.mkdtempSync(path.join(os.tmpdir(), 'pyfleet-out-')) });
    const s = new Stack(app, 'w');
    new FastApiApp(s, 'big', { source: path.join(SHOP, 'user'), cpu: Cpu.cores(4), memory: Size.mebibytes(256) });
    new FastApiApp(s, 'fits', { source: path.join(SHOP, 'user'), cpu: Cpu.cores(1), memory: Size.mebibytes(256) });
    const warnings = app.warnings();
    const big = warnings.filter((w) => w.constructPath === 'w/big');
    expect(big).toHaveLength(1);
    expect(big[0].message).toMatch(/4 uvicorn.workers.UvicornWorker workers x ~75 MiB \+ ~25 MiB for the arbiter = ~325 MiB cannot fit the memory limit of 256 MiB/);
    expect(big[0].message).toMatch(/Size.mebibytes\(325\)/);
    expect(warnings.filter((w) => w.constructPath === 'w/fits')).toHaveLength(0);
    const spy = jest.spyOn(console, 'warn').mockImplementation(() => undefined);
    try {
      app.synth();
      expect(spy.mock.calls.map((c) => String(c[0]))).toContainEqual(expect.stringMatching(/^\[pyfleet\] warning: w\/big: 4 uvicorn/));
    } finally {
      spy.mockRestore();
    }
  });

  test('a short keep-alive and a replaced hand-written Dockerfile are warned about', () => {
    const s = stack();
    const dir = fixture({ 'app.py': '', 'requirements.txt': 'flask\ngunicorn\n', 'Dockerfile': 'FROM scratch\n' });
    new GunicornFlaskApp(s, 'web', { source: dir, keepAlive: Duration.seconds(30) });
    const msgs = (s.node.root as App).warnings().map((w) => w.message);
    expect(msgs).toContainEqual(expect.stringMatching(/keepAlive 30s is not longer than the 60 s idle timeout/));
    expect(msgs).toContainEqual(expect.stringMatching(/has its own Dockerfile, which the generated one replaces/));
  });
});

describe('Kubernetes wiring', () => {
  test('read-only root, /tmp volume, preStop pause and a grace period longer than graceful_timeout', () => {
    const s = stack();
    const api = new FastApiApp(s, 'api', { source: path.join(SHOP, 'user'), port: 8001, cpu: Cpu.cores(2), memory: Size.mebibytes(512) });
    const [out] = (s.node.root as App).synthesize();
    const dep = (out.results.kubernetes as any[]).find((o) => o.kind === 'Deployment');
    const pod = dep.spec.template.spec;
    const c = pod.containers[0];
    expect(c.securityContext.readOnlyRootFilesystem).toBe(true);
    expect(c.securityContext.runAsUser).toBe(api.recipe().uid);
    expect(c.volumeMounts.map((m: any) => m.mountPath)).toContain('/tmp');
    expect(c.lifecycle.preStop.exec.command).toEqual(['sleep', '5']);
    expect(c.ports[0]).toMatchObject({ name: 'http', containerPort: 8001 });
    expect(c.env).toContainEqual({ name: 'WEB_CONCURRENCY', value: '2' });
    const graceful = api.recipe().gracefulTimeoutSeconds;
    expect(pod.terminationGracePeriodSeconds).toBeGreaterThanOrEqual(5 + graceful + 1);
    expect(c.readinessProbe.httpGet).toMatchObject({ path: '/healthz', port: 8001 });
    // The image tag is the content hash of the staged context.
    expect(c.image).toMatch(/^pyfleet.local\/test\/api:[0-9a-f]{12}$/);
    // Manifests parse back as YAML documents.
    const files = out.artifacts.filter((a) => a.path.endsWith('.k8s.yaml'));
    expect(yaml.loadAll(files[0].content!).length).toBeGreaterThan(3);
  });

  test('secrets as WEB_CONCURRENCY are accepted (value unknown at synth)', () => {
    const s = stack();
    const api = new FastApiApp(s, 'api', { source: path.join(SHOP, 'user'), env: { WEB_CONCURRENCY: EnvValue.fromSecret('tuning', 'workers') } });
    expect(api.env.WEB_CONCURRENCY.secret).toEqual({ name: 'tuning', key: 'workers' });
    expect(api.workersFor(api.defaultVersion)).toBe(api.plannedWorkers);
  });
});

describe('the mesh sees the gunicorn keep-alive', () => {
  test('a breaker idle timeout not below a FastApiApp keepAlive is the "503 UC" error; below it is fine', () => {
    const build = (idle: number): App => {
      const app = new App({ outdir: fs.mkdtempSync(path.join(os.tmpdir(), 'pyfleet-out-')) });
      const s = new Stack(app, 'shop', { mesh: Mesh.istio() });
      const api = new FastApiApp(s, 'api', { source: path.join(SHOP, 'user'), keepAlive: Duration.seconds(20) });
      expect(api.keepAlive.seconds).toBe(20);
      new CircuitBreaker(s, 'breaker', { service: api, idleTimeout: Duration.seconds(idle) });
      return app;
    };
    const e = thrown(() => build(30).synthesize());
    expect(e.message).toMatch(/shop\/breaker: idleTimeout 30s is not below the app server's keep-alive 20s/);
    expect(e.message).toMatch(/503 UC/);
    expect(() => build(10).synthesize()).not.toThrow();
    expect(new FastApiApp(stack(), 'x', { source: path.join(SHOP, 'user') }).keepAlive.seconds).toBe(75);
  });
});
