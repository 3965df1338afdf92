import { type EventVerdict, judgeTimeline, type TimelineVerdict } from '../judge/verdict.js';
import { backdrop, cross, diamond, group, line, polygon, rect, spans, text, title } from './svg-kit.js';
import { type Knot, layoutAxis, type TimeAxis } from './time-axis.js';
import type { ConntrackSample, Packet, Observation, TimerState } from '../core/observation.js';
import { fromRouter } from '../judge/timeline-text.js';
import type { Side } from '../core/side.js';

/**
 * The timeline picture of one run: what a person debugging a dead peer would otherwise assemble
 * from a packet listing and `ss -o` output side by side. Pure: Observation in, SVG text out.
 *
 * Layout, left to right: the time axis (seconds from the prediction's t = 0), the model's column
 * (predicted packets and close), the client's `ss` timer states with a band for the timer that
 * was running, the client and server lanes with one horizontal arrow per captured packet (veth
 * latency is microseconds, so arrows are level), the server's timer states, and the kernel's
 * column (observed times, each judged against the model). Time runs downwards.
 */

// columns (x, px)
const AX = 62; // axis line; tick labels right-aligned left of it
const MX = 70; // model column
const MR = 262;
const CL = 478; // client lane
const SL = 758; // server lane
const BAND = 8;
const OX = 984; // kernel column
export const WIDTH = 1260;
const PLOT_TOP = 166;

const FONT = 'font-family="DejaVu Sans Mono, Menlo, Consolas, monospace"';
/** Labels get a white outline drawn under the glyphs, so a line crossing a label never hides it. */
const HALO = '<style>.deadpeer-timeline text{paint-order:stroke;stroke:#fff;stroke-width:3px;stroke-linejoin:round}</style>';
const INK = '#1f2933';
const MUTED = '#66717d';
const RED = '#c0392b';
const GREEN = '#1e8449';
const BLUE = '#2463b5';
const FAULT = '#d35400';
const TIMER_COLOUR: Record<TimerState['timer'], string | null> = {
  off: null,
  on: '#e67e22',
  keepalive: '#27ae60',
  persist: '#8e44ad',
  timewait: '#7f8c8d',
  unknown: '#95a5a6',
};
/** Above this many packets, runs of unremarkable ones (bulk data and its ACKs) fold into one row. */
export const MAX_PACKET_ROWS = 80;
/**
 * Above this many timer states before t = 0 on one side (a slow reader makes the persist and
 * retransmit timers flip hundreds of times), the middle ones keep their bands but share one label.
 */
export const MAX_PRE_ORIGIN_TIMER_LABELS = 6;

export interface SvgOptions {
  /** make ids unique when several pictures share one HTML page (none are used today; kept for links) */
  id?: string;
}

type Row =
  | { k: 'packet'; p: Packet; rel: number; verdict?: EventVerdict }
  | { k: 'folded'; rel: number; to: number; count: number; client: number; server: number }
  | { k: 'pred'; e: EventVerdict & { predicted: NonNullable<EventVerdict['predicted']> } }
  | {
      k: 'timer';
      s: TimerState;
      rel: number;
      stateChanged: boolean;
      next?: number;
      /** band only, no label: one of many flips folded into the summary row before it */
      quiet?: boolean;
      /** this row's label stands for itself and this many quiet rows after it */
      summary?: { count: number; timers: string[] };
    }
  | { k: 'fault'; rel: number; name: string }
  /** a router on the path: a look at its conntrack entry that showed a change (new, refreshed, gone) */
  | { k: 'ct'; rel: number; s: ConntrackSample; change: 'new' | 'refreshed' | 'gone' | 'state' }
  | { k: 'close-obs'; rel: number }
  | { k: 'close-pred'; rel: number }
  | { k: 'end'; rel: number; open: boolean };

const other = (s: Side): Side => (s === 'client' ? 'server' : 'client');
const laneX = (s: Side) => (s === 'client' ? CL : SL);
/** Seconds from t = 0; µs precision near it, where a handshake sits a few µs before the origin. */
export const fmtS = (t: number) => (t === 0 ? '0.000' : Math.abs(t) < 0.001 ? t.toFixed(6) : t.toFixed(3));

