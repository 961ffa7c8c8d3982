// pyfleet deploy without an engine: the command line, the steps' validation, the mapping of a generated
// compose service to the `docker run` of a release container, and the refusals that come before any
// docker command. The releases themselves run for real in test/e2e/release.test.ts.
import * as fs from 'fs';
import * as path from 'path';
import { App, CircuitBreaker, ComposeNetworkMode, Duration, EnvValue, FastApiApp, HealthCheck, Mesh, Stack } from '../../lib';
import { deployCommand } from '../../lib/cli';
import { goDurationMs, interpolate, releaseSpec } from '../../lib/deploy/container';
import { parseDeployArgs } from '../../lib/deploy/cli';
import { parseSteps } from '../../lib/deploy/release';
import { RELEASE_LABEL } from '../../lib/render/compose/host-gateway';
import { synth, Synthesized } from '../support/synth';

const ORDER = path.join(__dirname, '..', '..', 'examples', 'shop', 'services', 'order');

async function run(args: string[]): Promise<{ code: number; out: string; err: string }> {
  let out = '';
  let err = '';
  const code = await deployCommand(args, { out: (s) => { out += s; }, err: (s) => { err += s; } }, process.cwd(), { PATH: process.env.PATH, DOCKER_HOST: 'unix:///nonexistent-pyfleet.sock' });
  return { code, out, err };
}

