// A small static reading of a Python module: is a name bound at module level, and by what call?
// It is deliberately lenient: anything it cannot follow (star imports, module __getattr__, globals(),
// setattr, exec) makes the answer "unknown", and only a name that is clearly never bound is refused.

/** A logical line of Python source: strings blanked to `""`, comments removed, continuation lines joined. */
interface LogicalLine {
  /** Indentation of the line's first physical line (a tab counts to the next multiple of 8). */
  readonly indent: number;
  readonly text: string;
}

/** What a static reading of a module found about one module-level name. */
export interface ModuleAttribute {
  /**
   * `defined`: bound at module level (assignment, def, class, import, for/with target, global);
   * `missing`: clearly never bound; `unknown`: the module binds names in ways a static reading cannot
   * follow, or has no statement at all (a placeholder).
   */
  readonly status: 'defined' | 'missing' | 'unknown';
  /**
   * The callable of the last module-level `name = Callable(...)` assignment (or the return annotation
   * of `def name(...) -> Type`), without its module prefix, e.g. `FastAPI` or `Flask`.
   */
  readonly madeBy?: string;
}

/** Callables whose result is an ASGI application. */
const ASGI_CONSTRUCTORS = new Set(['FastAPI', 'Starlette', 'Quart', 'Litestar', 'get_asgi_application']);
/** Callables whose result is a WSGI application. */
const WSGI_CONSTRUCTORS = new Set(['Flask', 'get_wsgi_application', 'Bottle', 'make_wsgi_app']);

/** The interface (`asgi` or `wsgi`) of an app made by `constructor`, when pyfleet knows it. */
export function appInterface(constructor: string | undefined): 'asgi' | 'wsgi' | undefined {
  if (!constructor) return undefined;
  if (ASGI_CONSTRUCTORS.has(constructor)) return 'asgi';
  if (WSGI_CONSTRUCTORS.has(constructor)) return 'wsgi';
  return undefined;
}

function logicalLines(src: string): LogicalLine[] {
  const lines: LogicalLine[] = [];
  let buf = '';
  let indent = 0;
  let depth = 0;
  let atLineStart = true;
  let continued = false;
  const end = (): void => {
    if (buf.trim() !== '') lines.push({ indent, text: buf.trim() });
    buf = '';
  };
  let i = 0;
  while (i < src.length) {
    if (atLineStart) {
      atLineStart = false;
      if (depth === 0 && !continued) {
        let n = 0;
        while (i < src.length && (src[i] === ' ' || src[i] === '\t' || src[i] === '\f')) {
          n = src[i] === '\t' ? (Math.floor(n / 8) + 1) * 8 : src[i] === ' ' ? n + 1 : 0;
          i++;
        }
        if (buf.trim() === '') indent = n;
      }
      continued = false;
      continue;
    }
    const c = src[i];
    if (c === '#') {
      while (i < src.length && src[i] !== '\n') i++;
      continue;
    }
    if (c === '"' || c === "'") {
      const triple = src.startsWith(c.repeat(3), i);
      const close = triple ? c.repeat(3) : c;
      i += close.length;
      while (i < src.length && !src.startsWith(close, i)) {
        if (src[i] === '\\') i++;
        else if (!triple && src[i] === '\n') break; // unterminated: stop at the line end
        i++;
      }
      i += close.length;
      buf += '""';
      continue;
    }
    if (c === '\\' && src[i + 1] === '\n') {
      continued = true;
      buf += ' ';
      i += 2;
      atLineStart = true;
      continue;
    }
    if (c === '\n') {
      if (depth > 0) buf += ' ';
      else end();
      i++;
      atLineStart = true;
      continue;
    }
    if (c === ';' && depth === 0) {
      // `a = 1; b = 2`: two statements at the same indentation.
      const saved = indent;
      end();
      indent = saved;
      i++;
      continue;
    }
    if ('([{'.includes(c)) depth++;
    if (')]}'.includes(c)) depth = Math.max(0, depth - 1);
    buf += c;
    i++;
  }
  end();
  return lines;
}

/** Splits `text` at `=` signs that are assignments (bracket depth 0, not `==`, `<=`, `>=`, `!=`, `:=` or augmented). */
function splitAssignment(text: string): string[] {
  const parts: string[] = [];
  let depth = 0;
  let start = 0;
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if ('([{'.includes(c)) depth++;
    else if (')]}'.includes(c)) depth = Math.max(0, depth - 1);
    else if (c === '=' && depth === 0 && text[i + 1] !== '=' && !'=!<>:+-*/%&|^@'.includes(text[i - 1] ?? '')) {
      parts.push(text.slice(start, i));
      start = i + 1;
    } else if (c === '=' && text[i + 1] === '=') {
      i++;
    }
  }
  parts.push(text.slice(start));
  return parts;
}

/** Names a target list binds: identifiers that are not attributes (`x.app`) nor keywords. */
function targetNames(target: string): string[] {
  const names: string[] = [];
  const re = /(^|[^.\w])([A-Za-z_]\w*)/g;
  let m: RegExpExecArray | null;
  while ((m = re.exec(target)) !== null) names.push(m[2]);
  return names;
}

