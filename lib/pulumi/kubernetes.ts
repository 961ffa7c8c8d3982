import * as fs from 'fs';
import * as path from 'path';
import * as docker from '@pulumi/docker';
import * as k8s from '@pulumi/kubernetes';
import * as pulumi from '@pulumi/pulumi';
import * as random from '@pulumi/random';
import { PyfleetError } from '../core/errors';
import type { Stack } from '../core/stack';
import type { StackModel } from '../model/stack';
import type { Duration } from '../core/units';
import { assetOutdir, BuiltImage, sorted, synthesizeStack, writeContexts } from './common';

/** Credentials of the registry that built images are pushed to. */
export interface RegistryCredentials {
  /**
   * Registry host, e.g. `ghcr.io` or `registry.example.com:5000`.
   * @default - the host part of the stack's `imageRegistry`
   */
  readonly server?: pulumi.Input<string>;
  /**
   * User name.
   * @default - none (anonymous push, or the Docker client's stored login)
   */
  readonly username?: pulumi.Input<string>;
  /**
   * Password or token; pass a Pulumi secret (`config.requireSecret(...)`).
   * @default - none
   */
  readonly password?: pulumi.Input<string>;
}

/** How Pulumi waits for one resource (or every resource of a kind) to become ready. */
export interface AwaitOptions {
  /**
   * Do not wait for readiness (sets the `pulumi.com/skipAwait` annotation).
   * @default false
   */
  readonly skipAwait?: boolean;
  /**
   * How long create and update may take before Pulumi reports a failure.
   * @default - the Kubernetes provider's default (10 minutes for a Deployment)
   */
  readonly timeout?: Duration;
}

/** Arguments of a KubernetesDeployment. */
export interface KubernetesDeploymentArgs {
  /** The pyfleet stack to deploy (its App is validated and rendered exactly as `cdk8s synth` does). */
  readonly stack: Stack;
  /**
   * The Kubernetes provider to deploy with.
   * @default - a provider from `kubeconfig`/`context` when either is given, else Pulumi's default provider
   */
  readonly provider?: k8s.Provider;
  /**
   * Path of a kubeconfig file (checked to exist), used for a provider made by this component.
   * Ignored when `provider` is given.
   * @default - the ambient kubeconfig (`$KUBECONFIG`, `~/.kube/config`)
   */
  readonly kubeconfig?: string;
  /**
   * Kubeconfig context, for a provider made by this component.
   * @default - the kubeconfig's current context
   */
  readonly context?: string;
  /**
   * Build the stack's built images with @pulumi/docker and push them; Deployments then run the pushed
   * image by digest. Set to false when CI pushed `<imageRegistry>/<service>:<content hash>` already.
   * @default true
   */
  readonly buildImages?: boolean;
  /**
   * Credentials for pushing built images to the stack's `imageRegistry`.
   * @default - the Docker client's stored login for the registry host
   */
  readonly registry?: RegistryCredentials;
  /**
   * Platform built images target.
   * @default 'linux/amd64'
   */
  readonly platform?: string;
  /**
   * Directory the staged build contexts are written to (`<dir>/assets/context.<hash>`).
   * @default - the App's outdir
   */
  readonly assetDir?: string;
  /**
   * Create the credentials Secret of each backing service (Postgres, Redis): a random password of 32
   * letters and digits (`@pulumi/random` RandomPassword, kept as a Pulumi secret; URL-safe, since it
   * goes into `<NAME>_URL` as it is) under the key `password`, before the workloads that read it. Set to
   * false when the Secrets exist already (the manifests reference them by name).
   * @default true
   */
  readonly createDataStoreSecrets?: boolean;
  /**
   * Await control per resource: keys are a kind (`Deployment`) or a kind and name
   * (`Deployment/order-service-v1`); the name wins over the kind.
   * @default - Pulumi's defaults (wait for every resource to become ready), except PersistentVolumeClaims, which are not awaited (a WaitForFirstConsumer claim binds only once its pod exists)
   */
  readonly await?: Record<string, AwaitOptions>;
}

