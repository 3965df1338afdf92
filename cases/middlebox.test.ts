import { expect, it } from 'vitest';
import { kernelCases, runCase, timeoutFor } from '../harness/vitest/cases.js';
import { byProfile } from '../harness/core/profile.js';
import type { ConntrackSample, Observation } from '../harness/core/observation.js';
import type { Middlebox, MiddleboxKind, MiddleboxMode } from '../harness/model/middlebox.js';
import { LAST_CROSSING, pathPhase, type PathOptions } from '../harness/recipes/path.js';

/**
 * A middlebox on the path forgets an idle connection (harness/engine/router.ts: a router namespace
 * running the kernel's own conntrack, its established timeout = the middlebox's idle timeout,
 * nf_conntrack_tcp_loose = 0, and `ct state invalid` dropped or answered with a RST). Nobody
 * vanishes: both ends stay up, the path forgets. Expectations come from harness/model/path.ts;
 * every case also reads the router's table (ctnetlink, every 20 ms) to show the entry present or
 * gone — observed, not inferred.
 *
 * Timeline: listen → connect → established (t = 0: the last packet through the router) → quiet →
 *           [keepalive probes] → [the write] → ECONNRESET / retransmissions → ETIMEDOUT / ACK
 *
 * The fast profile's middlebox forgets after 5 s (an AWS NAT gateway's 350 s in the faithful one),
 * and the keepalive settings are scaled to it: 2/1/3 probes well inside the timeout (each probe and
 * its answer refresh the entry; the keepalive timer fires at most a few ms late at 2 s), 7/1/3
 * first probes 2 s after the entry is gone — both far from the race the model would call within a
 * timer's slack of the timeout.
 */
const EXPIRY_S = byProfile({ fast: 5, faithful: 350 });
const BELOW = byProfile({ fast: { TCP_KEEPIDLE: 2, TCP_KEEPINTVL: 1, TCP_KEEPCNT: 3 }, faithful: { TCP_KEEPIDLE: 120, TCP_KEEPINTVL: 30, TCP_KEEPCNT: 3 } });
const ABOVE = byProfile({ fast: { TCP_KEEPIDLE: 7, TCP_KEEPINTVL: 1, TCP_KEEPCNT: 3 }, faithful: { TCP_KEEPIDLE: 420, TCP_KEEPINTVL: 30, TCP_KEEPCNT: 3 } });
/** the client's retransmission budget after a dropped write: tcp_retries2 5 (12.6 s) as in the busy cases */
const SYSCTLS = { tcp_retries2: 5 };

/** The write comes well after the expiry (1.5 s: far beyond the expiry's jiffy and the write's timing). */
const WRITE_AFTER_EXPIRY_S = EXPIRY_S + 1.5;
/** A kept mapping is shown over several expiry periods before the write. */
const WRITE_AFTER_KEEPALIVE_S = EXPIRY_S * 2.5;

const mb = (kind: MiddleboxKind, mode: MiddleboxMode): Middlebox => ({ name: `idle-expiry:${EXPIRY_S}s:${mode}:${kind}`, idleTimeoutS: EXPIRY_S, mode, kind });

/** The kinds and families a middlebox exists in: a NAT is IPv4 only (masquerade), a firewall both. */
const PATHS: Array<{ kind: MiddleboxKind; family: 4 | 6 }> = [
  { kind: 'nat', family: 4 },
  { kind: 'firewall', family: 4 },
  { kind: 'firewall', family: 6 },
];

const through = (kind: MiddleboxKind, mode: MiddleboxMode, family: 4 | 6, options: Record<string, number>, opts: PathOptions) =>
  runCase(pathPhase({ name: 'middlebox', family, middlebox: mb(kind, mode), client: { options, sysctls: SYSCTLS } }, opts));

/** The router's entry for this connection, as sampled; the one after `t` that says it was gone. */
const entry = (obs: Observation): ConntrackSample[] => obs.path!.conntrack;
const goneAt = (obs: Observation): ConntrackSample | undefined => entry(obs).find((s) => !s.present);
const sinceT0 = (obs: Observation, t: number) => t - obs.marks[LAST_CROSSING]!;

/**
 * The entry was forgotten at the timeout, as conntrack counts it (from the last packet through: the
 * handshake's ACK): the router's table showed it at aliveT and no longer at t, an interval that holds
 * however the router's reader was scheduled (harness/helper/conntrack.c), and the timeout falls in
 * it. Slack: conntrack stamps and compares on jiffies (a jiffy each way) and the ACK reaches the
 * router within a millisecond of the client's tap.
 */
function expectForgottenAtTimeout(obs: Observation): void {
  const gone = goneAt(obs);
  expect(gone, 'the router never forgot the connection').toBeDefined();
  const slack = 2 / obs.kernel.hz + 0.001;
  expect(sinceT0(obs, gone!.aliveT!)).toBeLessThan(EXPIRY_S + slack);
  expect(sinceT0(obs, gone!.t)).toBeGreaterThan(EXPIRY_S - slack);
}

