import type { TimelineVerdict } from './verdict.js';
import type { Packet, Observation, RunConditions } from '../core/observation.js';

/**
 * The side-by-side text timeline for terminals and failure messages: what the model predicted
 * next to what the wire showed, tcpdump-style, with the timer states `ss -tno` would have shown
 * interleaved, and the first divergence marked.
 */
const fmt = (t: number) => (t >= 0 ? ' ' : '') + t.toFixed(3).padStart(9);

/** Above this many packets the model did not predict, only the notable ones are listed (bulk data would bury the story). */
const ALL_PACKETS_UP_TO = 40;

const packetText = (o: Packet & { rel: number }, router = false) =>
  `${fmt(o.rel)}  ${o.from === 'client' ? 'C > S' : router ? 'R > C' : 'S > C'} ${o.flags.padEnd(3)} ${o.kind.padEnd(12)} seq ${o.seq} ack ${o.ack} win ${o.win} len ${o.len}${o.dropped ? '  [dropped]' : ''}${router ? '  (from the router)' : ''}`;

/**
 * What the run could not have, in words (empty when it had everything): said in the listing and
 * the report's header, so a rootless run's ideal model times and ordinary wake-ups are never
 * mistaken for a root run's.
 */
export function conditionNotes(c: RunConditions | undefined): string[] {
  if (!c) return [];
  const notes: string[] = [];
  if (c.rootless) notes.push('rootless (a user namespace of its own)');
  if (!c.realtime) notes.push(`helpers without SCHED_FIFO (${c.realtimeOff ?? 'refused'})`);
  if (c.unplaced) notes.push(`model times ideal, not placed on the timer wheel: ${c.unplaced}`);
  return notes;
}

/**
 * A router on the path: its far leg's packets (seen at the server's end, marked "R > S" / "S > R" —
 * what crossed the router) and its table's entry for the connection, on the same clock as the
 * client's leg, so the listing shows where a packet stopped and when the middlebox forgot.
 */
function pathRows(obs: Observation): Array<{ t: number; text: string }> {
  const path = obs.path;
  if (!path) return [];
  const pad = `   ${' '.repeat(38)}│ `;
  const rows = path.serverLeg.map((p) => {
    const rel = p.t - obs.origin;
    const leg = p.from === 'client' ? 'R > S' : 'S > R';
    return { t: rel, text: `${pad}${fmt(rel)}  ${leg} ${p.flags.padEnd(3)} ${p.kind.padEnd(12)} seq ${p.seq} ack ${p.ack} len ${p.len}  (server's leg)` };
  });
  let before: (typeof path.conntrack)[number] | undefined;
  for (const s of path.conntrack) {
    const rel = s.t - obs.origin;
    const change = !before?.present ? 'new entry' : before.state !== s.state ? 'now' : 'refreshed';
    const what = s.present
      ? `${change}: ${s.state}, ${s.timeoutS} s left${s.nat && change === 'new entry' ? `, masqueraded as ${s.nat}` : ''}`
      : `entry gone: forgotten (still there at ${fmt(s.aliveT! - obs.origin).trim()})`;
    rows.push({ t: rel, text: `${pad}${fmt(rel)}  router conntrack ${what}` });
    before = s;
  }
  return rows;
}

/**
 * On the client's leg, a packet "from the server" that never reached the router's far leg was the
 * router's own: the RST a resetting middlebox answers a forgotten flow with.
 */
export function fromRouter(obs: Observation, p: Packet): boolean {
  if (!obs.path || p.from !== 'server') return false;
  return !obs.path.serverLeg.some((q) => q.from === 'server' && q.seq === p.seq && q.flags === p.flags && Math.abs(q.t - p.t) < 0.05);
}