/** One Kubernetes object of the stack as a Pulumi resource. */
export interface DeployedObject {
  /** `Kind/name` (cluster-scoped) or `Kind/namespace/name`. */
  readonly key: string;
  /** The synthesized object (before image substitution). */
  readonly manifest: any;
  /** The Pulumi resource. */
  readonly resource: pulumi.CustomResource;
  /** Keys of the objects it explicitly depends on. */
  readonly dependsOn: string[];
}

/** Key of a Kubernetes object: `Kind/name` or `Kind/namespace/name`. */
export function objectKey(o: any): string {
  const ns = o.metadata?.namespace;
  return ns ? `${o.kind}/${ns}/${o.metadata.name}` : `${o.kind}/${o.metadata.name}`;
}

/**
 * The typed @pulumi/kubernetes class of an object, or undefined for kinds it has no class for (CRDs
 * such as Istio's). Only groups of Kubernetes itself (`apps`, `networking.k8s.io`, ...) are looked up.
 */
export function typedClass(apiVersion: string, kind: string): any | undefined {
  const [group, version] = apiVersion.includes('/') ? apiVersion.split('/') : ['', apiVersion];
  let module: string;
  if (group === '') module = 'core';
  else if (!group.includes('.')) module = group;
  else if (group.endsWith('.k8s.io')) module = group.split('.')[0];
  else return undefined;
  const cls = (k8s as any)[module]?.[version]?.[kind];
  return typeof cls === 'function' && cls.prototype instanceof pulumi.CustomResource ? cls : undefined;
}

/**
 * Deploys a pyfleet stack to a Kubernetes cluster: one Pulumi resource per object that `cdk8s synth`
 * writes, with the same content (typed where @pulumi/kubernetes has a class, a CustomResource
 * otherwise), ordered through `dependsOn`. Built images are built and pushed with @pulumi/docker and
 * the Deployments run them by digest.
 */
export class KubernetesDeployment extends pulumi.ComponentResource {
  /** Every object, in apply order. */
  public readonly objects: DeployedObject[];
  /** Built images by the reference the manifests use. */
  public readonly images: Record<string, docker.Image>;
  /** Address of each public service (`expose`): `http://<load balancer>:<port>`, by service name. */
  public readonly addresses: pulumi.Output<Record<string, string>>;
  /** The provider made from `kubeconfig`/`context`, if any. */
  public readonly provider?: k8s.Provider;

