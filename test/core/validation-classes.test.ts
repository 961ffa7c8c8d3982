import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import {
  App, AsgiWorkerClass, ContainerImage, Cpu, Duration, EnvValue, FastApiApp, GunicornFlaskApp, HealthCheck, Match, MeshGateway, MicroService,
  PyfleetError, Size, Stack, WsgiWorkerClass,
} from '../../lib';
import { imageAsset, listSourceFiles } from '../../lib/service/asset';
import { toEnvValue } from '../../lib/service/env';
import { checkResources } from '../../lib/core/units';
import { findModuleAttribute } from '../../lib/python/module';

const HEX = 'a'.repeat(64);
const FASTAPI_REQ = 'fastapi==0.142.*\nuvicorn==0.54.*\ngunicorn==26.2.*\n';
const FLASK_REQ = 'flask==3.1.*\ngunicorn==26.2.*\n';

function tmp(prefix = 'pyfleet-vc-'): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), prefix));
}

function fixture(files: Record<string, string>): string {
  const dir = tmp();
  for (const [f, content] of Object.entries(files)) {
    fs.mkdirSync(path.dirname(path.join(dir, f)), { recursive: true });
    fs.writeFileSync(path.join(dir, f), content);
  }
  return dir;
}

function stack(): Stack {
  return new Stack(new App({ outdir: path.join(tmp('pyfleet-vc-out-'), 'dist') }), 'shop');
}

/** Runs `fn`, expects a PyfleetError whose problem and fix match the patterns; returns it. */
function expectError(fn: () => unknown, problem: RegExp, fix: RegExp, constructPath?: string | RegExp): PyfleetError {
  let error: unknown;
  try {
    fn();
  } catch (e) {
    error = e;
  }
  expect(error).toBeInstanceOf(PyfleetError);
  const e = error as PyfleetError;
  expect(e.problem).toMatch(problem);
  expect(e.fix).toMatch(fix);
  expect(e.message).toMatch(/Fix: /);
  if (typeof constructPath === 'string') expect(e.constructPath).toBe(constructPath);
  else if (constructPath) expect(e.constructPath).toMatch(constructPath);
  return e;
}

