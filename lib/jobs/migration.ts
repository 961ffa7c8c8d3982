import { Construct } from 'constructs';
import { PyfleetError } from '../core/errors';
import { checkDnsLabel, checkEnvName } from '../core/names';
import { Stack } from '../core/stack';
import { Duration } from '../core/units';
import { EnvInput, EnvValue, toEnvValue } from '../service/env';
import { DataStore } from '../data/base';
import { MicroService } from '../service/microservice';
import { recordMigration } from '../workers/registry';

/** Properties of a Migration. */
export interface MigrationProps {
  /** The service whose releases the migration belongs to: it runs with each version's image and environment. */
  readonly of: MicroService;
  /** The command, exec form (e.g. `['alembic', 'upgrade', 'head']`). */
  readonly command: string[];
  /**
   * Services the migration calls besides the service's own calls (their URLs are injected as on the
   * service, and the connection is allowed).
   * @default - none (the service's own calls are always injected)
   */
  readonly calls?: Array<MicroService | DataStore>;
  /**
   * Extra environment of the migration, on top of the release's.
   * @default - none
   */
  readonly env?: Record<string, EnvInput>;
  /**
   * The longest the migration may run (the Job's `activeDeadlineSeconds`); after it the Job fails.
   * @default Duration.minutes(10)
   */
  readonly timeout?: Duration;
  /**
   * Retries after a failed run (the Job's `backoffLimit`; compose runs it once). A migration should
   * be safe to rerun (Alembic's is: it records the revision it reached).
   * @default 0
   */
  readonly retries?: number;
}

/**
 * A command (a schema migration) that runs once per release of a service, with that release's image
 * and environment, before any instance of the release serves: a Job named by the content hash of
 * the release plus a gate in the release's pods on Kubernetes, a one-shot service the release's
 * containers wait for on compose. When it fails, the previous release keeps serving.
 */
export class Migration extends Construct {
  /** The stack the migration is defined in. */
  public readonly stack: Stack;
  /** Its name (the id). */
  public readonly migrationName: string;
  /** The service it belongs to. */
  public readonly of: MicroService;
  /** The command. */
  public readonly command: readonly string[];
  /** Its own calls (services). */
  public readonly calls: readonly MicroService[];
  /** Its own calls (backing services). */
  public readonly storeCalls: readonly DataStore[];
  /** Its own environment. */
  public readonly env: Readonly<Record<string, EnvValue>>;
  /** Timeout. */
  public readonly timeout: Duration;
  /** Retries. */
  public readonly retries: number;

  constructor(scope: Construct, id: string, props: MigrationProps) {
    const where = scope.node.path ? `${scope.node.path}/${id}` : id;
    checkDnsLabel(where, 'migration name', id, 12);
    if (!props || !MicroService.isMicroService(props.of)) {
      throw new PyfleetError(where, '`of` is not a service', 'pass the service whose releases it migrates, e.g. of: orders');
    }
    if (!Array.isArray(props.command) || props.command.length === 0 || !props.command.every((c) => typeof c === 'string')) {
      throw new PyfleetError(where, 'command is not a non-empty list of strings', 'give it in exec form, e.g. ["alembic", "upgrade", "head"]');
    }
    const timeout = props.timeout ?? Duration.minutes(10);
    if (!(timeout instanceof Duration) || timeout.millis < 1000) {
      throw new PyfleetError(where, 'timeout must be a Duration of at least one second', 'give e.g. Duration.minutes(10)');
    }
    const retries = props.retries ?? 0;
    if (!Number.isInteger(retries) || retries < 0 || retries > 10) {
      throw new PyfleetError(where, `retries ${retries} is not valid`, 'give a whole number from 0 to 10');
    }
    for (const c of props.calls ?? []) {
      if (!MicroService.isMicroService(c) && !DataStore.isDataStore(c)) throw new PyfleetError(where, '`calls` contains something that is not a service', 'list service constructs');
    }
    super(scope, id);
    this.stack = Stack.of(scope);
    this.migrationName = id;
    this.of = props.of;
    this.command = Object.freeze([...props.command]);
    this.calls = Object.freeze((props.calls ?? []).filter((c): c is MicroService => MicroService.isMicroService(c)));
    this.storeCalls = Object.freeze((props.calls ?? []).filter((c): c is DataStore => DataStore.isDataStore(c)));
    const env: Record<string, EnvValue> = {};
    for (const [k, v] of Object.entries(props.env ?? {})) {
      checkEnvName(where, k);
      env[k] = toEnvValue(v, where, k);
    }
    this.env = Object.freeze(env);
    this.timeout = timeout;
    this.retries = retries;
    recordMigration(this.stack, this);
  }

  /** @internal problems found at synth. */
  public _problems(): PyfleetError[] {
    const errors: PyfleetError[] = [];
    if (this.of.stack !== this.stack) {
      errors.push(new PyfleetError(this.node.path, `migrates "${this.of.node.path}", a service of stack "${this.of.stack.stackName}": its Job, gate and compose one-shot would live in another namespace and project than the service they hold back`,
        `define the Migration in stack "${this.of.stack.stackName}" (new Migration(${this.of.stack.stackName}Stack, '${this.migrationName}', ...))`));
    }
    for (const v of this.of.versions) {
      // The gate runs in the release's image with its Python: an image pyfleet did not generate may have none.
      if (!v.image.recipe) {
        errors.push(new PyfleetError(this.node.path, `version "${v.versionName}" of "${this.of.serviceName}" runs ${v.image.kind === 'registry' ? `the registry image ${v.image.reference}` : 'an image built from your own Dockerfile'}, which pyfleet cannot vouch for: the migration command and the gate that holds the release back run in it and need its Python`,
          'give the migration to a GunicornFlaskApp or FastApiApp (their generated images carry Python and your requirements), or run the migration yourself before the rollout'));
      }
    }
    return errors;
  }
}
