import * as os from 'os';
import * as path from 'path';
import { App, ContainerImage, Duration, HealthCheck, Mesh, MicroService, PyfleetError, PyfleetValidationError, Stack } from '../../lib';

export function shop(options: { mesh?: Mesh | null; compose?: boolean } = {}): { app: App; stack: Stack; orders: MicroService; users: MicroService } {
  const app = new App({ outdir: path.join(os.tmpdir(), 'pyfleet-mesh-unused') });
  const stack = new Stack(app, 'shop', { mesh: options.mesh === null ? undefined : options.mesh ?? Mesh.istio(), compose: { enabled: options.compose ?? true } });
  const users = new MicroService(stack, 'user-service', { image: ContainerImage.fromRegistry('registry.example.com/users:1.0.0'), port: 8001 });
  const orders = new MicroService(stack, 'order-service', {
    image: ContainerImage.fromRegistry('registry.example.com/orders:1.0.0'),
    port: 8002,
    calls: [users],
    healthCheck: HealthCheck.http('/healthz', { interval: Duration.seconds(5) }),
  });
  return { app, stack, orders, users };
}

/** The problems synth reports (every one), or [] when synth succeeds. */
export function synthProblems(app: App): PyfleetError[] {
  try {
    app.synthesize();
    return [];
  } catch (e) {
    if (e instanceof PyfleetValidationError) return e.errors;
    if (e instanceof PyfleetError) return [e];
    throw e;
  }
}