export function renderTimeline(obs: Observation, v: TimelineVerdict): string {
  type Row = { t: number; text: string };
  const rows: Row[] = [];
  let firstBad = true;
  for (const e of v.events) {
    const p = e.predicted;
    const o = e.observed;
    const left = (p ? `${fmt(p.t)}  ${p.side.padEnd(6)} ${p.packet}` : '').padEnd(38);
    const right = o ? packetText(o, fromRouter(obs, o)) : '— not seen —';
    let mark = e.ok ? '  ' : '✗ ';
    if (!e.ok && firstBad) {
      mark = '▶✗';
      firstBad = false;
    }
    rows.push({ t: p?.t ?? o!.rel, text: `${mark} ${left}│ ${right}` });
  }
  // the rest of the capture (handshake, the peer's answers, teardown), as tcpdump would list it
  const key = (p: Packet) => `${p.t}/${p.from}/${p.seq}/${p.len}/${p.flags}`;
  const judged = new Set(v.events.filter((e) => e.observed).map((e) => key(e.observed!)));
  const others = obs.packets.filter((p) => !judged.has(key(p)));
  const listed = others.length <= ALL_PACKETS_UP_TO ? others : others.filter((p) => p.dropped || /[SRF]/.test(p.flags) || p.win === 0);
  for (const p of listed) rows.push({ t: p.t - obs.origin, text: `   ${' '.repeat(38)}│ ${packetText({ ...p, rel: p.t - obs.origin }, fromRouter(obs, p))}` });
  if (listed.length < others.length) rows.push({ t: Infinity, text: `   ${' '.repeat(38)}│ (${others.length - listed.length} more packets of bulk data and ACKs: see the pcap)` });
  for (const s of obs.timers) {
    const rel = s.t - obs.origin;
    const text =
      s.ev === 'gone'
        ? `${s.side} :${s.sport}→:${s.dport} gone from the kernel's tables`
        : `${s.side} ${s.state} timer:(${s.timer},${(s.expiresMs / 1000).toFixed(3)}sec,${s.retrans})`;
    rows.push({ t: rel, text: `   ${' '.repeat(38)}│ ${fmt(rel)}  ss: ${text}` });
  }
  rows.push(...pathRows(obs));
  for (const f of obs.faults) rows.push({ t: f.t - obs.origin, text: `   ${' '.repeat(38)}│ ${fmt(f.t - obs.origin)}  fault armed: ${f.name}` });
  // what the helpers did at a planned moment: when it was due and how late it came, so a listing
  // shows what the model was told (it is asked again with the real heal) and whether that mattered
  for (const a of obs.timed ?? []) {
    const late = (a.at - a.due) * 1000;
    const allowed = a.allowedMs === undefined ? 'any lateness harmless' : `${a.allowedMs.toFixed(1)} ms allowed`;
    rows.push({ t: a.at - obs.origin, text: `   ${' '.repeat(38)}│ ${fmt(a.at - obs.origin)}  helper-timed ${a.name}: due ${fmt(a.due - obs.origin).trim()}, ${late.toFixed(2)} ms late (${allowed})` });
  }
  const c = v.close;
  const closeLeft = c.predicted === null ? `${' '.repeat(10)}  never closes` : `${fmt(c.predicted)}  close ${obs.prediction.errno}`;
  const closeRight = c.observed === null ? 'still open' : `${fmt(c.observed)}  close ${c.errno} (via ${obs.close?.via})`;
  rows.push({ t: c.predicted ?? c.observed ?? Infinity, text: `${c.ok ? '  ' : firstBad ? '▶✗' : '✗ '} ${closeLeft.padEnd(38)}│ ${closeRight}` });
  rows.sort((a, b) => a.t - b.t);
  const head = [
    `${obs.name} (IPv${obs.family}, ${obs.phase}, kernel ${obs.kernel.release}, HZ=${obs.kernel.hz}, profile ${obs.profile})`,
    ...(conditionNotes(obs.conditions).length ? [`note: ${conditionNotes(obs.conditions).join('; ')}`] : []),
    `t = 0: ${obs.prediction.origin}; times in seconds`,
    ...(obs.path ? [`path: ${obs.path.middlebox.name} (${obs.path.middlebox.kind}, idle timeout ${obs.path.middlebox.idleTimeoutS} s, ${obs.path.middlebox.mode}); "C > S" is the client's leg, "R > S" the router's far leg, "R > C" the router's own answer`] : []),
    `   ${'model'.padEnd(38)}│ kernel (capture, ss, helper)`,
  ];
  const tail = v.problems.length ? ['', ...v.problems.map((p) => `  - ${p}`)] : [];
  return [...head, ...rows.map((r) => r.text), ...tail, `  pcap: ${obs.artifacts.pcap}`].join('\n');
}
