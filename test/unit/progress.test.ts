import { describe, expect, it } from 'vitest';
import { PassThrough } from 'node:stream';
import { StatusBoard } from '../../cli/progress-board.js';
import { boardLine, lineInterval, progressMode, progressText } from '../../harness/engine/progress.js';

describe('progress of long waits', () => {
  it('is off in the fast default, on for the faithful profile, DEADPEER_PROGRESS=1 or the CLI', () => {
    expect(progressMode({}, false, 'fast')).toBe('off');
    expect(progressMode({}, true, 'fast')).toBe('off');
    expect(progressMode({}, false, 'faithful')).toBe('lines');
    expect(progressMode({}, true, 'faithful')).toBe('tty');
    expect(progressMode({ DEADPEER_PROGRESS: '1' }, false, 'fast')).toBe('lines');
    expect(progressMode({ DEADPEER_PROGRESS_FILE: '/tmp/p' }, false, 'fast')).toBe('file');
    expect(progressMode({ DEADPEER_PROGRESS: '0' }, true, 'faithful')).toBe('off');
  });

  it('says the elapsed time against the predicted close', () => {
    expect(progressText({ label: 'busy/x (IPv4)', elapsed: 312.4, expect: { closeAtS: 924.6 } })).toBe('busy/x (IPv4): 312 s of 925 s predicted (33%)');
    expect(progressText({ label: 'idle (IPv6)', elapsed: 3.25, expect: { closeAtS: 14 } })).toBe('idle (IPv6): 3.3 s of 14.0 s predicted (23%)');
    expect(progressText({ label: 'c', elapsed: 16, expect: { closeAtS: 14 } })).toBe('c: 16.0 s, 2.0 s past the predicted 14.0 s');
    expect(progressText({ label: 'c', elapsed: 4, expect: { holdS: 17 } })).toBe('c: holding 4.0 s of 17.0 s (model: never closes)');
    expect(progressText({ label: 'c', elapsed: 14.4, expect: { closeAtS: 14 }, done: true })).toBe('c: waited 14.4 s (model: close at 14.0 s)');
  });

  it('plain lines come about ten per case, never more than one per 5 s', () => {
    expect(lineInterval({ closeAtS: 924.6 })).toBe(92);
    expect(lineInterval({ closeAtS: 14 })).toBe(5);
    expect(lineInterval({ holdS: 17 }, { DEADPEER_PROGRESS_INTERVAL: '2' })).toBe(2);
  });

  it('the status line holds every waiting case and fits the terminal', () => {
    const states = [
      { label: 'busy/a (IPv4)', elapsed: 12, expect: { closeAtS: 924.6 } },
      { label: 'zero-window/b (IPv6)', elapsed: 40, expect: { holdS: 120 } },
    ];
    expect(boardLine(states, 200)).toBe('⏳ 2 waiting: busy/a (IPv4) 12.0/925 s · zero-window/b (IPv6) 40.0/120 s');
    expect(boardLine(states, 30)).toHaveLength(30);
    expect(boardLine([], 80)).toBe('');
  });

  it('the CLI board follows the cases’ progress lines, and forgets a case once it is done', () => {
    const out = Object.assign(new PassThrough(), { columns: 120 }) as unknown as NodeJS.WriteStream;
    const b = new StatusBoard('/nonexistent', out);
    b.ingest('{"label":"a","elapsed":1,"expect":{"closeAtS":14}}\n{"label":"b","elapsed":2,"expect":{"holdS":5}}\n{"label":"a","ela');
    expect([...b.states.keys()]).toEqual(['a', 'b']);
    b.ingest('psed":3,"expect":{"closeAtS":14}}\n{"label":"b","elapsed":5,"expect":{"holdS":5},"done":true}\nnot json\n');
    expect([...b.states.keys()]).toEqual(['a']);
    expect(b.states.get('a')!.elapsed).toBe(3);
  });
});
