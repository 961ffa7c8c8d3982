// examples/shop: two FastAPI services; order-service calls user-service through USER_SERVICE_URL and
// keeps its orders in Postgres (ORDERS_DB_URL); user-service caches lookups in Redis (CACHE_URL).
// A Celery worker confirms each new order from a Redis queue, and an Alembic migration makes the
// orders table before any release of order-service serves.
// No hand-written Dockerfiles: FastApiApp generates the image (Dockerfile, gunicorn.conf.py, .dockerignore).
// Run `cdk8s synth` in this folder, or `npx projen shop` at the top of the repository.
import * as path from 'path';
import { App, CeleryWorker, Cpu, Duration, FastApiApp, HealthCheck, Migration, Monitoring, Postgres, Redis, RedisMode, Size, Stack } from '../../lib';
import { printSummary } from '../summary';

export function buildShop(app: App): Stack {
  // Monitoring: ServiceMonitors for the cluster's Prometheus; on compose a Prometheus and a Grafana.
  const shop = new Stack(app, 'shop', { namespace: 'shop', imageRegistry: 'registry.example.com/shop', monitoring: Monitoring.prometheus({ grafana: true }) });

  // Backing services: a database for the orders, a cache for user lookups (passwords in Secrets).
  const ordersDb = new Postgres(shop, 'orders-db', { storage: Size.gibibytes(10) });
  const cache = new Redis(shop, 'cache', { maxMemory: Size.mebibytes(192) });
  // The task queue is a Redis of its own that keeps its data (a cache may evict queued tasks).
  const queue = new Redis(shop, 'queue', { mode: RedisMode.STORE, storage: Size.gibibytes(1) });

  const users = new FastApiApp(shop, 'user-service', {
    source: path.join(__dirname, 'services/user'),
    module: 'app:app',
    port: 8001,
    cpu: Cpu.millis(500),
    memory: Size.mebibytes(256),
    healthCheck: HealthCheck.http('/healthz', { interval: Duration.seconds(5) }),
    calls: [cache],
  });

  const orders = new FastApiApp(shop, 'order-service', {
    source: path.join(__dirname, 'services/order'),
    module: 'app:app',
    port: 8002,
    cpu: Cpu.cores(1),
    memory: Size.mebibytes(512),
    healthCheck: HealthCheck.http('/healthz', { interval: Duration.seconds(5) }),
    calls: [users, ordersDb, queue],
    expose: { port: 80 },
    replicas: 1,
  });

  // Confirms orders queued by order-service (tasks.py): the broker is the queue it calls.
  new CeleryWorker(shop, 'order-worker', {
    source: path.join(__dirname, 'services/order'),
    app: 'tasks:celery',
    calls: [queue, ordersDb],
    cpu: Cpu.millis(500),
    memory: Size.mebibytes(256),
    taskTimeLimit: Duration.seconds(60),
  });

  // The orders table, made by Alembic once per release, before the release serves.
  new Migration(shop, 'schema', { of: orders, command: ['alembic', 'upgrade', 'head'], timeout: Duration.minutes(5) });
  return shop;
}

if (require.main === module) {
  const app = new App({ outdir: process.env.CDK8S_OUTDIR ?? path.join(__dirname, 'dist') });
  buildShop(app);
  app.synth();
  printSummary(app.outdir);
}
