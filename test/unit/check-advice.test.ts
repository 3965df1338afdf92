import { describe, expect, it } from 'vitest';
import { socketSettingsFor } from '../../harness/apps/check/run.js';
import { advise, adviseServer, humanDuration, predictPhases, predictServerZeroWindow } from '../../harness/apps/check/advice.js';
import { INHERITANCE, inheritedOptions } from '../../harness/model/inherit.js';
import { defaultSysctls, featuresForRelease } from '../../harness/model/features.js';
import { findPreset, matchingPresets, type SocketConfig } from '../../harness/apps/check/presets.js';

/** Advice lines, each derived from the model at the host's sysctls (here: a new namespace's defaults). */
const features = featuresForRelease('6.18.0', 250);
const sysctls = defaultSysctls(features);
const input = (c: SocketConfig) => ({ sysctls, features, socket: socketSettingsFor(c, sysctls) });
const adviceFor = (c: SocketConfig) => advise(input(c));
const preset = (name: string) => findPreset(name)!.config;

describe('deadpeer check advice', () => {
  it('keepalive off: an idle dead peer is never noticed', () => {
    expect(adviceFor({}).some((l) => l.startsWith('keepalive is off: a peer that vanishes while the connection is idle is never noticed'))).toBe(true);
    expect(predictPhases(input({})).idle.closeAt).toBeNull();
  });

  it('no TCP_USER_TIMEOUT: the busy detection time is the model’s at tcp_retries2', () => {
    const busy = predictPhases(input({})).busy.closeAt!;
    const line = adviceFor({}).find((l) => l.startsWith('no TCP_USER_TIMEOUT'))!;
    expect(line).toContain(`≈${humanDuration(busy)} (the model at tcp_retries2 = ${sysctls.tcp_retries2})`);
    expect(adviceFor({ userTimeoutMs: 20000 }).some((l) => l.startsWith('no TCP_USER_TIMEOUT'))).toBe(false);
  });

  it('U ≥ IDLE + INTVL×CNT: TCP_KEEPCNT is meaningless, with the probe count the model gives', () => {
    // 5 + 3×3 = 14 s: U 20 s means aborting at the 20 s firing after 5 probes, not at 14 s after 3
    const line = adviceFor({ keepalive: { idle: 5, intvl: 3, cnt: 3 }, userTimeoutMs: 20000 }).find((l) => l.includes('TCP_KEEPCNT is meaningless'))!;
    expect(line).toContain('= 14 s');
    expect(line).toContain('noticed at 20 s after 5 probes instead of 14 s after 3');
    expect(adviceFor(preset('reference')).find((l) => l.includes('TCP_KEEPCNT is meaningless'))).toContain('U alone decides');
    expect(adviceFor({ keepalive: { idle: 5, intvl: 3, cnt: 3 }, userTimeoutMs: 12000 }).some((l) => l.includes('meaningless'))).toBe(false);
  });

  it('U far below the keepalive interval: one lost probe kills the connection', () => {
    // Go's 15/15/9 with gRPC's 20 s user timeout: abort at the 30 s firing after a single probe
    const line = adviceFor({ ...preset('go-1.23'), userTimeoutMs: 20000 }).find((l) => l.includes('ONE unanswered keepalive probe'))!;
    expect(line).toContain('≤ TCP_KEEPIDLE + TCP_KEEPINTVL = 30 s');
    expect(line).toContain('(at 30 s)');
    expect(adviceFor(preset('reference')).some((l) => l.includes('ONE unanswered'))).toBe(false);
  });

  it('slow keepalive and slow connect() are stated with the model’s times', () => {
    const lines = adviceFor(preset('libpq-defaults'));
    expect(lines.find((l) => l.startsWith('keepalive is on but'))).toContain(humanDuration(7200 + 75 * 9));
    expect(lines.find((l) => l.startsWith('connect() to a dead host'))).toContain(humanDuration(predictPhases(input({})).connect.closeAt));
    expect(adviceFor({ ...preset('reference'), synCnt: 2 }).some((l) => l.startsWith('connect()'))).toBe(false);
  });

  it('the reference recommendation draws no warning but the KEEPCNT note', () => {
    expect(adviceFor(preset('reference'))).toHaveLength(1);
  });

  it('human durations', () => {
    expect([humanDuration(null), humanDuration(19.5), humanDuration(929), humanDuration(7875)]).toEqual(['never', '19.5 s', '15 min 29 s', '2 h 11 min']);
  });
});

