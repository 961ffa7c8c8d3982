// examples/hello: a Flask hello-world, 3 replicas, public on port 80 -> 5000.
import * as path from 'path';
import { App, ContainerImage, MicroService, Stack } from '../../lib';
import { printSummary } from '../summary';

export function buildHello(app: App): Stack {
  const stack = new Stack(app, 'hello');
  new MicroService(stack, 'hello', {
    image: ContainerImage.fromDirectory(path.join(__dirname, 'app')),
    port: 5000,
    replicas: 3,
    expose: { port: 80 },
  });
  return stack;
}

if (require.main === module) {
  const app = new App({ outdir: process.env.CDK8S_OUTDIR ?? path.join(__dirname, 'dist') });
  buildHello(app);
  app.synth();
  printSummary(app.outdir);
}
