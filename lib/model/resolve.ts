import { PyfleetError } from '../core/errors';
import { ComposeNetworkMode, Stack } from '../core/stack';
import * as path from 'path';
import { ImageAsset, imageAsset, isSkippedSourcePath } from '../service/asset';
import type { BuildGenerators } from '../service/build';
import type { EnvValue } from '../service/env';
import type { ContainerImage } from '../service/image';
import type { MicroService, ServiceVersion } from '../service/microservice';
import { DisruptionBudget } from '../service/scaling';
import { serviceLabels, serviceSelector, versionLabels, versionSelector } from '../service/labels';
import { resolveDataStore, stackDataStores } from '../data/resolve';
import { hatchesOf } from './hatches';
import { resolveBackground } from './jobs';
import { resolveMounts } from './volumes';
import type { ImageModel, RolloutModel, ServiceModel, StackModel, VersionModel, WorkloadModel } from './stack';

/** What resolving needs besides the constructs. */
export interface ResolveContext {
  /** Build generators of the App's targets, by recipe kind. */
  readonly buildGenerators: BuildGenerators;
  /** Shared by the stacks of one synthesis: an image is hashed once. */
  readonly assets: Map<ContainerImage, ImageAsset>;
  /** The App's outdir, absolute: a source directory must not stage it. */
  readonly outdir?: string;
  /** Handed each staged context as it is resolved, with its generated files (`synth()` starts copying it). */
  readonly staged?: (asset: ImageAsset, generated: Readonly<Record<string, string>>) => void;
}

function deepFreeze<T>(o: T): T {
  if (o && typeof o === 'object' && !Object.isFrozen(o)) {
    Object.freeze(o);
    for (const v of Object.values(o as Record<string, unknown>)) {
      // Plain objects and arrays are frozen; constructs and value objects are referenced as they are.
      if (Array.isArray(v) || (v !== null && typeof v === 'object' && Object.getPrototypeOf(v) === Object.prototype)) deepFreeze(v);
    }
  }
  return o;
}

/** The Service's HTTP port: the public port when exposed, else the container port. */
export function servicePort(svc: MicroService): number {
  return svc.expose?.port ?? svc.port;
}

function workload(svc: MicroService): WorkloadModel {
  const hc = svc.healthCheck;
  return {
    port: svc.port,
    servicePort: servicePort(svc),
    exposedPort: svc.expose?.port,
    additionalPorts: Object.keys(svc.additionalPorts).sort((a, b) => a.localeCompare(b)).map((name) => ({ name, port: svc.additionalPorts[name] })),
    metricsPort: svc._metricsPort(),
    command: svc.command ? [...svc.command] : undefined,
    args: svc.args ? [...svc.args] : undefined,
    runAsUser: svc.runAsUser,
    resources: {
      cpuLimitMillis: svc.cpuLimit.millis,
      cpuRequestMillis: svc.cpuRequest.millis,
      memoryLimitMiB: svc.memoryLimit.mebibytes,
      memoryRequestMiB: svc.memoryRequest.mebibytes,
    },
    health: {
      enabled: hc.enabled,
      path: hc.path,
      port: svc.healthPort,
      intervalMs: hc.interval.millis,
      timeoutMs: hc.timeout.millis,
      startPeriodMs: hc.startPeriod.millis,
      failureThreshold: hc.failureThreshold,
    },
    gracefulShutdownMs: svc.gracefulShutdown.millis,
    preStopDelayMs: svc.preStopDelay.millis,
    terminationGracePeriodMs: svc.terminationGracePeriod.millis,
    rollout: { ...ROLLOUT },
    topologyKeys: [...svc.topologySpread.topologyKeys],
  };
}

/** Every Deployment's rolling update: surge one pod, never go below the replica count. */
export const ROLLOUT: RolloutModel = Object.freeze({ maxSurge: 1, maxUnavailable: 0 });

/** A version's autoscaling and disruption budget (the budget only where one is written). */
function scaling(v: ServiceVersion): Pick<VersionModel, 'autoscale' | 'disruptionBudget'> {
  const a = v.autoscale;
  const autoscale = a ? { min: a.min, max: a.max, cpuUtilization: a.cpuUtilization, memoryUtilization: a.memoryUtilization, scaleDownStabilizationSeconds: a.scaleDownStabilization.seconds } : undefined;
  const budget = v.disruptionBudget ?? DEFAULT_BUDGET;
  if (!budget.enabled || v.replicas < 2) return { autoscale };
  return { autoscale, disruptionBudget: budget.minAvailable !== undefined ? { minAvailable: budget.minAvailable } : { maxUnavailable: budget.maxUnavailable } };
}

const DEFAULT_BUDGET = DisruptionBudget.maxUnavailable(1);

function resolveImage(version: ServiceVersion, ctx: ResolveContext, errors: PyfleetError[]): ImageModel {
  return resolveImageOf(version.image, version.node.path, version.service.stack, version.service.serviceName, ctx, errors);
}

