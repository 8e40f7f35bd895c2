/**
 * Which of the host workflow's search attributes (ProvisioningState, OperationalStatus, ErrorType,
 * Operation) to upsert, and when. Each upsert is a command the server indexes, so only changes are sent, and
 * (with `coalesce`, patch v2) one upsert per decision: the end of an operation is shown with the next state.
 * Pure bookkeeping: the workflow turns the updates into `upsertSearchAttributes` calls.
 */
import type { HostState } from '../domain/host-model.ts';

export type SearchAttributeField = 'provisioningState' | 'operationalStatus' | 'errorType' | 'operation';

export interface SearchAttributeUpdate {
  field: SearchAttributeField;
  value: string;
}

export class SearchAttributeBook {
  readonly #shown: Record<SearchAttributeField, string> = { provisioningState: '', operationalStatus: '', errorType: '', operation: '' };
  #pendingOperation: string | undefined;

  readonly #coalesce: boolean;

  constructor(coalesce: boolean) {
    this.#coalesce = coalesce;
  }

  /** An operation starts (or, with `''`, ends): the updates to send now (possibly none). */
  operation(operation: string, state: HostState): SearchAttributeUpdate[] {
    if (this.#coalesce) {
      // Starting an operation shows at once; its end is shown with the next state, in the same upsert.
      this.#pendingOperation = operation;
      return operation === '' ? [] : this.state(state);
    }
    if (this.#shown.operation === operation) return [];
    this.#shown.operation = operation;
    return [{ field: 'operation', value: operation }];
  }

  /** The updates that show `state` (and a pending operation change), sent as one upsert. */
  state(state: HostState): SearchAttributeUpdate[] {
    const next = {
      provisioningState: state.provisioningState || 'none',
      operationalStatus: state.operationalStatus || 'none',
      errorType: state.errorType || 'none',
    };
    const updates: SearchAttributeUpdate[] = [];
    for (const field of ['provisioningState', 'operationalStatus', 'errorType'] as const) {
      if (next[field] !== this.#shown[field]) updates.push({ field, value: next[field] });
    }
    const pending = this.#pendingOperation;
    if (this.#coalesce && pending !== undefined && pending !== this.#shown.operation) {
      updates.push({ field: 'operation', value: pending });
      this.#shown.operation = pending;
    }
    this.#pendingOperation = undefined;
    if (updates.length > 0) Object.assign(this.#shown, next);
    return updates;
  }
}
