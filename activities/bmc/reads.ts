/**
 * Reads shared within one activity. An activity made of several BMC calls (a virtual-media boot, a firmware
 * reading) otherwise GETs the same resource again at the start of each call, moments after the previous call read
 * it: the power change's own look at the system right after the boot override's read-back of it, the system and
 * manager a firmware inventory needs right after identify read them.
 *
 * Inside `withSharedReads`, every successful GET is kept by BMC endpoint and path, and a read that asks for it
 * (`shared`) is answered from there. Any other request to a BMC (POST, PATCH, DELETE) forgets everything kept,
 * before it is sent and again after. So a shared read returns what the BMC said after the last change we made,
 * never a state from before it. Only the first look of an operation asks for a shared read; polls, read-backs
 * and the re-reads of a retry never do, since they wait for the BMC to change. Outside a scope nothing is kept.
 */
import { AsyncLocalStorage } from 'node:async_hooks';

const scope = new AsyncLocalStorage<Map<string, unknown>>();

/** Runs `fn` with reads shared among its BMC calls (a scope already open is kept: one per activity). */
export function withSharedReads<T>(fn: () => Promise<T>): Promise<T> {
  return scope.getStore() ? fn() : scope.run(new Map(), fn);
}

/** The reads kept in the current scope, if one is open. */
export function sharedReads(): Map<string, unknown> | undefined {
  return scope.getStore();
}
