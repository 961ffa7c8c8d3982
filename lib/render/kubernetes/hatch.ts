import { JsonPatch } from 'cdk8s';
import { PyfleetError } from '../../core/errors';
import { recordKubernetesPatches } from '../../model/hatches';
import { DataStore } from '../../data/base';
import { Migration } from '../../jobs/migration';
import { Schedule } from '../../jobs/schedule';
import { MicroService, ServiceVersion } from '../../service/microservice';
import { Worker } from '../../workers/worker';

type HatchOwner = MicroService | ServiceVersion | Worker | Migration | Schedule | DataStore;

/**
 * One object the Kubernetes target generates, open to JSON patches (RFC 6902) that are applied when it
 * renders, after pyfleet's own settings. A patch whose path does not exist fails the synth with the
 * construct's path.
 */
export class KubernetesObjectHatch {
  /** @internal */
  constructor(private readonly owner: HatchOwner, private readonly role: string) {}

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
  /** The ServiceMonitor (`<service>`, with `Monitoring.prometheus()` in ServiceMonitor mode and metrics on; a patch without one fails the synth). */
  readonly serviceMonitor: KubernetesObjectHatch;
}

/** The Kubernetes objects generated for a worker (a CeleryWorker). */
export interface KubernetesWorkerObjects {
  /** The worker's Deployment (`<worker>`). */
  readonly deployment: KubernetesObjectHatch;
  /** The worker's ServiceAccount (`<worker>`). */
  readonly serviceAccount: KubernetesObjectHatch;
  /** The worker's PodMonitor (`<worker>`, with `Monitoring.prometheus()` in ServiceMonitor mode and metrics on; a patch without one fails the synth). */
  readonly podMonitor: KubernetesObjectHatch;
}

/** The Kubernetes objects generated for a migration: its Job, one per release (the patch applies to each). */
export interface KubernetesMigrationObjects {
  /** The Job (`<migration>-<release hash>`; its name is fixed before patches apply). */
  readonly job: KubernetesObjectHatch;
}

/** The Kubernetes objects generated for a schedule. */
export interface KubernetesScheduleObjects {
  /** The CronJob (`<schedule>`). */
  readonly cronJob: KubernetesObjectHatch;
}

/** The Kubernetes objects generated for a backing service (Postgres, Redis). */
export interface KubernetesDataStoreObjects {
  /** The StatefulSet (`<store>`). */
  readonly statefulSet: KubernetesObjectHatch;
  /** The ClusterIP Service callers connect to (`<store>`). */
  readonly service: KubernetesObjectHatch;
  /** The ServiceAccount (`<store>`). */
  readonly serviceAccount: KubernetesObjectHatch;
}

/**
 * Escape hatch of the Kubernetes target: typed access to the objects it generates for a service or
 * version, patched at render time. `Kubernetes.of(orders.defaultVersion).deployment.addJsonPatch(...)`.
 */
export class Kubernetes {
  /**
   * The objects of a version, of a service (its Service, ServiceAccount, default Deployment and
   * ServiceMonitor), of a worker, a migration, a schedule or a backing service.
   */
  public static of(construct: ServiceVersion): KubernetesVersionObjects;
  public static of(construct: MicroService): KubernetesServiceObjects;
  public static of(construct: Worker): KubernetesWorkerObjects;
  public static of(construct: Migration): KubernetesMigrationObjects;
  public static of(construct: Schedule): KubernetesScheduleObjects;
  public static of(construct: DataStore): KubernetesDataStoreObjects;
  public static of(construct: HatchOwner): KubernetesVersionObjects | KubernetesServiceObjects | KubernetesWorkerObjects | KubernetesMigrationObjects | KubernetesScheduleObjects | KubernetesDataStoreObjects {
    const hatch = (role: string) => new KubernetesObjectHatch(construct, role);
    if (construct instanceof Worker) return { deployment: hatch('deployment'), serviceAccount: hatch('serviceAccount'), podMonitor: hatch('podMonitor') };
    if (construct instanceof Migration) return { job: hatch('job') };
    if (construct instanceof Schedule) return { cronJob: hatch('cronJob') };
    if (construct instanceof DataStore) return { statefulSet: hatch('statefulSet'), service: hatch('service'), serviceAccount: hatch('serviceAccount') };
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
        serviceMonitor: new KubernetesObjectHatch(construct, 'serviceMonitor'),
      };
    }
    throw new PyfleetError('Kubernetes.of', 'the argument is neither a service nor a service version', 'pass a MicroService (or FastApiApp, GunicornFlaskApp), one of its versions, a worker (CeleryWorker), a Migration, a Schedule or a backing service (Postgres, Redis)');
  }

  private constructor() {}
}
