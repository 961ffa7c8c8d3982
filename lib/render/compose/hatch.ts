import { PyfleetError } from '../../core/errors';
import { recordComposeOverride } from '../../model/hatches';
import { DataStore } from '../../data/base';
import { Migration } from '../../jobs/migration';
import { Schedule } from '../../jobs/schedule';
import { MicroService, ServiceVersion } from '../../service/microservice';
import { Worker } from '../../workers/worker';

/** What has a compose service of its own: a version, a service (its gateway), a worker, a migration (its one-shot) or a backing service. */
export type ComposeHatchOwner = MicroService | ServiceVersion | Worker | Migration | DataStore;

/** Overrides of one generated compose service, applied when the compose target renders. */
export class ComposeServiceHatch {
  /** @internal */
  constructor(private readonly owner: ComposeHatchOwner) {}

  /**
   * Sets a key of the generated compose service; `path` is dotted (`deploy.resources.limits.memory`),
   * mappings on the way are created. The value replaces what pyfleet generated there.
   */
  public addOverride(path: string, value: unknown): void {
    this.check(path);
    if (value === undefined) throw new PyfleetError(this.owner.node.path, `the compose override "${path}" has no value`, 'pass a value, or use addDeletionOverride to remove the key');
    recordComposeOverride(this.owner, path, value, false);
  }

  /** Removes a key of the generated compose service (dotted path). */
  public addDeletionOverride(path: string): void {
    this.check(path);
    recordComposeOverride(this.owner, path, undefined, true);
  }

  private check(path: string): void {
    if (typeof path !== 'string' || !/^[^.\s]+(\.[^.\s]+)*$/.test(path)) {
      throw new PyfleetError(this.owner.node.path, `"${path}" is not a dotted compose key path`, 'give keys separated by dots, e.g. "deploy.resources.limits.memory"');
    }
  }
}

/**
 * Escape hatch of the compose target: `Compose.of(version)` is that version's compose service;
 * `Compose.of(service)` is the gateway proxy's service of a service that has one; a worker's, a
 * migration's (its one-shot service) and a backing service's compose service likewise.
 */
export class Compose {
  /** The compose service generated for a version, the gateway service of a service, or a worker's, migration's or backing service's. */
  public static of(construct: ComposeHatchOwner): ComposeServiceHatch {
    if (construct instanceof Schedule) {
      throw new PyfleetError(construct.node.path, 'a Schedule has no compose service: compose has no scheduler, and a stack with a compose project refuses Schedules', 'patch its CronJob with Kubernetes.of(schedule).cronJob instead');
    }
    if (!(construct instanceof ServiceVersion) && !MicroService.isMicroService(construct) && !(construct instanceof Worker) && !(construct instanceof Migration) && !(construct instanceof DataStore)) {
      throw new PyfleetError('Compose.of', 'the argument is not a construct with a compose service', 'pass a service version (e.g. orders.defaultVersion), a service that has a gateway, a worker, a Migration or a backing service');
    }
    return new ComposeServiceHatch(construct);
  }

  private constructor() {}
}