/** observed − predicted, in the unit a person reads fastest. */
export function fmtDelta(d: number): string {
  const sign = d >= 0 ? '+' : '−';
  const a = Math.abs(d);
  if (a < 0.01) return `${sign}${(a * 1000).toFixed(1)} ms`;
  if (a < 1) return `${sign}${Math.round(a * 1000)} ms`;
  return `${sign}${a.toFixed(2)} s`;
}

/** The expiry as `ss -o` prints it (ms below a second, else seconds with 3 decimals). */
export function fmtExpiry(ms: number): string {
  return Math.abs(ms) < 1000 ? `${ms}ms` : `${(ms / 1000).toFixed(3)}sec`;
}

/** What `ss -tno` would have shown for a timer state, without the addresses. */
export function timerLabel(s: TimerState, stateChanged: boolean): string {
  if (s.ev === 'gone') return 'gone from the kernel tables';
  const timer = s.timer === 'off' ? 'no timer' : `timer:(${s.timer},${fmtExpiry(s.expiresMs)},${s.retrans})`;
  return stateChanged ? `${s.state} ${timer}` : timer;
}

export function packetLabel(p: Packet): string {
  return `${p.kind} [${p.flags}] len ${p.len}${p.win === 0 ? ' win 0' : ''}`;
}

const packetKey = (p: Packet) => `${p.t}/${p.from}/${p.kind}/${p.seq}/${p.len}`;

/** Packets to draw: all of them, unless there are so many that bulk transfer would bury the story. */
export function packetRows(packets: readonly Packet[], origin: number, notable: (p: Packet) => boolean): Row[] {
  const asRow = (p: Packet): Row => ({ k: 'packet', p, rel: p.t - origin });
  if (packets.length <= MAX_PACKET_ROWS) return packets.map(asRow);
  const rows: Row[] = [];
  let run: Packet[] = [];
  const flush = () => {
    if (run.length <= 4) rows.push(...run.map(asRow));
    else {
      const middle = run.slice(1, -1);
      rows.push(asRow(run[0]!), {
        k: 'folded',
        rel: middle[0]!.t - origin,
        to: middle[middle.length - 1]!.t - origin,
        count: middle.length,
        client: middle.filter((p) => p.from === 'client').length,
        server: middle.filter((p) => p.from === 'server').length,
      }, asRow(run[run.length - 1]!));
    }
    run = [];
  };
  for (const p of packets) {
    if (notable(p) || p.dropped || /[SRF]/.test(p.flags)) {
      flush();
      rows.push(asRow(p));
    } else run.push(p);
  }
  flush();
  return rows;
}

/** Timer states per side, with whether the TCP state changed and when the next state began. */
export function timerRows(obs: Observation): Extract<Row, { k: 'timer' }>[] {
  const rows: Extract<Row, { k: 'timer' }>[] = [];
  for (const side of ['client', 'server'] as Side[]) {
    const states = obs.timers.filter((s) => s.side === side).sort((a, b) => a.t - b.t);
    const before = states.filter((s) => s.t < obs.origin).length;
    // before t = 0, keep the first two and the last two labelled; fold the ones between
    const fold = before > MAX_PRE_ORIGIN_TIMER_LABELS ? { from: 2, to: before - 2 } : null;
    states.forEach((s, i) => {
      const prev = states[i - 1];
      const next = states[i + 1];
      const row: Extract<Row, { k: 'timer' }> = {
        k: 'timer',
        s,
        rel: s.t - obs.origin,
        stateChanged: !prev || prev.state !== s.state,
        ...(next ? { next: next.t - obs.origin } : {}),
      };
      if (fold && i === fold.from) {
        const folded = states.slice(fold.from, fold.to);
        row.summary = { count: folded.length, timers: [...new Set(folded.map((f) => f.timer))] };
      } else if (fold && i > fold.from && i < fold.to) row.quiet = true;
      rows.push(row);
    });
  }
  return rows;
}

function columnOf(r: Row): string {
  switch (r.k) {
    case 'pred':
    case 'close-pred':
      return 'model';
    case 'timer':
      return `timer-${r.s.side}`;
    case 'end':
      // an unlabelled end must not push anything down
      return r.open ? 'kernel' : 'end';
    default:
      return 'kernel';
  }
}

