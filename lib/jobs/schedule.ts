import { Construct } from 'constructs';
import { PyfleetError } from '../core/errors';
import { checkDnsLabel } from '../core/names';
import { Stack } from '../core/stack';
import { Duration } from '../core/units';
import { MicroService } from '../service/microservice';
import { recordSchedule } from '../workers/registry';
import { Worker } from '../workers/worker';
import { checkCron } from './cron';

/** Properties of a Schedule. */
export interface ScheduleProps {
  /** The service or worker whose image, environment and resources the job runs with (its default version for a service). */
  readonly of: MicroService | Worker;
  /** Five-field cron expression (minute hour day-of-month month day-of-week), e.g. `'0 3 * * *'`. */
  readonly cron: string;
  /**
   * IANA time zone the expression is read in (the CronJob's `timeZone`).
   * @default 'Etc/UTC'
   */
  readonly timeZone?: string;
  /** The command, exec form. */
  readonly command: string[];
  /**
   * The longest one run may take (the Job's `activeDeadlineSeconds`); the run is then killed and fails.
   * @default Duration.minutes(60)
   */
  readonly timeout?: Duration;
  /**
   * Retries of a failed run (the Job's `backoffLimit`), within the timeout.
   * @default 0
   */
  readonly retries?: number;
  /**
   * How late a missed run may still start (the CronJob's `startingDeadlineSeconds`, e.g. after the
   * controller was down); a run later than this is skipped and counted as missed.
   * @default Duration.minutes(5)
   */
  readonly startingDeadline?: Duration;
}

/**
 * A command run on a cron expression in a time zone, never two at once (a Kubernetes CronJob with
 * `concurrencyPolicy: Forbid`), with a timeout and retries. Compose has no scheduler: a stack with a
 * compose project refuses a Schedule (see the README).
 */
export class Schedule extends Construct {
  /** The stack it is defined in. */
  public readonly stack: Stack;
  /** Its name (the id). */
  public readonly scheduleName: string;
  /** What it runs as. */
  public readonly of: MicroService | Worker;
  /** The cron expression. */
  public readonly cron: string;
  /** The time zone. */
  public readonly timeZone: string;
  /** The command. */
  public readonly command: readonly string[];
  /** Timeout of one run. */
  public readonly timeout: Duration;
  /** Retries of one run. */
  public readonly retries: number;
  /** Starting deadline. */
  public readonly startingDeadline: Duration;

  constructor(scope: Construct, id: string, props: ScheduleProps) {
    const where = scope.node.path ? `${scope.node.path}/${id}` : id;
    checkDnsLabel(where, 'schedule name', id, 40);
    if (!props || !(MicroService.isMicroService(props.of) || Worker.isWorker(props.of))) {
      throw new PyfleetError(where, '`of` is not a service or worker', 'pass the service or worker whose image the job runs, e.g. of: worker');
    }
    const timeZone = props.timeZone ?? 'Etc/UTC';
    checkCron(where, props.cron, timeZone);
    if (!Array.isArray(props.command) || props.command.length === 0 || !props.command.every((c) => typeof c === 'string')) {
      throw new PyfleetError(where, 'command is not a non-empty list of strings', 'give it in exec form, e.g. ["python", "-m", "reports.nightly"]');
    }
    const timeout = props.timeout ?? Duration.minutes(60);
    if (!(timeout instanceof Duration) || timeout.millis < 1000) {
      throw new PyfleetError(where, 'timeout must be a Duration of at least one second', 'give e.g. Duration.minutes(20)');
    }
    const retries = props.retries ?? 0;
    if (!Number.isInteger(retries) || retries < 0 || retries > 10) {
      throw new PyfleetError(where, `retries ${retries} is not valid`, 'give a whole number from 0 to 10');
    }
    const startingDeadline = props.startingDeadline ?? Duration.minutes(5);
    if (!(startingDeadline instanceof Duration) || startingDeadline.millis < 10_000) {
      throw new PyfleetError(where, 'startingDeadline must be a Duration of at least 10 seconds (the CronJob controller checks every 10 s)', 'give e.g. Duration.minutes(5)');
    }
    super(scope, id);
    this.stack = Stack.of(scope);
    this.scheduleName = id;
    this.of = props.of;
    this.cron = props.cron;
    this.timeZone = timeZone;
    this.command = Object.freeze([...props.command]);
    this.timeout = timeout;
    this.retries = retries;
    this.startingDeadline = startingDeadline;
    recordSchedule(this.stack, this);
  }

  /** @internal problems found at synth. */
  public _problems(): PyfleetError[] {
    const errors: PyfleetError[] = [];
    const ofStack = this.of.stack;
    const ofName = MicroService.isMicroService(this.of) ? this.of.serviceName : this.of.workerName;
    if (ofStack !== this.stack) {
      errors.push(new PyfleetError(this.node.path, `runs as "${this.of.node.path}" of stack "${ofStack.stackName}": its CronJob would live in another namespace than the image, service account and environment it borrows`,
        `define the Schedule in stack "${ofStack.stackName}", beside "${ofName}"`));
    }
    return errors;
  }
}
