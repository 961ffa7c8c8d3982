// Workers, migrations and schedules: the constructs' checks, the resolved model, and what the
// Kubernetes and compose targets make of them, validated against the real schemas and Pod Security
// "restricted"; the cron expressions' next runs against hand-computed times (a DST change included).
import { execFileSync } from 'child_process';
import { Construct } from 'constructs';
import * as fs from 'fs';
import * as yaml from 'js-yaml';
import * as path from 'path';
import { App, CELERY_SIZING, CeleryWorker, ComposeNetworkMode, ContainerImage, Cpu, Duration, FastApiApp, HealthCheck, Migration, MicroService, nextRuns, Postgres, PyfleetError, PyfleetValidationError, Redis, Schedule, Stack, Worker, WorkerHealthCheck } from '../../lib';
import { crossObjectProblems, restrictedProblems, unknownFieldProblems, validateComposeSchema, validateKubernetesObject } from '../support/checks';
import { forDockerCompose129 } from '../support/docker';
import { haveEngine } from '../support/engines';
import { synth, tmpdir } from '../support/synth';

/** A source folder with a FastAPI app and a Celery app beside it (as the shop's order service has). */
export function appSource(): string {
  const dir = tmpdir('pyfleet-worker-src-');
  fs.writeFileSync(path.join(dir, 'app.py'), 'from fastapi import FastAPI\napp = FastAPI()\n');
  fs.writeFileSync(path.join(dir, 'tasks.py'), 'from celery import Celery\ncelery = Celery("tasks")\n');
  fs.writeFileSync(path.join(dir, 'requirements.txt'), 'fastapi==0.142.0\ngunicorn==26.2.0\nuvicorn==0.54.0\ncelery==5.5.3\nredis==6.4.0\n');
  return dir;
}

function build(app: App, opts: { compose?: boolean; mode?: ComposeNetworkMode } = {}) {
  const stack = new Stack(app, 'shop', { namespace: 'shop', compose: { enabled: opts.compose ?? true, networkMode: opts.mode } });
  const src = appSource();
  const db = new Postgres(stack, 'orders-db');
  const cache = new Redis(stack, 'cache');
  const users = new MicroService(stack, 'user-service', { image: ContainerImage.fromRegistry('registry.example.com/users:1.0.0'), replicas: 1 });
  const orders = new FastApiApp(stack, 'order-service', { source: src, calls: [users, db, cache], replicas: 2 });
  const worker = new CeleryWorker(stack, 'order-worker', { source: src, app: 'tasks:celery', calls: [cache, db, users], cpu: Cpu.cores(1), taskTimeLimit: Duration.seconds(60) });
  new Worker(stack, 'mailer', { image: ContainerImage.fromRegistry('registry.example.com/mailer:2.0.1'), command: ['python', '-m', 'mailer'], healthCheck: WorkerHealthCheck.command(['test', '-f', '/tmp/alive']) });
  new Migration(stack, 'schema', { of: orders, command: ['alembic', 'upgrade', 'head'] });
  return { stack, orders, worker, users, db, cache };
}

const fixedSource = appSource();

