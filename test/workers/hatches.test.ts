// Escape hatches of workers, migrations, schedules and backing services: Kubernetes JSON patches on
// their objects and compose overrides on their services, applied at render time after pyfleet's own
// settings, with the same errors as a version's hatches (a patch that cannot apply, an object that
// does not exist).
import { JsonPatch } from 'cdk8s';
import { App, CeleryWorker, Compose, FastApiApp, Kubernetes, Migration, Monitoring, Postgres, PyfleetError, Redis, Schedule, Stack } from '../../lib';
import { validateKubernetesObject } from '../support/checks';
import { synth } from '../support/synth';
import * as fs from 'fs';
import * as path from 'path';
import { tmpdir } from '../support/synth';

/** A FastAPI app and a Celery app in one source folder. */
function appSource(): string {
  const dir = tmpdir('pyfleet-hatch-src-');
  fs.writeFileSync(path.join(dir, 'app.py'), 'from fastapi import FastAPI\napp = FastAPI()\n');
  fs.writeFileSync(path.join(dir, 'tasks.py'), 'from celery import Celery\ncelery = Celery("tasks")\n');
  fs.writeFileSync(path.join(dir, 'requirements.txt'), 'fastapi==0.142.0\ngunicorn==26.2.0\nuvicorn==0.54.0\ncelery==5.5.3\nredis==6.4.0\n');
  return dir;
}

function build(app: App, opts: { compose: boolean; monitoring?: boolean }) {
  const stack = new Stack(app, 'shop', { namespace: 'shop', compose: { enabled: opts.compose }, monitoring: opts.monitoring ? Monitoring.prometheus() : undefined });
  const src = appSource();
  const db = new Postgres(stack, 'orders-db');
  const cache = new Redis(stack, 'cache');
  const orders = new FastApiApp(stack, 'order-service', { source: src, calls: [db, cache], replicas: 2 });
  const worker = new CeleryWorker(stack, 'order-worker', { source: src, app: 'tasks:celery', calls: [cache, db] });
  const migration = new Migration(stack, 'schema', { of: orders, command: ['alembic', 'upgrade', 'head'] });
  return { stack, db, cache, orders, worker, migration };
}

describe('Kubernetes hatches of workers, migrations, schedules and backing services', () => {
  const out = synth((app) => {
    const { stack, db, orders, worker, migration } = build(app, { compose: false, monitoring: true });
    const nightly = new Schedule(stack, 'nightly', { of: worker, cron: '0 3 * * *', command: ['python', '-m', 'reports'] });
    Kubernetes.of(worker).deployment.addJsonPatch(JsonPatch.add('/spec/template/spec/priorityClassName', 'batch-low'));
    Kubernetes.of(worker).serviceAccount.addJsonPatch(JsonPatch.add('/metadata/annotations', { 'iam.example.com/role': 'worker' }));
    Kubernetes.of(worker).podMonitor.addJsonPatch(JsonPatch.replace('/spec/podMetricsEndpoints/0/interval', '60s'));
    Kubernetes.of(migration).job.addJsonPatch(JsonPatch.add('/spec/ttlSecondsAfterFinished', 3600));
    Kubernetes.of(nightly).cronJob.addJsonPatch(JsonPatch.replace('/spec/successfulJobsHistoryLimit', 1));
    Kubernetes.of(db).statefulSet.addJsonPatch(JsonPatch.add('/spec/template/spec/priorityClassName', 'data-high'));
    Kubernetes.of(db).service.addJsonPatch(JsonPatch.add('/metadata/annotations', { 'example.com/tier': 'data' }));
    Kubernetes.of(orders).serviceMonitor.addJsonPatch(JsonPatch.add('/spec/endpoints/0/honorLabels', true));
  });
  afterAll(() => out.cleanup());

  test('each patch lands in its object, after pyfleet\'s settings, and the objects stay valid', () => {
    const worker = out.find('shop', 'Deployment', 'order-worker');
    expect(worker.spec.template.spec.priorityClassName).toBe('batch-low');
    expect(worker.spec.template.spec.containers[0].securityContext.readOnlyRootFilesystem).toBe(true);
    expect(out.find('shop', 'ServiceAccount', 'order-worker').metadata.annotations).toEqual({ 'iam.example.com/role': 'worker' });
    expect(out.find('shop', 'PodMonitor', 'order-worker').spec.podMetricsEndpoints[0].interval).toBe('60s');
    const jobs = out.k8s('shop').filter((o) => o.kind === 'Job');
    expect(jobs).toHaveLength(1);
    expect(jobs[0].spec.ttlSecondsAfterFinished).toBe(3600);
    expect(jobs[0].metadata.name).toMatch(/^order-service-v1-schema-[0-9a-f]+$/); // named before the patch applies
    expect(out.find('shop', 'CronJob', 'nightly').spec).toMatchObject({ successfulJobsHistoryLimit: 1, failedJobsHistoryLimit: 3 });
    expect(out.find('shop', 'StatefulSet', 'orders-db').spec.template.spec.priorityClassName).toBe('data-high');
    expect(out.find('shop', 'Service', 'orders-db').metadata.annotations).toEqual({ 'example.com/tier': 'data' });
    // The headless Service and the other store are untouched.
    expect(out.find('shop', 'Service', 'orders-db-headless').metadata.annotations).toBeUndefined();
    expect(out.find('shop', 'StatefulSet', 'cache').spec.template.spec.priorityClassName).toBeUndefined();
    expect(out.find('shop', 'ServiceMonitor', 'order-service').spec.endpoints[0].honorLabels).toBe(true);
    for (const o of [worker, jobs[0], out.find('shop', 'CronJob', 'nightly'), out.find('shop', 'StatefulSet', 'orders-db')]) expect(validateKubernetesObject(o)).toEqual([]);
  });
});

