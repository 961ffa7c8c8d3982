// examples/canary: order-service v1 and v2 behind a canary route and a circuit breaker.
// Requests under /api/v2 go to v2; everything else is split 70/30 between v1 and v2. The breaker caps
// connections at 100 and ejects a pod after 5 consecutive 5xx, checked every 10s, for 30s.
// Kubernetes gets Istio resources; compose gets an HAProxy gateway named order-service that enforces
// the same policies. Run `cdk8s synth` in this folder, or `npx projen canary` at the top of the repository.
import * as path from 'path';
import { App, CircuitBreaker, ContainerImage, Duration, HealthCheck, Match, Mesh, MeshRoute, MicroService, MtlsMode, Stack } from '../../lib';
import { printSummary } from '../summary';

export function buildCanary(app: App): Stack {
  const shop = new Stack(app, 'canary', { namespace: 'canary', mesh: Mesh.istio({ mtls: MtlsMode.STRICT }) });

  const users = new MicroService(shop, 'user-service', {
    image: ContainerImage.fromRegistry('ghcr.io/acme/user-service:1.4.2'),
    port: 8001,
    healthCheck: HealthCheck.http('/healthz', { interval: Duration.seconds(5) }),
  });

  const orders = new MicroService(shop, 'order-service', {
    image: ContainerImage.fromRegistry('ghcr.io/acme/order-service:2.3.0'),
    port: 8002,
    healthCheck: HealthCheck.http('/healthz', { interval: Duration.seconds(5) }),
    calls: [users],
    expose: { port: 80 },
  });
  const ordersV2 = orders.addVersion('v2', { image: ContainerImage.fromRegistry('ghcr.io/acme/order-service:3.0.0-rc.1'), replicas: 1 });

  new MeshRoute(shop, 'orders-canary', {
    service: orders,
    rules: [
      { match: Match.pathPrefix('/api/v2'), to: ordersV2 },
      { split: [{ to: orders.defaultVersion, weight: 70 }, { to: ordersV2, weight: 30 }] },
    ],
  });

  new CircuitBreaker(shop, 'orders-breaker', {
    service: orders,
    maxConnections: 100,
    consecutive5xxErrors: 5,
    interval: Duration.seconds(10),
    baseEjectionTime: Duration.seconds(30),
  });
  return shop;
}

if (require.main === module) {
  const app = new App({ outdir: process.env.CDK8S_OUTDIR ?? path.join(__dirname, 'dist') });
  buildCanary(app);
  app.synth();
  printSummary(app.outdir);
}