const COMPOUND = /^(if|elif|else|try|except|finally|with|for|while|async\s+with|async\s+for|match|case)\b/;

/**
 * Reads `source` (a Python module) and tells whether `name` is bound at module level. Bindings inside
 * functions and class bodies do not count (`def create_app(): app = Flask(...)` does not define `app`),
 * bindings inside module-level `if`/`try`/`with`/`for` blocks do.
 */
export function findModuleAttribute(source: string, name: string): ModuleAttribute {
  const stack: Array<{ indent: number; scope: boolean }> = [];
  let defined = false;
  let unknown = false;
  let madeBy: string | undefined;
  const id = name.replace(/[^\w]/g, '');
  const word = new RegExp(`(^|[^.\\w])${id}\\b`);
  const lines = logicalLines(source.replace(/\r\n?/g, '\n'));
  // A module without a statement is a placeholder still to be written: nothing to judge yet.
  if (lines.length === 0) return { status: 'unknown' };
  for (const { indent, text } of lines) {
    while (stack.length > 0 && stack[stack.length - 1].indent >= indent) stack.pop();
    const inScope = stack.some((s) => s.scope);
    if (/\bglobals\s*\(|\bvars\s*\(|\bsetattr\s*\(|\bexec\s*\(|\bsys\.modules\b/.test(text)) unknown = true;
    if (new RegExp(`^global\\b.*\\b${id}\\b`).test(text)) defined = true;
    if (new RegExp(`(^|[^.\\w])${id}\\s*:=`).test(text)) defined = true;
    const def = /^(?:async\s+)?def\s+(\w+)\s*\(([^]*?)\)\s*(?:->\s*([^:]+?))?\s*:/.exec(text);
    const cls = /^class\s+(\w+)\b/.exec(text);
    if (def || cls) {
      if (!inScope) {
        const bound = def ? def[1] : cls![1];
        if (bound === '__getattr__') unknown = true;
        if (bound === id) {
          defined = true;
          madeBy = def?.[3] && /^[\w.]+$/.test(def[3].trim()) ? def[3].trim().split('.').pop() : undefined;
        }
      }
      stack.push({ indent, scope: true });
      continue;
    }
    if (text.startsWith('@')) continue;
    if (inScope) continue;
    const compound = COMPOUND.exec(text);
    // `match` and `case` are soft keywords: `match = re.match(...)` is an assignment.
    if (compound && !(/^(match|case)$/.test(compound[1]) && splitAssignment(text).length > 1)) {
      stack.push({ indent, scope: false });
      const kw = compound[1].replace(/\s+/g, ' ');
      const header = text.slice(0, text.lastIndexOf(':') >= 0 ? text.lastIndexOf(':') : text.length);
      if (kw === 'for' || kw === 'async for') {
        const m = /^(?:async\s+)?for\s+(.+?)\s+in\b/.exec(text);
        if (m && targetNames(m[1]).includes(id)) defined = true;
      }
      if (/\bas\b/.test(header) && new RegExp(`\\bas\\s+\\(?\\s*${id}\\b`).test(header)) defined = true;
      // A one-line body (`if x: app = make()`) is read below as a statement.
      const colon = findHeaderColon(text);
      if (colon < 0 || colon === text.length - 1) continue;
      const body = text.slice(colon + 1).trim();
      checkStatement(body);
      continue;
    }
    checkStatement(text);
  }

  function checkStatement(text: string): void {
    const imp = /^import\s+(.+)$/.exec(text);
    if (imp) {
      for (const part of imp[1].split(',')) {
        const m = /^\s*([\w.]+)(?:\s+as\s+(\w+))?\s*$/.exec(part);
        if (m && (m[2] ?? m[1].split('.')[0]) === id) defined = true;
      }
      return;
    }
    const from = /^from\s+\S+\s+import\s+(.+)$/.exec(text);
    if (from) {
      const list = from[1].replace(/[()]/g, ' ');
      if (list.trim() === '*') unknown = true;
      for (const part of list.split(',')) {
        const m = /^\s*(\w+)(?:\s+as\s+(\w+))?\s*$/.exec(part);
        if (m && (m[2] ?? m[1]) === id) defined = true;
      }
      return;
    }
    const parts = splitAssignment(text);
    if (parts.length < 2) return;
    const value = parts[parts.length - 1];
    for (const target of parts.slice(0, -1)) {
      // `app: FastAPI = ...` annotates; only the part before the colon is the target.
      const t = target.includes(':') && !/[[(]/.test(target.split(':')[0]) ? target.split(':')[0] : target;
      if (word.test(t) && targetNames(t).includes(id)) {
        defined = true;
        const call = /^\s*([\w.]+)\s*\(/.exec(value);
        madeBy = call ? call[1].split('.').pop() : undefined;
      }
    }
  }

  return { status: defined ? 'defined' : unknown ? 'unknown' : 'missing', madeBy };
}

/** Index of the colon that ends a compound statement header (bracket depth 0, not a walrus or slice). */
function findHeaderColon(text: string): number {
  let depth = 0;
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if ('([{'.includes(c)) depth++;
    else if (')]}'.includes(c)) depth = Math.max(0, depth - 1);
    else if (c === ':' && depth === 0 && text[i + 1] !== '=') return i;
  }
  return -1;
}
