import { PyfleetError } from '../core/errors';

/** How a string is compared. */
export type StringMatchKind = 'exact' | 'prefix' | 'regex';

/** A string comparison (Istio StringMatch). */
export interface StringMatch {
  readonly kind: StringMatchKind;
  readonly value: string;
}

/** HTTP methods a route may match. */
export const HTTP_METHODS = ['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS', 'TRACE', 'CONNECT'] as const;
/** Methods that are not idempotent: never retried unless a rule asks (`retryNonIdempotent`). */
export const NON_IDEMPOTENT_METHODS = ['POST', 'PATCH'] as const;

const HEADER_NAME = /^[a-z0-9!#$%&'*+.^_`|~-]+$/;

function checkRegex(where: string, re: string): void {
  try {
    new RegExp(re);
  } catch (e) {
    throw new PyfleetError(where, `"${re}" is not a valid regular expression`, 'give an RE2-compatible expression, e.g. "^/api/v[0-9]+/.*"');
  }
  if (/\(\?[=!<]|\\[1-9]/.test(re)) {
    throw new PyfleetError(where, `"${re}" uses lookaround or back-references, which RE2 (Envoy) does not support`, 'rewrite it without (?=, (?!, (?<= or \\1');
  }
}

function checkPath(where: string, p: string): void {
  if (typeof p !== 'string' || !p.startsWith('/') || /[\s#?]/.test(p)) {
    throw new PyfleetError(where, `"${p}" is not a path`, 'give a path starting with "/" without spaces, "?" or "#", e.g. "/api/v2"');
  }
}

function checkHeaderName(where: string, name: string): void {
  if (typeof name !== 'string' || !HEADER_NAME.test(name)) {
    throw new PyfleetError(where, `"${name}" is not a lowercase HTTP header name`, 'use lowercase letters, digits and "-", e.g. "x-canary"');
  }
}

function checkValue(where: string, v: string): void {
  if (typeof v !== 'string' || /[\r\n"]/.test(v)) {
    throw new PyfleetError(where, `"${v}" contains a line break or a double quote`, 'give a single-line value without double quotes');
  }
}

/**
 * Conditions a request must meet for a route rule to apply. Every condition of one Match must hold
 * (AND); a rule with a list of Matches applies when any of them holds (OR). Combine with `Match.all`.
 */
export class Match {
  /** Path starts with `prefix` (Istio `uri.prefix`). */
  public static pathPrefix(prefix: string): Match { checkPath(`Match.pathPrefix("${prefix}")`, prefix); return new Match({ path: { kind: 'prefix', value: prefix } }); }
  /** Path equals `path` exactly (query string excluded). */
  public static pathExact(path: string): Match { checkPath(`Match.pathExact("${path}")`, path); return new Match({ path: { kind: 'exact', value: path } }); }
  /** Path matches the RE2 regular expression as a whole. */
  public static pathRegex(regex: string): Match { checkRegex(`Match.pathRegex("${regex}")`, regex); return new Match({ path: { kind: 'regex', value: regex } }); }
  /** Header `name` equals `value`. */
  public static header(name: string, value: string): Match { return Match.headerWith(name, 'exact', value); }
  /** Header `name` starts with `prefix`. */
  public static headerPrefix(name: string, prefix: string): Match { return Match.headerWith(name, 'prefix', prefix); }
  /** Header `name` matches the RE2 regular expression as a whole. */
  public static headerRegex(name: string, regex: string): Match { return Match.headerWith(name, 'regex', regex); }
  /** Query parameter `name` equals `value`. */
  public static queryParam(name: string, value: string): Match { return Match.queryWith(name, 'exact', value); }
  /** Query parameter `name` matches the RE2 regular expression as a whole. */
  public static queryParamRegex(name: string, regex: string): Match { return Match.queryWith(name, 'regex', regex); }
  /** The HTTP method is `method` (upper case, e.g. "GET"). */
  public static method(method: string): Match {
    if (!(HTTP_METHODS as readonly string[]).includes(method)) {
      throw new PyfleetError(`Match.method("${method}")`, `"${method}" is not an HTTP method`, `use one of ${HTTP_METHODS.join(', ')} (upper case)`);
    }
    return new Match({ method });
  }
  /** Every condition of every given match must hold. */
  public static all(...matches: Match[]): Match {
    let out: Match = new Match({});
    for (const m of matches) out = out.and(m);
    return out;
  }

  /** Path condition, if any. */
  public readonly path?: StringMatch;
  /** Header conditions by lowercase name. */
  public readonly headers: Readonly<Record<string, StringMatch>>;
  /** Query parameter conditions by name. */
  public readonly queryParams: Readonly<Record<string, StringMatch>>;
  /** Method condition, if any. */
  public readonly method?: string;

  private constructor(c: { path?: StringMatch; headers?: Record<string, StringMatch>; queryParams?: Record<string, StringMatch>; method?: string }) {
    this.path = c.path;
    this.headers = c.headers ?? {};
    this.queryParams = c.queryParams ?? {};
    this.method = c.method;
  }

  private static headerWith(name: string, kind: StringMatchKind, value: string): Match {
    const where = `Match.header("${name}")`;
    checkHeaderName(where, name);
    if (kind === 'regex') checkRegex(where, value); else checkValue(where, value);
    return new Match({ headers: { [name]: { kind, value } } });
  }

  private static queryWith(name: string, kind: StringMatchKind, value: string): Match {
    const where = `Match.queryParam("${name}")`;
    if (typeof name !== 'string' || !/^[A-Za-z0-9._~-]+$/.test(name)) {
      throw new PyfleetError(where, `"${name}" is not a plain query parameter name`, 'use letters, digits, ".", "_", "~" and "-"');
    }
    if (kind === 'regex') checkRegex(where, value); else checkValue(where, value);
    return new Match({ queryParams: { [name]: { kind, value } } });
  }

  /** This match AND `other`. */
  public and(other: Match): Match {
    const where = 'Match.all';
    if (this.path && other.path) throw new PyfleetError(where, 'two path conditions in one match can not both hold in general', 'keep one path condition, or give the rule a list of matches (OR)');
    if (this.method && other.method && this.method !== other.method) throw new PyfleetError(where, `methods ${this.method} and ${other.method} can never both hold`, 'give the rule a list of matches (OR) instead');
    for (const h of Object.keys(other.headers)) if (h in this.headers) throw new PyfleetError(where, `header "${h}" is matched twice`, 'match each header once');
    for (const q of Object.keys(other.queryParams)) if (q in this.queryParams) throw new PyfleetError(where, `query parameter "${q}" is matched twice`, 'match each parameter once');
    return new Match({
      path: this.path ?? other.path,
      headers: { ...this.headers, ...other.headers },
      queryParams: { ...this.queryParams, ...other.queryParams },
      method: this.method ?? other.method,
    });
  }

  /** Whether the match has no condition (matches every request). */
  public get isEmpty(): boolean {
    return !this.path && !this.method && Object.keys(this.headers).length === 0 && Object.keys(this.queryParams).length === 0;
  }
}
