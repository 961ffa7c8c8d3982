import { Chart } from 'cdk8s';
import { Construct } from 'constructs';
import type { Mesh } from '../mesh/mesh';
import { Monitoring } from '../monitoring/monitoring';
import type { MicroService } from '../service/microservice';
import { PyfleetError } from './errors';
import { checkDnsLabel } from './names';
import { Size } from './units';

/** How the containers of a compose project reach each other. */
export enum ComposeNetworkMode {
  /** Bridge networks, one per call (one per stack with networkPolicy off); services find what they call by name. */
  BRIDGE = 'bridge',
  /**
   * Every container shares the host's network: each service binds its own host port, and injected
   * URLs are `http://127.0.0.1:<port>`. One container per service.
   */
  HOST = 'host',
  /** An attachable overlay network, for a Docker swarm spanning several machines. */
  OVERLAY = 'overlay',
}

/** Compose project settings of a stack. */
export interface ComposeOptions {
  /**
   * Write a compose project for this stack. Turn it off for a stack that uses mesh features the
   * compose gateway cannot enforce (e.g. consecutiveGatewayErrors), instead of having them refused.
   * @default true
   */
  readonly enabled?: boolean;
  /**
   * How containers reach each other.
   * @default ComposeNetworkMode.BRIDGE
   */
  readonly networkMode?: ComposeNetworkMode;
  /**
   * Swarm placement constraints of every service and gateway of an overlay stack
   * (`deploy.placement.constraints`), e.g. `['node.role==worker']` or `['node.labels.pool==web']`.
   * Only for ComposeNetworkMode.OVERLAY: a single machine has nothing to place on.
   * @default - none: the swarm places tasks on any node (spread across nodes)
   */
  readonly placement?: string[];
  /**
   * Log rotation of every compose service (versions and gateways): Docker's `json-file` driver keeps
   * at most `maxFiles` files of `maxSize` per container, so logs never fill a VPS's disk.
   * @default - json-file, 10 MiB x 3 files per container
   */
  readonly logging?: ComposeLoggingOptions;
}

/** Log rotation of compose services (Docker's `json-file` logging driver). */
export interface ComposeLoggingOptions {
  /**
   * Size at which a container's log file is rotated (`max-size`), a whole number of kibibytes.
   * @default Size.mebibytes(10)
   */
  readonly maxSize?: Size;
  /**
   * Log files kept per container, the current one included (`max-file`), 1 to 100.
   * @default 3
   */
  readonly maxFiles?: number;
}

/** Compose log rotation, resolved. */
export interface ComposeLogging {
  /** Logging driver (always `json-file`). */
  readonly driver: 'json-file';
  /** Rotation size in bytes (a whole number of KiB). */
  readonly maxSizeBytes: number;
  /** Files kept per container. */
  readonly maxFiles: number;
}

/** How the call graph is enforced on the network. */
export interface NetworkPolicyOptions {
  /**
   * Let each workload open connections only along the call graph: on Kubernetes, NetworkPolicies
   * (a default deny for ingress and egress in the stack's namespace; each service admits its callers,
   * and anyone on its HTTP port when exposed; each pod reaches what it calls, plus DNS and, in a mesh,
   * istiod); on compose, one internal network per call instead of one network for the project.
   * Turn it off for a stack whose services reach addresses the program does not know (an external
   * API, a database outside the stack): every pod and container may then reach everything, as before.
   * @default true
   */
  readonly enabled?: boolean;
}

/** Properties of a Stack. */
export interface StackProps {
  /**
   * Kubernetes namespace of every object in the stack (created by the stack).
   * @default - the stack's id
   */
  readonly namespace?: string;
  /**
   * Labels added to every Kubernetes object of the stack.
   * @default - none besides pyfleet's own
   */
  readonly labels?: Record<string, string>;
  /**
   * Registry (and path) that images built by the stack are named under, e.g. `ghcr.io/acme/shop`.
   * Built images are tagged `<registry>/<service>:<content hash>`.
   * @default - `pyfleet.local/<stack id>`, which a cluster can only use when the image is loaded into it
   */
  readonly imageRegistry?: string;
  /**
   * Compose project settings.
   * @default - bridge networking
   */
  readonly compose?: ComposeOptions;
  /**
   * Service mesh of the stack (`Mesh.istio()`): sidecars, mutual TLS, and MeshRoute/CircuitBreaker
   * policies rendered as Istio resources on Kubernetes.
   * @default - no mesh (MeshRoute and CircuitBreaker then need one for Kubernetes output)
   */
  readonly mesh?: Mesh;
  /**
   * Network segmentation from the call graph (NetworkPolicies, compose networks per call).
   * @default - on
   */
  readonly networkPolicy?: NetworkPolicyOptions;
  /**
   * Monitoring of the stack's metrics endpoints (`Monitoring.prometheus()`): ServiceMonitors (or scrape
   * annotations) and a scraper edge in the NetworkPolicies on Kubernetes; a Prometheus service (and
   * Grafana when asked) on compose.
   * @default - none: the metrics endpoints are served, but nothing scrapes them and no policy admits a scraper
   */
  readonly monitoring?: Monitoring;
}

