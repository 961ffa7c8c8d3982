import { PyfleetError } from '../core/errors';
import { checkDnsSubdomain } from '../core/names';

/** Describes a value that is not a string, for an error message. */
function describe(value: unknown): string {
  if (value === undefined) return 'undefined';
  if (value === null) return 'null';
  if (typeof value === 'number' || typeof value === 'boolean' || typeof value === 'bigint') return `the ${typeof value} ${String(value)}`;
  return `a ${typeof value}`;
}

/** Throws unless `value` is a string that an environment variable can carry. */
function checkLiteral(where: string, value: unknown, name?: string): asserts value is string {
  const what = name ? `environment variable ${name}` : 'the environment value';
  if (value === undefined || value === null) {
    throw new PyfleetError(where, `${what} is ${describe(value)} at synth (often an unset process.env variable read by the program)`,
      `give a string: a default (e.g. process.env.X ?? 'default'), fail early when it is unset, or read it from a secret with EnvValue.fromSecret(name, key)`);
  }
  if (typeof value !== 'string') {
    throw new PyfleetError(where, `${what} is ${describe(value)}, not a string`, `convert it, e.g. String(${typeof value === 'number' || typeof value === 'boolean' ? String(value) : 'value'}) or '${typeof value === 'number' || typeof value === 'boolean' ? String(value) : '...'}'`);
  }
  if (value.includes('\0')) {
    throw new PyfleetError(where, `${what} contains a NUL character, which no process environment can carry`, 'remove the NUL character');
  }
}

/** A value for an environment variable: plain, or read from a secret. */
export class EnvValue {
  /**
   * A literal value. It must be a string: `undefined` (e.g. an unset `process.env.X`), `null`, numbers
   * and other non-strings are refused with a {@link PyfleetError}.
   */
  public static fromValue(value: string): EnvValue {
    checkLiteral('EnvValue.fromValue', value);
    return new EnvValue(value);
  }

  /**
   * A key of a secret. On Kubernetes it is a `secretKeyRef` to the Secret `name` in the stack's
   * namespace; on compose it is read from the deploying shell's environment variable
   * `<NAME>_<KEY>` (upper-cased), and `docker compose up` fails with a clear message when it is unset.
   *
   * @param name the Secret's name: a DNS-1123 subdomain (e.g. `db-credentials` or `db.credentials`)
   *   that starts with a letter (compose reads it from a variable named after it)
   * @param key a key of the Secret: letters, digits, `-`, `_` and `.`, at most 253 characters, and
   *   neither `.`, `..` nor starting with `..` (Kubernetes forbids them)
   */
  public static fromSecret(name: string, key: string): EnvValue {
    const where = `EnvValue.fromSecret("${name}", "${key}")`;
    checkDnsSubdomain(where, 'secret name', name);
    if (!/^[a-z]/.test(name)) {
      throw new PyfleetError(where, `secret name "${name}" starts with a digit, so the compose project cannot read it: it takes the value from the variable ${name.toUpperCase().replace(/[^A-Z0-9]/g, '_')}_..., and a variable name cannot start with a digit`,
        `rename the secret to start with a letter, e.g. "s-${name}"`);
    }
    if (typeof key !== 'string' || key.length === 0) {
      throw new PyfleetError(where, 'the secret key is empty', 'give the key inside the secret, e.g. "password"');
    }
    if (key.length > 253) {
      throw new PyfleetError(where, `secret key "${key.slice(0, 40)}..." is ${key.length} characters long, more than the 253 Kubernetes allows`, 'shorten it');
    }
    if (!/^[-._a-zA-Z0-9]+$/.test(key)) {
      throw new PyfleetError(where, `secret key "${key}" is not valid`, 'use letters, digits, "-", "_" and "."');
    }
    if (key === '.' || key === '..' || key.startsWith('..')) {
      throw new PyfleetError(where, `secret key "${key}" is ".", ".." or starts with "..", which Kubernetes forbids (keys become file names when a secret is mounted)`,
        `rename the key, e.g. "${key.replace(/^\.+/, '') || 'value'}"`);
    }
    return new EnvValue(undefined, { name, key });
  }

  private constructor(
    /** The literal value, or undefined when the value comes from a secret. */
    public readonly value?: string,
    /** The secret key the value is read from, or undefined for a literal. */
    public readonly secret?: {
      /** Name of the Secret (Kubernetes) and prefix of the shell variable compose reads. */
      readonly name: string;
      /** Key inside the Secret. */
      readonly key: string;
    },
  ) {}
}

/** Short form accepted by `env`: a string is a literal value. */
export type EnvInput = string | EnvValue;

/**
 * The EnvValue of a short form: an EnvValue as is, a string as a literal. Anything else (e.g.
 * `undefined` from an unset `process.env.X`) is refused with a {@link PyfleetError}.
 *
 * @param v the value given in `env: {...}`
 * @param path construct path named in the error (e.g. `shop/api`); without it the error names `EnvValue.fromValue`
 * @param name the variable's name, named in the error when given
 */
export function toEnvValue(v: EnvInput, path?: string, name?: string): EnvValue {
  if (v instanceof EnvValue) return v;
  checkLiteral(path || 'EnvValue.fromValue', v, name);
  return EnvValue.fromValue(v);
}
