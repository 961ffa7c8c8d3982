// The render pipeline: one resolved model per stack, pure targets passed to the App, escape hatches.
// Each of the first eight tests is one of the problems that main had before the pipeline was rebuilt.
import * as fs from 'fs';
import * as path from 'path';
import { ApiObject, Chart, JsonPatch, Testing } from 'cdk8s';
import * as kplus from 'cdk8s-plus-27';
import * as yaml from 'js-yaml';
import { App, builtinTargets, Compose, ContainerImage, Duration, HealthCheck, Kubernetes, MicroService, PyfleetError, Stack, StackModel, Target } from '../../lib';
import { readTree, tmpdir } from '../support/synth';

const img = (tag = '1.0.0'): ContainerImage => ContainerImage.fromRegistry(`ghcr.io/acme/app:${tag}`);
const deployments = (objs: readonly any[]): string[] => objs.filter((o) => o.kind === 'Deployment').map((o) => o.metadata.name).sort();

function newApp(props: ConstructorParameters<typeof App>[0] = {}): App {
  return new App({ outdir: path.join(tmpdir(), 'dist'), ...props });
}

function errorOf(f: () => unknown): PyfleetError {
  try {
    f();
  } catch (e) {
    expect(e).toBeInstanceOf(PyfleetError);
    return e as PyfleetError;
  }
  throw new Error('expected a PyfleetError');
}