const dataReachedServer = (obs: Observation) => obs.path!.serverLeg.some((p) => p.from === 'client' && p.len > 0);

for (const { kind, family } of PATHS) {
  kernelCases(`middlebox (${kind}, IPv${family}) forgets an idle connection after ${EXPIRY_S} s`, () => {
    it(`no keepalive, reset: the write after the expiry gets the router's RST — ECONNRESET within milliseconds`, { timeout: timeoutFor(WRITE_AFTER_EXPIRY_S + 2) }, async () => {
      const obs = await through(kind, 'reset', family, {}, { writeAtS: WRITE_AFTER_EXPIRY_S });
      expect(obs.path!.predicted!.mapping.kept).toBe('no');
      expect(obs).toFollowModel();
      expect(obs.close?.errno).toBe('ECONNRESET');
      // a RST one round trip after the data: the router answered it (the server never saw it)
      const data = obs.packets.find((p) => p.from === 'client' && p.kind === 'DATA')!;
      expect(obs.close!.t - data.t).toBeLessThan(0.05);
      expect(dataReachedServer(obs)).toBe(false);
      expectForgottenAtTimeout(obs);
      // the server's socket never learns: still ESTABLISHED, nothing pending
      expect(obs.timers.filter((s) => s.side === 'server').at(-1)?.state).toBe('ESTABLISHED');
    });

    it('no keepalive, drop: the write after the expiry retransmits into the void until ETIMEDOUT, as the model says', { timeout: timeoutFor(WRITE_AFTER_EXPIRY_S + 15) }, async () => {
      const obs = await through(kind, 'drop', family, {}, { writeAtS: WRITE_AFTER_EXPIRY_S });
      expect(obs.path!.predicted!.trigger?.by).toBe('write');
      expect(obs).toFollowModel();
      expect(obs.close?.errno).toBe('ETIMEDOUT');
      expect(dataReachedServer(obs)).toBe(false);
      expectForgottenAtTimeout(obs);
      expect(obs.path!.counters['forgotten flow (forward)']).toBeGreaterThan(0);
    });

    it(`keepalive ${BELOW.TCP_KEEPIDLE}/${BELOW.TCP_KEEPINTVL}/${BELOW.TCP_KEEPCNT} (below the timeout): every probe refreshes the entry, and the write after a long quiet is acknowledged`, { timeout: timeoutFor(WRITE_AFTER_KEEPALIVE_S + 4) }, async () => {
      const obs = await through(kind, 'reset', family, { SO_KEEPALIVE: 1, ...BELOW }, { writeAtS: WRITE_AFTER_KEEPALIVE_S });
      expect(obs.path!.predicted!.mapping.kept).toBe('yes');
      expect(obs).toFollowModel();
      expect(obs).toStayOpen();
      // the entry never went, and was refreshed by the probes: its timeout went back up each time
      expect(goneAt(obs)).toBeUndefined();
      const refreshes = entry(obs).filter((s) => s.present && s.prevT !== undefined && sinceT0(obs, s.t) < WRITE_AFTER_KEEPALIVE_S);
      expect(refreshes.length).toBeGreaterThanOrEqual(Math.floor(WRITE_AFTER_KEEPALIVE_S / BELOW.TCP_KEEPIDLE) - 1);
      const probes = obs.packets.filter((p) => p.from === 'client' && p.kind === 'KEEPALIVE' && sinceT0(obs, p.t) < WRITE_AFTER_KEEPALIVE_S);
      expect(probes.length).toBeGreaterThanOrEqual(Math.floor(WRITE_AFTER_KEEPALIVE_S / BELOW.TCP_KEEPIDLE) - 1);
      // the write went through the router and was acknowledged
      expect(dataReachedServer(obs)).toBe(true);
      const data = obs.packets.find((p) => p.from === 'client' && p.kind === 'DATA')!;
      expect(obs.packets.some((p) => p.from === 'server' && p.t > data.t && p.ack === ((data.seq + data.len) >>> 0))).toBe(true);
    });

    for (const mode of ['reset', 'drop'] as const) {
      it(`keepalive ${ABOVE.TCP_KEEPIDLE}/${ABOVE.TCP_KEEPINTVL}/${ABOVE.TCP_KEEPCNT} (above the timeout), ${mode}: the first probe meets the forgotten entry — ${mode === 'reset' ? 'ECONNRESET at TCP_KEEPIDLE' : 'ETIMEDOUT at the keepalive chain’s end'}`, { timeout: timeoutFor(ABOVE.TCP_KEEPIDLE + 5) }, async () => {
        const obs = await through(kind, mode, family, { SO_KEEPALIVE: 1, ...ABOVE }, {});
        expect(obs.path!.predicted!.trigger?.by).toBe('keepalive');
        expect(obs).toFollowModel();
        expect(obs.close?.errno).toBe(mode === 'reset' ? 'ECONNRESET' : 'ETIMEDOUT');
        expectForgottenAtTimeout(obs);
        expect(obs.path!.serverLeg.some((p) => p.from === 'client' && p.kind === 'KEEPALIVE')).toBe(false);
      });
    }
  });
}
