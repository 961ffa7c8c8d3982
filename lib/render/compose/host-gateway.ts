import { PyfleetError } from '../../core/errors';
import { ComposeNetworkMode } from '../../core/stack';
import { stackMesh } from '../../mesh/model';
import { LISTEN_PORT_ENV, METRICS_PORT_ENV } from '../../python/recipe';
import type { MicroService, ServiceVersion } from '../../service/microservice';

// The gateway proxy in compose host network mode. Every container shares the host's interfaces, so the
// gateway binds the service's port itself and reaches each version on loopback ports of its own. Each
// version has two slots (two loopback ports, two HAProxy servers): the running release is in one, and
// `pyfleet deploy` starts the next release in the other, moves traffic to it through the gateway's
// runtime API and drains the first. The layout is a pure function of the model: the compose target
// renders it and writes it into a label of each version's compose service, which is all the deploy
// command reads.
//
// Ports of a service on port P (and metrics port M, if any), version k (0-based) and slot s (0 or 1):
//   P          the gateway's frontend (0.0.0.0 when exposed, else 127.0.0.1)
//   P + 1      the gateway's health endpoint (/healthz, 127.0.0.1)
//   P + 2      the gateway's runtime API (admin level, 127.0.0.1)
//   P + 3 + 2k + s    slot s of version k (127.0.0.1)
//   M + 2k + s        its metrics endpoint (127.0.0.1)

/** Label of a version's compose service that carries its release layout (JSON of `HostReleaseLabel`). */
export const RELEASE_LABEL = 'io.pyfleet.release';


/** One slot of a version: an HAProxy server and the loopback ports a container in it listens on. */
export interface HostSlot {
  /** HAProxy server name in the version's backend. */
  readonly server: string;
  /** Loopback HTTP port. */
  readonly port: number;
  /** Loopback metrics port, if the service serves metrics. */
  readonly metricsPort?: number;
}

/** What `pyfleet deploy` needs to release one version (the label's content). */
export interface HostReleaseLabel {
  /** `127.0.0.1:<port>` of the gateway's runtime API. */
  readonly runtime: string;
  /** HAProxy backend of the version. */
  readonly backend: string;
  /** Variable that sets the HTTP port of a container. */
  readonly portEnv: string;
  /** Variable that sets the metrics port of a container (when the service serves metrics). */
  readonly metricsEnv?: string;
  /** The two slots, the first the one `docker compose up` starts. */
  readonly slots: readonly [HostSlot, HostSlot];
}

/** The host-mode layout of a service behind a gateway. */
export interface HostGatewayLayout {
  /** The gateway's frontend port (the service port). */
  readonly port: number;
  /** The gateway's health endpoint port. */
  readonly healthPort: number;
  /** The gateway's runtime API port. */
  readonly runtimePort: number;
  /** Slots by version workload name. */
  readonly slots: Readonly<Record<string, readonly [HostSlot, HostSlot]>>;
}

/** Whether a service's gateway runs in host network mode. */
export function isHostGateway(svc: MicroService): boolean {
  return svc.stack.composeNetworkMode === ComposeNetworkMode.HOST;
}

/** The loopback layout of a host-mode gateway and its versions' slots. */
export function hostGatewayLayout(svc: MicroService): HostGatewayLayout {
  const p = svc.port;
  const m = svc._metricsPort();
  const slots: Record<string, readonly [HostSlot, HostSlot]> = {};
  svc.versions.forEach((v, k) => {
    const slot = (s: number): HostSlot => ({
      server: `${v.versionName}-${s === 0 ? 'a' : 'b'}`,
      port: p + 3 + 2 * k + s,
      ...(m !== undefined ? { metricsPort: m + 2 * k + s } : {}),
    });
    slots[v.workloadName] = [slot(0), slot(1)];
  });
  return { port: p, healthPort: p + 1, runtimePort: p + 2, slots };
}

/** The release label of a version (host mode, behind a gateway). */
export function releaseLabel(v: ServiceVersion): HostReleaseLabel {
  const svc = v.service;
  const layout = hostGatewayLayout(svc);
  return {
    runtime: `127.0.0.1:${layout.runtimePort}`,
    backend: `be_${v.versionName}`,
    portEnv: LISTEN_PORT_ENV,
    ...(svc._metricsPort() !== undefined ? { metricsEnv: METRICS_PORT_ENV } : {}),
    slots: layout.slots[v.workloadName] as [HostSlot, HostSlot],
  };
}

/** Every host port a host-mode gateway and its versions' slots bind. */
export function hostGatewayPorts(svc: MicroService): number[] {
  const l = hostGatewayLayout(svc);
  const out = [l.port, l.healthPort, l.runtimePort];
  for (const pair of Object.values(l.slots)) for (const s of pair) out.push(s.port, ...(s.metricsPort !== undefined ? [s.metricsPort] : []));
  return out;
}

/** What a host-mode gateway cannot do with a service (each an error with its fix). */
export function hostGatewayProblems(svc: MicroService): PyfleetError[] {
  const errors: PyfleetError[] = [];
  const where = svc.node.path;
  if (svc._listenPortEnv({ port: 1 }) === undefined) {
    errors.push(new PyfleetError(where, `in compose host network mode the gateway reaches each version of "${svc.serviceName}" on a loopback port of its own, but pyfleet cannot set the listen port of an image of your own`,
      'use a pyfleet Python app (GunicornFlaskApp, FastApiApp), ComposeNetworkMode.BRIDGE, or drop what needs a gateway (routes, breakers, several versions)'));
  }
  if (svc.healthCheck.enabled && svc.healthPort !== svc.port) {
    errors.push(new PyfleetError(where, `the health check uses its own port ${svc.healthPort}; in compose host network mode each release of a version listens on a loopback port of its own, and a separate health port would clash between them`,
      'check health on the service port (leave healthCheck.port out), or use ComposeNetworkMode.BRIDGE'));
  }
  const extra = Object.entries(svc.additionalPorts).filter(([, port]) => port !== svc._metricsPort());
  if (extra.length > 0) {
    errors.push(new PyfleetError(where, `additional ports (${extra.map(([n, port]) => `${n} ${port}`).join(', ')}) would be bound by two releases at once in compose host network mode behind a gateway`,
      'drop additionalPorts for this service, or use ComposeNetworkMode.BRIDGE'));
  }
  // The gateway binds public entries' ports on the host itself, without root or capabilities.
  for (const g of stackMesh(svc.stack).gateways.filter((x) => x.service === svc)) {
    for (const port of g.tls ? [g.httpPort, g.httpsPort] : [g.httpPort]) {
      if (port < 1024) {
        errors.push(new PyfleetError(g.node.path, `in compose host network mode the gateway binds port ${port} on the host itself, as a non-root user without capabilities, which only root may do below 1024`,
          `use a port from 1024 up (e.g. ${port + 8000}) and forward ${port} to it on the host, or use ComposeNetworkMode.BRIDGE`));
      }
    }
  }
  const top = Math.max(...hostGatewayPorts(svc));
  if (top > 65535) {
    errors.push(new PyfleetError(where, `in compose host network mode the gateway's loopback ports of "${svc.serviceName}" run up to ${top}, past 65535`, 'use a lower service port (or metrics port)'));
  }
  return errors;
}