describe('presets a socket matches', () => {
  const kernel = { keepIdle: 7200, keepIntvl: 75, keepCnt: 9 };
  it('setKeepAlive(true, 5000) as libuv sets it is node-keepalive-5s', () => {
    const s = socketSettingsFor(preset('node-keepalive-5s'), sysctls);
    expect(matchingPresets(s, kernel).map((p) => p.name)).toEqual(['node-keepalive-5s']);
  });
  it('keepalive with the kernel values matches every preset that means that', () => {
    const s = socketSettingsFor({ keepalive: {} }, sysctls);
    expect(matchingPresets(s, kernel).map((p) => p.name)).toEqual(['libpq-defaults', 'mysql2']); // mysql2's enableKeepAlive asks TCP_KEEPIDLE 0: refused, the kernel's values stay
  });
  it("Node's setKeepAlive(true), as libuv really leaves it (60/1/10), is node-keepalive", () => {
    const s = socketSettingsFor({ keepalive: { idle: 60, intvl: 1, cnt: 10 } }, sysctls);
    expect(matchingPresets(s, kernel).map((p) => p.name)).toEqual(['node-keepalive', 'undici']); // undici keeps Node's setKeepAlive(true, 60000)
  });
  it('a plain socket is kernel-defaults; an unusual one matches nothing', () => {
    expect(matchingPresets(socketSettingsFor({}, sysctls), kernel).map((p) => p.name)).toEqual(['kernel-defaults', 'grpc-js']); // grpc-js detects with HTTP/2 PINGs, its socket is plain
    expect(matchingPresets(socketSettingsFor({ keepalive: { idle: 7 } }, sysctls), kernel)).toEqual([]);
  });
});

describe('deadpeer check --side server advice', () => {
  const serverAdvice = (c: SocketConfig) => adviseServer(input(c));

  it('first: set the options on the listener — the inherited ones from the table, TCP_DEFER_ACCEPT not', () => {
    const first = serverAdvice({})[0]!;
    expect(first).toMatch(/^set these on the listening socket: every socket accept\(\) returns inherits SO_KEEPALIVE, SO_RCVBUF, SO_SNDBUF, TCP_USER_TIMEOUT/);
    expect(first).toContain('(not TCP_DEFER_ACCEPT, a listener-only option)');
    expect(INHERITANCE.TCP_DEFER_ACCEPT.inherited).toBe(false);
    expect(inheritedOptions({ SO_KEEPALIVE: 1, TCP_DEFER_ACCEPT: 5, TCP_USER_TIMEOUT: 3000 })).toEqual({ SO_KEEPALIVE: 1, TCP_USER_TIMEOUT: 3000 });
  });

  it('keepalive off on the listener: a vanished idle client is held for ever; on but slow: for how long', () => {
    expect(serverAdvice({}).some((l) => l.startsWith('SO_KEEPALIVE is off on the listener: a client that vanishes while the server waits'))).toBe(true);
    // keepalive on at the kernel's 7200/75/9: 2 h 11 min
    const slow = serverAdvice({ keepalive: {} }).find((l) => l.startsWith('keepalive on the listener'))!;
    expect(slow).toContain(`only after ${humanDuration(predictPhases(input({ keepalive: {} })).idle.closeAt)}`);
    expect(slow).toContain('2 h 11 min');
    expect(serverAdvice({ keepalive: { idle: 5, intvl: 1, cnt: 3 } }).some((l) => l.startsWith('SO_KEEPALIVE is off') || l.startsWith('keepalive on the listener'))).toBe(false);
  });

  it('busy: TCP_USER_TIMEOUT on the listener, quoting the model at tcp_retries2', () => {
    const line = serverAdvice({}).find((l) => l.startsWith('no TCP_USER_TIMEOUT on the listener'))!;
    expect(line).toContain(`≈${humanDuration(predictPhases(input({})).busy.closeAt)} (tcp_retries2 = ${sysctls.tcp_retries2})`);
    expect(serverAdvice({ userTimeoutMs: 20_000 }).some((l) => l.startsWith('no TCP_USER_TIMEOUT'))).toBe(false);
  });

  it('zero-window: an alive reader is kept for ever without U, cut at U with it — and the drain monitor is the way to tell slow from dead', () => {
    expect(predictServerZeroWindow(input({})).closeAt).toBeNull();
    const never = serverAdvice({}).at(-1)!;
    expect(never).toMatch(/^a client that stops reading \(alive, window 0: the slow download\) is never let go by the kernel/);
    expect(never).toContain('DrainMonitor');
    const u = predictServerZeroWindow(input({ userTimeoutMs: 20_000 })).closeAt!;
    expect(u).toBeGreaterThanOrEqual(20);
    expect(serverAdvice({ userTimeoutMs: 20_000 }).at(-1)).toContain(`is cut by TCP_USER_TIMEOUT at ${humanDuration(u)}`);
  });
});