describe('compose overrides of workers, migrations and backing services', () => {
  const out = synth((app) => {
    const { db, worker, migration } = build(app, { compose: true });
    Compose.of(worker).addOverride('deploy.resources.limits.memory', '1g');
    Compose.of(worker).addOverride('labels.team', 'payments');
    Compose.of(migration).addOverride('environment.ALEMBIC_CONFIG', '/app/alembic.ini');
    Compose.of(db).addOverride('shm_size', '256m');
    Compose.of(db).addDeletionOverride('logging');
  });
  afterAll(() => out.cleanup());

  test('each override lands in its compose service only', () => {
    const doc = out.compose('shop');
    expect(doc.services['order-worker'].deploy.resources.limits).toEqual({ cpus: expect.any(String), memory: '1g' });
    expect(doc.services['order-worker'].labels.team).toBe('payments');
    const migrate = Object.entries<any>(doc.services).find(([, s]) => s.labels?.['app.kubernetes.io/component'] === 'migration')!;
    expect(migrate[1].environment.ALEMBIC_CONFIG).toBe('/app/alembic.ini');
    expect(doc.services['orders-db'].shm_size).toBe('256m');
    expect(doc.services['orders-db'].logging).toBeUndefined();
    expect(doc.services.cache.logging).toBeDefined();
    expect(doc.services.cache.shm_size).toBeUndefined();
  });
});

describe('errors', () => {
  test('a patch that cannot apply names the worker; a PodMonitor patch without monitoring is refused with the fix', () => {
    const bad = new App({ outdir: '/nonexistent-pyfleet-out' });
    const { worker } = build(bad, { compose: false });
    Kubernetes.of(worker).deployment.addJsonPatch(JsonPatch.replace('/spec/nothing/here', 1));
    expect(() => bad.synthesize()).toThrow(/shop\/order-worker/);

    const none = new App({ outdir: '/nonexistent-pyfleet-out' });
    const { worker: w2 } = build(none, { compose: false });
    Kubernetes.of(w2).podMonitor.addJsonPatch(JsonPatch.add('/spec/jobLabel', 'x'));
    expect(() => none.synthesize()).toThrow(/Kubernetes\.of\(\.\.\.\)\.podMonitor was patched, but worker "order-worker" gets no PodMonitor \(the stack has no monitoring\).*Monitoring\.prometheus\(\)/);
  });

  test('Compose.of(schedule) (a type error in TypeScript) says that compose has no scheduler, with the fix; a compose override through a list is refused', () => {
    const app = new App({ outdir: '/nonexistent-pyfleet-out' });
    const { stack, worker } = build(app, { compose: false });
    const s = new Schedule(stack, 'nightly', { of: worker, cron: '0 3 * * *', command: ['python', '-m', 'reports'] });
    expect(() => Compose.of(s as any)).toThrow(PyfleetError);
    expect(() => Compose.of(s as any)).toThrow(/compose has no scheduler.*Kubernetes\.of\(schedule\)\.cronJob/);

    const app2 = new App({ outdir: '/nonexistent-pyfleet-out' });
    const { worker: w2 } = build(app2, { compose: true });
    Compose.of(w2).addOverride('healthcheck.test.0', 'x');
    expect(() => app2.synthesize()).toThrow(/shop\/order-worker.*goes through "test", which is a list/);
  });
});
