/** Search-attribute bookkeeping: only changes are upserted, and from v2 one upsert per decision. */
import { describe, expect, it } from 'vitest';
import { hostIn } from '../test/fixtures/hosts.ts';
import { SearchAttributeBook } from './search-attributes.ts';

describe('SearchAttributeBook', () => {
  it('shows the state once, then only what changed', () => {
    const book = new SearchAttributeBook(true);
    expect(book.state(hostIn(''))).toEqual([
      { field: 'provisioningState', value: 'none' },
      { field: 'operationalStatus', value: 'OK' },
      { field: 'errorType', value: 'none' },
    ]);
    expect(book.state(hostIn(''))).toEqual([]);
    expect(book.state(hostIn('registering'))).toEqual([{ field: 'provisioningState', value: 'registering' }]);
  });

  it('v2: an operation shows at once with the state; its end waits for the next state, in the same upsert', () => {
    const book = new SearchAttributeBook(true);
    book.state(hostIn('registering'));
    expect(book.operation('register', hostIn('registering'))).toEqual([{ field: 'operation', value: 'register' }]);
    expect(book.operation('', hostIn('registering'))).toEqual([]);
    expect(book.state(hostIn('inspecting'))).toEqual([
      { field: 'provisioningState', value: 'inspecting' },
      { field: 'operation', value: '' },
    ]);
  });

  it('before v2: each operation change is an upsert of its own', () => {
    const book = new SearchAttributeBook(false);
    book.state(hostIn('registering'));
    expect(book.operation('register', hostIn('registering'))).toEqual([{ field: 'operation', value: 'register' }]);
    expect(book.operation('register', hostIn('registering'))).toEqual([]);
    expect(book.operation('', hostIn('registering'))).toEqual([{ field: 'operation', value: '' }]);
    expect(book.state(hostIn('inspecting'))).toEqual([{ field: 'provisioningState', value: 'inspecting' }]);
  });
});
