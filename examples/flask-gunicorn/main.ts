// examples/flask-gunicorn: the classic "Flask + gunicorn + Docker" high-concurrency deployment.
// 2 CPUs, gthread workers (3 processes x 32 threads: the threads overlap the waits on the backend), public on port 80.
// The image (Dockerfile, gunicorn.conf.py, .dockerignore) is generated. Run `cdk8s synth` in this folder.
import * as path from 'path';
import { App, Cpu, Duration, GunicornFlaskApp, Size, Stack, WsgiWorkerClass } from '../../lib';
import { printSummary } from '../summary';

export function buildFlaskGunicorn(app: App): Stack {
  const stack = new Stack(app, 'flask-gunicorn');
  new GunicornFlaskApp(stack, 'catalog', {
    source: path.join(__dirname, 'app'),
    module: 'app:app',
    port: 8000,
    cpu: Cpu.cores(2),
    memory: Size.mebibytes(512),
    workerClass: WsgiWorkerClass.GTHREAD,
    timeout: Duration.seconds(30),
    keepAlive: Duration.seconds(75),
    maxRequests: 5000,
    healthCheckPath: '/healthz',
    replicas: 2,
    expose: { port: 80 },
  });
  return stack;
}

if (require.main === module) {
  const app = new App({ outdir: process.env.CDK8S_OUTDIR ?? path.join(__dirname, 'dist') });
  buildFlaskGunicorn(app);
  app.synth();
  printSummary(app.outdir);
}
