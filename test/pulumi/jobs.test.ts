// Workers and migrations under Pulumi (mocks): the Kubernetes component creates the migration Job
// before the Deployments its gate holds back (the provider awaits a Job until Complete, and fails
// the update when it Failed), and builds the worker's image; the Docker host component runs the
// migration's one-shot container to completion and starts the release only after it exited 0.
import * as fs from 'fs';
import * as path from 'path';
import * as pulumi from '@pulumi/pulumi';
import { App, CeleryWorker, Duration, FastApiApp, Migration, Stack } from '../../lib';
import { DockerHostDeployment, KubernetesDeployment } from '../../lib/pulumi';
import { completedOk, exitCodeLabel } from '../../lib/pulumi/docker-host';
import { cleanup, tempDir } from './fixtures';
import { installMocks, ofType, registered, settle, valueOf } from './mocks';

function shop(): Stack {
  const src = tempDir('pyfleet-pulumi-jobs-src-');
  fs.writeFileSync(path.join(src, 'app.py'), 'from fastapi import FastAPI\napp = FastAPI()\n');
  fs.writeFileSync(path.join(src, 'tasks.py'), 'from celery import Celery\ncelery = Celery("tasks")\n');
  fs.writeFileSync(path.join(src, 'requirements.txt'), 'fastapi\ngunicorn\nuvicorn\ncelery\n');
  const app = new App({ outdir: tempDir('pyfleet-pulumi-jobs-out-') });
  const stack = new Stack(app, 'shop', { namespace: 'shop', imageRegistry: 'registry.example.com/shop' });
  const orders = new FastApiApp(stack, 'order-service', { source: src, replicas: 1 });
  new CeleryWorker(stack, 'order-worker', { source: src, env: { CELERY_BROKER_URL: 'redis://cache:6379/0' }, taskTimeLimit: Duration.seconds(30) });
  new Migration(stack, 'schema', { of: orders, command: ['alembic', 'upgrade', 'head'] });
  return stack;
}

beforeEach(async () => {
  await installMocks();
});
afterAll(cleanup);

describe('KubernetesDeployment with a migration and a worker', () => {
  test('the Deployment of the release depends on its Job and on the RoleBinding of its gate; the worker image is built', async () => {
    const d = new KubernetesDeployment('shop', { stack: shop(), registry: { username: 'u', password: 'p' } });
    await settle([...d.objects.map((o) => o.resource), ...Object.values(d.images)]);
    const job = d.objects.find((o) => o.manifest.kind === 'Job')!;
    expect(job.manifest.metadata.name).toMatch(/^order-service-v1-schema-[0-9a-f]{10}$/);
    const deployment = d.objects.find((o) => o.key === 'Deployment/shop/order-service-v1')!;
    expect(deployment.dependsOn).toEqual(expect.arrayContaining([job.key, `RoleBinding/shop/${job.manifest.metadata.name}-gate`]));
    const binding = d.objects.find((o) => o.key === `RoleBinding/shop/${job.manifest.metadata.name}-gate`)!;
    expect(binding.dependsOn).toEqual(expect.arrayContaining([`Role/shop/${job.manifest.metadata.name}-gate`]));
    // The engine receives the same order: the Job's resource is among the Deployment's dependencies.
    const jobRes = ofType('kubernetes:batch/v1:Job');
    expect(jobRes).toHaveLength(1);
    const dep = registered.find((r) => r.type === 'kubernetes:apps/v1:Deployment' && r.inputs.metadata.name === 'order-service-v1')!;
    expect(dep.dependsOn).toContain(jobRes[0].name);
    // The worker's Deployment exists and its image is one of the built ones.
    const worker = d.objects.find((o) => o.key === 'Deployment/shop/order-worker')!;
    const ref = worker.manifest.spec.template.spec.containers[0].image;
    expect(Object.keys(d.images)).toContain(ref);
    // A worker has no Job gate.
    expect(worker.dependsOn.some((k) => k.startsWith('Job/'))).toBe(false);
  });
});

describe('DockerHostDeployment with a migration', () => {
  test('the one-shot runs to completion (attach, not kept running) and the release container waits for its exit code', async () => {
    const d = new DockerHostDeployment('vps', { stack: shop(), host: 'ssh://deploy@vps.example.com', secrets: {} });
    await settle([...Object.values(d.containers).flat(), ...Object.values(d.images)]);
    const containers = ofType('docker:index/container:Container');
    const oneShot = containers.find((c) => c.inputs.name === 'shop-order-service-v1-schema-1')!;
    expect(oneShot.inputs).toMatchObject({ mustRun: false, attach: true, restart: 'no', entrypoints: ['alembic', 'upgrade', 'head'] });
    const release = containers.find((c) => c.inputs.name === 'shop-order-service-1')!;
    expect(release.dependsOn).toContain(oneShot.name);
    expect(release.inputs.labels).toEqual(expect.arrayContaining([{ label: 'pyfleet.dev/completed.order-service-v1-schema', value: '0' }]));
    const worker = containers.find((c) => c.inputs.name === 'shop-order-worker-1')!;
    expect(worker.inputs.entrypoints[0]).toBe('celery');
    expect(worker.inputs.stopTimeout).toBe(45);
  });

  test('a one-shot that exited non-zero fails the update of what waits for it, with the fix', async () => {
    expect(() => exitCodeLabel('order-service-v1-schema', 1)).toThrow(/exited with code 1, so the release that waits for it is not started.*Fix: read its logs/);
    expect(exitCodeLabel('order-service-v1-schema', 0)).toBe('0');
    await expect(valueOf(completedOk('order-service-v1-schema', { exitCode: pulumi.output(0) } as any))).resolves.toBe('0');
  });
});
