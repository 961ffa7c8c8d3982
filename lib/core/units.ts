import { PyfleetError } from './errors';

/**
 * Throws unless `value` is a finite number that is positive (or zero when `allowZero`). The message
 * says which of the three went wrong: NaN usually comes from an undefined variable or a failed parse.
 */
function check(what: string, value: number, fix: string, allowZero = false): void {
  const where = `${what}(${value})`;
  if (typeof value !== 'number' || Number.isNaN(value)) {
    throw new PyfleetError(where, `${value === undefined ? 'undefined' : typeof value === 'number' ? 'NaN' : JSON.stringify(value)} is not a number (often an unset variable or a failed parse)`, fix);
  }
  if (!Number.isFinite(value)) {
    throw new PyfleetError(where, `${value} is not a finite amount`, fix);
  }
  if (value < 0) {
    throw new PyfleetError(where, `${value} is negative, which is not a valid amount`, fix);
  }
  if (!allowZero && value === 0) {
    throw new PyfleetError(where, '0 is not a valid amount', fix);
  }
}

/** An amount of CPU. */
export class Cpu {
  /** CPU in thousandths of a core (`Cpu.millis(500)` is half a core). */
  public static millis(millis: number): Cpu {
    check('Cpu.millis', millis, 'give a whole, positive number of millicores, e.g. Cpu.millis(250)');
    if (!Number.isInteger(millis)) {
      throw new PyfleetError('Cpu.millis', `${millis} is not a whole number of millicores`, 'round it, e.g. Cpu.millis(250)');
    }
    return new Cpu(millis);
  }
  /** CPU in cores (`Cpu.cores(1.5)`). */
  public static cores(cores: number): Cpu {
    check('Cpu.cores', cores, 'give a positive number of cores, e.g. Cpu.cores(1)');
    const millis = Math.round(cores * 1000);
    if (millis === 0) {
      throw new PyfleetError(`Cpu.cores(${cores})`, `${cores} cores is less than one millicore`, 'give at least Cpu.millis(1); a CPU limit needs at least Cpu.millis(10)');
    }
    return Cpu.millis(millis);
  }
  private constructor(
    /** Whole millicores, thousandths of a core (500 for half a core). */
    public readonly millis: number,
  ) {}
  /** Cores as a number (0.5 for 500m). */
  public get cores(): number { return this.millis / 1000; }
  /** Kubernetes quantity: `500m`, `1`, `1500m`. */
  public toKubernetes(): string { return this.millis % 1000 === 0 ? `${this.millis / 1000}` : `${this.millis}m`; }
  /** Compose `cpus` value: `'0.5'`. */
  public toCompose(): string { return `${Number((this.millis / 1000).toFixed(3))}`; }
  /** The Kubernetes quantity, as {@link Cpu.toKubernetes} writes it (`500m`). */
  public toString(): string { return this.toKubernetes(); }
}

/** An amount of memory or storage. */
export class Size {
  /** A size in bytes, rounded to a whole byte (`Size.bytes(1_000_000)`). */
  public static bytes(bytes: number): Size {
    check('Size.bytes', bytes, 'give a positive number, e.g. Size.mebibytes(256)');
    return new Size(Math.round(bytes));
  }
  /** A size in kibibytes (1 KiB = 1024 bytes), rounded to a whole byte. */
  public static kibibytes(n: number): Size { check('Size.kibibytes', n, 'give a positive number'); return new Size(Math.round(n * 1024)); }
  /** A size in mebibytes (1 MiB = 1024² bytes), rounded to a whole byte (`Size.mebibytes(256)`). */
  public static mebibytes(n: number): Size { check('Size.mebibytes', n, 'give a positive number, e.g. Size.mebibytes(256)'); return new Size(Math.round(n * 1024 ** 2)); }
  /** A size in gibibytes (1 GiB = 1024³ bytes), rounded to a whole byte (`Size.gibibytes(1)`). */
  public static gibibytes(n: number): Size { check('Size.gibibytes', n, 'give a positive number, e.g. Size.gibibytes(1)'); return new Size(Math.round(n * 1024 ** 3)); }
  private constructor(
    /** The size in whole bytes. */
    public readonly bytes: number,
  ) {}
  /** The size in mebibytes, possibly fractional (0.5 for 512 KiB). */
  public get mebibytes(): number { return this.bytes / 1024 ** 2; }
  /** Kubernetes quantity, in the largest binary unit that divides it: `512Mi`, `1Gi`. */
  public toKubernetes(): string {
    for (const [unit, factor] of [['Gi', 1024 ** 3], ['Mi', 1024 ** 2], ['Ki', 1024]] as const) {
      if (this.bytes % factor === 0) return `${this.bytes / factor}${unit}`;
    }
    return `${this.bytes}`;
  }
  /** Compose byte value: `512M`, `1G` (compose units are binary). */
  public toCompose(): string {
    for (const [unit, factor] of [['g', 1024 ** 3], ['m', 1024 ** 2], ['k', 1024]] as const) {
      if (this.bytes % factor === 0) return `${this.bytes / factor}${unit}`;
    }
    return `${this.bytes}b`;
  }
  /** The Kubernetes quantity, as {@link Size.toKubernetes} writes it (`512Mi`). */
  public toString(): string { return this.toKubernetes(); }
}

