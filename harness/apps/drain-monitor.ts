import type { TestSocket } from '../helper/client.js';
import type { TcpInfo } from '../core/protocol.js';

/**
 * The reference's application-level advice, as a tool: a slow but alive reader keeps a socket
 * open for ever (the kernel only gives up on a peer that stops acknowledging), so an application
 * that wants to tell "slow" from "gone" has to watch its send queue drain.
 *
 * What to watch. SIOCOUTQ (TIOCOUTQ) counts unsent + unacknowledged bytes: with a writer that
 * keeps the buffer topped up it sits near "full" whether the peer reads slowly or vanished, so
 * its level says nothing. Progress is what tells them apart: bytes acknowledged by the peer
 * (tcpi_bytes_acked grows: they left the send queue for good) or bytes handed to the network
 * (tcpi_notsent_bytes falls). A peer is dead when neither moved for a whole window while bytes
 * were waiting; it is alive as long as they keep moving, however slowly.
 *
 * The verdict is a pure function of the samples (judgeDrain), so the policy is unit-tested
 * without a kernel; DrainMonitor only takes the samples.
 */

/** One reading of a socket's send queue (CLOCK_MONOTONIC seconds, bytes). */
export interface DrainSample {
  t: number;
  /** TCP_INFO tcpi_notsent_bytes: written, not yet sent */
  notsent: number;
  /** SIOCOUTQ: written, not yet acknowledged (unsent + in flight) */
  outq: number;
  /** TCP_INFO tcpi_bytes_acked: acknowledged by the peer since the connection began */
  bytesAcked: number;
}

export interface DrainPolicy {
  /** no progress for this long (s) while bytes wait → dead. Must exceed the longest pause of a live reader. */
  windowS: number;
  /** sampling period of DrainMonitor, ms */
  intervalMs: number;
}

export type DrainVerdictKind =
  /** bytes left the send queue within the last window */
  | 'alive'
  /** bytes waited and none left for a whole window */
  | 'dead'
  /** nothing waits to be sent or acknowledged: nothing to judge (idle connections are keepalive's business) */
  | 'idle'
  /** not a whole window observed yet, and no progress seen */
  | 'undecided';

export interface DrainVerdict {
  verdict: DrainVerdictKind;
  /** time of the newest sample judged */
  t: number;
  /** newest sample that showed progress (or emptied the queue); null: none yet */
  lastProgressAt: number | null;
  /** seconds since then (since the first sample when there was none) */
  stalledFor: number;
  /** bytes/s acknowledged over the trailing window (over what was observed, if shorter) */
  drainRate: number;
}

export const toDrainSample = (info: TcpInfo & { t: number }): DrainSample => ({
  t: info.t,
  notsent: info.notsent_bytes,
  outq: info.outq,
  bytesAcked: info.bytes_acked,
});

/** Bytes left the send queue between two samples: acknowledged, or sent for the first time. */
export function progressed(prev: DrainSample, cur: DrainSample): boolean {
  return cur.bytesAcked > prev.bytesAcked || cur.notsent < prev.notsent;
}

const waiting = (s: DrainSample) => s.outq > 0 || s.notsent > 0;

/**
 * Bytes acknowledged per second between the sample at or before `from` (the first sample if none)
 * and the newest sample at or before `to`.
 */
export function drainRate(samples: readonly DrainSample[], from = -Infinity, to = Infinity): number {
  const inRange = samples.filter((s) => s.t <= to);
  if (inRange.length < 2) return 0;
  const last = inRange[inRange.length - 1]!;
  const first = [...inRange].reverse().find((s) => s.t <= from) ?? inRange[0]!;
  const dt = last.t - first.t;
  return dt > 0 ? (last.bytesAcked - first.bytesAcked) / dt : 0;
}

