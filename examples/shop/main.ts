// examples/shop: two FastAPI services; order-service calls user-service through USER_SERVICE_URL.
// Run `cdk8s synth` in this folder, or `npm run shop` at the top of the repository.
import * as path from 'path';
import { App, ContainerImage, Cpu, Duration, HealthCheck, MicroService, Size, Stack } from '../../lib';
import { printSummary } from '../summary';

export function buildShop(app: App): Stack {
  const shop = new Stack(app, 'shop', { namespace: 'shop', imageRegistry: 'registry.example.com/shop' });

  const users = new MicroService(shop, 'user-service', {
    image: ContainerImage.fromDirectory(path.join(__dirname, 'services/user')),
    port: 8001,
    cpu: Cpu.millis(500),
    memory: Size.mebibytes(256),
    healthCheck: HealthCheck.http('/healthz', { interval: Duration.seconds(5) }),
  });

  new MicroService(shop, 'order-service', {
    image: ContainerImage.fromDirectory(path.join(__dirname, 'services/order')),
    port: 8002,
    cpu: Cpu.cores(1),
    memory: Size.mebibytes(512),
    healthCheck: HealthCheck.http('/healthz', { interval: Duration.seconds(5) }),
    calls: [users],
    expose: { port: 80 },
    replicas: 1,
  });
  return shop;
}

if (require.main === module) {
  const app = new App({ outdir: process.env.CDK8S_OUTDIR ?? path.join(__dirname, 'dist') });
  buildShop(app);
  app.synth();
  printSummary(app.outdir);
}