  constructor(name: string, args: KubernetesDeploymentArgs, opts: pulumi.ComponentResourceOptions = {}) {
    // Every check runs before anything is registered, so a mistake leaves no half-made component.
    const where = `KubernetesDeployment "${name}"`;
    const synth = synthesizeStack(args?.stack, where);
    const stack = args.stack;
    const kubeconfig = args.provider ? undefined : checkKubeconfig(where, args.kubeconfig);
    const buildImages = args.buildImages ?? true;
    if (buildImages && synth.images.length > 0 && stack.imageRegistry.startsWith('pyfleet.local/')) {
      const built = stack.services.flatMap((s) => s.versions).filter((v) => v.image.kind === 'build');
      const names = [...new Set(built.map((v) => v.service.serviceName))].join(', ');
      throw new PyfleetError(built[0].node.path, `the image is built from source (services: ${names}), but stack "${stack.stackName}" names no registry to push it to (imageRegistry is the default ${stack.imageRegistry}, which no cluster can pull from)`,
        'set imageRegistry on the Stack (e.g. "ghcr.io/acme/shop") and pass `registry` credentials, or set buildImages: false and load the images into the cluster yourself');
    }
    for (const key of Object.keys(args.await ?? {})) {
      const [kind, objName] = key.split('/');
      if (!synth.manifests.some((o) => o.kind === kind && (objName === undefined || o.metadata?.name === objName))) {
        const kinds = [...new Set(synth.manifests.map((o) => o.kind))].sort().join(', ');
        throw new PyfleetError(where, `await option "${key}" matches no object of stack "${stack.stackName}"`, `use a kind (${kinds}) or Kind/name of an object the stack renders`);
      }
    }
    super('pyfleet:index:KubernetesDeployment', name, {}, opts);

    let provider = args.provider;
    if (!provider && (kubeconfig !== undefined || args.context !== undefined)) {
      provider = new k8s.Provider(`${name}-provider`, { kubeconfig, context: args.context }, { parent: this });
      this.provider = provider;
    }

    // Images: build and push, then substitute by digest.
    this.images = {};
    const digests = new Map<string, pulumi.Output<string>>();
    if (buildImages && synth.images.length > 0) {
      const contexts = writeContexts(synth, assetOutdir(stack, args.assetDir));
      const server = args.registry?.server ?? stack.imageRegistry.split('/')[0];
      for (const image of synth.images) {
        const context = contexts.get(image.reference)!;
        const img = new docker.Image(`${name}-${imageName(image)}`, {
          imageName: image.reference,
          build: {
            context,
            dockerfile: path.join(context, image.dockerfile),
            args: Object.keys(image.buildArgs).length > 0 ? sorted(image.buildArgs) : undefined,
            platform: args.platform ?? 'linux/amd64',
          },
          registry: { server, username: args.registry?.username, password: args.registry?.password },
        }, { parent: this });
        this.images[image.reference] = img;
        digests.set(image.reference, img.repoDigest);
      }
    }

    // Resources, in apply order; dependsOn as computed from the objects themselves.
    const resources = new Map<string, pulumi.CustomResource>();
    const byKey = new Map<string, any>(synth.manifests.map((o) => [objectKey(o), o]));
    // The backing services' Secrets: made by this component, so workloads that read them wait for them.
    const secrets = (args.createDataStoreSecrets ?? true) ? dataStoreSecrets(synth.output.model) : [];
    for (const sec of secrets) byKey.set(sec.key, sec.manifest);
    const deps = dependencies([...synth.manifests, ...secrets.map((x) => x.manifest)]);
    this.objects = [];
    // In apply order the Secrets come where the Kubernetes target puts Secrets: after the Namespace and ServiceAccounts.
    const at = synth.manifests.findIndex((o) => o.kind !== 'Namespace' && o.kind !== 'ServiceAccount');
    const ordered = [...synth.manifests];
    ordered.splice(at < 0 ? ordered.length : at, 0, ...secrets.map((x) => x.manifest));
    for (const manifest of topological(ordered, deps, byKey)) {
      const key = objectKey(manifest);
      const dependsOn = (deps.get(key) ?? []).filter((k) => byKey.has(k));
      const secret = secrets.find((x) => x.key === key);
      if (secret) {
        const password = new random.RandomPassword(`${name}-password-${secret.store}`, { length: 32, special: false }, { parent: this });
        const resource = new k8s.core.v1.Secret(`${name}-secret-${manifest.metadata.name}`, { ...manifest, stringData: { [secret.passwordKey]: password.result } },
          { parent: this, provider, dependsOn: dependsOn.map((k) => resources.get(k)!), additionalSecretOutputs: ['stringData', 'data'] });
        resources.set(key, resource);
        this.objects.push({ key, manifest, resource, dependsOn });
        continue;
      }
      // A claim of a WaitForFirstConsumer storage class binds only once its pod exists, and the pod's
      // Deployment waits for the claim: by default a claim is not awaited (pulumi-kubernetes#895).
      const awaitOpts = args.await?.[`${manifest.kind}/${manifest.metadata.name}`] ?? args.await?.[manifest.kind]
        ?? (manifest.kind === 'PersistentVolumeClaim' ? { skipAwait: true } : undefined);
      let content = substituteImages(manifest, digests);
      if (awaitOpts?.skipAwait) {
        content = { ...content, metadata: { ...content.metadata, annotations: { ...(content.metadata.annotations ?? {}), 'pulumi.com/skipAwait': 'true' } } };
      }
      const resourceOpts: pulumi.CustomResourceOptions = {
        parent: this,
        provider,
        dependsOn: dependsOn.map((k) => resources.get(k)!),
        customTimeouts: awaitOpts?.timeout ? { create: awaitOpts.timeout.toGoString(), update: awaitOpts.timeout.toGoString() } : undefined,
      };
      const logical = `${name}-${manifest.kind.toLowerCase()}-${manifest.metadata.name}`;
      const Cls = typedClass(manifest.apiVersion, manifest.kind);
      const resource: pulumi.CustomResource = Cls
        ? new Cls(logical, content, resourceOpts)
        : new k8s.apiextensions.CustomResource(logical, content, resourceOpts);
      resources.set(key, resource);
      this.objects.push({ key, manifest, resource, dependsOn });
    }

    // Public addresses: the load balancer of each exposed service.
    const addresses: Record<string, pulumi.Output<string>> = {};
    for (const svc of stack.services) {
      if (!svc.expose) continue;
      const res = resources.get(`Service/${stack.namespaceName}/${svc.serviceName}`) as k8s.core.v1.Service | undefined;
      if (!res) continue;
      const port = svc.expose.port;
      addresses[svc.serviceName] = res.status.apply((s: any) => {
        const ingress = s?.loadBalancer?.ingress?.[0];
        const host = ingress?.hostname ?? ingress?.ip;
        return host ? `http://${host.includes(':') ? `[${host}]` : host}:${port}` : '';
      });
    }
    this.addresses = pulumi.output(addresses) as pulumi.Output<Record<string, string>>;
    this.registerOutputs({ addresses: this.addresses });
  }
}