const rowTime = (r: Row) => (r.k === 'pred' ? r.e.predicted.t : r.rel);

/** The first thing that went wrong, in time order: the one a reader should look at first. */
function firstDivergence(v: TimelineVerdict): EventVerdict | 'close' | null {
  const bad = v.events.filter((e) => !e.ok).map((e) => ({ t: e.predicted?.t ?? e.observed!.rel, what: e as EventVerdict | 'close' }));
  if (!v.close.ok) bad.push({ t: v.close.predicted ?? v.close.observed ?? Infinity, what: 'close' });
  bad.sort((a, b) => a.t - b.t);
  return bad[0]?.what ?? null;
}

export function renderSvg(obs: Observation, _opts: SvgOptions = {}): string {
  const v = judgeTimeline(obs);
  const subject: Side = obs.subject ?? 'client';
  const origin = obs.origin;
  const first = firstDivergence(v);

  const verdictOf = new Map<string, EventVerdict>();
  for (const e of v.events) if (e.observed) verdictOf.set(packetKey(e.observed), e);

  const rows: Row[] = [
    ...packetRows(obs.packets, origin, (p) => verdictOf.has(packetKey(p))).map((r) =>
      r.k === 'packet' && verdictOf.has(packetKey(r.p)) ? { ...r, verdict: verdictOf.get(packetKey(r.p))! } : r,
    ),
    ...v.events.filter((e): e is Extract<Row, { k: 'pred' }>['e'] => !!e.predicted).map((e): Row => ({ k: 'pred', e })),
    ...timerRows(obs),
    ...obs.faults.map((f): Row => ({ k: 'fault', rel: f.t - origin, name: f.name })),
    ...conntrackRows(obs),
  ];
  if (v.close.observed !== null) rows.push({ k: 'close-obs', rel: v.close.observed });
  if (v.close.predicted !== null) rows.push({ k: 'close-pred', rel: v.close.predicted });
  rows.push({ k: 'end', rel: obs.end - origin, open: v.close.observed === null });

  // quiet rows get no knot: they are drawn wherever their time falls between the others
  const quiet = (r: Row) => r.k === 'timer' && !!r.quiet;
  const knots: Knot[] = [];
  const knotOf = rows.map((r) => (quiet(r) ? -1 : knots.push({ t: rowTime(r), col: columnOf(r) }) - 1));
  knots.push({ t: 0, col: 'origin' });
  const axis = layoutAxis(knots, { top: PLOT_TOP, gapColumns: ['kernel'] });
  const y = (i: number) => (knotOf[i]! < 0 ? axis.at(rowTime(rows[i]!)) : axis.yOf(knotOf[i]!));

  const footer = footerLines(obs, v, axis);
  const height = axis.bottom + 34 + footer.length * 15;
  const out: string[] = [];
  out.push(
    `<svg xmlns="http://www.w3.org/2000/svg" class="deadpeer-timeline" width="${WIDTH}" height="${Math.ceil(height)}" viewBox="0 0 ${WIDTH} ${Math.ceil(height)}" ${FONT} font-size="11">`,
    title(`${obs.name} (IPv${obs.family}) — timeline`),
    HALO,
    rect(0, 0, WIDTH, height, { fill: '#ffffff' }),
  );
  out.push(...header(obs, v, subject));
  out.push(...axisMarks(axis));
  out.push(...lanes(obs, axis));
  // horizontal lines (fault, closes, end) span the lanes: they go under every arrow and label
  const under: string[] = [];
  const linesAt = out.length;

  // bands first, so arrows and labels draw over them
  rows.forEach((r, i) => {
    if (r.k !== 'timer') return;
    out.push(...timerMark(r, y(i), r.next !== undefined ? axis.at(r.next) : axis.at(obs.end - origin)));
  });
  out.push(...routerLane(obs, rows, axis));
  rows.forEach((r, i) => {
    if (r.k === 'pred') out.push(...predictedMark(r.e, y(i), axis, first === r.e));
  });
  rows.forEach((r, i) => {
    const yi = y(i);
    switch (r.k) {
      case 'packet':
        out.push(...packetMark(obs, r.p, r.rel, yi, r.verdict, first !== null && first === r.verdict));
        break;
      case 'folded':
        out.push(
          text((CL + SL) / 2, yi + 4, `⋯ ${r.count} more packets (${r.client} C→S, ${r.server} S→C) ⋯`, { 'text-anchor': 'middle', fill: MUTED }),
          text(OX, yi + 4, `${fmtS(r.rel)} … ${fmtS(r.to)}`, { fill: MUTED }),
        );
        break;
      case 'ct':
        out.push(...conntrackMark(r, yi));
        break;
      case 'fault':
        under.push(line(CL - 14, yi, OX - 6, yi, { stroke: FAULT, 'stroke-width': 1.5, 'stroke-dasharray': '2 3' }));
        out.push(spans(OX, yi + 4, [[`${fmtS(r.rel)} `], [`fault armed: ${r.name}`, { fill: FAULT, 'font-weight': 'bold' }]]));
        break;
      case 'close-obs':
        out.push(...closeObserved(obs, v, r.rel, yi, first === 'close', under));
        break;
      case 'close-pred':
        out.push(...closePredicted(obs, v, r.rel, yi, subject, first === 'close', under));
        break;
      case 'end':
        if (r.open) {
          under.push(line(CL - 14, yi, OX - 6, yi, { stroke: MUTED, 'stroke-width': 1, 'stroke-dasharray': '6 3' }));
          out.push(spans(OX, yi + 4, [[`${fmtS(r.rel)} `], ['run ended, still open', { 'font-weight': 'bold' }], ...okMark(v.close.ok, first === 'close')]));
        }
        break;
    }
  });
  out.splice(linesAt, 0, ...under);
  footer.forEach((f, i) => out.push(text(12, axis.bottom + 34 + i * 15, f.text, { fill: f.colour })));
  out.push('</svg>');
  return out.join('\n');
}