describe('the eight problems of the old pipeline', () => {
  test('1. synthesize, add a service, synthesize again: every target has both', () => {
    const app = newApp();
    const stack = new Stack(app, 'shop');
    new MicroService(stack, 'users', { image: img() });
    const first = app.synthesize()[0];
    expect(deployments(first.kubernetes)).toEqual(['users-v1']);
    new MicroService(stack, 'orders', { image: img() });
    const second = app.synthesize()[0];
    expect(deployments(second.kubernetes)).toEqual(['orders-v1', 'users-v1']);
    expect(Object.keys(second.compose!.services).sort()).toEqual(['orders', 'users']);
    // Rendering left the user's tree as it was: only the user's constructs are in it.
    expect(stack.node.findAll().filter((c) => c instanceof ApiObject)).toEqual([]);
  });

  test("2. cdk8s's own APIs see the manifests before synth(): Testing.synth, toJson, synthYaml", () => {
    const app = newApp();
    const stack = new Stack(app, 'shop');
    new MicroService(stack, 'users', { image: img() });
    const viaTesting = Testing.synth(stack);
    expect(deployments(viaTesting)).toEqual(['users-v1']);
    expect(stack.toJson()).toEqual(viaTesting);
    const docs = yaml.loadAll(app.synthYaml()) as any[];
    expect(docs.map((d) => `${d.kind}/${d.metadata.name}`)).toEqual(viaTesting.map((d: any) => `${d.kind}/${d.metadata.name}`));
    expect(fs.existsSync(app.outdir)).toBe(false);
  });

  test('3. services named kubernetes or istio, a version named service: no clash with internals', () => {
    const app = newApp();
    const stack = new Stack(app, 'shop');
    new MicroService(stack, 'kubernetes', { image: img() });
    const istio = new MicroService(stack, 'istio', { image: img() });
    istio.addVersion('service', { replicas: 1 });
    const out = app.synthesize()[0];
    expect(deployments(out.kubernetes)).toEqual(['istio-service', 'istio-v1', 'kubernetes-v1']);
  });

  test('4. a Kubernetes-only stack may expose two services on port 80; with compose it may not', () => {
    const build = (compose: boolean): App => {
      const app = newApp();
      const stack = new Stack(app, 'shop', { compose: { enabled: compose } });
      new MicroService(stack, 'web', { image: img(), expose: { port: 80 } });
      new MicroService(stack, 'api', { image: img(), expose: { port: 80 } });
      return app;
    };
    const out = build(false).synthesize()[0];
    expect(out.kubernetes.filter((o) => o.kind === 'Service' && (o as any).spec.type === 'LoadBalancer')).toHaveLength(2);
    expect(out.compose).toBeUndefined();
    expect(errorOf(() => build(true).synthesize()).message).toMatch(/shop\/api: host port 80 is already taken by "shop\/web" in the compose project of stack "shop"/);
  });

  test('5. sub-second durations render: grace period rounded up, a sub-second pre-stop pause', () => {
    const app = newApp();
    const stack = new Stack(app, 'shop');
    new MicroService(stack, 'users', { image: img(), gracefulShutdown: Duration.millis(2500), preStopDelay: Duration.millis(500) });
    const d = app.synthesize()[0].kubernetes.find((o) => o.kind === 'Deployment') as any;
    // 0.5 + 2.5 + 5 = 8 s
    expect(d.spec.template.spec.terminationGracePeriodSeconds).toBe(8);
    expect(d.spec.template.spec.containers[0].lifecycle.preStop.exec.command).toEqual(['sleep', '0.5']);
  });

  test('6. escape hatches: a JSON patch on a generated Deployment, a compose override', () => {
    const app = newApp();
    const stack = new Stack(app, 'shop');
    const users = new MicroService(stack, 'users', { image: img() });
    const before = app.synthesize()[0];
    Kubernetes.of(users.defaultVersion).deployment.addJsonPatch(JsonPatch.add('/spec/minReadySeconds', 10), JsonPatch.replace('/spec/revisionHistoryLimit', 2));
    Kubernetes.of(users).service.addJsonPatch(JsonPatch.add('/metadata/annotations', { team: 'a' }));
    Compose.of(users.defaultVersion).addOverride('deploy.resources.limits.memory', '1g');
    Compose.of(users.defaultVersion).addDeletionOverride('security_opt');
    const after = app.synthesize()[0];
    const dep = (o: StackModel | any) => o.kubernetes.find((x: any) => x.kind === 'Deployment');
    const { minReadySeconds, revisionHistoryLimit, ...restAfter } = dep(after).spec;
    const { minReadySeconds: oldMin, revisionHistoryLimit: oldLimit, ...restBefore } = dep(before).spec;
    expect([minReadySeconds, revisionHistoryLimit, oldMin, oldLimit]).toEqual([10, 2, 0, 5]);
    expect(restAfter).toEqual(restBefore); // exactly the patched fields changed
    expect((after.kubernetes.find((x) => x.kind === 'Service') as any).metadata.annotations).toEqual({ team: 'a' });
    const c = after.compose!.services.users;
    expect(c.deploy!.resources!.limits!.memory).toBe('1g');
    expect(c.security_opt).toBeUndefined();
    const { deploy: d1, security_opt: s1, ...r1 } = before.compose!.services.users;
    const { deploy: d2, ...r2 } = c;
    expect(r2).toEqual(r1);
    expect(s1).toEqual(['no-new-privileges:true']);
    expect(d2!.resources!.reservations).toEqual(d1!.resources!.reservations);
  });

  test('6b. a patch on a path that does not exist fails with the construct path, and writes nothing', () => {
    const app = newApp();
    const stack = new Stack(app, 'shop');
    const users = new MicroService(stack, 'users', { image: img() });
    Kubernetes.of(users.defaultVersion).deployment.addJsonPatch(JsonPatch.replace('/spec/nonexistent/field', 1));
    const e = errorOf(() => app.synth());
    expect(e.message).toMatch(/shop\/users\/v1: a JSON patch on the generated Deployment "users-v1" cannot be applied/);
    expect(e.message).toMatch(/Fix: patch a path that exists/);
    expect(fs.existsSync(app.outdir)).toBe(false);
    expect(() => Compose.of(users.defaultVersion).addOverride('a..b', 1)).toThrow(/not a dotted compose key path/);
  });

  test('7. typed results: the compose project and Kubernetes objects, the Istio objects beside them', () => {
    const app = newApp();
    const stack = new Stack(app, 'shop', { mesh: require('../../lib').Mesh.istio() });
    new MicroService(stack, 'users', { image: img() });
    const out = app.synthesize()[0];
    const ns = out.kubernetes.find((o) => o.kind === 'Namespace')!;
    expect(ns.metadata.labels!['istio-injection']).toBe('enabled');
    expect(out.kubernetes.some((o) => o.kind === 'PeerAuthentication')).toBe(true);
    expect(out.compose!.services.users.user).toBe('10001:10001');
    expect(out.model.services[0].addresses.kubernetes).toBe('http://users.shop.svc.cluster.local:8080');
    // The model is immutable.
    expect(Object.isFrozen(out.model)).toBe(true);
    expect(Object.isFrozen(out.model.services[0].versions)).toBe(true);
  });

  test('8. targets are values per App: a third-party target, and an App without compose', () => {
    const seen: string[] = [];
    const counter: Target<number> = {
      name: 'counter',
      render(model) {
        seen.push(model.name);
        const n = model.services.reduce((k, s) => k + s.versions.length, 0);
        return { result: n, artifacts: [{ path: `${model.name}.count.txt`, content: `${n}\n` }] };
      },
    };
    const app = newApp({ targets: [...builtinTargets().filter((t) => t.name !== 'compose'), counter] });
    const stack = new Stack(app, 'shop');
    new MicroService(stack, 'users', { image: img() });
    app.synth();
    const files = readTree(app.outdir);
    expect(files.get('shop.count.txt')).toBe('1\n');
    expect(files.has('shop.compose.yml')).toBe(false);
    expect(files.has('shop.k8s.yaml')).toBe(true);
    expect(seen).toEqual(['shop']);
    // Another App in the same process still has every built-in target: nothing is global.
    const other = newApp();
    new MicroService(new Stack(other, 'b'), 'users', { image: img() });
    expect(other.synthesize()[0].compose).toBeDefined();
    expect(() => newApp({ targets: [counter, counter] })).toThrow(/two targets are named "counter"/);
  });
});