/** The credentials Secrets of a stack's backing services (one per Secret name), as manifests without data. */
function dataStoreSecrets(model: StackModel): Array<{ key: string; store: string; passwordKey: string; manifest: any }> {
  const out: Array<{ key: string; store: string; passwordKey: string; manifest: any }> = [];
  for (const d of model.dataStores) {
    const key = `Secret/${model.namespace}/${d.secret.name}`;
    if (out.some((x) => x.key === key)) continue;
    out.push({ key, store: d.name, passwordKey: d.secret.key, manifest: { apiVersion: 'v1', kind: 'Secret', metadata: { name: d.secret.name, namespace: model.namespace, labels: { ...d.labels } }, type: 'Opaque' } });
  }
  return out;
}

/** The objects in apply order, moved only where an object would come before something it depends on. */
function topological(objects: readonly any[], deps: Map<string, string[]>, byKey: Map<string, any>): any[] {
  const done = new Set<string>();
  const out: any[] = [];
  let rest = objects;
  while (rest.length > 0) {
    const next: any[] = [];
    for (const o of rest) {
      if ((deps.get(objectKey(o)) ?? []).every((k) => done.has(k) || !byKey.has(k))) {
        done.add(objectKey(o));
        out.push(o);
      } else {
        next.push(o);
      }
    }
    if (next.length === rest.length) {
      throw new PyfleetError(objectKey(next[0]), 'the Kubernetes objects depend on each other in a cycle', 'report this as a pyfleet bug with the stack that caused it');
    }
    rest = next;
  }
  return out;
}

/** The absolute kubeconfig path, after checking it is a readable file. */
function checkKubeconfig(where: string, kubeconfig: string | undefined): string | undefined {
  if (kubeconfig === undefined) return undefined;
  const file = path.resolve(kubeconfig);
  if (!fs.existsSync(file) || !fs.statSync(file).isFile()) {
    throw new PyfleetError(where, `the kubeconfig ${file} does not exist or is not a file`, 'pass the path of a readable kubeconfig (e.g. ~/.kube/config expanded), or pass `provider`');
  }
  try {
    fs.accessSync(file, fs.constants.R_OK);
  } catch {
    throw new PyfleetError(where, `the kubeconfig ${file} is not readable`, 'fix its permissions or pass another kubeconfig');
  }
  return file;
}

