/**
 * docs/rbac.md's hand-written "Grants" column against deploy/base/rbac/*.yaml: every verb on every resource an
 * account is granted is in the table, and nothing the table lists is missing from the rules, so the "Why" next to
 * it explains the real grants. (The `kubectl auth can-i --list` blocks further down are checked against a real
 * apiserver by deploy/rbac.int.test.ts.)
 */
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { grantedPermissions, parseDocs } from './manifests.ts';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const RBAC_DIR = join(ROOT, 'deploy', 'base', 'rbac');
const ACCOUNTS = ['tempered-worker', 'tempered-bridge', 'tempered-agent-api'];

/** Kinds as the table spells them (plural, or singular for one named object) to API resource names. */
function resourceOf(kind: string): string {
  const [name = '', sub] = kind.split('/');
  const lower = name.toLowerCase();
  const plural = lower.endsWith('s') || lower === 'hardwaredata' ? lower : `${lower}s`;
  return sub ? `${plural}/${sub}` : plural;
}

/**
 * `verb resource` pairs per account from the table: each Grants cell is one or more "`verbs` Kind, Kind" groups;
 * a backticked word right after a kind (a resource name, as "Lease `tempered-bridge`") is not a verb group.
 */
function documentedGrants(markdown: string): Map<string, string[]> {
  const out = new Map<string, Set<string>>();
  let account = '';
  for (const line of markdown.split('\n')) {
    const cells = line.split('|').map((c) => c.trim());
    if (cells.length < 6 || cells[1] === 'Account' || cells[1]?.startsWith('---')) continue;
    // An account's own row, or a row of what a component adds to it ("`tempered-worker` with
    // `deploy/components/cluster-api`"), kept apart as `tempered-worker+cluster-api`.
    const named = /^`([a-z-]+)`(?: with `deploy\/components\/([a-z-]+)`)?$/.exec(cells[1] ?? '');
    if (named?.[1]) account = named[2] ? `${named[1]}+${named[2]}` : named[1];
    if (!account) continue;
    const grants = out.get(account) ?? new Set<string>();
    for (const group of (cells[3] ?? '').matchAll(/`([a-z ]+)`\s+([A-Za-z0-9/]+(?:,\s*[A-Za-z0-9/]+)*)/g)) {
      const verbs = (group[1] ?? '').split(' ');
      const kinds = (group[2] ?? '').split(/,\s*/);
      for (const verb of verbs) for (const kind of kinds) grants.add(`${verb} ${resourceOf(kind)}`);
    }
    out.set(account, grants);
  }
  return new Map([...out].map(([k, v]) => [k, [...v].sort()]));
}

describe('docs/rbac.md', () => {
  const table = documentedGrants(readFileSync(join(ROOT, 'docs', 'rbac.md'), 'utf8'));
  const rules = parseDocs(
    readdirSync(RBAC_DIR)
      .filter((f) => f.endsWith('.yaml') && f !== 'kustomization.yaml')
      .map((f) => readFileSync(join(RBAC_DIR, f), 'utf8'))
      .join('\n---\n'),
  );

  it.each(ACCOUNTS)('lists exactly what %s is granted', (account) => {
    // grantedPermissions says `verb group/resource`; the table names kinds without their group.
    const granted = grantedPermissions(rules, 'tempered-system', account).map((p) => p.replace(/ [^/]+\//, ' '));
    expect(table.get(account)).toEqual([...new Set(granted)].sort());
  });

  it('lists exactly what deploy/components/cluster-api adds to tempered-worker', () => {
    const component = parseDocs(readFileSync(join(ROOT, 'deploy', 'components', 'cluster-api', 'rbac.yaml'), 'utf8'));
    const granted = grantedPermissions(component, 'tempered-system', 'tempered-worker').map((p) => p.replace(/ [^/]+\//, ' '));
    expect(granted.length).toBeGreaterThan(0);
    expect(table.get('tempered-worker+cluster-api')).toEqual([...new Set(granted)].sort());
  });

  it('self-test: a grant the table leaves out is noticed', () => {
    const text = readFileSync(join(ROOT, 'docs', 'rbac.md'), 'utf8');
    const without = documentedGrants(text.replace(/^\| \| \| `list watch` HostUpdatePolicies .*\n/m, ''));
    expect(without.get('tempered-bridge')).not.toContain('list hostupdatepolicies');
    expect(table.get('tempered-bridge')).toContain('list hostupdatepolicies');
  });
});