function okMark(ok: boolean, firstBad: boolean): Array<[string, Record<string, string | number>?]> {
  return ok ? [['  ✓', { fill: GREEN, 'font-weight': 'bold' }]] : [[firstBad ? '  ▶✗' : '  ✗', { fill: RED, 'font-weight': 'bold' }]];
}

function header(obs: Observation, v: TimelineVerdict, subject: Side): string[] {
  const p = obs.prediction;
  const modelClose = v.close.predicted === null ? 'never gives up' : `${p.errno ?? 'gone (no errno)'} at ${fmtS(v.close.predicted)} s`;
  const seen = v.close.observed === null ? 'still open at the end' : `${obs.close?.errno ?? 'gone from its tables'} at ${fmtS(v.close.observed)} s`;
  const out = [
    text(12, 22, `${obs.name} · IPv${obs.family} · ${obs.phase}`, { 'font-size': 15, 'font-weight': 'bold', fill: INK }),
    text(12, 40, `kernel ${obs.kernel.release} · HZ=${obs.kernel.hz} · profile ${obs.profile} · t = 0: ${p.origin}`, { fill: MUTED }),
    spans(12, 58, [
      [`model: ${modelClose} · kernel: ${seen} · `],
      v.ok ? ['✓ agrees with the model', { fill: GREEN, 'font-weight': 'bold' }] : [`✗ DIFFERS (${v.problems.length} problem${v.problems.length === 1 ? '' : 's'}, first marked ▶)`, { fill: RED, 'font-weight': 'bold' }],
    ]),
  ];
  // legend: two rows of samples
  let x = 12;
  const ly = 82;
  const item = (draw: (x: number, y: number) => string, label: string, w = 34) => {
    out.push(draw(x, ly), text(x + w, ly + 4, label, { fill: MUTED }));
    x += w + label.length * 6.7 + 18;
  };
  item((x0, y0) => arrow(x0, x0 + 26, y0, INK), 'packet: kind [flags] len');
  item((x0, y0) => line(x0, y0, x0 + 22, y0, { stroke: RED, 'stroke-dasharray': '4 3', 'stroke-width': 1.5 }) + cross(x0 + 24, y0, 4, RED), 'dropped at the receiver');
  item((x0, y0) => rect(x0 + 8, y0 - 8, 6, 16, { fill: BLUE, 'fill-opacity': 0.2 }) + diamond(x0 + 11, y0, 5, { fill: '#fff', stroke: BLUE, 'stroke-width': 1.5 }), 'model: predicted packet and its tolerance');
  item((x0, y0) => line(x0, y0, x0 + 26, y0, { stroke: FAULT, 'stroke-width': 1.5, 'stroke-dasharray': '2 3' }), 'fault armed');
  x = 12;
  const ly2 = ly + 22;
  const item2 = (draw: (x: number, y: number) => string, label: string, w = 34) => {
    out.push(draw(x, ly2), text(x + w, ly2 + 4, label, { fill: MUTED }));
    x += w + label.length * 6.7 + 18;
  };
  for (const [timer, label] of [
    ['on', 'timer on (retransmit)'],
    ['keepalive', 'keepalive'],
    ['persist', 'persist (zero window)'],
  ] as const)
    item2((x0, y0) => rect(x0 + 6, y0 - 8, BAND, 16, { fill: TIMER_COLOUR[timer]!, 'fill-opacity': 0.75 }), label, 22);
  item2((x0, y0) => line(x0, y0, x0 + 26, y0, { stroke: BLUE, 'stroke-width': 1.5, 'stroke-dasharray': '7 4' }), 'model close');
  item2((x0, y0) => line(x0, y0, x0 + 26, y0, { stroke: INK, 'stroke-width': 2.5 }), `${subject} closed (errno)`);

  const hy = PLOT_TOP - 16;
  const lane = (s: Side) =>
    text(laneX(s), hy - 17, s === subject ? `${s} (observed socket)` : s, { 'text-anchor': 'middle', fill: INK, 'font-weight': 'bold', 'font-size': 13 });
  out.push(
    line(0, hy - 36, WIDTH, hy - 36, { stroke: '#d5dae0' }),
    text(AX - 4, hy, 't (s)', { 'text-anchor': 'end', fill: MUTED, 'font-weight': 'bold' }),
    text(MX, hy, 'model (predicted)', { fill: BLUE, 'font-weight': 'bold' }),
    text(CL - 16, hy, 'ss -tno timer', { 'text-anchor': 'end', fill: MUTED, 'font-weight': 'bold' }),
    lane('client'),
    lane('server'),
    text(SL + 16, hy, 'ss -tno timer', { fill: MUTED, 'font-weight': 'bold' }),
    text(OX, hy, 'kernel (observed) vs model', { fill: INK, 'font-weight': 'bold' }),
  );
  return out;
}

