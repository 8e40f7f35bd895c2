// Loading mockup trees: both layouts, canonical URIs, case-insensitive lookup, the action index, and that a
// loaded tree is frozen and shared (loaded once per folder).
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { loadMockupTree, normalizePath } from './tree.ts';

const scratch = mkdtempSync(join(tmpdir(), 'tempered-tree-'));
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

function write(root: string, relative: string, body: unknown): void {
  mkdirSync(join(root, relative), { recursive: true });
  writeFileSync(join(root, relative, 'index.json'), JSON.stringify(body));
}

function tree(layout: 'long' | 'short'): string {
  const root = join(scratch, layout);
  const prefix = layout === 'long' ? 'redfish/v1' : '';
  write(root, prefix, { '@odata.id': '/redfish/v1', Systems: { '@odata.id': '/redfish/v1/Systems' } });
  write(root, join(prefix, 'Systems'), { '@odata.id': '/redfish/v1/Systems', Members: [{ '@odata.id': '/redfish/v1/Systems/Node1' }] });
  write(root, join(prefix, 'Systems', 'Node1'), {
    '@odata.id': '/redfish/v1/Systems/Node1',
    Actions: {
      '#ComputerSystem.Reset': { target: '/redfish/v1/Systems/Node1/Actions/ComputerSystem.Reset/' },
      Oem: { '#Acme.Blink': { target: '/redfish/v1/Systems/Node1/Actions/Oem/Acme.Blink' } },
    },
    Oem: { Acme: { Actions: { '#AcmeMedia.Mount': { target: '/redfish/v1/Systems/Node1/Oem/Acme/Mount' } } } },
  });
  mkdirSync(join(root, prefix, '$metadata'), { recursive: true });
  writeFileSync(join(root, prefix, '$metadata', 'index.xml'), '<edmx:Edmx/>');
  return root;
}

describe('loadMockupTree', () => {
  it.each([['long'], ['short']] as const)('reads the %s form into canonical /redfish/v1 URIs', (layout) => {
    const loaded = loadMockupTree(tree(layout));
    expect(loaded.layout).toBe(layout);
    expect([...loaded.resources.keys()].sort()).toEqual(['/redfish/v1', '/redfish/v1/Systems', '/redfish/v1/Systems/Node1']);
    expect(loaded.documents.get('/redfish/v1/$metadata')?.contentType).toBe('application/xml');
    expect(loaded.bytes).toBeGreaterThan(100);
  });

  it('indexes standard, Actions.Oem and Oem.<vendor>.Actions actions by target', () => {
    const loaded = loadMockupTree(tree('long'));
    expect(loaded.action('/redfish/v1/Systems/Node1/Actions/ComputerSystem.Reset', false)).toMatchObject({ resource: '/redfish/v1/Systems/Node1', name: 'ComputerSystem.Reset' });
    expect(loaded.action('/redfish/v1/Systems/Node1/Actions/Oem/Acme.Blink', false)?.name).toBe('Acme.Blink');
    expect(loaded.action('/redfish/v1/Systems/Node1/Oem/Acme/Mount', false)?.name).toBe('AcmeMedia.Mount');
    expect(loaded.action('/redfish/v1/systems/node1/actions/computersystem.reset', false)).toBeUndefined();
    expect(loaded.action('/redfish/v1/systems/node1/actions/computersystem.reset', true)?.name).toBe('ComputerSystem.Reset');
  });

  it('resolves trailing slashes always and case only when asked', () => {
    const loaded = loadMockupTree(tree('short'));
    expect(loaded.resolve('/redfish/v1/Systems/Node1/', false)).toBe('/redfish/v1/Systems/Node1');
    expect(loaded.resolve('/redfish/v1/', false)).toBe('/redfish/v1');
    expect(loaded.resolve('/redfish/v1/systems/NODE1', false)).toBeUndefined();
    expect(loaded.resolve('/redfish/v1/systems/NODE1', true)).toBe('/redfish/v1/Systems/Node1');
    expect(loaded.resolve('/redfish/v1/Nope', true)).toBeUndefined();
  });

  it('loads a folder once and freezes what it shares', () => {
    const folder = tree('long');
    const first = loadMockupTree(folder);
    expect(loadMockupTree(folder)).toBe(first);
    const system = first.resources.get('/redfish/v1/Systems/Node1') as Record<string, unknown>;
    expect(() => {
      system['PowerState'] = 'On';
    }).toThrow(TypeError);
    expect(Object.isFrozen(system['Actions'])).toBe(true);
  });

  it('refuses a folder that is not a mockup, and invalid JSON', () => {
    expect(() => loadMockupTree(join(scratch, 'nothing-here'))).toThrow(/not a Redfish mockup/);
    const broken = join(scratch, 'broken');
    mkdirSync(join(broken, 'Systems'), { recursive: true });
    writeFileSync(join(broken, 'index.json'), '{}');
    writeFileSync(join(broken, 'Systems', 'index.json'), '{oops');
    expect(() => loadMockupTree(broken)).toThrow(/not valid JSON/);
  });
});

describe('normalizePath', () => {
  it.each([
    ['/redfish/v1/', '/redfish/v1'],
    ['/redfish/v1/Systems/1?$expand=.', '/redfish/v1/Systems/1'],
    ['//redfish//v1/Chassis/', '/redfish/v1/Chassis'],
    ['/redfish/v1/Managers/1#/Oem', '/redfish/v1/Managers/1'],
  ])('%s -> %s', (raw, expected) => {
    expect(normalizePath(raw)).toBe(expected);
  });
});