const STACK_SYMBOL = Symbol.for('pyfleet.Stack');

/**
 * A group of services deployed together: one Kubernetes namespace (a cdk8s Chart), one compose project.
 */
export class Stack extends Chart {
  /**
   * True for pyfleet Stacks. (cdk8s's Chart answers `instanceof` for every chart, so a plain Chart
   * would pass `instanceof Stack` without this.)
   */
  public static isStack(x: unknown): x is Stack {
    return typeof x === 'object' && x !== null && (x as Record<symbol, unknown>)[STACK_SYMBOL] === true;
  }

  /** @internal */
  public static [Symbol.hasInstance](x: unknown): x is Stack {
    return Stack.isStack(x);
  }

  /** Returns the Stack a construct belongs to. */
  public static of(construct: Construct): Stack {
    let c: Construct | undefined = construct;
    while (c) {
      if (c instanceof Stack) return c as unknown as Stack;
      c = c.node.scope;
    }
    throw new PyfleetError(construct.node.path, 'this construct is not inside a Stack', 'create it with a Stack as its scope: new MicroService(stack, "name", {...})');
  }

  /** The stack's name (its id). */
  public readonly stackName: string;
  /** The Kubernetes namespace. */
  public readonly namespaceName: string;
  /** Registry prefix of built images. */
  public readonly imageRegistry: string;
  /** Compose network mode. */
  public readonly composeNetworkMode: ComposeNetworkMode;
  /** Whether the stack has a compose project. */
  public readonly composeEnabled: boolean;
  /** Swarm placement constraints of an overlay stack's services (empty for none). */
  public readonly composePlacement: readonly string[];
  /** Whether `imageRegistry` is the placeholder default (`pyfleet.local/<stack id>`), which no machine can pull from. */
  public readonly imageRegistryIsPlaceholder: boolean;
  /** Log rotation of every compose service. */
  public readonly composeLogging: ComposeLogging;
  /** User labels for every object. */
  public readonly extraLabels: Record<string, string>;
  /** Service mesh settings, if any. */
  public readonly mesh?: Mesh;
  /** Whether traffic is restricted to the call graph (`networkPolicy.enabled`). */
  public readonly networkPolicyEnabled: boolean;
  /** The stack's monitoring, if any. */
  public readonly monitoring?: Monitoring;
  private readonly _services: MicroService[] = [];
  /** The services by name: a stack of 1,000 services checked each new name against every other. */
  private readonly _serviceNames = new Set<string>();