describe('workers on Kubernetes', () => {
  const out = synth((app) => {
    const { stack, worker } = build(app, { compose: false });
    new Schedule(stack, 'nightly-report', { of: worker, cron: '0 3 * * *', timeZone: 'Europe/Berlin', command: ['python', '-m', 'reports.nightly'], timeout: Duration.minutes(20), retries: 2 });
  });
  afterAll(() => out.cleanup());
  const objects = out.k8s('shop');

  test('every object passes the strict schema, cross-object rules and Pod Security restricted', () => {
    for (const o of objects) expect([...validateKubernetesObject(o), ...unknownFieldProblems(o)]).toEqual([]);
    expect(crossObjectProblems(objects)).toEqual([]);
    for (const o of objects.filter((x) => x.kind === 'Deployment' || x.kind === 'Job')) expect(restrictedProblems(o)).toEqual([]);
    for (const o of objects.filter((x) => x.kind === 'CronJob')) expect(restrictedProblems({ metadata: o.metadata, spec: { template: o.spec.jobTemplate.spec.template } })).toEqual([]);
  });

  test('the Celery worker: a Deployment without a Service, concurrency from the CPU limit, the broker from the Redis it calls, exec liveness probe, grace > time limit', () => {
    const d = out.find('shop', 'Deployment', 'order-worker');
    expect(objects.some((o) => o.kind === 'Service' && o.metadata.name === 'order-worker')).toBe(false);
    const c = d.spec.template.spec.containers[0];
    // Its only port is the metrics endpoint (never a Service's; test/workers/metrics.test.ts).
    expect(c.ports).toEqual([{ name: 'metrics', containerPort: 9100, protocol: 'TCP' }]);
    expect(c.command).toEqual(['celery', '-A', 'pyfleet_celery:app', 'worker', '--loglevel=INFO', '--concurrency=2', '--time-limit=60', '--hostname=celery@%h']);
    expect(c.livenessProbe.exec.command).toEqual(['sh', '-c', 'exec celery -A tasks:celery inspect ping --destination "celery@$(hostname)" --timeout 5']);
    expect(c.resources.limits).toEqual({ cpu: '1000m', memory: '256Mi' });
    expect(d.spec.template.spec.terminationGracePeriodSeconds).toBe(75);
    const env = c.env.map((e: any) => e.name);
    expect(env.indexOf('CACHE_PASSWORD')).toBeLessThan(env.indexOf('CELERY_BROKER_URL'));
    expect(c.env.find((e: any) => e.name === 'CELERY_BROKER_URL').value).toBe('redis://:$(CACHE_PASSWORD)@cache.shop.svc.cluster.local:6379/0');
    expect(c.env.find((e: any) => e.name === 'ORDERS_DB_URL')).toBeDefined();
    expect(c.env.find((e: any) => e.name === 'USER_SERVICE_URL').value).toBe('http://user-service.shop.svc.cluster.local:8080');
    expect(d.spec.template.metadata.labels.app).toBe('order-worker');
  });

  test('the migration: a Job named by the release hash, a gate in each release pod, a Role that may get only that Job', () => {
    const jobs = objects.filter((o) => o.kind === 'Job');
    expect(jobs).toHaveLength(1);
    const job = jobs[0];
    expect(job.metadata.name).toMatch(/^order-service-v1-schema-[0-9a-f]{10}$/);
    expect(job.spec.template.spec.containers[0].command).toEqual(['alembic', 'upgrade', 'head']);
    const d = out.find('shop', 'Deployment', 'order-service-v1');
    const app = d.spec.template.spec.containers[0];
    expect(job.spec.template.spec.containers[0].image).toBe(app.image);
    // The release's environment: every variable of the app container (and the stores' connection variables).
    const names = (c: any) => c.env.map((e: any) => e.name).sort();
    expect(names(job.spec.template.spec.containers[0])).toEqual(expect.arrayContaining(names(app)));
    expect(names(job.spec.template.spec.containers[0])).toContain('ORDERS_DB_URL');
    expect(job.spec.template.metadata.labels.app).toBe('order-service-schema');
    const gate = d.spec.template.spec.initContainers[0];
    expect(gate.name).toBe('migration-gate');
    expect(gate.image).toBe(app.image);
    expect(gate.env).toEqual([{ name: 'PYFLEET_GATE_JOB', value: job.metadata.name }, { name: 'PYFLEET_GATE_NAMESPACE', value: 'shop' }]);
    expect(app.volumeMounts.map((m: any) => m.name)).not.toContain('migration-gate');
    const role = out.find('shop', 'Role', `${job.metadata.name}-gate`);
    expect(role.rules).toEqual([{ apiGroups: ['batch'], resources: ['jobs'], resourceNames: [job.metadata.name], verbs: ['get'] }]);
    const binding = out.find('shop', 'RoleBinding', `${job.metadata.name}-gate`);
    expect(binding.subjects).toEqual([{ kind: 'ServiceAccount', name: 'order-service', namespace: 'shop' }]);
    // Jobs apply before Deployments.
    expect(objects.indexOf(job)).toBeLessThan(objects.findIndex((o) => o.kind === "Deployment" && o.metadata.name === "order-service-v1"));
  });

  test('the schedule: a CronJob that never runs twice at once, with its zone, deadline, history, timeout and retries', () => {
    const cj = out.find('shop', 'CronJob', 'nightly-report');
    expect(cj.spec).toMatchObject({ schedule: '0 3 * * *', timeZone: 'Europe/Berlin', concurrencyPolicy: 'Forbid', startingDeadlineSeconds: 300, successfulJobsHistoryLimit: 3, failedJobsHistoryLimit: 3 });
    expect(cj.spec.jobTemplate.spec).toMatchObject({ activeDeadlineSeconds: 1200, backoffLimit: 2 });
    expect(cj.spec.jobTemplate.spec.template.spec.containers[0].command).toEqual(['python', '-m', 'reports.nightly']);
  });

  test('NetworkPolicies: workers and migrations get egress to what they call and no ingress; callees admit them', () => {
    const w = out.find('shop', 'NetworkPolicy', 'order-worker');
    expect(w.spec.ingress).toBeUndefined();
    expect(w.spec.egress.map((r: any) => r.to[0].podSelector?.matchLabels?.app ?? r.to[0].namespaceSelector?.matchLabels['kubernetes.io/metadata.name'])).toEqual(['user-service', 'cache', 'orders-db', 'kube-system']);
    const users = out.find('shop', 'NetworkPolicy', 'user-service');
    expect(users.spec.ingress[0].from.map((f: any) => f.podSelector.matchLabels.app)).toEqual(['order-service', 'order-worker', 'order-service-schema', 'nightly-report']);
    const m = out.find('shop', 'NetworkPolicy', 'order-service-schema');
    expect(m.spec.podSelector.matchLabels).toEqual({ app: 'order-service-schema' });
  });

  test('topology: the worker and the jobs are nodes that call, and nothing calls them', () => {
    const t = JSON.parse(out.files.get('shop.topology.json')!);
    const worker = t.nodes.find((n: any) => n.title === 'order-worker');
    expect(worker.kind).toBe('worker');
    const title = (id: string) => t.nodes.find((n: any) => n.id === id).title;
    expect(t.edges.filter((e: any) => e.from === worker.id).map((e: any) => title(e.to))).toEqual(['user-service', 'cache', 'orders-db']);
    expect(t.edges.filter((e: any) => e.to === worker.id)).toEqual([]);
    expect(t.nodes.filter((n: any) => n.kind === 'job').map((n: any) => n.title)).toEqual(['migration schema', 'schedule nightly-report']);
  });

  test('re-synth is byte-identical; a changed command makes a new Job', () => {
    const again = synth((app) => {
      const { stack, worker } = build(app, { compose: false });
      new Schedule(stack, 'nightly-report', { of: worker, cron: '0 3 * * *', timeZone: 'Europe/Berlin', command: ['python', '-m', 'reports.nightly'], timeout: Duration.minutes(20), retries: 2 });
    });
    const a = out.files.get('shop.k8s.yaml')!.replace(/context\.[0-9a-f]+|:[0-9a-f]{12}\b|-[0-9a-f]{10}\b/g, 'H');
    const b = again.files.get('shop.k8s.yaml')!.replace(/context\.[0-9a-f]+|:[0-9a-f]{12}\b|-[0-9a-f]{10}\b/g, 'H');
    expect(b).toBe(a);
    again.cleanup();
    // Same source and command: the same Job name (re-applying is a no-op); another command: a new Job.
    const jobName = (command: string[]) => {
      const o = synth((app) => {
        const st = new Stack(app, 'shop', { compose: { enabled: false } });
        const svc = new FastApiApp(st, 'order-service', { source: fixedSource, replicas: 1 });
        new Migration(st, 'schema', { of: svc, command });
      });
      const name = o.k8s('shop').find((x) => x.kind === 'Job').metadata.name;
      o.cleanup();
      return name;
    };
    expect(jobName(['alembic', 'upgrade', 'head'])).toBe(jobName(['alembic', 'upgrade', 'head']));
    expect(jobName(['alembic', 'upgrade', 'head'])).not.toBe(jobName(['alembic', 'upgrade', '+1']));
  });
});

