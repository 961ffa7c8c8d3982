import * as fs from 'fs';
import * as path from 'path';
import { App, ComposeNetworkMode, ContainerImage, Cpu, Duration, EnvValue, HealthCheck, MicroService, PyfleetError, RestartPolicy, Size, Stack } from '../../lib';
import { readTree, sourceDir, tmpdir } from '../support/synth';

const img = (): ContainerImage => ContainerImage.fromRegistry('ghcr.io/acme/app:1.0.0');

/** Runs `build` in a fresh app; expects a PyfleetError whose message matches every pattern. */
function expectError(build: (stack: Stack, app: App) => void, ...patterns: RegExp[]): PyfleetError {
  const app = new App({ outdir: path.join(tmpdir(), 'dist') });
  const stack = new Stack(app, 'shop');
  let error: unknown;
  try {
    build(stack, app);
    app.synth();
  } catch (e) {
    error = e;
  }
  expect(error).toBeInstanceOf(PyfleetError);
  const message = (error as Error).message;
  for (const p of patterns) expect(message).toMatch(p);
  expect(message).toMatch(/Fix: /);
  // Nothing at all was written.
  expect(fs.existsSync(app.outdir)).toBe(false);
  return error as PyfleetError;
}

describe('bad input at construction: the construct path, what is wrong, how to fix it', () => {
  const cases: Array<[string, (s: Stack) => void, RegExp[]]> = [
    ['service name not DNS-1123', (s) => new MicroService(s, 'OrderService', { image: img() }), [/shop\/OrderService/, /not a valid DNS-1123 label/, /"orderservice"/]],
    ['service name starting with a digit (DNS-1035)', (s) => new MicroService(s, '9lives', { image: img() }), [/shop\/9lives/, /starts with a digit, but a Kubernetes Service name is a DNS-1035 label/, /Fix: rename it, e\.g\. "svc-9lives"/]],
    ['service name too long', (s) => new MicroService(s, 'a'.repeat(51), { image: img() }), [/at most 50 characters/]],
    ['image tag latest', () => ContainerImage.fromRegistry('ghcr.io/acme/app:latest'), [/"latest" moves/, /pin a version tag or a digest/]],
    ['untagged image', () => ContainerImage.fromRegistry('ghcr.io/acme/app'), [/has no tag/, /ghcr\.io\/acme\/app:1\.0\.0/]],
    ['registry port is not a tag', () => ContainerImage.fromRegistry('localhost:5000/app'), [/has no tag/]],
    ['invalid tag', () => ContainerImage.fromRegistry('ghcr.io/acme/app:v1!'), [/not a valid image tag/]],
    ['missing source directory', () => ContainerImage.fromDirectory('/nonexistent/services/user'), [/does not exist/, /path\.join\(__dirname/]],
    ['directory without Dockerfile', () => ContainerImage.fromDirectory(sourceDir({ Dockerfile: '' }).replace(/$/, '/../')), [/there is no Dockerfile/, /GunicornFlaskApp\/FastApiApp/]],
    ['no image', (s) => new MicroService(s, 'orders', {} as any), [/shop\/orders/, /no image was given/]],
    ['port out of range', (s) => new MicroService(s, 'orders', { image: img(), port: 70000 }), [/port 70000 is out of range/, /1 to 65535/]],
    ['bad port name', (s) => new MicroService(s, 'orders', { image: img(), additionalPorts: { Metrics_Port: 9100 } }), [/port name "Metrics_Port"/, /IANA/]],
    ['port declared twice', (s) => new MicroService(s, 'orders', { image: img(), port: 9100, additionalPorts: { metrics: 9100 } }), [/port 9100 is declared twice/]],
    ['replicas not whole', (s) => new MicroService(s, 'orders', { image: img(), replicas: 1.5 }), [/replicas 1\.5 is not valid/]],
    ['cpu request above limit', (s) => new MicroService(s, 'orders', { image: img(), cpu: Cpu.millis(500), cpuRequest: Cpu.cores(1) }), [/cpuRequest 1 is above the cpu limit 500m/]],
    ['memory request above limit', (s) => new MicroService(s, 'orders', { image: img(), memory: Size.mebibytes(256), memoryRequest: Size.gibibytes(1) }), [/memoryRequest 1Gi is above the memory limit 256Mi/]],
    ['memory as a string', (s) => new MicroService(s, 'orders', { image: img(), memory: '512Mi' as any }), [/must be unit objects/, /Size\.mebibytes/]],
    ['memory below what Docker accepts', (s) => new MicroService(s, 'orders', { image: img(), memory: Size.mebibytes(4), memoryRequest: Size.mebibytes(4) }), [/below the 6 MiB/]],
    ['negative cpu', () => Cpu.cores(-1), [/Cpu\.cores/, /not a valid amount/]],
    ['negative duration', () => Duration.seconds(-5), [/Duration\.seconds/]],
    ['health path without slash', () => HealthCheck.http('healthz'), [/must start with "\/"/, /"\/healthz"/]],
    ['health timeout above interval', () => HealthCheck.http('/healthz', { interval: Duration.seconds(2), timeout: Duration.seconds(5) }), [/timeout \(5s\) is longer than the interval \(2s\)/]],
    ['health port not declared', (s) => new MicroService(s, 'orders', { image: img(), healthCheck: HealthCheck.http('/healthz', { port: 9999 }) }), [/port 9999, which the service does not declare/]],
    ['bad env name', (s) => new MicroService(s, 'orders', { image: img(), env: { '1BAD': 'x' } }), [/environment variable name "1BAD"/]],
    ['bad secret name', () => EnvValue.fromSecret('DB_Creds', 'password'), [/secret name "DB_Creds"/]],
    ['duplicate version', (s) => new MicroService(s, 'orders', { image: img() }).addVersion('v1'), [/shop\/orders\/v1/, /already has a version "v1"/]],
    ['bad version name', (s) => new MicroService(s, 'orders', { image: img() }).addVersion('V2.0'), [/version name "V2\.0"/]],
    ['duplicate service', (s) => { new MicroService(s, 'orders', { image: img() }); new MicroService(s, 'orders', { image: img() }); }, [/already has a service named "orders"/]],
    ['root user', (s) => new MicroService(s, 'orders', { image: img(), runAsUser: 0 }), [/runAsUser 0 is not a non-root UID/]],
    ['no graceful shutdown', (s) => new MicroService(s, 'orders', { image: img(), gracefulShutdown: Duration.seconds(0) }), [/gracefulShutdown is under one second/]],
    ['restart "no"', (s) => new MicroService(s, 'orders', { image: img(), restartPolicy: 'no' as RestartPolicy }), [/restart policy "no" cannot be expressed/]],
    ['expose port out of range', (s) => new MicroService(s, 'orders', { image: img(), expose: { port: 0 } }), [/expose\.port 0 is out of range/]],
  ];
  test.each(cases)('%s', (_name, build, patterns) => {
    expectError((s) => build(s), ...patterns);
  });

  test('stack-level mistakes', () => {
    const app = new App({ outdir: path.join(tmpdir(), 'dist') });
    expect(() => new Stack(app, 'Shop')).toThrow(/stack id "Shop" is not a valid DNS-1123 label/);
    expect(() => new Stack(app, 'shop', { namespace: 'Shop_NS' })).toThrow(/namespace "Shop_NS"/);
    expect(() => new Stack(app, 'shop2', { imageRegistry: 'GHCR.io/Acme' })).toThrow(/imageRegistry "GHCR\.io\/Acme"/);
    expect(() => new Stack(app, 'shop3', { labels: { 'bad label': 'x' } })).toThrow(/not a valid Kubernetes label/);
    expect(() => new MicroService(app, 'orders', { image: img() })).toThrow(/not inside a Stack/);
  });
});

describe('bad input across objects, found at synth before anything is written', () => {
  test('dependency cycle', () => {
    expectError((s) => {
      const a = new MicroService(s, 'a', { image: img() });
      const b = new MicroService(s, 'b', { image: img(), calls: [a] });
      const c = new MicroService(s, 'c', { image: img(), calls: [b] });
      a.addCall(c);
    }, /dependency cycle: a -> c -> b -> a/, /remove one of these `calls`/);
  });
  test('a service calling itself', () => {
    expectError((s) => { const a = new MicroService(s, 'a', { image: img() }); a.addCall(a); }, /shop\/a: the service lists itself/);
  });
  test('calls to a service in another stack', () => {
    expectError((s, app) => {
      const other = new Stack(app, 'billing');
      const inv = new MicroService(other, 'invoices', { image: img() });
      new MicroService(s, 'orders', { image: img(), calls: [inv] });
    }, /shop\/orders: calls "billing\/invoices" in stack "billing"/, /move "invoices" into stack "shop"/);
  });
  test('calls to a service of another App', () => {
    const otherApp = new App({ outdir: path.join(tmpdir(), 'dist') });
    const foreign = new MicroService(new Stack(otherApp, 'other'), 'users', { image: img() });
    expectError((s) => { new MicroService(s, 'orders', { image: img(), calls: [foreign] }); }, /calls "other\/users", a service of another App/, /same App/);
  });
  test('two services on one public host port', () => {
    expectError((s) => {
      new MicroService(s, 'web', { image: img(), expose: { port: 80 } });
      new MicroService(s, 'api', { image: img(), expose: { port: 80 } });
    }, /shop\/api: host port 80 is already taken by "shop\/web"/);
  });
  test('host network mode: two services on one container port', () => {
    expectError((_s, app) => {
      const h = new Stack(app, 'vps', { compose: { networkMode: ComposeNetworkMode.HOST } });
      new MicroService(h, 'users', { image: img(), replicas: 1 });
      new MicroService(h, 'orders', { image: img(), replicas: 1 });
    }, /vps\/orders: host port 8080 is already taken by "vps\/users"/);
  });
  test('host network mode: several containers of one service', () => {
    expectError((_s, app) => {
      const h = new Stack(app, 'vps', { compose: { networkMode: ComposeNetworkMode.HOST } });
      new MicroService(h, 'users', { image: img(), replicas: 3 });
    }, /host network mode runs one container per service/, /replicas: 1/);
  });
  test('host network mode: exposing on another port', () => {
    expectError((_s, app) => {
      const h = new Stack(app, 'vps', { compose: { networkMode: ComposeNetworkMode.HOST } });
      new MicroService(h, 'users', { image: img(), replicas: 1, port: 5000, expose: { port: 80 } });
    }, /cannot be exposed on 80/, /set expose\.port to 5000/);
  });
  test('an env var that calls would inject', () => {
    expectError((s) => {
      const users = new MicroService(s, 'user-service', { image: img() });
      new MicroService(s, 'orders', { image: img(), calls: [users], env: { USER_SERVICE_URL: 'http://x' } });
    }, /shop\/orders\/v1: sets USER_SERVICE_URL itself/);
  });
  test('every problem is reported at once', () => {
    const e = expectError((s) => {
      new MicroService(s, 'web', { image: img(), expose: { port: 80 } });
      new MicroService(s, 'api', { image: img(), expose: { port: 80 } });
      const a = new MicroService(s, 'a', { image: img() });
      a.addCall(a);
    }, /2 problems found before anything was written/);
    expect((e as any).errors).toHaveLength(2);
  });

  test('a failed synth leaves earlier output untouched', () => {
    const outdir = path.join(tmpdir(), 'dist');
    const good = new App({ outdir });
    new MicroService(new Stack(good, 'shop'), 'web', { image: img() });
    good.synth();
    const before = readTree(outdir);
    expect(before.size).toBeGreaterThan(0);
    const bad = new App({ outdir });
    const s = new Stack(bad, 'shop');
    const a = new MicroService(s, 'web', { image: ContainerImage.fromRegistry('ghcr.io/acme/app:2.0.0') });
    a.addCall(a);
    expect(() => bad.synth()).toThrow(PyfleetError);
    expect(readTree(outdir)).toEqual(before);
    expect(fs.readdirSync(path.dirname(outdir)).filter((f) => f.includes('tmp-pyfleet'))).toEqual([]);
  });
});