function imageName(image: BuiltImage): string {
  return `image-${image.repository.split('/').pop()}-${image.tag}`;
}

/** A deep copy of `o` with every container image that is a built reference replaced by its pushed digest. */
function substituteImages(o: any, digests: Map<string, pulumi.Output<string>>): any {
  if (digests.size === 0) return o;
  const walk = (v: any, parentKey: string): any => {
    if (Array.isArray(v)) return v.map((x) => walk(x, parentKey));
    if (v && typeof v === 'object') {
      const out: any = {};
      for (const [k, x] of Object.entries(v)) {
        out[k] = k === 'image' && typeof x === 'string' && digests.has(x) && /containers$/i.test(parentKey) ? digests.get(x) : walk(x, k);
      }
      return out;
    }
    return v;
  };
  return walk(o, '');
}

/**
 * What each object must wait for, as object keys:
 * - every namespaced object waits for its Namespace;
 * - a workload (anything with a pod template) waits for the ServiceAccount, Secrets, ConfigMaps and
 *   PersistentVolumeClaims it uses;
 * - a VirtualService waits for the DestinationRules of the hosts it routes to by subset;
 * - a HorizontalPodAutoscaler waits for the workload it scales, and a PodDisruptionBudget for the
 *   workloads whose pods it selects (both are created once the pods they govern are up);
 * - a workload whose pods a Migration holds back (an init container naming `PYFLEET_GATE_JOB`) waits
 *   for that Job, which the provider awaits until it is Complete (and fails the update when it Failed),
 *   and for the RoleBinding that lets the gate read it; a RoleBinding waits for its Role.
 * - a prometheus-operator ServiceMonitor waits for the Services it selects (by their labels, in the
 *   namespaces of its namespaceSelector, else its own), so it never points at a Service that is not there;
 *   a PodMonitor (a worker's) waits for the workloads whose pods it selects, the same way.
 * Keys that are not among the objects (e.g. a Secret made outside the stack) are dropped by the caller.
 */