describe('workers and migrations on compose', () => {
  const out = synth((app) => { build(app); });
  afterAll(() => out.cleanup());
  const doc = out.compose('shop');

  test('the compose file passes the Compose schema', () => {
    expect(validateComposeSchema(doc)).toEqual([]);
  });

  test('the worker: built like the web app, no ports, the ping healthcheck, limits, a stop grace above the task limit', () => {
    const w = doc.services['order-worker'];
    expect(w.ports).toBeUndefined();
    expect(w.build.context).toMatch(/^\.\/assets\/context\./);
    expect(w.entrypoint[0]).toBe('celery');
    expect(w.healthcheck.test).toEqual(['CMD', 'sh', '-c', 'exec celery -A tasks:celery inspect ping --destination "celery@$$(hostname)" --timeout 5']);
    expect(w.deploy.resources.limits).toEqual({ cpus: '1', memory: '256m' });
    expect(w.stop_signal).toBe('SIGTERM');
    expect(w.stop_grace_period).toBe('75s');
    expect(w.environment.CELERY_BROKER_URL).toBe("redis://:${CACHE_CREDENTIALS_PASSWORD:?set CACHE_CREDENTIALS_PASSWORD to the password of cache}@cache:6379/0");
    expect(Object.keys(w.networks).sort()).toEqual(['order-worker_to_cache', 'order-worker_to_orders-db', 'order-worker_to_user-service']);
    expect(w.user).toBe('10001:10001');
    expect(w.read_only).toBe(true);
  });

  test('the migration: a one-shot with the release image and env, which the release waits for', () => {
    const m = doc.services['order-service-v1-schema'];
    const v = doc.services['order-service'];
    expect(m.restart).toBe('no');
    expect(m.entrypoint).toEqual(['alembic', 'upgrade', 'head']);
    expect(m.build.tags).toEqual(v.build.tags);
    expect(v.depends_on['order-service-v1-schema']).toEqual({ condition: 'service_completed_successfully', restart: false });
    for (const k of Object.keys(v.environment).filter((k) => !k.startsWith('PYFLEET_'))) expect(m.environment[k]).toBe(v.environment[k]);
  });

  const dc = haveEngine('docker-compose', 'apt-get install docker-compose');
  (dc ? test : test.skip)('docker-compose 1.29 accepts the project, service_completed_successfully included (`config`)', () => {
    const file = path.join(out.dir, 'compat.compose.yml');
    fs.writeFileSync(file, yaml.dump(forDockerCompose129(JSON.parse(JSON.stringify(doc)))));
    const env = { ...process.env, CACHE_CREDENTIALS_PASSWORD: 'c', ORDERS_DB_CREDENTIALS_PASSWORD: 'd' };
    const resolved = yaml.load(execFileSync('docker-compose', ['-p', 'shop', '-f', file, 'config'], { cwd: out.dir, env, encoding: 'utf8', timeout: 60_000 })) as any;
    expect(resolved.services['order-service'].depends_on['order-service-v1-schema']).toEqual({ condition: 'service_completed_successfully' });
    expect(resolved.services['order-worker'].environment.CELERY_BROKER_URL).toBe('redis://:c@cache:6379/0');
    // The `$` of the shell's `$(hostname)` survives interpolation (`config` prints the file escaped again).
    expect(resolved.services['order-worker'].healthcheck.test[3]).toBe('exec celery -A tasks:celery inspect ping --destination "celery@$$(hostname)" --timeout 5');
    fs.rmSync(file);
  });

  test('a Schedule on a stack with compose is refused, with the fix', () => {
    const app = new App({ outdir: tmpdir() });
    const { stack, worker } = build(app);
    new Schedule(stack, 'nightly', { of: worker, cron: '0 3 * * *', command: ['python', '-m', 'reports'] });
    expect(() => app.synth()).toThrow(/compose has no scheduler.*Fix: turn compose off for this stack/s);
  });
});