describe('a real cdk8s citizen', () => {
  test('user ApiObjects and cdk8s-plus constructs inside a Stack synthesize with it, in its namespace; a plain Chart beside still synthesizes', () => {
    const app = newApp();
    const stack = new Stack(app, 'shop', { namespace: 'shop-ns' });
    new MicroService(stack, 'users', { image: img() });
    new ApiObject(stack, 'extra', { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'extra' }, data: { a: '1' } });
    new kplus.ConfigMap(stack, 'plus', { metadata: { name: 'plus' }, data: { b: '2' } });
    const plain = new Chart(app, 'plain');
    new ApiObject(plain, 'cm', { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'plain-cm' } });
    const objs = Testing.synth(stack);
    const cms = objs.filter((o: any) => o.kind === 'ConfigMap');
    expect(cms.map((o: any) => [o.metadata.name, o.metadata.namespace])).toEqual([['extra', 'shop-ns'], ['plus', 'shop-ns']]);
    app.synth();
    const files = readTree(app.outdir);
    const written = yaml.loadAll(files.get('shop.k8s.yaml')!) as any[];
    expect(written.filter((o) => o.kind === 'ConfigMap').map((o) => o.metadata.name)).toEqual(['extra', 'plus']);
    expect((yaml.loadAll(files.get('plain.k8s.yaml')!) as any[]).map((o) => o.metadata.name)).toEqual(['plain-cm']);
    expect(yaml.loadAll(app.synthYaml()).length).toBe(written.length + 1);
  });
});

