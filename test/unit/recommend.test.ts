import { describe, expect, it } from 'vitest';
import { MARGIN_FLOOR_S, outcome, searchSettings } from '../../harness/apps/recommend/search.js';
import { recommendArgsFrom, recommendByModel } from '../../harness/apps/recommend/recommend.js';
import { socketSettingsFor } from '../../harness/apps/check/run.js';
import { predictPhases } from '../../harness/apps/check/advice.js';
import { predictBlip } from '../../harness/model/blip.js';
import { predictIdle } from '../../harness/model/idle.js';
import { MIDDLEBOX_PRESETS, predictPath } from '../../harness/model/index.js';
import { defaultSysctls, featuresForRelease } from '../../harness/model/index.js';
import { predictionWindows } from '../../harness/model/windows.js';
import { parseRecommendArgs } from '../../cli/recommend.js';
import { InputError } from '../../harness/core/errors.js';
import type { KeepaliveConfig, SocketConfig } from '../../harness/apps/check/presets.js';

/** A recommendation's keepalive: always all three values. */
const ka = (c: SocketConfig) => c.keepalive as Required<KeepaliveConfig>;

/** The search, by the model alone: what it finds must hold by the model, at the window's end. */
const features = featuresForRelease('6.18.0', 250);
const sysctls = defaultSysctls(features);
const env = { sysctls, features };
const ALL = ['connect', 'idle', 'busy', 'zero-window'] as const;
const KEY = { connect: 'connect', idle: 'idle', busy: 'busy', 'zero-window': 'zeroWindow' } as const;

