/**
 * The one error type pyfleet throws for a user mistake.
 *
 * It carries the construct path (where), what is wrong, and how to fix it, so that a failed
 * `cdk8s synth` points at the line of the user's program to change.
 */
export class PyfleetError extends Error {
  /** Path of the construct the error is about, e.g. `shop/order-service`. */
  public readonly constructPath: string;
  /** What is wrong. */
  public readonly problem: string;
  /** How to fix it. */
  public readonly fix: string;

  constructor(constructPath: string, problem: string, fix: string) {
    super(`[pyfleet] ${constructPath || '<app>'}: ${problem}. Fix: ${fix}`);
    this.name = 'PyfleetError';
    this.constructPath = constructPath;
    this.problem = problem;
    this.fix = fix;
  }
}

/** Several errors found by one validation pass, reported together. */
export class PyfleetValidationError extends PyfleetError {
  /** Every error the pass found, in the order found; the first also gives this error its path, problem and fix. */
  public readonly errors: PyfleetError[];
  constructor(errors: PyfleetError[]) {
    super(errors[0].constructPath, errors[0].problem, errors[0].fix);
    this.errors = errors;
    this.message = errors.length === 1
      ? errors[0].message
      : `[pyfleet] ${errors.length} problems found before anything was written:\n` + errors.map((e) => `  - ${e.message}`).join('\n');
  }
}
