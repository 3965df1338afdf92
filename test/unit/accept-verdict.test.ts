import { describe, expect, it } from 'vitest';
import { acceptWindow, judgeAccept } from '../../harness/judge/accept-verdict.js';
import type { Prediction } from '../../harness/model/types.js';
import { CAPTURE_SLACK, windows } from '../../harness/judge/verdict.js';
import type { Observation } from '../../harness/core/observation.js';

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

const packet = (t: number, kind: 'ACK' | 'DATA', dropped = false) => ({ t: ORIGIN + t, from: 'client', kind, dropped });

/**
 * Just what judgeAccept reads of an Observation. Each accept is completed by a client ACK
 * `wakeUp` s before accept() returned, after a dropped one at t = 0 (the lost final ACK).
 */
const observation = (pred: Prediction, acceptedAt: number[], wakeUp = 0.0002, packets = acceptedAt.map((t) => packet(t - wakeUp, 'ACK'))): Observation =>
  ({
    name: 'accept-verdict',
    family: 4,
    origin: ORIGIN,
    kernel: { hz: HZ },
    prediction: pred,
    packets: [packet(0, 'ACK', true), ...packets],
    events: acceptedAt.map((t) => ({ ev: 'accepted', side: 'server', t: ORIGIN + t, sock: 0, conn: 1 })),
  }) as unknown as Observation;

describe('accept() verdict', () => {
  it('an accept answering a resent SYN+ACK inherits that SYN+ACK’s timer window', () => {
    const pred = prediction(3, [0, 3]);
    const synAck = windows(pred, HZ).events[1]!;
    expect(acceptWindow(pred, HZ)).toEqual(synAck);
    expect(judgeAccept(observation(pred, [3.04])).ok).toBe(true);
    expect(judgeAccept(observation(pred, [3.5])).problem).toMatch(/client's ACK that completed the handshake came at 3\.500 s .*predicted 3\.000 s/);
  });

  it('an accept on client data (no timer): one jiffy early, the capture late', () => {
    const pred = prediction(2.004);
    expect(acceptWindow(pred, HZ)).toEqual([2.004 - 1 / HZ - CAPTURE_SLACK, 2.004 + CAPTURE_SLACK]);
    expect(judgeAccept(observation(pred, [2.001])).ok).toBe(true);
    expect(judgeAccept(observation(pred, [2.1])).ok).toBe(false);
  });

  it('the kernel’s moment is judged, not the scheduler’s: a late accept() wake-up is reported, not failed', () => {
    const pred = prediction(2.004);
    const v = judgeAccept(observation(pred, [2.08], 0.078));
    expect(v.ok).toBe(true);
    expect(v.observed).toBeCloseTo(2.002, 6);
    expect(v.returned).toBeCloseTo(2.08, 6);
    // but the completing packet must be the one the model means: a late client packet fails
    expect(judgeAccept(observation(pred, [2.08], 0.0002)).ok).toBe(false);
  });

  it('accept() cannot return a connection no client packet completed', () => {
    const v = judgeAccept(observation(prediction(1, [0, 1]), [1], 0, []));
    expect(v.problem).toMatch(/no client packet had reached the server/);
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
