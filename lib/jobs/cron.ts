import { CronExpressionParser } from 'cron-parser';
import { PyfleetError } from '../core/errors';

/** Whether `zone` is a time zone the IANA database (as Intl knows it) has. */
export function isKnownTimeZone(zone: string): boolean {
  try {
    new Intl.DateTimeFormat('en-US', { timeZone: zone });
    return true;
  } catch {
    return false;
  }
}

/**
 * Checks a cron expression as Kubernetes CronJobs read it: exactly five fields (minute, hour, day of
 * month, month, day of week), each within its range, names (JAN-DEC, SUN-SAT) allowed; ranges and
 * names are checked by cron-parser. Throws a PyfleetError at `where`.
 */
export function checkCron(where: string, cron: string, timeZone: string): void {
  if (typeof cron !== 'string' || cron.trim().split(/\s+/).length !== 5 || cron.trim() !== cron) {
    throw new PyfleetError(where, `cron ${JSON.stringify(cron)} does not have exactly five fields (minute hour day-of-month month day-of-week)`,
      'write e.g. "0 3 * * *" (every day at 03:00); no seconds field, no @macros, no CRON_TZ (use timeZone)');
  }
  if (typeof timeZone !== 'string' || !isKnownTimeZone(timeZone)) {
    throw new PyfleetError(where, `time zone ${JSON.stringify(timeZone)} is not in the IANA time zone database`, 'give a zone such as "Europe/Berlin", "America/New_York" or "Etc/UTC"');
  }
  if (/[LW#]/i.test(cron.replace(/[A-Z]{3}/gi, (n) => n.replace(/[LW#]/gi, '')))) {
    throw new PyfleetError(where, `cron "${cron}" uses L, W or #, which Kubernetes CronJobs do not understand`, 'use plain fields, lists, ranges and steps (e.g. "0 3 28-31 * *" and a check in the job for the last day)');
  }
  try {
    CronExpressionParser.parse(cron, { tz: timeZone });
  } catch (e) {
    throw new PyfleetError(where, `cron "${cron}" is not valid: ${(e as Error).message}`, 'fields are minute 0-59, hour 0-23, day of month 1-31, month 1-12 or JAN-DEC, day of week 0-7 or SUN-SAT; lists (1,2), ranges (1-5) and steps (*/15) are allowed');
  }
}

/** The next `count` run times of a cron expression in a time zone, after `from` (UTC instants). */
export function nextRuns(cron: string, timeZone: string, from: Date, count: number): Date[] {
  const it = CronExpressionParser.parse(cron, { tz: timeZone, currentDate: from });
  const out: Date[] = [];
  for (let i = 0; i < count; i++) out.push(it.next().toDate());
  return out;
}
