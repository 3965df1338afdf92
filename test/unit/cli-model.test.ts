import { describe, expect, it } from 'vitest';
import { modelArgv, parseModelArgs, runModel } from '../../cli/model.js';
import { OLDEST_RELEASE, defaultSocket, defaultSysctls, featuresForRelease, predictBusy, tcpModelTimeoutMs } from '../../harness/model/index.js';

const env = { features: featuresForRelease('6.18.44-fc-v657', 250) };
const json = (argv: string[]) => {
  const r = runModel(argv, env);
  expect(r.code).toBe(0);
  expect(r.stderr).toBe('');
  expect(r.stdout.trim().split('\n')).toHaveLength(1);
  return JSON.parse(r.stdout);
};
const rejects = (argv: string[], pattern: RegExp) => {
  const r = runModel(argv, env);
  expect(r.code).toBe(2);
  expect(r.stdout).toBe('');
  expect(r.stderr.trimEnd().split('\n')).toHaveLength(1);
  expect(r.stderr).toMatch(pattern);
};

describe('deadpeer model', () => {
  it('syn-sent --json: one line with phase, kernel, events, closeAt, errno', () => {
    const out = json(['syn-sent', '--json']);
    expect(out.phase).toBe('syn-sent');
    expect(out.kernel).toBe('6.18.44-fc-v657');
    expect(out.events.map((e: { t: number }) => e.t)).toEqual([0, 1, 2, 3, 4, 5, 7, 11, 19, 35, 67]);
    expect(out.events[0]).toEqual({ t: 0, side: 'client', packet: 'SYN', n: 0, window: [-0.004, 0] });
    expect(out.closeAt).toBe(131);
    expect(out.hz).toBe(250);
    expect(out.peer).toBeUndefined(); // no peer to speak of in SYN-SENT
    expect(out.errno).toBe('ETIMEDOUT');
    expect(Array.isArray(out.notes)).toBe(true);
  });

  it('--sysctl and --kernel', () => {
    expect(json(['syn-sent', '--json', '--sysctl', 'tcp_syn_retries=3']).closeAt).toBe(19);
    expect(json(['syn-sent', '--json', '--sysctl', 'net.ipv4.tcp_syn_retries=3']).closeAt).toBe(19);
    const old = json(['syn-sent', '--json', '--kernel', '5.2']);
    expect(old.kernel).toBe('5.2');
    expect(old.closeAt).toBe(127);
  });

  it('--sysctl out of the kernel\'s range is refused in one line, with the range (the kernel would refuse the write)', () => {
    rejects(['syn-sent', '--sysctl', 'tcp_syn_retries=0'], /^deadpeer model: --sysctl tcp_syn_retries: "0" is not allowed: expected a whole number from 1 to 127\n$/);
    rejects(['syn-sent', '--sysctl', 'tcp_syn_retries=1000'], /--sysctl tcp_syn_retries: "1000" is not allowed: expected a whole number from 1 to 127/);
    rejects(['busy', '--sysctl', 'tcp_retries2=256'], /--sysctl tcp_retries2: "256" is not allowed: expected a whole number from 0 to 255/);
    rejects(['busy', '--sysctl', 'tcp_rto_max_ms=999'], /--sysctl tcp_rto_max_ms: "999" is not allowed: expected a whole number from 1000 to 120000/);
    rejects(['syn-sent', '--sysctl', 'tcp_syn_linear_timeouts=128'], /from 0 to 127/);
    rejects(['idle', '--sysctl', 'tcp_keepalive_time=2147484'], /--sysctl tcp_keepalive_time: "2147484" is not allowed: expected a whole number from 0 to 2147483/); // INT_MAX jiffies at HZ 1000
    rejects(['idle', '--sysctl', 'tcp_keepalive_time=8589935', '--hz', '250'], /from 0 to 8589934/);
    expect(json(['syn-sent', '--json', '--sysctl', 'tcp_syn_retries=1']).closeAt).toBe(3);
    expect(json(['syn-sent', '--json', '--sysctl', 'tcp_syn_retries=127']).closeAt).toBeGreaterThan(0);
  });

  it('a value with a newline or control characters is echoed escaped, and a long one cut: still one line', () => {
    rejects(['id\nle'], /^deadpeer model: unknown phase "id\\nle": expected one of /);
    rejects(['idle', '--kernel', '6.1\n\u001b[2J'], /^deadpeer model: --kernel: "6\.1\\n\\u001b\[2J" is not allowed: expected X\.Y/);
    rejects(['idle', '--kernel', 'a'.repeat(5000)], /^deadpeer model: --kernel: "a{79}…" \(5000 characters\) is not allowed: expected X\.Y or X\.Y\.Z, e\.g\. 6\.1\n$/);
  });

  it('--keepalive and --user-timeout (idle)', () => {
    const out = json(['idle', '--json', '--keepalive', '1:11:3', '--user-timeout', '40000']);
    expect(out.events.filter((e: { packet: string }) => e.packet === 'KEEPALIVE')).toHaveLength(4);
    expect(out.closeAt).toBe(45);
    expect(json(['idle', '--json']).closeAt).toBeNull();
  });

  it('--syncnt, --defer-accept, --peer, --family', () => {
    expect(json(['syn-sent', '--json', '--syncnt', '2', '--sysctl', 'tcp_syn_linear_timeouts=0']).closeAt).toBe(7);
    const d = json(['defer-accept', '--json', '--defer-accept', '5', '--peer', 'alive']);
    expect(d.acceptAt).toBe(7);
    expect(d.closeAt).toBeNull();
    const gone = json(['defer-accept', '--json', '--defer-accept', '5']);
    expect(gone.peer).toBe('gone'); // the default: the question is a vanished peer
    expect(gone.acceptAt).toBeNull();
    expect(gone.closeAt).toBe(63);
    expect(json(['zero-window', '--json']).errno).toBe('ETIMEDOUT');
    expect(json(['zero-window', '--json', '--peer', 'alive']).closeAt).toBeNull();
    expect(json(['busy', '--json', '--family', '6']).family).toBe(6);
    // U from the first RTO retransmission, which comes after the tail loss probe (0.204 + 0.204 s)
    expect(json(['busy', '--json', '--user-timeout', '5000']).closeAt).toBe(5.408);
    expect(json(['busy', '--json', '--user-timeout', '5000', '--tlp', 'off']).closeAt).toBe(5.204);
    expect(json(['syn-recv', '--json']).closeAt).toBe(63);
  });

  it('--peer alive is modelled where it means something: idle and busy never give up, a SYN-RECV client answers', () => {
    // the example: the peer answers its keepalives, so the kernel never gives up
    const idle = json(['idle', '--keepalive', '5:3:3', '--peer', 'alive', '--json']);
    expect(idle.closeAt).toBeNull();
    expect(idle.closeWindow).toBeNull();
    expect(idle.errno).toBeNull();
    // each probe answered: the next comes TCP_KEEPIDLE after it (the firing at +INTVL finds the connection idle 3 s < 5 s)
    expect(idle.events.map((e: { t: number }) => e.t)).toEqual([5, 10, 15]);
    expect(json(['idle', '--keepalive', '2:3:3', '--peer', 'alive', '--json']).events.map((e: { t: number }) => e.t)).toEqual([2, 5, 8]);
    expect(json(['idle', '--keepalive', '5:3:3', '--json']).closeAt).toBe(14);
    const busy = json(['busy', '--peer', 'alive', '--json']);
    expect(busy.closeAt).toBeNull();
    expect(busy.events).toHaveLength(1);
    const recv = json(['syn-recv', '--peer', 'alive', '--json']);
    expect(recv.acceptAt).toBe(1);
    expect(recv.closeAt).toBeNull();
    // a server that answers is not a vanished peer: the model has no such question (refused); the default is answered
    rejects(['syn-sent', '--peer', 'alive'], /^deadpeer model: --peer cannot be answered in syn-sent: a server that answers ends SYN-SENT at once/);
    expect(json(['syn-sent', '--peer', 'gone', '--json']).closeAt).toBe(json(['syn-sent', '--json']).closeAt);
  });

  it('closeWindow and each event window come from the timer wheel, and the text prints the range', () => {
    // the example: the kernel lands 0.3–0.8 s after the old single number (12.852 s, no TLP)
    const busy = json(['busy', '--sysctl', 'net.ipv4.tcp_retries2=5', '--json']);
    expect(busy.closeAt).toBe(13.056);
    expect(busy.closeWindow).toEqual([13.052, 13.7]);
    expect(busy.events.at(-1).window).toEqual([6.524, 6.912]);
    expect(busy.inputs).toEqual({ peer: 'gone', rtoMs: 204, tlpMs: 204 });
    expect(json(['busy', '--sysctl', 'tcp_retries2=5', '--tlp', 'off', '--json']).closeAt).toBe(12.852);
    // at HZ 1000 the jiffy is 1 ms and the granules differ
    const fine = json(['busy', '--sysctl', 'tcp_retries2=5', '--hz', '1000', '--json']);
    expect(fine.hz).toBe(1000);
    // the last wait (12.864 s) is on level 3 of the wheel (512 ms granules): the chain's lateness can meet the
    // budget (12.6 s from the first RTO retransmission) at the firing before the ideal close, so the
    // window reaches back to the budget from the earliest start, and that retransmission is optional
    const budget = tcpModelTimeoutMs(5, 200, 120_000, 1000) / 1000;
    expect(fine.closeWindow[0]).toBeCloseTo(fine.events[2].t - 0.001 + budget, 9);
    expect(fine.events.at(-1).optional).toBe(true);
    expect(fine.events.slice(0, -1).some((e: { optional?: boolean }) => e.optional)).toBe(false);
    const text = runModel(['busy', '--sysctl', 'tcp_retries2=5'], env).stdout;
    expect(text).toMatch(/gives up at 13\.056 s: ETIMEDOUT\n  on the timer wheel: between 13\.052 and 13\.700 s — at most 4 ms \(one jiffy\) early.* up to 0\.644 s late/);
    expect(text).toMatch(/6\.528 +client +RETRANSMIT +6 +6\.524 … 6\.912/);
  });

  /**
   * The kernel's own derivation, written out independently: icsk_rto_min is whole jiffies
   * (usecs_to_jiffies of the sysctl), tcp_rto_min_us(sk) that many jiffies in µs; a settled
   * estimator holds rttvar at that floor; __tcp_set_rto() rounds srtt + rttvar up to a jiffy.
   */
  const settledRtoMs = (rttUs: number, rtoMinUs: number, hz: number) => {
    const jUs = 1e6 / hz;
    const floorUs = Math.ceil(rtoMinUs / jUs) * jUs;
    return (Math.ceil((rttUs + floorUs) / jUs) * jUs) / 1000;
  };

  it('--rto sets the initial RTO; without it the assumption is in the notes', () => {
    const assumed = json(['busy', '--sysctl', 'tcp_rto_min_us=50000', '--json']);
    // 50 ms is 12.5 jiffies at HZ 250: the kernel keeps 13 (52 ms) as the floor, and the RTT on top crosses into the 14th
    expect(assumed.inputs.rtoMs).toBe(settledRtoMs(50, 50_000, 250));
    expect(assumed.inputs.rtoMs).toBe(56);
    expect(assumed.inputs.tlpMs).toBe(56); // 2·srtt + the same floor, capped by the RTO
    expect(assumed.notes.join('\n')).toMatch(/assumed: the RTO is 56 ms, tcp_rto_min 50 ms \(52 ms: the kernel keeps it in whole jiffies\) plus a tiny RTT/);
    expect(json(['busy', '--json']).inputs.rtoMs).toBe(settledRtoMs(50, 200_000, 250)); // 204: unchanged where rto_min is whole jiffies
    expect(json(['busy', '--json', '--hz', '1000', '--sysctl', 'tcp_rto_min_us=50000']).inputs.rtoMs).toBe(settledRtoMs(50, 50_000, 1000));
    const given = json(['busy', '--sysctl', 'tcp_rto_min_us=50000', '--rto', '60', '--json']);
    expect(given.inputs.rtoMs).toBe(60);
    expect(given.notes.join('\n')).not.toMatch(/assumed: the RTO/);
    expect(given.closeAt).not.toBe(assumed.closeAt);
    expect(json(['zero-window', '--rto', '300', '--json']).events[0].t).toBe(0.3); // tcp_probe0_base = max(rto, TCP_RTO_MIN)
    expect(json(['zero-window', '--json']).notes.join('\n')).toMatch(/assumed: the RTO is 204 ms/);
  });

  it('--rtt: the RTO and the TLP derived from the path\'s RTT the kernel\'s way; not with --rto or --tlp MS', () => {
    for (const [rtt, rtoMin, hz] of [[50, 200_000, 250], [50, 50_000, 250], [12.5, 10_000, 1000], [300, 200_000, 250]] as const) {
      const argv = ['busy', '--rtt', String(rtt), '--hz', String(hz), '--sysctl', `tcp_rto_min_us=${rtoMin}`, '--json'];
      const out = json(argv);
      // the estimator's integer decay leaves rttvar 0–3 µs above its floor, which can cross a jiffy
      const rto = out.inputs.rtoMs;
      expect([0, 1, 2, 3].map((r) => settledRtoMs(rtt * 1000 + r, rtoMin, hz))).toContainEqual(rto);
      // tcp_schedule_loss_probe: 2·srtt + tcp_rto_min_us(sk), rounded up to a jiffy, capped by the RTO
      const jUs = 1e6 / hz;
      const tlp = Math.min((Math.ceil((2 * rtt * 1000 + Math.ceil(rtoMin / jUs) * jUs) / jUs) * jUs) / 1000, rto);
      expect(out.inputs.tlpMs).toBeCloseTo(tlp, 9);
      expect(out.inputs.rttMs).toBe(rtt);
      expect(out.notes.join('\n')).toMatch(new RegExp(`the RTO is ${out.inputs.rtoMs} ms: what tcp_rtt_estimator\\(\\) settles on for a steady RTT of ${rtt} ms`));
      // the same answer as giving the RTO and the TLP it derives
      const given = json(['busy', '--rto', String(out.inputs.rtoMs), '--tlp', String(out.inputs.tlpMs), '--hz', String(hz), '--json']);
      expect([given.events, given.closeAt]).toEqual([out.events, out.closeAt]);
    }
    expect(json(['zero-window', '--rtt', '50', '--json']).events[0].t).toBe(settledRtoMs(50_000, 200_000, 250) / 1000);
    expect(json(['busy', '--rtt', '50', '--tlp', 'off', '--json']).inputs).toEqual({ peer: 'gone', rtoMs: settledRtoMs(50_000, 200_000, 250), tlpMs: null, rttMs: 50 });
    rejects(['busy', '--rtt', '50', '--rto', '300'], /^deadpeer model: --rtt and --rto: the RTO is what the kernel derives from the RTT/);
    rejects(['busy', '--rtt', '50', '--tlp', '100'], /^deadpeer model: --rtt and --tlp MS: the tail loss probe follows from the RTT/);
    rejects(['busy', '--rtt', '0'], /--rtt: "0" is not allowed: expected ms from 0\.001 to 120000/);
  });

  it('zero-window --peer-gone-at: the receiver answers (rate-limited) until it vanishes', () => {
    const now = json(['zero-window', '--sysctl', 'tcp_retries2=3', '--json']);
    const later = json(['zero-window', '--sysctl', 'tcp_retries2=3', '--peer-gone-at', '0.3', '--json']);
    // the first probe (0.204 s) is answered, so three unanswered ones in a row take one probe more
    // (the backoff stops growing at tcp_retries2: the fourth waits 1.632 s again)
    expect(now.closeAt).toBe(3.06);
    expect(later.events).toHaveLength(4);
    expect(later.closeAt).toBe(4.692);
    rejects(['zero-window', '--peer', 'alive', '--peer-gone-at', '1'], /--peer-gone-at cannot be answered in zero-window: --peer-gone-at applies to zero-window with --peer gone/);
  });

  it('6.19: --rto-max (and tcp_rto_max_ms) reach the SYN-RECV request timer; before, the kernel ignores them there (answered); where they do not exist, refused', () => {
    expect(json(['syn-recv', '--kernel', '6.19', '--rto-max', '2000', '--json']).closeAt).toBe(11);
    expect(json(['syn-recv', '--kernel', '6.19', '--sysctl', 'tcp_rto_max_ms=2000', '--json']).closeAt).toBe(11);
    const old = json(['syn-recv', '--kernel', '6.18', '--rto-max', '2000', '--json']);
    expect(old.closeAt).toBe(json(['syn-recv', '--kernel', '6.18', '--json']).closeAt);
    expect(old.ignoredByKernel).toEqual(['rto-max']);
    expect(old.ignoredByKernelWhy['rto-max']).toMatch(/before 6\.19 the request timer's backoff is capped by the constant TCP_RTO_MAX.*1e9d3005e02c/);
    rejects(['busy', '--kernel', '6.14', '--rto-max', '2000'], /--rto-max cannot be answered in busy: Linux 6\.14\.0 has no TCP_RTO_MAX_MS \(6\.15\+\)/);
    rejects(['busy', '--kernel', '6.1', '--sysctl', 'tcp_rto_max_ms=2000'], /--sysctl tcp_rto_max_ms cannot be answered in busy: does not exist on Linux 6\.1\.0 \(6\.15\+\)/);
  });

  it('--kernel has a floor: the oldest release the model knows, refused below it in one line', () => {
    const oldest = OLDEST_RELEASE.slice(0, 2).join('.');
    const below = `${OLDEST_RELEASE[0]}.${OLDEST_RELEASE[1] - 1}`;
    expect(json(['syn-sent', '--kernel', oldest, '--json']).kernel).toBe(oldest);
    // the examples: 2.6.30 (a 3 s first SYN) and 3.11 (SYN+ACKs from a 200 ms scan)
    for (const k of ['2.6.30', '3.11', below, '4.18.20']) {
      rejects(['syn-sent', '--kernel', k], new RegExp(`^deadpeer model: --kernel: "${k.replace(/\./g, '\\.')}" is older than the oldest release the model knows, ${oldest.replace('.', '\\.')}: `));
    }
    expect(runModel(['--help'], env).stdout).toMatch(/--kernel X\.Y .*\(4\.19 or later/);
  });

  it('without --json: a short human table', () => {
    const r = runModel(['syn-sent', '--sysctl', 'tcp_syn_retries=3'], env);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/phase syn-sent/);
    expect(r.stdout).toMatch(/11\.000 +client +SYN/);
    expect(r.stdout).toMatch(/gives up at 19\.000 s: ETIMEDOUT/);
  });

  it('--help', () => {
    const r = runModel(['--help'], env);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/usage: deadpeer model <phase>/);
    expect(runModel(['idle', '-h'], env).code).toBe(0);
  });

  it('rejects bad input with exit 2 and one line saying what is allowed', () => {
    rejects(['nope'], /unknown phase "nope": expected one of syn-sent, syn-recv/);
    rejects([], /missing phase/);
    rejects(['idle', 'busy'], /exactly one phase/);
    rejects(['idle', '--frobnicate'], /unknown option "--frobnicate": allowed options are .*--keepalive/);
    rejects(['idle', '--user-timeout', 'abc'], /--user-timeout: "abc" is not allowed: expected a whole number from 0/);
    rejects(['idle', '--user-timeout', '-5'], /--user-timeout: "-5" is not allowed/);
    rejects(['idle', '--user-timeout'], /--user-timeout needs a value/);
    rejects(['idle', '--keepalive', '1:2'], /--keepalive: "1:2" is not allowed: expected IDLE:INTVL:CNT/);
    rejects(['idle', '--keepalive', '1:0:3'], /--keepalive INTVL: "0" is not allowed/);
    rejects(['idle', '--keepalive', '1:2:200'], /--keepalive CNT: "200" is not allowed: expected a whole number from 1 to 127/);
    rejects(['syn-sent', '--syncnt', '0'], /--syncnt: "0" is not allowed/);
    rejects(['syn-sent', '--family', '5'], /--family: "5" is not allowed: expected 4 or 6/);
    rejects(['zero-window', '--peer', 'dead'], /--peer: "dead" is not allowed: expected alive or gone/);
    rejects(['syn-sent', '--sysctl', 'tcp_syn_retries'], /--sysctl: "tcp_syn_retries" is not allowed: expected NAME=VALUE/);
    rejects(['syn-sent', '--sysctl', 'tcp_bogus=1'], /unknown sysctl "tcp_bogus"/);
    rejects(['syn-sent', '--sysctl', 'tcp_syn_retries=x'], /--sysctl tcp_syn_retries: "x" is not allowed/);
    rejects(['syn-sent', '--kernel', 'six'], /--kernel: "six" is not allowed: expected X.Y/);
    rejects(['syn-sent', '--json=yes'], /--json takes no value/);
    rejects(['busy', '--rto', '0'], /--rto: "0" is not allowed: expected ms from 1 to 120000/);
    rejects(['busy', '--tlp', 'never'], /--tlp: "never" is not allowed: expected ms \(or off\)/);
    rejects(['busy', '--hz', '200'], /--hz: "200" is not allowed: expected one of 100, 250, 300, 1000/);
    rejects(['busy', '--rto-max', '500'], /--rto-max: "500" is not allowed: expected a whole number from 1000 to 120000/);
    rejects(['zero-window', '--peer-gone-at', '-1'], /--peer-gone-at: "-1" is not allowed/);
    // what the model cannot represent is refused in one line naming the option
    rejects(['idle', '--blip', '5', '--peer', 'alive', '--keepalive', '5:3:3'], /^deadpeer model: --blip cannot be answered in idle: with --peer alive nothing is lost/);
    rejects(['syn-recv', '--blip', '5'], /^deadpeer model: --blip cannot be answered in syn-recv: the blip model is for a connection the application holds/);
    rejects(['busy', '--peer-answered-before', '1'], /^deadpeer model: --peer-answered-before cannot be answered in busy/);
  });

  it('what the kernel ignores is answered, not refused: the answer without it, the option named in ignoredByKernel with the kernel\'s reason', () => {
    const ignored = (argv: string[], without: string[], names: string[], why: RegExp) => {
      const withIt = json([...argv, '--json']);
      const plain = json([...without, '--json']);
      expect([withIt.events, withIt.closeAt, withIt.closeWindow, withIt.errno]).toEqual([plain.events, plain.closeAt, plain.closeWindow, plain.errno]);
      expect(withIt.ignoredByKernel).toEqual(names);
      expect(plain.ignoredByKernel).toEqual([]);
      for (const n of names) expect(withIt.ignoredByKernelWhy[n]).toMatch(why);
      expect(withIt.notes.join('\n')).toMatch(new RegExp(`ignored by the kernel here: --${names[0]} — `));
      return withIt;
    };
    // the acceptance: syn-sent with keepalive: the same closeAt, ignoredByKernel ["keepalive"]
    const synSent = ignored(['syn-sent', '--keepalive', '1:1:1'], ['syn-sent'], ['keepalive'], /tcp_keepalive_timer\(\) does nothing before the connection is established/);
    expect(synSent.closeAt).toBe(json(['syn-sent', '--json']).closeAt);
    // idle with U but no keepalive: never noticed, closeAt null
    const idle = ignored(['idle', '--user-timeout', '5000'], ['idle'], ['user-timeout'], /without --keepalive no timer runs on an idle connection, so nothing ever checks TCP_USER_TIMEOUT/);
    expect(idle.closeAt).toBeNull();
    expect(idle.closeWindow).toBeNull();
    ignored(['busy', '--keepalive', '5:3:3'], ['busy'], ['keepalive'], /tcp_keepalive_timer\(\) only reschedules while data is unacknowledged/);
    ignored(['syn-recv', '--keepalive', '5:3:3', '--user-timeout', '5000'], ['syn-recv'], ['keepalive', 'user-timeout'], /does not reach the request minisocket/);
    ignored(['busy', '--user-timeout', '5000', '--sysctl', 'tcp_retries2=5'], ['busy', '--user-timeout', '5000'], ['sysctl tcp_retries2'], /TCP_USER_TIMEOUT \(--user-timeout\) replaces the tcp_retries2 budget \(retransmits_timed_out\)/);
    ignored(['syn-recv', '--defer-accept', '5'], ['syn-recv'], ['defer-accept'], /syn_ack_recalc\(\)/);
    // the text says it too, and exits 0
    const text = runModel(['syn-sent', '--keepalive', '1:1:1'], env);
    expect(text.code).toBe(0);
    expect(text.stdout).toMatch(/ignored by the kernel here: --keepalive — tcp_keepalive_timer\(\)/);
    // an explicitly given default is never refused, nor listed: it is the answer's premise
    for (const argv of [['syn-sent', '--peer', 'gone'], ['idle', '--user-timeout', '0'], ['busy', '--defer-accept', '0'], ['defer-accept', '--peer', 'gone']]) {
      const out = json([...argv, '--json']);
      expect(out.ignoredByKernel).toEqual([]);
      expect(JSON.stringify(out)).toBe(JSON.stringify(json([argv[0]!, '--json'])));
    }
  });

  it('parseModelArgs returns the parsed options', () => {
    const p = parseModelArgs(['idle', '--keepalive', '5:3:3', '--sysctl', 'tcp_retries2=5', '--sysctl', 'tcp_syn_retries=2']);
    expect(p).toEqual({
      kind: 'args',
      args: {
        phase: 'idle',
        json: false,
        family: 4,
        keepalive: { idle: 5, intvl: 3, cnt: 3 },
        sysctls: { tcp_retries2: 5, tcp_syn_retries: 2 },
      },
    });
  });

  it('modelArgv is the inverse of parseModelArgs', () => {
    const argvs = [
      ['busy', '--json', '--family', '6', '--user-timeout', '5002', '--rto', '56.5', '--tlp', 'off', '--rto-max', '1000', '--sysctl', 'tcp_retries2=5', '--kernel', '6.18', '--hz', '1000'],
      ['zero-window', '--peer', 'gone', '--peer-gone-at', '0.25', '--tlp', '4'],
      ['idle', '--keepalive', 'on', '--peer', 'alive'],
      ['defer-accept', '--syncnt', '3', '--defer-accept', '5'],
      ['idle', '--middlebox', 'aws-nlb', '--write-at', '351s', '--keepalive', '400:10:3'],
      ['idle', '--middlebox', 'idle-expiry:1m:reset:nat'],
    ];
    for (const argv of argvs) {
      const p = parseModelArgs(argv);
      expect(p.kind).toBe('args');
      const args = (p as { args: Parameters<typeof modelArgv>[0] }).args;
      expect(parseModelArgs(modelArgv(args))).toEqual(p);
    }
  });

  describe('idle --middlebox: the path between forgets the connection', () => {
    /** the busy chain a write through a dropping box starts, asked of predictBusy directly at the RTO/TLP the command assumes */
    const busyCloseAt = () => {
      const f = env.features;
      const sysctls = defaultSysctls(f);
      return predictBusy({ sysctls, socket: defaultSocket(sysctls), features: f, peer: 'gone', rtoMs: 204, tlpMs: 204 }).closeAt!;
    };

    it('idle-expiry:6s:drop --json, no keepalive: the mapping is lost and the write after it times out at the retransmission chain\'s end', () => {
      const out = json(['idle', '--middlebox', 'idle-expiry:6s:drop', '--json']);
      expect(out.middlebox.mapping).toMatchObject({ kept: 'no', forgottenAtS: 6 });
      expect(out.middlebox.trigger).toEqual({ by: 'write', atS: 7 });
      expect(out.closeAt).toBeCloseTo(7 + busyCloseAt(), 6);
      expect(out.errno).toBe('ETIMEDOUT');
      expect(out.middlebox.outcome.errno).toBe('ETIMEDOUT');
      expect(out.events[0]).toMatchObject({ t: 7, packet: 'DATA' });
      expect(out.origin).toBe("the last packet that crossed the middlebox (the handshake's end)");
      expect(out.notes).toContain('assumed: the application writes at 7 s, one second after the 6 s idle timeout (--write-at D says when)');
      expect(out.ignoredByKernel).toEqual([]);
    });

    it('with --keepalive 2:1:3 the mapping is kept and the write is acknowledged', () => {
      const out = json(['idle', '--middlebox', 'idle-expiry:6s:drop', '--keepalive', '2:1:3', '--json']);
      expect(out.middlebox.mapping.kept).toBe('yes');
      expect(out.middlebox.trigger).toBeNull();
      expect(out.closeAt).toBeNull();
      expect(out.errno).toBeNull();
      expect(out.middlebox.outcome.line).toBe('the write at 7 s is acknowledged: the mapping was kept');
    });

    it('reset: the write at 9 s fails at once with ECONNRESET; the options a RST makes moot are named', () => {
      const out = json(['idle', '--middlebox', 'idle-expiry:6s:reset', '--write-at', '9s', '--user-timeout', '5000', '--json']);
      expect(out.closeAt).toBe(9);
      expect(out.errno).toBe('ECONNRESET');
      expect(out.ignoredByKernel).toEqual(['user-timeout']);
      expect(out.ignoredByKernelWhy['user-timeout']).toMatch(/meets a RST: ECONNRESET at once/);
      // dropped instead, TCP_USER_TIMEOUT is the write's budget
      const drop = json(['idle', '--middlebox', 'idle-expiry:6s:drop', '--write-at', '9s', '--user-timeout', '5000', '--json']);
      expect(drop.ignoredByKernel).toEqual([]);
      expect(drop.closeAt).toBeLessThan(9 + 6);
    });

    it('the text says whether the mapping is kept, what meets it, what each end sees', () => {
      const r = runModel(['idle', '--middlebox', 'aws-nat-gateway', '--keepalive', '400:10:3'], env);
      expect(r.code).toBe(0);
      expect(r.stdout).toMatch(/^the idle connection keeps its mapping: no — the client's keepalive first probes at 400 s/m);
      expect(r.stdout).toMatch(/^the first transmission after the expiry \(350 s\): the write at 351 s$/m);
      expect(r.stdout).toMatch(/^the client: the write at 351 s fails after ~0 s with ECONNRESET/m);
      expect(r.stdout).toMatch(/^the server: stays ESTABLISHED for ever/m);
    });

    it('refused in one line: other phases, a NAT on IPv6, a vanished peer or a blip beside it, --write-at alone, a fractional timeout, twice', () => {
      rejects(['busy', '--middlebox', 'aws-nlb'], /^deadpeer model: --middlebox cannot be answered in busy: a middlebox forgets an IDLE connection: ask `deadpeer model idle --middlebox …`/);
      rejects(['idle', '--middlebox', 'aws-nat-gateway', '--family', '6'], /^deadpeer model: --middlebox cannot be answered in idle: aws-nat-gateway is a NAT \(IPv4 only\): use IPv4, or idle-expiry:350s:reset:firewall for IPv6\n$/);
      rejects(['idle', '--middlebox', 'aws-nlb', '--peer', 'alive'], /^deadpeer model: --peer cannot be answered in idle: with --middlebox the peer stays/);
      rejects(['idle', '--middlebox', 'aws-nlb', '--blip', '3'], /^deadpeer model: --blip cannot be answered in idle: with --middlebox the path forgets/);
      rejects(['idle', '--write-at', '9s'], /^deadpeer model: --write-at cannot be answered in idle: --write-at applies with --middlebox/);
      rejects(['idle', '--middlebox', 'idle-expiry:1.5s:reset'], /^deadpeer model: --middlebox: "idle-expiry:1.5s:reset": the idle timeout must be whole seconds .*conntrack's nf_conntrack_tcp_timeout_established counts whole seconds/);
      rejects(['idle', '--middlebox', 'aws'], /^deadpeer model: --middlebox: unknown middlebox "aws": .*presets: aws-nat-gateway, aws-nlb/);
      rejects(['idle', '--middlebox', 'aws-nlb', '--write-at', 'later'], /^deadpeer model: --write-at: "later" is not allowed: expected a duration such as 30s/);
      rejects(['idle', '--middlebox', 'aws-nlb', '--middlebox', 'azure-lb'], /^deadpeer model: --middlebox is given twice: keep one\n$/);
    });
  });
});
