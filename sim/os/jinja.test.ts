/**
 * The Jinja renderer against the forms cloud-init user data uses: CABPK's and CAPM3's templates
 * (`{{ ds.meta_data.uuid }}`, `{{ ds.meta_data['local_hostname'] }}`, `{{ v1.local_hostname }}`,
 * `{{ local_hostname }}`), filters, blocks, whitespace control, and cloud-init's handling of undefined values.
 */
import { describe, expect, it } from 'vitest';
import { JinjaSyntaxError, JinjaUndefinedError, MISSING_JINJA_PREFIX, missingVariables, renderJinja } from './jinja.ts';

const vars = {
  ds: {
    meta_data: {
      uuid: '3f1c-uid',
      name: 'worker-0',
      local_hostname: 'worker-0',
      'local-hostname': 'worker-0',
      tags: ['a', 'b'],
    },
  },
  v1: { local_hostname: 'worker-0', instance_id: '3f1c-uid' },
  local_hostname: 'worker-0',
};

describe('renderJinja', () => {
  it.each([
    [
      'dotted metadata',
      "node-labels: 'metal3.io/uuid={{ ds.meta_data.uuid }}'",
      "node-labels: 'metal3.io/uuid=3f1c-uid'",
    ],
    [
      'subscript with quotes',
      "hostnamectl set-hostname {{ ds.meta_data['local_hostname'] }}",
      'hostnamectl set-hostname worker-0',
    ],
    ['double-quoted subscript of a hyphenated key', '{{ ds.meta_data["local-hostname"] }}', 'worker-0'],
    ['v1 key', 'name: {{ v1.local_hostname }}', 'name: worker-0'],
    ['v1 key hoisted to the top level', "name: '{{ local_hostname }}'", "name: 'worker-0'"],
    ['no spaces inside the braces', '{{ds.meta_data.name}}', 'worker-0'],
    ['filter', '{{ ds.meta_data.name | upper }}', 'WORKER-0'],
    ['filter chain with arguments', "{{ ds.meta_data.name | replace('-', '_') | upper }}", 'WORKER_0'],
    ['default of an undefined key', "{{ ds.meta_data.zone | default('zone-a') }}", 'zone-a'],
    ['default short form', "{{ ds.meta_data.zone | d('z') }}", 'z'],
    ['concatenation', "{{ ds.meta_data.name ~ '.example.com' }}", 'worker-0.example.com'],
    ['list index', '{{ ds.meta_data.tags[1] }}', 'b'],
    ['join', "{{ ds.meta_data.tags | join(',') }}", 'a,b'],
    ['if/else', '{% if ds.meta_data.name == "worker-0" %}yes{% else %}no{% endif %}', 'yes'],
    ['elif', '{% if false %}1{% elif ds.meta_data.uuid is defined %}2{% else %}3{% endif %}', '2'],
    ['is not defined', '{% if ds.meta_data.nope is not defined %}missing{% endif %}', 'missing'],
    // trim_blocks eats the newline after each tag; Jinja drops the template's last newline and cloud-init adds one.
    ['for with trim_blocks', '{% for t in ds.meta_data.tags %}\n- {{ t }}\n{% endfor %}\n', '- a\n- b\n\n'],
    ['set', '{% set n = ds.meta_data.name %}{{ n }}', 'worker-0'],
    ['comment', 'a{# a comment #}b', 'ab'],
    ['whitespace control', 'a   {{- ds.meta_data.name -}}   b', 'aworker-0b'],
    ['conditional expression', "{{ 'x' if ds.meta_data.uuid else 'y' }}", 'x'],
    ['python-style booleans and none', '{{ true }} {{ none }}', 'True None'],
    ['in', "{% if 'a' in ds.meta_data.tags %}in{% endif %}", 'in'],
    ['a trailing newline is kept', '{{ ds.meta_data.name }}\n', 'worker-0\n'],
    ['no trailing newline stays none', '{{ ds.meta_data.name }}', 'worker-0'],
  ])('%s', (_name, template, expected) => {
    expect(renderJinja(template, vars)).toBe(expected);
  });

  it("prints an undefined variable with cloud-init's marker instead of failing", () => {
    const out = renderJinja('name: {{ ds.meta_data.hostname }} and {{ nowhere }}', vars);
    expect(out).toBe(`name: ${MISSING_JINJA_PREFIX}hostname and ${MISSING_JINJA_PREFIX}nowhere`);
    expect(missingVariables(out)).toEqual(['hostname', 'nowhere']);
  });

  it('fails when an attribute of an undefined value is looked up (Jinja UndefinedError)', () => {
    expect(() => renderJinja('{{ ds.nothing.uuid }}', vars)).toThrow(JinjaUndefinedError);
  });

  it.each([
    ['an unclosed expression', '{{ ds.meta_data.uuid '],
    ['an unknown filter', '{{ ds.meta_data.uuid | sha512 }}'],
    ['an unknown tag', '{% macro x() %}{% endmacro %}'],
    ['a block without its end', '{% if true %}x'],
    ['garbage inside an expression', '{{ ds.meta_data.uuid ) }}'],
  ])('rejects %s as a syntax error', (_name, template) => {
    expect(() => renderJinja(template, vars)).toThrow(JinjaSyntaxError);
  });

  it('leaves text without Jinja alone, braces in YAML included', () => {
    const text = 'write_files:\n- path: /x\n  content: |\n    {"a": {"b": 1}}\n';
    expect(renderJinja(text, vars)).toBe(text);
  });
});
