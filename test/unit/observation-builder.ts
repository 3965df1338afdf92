/**
 * Synthetic Observations for the renderers' unit tests: a run described in relative seconds, the
 * way one reads a timeline, turned into the Observation the harness would have produced.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { classify } from '../../harness/engine/capture.js';
import { defaultSocket, defaultSysctls, featuresForRelease } from '../../harness/model/index.js';
import type { ModelEvent, Phase, Prediction } from '../../harness/model/index.js';
import type { Observation, TimerState } from '../../harness/core/observation.js';
import type { Side } from '../../harness/core/side.js';

export const ORIGIN = 1000;

/** [t (s from origin), sender, tcpdump flags, len, dropped?, what it re-sends: a probe (snd_nxt − 1) or the last segment] */
export type PacketSpec = [number, Side, string, number, boolean?, ('probe' | 'resend')?];
/** [t, side, timer, expires ms, retrans] or [t, side, 'gone', last seen alive at] */
export type TimerSpec = [number, Side, TimerState['timer'], number, number, string?] | [number, Side, 'gone', number?];

export interface ObservationSpec {
  name?: string;
  phase?: Phase;
  family?: 4 | 6;
  subject?: Side;
  packets: PacketSpec[];
  timers?: TimerSpec[];
  faults?: Array<[number, string]>;
  /** predicted packets: [t, side, kind, n] */
  predicted: Array<[number, Side, ModelEvent['packet'], number]>;
  closeAt: number | null;
  errno: string | null;
  /** observed close [t, errno, via] */
  close?: [number, string, string];
  end: number;
}

export function buildObservation(o: ObservationSpec): Observation {
  const features = featuresForRelease('6.18.44-test', 250);
  const sysctls = defaultSysctls(features);
  const effective = { sysctls, raw: {}, socket: defaultSocket(sysctls) };
  let seq: Record<Side, number> = { client: 1000, server: 5000 };
  const raw = o.packets.map(([t, from, flags, len, dropped, resends]) => {
    // a probe carries snd_nxt − 1 and a retransmission the last segment's seq: capture.classify() tells them apart by that
    const at = resends === 'probe' ? seq[from] - 1 : resends === 'resend' ? seq[from] - len : seq[from];
    const p = { t: ORIGIN + t, from, flags, seq: at, ack: 0, win: 64, len, dropped: !!dropped };
    if (!resends && (len > 0 || /[SF]/.test(flags))) seq = { ...seq, [from]: seq[from] + len + (/[SF]/.test(flags) ? 1 : 0) };
    return p;
  });
  const timers: TimerState[] = (o.timers ?? []).map((s) =>
    s[2] === 'gone'
      ? { t: ORIGIN + s[0], side: s[1], ev: 'gone', sport: 1, dport: 2, state: 'GONE', timer: 'off', expiresMs: 0, retrans: 0, ...(s[3] === undefined ? {} : { aliveT: ORIGIN + s[3] }) }
      : { t: ORIGIN + s[0], side: s[1], ev: 'timer', sport: 1, dport: 2, state: s[5] ?? 'ESTABLISHED', timer: s[2], expiresMs: s[3], retrans: s[4] },
  );
  const prediction: Prediction = {
    phase: o.phase ?? 'idle',
    kernel: features.release,
    origin: 'the synthetic origin',
    events: o.predicted.map(([t, side, packet, n]) => ({ t, side, packet, n })),
    closeAt: o.closeAt,
    errno: o.errno,
    notes: ['a synthetic prediction'],
  };
  const subject = o.subject ?? 'client';
  return {
    name: o.name ?? 'synthetic/case',
    phase: o.phase ?? 'idle',
    family: o.family ?? 4,
    subject,
    profile: 'fast',
    kernel: features,
    settings: { client: effective, server: effective },
    marks: {},
    faults: (o.faults ?? []).map(([t, name]) => ({ t: ORIGIN + t, name })),
    packets: classify(raw),
    timers,
    close: o.close ? { side: subject, t: ORIGIN + o.close[0], errno: o.close[1], via: o.close[2], info: {} as never } : null,
    snapshots: [],
    dropCounters: {},
    prediction,
    origin: ORIGIN,
    end: ORIGIN + o.end,
    artifacts: { dir: '/tmp/x', pcap: '/tmp/x/capture.pcap', json: '/tmp/x/observation.json' },
    events: [],
  };
}

/** A handshake, then the client's keepalive probes into a black hole and its RST: the 3-packet story plus probes. */
export function keepaliveObservation(): Observation {
  return buildObservation({
    name: 'synthetic/keepalive',
    packets: [
      [-0.00002, 'client', 'S', 0],
      [0, 'server', 'S.', 0],
      [0.00001, 'client', '.', 0],
      [5.2, 'client', '.', 0, true, 'probe'],
      [8.3, 'client', '.', 0, true, 'probe'],
      [11.4, 'client', '.', 0, true, 'probe'],
      [14.4, 'client', 'R.', 0, true],
    ],
    timers: [
      [0.01, 'client', 'keepalive', 4990, 0],
      [0.01, 'server', 'off', 0, 0],
      [5.2, 'client', 'keepalive', 3000, 1],
      [8.3, 'client', 'keepalive', 3000, 2],
      [11.4, 'client', 'keepalive', 3000, 3],
    ],
    faults: [[0.03, 'blackhole']],
    predicted: [
      [5, 'client', 'KEEPALIVE', 1],
      [8, 'client', 'KEEPALIVE', 2],
      [11, 'client', 'KEEPALIVE', 3],
      [14, 'client', 'RST', 0],
    ],
    closeAt: 14,
    errno: 'ETIMEDOUT',
    close: [14.4, 'ETIMEDOUT', 'poll'],
    end: 14.41,
  });
}

/**
 * Data into a black hole with the kernel defaults: 15 retransmissions, the RTO doubling from 0.2 s
 * to the 120 s cap, then ETIMEDOUT — a quarter of an hour on one picture.
 */
export function fifteenRetransmissions(): Observation {
  const times: number[] = [0];
  let rto = 0.2;
  for (let i = 0; i < 15; i++) {
    times.push(times[times.length - 1]! + rto);
    rto = Math.min(rto * 2, 120);
  }
  const closeAt = times[15]! + rto;
  return buildObservation({
    name: 'synthetic/busy-15',
    phase: 'busy',
    packets: [
      [-0.05, 'client', 'S', 0],
      [-0.05, 'server', 'S.', 0],
      [-0.05, 'client', '.', 0],
      ...times.map((t, i): PacketSpec => [t + 0.002 * i, 'client', i === 0 ? 'P.' : '.', 1448, true, i === 0 ? undefined : 'resend']),
    ],
    timers: times.map((t, i): TimerSpec => [t + 0.002 * i + 0.001, 'client', 'on', Math.round(Math.min(0.2 * 2 ** i, 120) * 1000), i]),
    faults: [[-0.001, 'blackhole']],
    predicted: times.map((t, i): [number, Side, ModelEvent['packet'], number] => [t, 'client', i === 0 ? 'DATA' : 'RETRANSMIT', i]),
    closeAt,
    errno: 'ETIMEDOUT',
    close: [closeAt + 0.05, 'ETIMEDOUT', 'poll'],
    end: closeAt + 0.06,
  });
}

/** A real Observation saved from a run on this project's kernel (idle, keepalive 5/3/3, IPv4). */
export function realObservation(): Observation {
  return JSON.parse(readFileSync(join(import.meta.dirname, '..', 'fixtures', 'idle-keepalive-on-ipv4.observation.json'), 'utf8')) as Observation;
}
