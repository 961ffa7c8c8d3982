import { PyfleetError } from './errors';

const DNS_LABEL = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;
const PORT_NAME = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;
const ENV_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;

/** Throws unless `name` is a DNS-1123 label (Kubernetes object names, compose service names). */
export function checkDnsLabel(path: string, what: string, name: string, maxLength = 63): void {
  if (typeof name !== 'string' || name.length === 0 || name.length > maxLength || !DNS_LABEL.test(name)) {
    throw new PyfleetError(path, `${what} "${name}" is not a valid DNS-1123 label (lowercase letters, digits and '-', starting and ending with a letter or digit, at most ${maxLength} characters)`,
      `rename it, e.g. "${suggestLabel(String(name))}"`);
  }
}

/**
 * Throws unless `name` is a DNS-1035 label: a DNS-1123 label that starts with a letter, as a
 * Kubernetes Service name must be (it becomes a DNS name that may not look like a number).
 */
export function checkDns1035Label(path: string, what: string, name: string, maxLength = 63): void {
  checkDnsLabel(path, what, name, maxLength);
  if (!/^[a-z]/.test(name)) {
    throw new PyfleetError(path, `${what} "${name}" starts with a digit, but a Kubernetes Service name is a DNS-1035 label, which must start with a letter`,
      `rename it, e.g. "svc-${name}"`.slice(0, maxLength + 20));
  }
}

/**
 * Throws unless `name` is a DNS-1123 subdomain (Kubernetes Secret, ConfigMap and most object names):
 * at most 253 characters, one or more DNS-1123 labels (lowercase letters, digits and '-', starting and
 * ending with a letter or digit) joined by '.'.
 */
export function checkDnsSubdomain(path: string, what: string, name: string, maxLength = 253): void {
  if (typeof name !== 'string' || name.length === 0) {
    throw new PyfleetError(path, `${what} is empty`, 'give a lowercase name such as "db-credentials"');
  }
  if (name.length > maxLength) {
    throw new PyfleetError(path, `${what} "${name.slice(0, 40)}..." is ${name.length} characters long, more than the ${maxLength} of a DNS-1123 subdomain`, 'shorten it');
  }
  const bad = name.split('.').find((label) => !DNS_LABEL.test(label));
  if (bad !== undefined) {
    const problem = bad === ''
      ? `${what} "${name}" has an empty part between dots (or starts or ends with a dot)`
      : `${what} "${name}" is not a valid DNS-1123 subdomain: its part "${bad}" must be lowercase letters, digits and '-', starting and ending with a letter or digit`;
    const suggestion = name.split('.').filter((l) => l !== '').map((l) => suggestLabel(l)).join('.');
    throw new PyfleetError(path, problem, `rename it, e.g. "${suggestion}"`);
  }
}

/** Throws unless `name` is a valid Kubernetes port name (IANA_SVC_NAME: at most 15 characters, one letter at least). */
export function checkPortName(path: string, name: string): void {
  if (!PORT_NAME.test(name) || name.length > 15 || !/[a-z]/.test(name) || name.includes('--')) {
    throw new PyfleetError(path, `port name "${name}" is not a valid IANA service name`, 'use at most 15 lowercase letters, digits and single dashes, e.g. "metrics"');
  }
}

export function checkEnvName(path: string, name: string): void {
  if (!ENV_NAME.test(name)) {
    throw new PyfleetError(path, `environment variable name "${name}" is not valid`, 'use letters, digits and "_", not starting with a digit, e.g. "DATABASE_URL"');
  }
}

export function checkPort(path: string, what: string, port: number): void {
  if (!Number.isInteger(port) || port < 1 || port > 65535) {
    throw new PyfleetError(path, `${what} ${port} is out of range`, 'give a whole number from 1 to 65535');
  }
}

/** `order-service` -> `ORDER_SERVICE` (for injected `<OTHER>_URL` variables). */
export function envPrefix(serviceName: string): string {
  return serviceName.toUpperCase().replace(/[^A-Z0-9]/g, '_');
}

export function suggestLabel(name: string): string {
  const s = name.toLowerCase().replace(/[^a-z0-9-]+/g, '-').replace(/^-+|-+$/g, '').slice(0, 63).replace(/-+$/, '');
  return s || 'my-service';
}