/** The image model of `image`, run by the construct at `where`, named `<registry>/<name>:<hash>` when built. */
function resolveImageOf(image: ContainerImage, where: string, stack: Stack, name: string, ctx: ResolveContext, errors: PyfleetError[]): ImageModel {
  if (image.kind === 'registry') return { kind: 'registry', reference: image.reference!, buildArgs: {} };
  let asset: ImageAsset | undefined;
  if (ctx.outdir && image.directory) {
    const rel = path.relative(path.resolve(image.directory), ctx.outdir);
    if (!rel.startsWith('..') && !path.isAbsolute(rel) && !isSkippedSourcePath(rel === '' ? '.' : rel)) {
      errors.push(new PyfleetError(where, `the source directory ${image.directory} contains the App's outdir ${ctx.outdir}: its build context would include the previous synth's output, and its content hash would change at every synth`,
        'write the output outside the source directory (new App({ outdir })), name the outdir "dist", or build from a folder that does not contain it'));
      return { kind: 'build', reference: `${stack.imageRegistry}/${name}:unresolved`, dockerfile: image.dockerfile ?? 'Dockerfile', buildArgs: { ...image.buildArgs } };
    }
  }
  try {
    asset = imageAsset(image, ctx.buildGenerators, where, ctx.assets, ctx.staged);
  } catch (e) {
    errors.push(e instanceof PyfleetError ? e : new PyfleetError(where, (e as Error).message, 'see the message'));
  }
  return {
    kind: 'build',
    reference: `${stack.imageRegistry}/${name}:${asset?.tag ?? 'unresolved'}`,
    asset,
    dockerfile: image.dockerfile ?? 'Dockerfile',
    buildArgs: { ...image.buildArgs },
  };
}

function sortedEnv(env: Readonly<Record<string, EnvValue>>): Record<string, EnvValue> {
  const out: Record<string, EnvValue> = {};
  for (const k of Object.keys(env).sort()) out[k] = env[k];
  return out;
}

/**
 * Resolves a stack's constructs into its immutable model. Problems that stop one part from
 * resolving are pushed to `errors`; the caller reports them with every other problem.
 */
export function resolveStack(stack: Stack, ctx: ResolveContext, errors: PyfleetError[]): StackModel {
  const services: ServiceModel[] = stack.services.map((svc) => {
    const versions: VersionModel[] = svc.versions.map((v) => ({
      construct: v,
      path: v.node.path,
      name: v.versionName,
      workloadName: v.workloadName,
      replicas: v.replicas,
      ...scaling(v),
      image: resolveImage(v, ctx, errors),
      labels: versionLabels(v),
      selector: versionSelector(v),
      env: sortedEnv(v.env),
      hatches: hatchesOf(v),
    }));
    return {
      construct: svc,
      path: svc.node.path,
      name: svc.serviceName,
      versions,
      calls: svc.calls.map((c) => c.serviceName),
      stores: svc.storeCalls.map((d) => d.storeName),
      urlVariable: svc.urlVariable,
      addresses: {
        kubernetes: `http://${svc.serviceName}.${stack.namespaceName}.svc.cluster.local:${servicePort(svc)}`,
        compose: stack.composeNetworkMode === ComposeNetworkMode.HOST ? `http://127.0.0.1:${svc.port}` : `http://${svc.serviceName}:${svc.port}`,
      },
      settings: workload(svc),
      labels: serviceLabels(svc),
      selector: serviceSelector(svc),
      hatches: hatchesOf(svc),
      mounts: resolveMounts(svc),
    };
  });
  const byName = new Map(services.map((s) => [s.name, s]));
  const dataStores = stackDataStores(stack).map((d) => resolveDataStore(d, services.filter((s) => s.stores.includes(d.storeName)).map((s) => s.name)));
  const storesByName = new Map(dataStores.map((d) => [d.name, d]));
  const background = resolveBackground(stack, services, (image, where, name) => resolveImageOf(image, where, stack, name, ctx, errors));
  const model: StackModel = {
    construct: stack,
    path: stack.node.path,
    name: stack.stackName,
    namespace: stack.namespaceName,
    imageRegistry: stack.imageRegistry,
    labels: { ...stack.extraLabels },
    compose: { enabled: stack.composeEnabled, networkMode: stack.composeNetworkMode, placement: [...stack.composePlacement], logging: stack.composeLogging },
    mesh: stack.mesh,
    networkPolicy: { enabled: stack.networkPolicyEnabled },
    monitoring: stack.monitoring?.settings,
    services,
    ...background,
    service(name: string): ServiceModel {
      const s = byName.get(name);
      if (!s) throw new PyfleetError(stack.node.path, `stack "${stack.stackName}" has no service "${name}"`, 'call a service of the same stack');
      return s;
    },
    dataStores,
    dataStore(name: string) {
      const d = storesByName.get(name);
      if (!d) throw new PyfleetError(stack.node.path, `stack "${stack.stackName}" has no backing service "${name}"`, 'call a backing service of the same stack');
      return d;
    },
  };
  return deepFreeze(model);
}
