import type { SocketSettings } from '../../model/types.js';
import type { UserPhase } from '../../recipes/phases.js';
import { optionsOf, tcpInfoOf, type TcpInfoRead } from '../socket-read.js';
import { type AuditModel, isAnswer, type NamespaceInput, type PhaseVerdict } from './model.js';
import type { SockLine } from './reader-events.js';
import type { AuditConnection, AuditVerdict, Direction } from './report.js';

/** States whose timers are the phases': an open connection (CLOSE-WAIT: the peer closed, the program has not, and may still write). */
const OPEN_STATES = ['ESTABLISHED', 'CLOSE-WAIT'];

/** The phases that apply to a socket in this state. */
export function phasesFor(state: string): readonly UserPhase[] {
  if (state === 'SYN-SENT') return ['connect'];
  if (OPEN_STATES.includes(state)) return ['idle', 'busy', 'zero-window'];
  return [];
}

/**
 * The phase the connection is in now: SYN-SENT is connect; an open connection probing a zero
 * window is zero-window, one with data unacknowledged (or a retransmit timer pending) busy, else
 * idle (nothing in flight: only keepalive, if on, would notice). Unreadable sockets are placed by
 * sock_diag's timer alone.
 */
export function phaseNow(state: string, timer: string, info: Pick<TcpInfoRead, 'unacked'> | undefined): UserPhase | null {
  if (state === 'SYN-SENT') return 'connect';
  if (!OPEN_STATES.includes(state)) return null;
  if (timer === 'zero-window-probe') return 'zero-window';
  if (timer === 'retransmit' || (info?.unacked ?? 0) > 0) return 'busy';
  return 'idle';
}

/** "198.18.0.1:4242", "[2001:2::1]:4242" */
export const endpoint = (addr: string, port: number, family: 4 | 6) => (family === 6 ? `[${addr}]:${port}` : `${addr}:${port}`);

/** The service a connection belongs to: the remote address and port it connected to, or its own port when it was accepted. */
export interface Service {
  direction: Direction;
  remoteAddress?: string;
  remotePort?: number;
  localPort?: number;
}

export function serviceOf(c: Pick<AuditConnection, 'direction' | 'local' | 'remote'>): Service {
  const port = (ep: string) => Number(ep.slice(ep.lastIndexOf(':') + 1));
  if (c.direction === 'inbound') return { direction: 'inbound', localPort: port(c.local) };
  return { direction: 'outbound', remoteAddress: c.remote.slice(0, c.remote.lastIndexOf(':')).replace(/^\[|\]$/g, ''), remotePort: port(c.remote) };
}

/** The first port of Linux's default ephemeral range (net.ipv4.ip_local_port_range 32768 60999). */
const EPHEMERAL_FROM = 32768;

/**
 * Whether the program accepted the connection. The reader says so when a LISTEN socket of its
 * namespace has the local port. Without that word, a service's port is one below the ephemeral
 * range that several connections of the namespace share, or that faces an ephemeral remote port —
 * a client's own port is ephemeral, and Linux hands the same one to connections to different
 * destinations, so sharing alone proves nothing there.
 */
export function directionOf(s: Pick<SockLine, 'sport' | 'dport' | 'listening'>, sharedLocalPort: boolean): Direction {
  if (s.listening !== undefined) return s.listening ? 'inbound' : 'outbound';
  return s.sport < EPHEMERAL_FROM && (sharedLocalPort || s.dport >= EPHEMERAL_FROM) ? 'inbound' : 'outbound';
}

/**
 * The verdict over a connection's phases: never if one never notices, slow if one notices later
 * than the gate allows (the window's late end: the latest the kernel may notice), unknown if one
 * cannot be answered and none of that settles it.
 */
