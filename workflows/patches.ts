/**
 * Asking for a patch the way workflows/host-patches.ts describes: a run takes a patch it was handed in its input
 * without recording a marker and a TemporalChangeVersion upsert; any other it asks for with `patched()`.
 */
import { patched } from '@temporalio/workflow';

/** `patch(id)` for a run handed `handed` (its input's `patches`; absent in histories from before). */
export function patchesHandedOn<P extends string>(handed: readonly string[] | undefined): (id: P) => boolean {
  const known = new Set(handed ?? []);
  return (id) => known.has(id) || patched(id);
}
