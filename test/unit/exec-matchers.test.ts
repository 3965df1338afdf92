import { describe, expect, it } from 'vitest';
import '../../harness/vitest/exec-matchers.js';
import type { AppReport } from '../../harness/apps/exec/run.js';

/** The exec matchers on reports made up here: each can pass, and each can fail with the story. */
const T0 = 100;
function report(o: { noticedAt?: number; abortAt?: number; errno?: string; problems?: string[]; unnoticed?: boolean } = {}): AppReport {
  return {
    phase: 'idle',
    family: 4,
    fault: 'blackhole',
    command: ['node', 'client.js'],
    server: 'builtin',
    kernel: { release: '6.18.0', hz: 250 },
    presets: [],
    t: { start: T0 - 1, origin: T0, fault: T0, end: T0 + 30, ...(o.noticedAt !== undefined ? { appNoticed: T0 + o.noticedAt } : {}), ...(o.abortAt !== undefined ? { kernelAbort: T0 + o.abortAt } : {}) },
    app: { exitCode: 1, output: [], ...(o.errno ? { errno: o.errno, errnoFrom: 'name' as const } : {}), ...(o.noticedAt !== undefined ? { noticedBy: 'output' as const, noticedLine: 'lost' } : {}) },
    unnoticed: o.unnoticed ?? false,
    problems: o.problems ?? [],
    packets: [],
    artifacts: { dir: '/tmp/x', pcap: '/tmp/x/capture.pcap', json: '/tmp/x/exec.json' },
  };
}

describe('exec matchers', () => {
  it('toNoticeWithin: the program noticed by then, counted from t = 0', () => {
    expect(report({ noticedAt: 15.2, abortAt: 15.1 })).toNoticeWithin('20s');
    expect(report({ noticedAt: 15.2 })).toNoticeWithin(15.5);
    expect(report({ noticedAt: 15.2 })).not.toNoticeWithin('15s');
    expect(() => expect(report({ noticedAt: 25 })).toNoticeWithin('20s')).toThrow(/within 20 s of t = 0[\s\S]*program noticed: 25\.000 s by output: "lost"/);
    expect(() => expect(report({ abortAt: 15, unnoticed: true })).toNoticeWithin('20s')).toThrow(/program noticed: no/);
  });

  it('toFailWith: the errno the program showed', () => {
    expect(report({ noticedAt: 15, errno: 'ETIMEDOUT' })).toFailWith('ETIMEDOUT');
    expect(() => expect(report({ noticedAt: 15, errno: 'ECONNRESET' })).toFailWith('ETIMEDOUT')).toThrow(/to fail with ETIMEDOUT[\s\S]*errno shown: ECONNRESET/);
    expect(() => expect(report({ noticedAt: 15 })).toFailWith('ETIMEDOUT')).toThrow(/it showed no errno/);
  });

  it('toStayUnnoticed: no sign from the program, whatever the kernel did', () => {
    expect(report({ abortAt: 15, unnoticed: true })).toStayUnnoticed();
    expect(report({})).toStayUnnoticed();
    expect(() => expect(report({ noticedAt: 15 })).toStayUnnoticed()).toThrow(/to stay unnoticed/);
  });

  it('an experiment that did not run proves nothing: every matcher fails, saying why', () => {
    const broken = report({ problems: ['the program exited without connecting to DEADPEER_SERVER'] });
    for (const check of [() => expect(broken).toNoticeWithin('20s'), () => expect(broken).toFailWith('ETIMEDOUT'), () => expect(broken).toStayUnnoticed()])
      expect(check).toThrow(/the experiment did not run: the program exited without connecting/);
    expect(() => expect({ closeAt: 3 }).toNoticeWithin('20s')).toThrow(/expects what exec\(\) returns/);
  });
});