describe('1. units', () => {
  test.each([
    ['Cpu.cores(NaN)', () => Cpu.cores(NaN), /NaN is not a number/, /Cpu\.cores\(1\)/],
    ['Cpu.millis(Infinity)', () => Cpu.millis(Infinity), /Infinity is not a finite amount/, /millicores/],
    ['Cpu.millis(-5)', () => Cpu.millis(-5), /-5 is negative/, /millicores/],
    ['Cpu.cores(undefined)', () => Cpu.cores(undefined as any), /undefined is not a number/, /Cpu\.cores/],
    ['Cpu.cores(0.0001)', () => Cpu.cores(0.0001), /less than one millicore/, /Cpu\.millis\(10\)/],
    ['Size.mebibytes(NaN)', () => Size.mebibytes(NaN), /NaN is not a number/, /Size\.mebibytes\(256\)/],
    ['Size.gibibytes(-Infinity)', () => Size.gibibytes(-Infinity), /not a finite amount/, /Size\.gibibytes\(1\)/],
    ['Size.bytes(-1)', () => Size.bytes(-1), /negative/, /positive/],
    ['Duration.seconds(-1)', () => Duration.seconds(-1), /negative/, /non-negative/],
    ['Duration.millis(NaN)', () => Duration.millis(NaN), /not a number/, /milliseconds/],
    ['Duration.minutes(Infinity)', () => Duration.minutes(Infinity), /not a finite amount/, /minutes/],
  ])('%s is refused', (where, fn, problem, fix) => {
    const e = expectError(fn, problem, fix);
    expect(e.constructPath).toContain(where.split('(')[0]);
  });

  test('valid amounts are accepted', () => {
    expect(Cpu.millis(5).millis).toBe(5);
    expect(Cpu.cores(0.25).millis).toBe(250);
    expect(Size.mebibytes(6).bytes).toBe(6 * 1024 ** 2);
    expect(Duration.seconds(0).millis).toBe(0);
    expect(Duration.millis(250).toGoString()).toBe('250ms');
  });

  test('checkResources refuses what Docker refuses, at the construct path', () => {
    const ok = (): void => checkResources('shop/api', Cpu.millis(10), Cpu.millis(1), Size.mebibytes(6), Size.mebibytes(6));
    expect(ok).not.toThrow();
    expect(() => checkResources('shop/api', Cpu.cores(2), Cpu.millis(500), Size.gibibytes(1), Size.mebibytes(256))).not.toThrow();
    expectError(() => checkResources('shop/api', Cpu.millis(5), Cpu.millis(5), Size.mebibytes(64), Size.mebibytes(64)), /cpu limit 5m is below the 0\.01 CPU \(10m\)/, /Cpu\.millis\(10\)/, 'shop/api');
    expectError(() => checkResources('shop/api', Cpu.millis(500), Cpu.millis(600), Size.mebibytes(64), Size.mebibytes(64)), /cpuRequest 600m is above the cpu limit 500m/, /at most the limit/, 'shop/api');
    expectError(() => checkResources('shop/api', Cpu.millis(500), Cpu.millis(500), Size.mebibytes(4), Size.mebibytes(4)), /memory limit 4Mi is below the 6 MiB/, /Size\.mebibytes\(32\)/, 'shop/api');
    expectError(() => checkResources('shop/api', Cpu.millis(500), Cpu.millis(500), Size.mebibytes(64), Size.mebibytes(5)), /memoryRequest 5Mi is below the 6 MiB .* memory reservation/, /Size\.mebibytes\(6\)/, 'shop/api');
    expectError(() => checkResources('shop/api', Cpu.millis(500), Cpu.millis(500), Size.mebibytes(64), Size.mebibytes(128)), /memoryRequest 128Mi is above the memory limit 64Mi/, /at most the limit/, 'shop/api');
    expectError(() => checkResources('shop/api', '500m' as any, Cpu.millis(500), Size.mebibytes(64), Size.mebibytes(64)), /must be unit objects/, /Cpu\.millis\(500\)/, 'shop/api');
  });
});

describe('2. image references', () => {
  test.each([
    ['ghcr.io/Acme/App:1.0', /repository path "Acme\/App" has upper-case letters/, /"ghcr\.io\/acme\/app:1\.0"/],
    ['Acme/app:1.0', /upper-case letters/, /"acme\/app:1\.0"/],
    ['ghcr.io/acme//app:1.0', /empty component/, /"ghcr\.io\/acme\/app:1\.0"/],
    ['ghcr.io/acme/', /empty component/, /remove the extra "\/"/],
    ['ghcr.io/acme/app@sha256:abc', /not "sha256:" plus exactly 64 lowercase hex digits \(it has 3 characters\)/, /64 hex digits/],
    [`ghcr.io/acme/app@sha256:${'A'.repeat(64)}`, /some upper-case/, /lowercase/],
    [`ghcr.io/acme/app@md5:${'a'.repeat(32)}`, /"md5:a+" is not a sha256 digest/, /@sha256:/],
    [`ghcr.io/acme/app@${HEX}`, /is not a sha256 digest/, /@sha256:/],
    ['localhost:99999/a/b:1.0', /registry port "99999" of "localhost:99999" is not a port number/, /1 to 65535/],
    ['registry.example.com:abc/a/b:1.0', /registry port "abc"/, /"registry\.example\.com:5000"/],
    ['ghcr.io/acme/app-:1.0', /"app-" is not a valid repository path component/, /lowercase letters and digits/],
    ['my_registry.io/acme/app:1.0', /registry host "my_registry\.io" is not a valid host name/, /"ghcr\.io"/],
    ['ghcr.io/acme/app:.1', /"\.1" is not a valid image tag/, /at most 128/],
  ])('%s is refused', (ref, problem, fix) => {
    expectError(() => ContainerImage.fromRegistry(ref), problem, fix, /^ContainerImage\.fromRegistry/);
  });

  test.each([
    'localhost:5000/a/b:1.0',
    `ghcr.io/acme/x@sha256:${HEX}`,
    `repo:tag@sha256:${HEX}`,
    `repo:latest@sha256:${HEX}`,
    'python:3.12.8-slim-bookworm',
    'GHCR.io/acme/app:1.0',
    '[::1]:5000/acme/app:1.0',
    'registry.example.com/a__b/c.d/e--f:v1.2_3',
  ])('%s is accepted', (ref) => {
    expect(ContainerImage.fromRegistry(ref).reference).toBe(ref);
  });
});

