import type { ConntrackSample, Packet } from '../../core/observation.js';
import { windows } from '../../judge/verdict.js';
import type { Middlebox } from '../../model/middlebox.js';
import type { MappingKept, PathPrediction } from '../../model/path.js';
import type { PacketKind } from '../../model/types.js';
import type { MiddleboxResult } from '../check/middlebox.js';

/**
 * `exec --middlebox`: what the path did to the program's connection, read from the router's table
 * (ctnetlink samples), its rules' counters and the two legs' captures, beside the model's answer
 * for the program's socket as read back (model/path.ts predictPath). Pure: run.ts gathers the
 * evidence, this judges it.
 */
export type PathVerdict = 'agree' | 'differ' | 'cannot judge';

export interface AppPath {
  middlebox: Middlebox;
  /** the run did not wait for the expiry (the timeout is over the run's budget): the model's answer alone, and why */
  notRun?: string;
  /** the model for the socket as read back — with the program's first write as it happened, once it wrote */
  predicted?: PathPrediction;
  /** the model's answer for a write one second after the expiry (check --middlebox's figure): both outcomes before the program acted */
  ifItWrites?: MiddleboxResult['firstWrite'];
  mapping: {
    /** the router's table: the entry was still there when the program next sent (or at the end), or it went */
    observed?: 'kept' | 'forgotten';
    /** forgotten: it went within (goneWithin[0], goneWithin[1]], seconds after t = 0 */
    goneWithin?: [number, number];
    /** how often the entry's timeout went back up after t = 0 and before the program's first write: its keepalive traffic */
    refreshes: number;
    /** the entry as last sampled */
    atEnd: 'present' | 'gone' | 'never seen';
    /** the model's yes / no / race */
    model?: MappingKept;
    verdict: PathVerdict;
  };
  /** the program's first write after t = 0: seconds after t = 0, and whether the server's ACK for it came back */
  write?: { atS: number; acknowledged: boolean };
  /** the program's first packet after the entry was gone: what met the forgotten mapping; reachedServer from the server's leg */
  trigger?: { kind: PacketKind; t: number; atS: number; reachedServer: boolean };
  /** the router's rules: packets of a forgotten flow dropped, or answered with a RST, per hook */
  counters: Record<string, number>;
  /** what the router did with the forgotten flow, in words */
  met: string;
  notice: {
    /** the kernel aborted the program's socket: seconds after the trigger (the first lookup that missed it), and after t = 0 */
    afterTriggerS?: number;
    /**
     * …the abort lay in (after, by] s after the trigger: the last sock_diag lookup that found the
     * socket, the first that missed it. A lookup that comes late (the helper preempted) widens it.
     */
    abortWithinS?: [number, number];
    fromT0S?: number;
    /** the model's: when (s after t = 0) and with which errno; null = never */
    modelAtS: number | null;
    modelErrno: string | null;
    verdict: PathVerdict;
    why: string;
  };
  /** the server's socket at the end, from sock_diag: its TCP state, or 'gone' */
  server: { state: string; line: string };
  conntrack: ConntrackSample[];
  /** the router–server leg, captured at the server's end (exec --json counts it) */
  serverLeg: Packet[];
}

export interface PathEvidence {
  middlebox: Middlebox;
  hz: number;
  /** t = 0: the last packet through the router before the connection went quiet (run clock) */
  origin: number;
  end: number;
  /** the client's leg (its tap), this connection only */
  packets: Packet[];
  serverLeg: Packet[];
  conntrack: ConntrackSample[];
  counters: Record<string, number>;
  /** the kernel's abort of the program's socket: the first sock_diag lookup that missed it, and the last that found it */
  abort?: { t: number; aliveT?: number };
  /** the server's last sock_diag sample of the connection */
  serverState?: string;
  /** the errno the program showed */
  appErrno?: string;
  /** the model, for a write at this moment (s after t = 0) or none */
  predict: (writeAtS?: number) => PathPrediction;
}

const r3 = (x: number) => Math.round(x * 1000) / 1000;
/** A refresh is a later packet of the flow: the handshake's own state changes land within this of t = 0. */
const HANDSHAKE_SETTLE_S = 0.05;

