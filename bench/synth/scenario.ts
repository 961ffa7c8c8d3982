// The scenario of bench/synth.ts (issue #9, "synth at scale"): one stack of N FastAPI services.
// Service i is svc-<i>, built from its own small source folder, with CPU and memory limits and an HTTP
// health check; it calls svc-<i-1>, has a second version v2 (its own source folder, one replica), a
// MeshRoute splitting its traffic 90/10 between v1 and v2, and a CircuitBreaker. The stack runs in an
// Istio mesh, so the Kubernetes output carries VirtualServices, DestinationRules and a
// PeerAuthentication beside the Deployments, Services and ServiceAccounts.
//
// The settings live here, once, so that the cdk8s-plus program (cdk8s-plus.ts) builds the same objects.
import * as fs from 'fs';
import * as path from 'path';
import { App, CircuitBreaker, Cpu, Duration, FastApiApp, HealthCheck, Mesh, MeshRoute, MtlsMode, Size, Stack } from '../../lib';

/** Every setting of the scenario that the programs below (and cdk8s-plus.ts) share. */
export const SCENARIO = {
  stack: 'fleet',
  namespace: 'fleet',
  imageRegistry: 'registry.example.com/fleet',
  port: 8000,
  cpuMillis: 500,
  memoryMiB: 256,
  healthPath: '/healthz',
  healthIntervalSeconds: 5,
  /** Replicas of v1 (pyfleet's default) and of the v2 canary. */
  replicas: { v1: 2, v2: 1 },
  /** Share of the traffic that goes to v2. */
  canaryWeight: 10,
  breaker: { maxConnections: 100, consecutive5xxErrors: 5, intervalSeconds: 10, baseEjectionSeconds: 30 },
  /** Pinned requirements of every service (what FastApiApp needs: the framework, gunicorn, uvicorn). */
  requirements: ['fastapi==0.142.0', 'gunicorn==26.2.0', 'uvicorn==0.54.0'],
} as const;

export const VERSIONS = ['v1', 'v2'] as const;

/** Name of service i. */
export function serviceName(i: number): string {
  return `svc-${i}`;
}

/** Source folder of one version of service i below `root`. */
export function sourceDir(root: string, i: number, version: string): string {
  return path.join(root, `${serviceName(i)}-${version}`);
}

/**
 * Writes the source folders of services 0..n-1 (both versions) below `root`: an app.py with a FastAPI
 * app and a pinned requirements.txt. Each folder differs (service name, version), so each version gets
 * its own staged build context and image tag, as in a real fleet.
 */
export function writeSources(root: string, n: number): void {
  for (let i = 0; i < n; i++) {
    for (const version of VERSIONS) {
      const dir = sourceDir(root, i, version);
      fs.mkdirSync(dir, { recursive: true });
      fs.writeFileSync(path.join(dir, 'app.py'), [
        `"""${serviceName(i)} ${version}: a FastAPI service of the synth benchmark."""`,
        'from fastapi import FastAPI',
        '',
        `app = FastAPI(title="${serviceName(i)}")`,
        '',
        '',
        `@app.get("${SCENARIO.healthPath}")`,
        'def healthz() -> dict:',
        `    return {"status": "ok", "version": "${version}"}`,
        '',
      ].join('\n'));
      fs.writeFileSync(path.join(dir, 'requirements.txt'), SCENARIO.requirements.join('\n') + '\n');
    }
  }
}

/** The pyfleet program of the scenario: N services in one Istio stack, written below `outdir` by `app.synth()`. */
export function buildPyfleet(n: number, sources: string, outdir: string): App {
  const app = new App({ outdir });
  const stack = new Stack(app, SCENARIO.stack, {
    namespace: SCENARIO.namespace,
    imageRegistry: SCENARIO.imageRegistry,
    mesh: Mesh.istio({ mtls: MtlsMode.STRICT }),
  });
  let previous: FastApiApp | undefined;
  for (let i = 0; i < n; i++) {
    const name = serviceName(i);
    const service: FastApiApp = new FastApiApp(stack, name, {
      source: sourceDir(sources, i, 'v1'),
      module: 'app:app',
      port: SCENARIO.port,
      cpu: Cpu.millis(SCENARIO.cpuMillis),
      memory: Size.mebibytes(SCENARIO.memoryMiB),
      healthCheck: HealthCheck.http(SCENARIO.healthPath, { interval: Duration.seconds(SCENARIO.healthIntervalSeconds) }),
      replicas: SCENARIO.replicas.v1,
      calls: previous ? [previous] : [],
    });
    const v2 = service.addVersion('v2', { source: sourceDir(sources, i, 'v2'), replicas: SCENARIO.replicas.v2 });
    new MeshRoute(stack, `${name}-canary`, {
      service,
      rules: [{ split: [{ to: service.defaultVersion, weight: 100 - SCENARIO.canaryWeight }, { to: v2, weight: SCENARIO.canaryWeight }] }],
    });
    new CircuitBreaker(stack, `${name}-breaker`, {
      service,
      maxConnections: SCENARIO.breaker.maxConnections,
      consecutive5xxErrors: SCENARIO.breaker.consecutive5xxErrors,
      interval: Duration.seconds(SCENARIO.breaker.intervalSeconds),
      baseEjectionTime: Duration.seconds(SCENARIO.breaker.baseEjectionSeconds),
    });
    previous = service;
  }
  return app;
}
