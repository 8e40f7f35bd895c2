/**
 * The worker's own Prometheus metrics, beside the Temporal SDK's (Core's exporter, appended to the same
 * `/metrics` by workers/process.ts): every BMC activity attempt's duration and every BMC error, by call,
 * protocol, vendor and error code. BMO has no metric for these (Ironic keeps them to itself), so they are
 * `tempered_*`. Labels come from closed sets: the activity names, two protocols, a short list of vendors
 * (anything else is `other`), the error codes of domain/errors.ts; never a host or an address.
 */
import { Counter, Histogram, type Registry } from 'prom-client';
import type { BmcCallObservation } from '../activities/index.ts';

/** The vendors a label may name, by what their BMCs put in Redfish `Vendor` (lower-cased, first match). */
const VENDORS: [RegExp, string][] = [
  [/dell/, 'dell'],
  [/hpe|hewlett/, 'hpe'],
  [/lenovo/, 'lenovo'],
  [/supermicro/, 'supermicro'],
  [/huawei/, 'huawei'],
  [/fujitsu/, 'fujitsu'],
  [/cisco/, 'cisco'],
  [/\bami\b|american megatrends/, 'ami'],
  [/intel/, 'intel'],
  [/dmtf|contoso/, 'dmtf'],
  [/sushy|openstack/, 'sushy-tools'],
];

/** The `vendor` label of a BMC: a known vendor's short name, `other`, or `unknown` when it never said. */
export function vendorLabel(vendor: string | undefined): string {
  if (!vendor) return 'unknown';
  const lower = vendor.toLowerCase();
  return VENDORS.find(([pattern]) => pattern.test(lower))?.[1] ?? 'other';
}

/** Registers the BMC call metrics and returns the observer the activities report to (activities/index.ts). */
export function bmcCallMetrics(registry: Registry): (call: BmcCallObservation) => void {
  const duration = new Histogram({
    name: 'tempered_bmc_call_duration_seconds',
    help: 'BMC activity attempts (each retry counts) by call, protocol, vendor and result (ok or error)',
    labelNames: ['call', 'protocol', 'vendor', 'result'],
    buckets: [0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600],
    registers: [registry],
  });
  const errors = new Counter({
    name: 'tempered_bmc_errors_total',
    help: 'Failed BMC activity attempts by call, protocol, vendor and error code (domain/errors.ts)',
    labelNames: ['call', 'protocol', 'vendor', 'code'],
    registers: [registry],
  });
  return ({ call, protocol, vendor, seconds, code }) => {
    const labels = { call, protocol, vendor: vendorLabel(vendor) };
    duration.observe({ ...labels, result: code ? 'error' : 'ok' }, seconds);
    if (code) errors.inc({ ...labels, code });
  };
}