function axisMarks(axis: TimeAxis): string[] {
  const out = [line(AX, axis.top - 6, AX, axis.bottom + 8, { stroke: '#9aa5b1' })];
  for (const t of axis.ticks) {
    const isOrigin = t.t === 0;
    out.push(
      line(isOrigin ? AX - 6 : AX - 4, t.y, AX, t.y, { stroke: '#9aa5b1' }),
      line(AX + 1, t.y, OX - 6, t.y, { stroke: isOrigin ? '#aab4be' : '#eef1f4', 'stroke-dasharray': isOrigin ? '5 4' : undefined }),
      text(AX - 8, t.y + 4, isOrigin ? '0' : String(Number(t.t.toFixed(3))), { 'text-anchor': 'end', fill: isOrigin ? INK : MUTED, 'font-weight': isOrigin ? 'bold' : undefined }),
    );
  }
  // broken axis: a compressed gap gets a break mark and its real length
  for (const g of axis.gaps) {
    if (g.y1 - g.y0 < 34) continue;
    const m = (g.y0 + g.y1) / 2;
    out.push(
      rect(AX - 5, m - 4, 10, 8, { fill: '#fff' }),
      line(AX - 5, m - 1, AX + 5, m - 5, { stroke: '#6b7785', 'stroke-width': 1.2 }),
      line(AX - 5, m + 5, AX + 5, m + 1, { stroke: '#6b7785', 'stroke-width': 1.2 }),
      text(AX - 8, m + 4, `≈ ${gapText(g.to - g.from)}`, { 'text-anchor': 'end', fill: '#8a96a3', 'font-style': 'italic', 'font-size': 10 }),
    );
  }
  return out;
}

