// examples/vps: a public Flask front end (2 containers behind the edge proxy) that calls a quotes
// service, sized for a small VPS: each container gets its own CPU quota and memory limit.
// `pulumi up` here deploys it to a Docker host (index.ts); `npx ts-node main.ts` writes the compose project.
import * as path from 'path';
import { App, ContainerImage, Cpu, Duration, HealthCheck, MicroService, RestartPolicy, Size, Stack } from '../../lib';
import { printSummary } from '../summary';

export function buildVps(app: App): Stack {
  const stack = new Stack(app, 'vps', { imageRegistry: 'registry.example.com/vps' });

  const quotes = new MicroService(stack, 'quotes', {
    image: ContainerImage.fromDirectory(path.join(__dirname, 'services/quotes')),
    port: 8002,
    replicas: 1,
    cpu: Cpu.millis(250),
    memory: Size.mebibytes(128),
    healthCheck: HealthCheck.http('/healthz', { interval: Duration.seconds(5) }),
    restartPolicy: RestartPolicy.UNLESS_STOPPED,
  });

  new MicroService(stack, 'web', {
    image: ContainerImage.fromDirectory(path.join(__dirname, 'services/web')),
    port: 8001,
    replicas: 2,
    cpu: Cpu.millis(500),
    memory: Size.mebibytes(192),
    healthCheck: HealthCheck.http('/healthz', { interval: Duration.seconds(5) }),
    calls: [quotes],
    expose: { port: 80 },
  });
  return stack;
}

if (require.main === module) {
  const app = new App({ outdir: process.env.CDK8S_OUTDIR ?? path.join(__dirname, 'dist') });
  buildVps(app);
  app.synth();
  printSummary(app.outdir);
}