export function dependencies(objects: readonly any[]): Map<string, string[]> {
  const out = new Map<string, string[]>();
  const destinationRules = objects.filter((o) => o.kind === 'DestinationRule');
  const workloads = objects.filter((o) => o.spec?.template?.metadata?.labels && o.kind !== 'Job');
  const services = objects.filter((o) => o.kind === 'Service' && o.apiVersion === 'v1');
  for (const o of objects) {
    const ns: string | undefined = o.metadata?.namespace;
    const deps = new Set<string>();
    if (ns) deps.add(`Namespace/${ns}`);
    const pod = o.kind === 'Pod' ? o.spec : o.spec?.template?.spec ?? o.spec?.jobTemplate?.spec?.template?.spec;
    if (pod && ns) {
      if (pod.serviceAccountName) deps.add(`ServiceAccount/${ns}/${pod.serviceAccountName}`);
      for (const c of [...(pod.containers ?? []), ...(pod.initContainers ?? [])]) {
        for (const e of c.env ?? []) {
          if (e.valueFrom?.secretKeyRef?.name) deps.add(`Secret/${ns}/${e.valueFrom.secretKeyRef.name}`);
          if (e.valueFrom?.configMapKeyRef?.name) deps.add(`ConfigMap/${ns}/${e.valueFrom.configMapKeyRef.name}`);
        }
        for (const e of c.envFrom ?? []) {
          if (e.secretRef?.name) deps.add(`Secret/${ns}/${e.secretRef.name}`);
          if (e.configMapRef?.name) deps.add(`ConfigMap/${ns}/${e.configMapRef.name}`);
        }
      }
      for (const v of pod.volumes ?? []) {
        if (v.secret?.secretName) deps.add(`Secret/${ns}/${v.secret.secretName}`);
        if (v.configMap?.name) deps.add(`ConfigMap/${ns}/${v.configMap.name}`);
        if (v.persistentVolumeClaim?.claimName) deps.add(`PersistentVolumeClaim/${ns}/${v.persistentVolumeClaim.claimName}`);
      }
      for (const s of pod.imagePullSecrets ?? []) if (s.name) deps.add(`Secret/${ns}/${s.name}`);
      for (const c of pod.initContainers ?? []) {
        const job = (c.env ?? []).find((e: any) => e.name === 'PYFLEET_GATE_JOB')?.value;
        if (job) deps.add(`Job/${ns}/${job}`).add(`RoleBinding/${ns}/${job}-gate`);
      }
    }
    if (o.kind === 'VirtualService' && ns) {
      const routes = [...(o.spec?.http ?? []), ...(o.spec?.tcp ?? []), ...(o.spec?.tls ?? [])];
      for (const r of routes) {
        for (const dest of [...(r.route ?? []).map((x: any) => x.destination), r.mirror]) {
          if (!dest?.host || !dest.subset) continue;
          for (const dr of destinationRules) {
            if (sameHost(dest.host, ns, dr.spec?.host, dr.metadata?.namespace ?? ns)) deps.add(objectKey(dr));
          }
        }
      }
    }
    if (o.kind === 'RoleBinding' && ns && o.roleRef?.kind === 'Role') deps.add(`Role/${ns}/${o.roleRef.name}`);
    if (o.kind === 'HorizontalPodAutoscaler' && ns && o.spec?.scaleTargetRef) {
      deps.add(`${o.spec.scaleTargetRef.kind}/${ns}/${o.spec.scaleTargetRef.name}`);
    }
    if (o.kind === 'PodDisruptionBudget' && ns && o.spec?.selector?.matchLabels) {
      const selector: Record<string, string> = o.spec.selector.matchLabels;
      for (const w of workloads) {
        const labels = w.spec?.template?.metadata?.labels ?? {};
        if ((w.metadata?.namespace ?? ns) === ns && Object.entries(selector).every(([k, v]) => labels[k] === v)) deps.add(objectKey(w));
      }
    }
    if (o.kind === 'ServiceMonitor' && String(o.apiVersion).startsWith('monitoring.coreos.com/') && ns && o.spec?.selector?.matchLabels) {
      const selector: Record<string, string> = o.spec.selector.matchLabels;
      const namespaces: string[] = o.spec.namespaceSelector?.matchNames ?? [ns];
      for (const s of services) {
        const labels = s.metadata?.labels ?? {};
        if (namespaces.includes(s.metadata?.namespace ?? ns) && Object.entries(selector).every(([k, v]) => labels[k] === v)) deps.add(objectKey(s));
      }
    }
    if (o.kind === 'PodMonitor' && String(o.apiVersion).startsWith('monitoring.coreos.com/') && ns && o.spec?.selector?.matchLabels) {
      const selector: Record<string, string> = o.spec.selector.matchLabels;
      const namespaces: string[] = o.spec.namespaceSelector?.matchNames ?? [ns];
      for (const w of workloads) {
        const labels = w.spec?.template?.metadata?.labels ?? {};
        if (namespaces.includes(w.metadata?.namespace ?? ns) && Object.entries(selector).every(([k, v]) => labels[k] === v)) deps.add(objectKey(w));
      }
    }
    deps.delete(objectKey(o));
    out.set(objectKey(o), [...deps].sort());
  }
  return out;
}

/** Whether two Istio hosts (short or fully qualified, relative to their namespaces) name the same service. */
function sameHost(a: string, nsA: string, b: string | undefined, nsB: string): boolean {
  if (!b) return false;
  const fq = (h: string, ns: string): string => {
    const parts = h.split('.');
    if (parts.length === 1) return `${h}.${ns}.svc.cluster.local`;
    if (parts.length === 2) return `${h}.svc.cluster.local`;
    return h;
  };
  return fq(a, nsA) === fq(b, nsB);
}
