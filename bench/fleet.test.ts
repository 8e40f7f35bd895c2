// The fleet bench's transition times: a state a host passed through within one workflow task has no upsert of
// its own and takes the time (and the publication) of the next state's; a state the status never showed is
// visible when a later one is.
import { describe, expect, it } from 'vitest';
import { fillPassedStates, persistenceRow, temporalRequests, visibleAt } from './fleet.ts';
import { parsePrometheus } from './measure.ts';

describe('fillPassedStates', () => {
  it('gives the states passed within a task the time and publication of the next upserted one', () => {
    const passed = ['registering', 'inspecting', 'preparing', 'available', 'provisioning', 'provisioned'];
    const transitions = new Map([['registering', 5], ['inspecting', 15], ['provisioning', 30], ['provisioned', 38]]);
    const carried = { scheduled: 30, started: 30.5 };
    const publications = new Map([['provisioning', carried]]);
    fillPassedStates(passed, transitions, publications);
    expect([...transitions]).toEqual([['registering', 5], ['inspecting', 15], ['provisioning', 30], ['provisioned', 38], ['available', 30], ['preparing', 30]]);
    expect(publications.get('preparing')).toBe(carried);
    expect(publications.get('available')).toBe(carried);
  });

  it('leaves a state with no later upserted state, and every recorded one, as they are', () => {
    const transitions = new Map([['registering', 5]]);
    fillPassedStates(['registering', 'inspecting'], transitions, undefined);
    expect([...transitions]).toEqual([['registering', 5]]);
  });
});

describe('visibleAt', () => {
  it('is when the watch saw the state, or, for a state it never saw, the first later state it saw', () => {
    const transitions = new Map([['registering', 5], ['inspecting', 15], ['provisioning', 30], ['provisioned', 38]]);
    const seen = new Map([['inspecting', 20], ['provisioned', 45]]);
    expect(visibleAt('inspecting', seen, transitions)).toBe(20);
    expect(visibleAt('registering', seen, transitions)).toBe(20); // shown only by the state after it
    expect(visibleAt('provisioning', seen, transitions)).toBe(45);
    expect(visibleAt('provisioned', new Map([['inspecting', 20]]), transitions)).toBeUndefined(); // never shown, nor anything after it
  });
});

describe('temporalRequests', () => {
  const text = [
    'service_requests{namespace="default",operation="RespondWorkflowTaskCompleted",service_name="frontend"} 12',
    'service_requests{namespace="temporal-system",operation="RespondWorkflowTaskCompleted",service_name="frontend"} 5',
    'persistence_requests{namespace="default",operation="UpdateWorkflowExecution",service_name="history"} 30',
    'persistence_requests{namespace="_unknown_",operation="UpdateWorkflowExecution",service_name="history"} 6',
    'persistence_requests{namespace="default",operation="CreateTasks",service_name="matching"} 4',
  ].join('\n');

  it('counts the default namespace\'s requests by service and operation, and every database call by operation', () => {
    const requests = temporalRequests(parsePrometheus(text));
    expect(requests.get('frontend/RespondWorkflowTaskCompleted')).toBe(12);
    expect(requests.get('persistence/UpdateWorkflowExecution')).toBe(36);
    expect(requests.get('persistence/CreateTasks')).toBe(4);
  });

  it('prints the database calls per host, most first', () => {
    expect(persistenceRow(temporalRequests(parsePrometheus(text)), 2)).toBe('20.0: UpdateWorkflowExecution 18.0, CreateTasks 2.0');
  });
});
