import { describe, expect, it } from 'vitest';

import type { SagaStatusMessage, SagaStepMessage } from './api';
import { applySagaStatus, applySagaStep, isCompensating, mergeSagaStatus, mergeSteps } from './sagaStore';

const base = { order_id: 'o1', saga_id: 's1', at: '2026-11-25T10:00:00Z' };

function step(n: number, status: string, position: number): SagaStepMessage {
  return {
    ...base,
    type: 'saga.step',
    step: n,
    action: 'ReserveInventory',
    compensating: false,
    status,
    message: '',
    error: null,
    duration_ms: null,
    attempts: null,
    event_type: 'x',
    position,
  };
}

function status(s: string | null, position: number, resumed = false): SagaStatusMessage {
  return { ...base, type: 'saga.status', status: s, resumed, reason: null, event_type: 'x', position };
}

describe('saga store', () => {
  it('keeps the newest push per step whatever the arrival order', () => {
    let state = applySagaStep({}, step(2, 'COMPLETED', 5));
    state = applySagaStep(state, step(2, 'STARTED', 4));
    expect(state.o1.steps[2].status).toBe('COMPLETED');
  });

  it('never moves a saga status backwards and remembers resumption', () => {
    let state = applySagaStatus({}, status('COMPLETED', 9));
    state = applySagaStatus(state, status('RUNNING', 1));
    state = applySagaStatus(state, status(null, 10, true));
    expect(state.o1.status).toBe('COMPLETED');
    expect(state.o1.resumed).toBe(true);
  });

  it('lays finished live steps over a fetched log', () => {
    const fetched = [
      { step: 1, action: 'CreateOrder', status: 'COMPLETED', error: null },
      { step: 2, action: 'ReserveInventory', status: 'STARTED', error: null },
    ];
    const live = applySagaStep(applySagaStep({}, step(2, 'FAILED', 7)), step(1, 'STARTED', 3)).o1;
    const merged = mergeSteps(fetched, live);
    expect(merged.map((s) => `${s.step}:${s.status}`)).toEqual(['1:COMPLETED', '2:FAILED']);
  });

  it('lays a compensation paused again over the fetched one still under way', () => {
    const fetched = [
      { step: 3, action: 'ReleaseInventory (COMPENSATING)', status: 'STARTED', error: null, attempts: 2 },
    ];
    const paused = {
      ...step(3, 'STARTED', 9),
      attempts: 6,
      message: 'waiting for the resumer: timed out',
    };
    expect(mergeSteps(fetched, applySagaStep({}, paused).o1)[0].message).toBe(paused.message);
    const older = { ...paused, attempts: 1 }; // a push the fetched log is already past
    expect(mergeSteps(fetched, applySagaStep({}, older).o1)[0].attempts).toBe(2);
  });

  it('picks the further-along saga status', () => {
    expect(mergeSagaStatus('RUNNING', 'COMPENSATED')).toBe('COMPENSATED');
    expect(mergeSagaStatus('COMPLETED', 'RUNNING')).toBe('COMPLETED');
    expect(mergeSagaStatus(undefined, null)).toBeNull();
  });

  it('recognises compensation steps by flag or by name', () => {
    expect(isCompensating({ action: 'CancelOrder (COMPENSATING)' })).toBe(true);
    expect(isCompensating({ action: 'ReleaseInventory', compensating: true })).toBe(true);
    expect(isCompensating({ action: 'ReserveInventory', compensating: false })).toBe(false);
  });
});
