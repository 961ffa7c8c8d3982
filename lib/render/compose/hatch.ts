import { PyfleetError } from '../../core/errors';
import { recordComposeOverride } from '../../model/hatches';
import { MicroService, ServiceVersion } from '../../service/microservice';

/** Overrides of one generated compose service, applied when the compose target renders. */
export class ComposeServiceHatch {
  /** @internal */
  constructor(private readonly owner: MicroService | ServiceVersion) {}

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
 * `Compose.of(service)` is the gateway proxy's service of a service that has one.
 */
export class Compose {
  /** The compose service generated for a version, or the gateway service of a service. */
  public static of(construct: MicroService | ServiceVersion): ComposeServiceHatch {
    if (!(construct instanceof ServiceVersion) && !MicroService.isMicroService(construct)) {
      throw new PyfleetError('Compose.of', 'the argument is neither a service nor a service version', 'pass a service version (e.g. orders.defaultVersion), or a service that has a gateway');
    }
    return new ComposeServiceHatch(construct);
  }

  private constructor() {}
}
