import { PyfleetError } from './errors';

function check(what: string, value: number, fix: string, allowZero = false): void {
  if (!Number.isFinite(value) || value < 0 || (!allowZero && value === 0)) {
    throw new PyfleetError(what, `${value} is not a valid amount`, fix);
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
    return Cpu.millis(Math.round(cores * 1000));
  }
  private constructor(public readonly millis: number) {}
  /** Cores as a number (0.5 for 500m). */
  public get cores(): number { return this.millis / 1000; }
  /** Kubernetes quantity: `500m`, `1`, `1500m`. */
  public toKubernetes(): string { return this.millis % 1000 === 0 ? `${this.millis / 1000}` : `${this.millis}m`; }
  /** Compose `cpus` value: `'0.5'`. */
  public toCompose(): string { return `${Number((this.millis / 1000).toFixed(3))}`; }
  public toString(): string { return this.toKubernetes(); }
}

/** An amount of memory or storage. */
export class Size {
  public static bytes(bytes: number): Size {
    check('Size.bytes', bytes, 'give a positive number, e.g. Size.mebibytes(256)');
    return new Size(Math.round(bytes));
  }
  public static kibibytes(n: number): Size { check('Size.kibibytes', n, 'give a positive number'); return new Size(Math.round(n * 1024)); }
  public static mebibytes(n: number): Size { check('Size.mebibytes', n, 'give a positive number, e.g. Size.mebibytes(256)'); return new Size(Math.round(n * 1024 ** 2)); }
  public static gibibytes(n: number): Size { check('Size.gibibytes', n, 'give a positive number, e.g. Size.gibibytes(1)'); return new Size(Math.round(n * 1024 ** 3)); }
  private constructor(public readonly bytes: number) {}
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
  public toString(): string { return this.toKubernetes(); }
}

/** A length of time. */
export class Duration {
  public static millis(ms: number): Duration {
    check('Duration.millis', ms, 'give a non-negative number of milliseconds', true);
    return new Duration(Math.round(ms));
  }
  public static seconds(s: number): Duration { check('Duration.seconds', s, 'give a non-negative number of seconds, e.g. Duration.seconds(10)', true); return new Duration(Math.round(s * 1000)); }
  public static minutes(m: number): Duration { check('Duration.minutes', m, 'give a non-negative number of minutes', true); return new Duration(Math.round(m * 60_000)); }
  private constructor(public readonly millis: number) {}
  public get seconds(): number { return this.millis / 1000; }
  /** Whole seconds, rounded up (Kubernetes fields take integers). */
  public get wholeSeconds(): number { return Math.ceil(this.millis / 1000); }
  public plus(other: Duration): Duration { return new Duration(this.millis + other.millis); }
  /** Go/Istio/compose duration string: `10s`, `1.5s`, `250ms`. */
  public toGoString(): string {
    if (this.millis % 1000 === 0) return `${this.millis / 1000}s`;
    return `${this.millis}ms`;
  }
  public toString(): string { return this.toGoString(); }
}