export function judgePath(e: PathEvidence): AppPath {
  const rel = (t: number) => r3(t - e.origin);
  const client = e.packets.filter((p) => p.from === 'client' && p.t > e.origin);
  const data = client.find((p) => p.kind === 'DATA');
  const predicted = e.predict(data ? rel(data.t) : undefined);
  const gone = e.conntrack.find((s) => !s.present && s.t > e.origin);
  const last = e.conntrack.at(-1);
  const until = data?.t ?? e.end;
  const refreshes = e.conntrack.filter((s) => s.present && s.prevT !== undefined && s.t > e.origin + HANDSHAKE_SETTLE_S && s.t < until && (!gone || s.t < gone.t)).length;
  const forgottenFirst = gone !== undefined && gone.t <= until;
  const observed = !e.conntrack.length ? undefined : forgottenFirst ? 'forgotten' : 'kept';
  // what met the forgotten entry: the program's first packet sent after the table last showed it
  const trigger = gone ? client.find((p) => p.t > (gone.aliveT ?? gone.t)) : undefined;
  const reached = (p: Packet) => e.serverLeg.some((q) => q.from === 'client' && q.seq === p.seq && q.len === p.len && q.t >= p.t);
  const acked = data ? e.packets.some((p) => p.from === 'server' && p.t > data.t && ((p.ack - ((data.seq + data.len) >>> 0)) | 0) >= 0) : false;

  const model = predicted.mapping.kept;
  const mappingVerdict: PathVerdict = observed === undefined || model === 'race' ? 'cannot judge' : (model === 'yes') === (observed === 'kept') ? 'agree' : 'differ';
  const counted = Object.values(e.counters).reduce((a, b) => a + b, 0);
  const met = !trigger
    ? forgottenFirst
      ? 'nothing: the program sent nothing after the entry was gone'
      : 'nothing: the entry was there when the program sent'
    : e.middlebox.mode === 'reset'
      ? `the router answered with a RST (${counted} packet${counted === 1 ? '' : 's'} of the forgotten flow met its reject rule)`
      : `the router dropped it silently (${counted} packet${counted === 1 ? '' : 's'} of the forgotten flow dropped)`;

  const notice = judgeNotice(e, predicted, trigger, observed);
  const serverState = e.serverState ?? 'never seen';
  return {
    middlebox: e.middlebox,
    predicted,
    mapping: {
      ...(observed ? { observed } : {}),
      ...(gone ? { goneWithin: [rel(gone.aliveT ?? e.origin), rel(gone.t)] as [number, number] } : {}),
      refreshes,
      atEnd: !last ? 'never seen' : last.present ? 'present' : 'gone',
      model,
      verdict: mappingVerdict,
    },
    ...(data ? { write: { atS: rel(data.t), acknowledged: acked } } : {}),
    ...(trigger ? { trigger: { kind: trigger.kind, t: trigger.t, atS: rel(trigger.t), reachedServer: reached(trigger) } } : {}),
    counters: e.counters,
    met,
    notice,
    server: {
      state: serverState,
      line:
        serverState === 'ESTABLISHED'
          ? 'still ESTABLISHED at the end: nothing told it the path forgot the connection'
          : serverState === 'CLOSE-WAIT'
            ? 'CLOSE-WAIT at the end: the program closed its connection and the FIN got through the router'
            : serverState === 'gone'
            ? 'its socket left the kernel\'s tables'
            : `${serverState} at the end`,
    },
    conntrack: e.conntrack,
    serverLeg: e.serverLeg,
  };
}

function judgeNotice(e: PathEvidence, p: PathPrediction, trigger: Packet | undefined, observed: 'kept' | 'forgotten' | undefined): AppPath['notice'] {
  const modelAtS = p.outcome.noticeAtS;
  const modelErrno = p.outcome.errno;
  const base = {
    ...(e.abort && trigger ? { afterTriggerS: r3(e.abort.t - trigger.t), abortWithinS: [r3((e.abort.aliveT ?? e.abort.t) - trigger.t), r3(e.abort.t - trigger.t)] as [number, number] } : {}),
    ...(e.abort ? { fromT0S: r3(e.abort.t - e.origin) } : {}),
    modelAtS,
    modelErrno,
  };
  const say = (verdict: PathVerdict, why: string) => ({ ...base, verdict, why });
  if (p.mapping.kept === 'race') return say('cannot judge', 'the model calls the mapping a race: either outcome is the kernel\'s');
  if (modelAtS === null) {
    if (!e.abort) return say('agree', p.outcome.line);
    return say('differ', `the model says the socket never notices (${p.outcome.line}), but the kernel aborted it ${r3(e.abort.t - e.origin)} s after t = 0`);
  }
  const wantBy = p.trigger?.by === 'write' ? 'DATA' : 'KEEPALIVE';
  if (!trigger) return say(observed === 'kept' ? 'differ' : 'cannot judge', observed === 'kept' ? `the model says the mapping is lost (${p.mapping.why}); the router kept it` : 'nothing the program sent met the forgotten entry');
  if (trigger.kind !== wantBy) return say('differ', `the model's trigger is the program's ${p.trigger?.by}; its first packet after the expiry was a ${trigger.kind}`);
  if (!e.abort) {
    if (e.end - e.origin < modelAtS) return say('cannot judge', `the run ended ${r3(e.end - e.origin)} s after t = 0, before the model's ${modelAtS} s`);
    return say('differ', `the kernel had not aborted the socket by the end; the model: ${modelErrno} at ${modelAtS} s`);
  }
  // the client's chain counts from the write, or (a probe) from the last packet it received before it
  const clientOrigin =
    trigger.kind === 'DATA' ? trigger.t : (e.packets.filter((x) => x.from === 'server' && x.t < trigger.t).at(-1)?.t ?? e.origin + p.clientOriginS);
  const w = windows(p.client, e.hz).close;
  const lo = (e.abort.aliveT ?? e.abort.t) - clientOrigin;
  const hi = e.abort.t - clientOrigin;
  const inside = w !== null && hi >= w[0] && lo <= w[1];
  if (e.appErrno && modelErrno && e.appErrno !== modelErrno) return say('differ', `the program saw ${e.appErrno}; the model says ${modelErrno}`);
  if (!inside) {
    return say('differ', `the kernel aborted the socket within (${r3(lo)}, ${r3(hi)}] s after the ${trigger.kind === 'DATA' ? 'write' : 'keepalive chain\'s start'}, outside the model's window [${w ? `${r3(w[0])}, ${r3(w[1])}` : '—'}] s`);
  }
  return say('agree', `${p.outcome.line}; the kernel aborted it ${r3(hi)} s after the ${trigger.kind === 'DATA' ? 'write' : 'keepalive chain\'s start'} (model window ${r3(w![0])}–${r3(w![1])} s)`);
}
