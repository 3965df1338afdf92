import { describe, expect, it } from 'vitest';
import { acceptWindow, judgeAccept } from '../../harness/accept-verdict.js';
import type { Prediction } from '../../harness/model/types.js';
import type { Observation } from '../../harness/scenario.js';
import { CAPTURE_SLACK, USERSPACE_SLACK, windows } from '../../harness/verdict.js';

const HZ = 250;
const ORIGIN = 100;

const prediction = (acceptAt: number | null, synAcks: number[] = [0]): Prediction => ({
  phase: 'defer-accept',
  kernel: 'test',
  origin: 'the first SYN+ACK',
  events: synAcks.map((t, n) => ({ t, side: 'server', packet: 'SYN-ACK', n })),
  closeAt: null,
  errno: null,
  acceptAt,
  notes: [],
});

/** Just what judgeAccept reads of an Observation. */
const observation = (pred: Prediction, acceptedAt: number[]): Observation =>
  ({
    name: 'accept-verdict',
    family: 4,
    origin: ORIGIN,
    kernel: { hz: HZ },
    prediction: pred,
    events: acceptedAt.map((t) => ({ ev: 'accepted', side: 'server', t: ORIGIN + t, sock: 0, conn: 1 })),
  }) as unknown as Observation;

describe('accept() verdict', () => {
  it('an accept answering a resent SYN+ACK inherits that SYN+ACK’s timer window, plus the helper’s wake-up', () => {
    const pred = prediction(3, [0, 3]);
    const synAck = windows(pred, HZ).events[1]!;
    expect(acceptWindow(pred, HZ)).toEqual([synAck[0], synAck[1] + USERSPACE_SLACK]);
    expect(judgeAccept(observation(pred, [3.04])).ok).toBe(true);
    expect(judgeAccept(observation(pred, [3.5])).problem).toMatch(/accept\(\) returned at 3\.500 s; predicted 3\.000 s/);
  });

  it('an accept on client data (no timer): one jiffy early, capture and wake-up late', () => {
    const pred = prediction(2.004);
    expect(acceptWindow(pred, HZ)).toEqual([2.004 - 1 / HZ - CAPTURE_SLACK, 2.004 + CAPTURE_SLACK + USERSPACE_SLACK]);
    expect(judgeAccept(observation(pred, [2.001])).ok).toBe(true);
    expect(judgeAccept(observation(pred, [2.1])).ok).toBe(false);
  });

  it('never accepted: passes only when accept() never returned', () => {
    expect(judgeAccept(observation(prediction(null), [])).ok).toBe(true);
    expect(judgeAccept(observation(prediction(null), [1])).problem).toMatch(/model says it never reaches the accept queue/);
  });

  it('a predicted accept that never came, or two accepts for one connection, fail', () => {
    expect(judgeAccept(observation(prediction(1, [0, 1]), [])).problem).toMatch(/never returned; predicted at 1\.000 s/);
    expect(judgeAccept(observation(prediction(1, [0, 1]), [1, 1.001])).problem).toMatch(/returned 2 connections/);
  });
});
