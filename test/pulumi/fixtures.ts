// Stacks used by the Pulumi component tests.
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { ApiObject } from 'cdk8s';
import { App, ContainerImage, Cpu, EnvValue, HealthCheck, MicroService, Size, Stack, StackProps } from '../../lib';

const made: string[] = [];

/** A temporary directory, removed by `cleanup()`. */
export function tempDir(prefix: string): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), prefix));
  made.push(dir);
  return dir;
}

/** Removes every directory `tempDir` made (call from afterAll). */
export function cleanup(): void {
  for (const d of made.splice(0)) fs.rmSync(d, { recursive: true, force: true });
}

/** A throwaway service source folder (Dockerfile + app). */
export function sourceDir(body = 'print("hello")\n'): string {
  const dir = tempDir('pyfleet-pulumi-src-');
  fs.writeFileSync(path.join(dir, 'Dockerfile'), 'FROM python:3.12-slim\nCOPY app.py /app/app.py\nCMD ["python", "/app/app.py"]\n');
  fs.writeFileSync(path.join(dir, 'app.py'), body);
  return dir;
}

export interface Shop {
  readonly app: App;
  readonly stack: Stack;
  readonly users: MicroService;
  readonly orders: MicroService;
  readonly catalog: MicroService;
  readonly outdir: string;
}

/**
 * A stack with: a built service (user-service, 2 replicas), a built service with two versions that
 * calls it and is public (order-service), a registry image with a secret env (catalog), a Secret
 * object, and Istio objects (DestinationRule + VirtualService with subsets) added as raw ApiObjects,
 * standing for kinds @pulumi/kubernetes has no class for.
 */
export function buildTestShop(props: StackProps = { imageRegistry: 'registry.example.com/shop' }, src?: { users?: string; orders?: string }): Shop {
  const outdir = tempDir('pyfleet-pulumi-out-');
  const app = new App({ outdir });
  const stack = new Stack(app, 'shop', { namespace: 'shop', ...props });
  const users = new MicroService(stack, 'user-service', {
    image: ContainerImage.fromDirectory(src?.users ?? sourceDir('print("users")\n')),
    port: 8001,
    replicas: 2,
    cpu: Cpu.millis(500),
    memory: Size.mebibytes(256),
  });
  const orders = new MicroService(stack, 'order-service', {
    image: ContainerImage.fromDirectory(src?.orders ?? sourceDir('print("orders")\n')),
    port: 8002,
    replicas: 1,
    cpu: Cpu.cores(1),
    memory: Size.mebibytes(512),
    calls: [users],
    expose: { port: 80 },
    env: { GREETING: 'cost is $5' },
  });
  orders.addVersion('v2', { replicas: 1, env: { FEATURE: 'on' } });
  const catalog = new MicroService(stack, 'catalog', {
    image: ContainerImage.fromRegistry('ghcr.io/acme/catalog:1.4.2'),
    port: 9000,
    replicas: 1,
    env: { DB_PASSWORD: EnvValue.fromSecret('db', 'password') },
    healthCheck: HealthCheck.http('/health'),
  });
  new ApiObject(stack, 'db-secret', { apiVersion: 'v1', kind: 'Secret', metadata: { name: 'db' }, type: 'Opaque', stringData: { password: 'not-a-real-one' } });
  new ApiObject(stack, 'orders-dr', {
    apiVersion: 'networking.istio.io/v1',
    kind: 'DestinationRule',
    metadata: { name: 'order-service' },
    spec: { host: 'order-service', subsets: [{ name: 'v1', labels: { version: 'v1' } }, { name: 'v2', labels: { version: 'v2' } }] },
  });
  new ApiObject(stack, 'orders-vs', {
    apiVersion: 'networking.istio.io/v1',
    kind: 'VirtualService',
    metadata: { name: 'order-service' },
    spec: {
      hosts: ['order-service'],
      http: [{ route: [{ destination: { host: 'order-service.shop.svc.cluster.local', subset: 'v1' }, weight: 70 }, { destination: { host: 'order-service', subset: 'v2' }, weight: 30 }] }],
    },
  });
  return { app, stack, users, orders, catalog, outdir };
}