describe('3. fromDirectory: the Dockerfile is inside the build context', () => {
  test('../Dockerfile and an absolute path outside are refused', () => {
    const parent = fixture({ 'Dockerfile': 'FROM scratch\n', 'ctx/main.py': '' });
    const ctx = path.join(parent, 'ctx');
    expectError(() => ContainerImage.fromDirectory(ctx, { dockerfile: '../Dockerfile' }), /dockerfile "\.\.\/Dockerfile" is outside the build context/, /move the Dockerfile into the directory/);
    expectError(() => ContainerImage.fromDirectory(ctx, { dockerfile: path.join(parent, 'Dockerfile') }), /is outside the build context/, /relative to it/);
    expectError(() => ContainerImage.fromDirectory(ctx, { dockerfile: '.' }), /is outside the build context/, /Dockerfile/);
  });

  test('a Dockerfile in a folder that is never staged is refused', () => {
    const ctx = fixture({ 'dist/Dockerfile': 'FROM scratch\n' });
    expectError(() => ContainerImage.fromDirectory(ctx, { dockerfile: 'dist/Dockerfile' }), /not staged into the build context/, /docker\/Dockerfile/);
  });

  test('inside paths are accepted, an absolute one is made relative', () => {
    const ctx = fixture({ 'Dockerfile': 'FROM scratch\n', 'docker/Dockerfile.prod': 'FROM scratch\n' });
    expect(ContainerImage.fromDirectory(ctx).dockerfile).toBe('Dockerfile');
    expect(ContainerImage.fromDirectory(ctx, { dockerfile: 'docker/Dockerfile.prod' }).dockerfile).toBe('docker/Dockerfile.prod');
    expect(ContainerImage.fromDirectory(ctx, { dockerfile: path.join(ctx, 'docker', 'Dockerfile.prod') }).dockerfile).toBe('docker/Dockerfile.prod');
    expect(ContainerImage.fromDirectory(ctx, { dockerfile: './docker/../Dockerfile' }).dockerfile).toBe('Dockerfile');
  });
});

describe('4. symbolic links in a source directory', () => {
  test('links inside the source are followed and their content is hashed', () => {
    const dir = fixture({ 'Dockerfile': 'FROM scratch\n', 'lib/real.py': 'x = 1\n', 'lib/sub/a.py': 'a = 1\n' });
    fs.symlinkSync('lib/real.py', path.join(dir, 'alias.py'));
    fs.symlinkSync('lib/sub', path.join(dir, 'linked'));
    expect(listSourceFiles(dir)).toEqual(['Dockerfile', 'alias.py', 'lib/real.py', 'lib/sub/a.py', 'linked/a.py']);
    const image = ContainerImage.fromDirectory(dir);
    const before = imageAsset(image, {}).hash;
    fs.writeFileSync(path.join(dir, 'lib', 'real.py'), 'x = 2\n');
    // A fresh image object (assets are cached per image): the link's target content is in the hash.
    expect(imageAsset(ContainerImage.fromDirectory(dir), {}).hash).not.toBe(before);
  });

  test('a link to a file outside the source is refused, naming the link', () => {
    const outside = fixture({ 'secret.py': 'TOKEN = 1\n' });
    const dir = fixture({ 'Dockerfile': 'FROM scratch\n' });
    fs.symlinkSync(path.join(outside, 'secret.py'), path.join(dir, 'secret.py'));
    expectError(() => ContainerImage.fromDirectory(dir), /"secret\.py" in .* is a symbolic link to ".*secret\.py".*outside the source directory/, /copy the file or folder into the source directory/, /^ContainerImage\.fromDirectory/);
  });

  test('a link to a folder outside, a dangling link and a loop are refused', () => {
    const outside = tmp();
    const a = fixture({ 'Dockerfile': 'FROM scratch\n' });
    fs.symlinkSync(outside, path.join(a, 'shared'));
    expectError(() => listSourceFiles(a, 'shop/api'), /"shared" .* outside the source directory/, /instead of linking it/, 'shop/api');
    const b = fixture({ 'Dockerfile': 'FROM scratch\n' });
    fs.symlinkSync('missing.py', path.join(b, 'gone.py'));
    expectError(() => listSourceFiles(b), /"gone\.py" .* symbolic link to "missing\.py", which does not exist/, /remove the link/);
    const c = fixture({ 'pkg/x.py': '' });
    fs.symlinkSync('..', path.join(c, 'pkg', 'up'));
    expectError(() => listSourceFiles(c), /"pkg\/up" .* a folder it is itself in/, /remove the link/);
  });

  test('a Python app with a link out of its source names the construct path', () => {
    const outside = fixture({ 'util.py': '' });
    const dir = fixture({ 'app.py': 'from fastapi import FastAPI\napp = FastAPI()\n', 'requirements.txt': FASTAPI_REQ });
    fs.symlinkSync(path.join(outside, 'util.py'), path.join(dir, 'util.py'));
    expectError(() => new FastApiApp(stack(), 'api', { source: dir }), /"util\.py" .* outside the source directory/, /copy the file/, 'shop/api');
  });
});

