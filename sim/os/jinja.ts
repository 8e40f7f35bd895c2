/**
 * The part of Jinja that cloud-init's `## template: jinja` user data uses, rendered the way cloud-init
 * renders it (`cloudinit/templater.py`): `trim_blocks` on, a trailing newline kept, and an undefined variable
 * printed as `CI_MISSING_JINJA_VAR/<name>` rather than failing. Looking up an attribute of something undefined
 * fails the whole render, as in Jinja (cloud-init then ignores that user data).
 *
 * Supported: `{{ expr }}`, `{% if/elif/else/endif %}`, `{% for x in expr %}...{% else %}...{% endfor %}`,
 * `{% set x = expr %}`, `{# comments #}`, `-` whitespace control. Expressions: names, `.attr`, `['key']`,
 * `[0]`, string/number/boolean/none literals, lists, `~`, `+`, `-`, comparisons, `in`, `not`, `and`, `or`,
 * `x if c else y`, tests (`is defined`, `is undefined`, `is none`, `is string`, `is number`), and filters
 * (`lower`, `upper`, `title`, `capitalize`, `trim`, `replace`, `default`/`d`, `string`, `int`, `join`,
 * `length`/`count`, `first`, `last`, `list`, `tojson`). Anything else is a syntax error, which cloud-init
 * would also report and skip.
 */

/** cloud-init's marker for a variable the instance data lacks. */
export const MISSING_JINJA_PREFIX = 'CI_MISSING_JINJA_VAR/';

/** A template that cannot be parsed (cloud-init: "Failed to render template"). */
export class JinjaSyntaxError extends Error {
  override readonly name = 'JinjaSyntaxError';
}

/** A render that touched an attribute of an undefined value (Jinja's UndefinedError). */
export class JinjaUndefinedError extends Error {
  override readonly name = 'JinjaUndefinedError';
}

/** An undefined variable or key; printed with cloud-init's marker. */
class Undefined {
  readonly name: string;
  constructor(name: string) {
    this.name = name;
  }
  toString(): string {
    return `${MISSING_JINJA_PREFIX}${this.name}`;
  }
}

type Value = unknown;
type Scope = Map<string, Value>;

// ---------------------------------------------------------------------------------------------------------
// Template structure

type Node =
  | { kind: 'text'; text: string }
  | { kind: 'output'; expr: Expr }
  | { kind: 'if'; branches: { test: Expr; body: Node[] }[]; otherwise: Node[] }
  | { kind: 'for'; target: string[]; iterable: Expr; body: Node[]; otherwise: Node[] }
  | { kind: 'set'; name: string; expr: Expr };

type Expr =
  | { kind: 'literal'; value: Value }
  | { kind: 'name'; name: string }
  | { kind: 'list'; items: Expr[] }
  | { kind: 'attr'; target: Expr; key: Expr; display: string }
  | { kind: 'filter'; target: Expr; name: string; args: Expr[] }
  | { kind: 'test'; target: Expr; name: string; negate: boolean }
  | { kind: 'unary'; op: 'not' | '-'; operand: Expr }
  | { kind: 'binary'; op: string; left: Expr; right: Expr }
  | { kind: 'cond'; test: Expr; then: Expr; otherwise: Expr | undefined };

interface Tag {
  kind: 'text' | 'output' | 'statement';
  body: string;
}