function gapText(s: number): string {
  return s >= 90 ? `${(s / 60).toFixed(1)} min` : `${s.toFixed(s >= 10 ? 1 : 2)} s`;
}

/** The router between the lanes, when the path has one (a middlebox). */
const RX = (CL + SL) / 2;
const ROUTER = '#16a085';

/** The router's entry as rows: each look that showed a change. */
function conntrackRows(obs: Observation): Row[] {
  const rows: Row[] = [];
  let before: ConntrackSample | undefined;
  for (const s of obs.path?.conntrack ?? []) {
    const change = !s.present ? 'gone' : !before?.present ? 'new' : before.state !== s.state ? 'state' : 'refreshed';
    rows.push({ k: 'ct', rel: s.t - obs.origin, s, change });
    before = s;
  }
  return rows;
}

/**
 * The router's memory of the connection as a band down the middle: solid while conntrack holds the
 * entry, gone (a dashed stub) once it forgot — where the client's next packet stops.
 */
function routerLane(obs: Observation, rows: Row[], axis: TimeAxis): string[] {
  if (!obs.path) return [];
  const out = [text(RX, axis.top - 36, `router: ${obs.path.middlebox.name}`, { 'text-anchor': 'middle', fill: ROUTER, 'font-weight': 'bold' })];
  let start: number | undefined;
  for (const r of rows) {
    if (r.k !== 'ct') continue;
    if (r.change === 'new') start = r.rel;
    if (r.change === 'gone' && start !== undefined) {
      out.push(rect(RX - 3, axis.at(start), 6, Math.max(1, axis.at(r.rel) - axis.at(start)), { fill: ROUTER, opacity: 0.55 }));
      start = undefined;
    }
  }
  if (start !== undefined) out.push(rect(RX - 3, axis.at(start), 6, Math.max(1, axis.at(obs.end - obs.origin) - axis.at(start)), { fill: ROUTER, opacity: 0.55 }));
  return out;
}

function conntrackMark(r: Extract<Row, { k: 'ct' }>, y: number): string[] {
  const what =
    r.change === 'gone'
      ? 'router forgot the connection'
      : r.change === 'new'
        ? `router: new entry (${r.s.timeoutS} s)`
        : r.change === 'state'
          ? `router: ${r.s.state}`
          : `router: refreshed (${r.s.timeoutS} s)`;
  return [
    line(RX - 9, y, RX + 9, y, { stroke: ROUTER, 'stroke-width': r.change === 'gone' ? 3 : 1.5 }),
    spans(OX, y + 4, [[`${fmtS(r.rel)} `], [what, { fill: ROUTER, 'font-weight': r.change === 'gone' ? 'bold' : 'normal' }]]),
  ];
}

/** The lanes: solid while the side's socket is in the kernel tables, faint once it has gone. */
function lanes(obs: Observation, axis: TimeAxis): string[] {
  const out: string[] = [];
  for (const side of ['client', 'server'] as Side[]) {
    const x = laneX(side);
    const gone = obs.timers.find((s) => s.side === side && s.ev === 'gone');
    const yg = gone ? axis.at(gone.t - obs.origin) : axis.bottom + 8;
    out.push(line(x, axis.top - 6, x, yg, { stroke: INK, 'stroke-width': 2 }));
    if (gone)
      out.push(
        line(x, yg, x, axis.bottom + 8, { stroke: '#c4ccd4', 'stroke-width': 1.5, 'stroke-dasharray': '2 4' }),
        line(x - 7, yg, x + 7, yg, { stroke: INK, 'stroke-width': 2 }),
      );
  }
  return out;
}

function arrow(x1: number, x2: number, y: number, colour: string, dashed = false): string {
  const dir = Math.sign(x2 - x1) || 1;
  return (
    line(x1, y, x2 - dir * 7, y, { stroke: colour, 'stroke-width': 1.5, 'stroke-dasharray': dashed ? '5 3' : undefined }) +
    polygon(
      [
        [x2, y],
        [x2 - dir * 8, y - 4],
        [x2 - dir * 8, y + 4],
      ],
      { fill: colour },
    )
  );
}