describe('pyfleet deploy', () => {
  let out: Synthesized;
  beforeAll(() => {
    out = synth((app: App) => {
      const stack = new Stack(app, 'shop', { mesh: Mesh.istio(), compose: { networkMode: ComposeNetworkMode.HOST } });
      const orders = new FastApiApp(stack, 'order-service', {
        source: ORDER, port: 8100, replicas: 1, metrics: { port: 9300 }, expose: { port: 8100 },
        healthCheck: HealthCheck.http('/healthz', { interval: Duration.seconds(2) }),
        env: { PRICE: 'costs $5', DB_PASSWORD: EnvValue.fromSecret('db', 'password') },
      });
      new CircuitBreaker(stack, 'breaker', { service: orders, maxConnections: 10 });
      new FastApiApp(stack, 'user-service', { source: ORDER, port: 8200, replicas: 1, metrics: false });
    });
  });
  afterAll(() => out.cleanup());

  test('steps increase from 1 to 100 and end at 100', () => {
    expect(parseSteps('10,50,100')).toEqual([10, 50, 100]);
    expect(parseSteps('100')).toEqual([100]);
    expect(() => parseSteps('10,50')).toThrow(/ends at 50, not 100.*--steps 10,50,100/);
    expect(() => parseSteps('50,10,100')).toThrow(/must increase/);
    expect(() => parseSteps('0,100')).toThrow(/not a share from 1 to 100/);
    expect(() => parseSteps('10,abc')).toThrow(/"abc" is not a share/);
  });

  test('the command line: options, usage errors (exit 2) with the help', async () => {
    expect(parseDeployArgs(['dist/shop.compose.yml', '--service', 'a', '--service', 'b', '-p', 'proj', '--steps', '5,100', '--pause', '1m30s', '--build-arg', 'K=V=W', '--build-network', 'host', '--force'])).toEqual({
      file: 'dist/shop.compose.yml', project: 'proj', services: ['a', 'b'], steps: [5, 100], pauseMs: 90_000, abort: false, force: true, buildArgs: { K: 'V=W' }, buildNetwork: 'host',
    });
    for (const [args, message] of [
      [[], /give the compose file/], [['f.yml', '--steps', '10'], /ends at 10, not 100/], [['f.yml', '--pause', 'soon'], /not a duration/],
      [['f.yml', '--abort', '--steps', '100'], /takes no --steps/], [['f.yml', '--bogus'], /unknown option --bogus/], [['f.yml', '--build-arg', 'X'], /not KEY=VALUE/],
    ] as Array<[string[], RegExp]>) {
      const r = await run(args);
      expect({ args, code: r.code }).toEqual({ args, code: 2 });
      expect(r.err).toMatch(message);
      expect(r.err).toContain('Usage: pyfleet deploy');
    }
    const help = await run(['--help']);
    expect(help.code).toBe(0);
    expect(help.out).toMatch(/--steps <a,b,...,100>/);
  });

  test('refusals before any docker command, each with its fix', async () => {
    const file = path.join(out.dir, 'shop.compose.yml');
    const noGateway = await run([file, '--service', 'user-service']);
    expect(noGateway.code).toBe(1);
    expect(noGateway.err).toMatch(/"user-service" is not behind a gateway in host network mode.*Fix: put the service behind a gateway/);
    const unknown = await run([file, '--service', 'nope']);
    expect(unknown.err).toMatch(/no service "nope" in .* \(it has order-service, order-service-v1, user-service\)/);
    const missing = await run([path.join(out.dir, 'missing.compose.yml')]);
    expect(missing.err).toMatch(/does not exist: synthesize first/);
    // The secret the compose file reads from the shell is not set: the release cannot start.
    const secret = await run([file, '--service', 'order-service']);
    expect(secret.code).toBe(1);
    expect(secret.err).toMatch(/variable DB_PASSWORD: set DB_PASSWORD to the value of key password of secret db/);
  });

  test('a bridge-mode file is refused with the network-mode fix', async () => {
    const bridge = synth((app: App) => {
      const stack = new Stack(app, 'b', { mesh: Mesh.istio() });
      const svc = new FastApiApp(stack, 'api', { source: ORDER, port: 8100, replicas: 1, metrics: false });
      new CircuitBreaker(stack, 'breaker', { service: svc, maxConnections: 10 });
    });
    try {
      const r = await run([path.join(bridge.dir, 'b.compose.yml'), '--service', 'api']);
      expect(r.err).toMatch(/Fix: pyfleet deploy releases compose projects in host network mode/);
    } finally {
      bridge.cleanup();
    }
  });

  test('a version\'s compose service becomes the docker run of a release container, setting by setting', () => {
    const def = out.compose('shop').services['order-service-v1'];
    expect(JSON.parse(def.labels[RELEASE_LABEL]).slots.map((s: any) => s.port)).toEqual([8103, 8104]);
    const spec = releaseSpec('order-service-v1', def, out.dir, { DB_PASSWORD: 'hunter2' });
    expect(spec.image).toBe(def.build.tags[0]);
    expect(spec.build).toEqual({ context: path.join(out.dir, def.build.context), dockerfile: def.build.dockerfile, args: def.build.args ?? {} });
    // `$$` is compose's literal `$`; a secret comes from the shell.
    expect(spec.env).toMatchObject({ PRICE: 'costs $5', DB_PASSWORD: 'hunter2', PYFLEET_LISTEN_PORT: '8103', PYFLEET_METRICS_PORT: '9300' });
    const args = spec.runArgs;
    const pairs = (flag: string) => args.flatMap((a, i) => (a === flag ? [args[i + 1]] : []));
    expect(pairs('--network')).toEqual(['host']);
    expect(pairs('--user')).toEqual([def.user]);
    expect(args).toContain('--read-only');
    expect(pairs('--tmpfs')).toEqual(['/tmp']);
    expect(pairs('--cap-drop')).toEqual(['ALL']);
    expect(pairs('--security-opt')).toEqual(['no-new-privileges:true']);
    expect(pairs('--stop-signal')).toEqual(['SIGTERM']);
    expect(pairs('--stop-timeout')).toEqual([String(Math.ceil(goDurationMs(def.stop_grace_period) / 1000))]);
    expect(pairs('--cpus')).toEqual([def.deploy.resources.limits.cpus]);
    expect(pairs('--memory')).toEqual([def.deploy.resources.limits.memory]);
    expect(pairs('--log-opt')).toEqual(['max-file=3', 'max-size=10m']);
    expect(pairs('--label')).toContain('app=order-service');
    expect(pairs('--health-interval')).toEqual(['2000ms']);
    // The exec-form check runs in the shell docker run gives it, quoted word by word.
    expect(pairs('--health-cmd')[0]).toMatch(/^python -c 'import os, urllib\.request; .*PYFLEET_LISTEN_PORT.*'$/);
    expect(spec.health).toEqual({ intervalMs: 2000, timeoutMs: goDurationMs(def.healthcheck.timeout), startPeriodMs: goDurationMs(def.healthcheck.start_period), retries: def.healthcheck.retries });
    // Same definition, same hash; another env, another release.
    expect(releaseSpec('order-service-v1', def, out.dir, { DB_PASSWORD: 'hunter2' }).hash).toBe(spec.hash);
    expect(releaseSpec('order-service-v1', { ...def, environment: { ...def.environment, PRICE: 'x' } }, out.dir, { DB_PASSWORD: 'hunter2' }).hash).not.toBe(spec.hash);
    // Unknown keys are refused, never dropped; a release needs a health check.
    expect(() => releaseSpec('x', { ...def, ulimits: {} }, out.dir, { DB_PASSWORD: 'h' })).toThrow(/"ulimits", which pyfleet deploy does not know how to start/);
    expect(() => releaseSpec('x', { ...def, healthcheck: undefined }, out.dir, { DB_PASSWORD: 'h' })).toThrow(/no health check.*HealthCheck\.http/);
    expect(fs.existsSync(spec.build!.context)).toBe(true);
  });

  test('compose interpolation and Go durations', () => {
    expect(interpolate('a$$b ${X} $X ${Y:-d} ${Z-e}', { X: '1', Y: '' }, 'w')).toBe('a$b 1 1 d e');
    expect(() => interpolate('${S:?set S please}', {}, 'where')).toThrow('where: set S please');
    expect(goDurationMs('1m30s')).toBe(90_000);
    expect(goDurationMs('250ms')).toBe(250);
    expect(() => goDurationMs('soon')).toThrow(/not a duration/);
  });
});