describe('5. environment values and secrets', () => {
  test.each([
    ['Db', /not a valid DNS-1123 subdomain: its part "Db"/, /"db"/],
    ['db..credentials', /empty part between dots/, /"db\.credentials"/],
    ['.db', /empty part/, /"db"/],
    ['db.-x', /part "-x"/, /rename it/],
    ['a'.repeat(254), /254 characters long, more than the 253/, /shorten/],
    ['1password', /starts with a digit, so the compose project cannot read it/, /start with a letter/],
  ])('secret name %s is refused', (name, problem, fix) => {
    expectError(() => EnvValue.fromSecret(name, 'password'), problem, fix, /^EnvValue\.fromSecret/);
  });

  test.each([
    ['.', /"\." is "\.", "\.\." or starts with "\.\.", which Kubernetes forbids/, /rename the key, e\.g\. "value"/],
    ['..', /which Kubernetes forbids/, /rename the key/],
    ['..data', /which Kubernetes forbids/, /"data"/],
    ['pass word', /not valid/, /letters, digits/],
    ['', /key is empty/, /"password"/],
    ['k'.repeat(254), /more than the 253/, /shorten/],
  ])('secret key %j is refused', (key, problem, fix) => {
    expectError(() => EnvValue.fromSecret('db', key), problem, fix);
  });

  test('valid secrets are accepted', () => {
    expect(EnvValue.fromSecret('db.credentials', 'password').secret).toEqual({ name: 'db.credentials', key: 'password' });
    expect(EnvValue.fromSecret('db-credentials', '.hidden').secret?.key).toBe('.hidden');
    expect(EnvValue.fromSecret('a'.repeat(253), 'a.b_c-D').secret?.key).toBe('a.b_c-D');
  });

  test('fromValue refuses undefined and non-strings', () => {
    expectError(() => EnvValue.fromValue(undefined as any), /is undefined at synth \(often an unset process\.env variable/, /process\.env\.X \?\? 'default'/, 'EnvValue.fromValue');
    expectError(() => EnvValue.fromValue(null as any), /is null at synth/, /EnvValue\.fromSecret/);
    expectError(() => EnvValue.fromValue(8080 as any), /the number 8080, not a string/, /String\(8080\)/);
    expectError(() => EnvValue.fromValue('a\0b'), /NUL character/, /remove/);
    expect(EnvValue.fromValue('').value).toBe('');
    expect(EnvValue.fromValue('$5').value).toBe('$5');
  });

  test('toEnvValue names the construct path and the variable when given', () => {
    const e = expectError(() => toEnvValue(process.env.PYFLEET_SURELY_UNSET as any, 'shop/api', 'DATABASE_URL'), /environment variable DATABASE_URL is undefined at synth/, /process\.env\.X \?\? 'default'/, 'shop/api');
    expect(e.message).toMatch(/^\[pyfleet\] shop\/api: /);
    expectError(() => toEnvValue(undefined as any), /undefined/, /default/, 'EnvValue.fromValue');
    const v = EnvValue.fromSecret('db', 'password');
    expect(toEnvValue(v, 'shop/api')).toBe(v);
    expect(toEnvValue('x', 'shop/api').value).toBe('x');
  });

  test('a Python app with an undefined env value names its construct path (service and version)', () => {
    const s = stack();
    expectError(() => new FastApiApp(s, 'api', { source: fixture({ 'app.py': 'app = 1\n', 'requirements.txt': FASTAPI_REQ }), env: { DATABASE_URL: undefined as any } }),
      /environment variable DATABASE_URL is undefined/, /process\.env\.X/, 'shop/api');
    const web = new FastApiApp(s, 'web', { source: fixture({ 'app.py': 'app = 1\n', 'requirements.txt': FASTAPI_REQ }) });
    expectError(() => web.addVersion('v2', { env: { MODE: undefined as any } }), /MODE is undefined/, /default/, 'shop/web/v2');
  });
});

describe('6. health checks', () => {
  test.each([
    ["/health'z", /contains "'", which breaks the quoted shell command/, /"%27"/],
    ['/health"z', /contains "\\""/, /"%22"/],
    ['/health$z', /contains "\$"/, /"%24"/],
    ['/health\\z', /contains "\\\\"/, /"%5C"/],
    ['/health`z', /contains "`"/, /"%60"/],
    ['/health z', /contains whitespace/, /"%20"/],
    ['/health\tz', /contains whitespace/, /percent-encode/],
    ['/health\x01', /U\+0001, which is not printable ASCII/, /percent-encode/],
    ['/santé', /U\+00E9, which is not printable ASCII/, /encodeURI/],
    ['/healthz#top', /contains "#", which starts a URL fragment/, /"%23"/],
    ['healthz', /must start with "\/"/, /"\/healthz"/],
  ])('path %j is refused', (p, problem, fix) => {
    expectError(() => HealthCheck.http(p), problem, fix, /^HealthCheck\.http/);
  });

  test.each([
    [{ interval: Duration.millis(1500) }, /interval 1500ms is not a whole number of seconds, and Kubernetes probes take whole seconds/, /Duration\.seconds\(2\)/],
    [{ timeout: Duration.millis(2500), interval: Duration.seconds(10) }, /timeout 2500ms is not a whole number of seconds/, /Duration\.seconds\(3\)/],
    [{ startPeriod: Duration.millis(500) }, /startPeriod 500ms is not a whole number of seconds/, /Duration\.seconds\(1\)/],
    [{ interval: Duration.seconds(0) }, /interval 0s is under 1 second/, /Duration\.seconds\(2\)/],
    [{ timeout: Duration.millis(0) }, /timeout 0s is under 1 second/, /timeout: Duration\.seconds/],
    [{ interval: 10 as any }, /interval must be a Duration, not the number 10/, /Duration\.seconds/],
    [{ port: 0 }, /port 0 is out of range/, /1 to 65535/],
    [{ composeCommand: [] }, /composeCommand is not a non-empty list/, /exec form/],
  ])('options %j are refused', (options, problem, fix) => {
    expectError(() => HealthCheck.http('/healthz', options as any), problem, fix);
  });

  test('valid health checks are accepted', () => {
    const hc = HealthCheck.http('/health/ready?full=1&x=%20', { interval: Duration.seconds(5), timeout: Duration.seconds(5), startPeriod: Duration.seconds(0), failureThreshold: 1 });
    expect(hc.path).toBe('/health/ready?full=1&x=%20');
    expect(HealthCheck.http('/_status/live-1.0~x').enabled).toBe(true);
    expect(HealthCheck.http('/healthz', { interval: Duration.minutes(1) }).interval.seconds).toBe(60);
  });
});

describe('7. mesh matches', () => {
  test.each([
    ['X-Canary', /header name "X-Canary" is not lowercase, which Istio requires/, /"x-canary"/],
    ['x canary', /not an HTTP header name: " " is not allowed/, /"x-canary"/],
    ['x:canary', /":" is not allowed/, /letters, digits/],
    ['x#canary', /contains "#", which the compose gateway's haproxy\.cfg would read as a comment/, /"x-canary"/],
    ["x'canary", /read as a quote/, /letters/],
    ['', /header name is empty/, /"x-canary"/],
  ])('header name %j is refused', (name, problem, fix) => {
    expectError(() => Match.header(name, 'yes'), problem, fix);
  });

  test.each([
    ['^/a(?=b)', /a lookahead \(\?=, which RE2/, /without lookaround/],
    ['^/a(?!b)', /a lookahead \(\?!/, /without lookaround/],
    ['(?<=/a)b', /a lookbehind \(\?<=/, /without lookaround/],
    ['(?<!/a)b', /a lookbehind \(\?<!/, /without lookaround/],
    ['(a|b)\\1', /a back-reference \(\\1\)/, /"\(a\|b\)\(a\|b\)"/],
    ['(?<x>a)\\k<x>', /named back-reference/, /explicitly/],
    ['(?>abc)', /an atomic group/, /"\(\?:\.\.\.\)"/],
    ['a++', /a possessive quantifier \(\+\+\)/, /greedy "\+"/],
    ['a{2}+b', /possessive quantifier \(\}\+\)/, /greedy/],
    ['/api\\Z', /the escape \\Z, which RE2 does not know/, /\\z/],
    ['/api/(', /not a valid regular expression \(Unterminated group\)/, /RE2-compatible/],
    ['/api/[', /not a valid regular expression/, /RE2-compatible/],
    ['*a', /not a valid regular expression \(Nothing to repeat\)/, /RE2-compatible/],
    ['', /regular expression is empty/, /prefix match/],
  ])('regex %j is refused', (re, problem, fix) => {
    expectError(() => Match.pathRegex(re), problem, fix, /^Match\.pathRegex/);
    expectError(() => Match.headerRegex('x-version', re), problem, fix, /^Match\.header/);
  });

  test.each([
    '(?i)^/admin/.*',
    '(?is)/a.b',
    '/api/(?i:v)[0-9]+',
    '/api/v[0-9]+/.*',
    '(?P<version>v[0-9]+)/.*',
    '[\\]a+]+b',
    'a b#c',
    '\\d+\\.\\d+',
    'a\\++',
    '[a++]',
    '^/x{2,3}$',
  ])('regex %j is accepted', (re) => {
    expect(Match.pathRegex(re).path?.value).toBe(re);
    expect(Match.headerRegex('x-version', re).headers['x-version'].value).toBe(re);
  });

  test('valid header names are accepted', () => {
    expect(Object.keys(Match.header('x-canary', '1').headers)).toEqual(['x-canary']);
    expect(Object.keys(Match.headerPrefix('x_b3.span~id', 'a').headers)).toEqual(['x_b3.span~id']);
  });
});

describe('8. gateway hosts', () => {
  const gateway = (hosts: string[]): MeshGateway => {
    const s = stack();
    const svc = new MicroService(s, 'web', { image: ContainerImage.fromRegistry('ghcr.io/acme/web:1.0') });
    return new MeshGateway(s, 'public', { service: svc, hosts });
  };
  test('a label over 63 characters or a name over 253 is refused', () => {
    expectError(() => gateway([`${'a'.repeat(64)}.example.com`]), /label "a{20}\.\.\." of 64 characters, more than the 63/, /shorten/, 'shop/public');
    const long = `${Array.from({ length: 5 }, () => 'b'.repeat(60)).join('.')}.com`;
    expectError(() => gateway([long]), /is 308 characters long, more than the 253/, /shorter host name/, 'shop/public');
  });
  test('names at the limits are accepted', () => {
    const max = `${Array.from({ length: 3 }, () => 'c'.repeat(63)).join('.')}.${'d'.repeat(58)}.io`;
    expect(max.length).toBe(253);
    expect(gateway([`${'a'.repeat(63)}.example.com`, max, '*.example.com']).hosts).toHaveLength(3);
  });
});

describe('9. Python constructs', () => {
  const src = (app: string, req = FASTAPI_REQ, file = 'app.py'): string => fixture({ [file]: app, 'requirements.txt': req });

  test('a module file that does not define the attribute is refused, at the construct path', () => {
    const dir = src('from fastapi import FastAPI\n\napplication = FastAPI()\n');
    expectError(() => new FastApiApp(stack(), 'api', { source: dir }), /app\.py does not define "app" at module level, so gunicorn cannot load "app:app".*Failed to find attribute 'app' in 'app'/,
      /"app:application"|app = FastAPI\(\)/, 'shop/api');
  });

  test('an app created only inside a function is refused, pointing at the factory', () => {
    const dir = src('from flask import Flask\n\ndef create_app():\n    app = Flask(__name__)\n    return app\n', FLASK_REQ);
    expectError(() => new GunicornFlaskApp(stack(), 'web', { source: dir }), /does not define "app" at module level/, /module: "app:create_app\(\)"/, 'shop/web');
  });

  test('a factory that is not defined is refused; a defined one is accepted', () => {
    const dir = src('from flask import Flask\napp = Flask(__name__)\n', FLASK_REQ);
    expectError(() => new GunicornFlaskApp(stack(), 'web', { source: dir, module: 'app:create_app()' }), /does not define the factory "create_app"/, /def create_app\(\):/, 'shop/web');
    const ok = src('from flask import Flask\n\ndef create_app(config=None) -> Flask:\n    return Flask(__name__)\n', FLASK_REQ);
    expect(new GunicornFlaskApp(stack(), 'web', { source: ok, module: 'app:create_app()' }).module).toBe('app:create_app()');
  });

  test('a package __init__.py is read, and a dotted module', () => {
    const pkg = fixture({ 'app/__init__.py': 'from .main import api as app\n', 'app/main.py': 'api = 1\n', 'requirements.txt': FASTAPI_REQ });
    expect(new FastApiApp(stack(), 'api', { source: pkg }).module).toBe('app:app');
    const dotted = fixture({ 'svc/main.py': '"""docs: app = nothing"""\nx = 1\n', 'requirements.txt': FASTAPI_REQ });
    expectError(() => new FastApiApp(stack(), 'api', { source: dotted, module: 'svc.main:app' }), /svc\/main\.py does not define "app"/, /"svc\.main:application"/, 'shop/api');
  });

  test.each([
    ['plain', 'app = make()\n'],
    ['annotated', 'from fastapi import FastAPI\napp: FastAPI = FastAPI()\n'],
    ['multi-line', 'app = make(\n    title="x",\n)\n'],
    ['chained', 'application = app = make()\n'],
    ['tuple', 'app, db = make(), None\n'],
    ['def', 'async def app(scope, receive, send):\n    pass\n'],
    ['class', 'class app:\n    pass\n'],
    ['from import', 'from service import app\n'],
    ['from import as', 'from service import (\n    build,\n    api as app,\n)\n'],
    ['import as', 'import service.main as app\n'],
    ['in try/except', 'try:\n    from fast import app\nexcept ImportError:\n    app = None\n'],
    ['in if', 'import os\nif os.environ.get("X"):\n    app = 1\nelse:\n    app = 2\n'],
    ['one-line if', 'if True: app = 1\n'],
    ['walrus', 'print(app := 1)\n'],
    ['global in function', 'def init():\n    global app\n    app = 1\ninit()\n'],
    ['star import (unknown)', 'from service import *\n'],
    ['module __getattr__ (unknown)', 'def __getattr__(name):\n    return 1\n'],
    ['semicolons', 'import x; app = x.make()\n'],
  ])('an app defined %s is accepted', (_name, code) => {
    expect(new FastApiApp(stack(), 'api', { source: src(code) }).module).toBe('app:app');
  });

  test('the module reader ignores strings, comments and nested scopes', () => {
    expect(findModuleAttribute('# app = 1\nx = "app = 1"\n', 'app').status).toBe('missing');
    expect(findModuleAttribute('"""\napp = 1\n"""\n', 'app').status).toBe('missing');
    expect(findModuleAttribute('class C:\n    app = 1\n', 'app').status).toBe('missing');
    expect(findModuleAttribute('app: FastAPI\n', 'app').status).toBe('missing');
    expect(findModuleAttribute('if app == 1:\n    pass\n', 'app').status).toBe('missing');
    expect(findModuleAttribute('x.app = 1\n', 'app').status).toBe('missing');
    expect(findModuleAttribute('app = fastapi.FastAPI(title="x")\n', 'app')).toEqual({ status: 'defined', madeBy: 'FastAPI' });
    expect(findModuleAttribute('def create_app() -> "Flask":\n    pass\n', 'create_app').status).toBe('defined');
    expect(findModuleAttribute('match = re.match("a", b)\n', 'match').status).toBe('defined');
  });

  test('an ASGI app on a WSGI worker, and a WSGI app on the uvicorn worker, are refused', () => {
    const fastapi = src('from fastapi import FastAPI\napp = FastAPI()\n', FLASK_REQ);
    expectError(() => new GunicornFlaskApp(stack(), 'web', { source: fastapi, workerClass: WsgiWorkerClass.SYNC }),
      /"app:app" is a FastAPI app, which speaks ASGI, but GunicornFlaskApp runs it on the sync worker class, which speaks WSGI/, /use FastApiApp/, 'shop/web');
    expectError(() => new GunicornFlaskApp(stack(), 'web', { source: fastapi }), /GunicornFlaskApp runs it on the gthread worker class/, /FastApiApp/, 'shop/web');
    const flask = src('import flask\napp = flask.Flask(__name__)\n');
    expectError(() => new FastApiApp(stack(), 'api', { source: flask }), /"app:app" is a Flask app, which speaks WSGI, but FastApiApp runs it on uvicorn's ASGI worker/, /use GunicornFlaskApp/, 'shop/api');
    const factory = src('from flask import Flask\ndef create_app() -> Flask:\n    return Flask(__name__)\n');
    expectError(() => new FastApiApp(stack(), 'api', { source: factory, module: 'app:create_app()' }), /is a Flask app/, /GunicornFlaskApp/, 'shop/api');
  });

  test('a worker class of the other interface is refused', () => {
    expectError(() => new FastApiApp(stack(), 'api', { source: src('app = 1\n'), workerClass: WsgiWorkerClass.SYNC as any }),
      /worker class "sync" is a WSGI worker, but FastApiApp serves an ASGI \(FastAPI\) app/, /AsgiWorkerClass\.UVICORN/, 'shop/api');
    expectError(() => new GunicornFlaskApp(stack(), 'web', { source: src('app = 1\n', FLASK_REQ), workerClass: AsgiWorkerClass.UVICORN as any }),
      /is an ASGI worker, but GunicornFlaskApp serves a WSGI \(Flask\) app/, /WsgiWorkerClass\.GTHREAD/, 'shop/web');
  });

  test('an app wrapped by an unknown callable is accepted on either construct', () => {
    expect(new FastApiApp(stack(), 'api', { source: src('from a2wsgi import WSGIMiddleware\napp = WSGIMiddleware(flask_app)\n') }).workerClass).toBe(AsgiWorkerClass.UVICORN);
    expect(new GunicornFlaskApp(stack(), 'web', { source: src('app = WsgiToAsgi(x)\n', FLASK_REQ) }).workerClass).toBe(WsgiWorkerClass.GTHREAD);
  });

  test('a bad healthCheckPath names the app, not HealthCheck.http', () => {
    const e = expectError(() => new GunicornFlaskApp(stack(), 'api', { source: src('from flask import Flask\napp = Flask(__name__)\n', FLASK_REQ), healthCheckPath: "/health'z" }),
      /^healthCheckPath: the health check path contains "'"/, /"%27"/, 'shop/api');
    expect(e.message).toMatch(/^\[pyfleet\] shop\/api: healthCheckPath: /);
  });
});
