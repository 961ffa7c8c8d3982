import { JsonPatch } from 'cdk8s';
import { PyfleetError } from '../../core/errors';
import { recordKubernetesPatches } from '../../model/hatches';
import { MicroService, ServiceVersion } from '../../service/microservice';

/**
 * One object the Kubernetes target generates, open to JSON patches (RFC 6902) that are applied when it
 * renders, after pyfleet's own settings. A patch whose path does not exist fails the synth with the
 * construct's path.
 */
export class KubernetesObjectHatch {
  /** @internal */
  constructor(private readonly owner: MicroService | ServiceVersion, private readonly role: string) {}

  /** Adds JSON patches to the generated object, e.g. `JsonPatch.add('/spec/minReadySeconds', 10)`. */
  public addJsonPatch(...patches: JsonPatch[]): void {
    for (const p of patches) {
      if (!(p instanceof JsonPatch)) {
        throw new PyfleetError(this.owner.node.path, 'addJsonPatch takes cdk8s JsonPatch values', "build them with JsonPatch.add / replace / remove from 'cdk8s', e.g. JsonPatch.add('/spec/minReadySeconds', 10)");
      }
    }
    recordKubernetesPatches(this.owner, this.role, patches);
  }
}

/** The Kubernetes objects generated for one version. */
export interface KubernetesVersionObjects {
  /** The version's Deployment (`<service>-<version>`). */
  readonly deployment: KubernetesObjectHatch;
  /** The version's HorizontalPodAutoscaler (`<service>-<version>`, autoscaled versions only; a patch on a version without one fails the synth). */
  readonly hpa: KubernetesObjectHatch;
  /** The version's PodDisruptionBudget (`<service>-<version>`, versions with one only; a patch on a version without one fails the synth). */
  readonly pdb: KubernetesObjectHatch;
}

/** The Kubernetes objects generated for a whole service. */
export interface KubernetesServiceObjects {
  /** The Service (`<service>`). */
  readonly service: KubernetesObjectHatch;
  /** The ServiceAccount (`<service>`). */
  readonly serviceAccount: KubernetesObjectHatch;
  /** The Deployment of the default version. */
  readonly deployment: KubernetesObjectHatch;
  /** The HorizontalPodAutoscaler of the default version (when it is autoscaled). */
  readonly hpa: KubernetesObjectHatch;
  /** The PodDisruptionBudget of the default version (when it has one). */
  readonly pdb: KubernetesObjectHatch;
}

/**
 * Escape hatch of the Kubernetes target: typed access to the objects it generates for a service or
 * version, patched at render time. `Kubernetes.of(orders.defaultVersion).deployment.addJsonPatch(...)`.
 */
export class Kubernetes {
  /** The objects of a version, or of a service (its Service, ServiceAccount and default Deployment). */
  public static of(construct: ServiceVersion): KubernetesVersionObjects;
  public static of(construct: MicroService): KubernetesServiceObjects;
  public static of(construct: MicroService | ServiceVersion): KubernetesVersionObjects | KubernetesServiceObjects {
    if (construct instanceof ServiceVersion) {
      return { deployment: new KubernetesObjectHatch(construct, 'deployment'), hpa: new KubernetesObjectHatch(construct, 'hpa'), pdb: new KubernetesObjectHatch(construct, 'pdb') };
    }
    if (MicroService.isMicroService(construct)) {
      return {
        service: new KubernetesObjectHatch(construct, 'service'),
        serviceAccount: new KubernetesObjectHatch(construct, 'serviceAccount'),
        deployment: new KubernetesObjectHatch(construct.defaultVersion, 'deployment'),
        hpa: new KubernetesObjectHatch(construct.defaultVersion, 'hpa'),
        pdb: new KubernetesObjectHatch(construct.defaultVersion, 'pdb'),
      };
    }
    throw new PyfleetError('Kubernetes.of', 'the argument is neither a service nor a service version', 'pass a MicroService (or FastApiApp, GunicornFlaskApp) or one of its versions');
  }

  private constructor() {}
}
