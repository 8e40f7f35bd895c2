/**
 * Just enough PromQL and Prometheus text format to check that a dashboard or an alert queries metrics that
 * exist: the metric names an expression selects, the labels it groups by and matches on (names, not values),
 * and the families (with their samples' label names) a `/metrics` page serves. Not a PromQL parser:
 * expressions are written plainly in deploy/components/prometheus/, and promql.test.ts holds the shapes they use.
 */

/** Words that look like metric names in PromQL but are not. */
const KEYWORDS = new Set([
  'by',
  'without',
  'on',
  'ignoring',
  'group_left',
  'group_right',
  'bool',
  'and',
  'or',
  'unless',
  'offset',
  'inf',
  'nan',
]);

/** Removes string literals, label matchers, ranges and grouping clauses: what is left names metrics and functions. */
function skeleton(expr: string): string {
  return expr
    .replace(/"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*'|`[^`]*`/g, '""')
    .replace(/\{[^}]*\}/g, ' ')
    .replace(/\[[^\]]*\]/g, ' ')
    .replace(/\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)/g, ' ');
}

/** The metric names an expression selects (as written: `x_bucket` for a histogram `x`). */
export function metricsInExpr(expr: string): string[] {
  const names = new Set<string>();
  const bare = skeleton(expr);
  for (const match of bare.matchAll(/[A-Za-z_:][A-Za-z0-9_:]*/g)) {
    const name = match[0];
    const after = bare.slice((match.index ?? 0) + name.length).trimStart();
    if (after.startsWith('(')) continue; // a function or aggregation
    if (KEYWORDS.has(name.toLowerCase())) continue;
    names.add(name);
  }
  return [...names];
}

/** The labels an expression groups by (`sum by (a, b)`), for checking they exist on its metrics. */
export function groupingLabels(expr: string): string[] {
  const labels = new Set<string>();
  for (const match of expr.matchAll(/\bby\s*\(([^)]*)\)/g)) {
    for (const label of (match[1] ?? '').split(',').map((l) => l.trim())) if (label) labels.add(label);
  }
  return [...labels];
}

/** A selector's label matchers, by the metric it selects (`x{a="1", b=~"2|3"}` is `x` with `a` and `b`). */
export interface SelectorMatchers {
  metric: string;
  /** Label names matched; a `label=""` matcher is left out (it selects series without the label). */
  labels: string[];
}

/** The label names each selector of an expression matches on, for checking they exist on its metric. */
export function selectorMatchers(expr: string): SelectorMatchers[] {
  const out: SelectorMatchers[] = [];
  // A metric name (or nothing, for `{__name__=...}`), then braces whose quoted values may hold any character.
  const selector = /([A-Za-z_:][A-Za-z0-9_:]*)?\s*\{((?:[^}"'`]|"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*'|`[^`]*`)*)\}/g;
  const matcher = /([A-Za-z_][A-Za-z0-9_]*)\s*(=~|!~|!=|=)\s*("(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*'|`[^`]*`)/g;
  for (const found of expr.matchAll(selector)) {
    const metric = found[1] ?? '';
    if (metric === '' || KEYWORDS.has(metric.toLowerCase())) continue;
    const labels = new Set<string>();
    for (const m of (found[2] ?? '').matchAll(matcher)) {
      const [, label = '', op, value = ''] = m;
      if (label === '__name__' || (op === '=' && value.length === 2)) continue;
      labels.add(label);
    }
    out.push({ metric, labels: [...labels] });
  }
  return out;
}

/** A family on a `/metrics` page: its type and the label names of each sample. */
export interface MetricFamily {
  type: string;
  samples: { name: string; labels: Record<string, string>; value: number }[];
}

/** Parses Prometheus text exposition (0.0.4) into families by name. */
export function parseExposition(text: string): Map<string, MetricFamily> {
  const families = new Map<string, MetricFamily>();
  const family = (name: string) => {
    let f = families.get(name);
    if (!f) families.set(name, (f = { type: 'untyped', samples: [] }));
    return f;
  };
  for (const line of text.split('\n')) {
    const type = /^# TYPE (\S+) (\S+)/.exec(line);
    if (type) {
      family(type[1] as string).type = type[2] as string;
      continue;
    }
    if (line.startsWith('#') || line.trim() === '') continue;
    const sample = /^([A-Za-z_:][A-Za-z0-9_:]*)(\{(.*)\})?\s+(\S+)/.exec(line);
    if (!sample) continue;
    const name = sample[1] as string;
    const labels: Record<string, string> = {};
    for (const m of (sample[3] ?? '').matchAll(/([A-Za-z_][A-Za-z0-9_]*)="((?:[^"\\]|\\.)*)"/g))
      labels[m[1] as string] = m[2] as string;
    family(familyOf(name, families)).samples.push({ name, labels, value: Number(sample[4]) });
  }
  return families;
}

/** The family a sample or selected name belongs to (`x_bucket`, `x_sum`, `x_count` of a histogram `x`). */
export function familyOf(name: string, families: Map<string, MetricFamily>): string {
  if (families.has(name)) return name;
  for (const suffix of ['_bucket', '_sum', '_count', '_total', '_created']) {
    if (!name.endsWith(suffix)) continue;
    const base = name.slice(0, -suffix.length);
    const f = families.get(base);
    if (f && (suffix !== '_bucket' || f.type === 'histogram')) return base;
  }
  return name;
}

/**
 * What an expression needs that the scraped families lack: metric names, grouping labels on them, and the label
 * names its selectors match on, each on the metric it selects.
 */
export function missingFor(expr: string, families: Map<string, MetricFamily>): string[] {
  const problems: string[] = [];
  const selected = metricsInExpr(expr);
  if (selected.length === 0) problems.push(`selects no metric: ${expr}`);
  const present = selected.filter((name) => {
    const f = families.get(familyOf(name, families));
    if (!f) problems.push(`no metric ${name}`);
    return f !== undefined;
  });
  // Labels are checked where the metrics have samples (a family may exist before anything happened).
  const sampled = present.flatMap((name) => families.get(familyOf(name, families))?.samples ?? []);
  if (sampled.length > 0) {
    for (const label of groupingLabels(expr)) {
      if (label === 'le') continue;
      if (!sampled.some((s) => label in s.labels)) problems.push(`no label ${label} on ${present.join(', ')}`);
    }
  }
  for (const { metric, labels } of selectorMatchers(expr)) {
    const samples = families.get(familyOf(metric, families))?.samples ?? [];
    // A selected name with its suffix (`x_bucket`) has only its own samples' labels (`le` is on buckets only).
    const own = samples.filter((s) => s.name === metric);
    const served = own.length > 0 ? own : samples;
    if (served.length === 0) continue;
    for (const label of labels) {
      if (!served.some((s) => label in s.labels)) problems.push(`no label ${label} on ${metric} (matched in {...})`);
    }
  }
  return problems;
}