/** A length of time. */
export class Duration {
  /** A duration in milliseconds, rounded to a whole millisecond; zero is allowed. */
  public static millis(ms: number): Duration {
    check('Duration.millis', ms, 'give a non-negative number of milliseconds', true);
    return new Duration(Math.round(ms));
  }
  /** A duration in seconds, rounded to a whole millisecond (`Duration.seconds(10)`); zero is allowed. */
  public static seconds(s: number): Duration { check('Duration.seconds', s, 'give a non-negative number of seconds, e.g. Duration.seconds(10)', true); return new Duration(Math.round(s * 1000)); }
  /** A duration in minutes, rounded to a whole millisecond; zero is allowed. */
  public static minutes(m: number): Duration { check('Duration.minutes', m, 'give a non-negative number of minutes', true); return new Duration(Math.round(m * 60_000)); }
  private constructor(
    /** The duration in whole milliseconds. */
    public readonly millis: number,
  ) {}
  /** The duration in seconds, possibly fractional (1.5 for 1500 ms). */
  public get seconds(): number { return this.millis / 1000; }
  /** Whole seconds, rounded up (Kubernetes fields take integers). */
  public get wholeSeconds(): number { return Math.ceil(this.millis / 1000); }
  /** A new duration, this one and `other` added together; neither is changed. */
  public plus(other: Duration): Duration { return new Duration(this.millis + other.millis); }
  /** Go/Istio/compose duration string: `10s`, `1.5s`, `250ms`. */
  public toGoString(): string {
    if (this.millis % 1000 === 0) return `${this.millis / 1000}s`;
    return `${this.millis}ms`;
  }
  /** The Go duration string, as {@link Duration.toGoString} writes it (`10s`, `250ms`). */
  public toString(): string { return this.toGoString(); }
}

/** Smallest CPU limit Docker accepts (`--cpus` ranges from 0.01): 10 millicores. */
export const MIN_CPU_LIMIT_MILLIS = 10;
/** Smallest memory limit and memory reservation Docker accepts: 6 MiB. */
export const MIN_MEMORY_BYTES = 6 * 1024 * 1024;

/**
 * Checks the resources of a service together and throws a {@link PyfleetError} at `path` (the
 * construct path) when one is wrong: each must be a unit object (`Cpu`, `Size`), the CPU limit must be
 * at least 10 millicores (Docker refuses `--cpus` under 0.01), the memory limit and the memory
 * request at least 6 MiB (Docker's minimum for a limit and for `mem_reservation`), and each request
 * at most its limit.
 *
 * @param path construct path named in the error, e.g. `shop/orders`
 * @param cpuLimit the CPU limit
 * @param cpuRequest the CPU request (what the scheduler reserves)
 * @param memoryLimit the memory limit
 * @param memoryRequest the memory request (compose `mem_reservation`)
 */
export function checkResources(path: string, cpuLimit: Cpu, cpuRequest: Cpu, memoryLimit: Size, memoryRequest: Size): void {
  if (!(cpuLimit instanceof Cpu) || !(cpuRequest instanceof Cpu) || !(memoryLimit instanceof Size) || !(memoryRequest instanceof Size)) {
    throw new PyfleetError(path, 'cpu and memory must be unit objects, not strings or numbers', 'use Cpu.millis(500) / Cpu.cores(1) and Size.mebibytes(256) / Size.gibibytes(1)');
  }
  if (cpuLimit.millis < MIN_CPU_LIMIT_MILLIS) {
    throw new PyfleetError(path, `cpu limit ${cpuLimit} is below the 0.01 CPU (10m) that Docker accepts as a limit`, 'give at least Cpu.millis(10); a Python service needs more, e.g. Cpu.millis(250)');
  }
  if (cpuRequest.millis > cpuLimit.millis) {
    throw new PyfleetError(path, `cpuRequest ${cpuRequest} is above the cpu limit ${cpuLimit}`, 'make the request at most the limit');
  }
  if (memoryLimit.bytes < MIN_MEMORY_BYTES) {
    throw new PyfleetError(path, `memory limit ${memoryLimit} is below the 6 MiB that Docker accepts`, 'give at least Size.mebibytes(32) for a Python service');
  }
  if (memoryRequest.bytes > memoryLimit.bytes) {
    throw new PyfleetError(path, `memoryRequest ${memoryRequest} is above the memory limit ${memoryLimit}`, 'make the request at most the limit');
  }
  if (memoryRequest.bytes < MIN_MEMORY_BYTES) {
    throw new PyfleetError(path, `memoryRequest ${memoryRequest} is below the 6 MiB that Docker accepts as a memory reservation`, 'give at least Size.mebibytes(6), or leave memoryRequest out to reserve the limit');
  }
}