/** Splits a template into text, `{{ }}` and `{% %}` pieces, applying `-` whitespace control and trim_blocks. */
function lex(source: string): Tag[] {
  const tags: Tag[] = [];
  let i = 0;
  let trimNextLeading = false;
  let trimNewline = false;
  while (i < source.length) {
    const next = source.slice(i).search(/\{[{%#]/);
    let text = next === -1 ? source.slice(i) : source.slice(i, i + next);
    if (trimNextLeading) text = text.replace(/^\s+/, '');
    else if (trimNewline) text = text.replace(/^\r?\n/, '');
    trimNextLeading = false;
    trimNewline = false;
    if (next === -1) {
      pushText(tags, text);
      break;
    }
    const start = i + next;
    const open = source[start + 1];
    const close = open === '{' ? '}}' : open === '%' ? '%}' : '#}';
    const end = source.indexOf(close, start + 2);
    if (end === -1) throw new JinjaSyntaxError(`unclosed '${source.slice(start, start + 2)}' at offset ${start}`);
    let inner = source.slice(start + 2, end);
    if (inner.startsWith('-')) {
      text = text.replace(/\s+$/, '');
      inner = inner.slice(1);
    }
    if (inner.endsWith('-')) {
      inner = inner.slice(0, -1);
      trimNextLeading = true;
    } else if (open === '%' || open === '#') {
      trimNewline = true; // trim_blocks: the first newline after a block tag goes
    }
    pushText(tags, text);
    if (open === '{') tags.push({ kind: 'output', body: inner.trim() });
    else if (open === '%') tags.push({ kind: 'statement', body: inner.trim() });
    i = end + 2;
  }
  return tags;
}

function pushText(tags: Tag[], text: string): void {
  const last = tags.at(-1);
  if (!text) return;
  if (last?.kind === 'text') last.body += text;
  else tags.push({ kind: 'text', body: text });
}

/** Builds the node tree from the tags. */
function build(tags: Tag[]): Node[] {
  let pos = 0;
  const parseBlock = (terminators: string[]): { nodes: Node[]; end: string } => {
    const nodes: Node[] = [];
    while (pos < tags.length) {
      const tag = tags[pos++] as Tag;
      if (tag.kind === 'text') {
        nodes.push({ kind: 'text', text: tag.body });
        continue;
      }
      if (tag.kind === 'output') {
        nodes.push({ kind: 'output', expr: parseExpression(tag.body) });
        continue;
      }
      const keyword = tag.body.split(/\s+/, 1)[0] ?? '';
      const rest = tag.body.slice(keyword.length).trim();
      if (terminators.includes(keyword)) return { nodes, end: tag.body };
      switch (keyword) {
        case 'if': {
          const branches = [{ test: parseExpression(rest), body: [] as Node[] }];
          let otherwise: Node[] = [];
          for (;;) {
            const block = parseBlock(['elif', 'else', 'endif']);
            (branches.at(-1) as { body: Node[] }).body = block.nodes;
            const endKeyword = block.end.split(/\s+/, 1)[0];
            if (endKeyword === 'elif') {
              branches.push({ test: parseExpression(block.end.slice(4).trim()), body: [] });
              continue;
            }
            if (endKeyword === 'else') otherwise = parseBlock(['endif']).nodes;
            break;
          }
          nodes.push({ kind: 'if', branches, otherwise });
          break;
        }
        case 'for': {
          const match = /^([A-Za-z_][\w]*(?:\s*,\s*[A-Za-z_][\w]*)*)\s+in\s+(.+)$/s.exec(rest);
          if (!match) throw new JinjaSyntaxError(`cannot parse '{% ${tag.body} %}'`);
          const body = parseBlock(['else', 'endfor']);
          let otherwise: Node[] = [];
          if (body.end === 'else') otherwise = parseBlock(['endfor']).nodes;
          nodes.push({
            kind: 'for',
            target: (match[1] ?? '').split(',').map((s) => s.trim()),
            iterable: parseExpression(match[2] ?? ''),
            body: body.nodes,
            otherwise,
          });
          break;
        }
        case 'set': {
          const match = /^([A-Za-z_]\w*)\s*=\s*(.+)$/s.exec(rest);
          if (!match) throw new JinjaSyntaxError(`cannot parse '{% ${tag.body} %}' (only 'set name = expr')`);
          nodes.push({ kind: 'set', name: match[1] ?? '', expr: parseExpression(match[2] ?? '') });
          break;
        }
        default:
          throw new JinjaSyntaxError(`unsupported tag '{% ${tag.body} %}'`);
      }
    }
    if (terminators.length > 0) throw new JinjaSyntaxError(`missing '{% ${terminators.at(-1)} %}'`);
    return { nodes, end: '' };
  };
  return parseBlock([]).nodes;
}

// ---------------------------------------------------------------------------------------------------------
// Expressions

type Token = { type: 'name' | 'string' | 'number' | 'op'; text: string; value?: Value };

function tokenize(source: string): Token[] {
  const tokens: Token[] = [];
  const re =
    /\s*(?:([A-Za-z_]\w*)|('(?:[^'\\]|\\.)*'|"(?:[^"\\]|\\.)*")|(\d+(?:\.\d+)?)|(==|!=|<=|>=|[-+~|.,()[\]<>*/%:]))/y;
  let pos = 0;
  while (pos < source.length) {
    if (/^\s*$/.test(source.slice(pos))) break;
    re.lastIndex = pos;
    const m = re.exec(source);
    if (!m) throw new JinjaSyntaxError(`unexpected '${source.slice(pos).trim().slice(0, 20)}' in '${source}'`);
    pos = re.lastIndex;
    if (m[1] !== undefined) tokens.push({ type: 'name', text: m[1] });
    else if (m[2] !== undefined) tokens.push({ type: 'string', text: m[2], value: unquote(m[2]) });
    else if (m[3] !== undefined) tokens.push({ type: 'number', text: m[3], value: Number(m[3]) });
    else tokens.push({ type: 'op', text: m[4] ?? '' });
  }
  return tokens;
}

function unquote(literal: string): string {
  return literal.slice(1, -1).replace(/\\(.)/g, (_m, c: string) => ({ n: '\n', t: '\t', r: '\r' })[c] ?? c);
}

/** Parses one expression (the inside of `{{ }}` or a statement's argument). */
export function parseExpression(source: string): Expr {
  const tokens = tokenize(source);
  let i = 0;
  const peek = (offset = 0) => tokens[i + offset];
  const isOp = (text: string, offset = 0) => peek(offset)?.type === 'op' && peek(offset)?.text === text;
  const isWord = (text: string, offset = 0) => peek(offset)?.type === 'name' && peek(offset)?.text === text;
  const expect = (text: string) => {
    if (!isOp(text)) throw new JinjaSyntaxError(`expected '${text}' in '${source}'`);
    i += 1;
  };

  const expression = (): Expr => {
    const value = or();
    if (isWord('if')) {
      i += 1;
      const test = or();
      let otherwise: Expr | undefined;
      if (isWord('else')) {
        i += 1;
        otherwise = expression();
      }
      return { kind: 'cond', test, then: value, otherwise };
    }
    return value;
  };
  const or = (): Expr => {
    let left = and();
    while (isWord('or')) {
      i += 1;
      left = { kind: 'binary', op: 'or', left, right: and() };
    }
    return left;
  };
  const and = (): Expr => {
    let left = not();
    while (isWord('and')) {
      i += 1;
      left = { kind: 'binary', op: 'and', left, right: not() };
    }
    return left;
  };
  const not = (): Expr => {
    if (isWord('not')) {
      i += 1;
      return { kind: 'unary', op: 'not', operand: not() };
    }
    return compare();
  };
  const compare = (): Expr => {
    let left = concat();
    for (;;) {
      const t = peek();
      if (t?.type === 'op' && ['==', '!=', '<', '>', '<=', '>='].includes(t.text)) {
        i += 1;
        left = { kind: 'binary', op: t.text, left, right: concat() };
      } else if (isWord('in')) {
        i += 1;
        left = { kind: 'binary', op: 'in', left, right: concat() };
      } else if (isWord('not') && isWord('in', 1)) {
        i += 2;
        left = { kind: 'unary', op: 'not', operand: { kind: 'binary', op: 'in', left, right: concat() } };
      } else if (isWord('is')) {
        i += 1;
        const negate = isWord('not');
        if (negate) i += 1;
        const name = peek();
        if (name?.type !== 'name') throw new JinjaSyntaxError(`expected a test name after 'is' in '${source}'`);
        i += 1;
        left = { kind: 'test', target: left, name: name.text, negate };
      } else {
        return left;
      }
    }
  };
  const concat = (): Expr => {
    let left = additive();
    while (isOp('~')) {
      i += 1;
      left = { kind: 'binary', op: '~', left, right: additive() };
    }
    return left;
  };
  const additive = (): Expr => {
    let left = unary();
    while (isOp('+') || isOp('-')) {
      const op = peek()?.text ?? '+';
      i += 1;
      left = { kind: 'binary', op, left, right: unary() };
    }
    return left;
  };
  const unary = (): Expr => {
    if (isOp('-')) {
      i += 1;
      return { kind: 'unary', op: '-', operand: unary() };
    }
    let target = postfix();
    while (isOp('|')) {
      i += 1;
      const name = peek();
      if (name?.type !== 'name') throw new JinjaSyntaxError(`expected a filter name after '|' in '${source}'`);
      i += 1;
      const args: Expr[] = [];
      if (isOp('(')) {
        i += 1;
        while (!isOp(')')) {
          args.push(expression());
          if (isOp(',')) i += 1;
          else if (!isOp(')')) throw new JinjaSyntaxError(`expected ',' or ')' in '${source}'`);
        }
        i += 1;
      }
      target = { kind: 'filter', target, name: name.text, args };
    }
    return target;
  };
  const postfix = (): Expr => {
    let target = primary();
    for (;;) {
      if (isOp('.')) {
        i += 1;
        const name = peek();
        if (name?.type !== 'name' && name?.type !== 'number')
          throw new JinjaSyntaxError(`expected a name after '.' in '${source}'`);
        i += 1;
        target = {
          kind: 'attr',
          target,
          key: { kind: 'literal', value: name.type === 'number' ? name.value : name.text },
          display: name.text,
        };
      } else if (isOp('[')) {
        i += 1;
        const key = expression();
        expect(']');
        target = { kind: 'attr', target, key, display: key.kind === 'literal' ? String(key.value) : '?' };
      } else {
        return target;
      }
    }
  };
  const primary = (): Expr => {
    const t = peek();
    if (!t) throw new JinjaSyntaxError(`unexpected end of '${source}'`);
    i += 1;
    if (t.type === 'string' || t.type === 'number') return { kind: 'literal', value: t.value };
    if (t.type === 'name') {
      const literals: Record<string, Value> = {
        true: true,
        True: true,
        false: false,
        False: false,
        none: null,
        None: null,
      };
      if (Object.hasOwn(literals, t.text)) return { kind: 'literal', value: literals[t.text] };
      return { kind: 'name', name: t.text };
    }
    if (t.text === '(') {
      const inner = expression();
      expect(')');
      return inner;
    }
    if (t.text === '[') {
      const items: Expr[] = [];
      while (!isOp(']')) {
        items.push(expression());
        if (isOp(',')) i += 1;
        else if (!isOp(']')) throw new JinjaSyntaxError(`expected ',' or ']' in '${source}'`);
      }
      i += 1;
      return { kind: 'list', items };
    }
    throw new JinjaSyntaxError(`unexpected '${t.text}' in '${source}'`);
  };

  const result = expression();
  if (i < tokens.length) throw new JinjaSyntaxError(`unexpected '${peek()?.text}' in '${source}'`);
  return result;
}

// ---------------------------------------------------------------------------------------------------------
// Evaluation

function lookup(scope: Scope, name: string): Value {
  return scope.has(name) ? scope.get(name) : new Undefined(name);
}

function item(target: Value, key: Value, display: string): Value {
  if (target instanceof Undefined) throw new JinjaUndefinedError(`'${target.name}' is undefined`);
  if (target === null || target === undefined) throw new JinjaUndefinedError(`'None' has no attribute '${display}'`);
  if (Array.isArray(target)) {
    const index = Number(key);
    const value = Number.isInteger(index) ? target.at(index) : undefined;
    return value === undefined ? new Undefined(display) : value;
  }
  if (typeof target === 'object' && Object.hasOwn(target, String(key)))
    return (target as Record<string, Value>)[String(key)];
  return new Undefined(display);
}

function truthy(value: Value): boolean {
  if (value instanceof Undefined || value === null || value === undefined) return false;
  if (Array.isArray(value)) return value.length > 0;
  if (typeof value === 'object') return Object.keys(value).length > 0;
  return Boolean(value);
}

/** How Python's str() prints a value (what Jinja outputs). */
function pyStr(value: Value): string {
  if (value instanceof Undefined) return value.toString();
  if (value === null || value === undefined) return 'None';
  if (value === true) return 'True';
  if (value === false) return 'False';
  if (typeof value === 'string') return value;
  if (typeof value === 'number') return String(value);
  return pyRepr(value);
}

function pyRepr(value: Value): string {
  if (typeof value === 'string') return `'${value.replace(/\\/g, '\\\\').replace(/'/g, "\\'")}'`;
  if (Array.isArray(value)) return `[${value.map(pyRepr).join(', ')}]`;
  if (value && typeof value === 'object' && !(value instanceof Undefined)) {
    return `{${Object.entries(value)
      .map(([k, v]) => `${pyRepr(k)}: ${pyRepr(v)}`)
      .join(', ')}}`;
  }
  return pyStr(value);
}

const FILTERS: Record<string, (value: Value, args: Value[]) => Value> = {
  lower: (v) => pyStr(v).toLowerCase(),
  upper: (v) => pyStr(v).toUpperCase(),
  title: (v) => pyStr(v).replace(/\w\S*/g, (w) => w.charAt(0).toUpperCase() + w.slice(1).toLowerCase()),
  capitalize: (v) => {
    const s = pyStr(v);
    return s.charAt(0).toUpperCase() + s.slice(1).toLowerCase();
  },
  trim: (v) => pyStr(v).trim(),
  replace: (v, [from, to]) => pyStr(v).split(pyStr(from)).join(pyStr(to)),
  default: (v, [fallback = '', boolean = false]) =>
    v instanceof Undefined || (boolean === true && !truthy(v)) ? fallback : v,
  string: (v) => pyStr(v),
  int: (v, [fallback = 0]) => {
    const n = Number.parseInt(pyStr(v), 10);
    return Number.isNaN(n) ? fallback : n;
  },
  join: (v, [separator = '']) => (Array.isArray(v) ? v.map(pyStr).join(pyStr(separator)) : pyStr(v)),
  length: (v) => (Array.isArray(v) ? v.length : v && typeof v === 'object' ? Object.keys(v).length : pyStr(v).length),
  first: (v) => (Array.isArray(v) ? (v[0] ?? new Undefined('first')) : pyStr(v).charAt(0)),
  last: (v) => (Array.isArray(v) ? (v.at(-1) ?? new Undefined('last')) : pyStr(v).slice(-1)),
  list: (v) =>
    Array.isArray(v) ? v : typeof v === 'string' ? [...v] : v && typeof v === 'object' ? Object.keys(v) : [],
  tojson: (v) => JSON.stringify(v instanceof Undefined ? null : v),
};
FILTERS.d = FILTERS.default as (value: Value, args: Value[]) => Value;
FILTERS.count = FILTERS.length as (value: Value, args: Value[]) => Value;

const TESTS: Record<string, (value: Value) => boolean> = {
  defined: (v) => !(v instanceof Undefined),
  undefined: (v) => v instanceof Undefined,
  none: (v) => v === null,
  string: (v) => typeof v === 'string',
  number: (v) => typeof v === 'number',
};

function evaluate(expr: Expr, scope: Scope): Value {
  switch (expr.kind) {
    case 'literal':
      return expr.value;
    case 'name':
      return lookup(scope, expr.name);
    case 'list':
      return expr.items.map((e) => evaluate(e, scope));
    case 'attr':
      return item(evaluate(expr.target, scope), evaluate(expr.key, scope), expr.display);
    case 'filter': {
      const filter = FILTERS[expr.name];
      if (!filter) throw new JinjaSyntaxError(`no filter named '${expr.name}'`);
      return filter(
        evaluate(expr.target, scope),
        expr.args.map((a) => evaluate(a, scope)),
      );
    }
    case 'test': {
      const test = TESTS[expr.name];
      if (!test) throw new JinjaSyntaxError(`no test named '${expr.name}'`);
      return test(evaluate(expr.target, scope)) !== expr.negate;
    }
    case 'unary': {
      const v = evaluate(expr.operand, scope);
      return expr.op === 'not' ? !truthy(v) : -Number(v);
    }
    case 'cond':
      return truthy(evaluate(expr.test, scope))
        ? evaluate(expr.then, scope)
        : expr.otherwise
          ? evaluate(expr.otherwise, scope)
          : '';
    case 'binary': {
      if (expr.op === 'and') {
        const left = evaluate(expr.left, scope);
        return truthy(left) ? evaluate(expr.right, scope) : left;
      }
      if (expr.op === 'or') {
        const left = evaluate(expr.left, scope);
        return truthy(left) ? left : evaluate(expr.right, scope);
      }
      const left = evaluate(expr.left, scope);
      const right = evaluate(expr.right, scope);
      switch (expr.op) {
        case '~':
          return pyStr(left) + pyStr(right);
        case '+':
          return typeof left === 'number' && typeof right === 'number' ? left + right : pyStr(left) + pyStr(right);
        case '-':
          return Number(left) - Number(right);
        case '==':
          return JSON.stringify(left) === JSON.stringify(right);
        case '!=':
          return JSON.stringify(left) !== JSON.stringify(right);
        case '<':
          return (left as number) < (right as number);
        case '>':
          return (left as number) > (right as number);
        case '<=':
          return (left as number) <= (right as number);
        case '>=':
          return (left as number) >= (right as number);
        case 'in':
          if (Array.isArray(right)) return right.some((r) => JSON.stringify(r) === JSON.stringify(left));
          if (typeof right === 'string') return right.includes(pyStr(left));
          if (right && typeof right === 'object') return Object.hasOwn(right, pyStr(left));
          return false;
        default:
          throw new JinjaSyntaxError(`unsupported operator '${expr.op}'`);
      }
    }
  }
}

function execute(nodes: Node[], scope: Scope, out: string[]): void {
  for (const node of nodes) {
    switch (node.kind) {
      case 'text':
        out.push(node.text);
        break;
      case 'output':
        out.push(pyStr(evaluate(node.expr, scope)));
        break;
      case 'set':
        scope.set(node.name, evaluate(node.expr, scope));
        break;
      case 'if': {
        const branch = node.branches.find((b) => truthy(evaluate(b.test, scope)));
        execute(branch ? branch.body : node.otherwise, scope, out);
        break;
      }
      case 'for': {
        const iterable = evaluate(node.iterable, scope);
        const items = Array.isArray(iterable)
          ? iterable
          : iterable && typeof iterable === 'object' && !(iterable instanceof Undefined)
            ? Object.keys(iterable)
            : [];
        if (items.length === 0) execute(node.otherwise, scope, out);
        for (const element of items) {
          const inner = new Map(scope);
          if (node.target.length === 1) inner.set(node.target[0] ?? '', element);
          else
            node.target.forEach((name, index) =>
              inner.set(name, Array.isArray(element) ? element[index] : new Undefined(name)),
            );
          execute(node.body, inner, out);
        }
        break;
      }
    }
  }
}

/**
 * Renders a Jinja template with `variables` as cloud-init does. Throws JinjaSyntaxError for a template it
 * cannot parse and JinjaUndefinedError for an attribute of an undefined value.
 */
export function renderJinja(template: string, variables: Record<string, unknown>): string {
  // Jinja drops one trailing newline of the template (keep_trailing_newline off); cloud-init puts it back.
  const trailing = template.endsWith('\n');
  const nodes = build(lex(trailing ? template.replace(/\r?\n$/, '') : template));
  const out: string[] = [];
  execute(nodes, new Map(Object.entries(variables)), out);
  return out.join('') + (trailing ? '\n' : '');
}

/** The variables found printed as missing in a render (cloud-init logs them as a warning). */
export function missingVariables(rendered: string): string[] {
  return [...rendered.matchAll(new RegExp(`${MISSING_JINJA_PREFIX}([\\w-]+)`, 'g'))].map((m) => m[1] ?? '');
}
