/**
 * The BMC driver boundary, as the activities use it: a pool of per-BMC drivers (Redfish or IPMI, chosen by the
 * Metal3 address scheme), the driver interface, the typed errors, and the one Temporal adapter for them.
 */
export type * from './driver.ts';
export { BmcError, isBmcError, type Disposition } from './errors.ts';
export { createBmcDriver, type BmcDriverOptions } from './factory.ts';
export { toApplicationFailure, withBmcFailures } from './failure.ts';
export { BmcConnectionPool, type BmcPoolOptions } from './pool.ts';
export { DEFAULT_REDFISH_TIMINGS, type RedfishTimings } from './redfish/context.ts';
export { DEFAULT_IPMI_TIMINGS, type IpmiTimings } from './ipmi.ts';