describe('validation', () => {
  const src = appSource();
  const stack = (): Stack => new Stack(new App({ outdir: tmpdir() }), 'shop');

  test('a worker with a port or an HTTP health check', () => {
    expect(() => new Worker(stack(), 'w', { image: ContainerImage.fromRegistry('a/b:1.0.0'), port: 8080 } as any)).toThrow(/a worker serves no HTTP, so it has no `port`/);
    expect(() => new Worker(stack(), 'w', { image: ContainerImage.fromRegistry('a/b:1.0.0'), healthCheck: HealthCheck.http('/healthz') as any })).toThrow(/HTTP health check/);
  });

  test('a Celery worker without a broker, or with a task limit beyond its grace period', () => {
    const s = stack();
    new CeleryWorker(s, 'w', { source: src });
    new CeleryWorker(s, 'v', { source: src, env: { CELERY_BROKER_URL: 'redis://x:6379/0' }, taskTimeLimit: Duration.minutes(5), gracefulShutdown: Duration.seconds(60) });
    try {
      (s.node.root as App).synth();
      throw new Error('no error');
    } catch (e) {
      const msgs = (e as PyfleetValidationError).errors.map((x) => x.message);
      expect(msgs.some((m) => /shop\/w: the Celery worker has no broker/.test(m))).toBe(true);
      expect(msgs.some((m) => /shop\/v: taskTimeLimit 300s is longer than gracefulShutdown 60s/.test(m))).toBe(true);
    }
  });

  test('a worker named like a service or a backing service; a built worker image on a swarm with the placeholder registry', () => {
    const app = new App({ outdir: tmpdir() });
    const s = new Stack(app, 'shop', { compose: { networkMode: ComposeNetworkMode.OVERLAY } });
    new Redis(new Construct(s, 'data'), 'cache');
    new Worker(s, 'cache', { image: ContainerImage.fromRegistry('a/b:1.0.0') });
    new CeleryWorker(s, 'celery', { source: src, env: { CELERY_BROKER_URL: 'redis://x:6379/0' } });
    try {
      app.synth();
      throw new Error('no error');
    } catch (e) {
      const msgs = (e as PyfleetValidationError).errors.map((x) => x.message);
      expect(msgs.some((m) => /shop\/cache: worker "cache" has the name of "shop\/data\/cache"/.test(m))).toBe(true);
      expect(msgs.some((m) => /shop\/celery: the stack deploys to a Docker swarm.*this worker's image is built from source/.test(m))).toBe(true);
    }
  });

  test('concurrency sized from the CPU limit like gunicorn workers, or fixed', () => {
    const s = stack();
    const env = { CELERY_BROKER_URL: 'redis://x:6379/0' };
    expect(new CeleryWorker(s, 'a', { source: src, env, cpu: Cpu.millis(500) }).concurrency).toBe(CELERY_SIZING.min);
    expect(new CeleryWorker(s, 'b', { source: src, env, cpu: Cpu.cores(3) }).concurrency).toBe(6);
    expect(new CeleryWorker(s, 'c', { source: src, env, cpu: Cpu.cores(20) }).concurrency).toBe(16);
    expect(new CeleryWorker(s, 'd', { source: src, env, concurrency: 3 }).concurrency).toBe(3);
  });

  test('a migration or schedule on a service of another stack; a migration whose service has no generated image', () => {
    const app = new App({ outdir: tmpdir() });
    const a = new Stack(app, 'a');
    const b = new Stack(app, 'b', { compose: { enabled: false } });
    const svc = new FastApiApp(a, 'svc', { source: src });
    const reg = new MicroService(b, 'reg', { image: ContainerImage.fromRegistry('a/b:1.0.0') });
    new Migration(b, 'm1', { of: svc, command: ['alembic', 'upgrade', 'head'] });
    new Schedule(b, 's1', { of: svc, cron: '*/5 * * * *', command: ['true'] });
    new Migration(b, 'm2', { of: reg, command: ['migrate'] });
    try {
      app.synth();
      throw new Error('no error');
    } catch (e) {
      const msgs = (e as PyfleetValidationError).errors.map((x) => x.message);
      expect(msgs.some((m) => /b\/m1: migrates "a\/svc", a service of stack "a"/.test(m))).toBe(true);
      expect(msgs.some((m) => /b\/s1: runs as "a\/svc" of stack "a"/.test(m))).toBe(true);
      expect(msgs.some((m) => /b\/m2: version "v1" of "reg" runs the registry image a\/b:1.0.0/.test(m))).toBe(true);
    }
  });

  test.each([
    ['0 3 * * * *', /exactly five fields/],
    ['60 3 * * *', /got value 60 expected range 0-59/],
    ['0 24 * * *', /expected range 0-23/],
    ['0 3 32 * *', /expected range 1-31/],
    ['0 3 * 13 *', /expected range 1-12/],
    ['0 3 * FOO *', /cannot resolve alias/],
    ['0 3 L * *', /L, W or #/],
    ['@daily', /exactly five fields/],
  ])('cron %s is refused at construction', (cron, why) => {
    const s = stack();
    const w = new Worker(s, 'w', { image: ContainerImage.fromRegistry('a/b:1.0.0') });
    expect(() => new Schedule(s, 'x', { of: w, cron, command: ['true'] })).toThrow(why);
  });

  test('names and ranges pass; an unknown time zone is refused', () => {
    const s = stack();
    const w = new Worker(s, 'w', { image: ContainerImage.fromRegistry('a/b:1.0.0') });
    expect(() => new Schedule(s, 'ok', { of: w, cron: '*/15 8-18 * JAN-MAR MON-FRI', command: ['true'] })).not.toThrow();
    expect(() => new Schedule(s, 'tz', { of: w, cron: '0 3 * * *', timeZone: 'Europe/Atlantis', command: ['true'] })).toThrow(PyfleetError);
    expect(() => new Schedule(s, 'tz2', { of: w, cron: '0 3 * * *', timeZone: 'Europe/Atlantis', command: ['true'] })).toThrow(/not in the IANA time zone database/);
  });
});

describe('cron next runs (cron-parser), against hand-computed times', () => {
  test('03:00 Europe/Berlin across the spring DST change (29 March 2026: CET+1 -> CEST+2)', () => {
    expect(nextRuns('0 3 * * *', 'Europe/Berlin', new Date('2026-03-27T12:00:00Z'), 3).map((d) => d.toISOString()))
      .toEqual(['2026-03-28T02:00:00.000Z', '2026-03-29T01:00:00.000Z', '2026-03-30T01:00:00.000Z']);
  });
  test('03:00 Europe/Berlin across the autumn change (25 October 2026: CEST -> CET)', () => {
    expect(nextRuns('0 3 * * *', 'Europe/Berlin', new Date('2026-10-24T12:00:00Z'), 2).map((d) => d.toISOString()))
      .toEqual(['2026-10-25T02:00:00.000Z', '2026-10-26T02:00:00.000Z']);
  });
  test('02:30 on the spring-forward day does not exist in Berlin: the library runs it at 03:30 CEST', () => {
    expect(nextRuns('30 2 * * *', 'Europe/Berlin', new Date('2026-03-28T12:00:00Z'), 1)[0].toISOString()).toBe('2026-03-29T01:30:00.000Z');
  });
  test('weekdays every 15 minutes', () => {
    // Friday 4 December 2026 18:50 UTC: next are 19:00 Fri? no — 8-18 hours only, so Monday 7 December 08:00.
    expect(nextRuns('*/15 8-18 * * MON-FRI', 'Etc/UTC', new Date('2026-12-04T18:50:00Z'), 2).map((d) => d.toISOString()))
      .toEqual(['2026-12-07T08:00:00.000Z', '2026-12-07T08:15:00.000Z']);
  });
});