describe('cross-object rules of the resolve step', () => {
  test("a service named like another service's workload is refused", () => {
    const app = newApp();
    const stack = new Stack(app, 'shop');
    new MicroService(stack, 'orders', { image: img() });
    new MicroService(stack, 'orders-v1', { image: img() });
    expect(errorOf(() => app.synthesize()).message).toMatch(/shop\/orders-v1: service "orders-v1" has the name of the workload of version "v1" of "orders".*Fix: rename/);
  });

  test('two stacks in one namespace are refused, naming both', () => {
    const app = newApp();
    new MicroService(new Stack(app, 'a', { namespace: 'shared' }), 'users', { image: img() });
    new MicroService(new Stack(app, 'b', { namespace: 'shared' }), 'users', { image: img() });
    expect(errorOf(() => app.synthesize()).message).toMatch(/stacks "a" and "b" share namespace "shared".*service "users".*Fix: give each stack its own namespace/);
  });

  test('two stacks that build the same source directory share one staged context', () => {
    const app = newApp();
    const src = fs.mkdtempSync(path.join(tmpdir(), 'src-'));
    fs.writeFileSync(path.join(src, 'Dockerfile'), 'FROM python:3.12.8-slim-bookworm\n');
    new MicroService(new Stack(app, 'a'), 'users', { image: ContainerImage.fromDirectory(src) });
    new MicroService(new Stack(app, 'b'), 'users', { image: ContainerImage.fromDirectory(src) });
    app.synth();
    const contexts = [...readTree(app.outdir).keys()].filter((f) => f.startsWith('assets/')).map((f) => f.split('/')[1]);
    expect(new Set(contexts).size).toBe(1);
  });

  test("a source directory that contains the App's outdir is refused (its hash would change at every synth); dist inside is skipped", () => {
    const src = fs.mkdtempSync(path.join(tmpdir(), 'src-'));
    fs.writeFileSync(path.join(src, 'Dockerfile'), 'FROM python:3.12.8-slim-bookworm\n');
    const build = (outdir: string): App => {
      const app = new App({ outdir });
      new MicroService(new Stack(app, 'a'), 'users', { image: ContainerImage.fromDirectory(src) });
      return app;
    };
    const e = errorOf(() => build(path.join(src, 'out')).synth());
    expect(e.message).toMatch(/a\/users\/v1: the source directory .* contains the App's outdir .*\/out: its build context would include the previous synth's output.*Fix: write the output outside the source directory/);
    expect(fs.existsSync(path.join(src, 'out'))).toBe(false);
    expect(errorOf(() => build(src).synth()).message).toMatch(/contains the App's outdir/);
    // The default outdir name is never staged, so the hash is the same synth after synth.
    const tag = (): string => build(path.join(src, 'dist')).synthesize()[0].model.services[0].versions[0].image.reference;
    const first = tag();
    build(path.join(src, 'dist')).synth();
    expect(tag()).toBe(first);
    expect(() => build(path.join(src, 'deploy', 'dist')).synthesize()).not.toThrow();
  });

  test('a failed synth leaves the earlier output byte-identical', () => {
    const app = newApp();
    const stack = new Stack(app, 'shop');
    const users = new MicroService(stack, 'users', { image: img(), healthCheck: HealthCheck.http('/healthz') });
    app.synth();
    const before = readTree(app.outdir);
    Kubernetes.of(users.defaultVersion).deployment.addJsonPatch(JsonPatch.replace('/spec/nope/deeper', 1));
    expect(() => app.synth()).toThrow(PyfleetError);
    expect(readTree(app.outdir)).toEqual(before);
  });
});

describe('value checks reported with the construct path', () => {
  test('a CPU limit Docker refuses and an env value undefined at synth name the service', () => {
    const app = newApp();
    const stack = new Stack(app, 'shop');
    const cpu = errorOf(() => new MicroService(stack, 'tiny', { image: img(), cpu: require('../../lib').Cpu.millis(5) }));
    expect(cpu.constructPath).toBe('shop/tiny');
    expect(cpu.message).toMatch(/10m|0\.01/);
    const env = errorOf(() => new MicroService(stack, 'web', { image: img(), env: { API_KEY: process.env.PYFLEET_SURELY_UNSET as unknown as string } }));
    expect(env.constructPath).toBe('shop/web');
    expect(env.message).toMatch(/API_KEY/);
    expect(env.message).toMatch(/undefined/);
  });
});

describe('target-aware rules added with the pipeline', () => {
  test('a route to a version with 0 replicas is refused; a split that gives it weight 0 is fine', () => {
    const { MeshRoute, Mesh } = require('../../lib');
    const build = (weight: number): App => {
      const app = newApp();
      const stack = new Stack(app, 'shop', { mesh: Mesh.istio() });
      const orders = new MicroService(stack, 'orders', { image: img() });
      const v2 = orders.addVersion('v2', { replicas: 0 });
      new MeshRoute(stack, 'r', { service: orders, rules: [{ split: [{ to: orders.defaultVersion, weight: 100 - weight }, { to: v2, weight }] }] });
      return app;
    };
    expect(errorOf(() => build(10).synthesize()).message).toMatch(/shop\/r rule 0: the rule sends traffic to version "v2", which has 0 replicas.*Fix: give "v2" at least one replica/);
    expect(() => build(0).synthesize()).not.toThrow();
  });

  test('a privileged port in compose host network mode is refused; Kubernetes-only it is fine', () => {
    const { ComposeNetworkMode } = require('../../lib');
    const build = (enabled: boolean): App => {
      const app = newApp();
      const stack = new Stack(app, 'vps', { compose: { enabled, networkMode: ComposeNetworkMode.HOST } });
      new MicroService(stack, 'web', { image: img(), port: 80, replicas: 1, expose: { port: 80 } });
      return app;
    };
    expect(errorOf(() => build(true).synthesize()).message).toMatch(/vps\/web: port "http" 80 is privileged.*Fix: use a container port from 1024 up/);
    expect(() => build(false).synthesize()).not.toThrow();
  });
});

test('two secret references that compose would read from one shell variable are refused', () => {
  const { EnvValue } = require('../../lib');
  const app = newApp();
  const stack = new Stack(app, 'shop');
  new MicroService(stack, 'a', { image: img(), env: { P: EnvValue.fromSecret('db-creds', 'password') } });
  new MicroService(stack, 'b', { image: img(), env: { P: EnvValue.fromSecret('db.creds', 'password') } });
  new MicroService(stack, 'c', { image: img(), env: { P: EnvValue.fromSecret('db-creds', 'password') } });
  const e = errorOf(() => app.synthesize());
  expect(e.message).toMatch(/shop\/b\/v1: secret "db\.creds" key "password" and secret "db-creds" key "password" \(used by shop\/a\/v1\) would both be read from the shell variable DB_CREDS_PASSWORD/);
  expect((e as any).errors).toHaveLength(1); // the same key used twice is fine
});
