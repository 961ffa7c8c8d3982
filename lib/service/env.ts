import { PyfleetError } from '../core/errors';
import { checkDnsLabel } from '../core/names';

/** A value for an environment variable: plain, or read from a secret. */
export class EnvValue {
  /** A literal value. */
  public static fromValue(value: string): EnvValue {
    return new EnvValue(String(value));
  }

  /**
   * A key of a secret. On Kubernetes it is a `secretKeyRef` to the Secret `name` in the stack's
   * namespace; on compose it is read from the deploying shell's environment variable
   * `<NAME>_<KEY>` (upper-cased), and `docker compose up` fails with a clear message when it is unset.
   */
  public static fromSecret(name: string, key: string): EnvValue {
    checkDnsLabel(`EnvValue.fromSecret("${name}", "${key}")`, 'secret name', name, 253);
    if (!/^[-._a-zA-Z0-9]+$/.test(key ?? '')) {
      throw new PyfleetError(`EnvValue.fromSecret("${name}", "${key}")`, `secret key "${key}" is not valid`, 'use letters, digits, "-", "_" and "."');
    }
    return new EnvValue(undefined, { name, key });
  }

  private constructor(public readonly value?: string, public readonly secret?: { readonly name: string; readonly key: string }) {}
}

/** Short form accepted by `env`: a string is a literal value. */
export type EnvInput = string | EnvValue;

export function toEnvValue(v: EnvInput): EnvValue {
  return v instanceof EnvValue ? v : EnvValue.fromValue(v);
}
