import { PyfleetError } from '../core/errors';

/** How a string is compared. */
export type StringMatchKind = 'exact' | 'prefix' | 'regex';

/** A string comparison (Istio StringMatch). */
export interface StringMatch {
  /** How the value is compared: `exact`, `prefix`, or `regex` (RE2 syntax, matching the whole string). */
  readonly kind: StringMatchKind;
  /** The string (or pattern) compared against. */
  readonly value: string;
}

/** HTTP methods a route may match. */
export const HTTP_METHODS = ['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS', 'TRACE', 'CONNECT'] as const;
/** Methods that are not idempotent: never retried unless a rule asks (`retryNonIdempotent`). */
export const NON_IDEMPOTENT_METHODS = ['POST', 'PATCH'] as const;

/** RFC 7230 `tchar`: the characters of an HTTP header name (a token). */
const TCHAR = /^[A-Za-z0-9!#$%&'*+.^_`|~-]+$/;

/** Inline flags RE2 and HAProxy's PCRE both take: `(?i)`, `(?is)`... and scoped `(?i:...)`. */
const FLAG_GROUP = /\(\?[imsU]+\)/g;
const SCOPED_FLAGS = /\(\?[imsU]*(?:-[imsU]+)?:/g;

/**
 * Finds what RE2 (Envoy) does not support in `re`, outside character classes: lookaround,
 * back-references, atomic groups, possessive quantifiers and PCRE-only escapes.
 */
function unsupportedRegexFeature(re: string): { what: string; fix: string } | undefined {
  let inClass = false;
  for (let i = 0; i < re.length; i++) {
    const c = re[i];
    if (c === '\\') {
      const n = re[i + 1] ?? '';
      if (!inClass && /[1-9]/.test(n)) return { what: `a back-reference (\\${n})`, fix: 'match the repeated text explicitly, e.g. "(a|b)(a|b)" instead of "(a|b)\\1"' };
      if (!inClass && n === 'k') return { what: 'a named back-reference (\\k<...>)', fix: 'match the repeated text explicitly' };
      if ('ZGKRXu'.includes(n) && n !== '') {
        return { what: `the escape \\${n}, which RE2 does not know`, fix: n === 'Z' ? 'use "$" (the whole value is matched anyway) or \\z' : n === 'u' ? 'write the character itself, or \\x{263a} for a code point' : `rewrite it without \\${n}` };
      }
      i++;
      continue;
    }
    if (inClass) {
      if (c === ']') inClass = false;
      continue;
    }
    if (c === '[') {
      inClass = true;
      // A "]" right after "[" or "[^" is a literal.
      if (re[i + 1] === '^') i++;
      if (re[i + 1] === ']') i++;
      continue;
    }
    if (c === '(' && re[i + 1] === '?') {
      const rest = re.slice(i + 2);
      if (rest.startsWith('=') || rest.startsWith('!')) return { what: `a lookahead (?${rest[0]}`, fix: 'rewrite it without lookaround; RE2 matches in linear time and has none. Several route rules, or a header match, can often express it' };
      if (rest.startsWith('<=') || rest.startsWith('<!')) return { what: `a lookbehind (?${rest.slice(0, 2)}`, fix: 'rewrite it without lookaround; RE2 matches in linear time and has none' };
      if (rest.startsWith('>')) return { what: 'an atomic group (?>', fix: 'use a plain group "(?:...)"' };
      if (rest.startsWith('P=') || rest.startsWith('P>') || rest.startsWith('&') || /^R\)|^[0-9+-]/.test(rest)) return { what: 'a back-reference or recursion', fix: 'match the text explicitly' };
      i++;
      continue;
    }
    if ('*+?}'.includes(c) && re[i + 1] === '+' && (c !== '}' || /\{\d+(,\d*)?$/.test(re.slice(0, i)))) {
      return { what: `a possessive quantifier (${c}+)`, fix: `use the greedy "${c}" alone` };
    }
  }
  return undefined;
}

/**
 * Throws unless `re` is a regular expression Envoy's RE2 and the compose gateway's HAProxy (PCRE) both
 * take the same way: ordinary syntax and inline flags such as `(?i)`; no lookaround, back-references,
 * atomic groups, possessive quantifiers or PCRE-only escapes; and parseable (JavaScript's parser,
 * flags aside, stands in for both). Spaces and `#` are fine: the compose gateway quotes the pattern.
 */
function checkRegex(where: string, re: string): void {
  if (typeof re !== 'string' || re === '') {
    throw new PyfleetError(where, 'the regular expression is empty', 'give an RE2 expression, e.g. "^/api/v[0-9]+/.*", or use a prefix match');
  }
  if (/[\r\n\0]/.test(re)) {
    throw new PyfleetError(where, `"${JSON.stringify(re).slice(1, -1)}" contains a line break or NUL character`, 'write it as an escape, e.g. "\\n"');
  }
  const unsupported = unsupportedRegexFeature(re);
  if (unsupported) {
    throw new PyfleetError(where, `"${re}" uses ${unsupported.what}, which RE2 (Envoy, Istio) does not support`, unsupported.fix);
  }
  // JavaScript has no inline flags and spells named groups (?<name>): normalise both for its parser.
  const js = re.replace(FLAG_GROUP, '').replace(SCOPED_FLAGS, '(?:').replace(/\(\?P</g, '(?<');
  try {
    new RegExp(js);
  } catch (e) {
    throw new PyfleetError(where, `"${re}" is not a valid regular expression (${(e as Error).message.replace(/^Invalid regular expression: \/.*\/[a-z]*: /, '')})`,
      'give an RE2-compatible expression, e.g. "^/api/v[0-9]+/.*" or "(?i)^/admin"');
  }
}

function checkPath(where: string, p: string): void {
  if (typeof p !== 'string' || !p.startsWith('/') || /[\s#?]/.test(p)) {
    throw new PyfleetError(where, `"${p}" is not a path`, 'give a path starting with "/" without spaces, "?" or "#", e.g. "/api/v2"');
  }
}

/**
 * Throws unless `name` is an HTTP header name (RFC 7230 token) in lower case, as Istio requires in
 * matches and header changes, and without `#` or `'`, which end or quote a word in the compose
 * gateway's haproxy.cfg (it writes header names unquoted).
 */
export function checkHeaderName(where: string, name: string): void {
  if (typeof name !== 'string' || name === '') {
    throw new PyfleetError(where, 'the header name is empty', 'give a header name such as "x-canary"');
  }
  if (!TCHAR.test(name)) {
    const bad = [...name].find((c) => !TCHAR.test(c))!;
    throw new PyfleetError(where, `"${name}" is not an HTTP header name: ${JSON.stringify(bad)} is not allowed in one (RFC 7230 token characters only)`,
      `use letters, digits and "-", e.g. "${name.toLowerCase().replace(/[^a-z0-9-]+/g, '-').replace(/^-+|-+$/g, '') || 'x-canary'}"`);
  }
  if (/[A-Z]/.test(name)) {
    throw new PyfleetError(where, `header name "${name}" is not lowercase, which Istio requires in header matches and changes (HTTP header names are case-insensitive, so nothing is lost)`,
      `write it lowercase: "${name.toLowerCase()}"`);
  }
  if (/[#']/.test(name)) {
    throw new PyfleetError(where, `header name "${name}" contains ${name.includes('#') ? '"#"' : '"\'"'}, which the compose gateway's haproxy.cfg would read as ${name.includes('#') ? 'a comment' : 'a quote'}`,
      'use letters, digits and "-", e.g. "x-canary"');
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