/**
 * Where a packet really went on a path through a router: the router's own answer starts at the
 * router; a client packet that never reached the far leg stopped there (a forgotten flow dropped or
 * answered).
 */
function pathEnds(obs: Observation, p: Packet): { from: number; to: number; stopped: boolean } {
  const ends = { from: laneX(p.from), to: laneX(other(p.from)), stopped: p.dropped };
  if (!obs.path) return ends;
  if (fromRouter(obs, p)) return { ...ends, from: RX };
  const reached = obs.path.serverLeg.some((q) => q.from === p.from && q.seq === p.seq && q.ack === p.ack && q.len === p.len && q.flags === p.flags && Math.abs(q.t - p.t) < 0.05);
  return p.from === 'client' && !reached ? { ...ends, to: RX + 12, stopped: true } : ends;
}

function packetMark(obs: Observation, p: Packet, rel: number, y: number, verdict: EventVerdict | undefined, firstBad: boolean): string[] {
  const { from, to, stopped } = pathEnds(obs, p);
  const dir = Math.sign(to - from);
  const colour = stopped ? RED : INK;
  // the drop happens at the receiver's input hook (or the router): the ✕ sits just before it
  const body = stopped
    ? line(from, y, to - dir * 12, y, { stroke: RED, 'stroke-width': 1.5, 'stroke-dasharray': '5 3' }) + cross(to - dir * 12, y, 4.5, RED)
    : arrow(from, to, y, INK);
  const tip = `${p.from} → ${other(p.from)}  ${p.kind} [${p.flags}] seq ${p.seq} ack ${p.ack} win ${p.win} len ${p.len}${p.dropped ? '  DROPPED' : stopped ? '  STOPPED AT THE ROUTER' : ''}\nt = ${fmtS(rel)} s`;
  const runs: Array<[string, Record<string, string | number>?]> = [[fmtS(rel), { fill: verdict ? INK : MUTED }]];
  if (verdict?.predicted) {
    const pr = verdict.predicted;
    runs.push(...okMark(verdict.ok, firstBad), [` model ${fmtS(pr.t)} (${fmtDelta(rel - pr.t)})`, { fill: verdict.ok ? MUTED : RED }]);
  } else if (verdict) {
    runs.push(...okMark(false, firstBad), [' not in the model', { fill: RED }]);
  }
  return [
    group(
      [
        body,
        backdrop((CL + SL) / 2, y - 4, packetLabel(p), 11, 'middle'),
        text((CL + SL) / 2, y - 4, packetLabel(p), { 'text-anchor': 'middle', fill: colour }),
        spans(OX, y + 4, runs),
      ],
      tip,
      { class: `packet${stopped ? ' dropped' : ''}` },
    ),
  ];
}

function predictedMark(e: EventVerdict & { predicted: NonNullable<EventVerdict['predicted']> }, y: number, axis: TimeAxis, firstBad: boolean): string[] {
  const p = e.predicted;
  const x = laneX(p.side);
  const [w0, w1] = p.window;
  const y0 = axis.at(w0);
  const y1 = Math.max(axis.at(w1), y0 + 2);
  const colour = e.ok ? BLUE : RED;
  const name = `${p.packet}${p.n > 0 ? ` #${p.n}` : ''}`;
  const inward = p.side === 'client' ? 1 : -1;
  return [
    group(
      [
        rect(x - 4, y0, 8, y1 - y0, { fill: BLUE, 'fill-opacity': 0.2 }),
        diamond(x, y, 5, { fill: '#fff', stroke: colour, 'stroke-width': 1.5 }),
        spans(MX, y + 4, [[firstBad ? '▶ ' : '', { fill: RED, 'font-weight': 'bold' }], [name, { fill: colour }]]),
        text(MR, y + 4, fmtS(p.t), { 'text-anchor': 'end', fill: colour }),
        e.observed ? '' : text(x + inward * 10, y + 4, '✗ not seen', { 'text-anchor': inward > 0 ? 'start' : 'end', fill: RED, 'font-weight': 'bold' }),
      ],
      `model: ${p.side} ${p.packet} #${p.n} at ${fmtS(p.t)} s (allowed ${fmtS(w0)} … ${fmtS(w1)})`,
      { class: 'predicted' },
    ),
  ];
}

