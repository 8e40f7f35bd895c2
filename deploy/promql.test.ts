/**
 * The metric-name check of dashboards and alerts (promql.ts), on the shapes of expression they use, and its
 * self-tests: a misspelled metric, a grouping label and a matcher label the metric lacks are reported.
 */
import { describe, expect, it } from 'vitest';
import { groupingLabels, metricsInExpr, missingFor, parseExposition, selectorMatchers } from './promql.ts';

const page = [
  '# HELP workqueue_depth Current depth of workqueue',
  '# TYPE workqueue_depth gauge',
  'workqueue_depth{name="baremetalhost",controller="baremetalhost"} 0',
  '# TYPE tempered_status_lag_seconds histogram',
  'tempered_status_lag_seconds_bucket{le="0.1"} 3',
  'tempered_status_lag_seconds_bucket{le="+Inf"} 4',
  'tempered_status_lag_seconds_sum 0.5',
  'tempered_status_lag_seconds_count 4',
  '# TYPE metal3_host_error_total counter',
  'metal3_host_error_total{error_type="RegistrationError"} 1',
  '# TYPE leader_election_master_status gauge',
  'leader_election_master_status{name="tempered-bridge"} 1',
  '# TYPE temporal_request counter',
  'temporal_request{namespace="default",operation="PollWorkflowTaskQueue",service_name="temporal-core-sdk"} 7',
  '# TYPE rest_client_requests_total counter',
].join('\n');
const families = parseExposition(page);

describe('metricsInExpr', () => {
  it.each([
    ['sum by (provisioning_state) (tempered_hosts)', ['tempered_hosts']],
    [
      'histogram_quantile(0.99, sum by (le) (rate(tempered_status_lag_seconds_bucket[10m]))) > 5',
      ['tempered_status_lag_seconds_bucket'],
    ],
    ['max by (provisioning_state) (x{provisioning_state=~"registering|powering off before delete"}) > 3600', ['x']],
    [
      'max(leader_election_master_status{name="a"}) < 1 or absent(leader_election_master_status{name="a"})',
      ['leader_election_master_status'],
    ],
    ['sum(rate(a[10m])) / sum(rate(b_count[10m])) > 0.25', ['a', 'b_count']],
    ['sum(tempered_hosts{operational_status="error"}) or vector(0)', ['tempered_hosts']],
    ['sum by (on_off) (increase(metal3_operation_power_change_total[1h]))', ['metal3_operation_power_change_total']],
  ])('%s', (expr, names) => {
    expect(metricsInExpr(expr)).toEqual(names);
  });

  it('reads grouping labels', () => {
    expect(groupingLabels('sum by (vendor, code) (rate(x[5m])) + sum by (le) (y)')).toEqual(['vendor', 'code', 'le']);
  });
});

describe('selectorMatchers', () => {
  it.each([
    ['sum(tempered_hosts{operational_status="error"}) or vector(0)', [{ metric: 'tempered_hosts', labels: ['operational_status'] }]],
    [
      'max by (provisioning_state) (x{provisioning_state=~"registering|powering off before delete", a!="}", b!~\'{\'}) > 3600',
      [{ metric: 'x', labels: ['provisioning_state', 'a', 'b'] }],
    ],
    [
      'max(leader_election_master_status{name="a"}) < 1 or absent(leader_election_master_status{ name = "a" })',
      [
        { metric: 'leader_election_master_status', labels: ['name'] },
        { metric: 'leader_election_master_status', labels: ['name'] },
      ],
    ],
    ['rate(a_bucket{le="+Inf", job=""}[5m])', [{ metric: 'a_bucket', labels: ['le'] }]],
    ['sum(rate(a[10m])) / sum(b{__name__="b"})', [{ metric: 'b', labels: [] }]],
    ['{__name__="a", c="d"}', []],
  ])('%s', (expr, selectors) => {
    expect(selectorMatchers(expr)).toEqual(selectors);
  });
});

describe('missingFor', () => {
  it('finds histograms by their _bucket and counters by their name', () => {
    expect(
      missingFor('histogram_quantile(0.5, sum by (le) (rate(tempered_status_lag_seconds_bucket[5m])))', families),
    ).toEqual([]);
    expect(missingFor('sum by (error_type) (increase(metal3_host_error_total[1h]))', families)).toEqual([]);
    expect(missingFor('sum by (operation) (rate(temporal_request[5m]))', families)).toEqual([]);
  });

  it('self-test: a misspelled metric is reported', () => {
    expect(missingFor('sum(rate(tempered_status_lag_second_bucket[5m]))', families)).toEqual([
      'no metric tempered_status_lag_second_bucket',
    ]);
  });

  it('self-test: grouping by a label the metric does not have is reported', () => {
    expect(missingFor('sum by (task_queue) (rate(temporal_request[5m]))', families)).toEqual([
      'no label task_queue on temporal_request',
    ]);
  });

  it('checks the label names of matchers on the metric each selector selects', () => {
    expect(missingFor('sum(workqueue_depth{name="baremetalhost", controller=~"b.*"})', families)).toEqual([]);
    expect(missingFor('sum(rate(tempered_status_lag_seconds_bucket{le="+Inf"}[5m]))', families)).toEqual([]);
    expect(missingFor('max(leader_election_master_status{name="tempered-bridge"}) or absent(temporal_request{namespace="x"})', families)).toEqual([]);
  });

  it('self-test: matching on a label the metric does not have is reported (a wrong name, or another metric\'s)', () => {
    expect(missingFor('sum(workqueue_depth{queue="baremetalhost"})', families)).toEqual(['no label queue on workqueue_depth (matched in {...})']);
    expect(missingFor('max(leader_election_master_status{name="a"}) + sum(metal3_host_error_total{name="a"})', families)).toEqual([
      'no label name on metal3_host_error_total (matched in {...})',
    ]);
    // `le` is on a histogram's buckets, not on its _count.
    expect(missingFor('sum(tempered_status_lag_seconds_count{le="+Inf"})', families)).toEqual([
      'no label le on tempered_status_lag_seconds_count (matched in {...})',
    ]);
  });

  it('a family with no samples yet exists (its labels cannot be checked)', () => {
    expect(missingFor('sum by (method, code) (rate(rest_client_requests_total[5m]))', families)).toEqual([]);
  });
});