describe('deadpeer recommend: the search', () => {
  it('every phase noticed within the budget at the late end of the wheel window, and the blip survived at its worst placement', () => {
    const r = searchSettings({ detectS: 30, surviveS: 5, phases: [...ALL], client: 'raw' }, env);
    expect(r.ok).toBe(true);
    if (!r.ok) return;
    // checked again here, from the model's own functions, not from what the search says of itself
    const p = predictPhases({ sysctls, features, socket: socketSettingsFor(r.best.config, sysctls) });
    for (const ph of ALL) {
      const pred = p[KEY[ph]];
      const close = predictionWindows(pred, features.hz).close!;
      expect(close.window[1], ph).toBeLessThanOrEqual(30);
      const first = ph === 'connect' || ph === 'busy' ? 0 : pred.events[0]!.t;
      expect(predictBlip(pred, first + 5, features.hz).survives, ph).toBe(true);
    }
  });

  it('prefers the least keepalive traffic: no longer TCP_KEEPIDLE meets both numbers with the margin floor kept', () => {
    const r = searchSettings({ detectS: 30, surviveS: 5, phases: ['idle'], client: 'raw' }, env);
    expect(r.ok).toBe(true);
    if (!r.ok) return;
    const idle = ka(r.best.config).idle;
    // every longer TCP_KEEPIDLE up to the budget, with a spread of intervals, counts and U: nothing passes
    for (let longer = idle + 1; longer <= 30; longer++)
      for (const intvl of [1, 2, 3, 5])
        for (const cnt of [1, 3, 9])
          for (const u of [0, ...Array.from({ length: 16 }, (_, k) => 20 + k)]) {
            const config = { keepalive: { idle: longer, intvl, cnt }, ...(u ? { userTimeoutMs: u * 1000 } : {}) };
            const o = outcome('idle', predictIdle({ sysctls, features, socket: socketSettingsFor(config, sysctls) }), features.hz, { detectS: 30, surviveS: 5 });
            expect(o.firm !== false && o.blip!.survives === true && Math.min(o.detectMarginS, o.blip!.marginS) >= MARGIN_FLOOR_S, JSON.stringify(config)).toBe(false);
          }
  });

  it('the survive constraint changes the answer: without it the budget alone allows a longer keepalive', () => {
    const with5 = searchSettings({ detectS: 30, surviveS: 5, phases: ['idle'], client: 'raw' }, env);
    const without = searchSettings({ detectS: 30, phases: ['idle'], client: 'raw' }, env);
    expect(with5.ok && without.ok).toBe(true);
    if (with5.ok && without.ok) expect(ka(without.best.config).idle).toBeGreaterThan(ka(with5.best.config).idle);
  });

  it('impossible: a 5 s blip cannot be survived with a 4 s budget, and it says why', () => {
    const r = searchSettings({ detectS: 4, surviveS: 5, phases: [...ALL], client: 'raw' }, env);
    expect(r.ok).toBe(false);
    if (!r.ok) expect(r.why[0]).toMatch(/a 5 s blip cannot be survived with a 4 s budget/);
  });

  it('a client that cannot set TCP_USER_TIMEOUT cannot bound busy: the reason names it and the way around it', () => {
    const r = recommendByModel(recommendArgsFrom({ detect: '30s', client: 'java' }, (f) => `--${f}`), features, sysctls);
    expect(r.ok).toBe(false);
    expect(r.why!.join(' ')).toMatch(/busy: the soonest any setting Java can make notices is .* over the 30 s budget .*TCP_USER_TIMEOUT/);
    expect(r.exitCode).toBe(1);
  });

  it('the code for the client sets what was found', () => {
    const r = recommendByModel(recommendArgsFrom({ detect: '30s', survive: '5s', client: 'python' }, (f) => `--${f}`), features, sysctls);
    expect(r.ok).toBe(true);
    const k = ka(r.config!);
    expect(r.code).toContain(`s.setsockopt(socket.IPPROTO_TCP, socket.TCP_KEEPIDLE, ${k.idle})`);
    expect(r.code).toContain(`s.setsockopt(socket.IPPROTO_TCP, socket.TCP_USER_TIMEOUT, ${r.config!.userTimeoutMs})`);
    const go = recommendByModel(recommendArgsFrom({ detect: '30s', survive: '5s', client: 'go' }, (f) => `--${f}`), features, sysctls);
    expect(go.code!.join('\n')).toMatch(/KeepAliveConfig: net.KeepAliveConfig\{Enable: true, Idle: \d+ \* time.Second/);
    expect(go.code!.join('\n')).toMatch(/unix.TCP_USER_TIMEOUT/);
  });
});

describe('deadpeer recommend: input', () => {
  it.each([
    [[], '--detect is required'],
    [['--detect', 'soon'], '--detect: "soon" is not allowed'],
    [['--detect', '30s', '--client', 'cobol'], '--client: "cobol" is not allowed: expected raw, node, go, python, libpq, java, curl'],
    [['--detect', '30s', '--phases', 'idle,nap'], '--phases: unknown phase "nap"'],
    [['--detect', '30s', '--survive', '0'], '--survive: "0" is not allowed'],
    [['--detect', '30s', 'extra'], 'unexpected argument "extra"'],
    // a negative value is a value, judged as one — not node's "argument is ambiguous"
    [['--detect', '-5'], '--detect: "-5" is not allowed: expected a duration'],
    [['--detect', '30s', '--survive', '-2s'], '--survive: "-2s" is not allowed'],
  ])('%j → one line', (argv, message) => {
    const r = parseRecommendArgs(argv);
    expect(r.kind).toBe('error');
    expect((r as { message: string }).message.startsWith(message)).toBe(true);
  });

  it('recommend() options are validated the same way', () => {
    expect(() => recommendArgsFrom({ detect: '30s', client: 'cobol' }, (f) => `recommend(): ${f}`)).toThrow(InputError);
  });
});

describe('deadpeer recommend --middlebox', () => {
  const asked = (q: Record<string, unknown>) => recommendByModel(recommendArgsFrom(q, (f) => `--${f}`), features, sysctls);

  it('keeps TCP_KEEPIDLE + TCP_KEEPINTVL below the idle timeout with the margin stated, and the model says the mapping is kept, through one lost probe', () => {
    const free = asked({ detect: '20m', phases: 'idle' });
    const kept = asked({ detect: '20m', phases: 'idle', middlebox: 'aws-nat-gateway' });
    expect(free.ok && kept.ok).toBe(true);
    expect(ka(free.config!).idle + ka(free.config!).intvl).toBeGreaterThanOrEqual(350); // without it, fewer probes win
    const k = ka(kept.config!);
    expect(k.idle + k.intvl).toBeLessThan(350);
    const socket = socketSettingsFor(kept.config!, sysctls);
    const path = predictPath({ sysctls, features, socket, middlebox: MIDDLEBOX_PRESETS['aws-nat-gateway']!, writeAtS: 3600, rtoMs: 204 });
    expect(path.mapping.kept).toBe('yes');
    // one probe lost: the next one, TCP_KEEPINTVL later, is still inside the timeout
    expect(predictPath({ sysctls, features, socket: { ...socket, keepIdle: k.idle + k.intvl }, middlebox: MIDDLEBOX_PRESETS['aws-nat-gateway']!, rtoMs: 204 }).mapping.kept).not.toBe('no');
    expect(kept.middlebox).toEqual({
      name: 'aws-nat-gateway',
      idleTimeoutS: 350,
      rule: expect.stringMatching(/^TCP_KEEPIDLE \+ TCP_KEEPINTVL, plus the timer wheel's lateness and a round trip \(≤ 0\.1 s\), below the 350 s idle timeout/),
      client: expect.stringMatching(/^a C program sets TCP_KEEPIDLE setsockopt/),
    });
    expect(asked({ detect: '20m', phases: 'idle', client: 'node', middlebox: 'aws-nat-gateway' }).middlebox!.client).toMatch(/^Node\.js sets TCP_KEEPIDLE only through socket\.setKeepAlive\(true, ms\)/);
    expect(free.middlebox).toBeUndefined();
  });

  it('refused without idle among the phases; nothing below a 1 s timeout, and it says why', () => {
    expect(() => recommendArgsFrom({ detect: '30s', phases: 'busy', middlebox: 'azure-lb' }, (f) => `--${f}`)).toThrow(
      new InputError("--middlebox: the keepalive of an idle connection is what keeps a middlebox's mapping: add idle to --phases"),
    );
    expect(parseRecommendArgs(['--detect', '30s', '--middlebox', 'idle-expiry:1.5s:drop'])).toEqual({
      kind: 'error',
      message: '--middlebox: "idle-expiry:1.5s:drop": the idle timeout must be whole seconds from 1 to 2147483 (conntrack\'s nf_conntrack_tcp_timeout_established counts whole seconds), not 1.5 s',
    });
    const none = asked({ detect: '30s', phases: 'idle', middlebox: 'idle-expiry:1s:drop' });
    expect(none.ok).toBe(false);
    expect(none.why![0]).toMatch(/^idle: no keepalive a C program can set within the budget keeps idle-expiry:1s:drop:firewall's mapping through one lost probe/);
  });
});