function timerMark(r: Extract<Row, { k: 'timer' }>, y: number, yEnd: number): string[] {
  const { s } = r;
  const colour = TIMER_COLOUR[s.timer];
  const isClient = s.side === 'client';
  const bx = isClient ? CL - 4 - BAND : SL + 4;
  const out: string[] = [];
  if (s.ev === 'timer' && colour) out.push(rect(bx, y, BAND, Math.max(yEnd - y, r.quiet ? 0.5 : 2), { fill: colour, 'fill-opacity': 0.75 }));
  if (r.quiet) return out;
  const label = r.summary ? `⋯ ${r.summary.count} timer changes (${r.summary.timers.join(', ')}) ⋯` : timerLabel(s, r.stateChanged);
  const ink = s.ev === 'gone' ? INK : colour ?? MUTED;
  out.push(
    group(
      [
        line(isClient ? CL - 14 : SL + 2, y, isClient ? CL - 2 : SL + 14, y, { stroke: ink, 'stroke-width': 1 }),
        backdrop(isClient ? CL - 16 : SL + 16, y + 4, label, 10, isClient ? 'end' : 'start'),
        text(isClient ? CL - 16 : SL + 16, y + 4, label, { 'text-anchor': isClient ? 'end' : 'start', fill: ink, 'font-size': 10 }),
      ],
      `${s.side} ${s.state} ${label} at ${fmtS(r.rel)} s (sock_diag, as ss -tno shows it)`,
      { class: 'timer' },
    ),
  );
  return out;
}

function closeObserved(obs: Observation, v: TimelineVerdict, rel: number, y: number, firstBad: boolean, under: string[]): string[] {
  const what = obs.close ? `closed: ${obs.close.errno} (${obs.close.via})` : 'gone from the kernel tables';
  under.push(line(CL - 14, y, OX - 6, y, { stroke: v.close.ok ? INK : RED, 'stroke-width': 2.5 }));
  return [
    spans(OX, y + 4, [[`${fmtS(rel)} `], [what, { 'font-weight': 'bold', fill: v.close.ok ? INK : RED }], ...okMark(v.close.ok, firstBad)]),
  ];
}

function closePredicted(obs: Observation, v: TimelineVerdict, rel: number, y: number, subject: Side, firstBad: boolean, under: string[]): string[] {
  const x = laneX(subject);
  // starts after the model column's label, which names it
  under.push(line(MR + 6, y, SL + 14, y, { stroke: BLUE, 'stroke-width': 1.5, 'stroke-dasharray': '7 4' }));
  const out: string[] = [];
  if (v.close.window) out.push(rect(x - 6, y - 3, 12, 6, { fill: BLUE, 'fill-opacity': 0.35 }));
  out.push(
    spans(MX, y + 4, [
      [firstBad ? '▶ ' : '', { fill: RED, 'font-weight': 'bold' }],
      [`close ${obs.prediction.errno ?? '(no errno)'}`, { fill: BLUE, 'font-weight': 'bold' }],
    ]),
    text(MR, y + 4, fmtS(rel), { 'text-anchor': 'end', fill: BLUE, 'font-weight': 'bold' }),
  );
  return out;
}

function footerLines(obs: Observation, v: TimelineVerdict, axis: TimeAxis): Array<{ text: string; colour: string }> {
  const lines = [
    {
      text:
        axis.mode === 'linear'
          ? 'time axis: seconds from t = 0, linear (rows closer than a label are spread apart; read the printed times)'
          : 'time axis: seconds from t = 0; long gaps are compressed (each drawn ∝ log of its length, ≈ marks give the real length)',
      colour: MUTED,
    },
  ];
  for (const p of v.problems) lines.push({ text: `✗ ${p}`, colour: RED });
  if (obs.artifacts?.pcap) lines.push({ text: `pcap: ${obs.artifacts.pcap}`, colour: MUTED });
  return lines;
}