/** The verdict after the newest of `samples` (time-ordered). */
export function judgeDrain(samples: readonly DrainSample[], policy: Pick<DrainPolicy, 'windowS'>): DrainVerdict {
  if (!samples.length) return { verdict: 'undecided', t: NaN, lastProgressAt: null, stalledFor: 0, drainRate: 0 };
  const newest = samples[samples.length - 1]!;
  let lastProgressAt: number | null = null;
  for (let i = 1; i < samples.length; i++) {
    const [prev, cur] = [samples[i - 1]!, samples[i]!];
    // An empty queue resets the clock too: nothing was owed to the peer, so nothing was stuck; the
    // clock restarts at the first sample with bytes waiting. Whatever happened between two samples is
    // dated at the later one, so a stall is never overestimated and the verdict never comes early.
    if (progressed(prev, cur) || !waiting(prev) || !waiting(cur)) lastProgressAt = cur.t;
  }
  const stalledFor = newest.t - (lastProgressAt ?? samples[0]!.t);
  const rate = drainRate(samples, newest.t - policy.windowS);
  const base = { t: newest.t, lastProgressAt, stalledFor, drainRate: rate };
  if (!waiting(newest)) return { verdict: 'idle', ...base };
  if (stalledFor >= policy.windowS) return { verdict: 'dead', ...base };
  return { verdict: lastProgressAt === null ? 'undecided' : 'alive', ...base };
}

/** The first sample at which the verdict turned 'dead' (replaying the samples as they came), or null. */
export function detectedDeadAt(samples: readonly DrainSample[], policy: Pick<DrainPolicy, 'windowS'>): number | null {
  for (let n = 1; n <= samples.length; n++) {
    if (judgeDrain(samples.slice(0, n), policy).verdict === 'dead') return samples[n - 1]!.t;
  }
  return null;
}

/**
 * Samples a socket every policy.intervalMs and judges after each sample. The verdict history is
 * kept, so a test can ask what the monitor said at any moment, not only at the end.
 */
export class DrainMonitor {
  readonly samples: DrainSample[] = [];
  readonly verdicts: DrainVerdict[] = [];
  private running = false;
  private loop?: Promise<void>;
  private waiters: Array<{ want: DrainVerdictKind; resolve: (v: DrainVerdict) => void }> = [];
  /** why sampling stopped on its own (the helper refused, the socket is gone), if it did */
  error?: Error;

  constructor(
    private readonly read: () => Promise<DrainSample>,
    readonly policy: DrainPolicy,
  ) {}

  static forSocket(sock: TestSocket, policy: DrainPolicy): DrainMonitor {
    return new DrainMonitor(async () => toDrainSample(await sock.info()), policy);
  }

  start(): void {
    if (this.running) return;
    this.running = true;
    this.loop = (async () => {
      while (this.running) {
        let sample: DrainSample;
        try {
          sample = await this.read();
        } catch (e) {
          this.error = e as Error;
          this.running = false;
          break;
        }
        this.samples.push(sample);
        const v = judgeDrain(this.samples, this.policy);
        this.verdicts.push(v);
        this.waiters = this.waiters.filter((w) => (w.want === v.verdict ? (w.resolve(v), false) : true));
        await new Promise((res) => setTimeout(res, this.policy.intervalMs));
      }
    })();
  }

  async stop(): Promise<void> {
    this.running = false;
    await this.loop;
  }

  /** The newest verdict. */
  verdict(): DrainVerdict {
    return this.verdicts[this.verdicts.length - 1] ?? judgeDrain([], this.policy);
  }

  /** Resolves at the first verdict of that kind from now on (or already the newest one). */
  when(want: DrainVerdictKind, timeoutMs: number): Promise<DrainVerdict> {
    if (this.verdict().verdict === want) return Promise.resolve(this.verdict());
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.waiters = this.waiters.filter((w) => w !== waiter);
        reject(new Error(`drain monitor: no "${want}" verdict within ${timeoutMs} ms (newest: ${this.verdict().verdict})`));
      }, timeoutMs);
      const waiter = {
        want,
        resolve: (v: DrainVerdict) => {
          clearTimeout(timer);
          resolve(v);
        },
      };
      this.waiters.push(waiter);
    });
  }
}