  constructor(scope: Construct, id: string, props: StackProps = {}) {
    checkDnsLabel(scope.node.path ? `${scope.node.path}/${id}` : id, 'stack id', id);
    const namespace = props.namespace ?? id;
    checkDnsLabel(id, 'namespace', namespace);
    super(scope, id, { namespace, disableResourceNameHashes: true });
    Object.defineProperty(this, STACK_SYMBOL, { value: true });
    this.stackName = id;
    this.namespaceName = namespace;
    this.extraLabels = { ...(props.labels ?? {}) };
    for (const [k, v] of Object.entries(this.extraLabels)) {
      if (!/^([a-z0-9.-]+\/)?[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?$/.test(k) || !/^([A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?)?$/.test(v)) {
        throw new PyfleetError(this.node.path, `label ${k}=${v} is not a valid Kubernetes label`, 'use keys like "team" or "example.com/team" and values of at most 63 letters, digits, "-", "_" and "."');
      }
    }
    const registry = props.imageRegistry ?? `pyfleet.local/${id}`;
    if (!/^[a-z0-9]+([._-][a-z0-9]+)*(:[0-9]+)?(\/[a-z0-9]+([._-][a-z0-9]+)*)*$/.test(registry)) {
      throw new PyfleetError(this.node.path, `imageRegistry "${registry}" is not a valid image repository prefix`, 'use e.g. "ghcr.io/acme/shop" or "registry.example.com:5000/shop" (lowercase, no tag)');
    }
    this.imageRegistry = registry;
    this.imageRegistryIsPlaceholder = props.imageRegistry === undefined || /^pyfleet\.local(\/|$)/.test(registry);
    this.mesh = props.mesh;
    this.networkPolicyEnabled = props.networkPolicy?.enabled ?? true;
    if (typeof this.networkPolicyEnabled !== 'boolean') {
      throw new PyfleetError(this.node.path, `networkPolicy.enabled is ${JSON.stringify(this.networkPolicyEnabled)}, not a boolean`, 'use networkPolicy: { enabled: false } to turn segmentation off, or leave it out');
    }
    this.composeEnabled = props.compose?.enabled ?? true;
    this.composeNetworkMode = props.compose?.networkMode ?? ComposeNetworkMode.BRIDGE;
    if (!Object.values(ComposeNetworkMode).includes(this.composeNetworkMode)) {
      throw new PyfleetError(this.node.path, `compose networkMode "${this.composeNetworkMode}" is unknown`, 'use ComposeNetworkMode.BRIDGE, HOST or OVERLAY');
    }
    const placement = props.compose?.placement ?? [];
    if (!Array.isArray(placement)) {
      throw new PyfleetError(this.node.path, `compose placement is ${JSON.stringify(placement)}, not a list of constraints`, "use e.g. compose: { networkMode: ComposeNetworkMode.OVERLAY, placement: ['node.role==worker'] }");
    }
    if (placement.length > 0 && this.composeNetworkMode !== ComposeNetworkMode.OVERLAY) {
      throw new PyfleetError(this.node.path, `compose placement constraints apply to a Docker swarm, but the stack's compose network mode is ${this.composeNetworkMode}`, 'set compose.networkMode to ComposeNetworkMode.OVERLAY, or leave placement out');
    }
    for (const c of placement) {
      if (typeof c !== 'string' || !/^[A-Za-z0-9_.\-]+ *(==|!=) *[^\s=!]+$/.test(c)) {
        throw new PyfleetError(this.node.path, `compose placement constraint ${JSON.stringify(c)} is not a swarm constraint`, 'write <attribute>==<value> or <attribute>!=<value>, e.g. "node.role==worker" or "node.labels.pool==web"');
      }
    }
    this.composePlacement = [...placement];
    this.composeLogging = checkLogging(this.node.path, props.compose?.logging);
    if (props.monitoring !== undefined && !Monitoring.isMonitoring(props.monitoring)) {
      throw new PyfleetError(this.node.path, 'monitoring is not a Monitoring value', 'use monitoring: Monitoring.prometheus()');
    }
    this.monitoring = props.monitoring;
  }

  /** The services of this stack, in the order they were defined. */
  public get services(): readonly MicroService[] {
    return this._services;
  }

  /**
   * The stack's Kubernetes manifests, as pyfleet writes them (cdk8s's `Testing.synth(stack)` and
   * `app.synthYaml()` call this). The whole App is validated first, as at synth.
   */
  public toJson(): any[] {
    const app = this.node.root as unknown as { _stackManifests?: (s: Stack) => any[] };
    if (typeof app._stackManifests !== 'function') {
      throw new PyfleetError(this.node.path, 'the stack is not inside a pyfleet App', "create it with `new Stack(new App(), ...)` from pyfleet (not cdk8s's App)");
    }
    return app._stackManifests(this);
  }

  /** @internal */
  public _registerService(service: MicroService): void {
    this._services.push(service);
    this._serviceNames.add(service.serviceName);
  }

  /** @internal Whether a service of this name is in the stack. */
  public _hasService(name: string): boolean {
    return this._serviceNames.has(name);
  }
}

function checkLogging(where: string, o: ComposeLoggingOptions | undefined): ComposeLogging {
  const size = o?.maxSize ?? Size.mebibytes(10);
  if (!(size instanceof Size)) {
    throw new PyfleetError(where, 'compose.logging.maxSize must be a Size', 'use e.g. Size.mebibytes(10)');
  }
  if (size.bytes < 1024 || size.bytes % 1024 !== 0) {
    throw new PyfleetError(where, `compose.logging.maxSize ${size.bytes} bytes is not a whole number of kibibytes (Docker's max-size counts k, m or g)`, 'use e.g. Size.mebibytes(10) or Size.kibibytes(512)');
  }
  const files = o?.maxFiles ?? 3;
  if (!Number.isInteger(files) || files < 1 || files > 100) {
    throw new PyfleetError(where, `compose.logging.maxFiles ${files} is not valid`, 'give a whole number from 1 to 100 (3 keeps the current log and two rotated ones)');
  }
  return { driver: 'json-file', maxSizeBytes: size.bytes, maxFiles: files };
}