export function verdictOf(phases: Partial<Record<UserPhase, PhaseVerdict>>, maxDetectS: number | undefined): { verdict: AuditVerdict; why?: string } {
  const all = Object.entries(phases) as [UserPhase, PhaseVerdict][];
  const answers = all.filter(([, v]) => isAnswer(v)) as [UserPhase, { closeAt: number | null; closeWindow: [number, number] | null }][];
  if (answers.some(([, v]) => v.closeAt === null)) return { verdict: 'never' };
  if (maxDetectS !== undefined && answers.some(([, v]) => v.closeWindow![1] > maxDetectS)) return { verdict: 'slow' };
  const unknown = all.filter(([, v]) => !isAnswer(v));
  if (unknown.length) return { verdict: 'unknown', why: unknown.map(([p, v]) => `${p}: ${(v as { unknown: string }).unknown}`).join('; ') };
  return { verdict: 'notices' };
}

/** A connection judged, with what the summary says of its configuration (not part of the JSON per connection). */
export interface Judged {
  c: AuditConnection;
  /** the reader did not say whether its local port listens: the direction is to be settled once every socket is known */
  guessed?: { netns: number; sport: number; dport: number };
  settings?: SocketSettings;
  ns?: NamespaceInput;
  advice: string[];
}

/** One socket of the reader, judged. */
export function judgeSocket(s: SockLine, program: string, ns: NamespaceInput | undefined, model: AuditModel, maxDetectS: number | undefined): Judged {
  const j = judged(s, program, ns, model, maxDetectS);
  return s.listening === undefined ? { ...j, guessed: { netns: s.netns, sport: s.sport, dport: s.dport } } : j;
}

/** Settle the guessed directions: a local port shared by several connections of its namespace is a service's. */
export function settleDirections(all: readonly Judged[]): void {
  const uses = new Map<string, number>();
  const key = (g: { netns: number; sport: number }) => `${g.netns}:${g.sport}`;
  for (const j of all) if (j.guessed) uses.set(key(j.guessed), (uses.get(key(j.guessed)) ?? 0) + 1);
  for (const j of all) if (j.guessed) j.c.direction = directionOf(j.guessed, uses.get(key(j.guessed))! > 1);
}

function judged(s: SockLine, program: string, ns: NamespaceInput | undefined, model: AuditModel, maxDetectS: number | undefined): Judged {
  // one object per connection, filled in place: at 100 k sockets the copies of spreads were most of the time (the GC's)
  const c: AuditConnection = {
    pid: s.pid,
    fd: s.fd,
    program,
    netns: s.netns,
    inode: s.inode,
    family: s.family,
    local: endpoint(s.src, s.sport, s.family),
    remote: endpoint(s.dst, s.dport, s.family),
    state: s.state,
    direction: directionOf(s, false),
    timer: { kind: s.timer, expiresMs: s.expiresMs, retrans: s.retrans },
    phaseNow: null,
    phases: {},
    verdict: 'unknown',
  };
  if (s.unreadable) {
    c.unreadable = s.unreadable;
    c.phaseNow = phaseNow(s.state, s.timer, undefined);
    c.verdict = 'unreadable';
    c.why = `its options could not be read (${s.unreadable.what}: ${s.unreadable.errno})`;
    return { c, advice: [] };
  }
  const options = optionsOf(s.read);
  const tcpInfo = tcpInfoOf(s.read);
  c.options = options;
  if (tcpInfo) c.tcpInfo = tcpInfo;
  c.phaseNow = phaseNow(s.state, s.timer, tcpInfo);
  const applies = phasesFor(s.state);
  if (!applies.length) {
    c.verdict = 'closing';
    c.why = `${s.state}: the connection is closing; no phase of a vanished peer applies`;
    return { c, advice: [] };
  }
  if (!ns) {
    c.why = "its namespace's sysctls were not read";
    return { c, advice: [] };
  }
  const m = model.connection({ ns, options, tcpInfo, timer: s.timer, phases: applies, accepted: c.direction === 'inbound' });
  c.phases = m.phases;
  const v = verdictOf(m.phases, maxDetectS);
  c.verdict = v.verdict;
  if (v.why) c.why = v.why;
  return { c, settings: m.settings, ns, advice: m.advice };
}
