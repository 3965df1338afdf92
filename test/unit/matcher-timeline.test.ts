import { describe, expect, it } from 'vitest';
import { keepaliveObservation } from './observation-builder.js';

/** A red test must explain itself: the failure message carries the side-by-side timeline. */
describe('a failing assertion prints the timeline', () => {
  const wrong = () => {
    const obs = keepaliveObservation();
    // the model says the second probe comes 2 s later than it did
    obs.prediction = { ...obs.prediction, events: obs.prediction.events.map((e) => (e.n === 2 ? { ...e, t: e.t + 2 } : e)) };
    return obs;
  };

  const failureOf = (f: () => void): string => {
    try {
      f();
    } catch (e) {
      return (e as Error).message;
    }
    throw new Error('the assertion passed');
  };

  it('toFollowModel: the listing, model beside kernel, the first divergence marked ▶✗', () => {
    const msg = failureOf(() => expect(wrong()).toFollowModel());
    expect(msg).toContain('synthetic/keepalive (IPv4) diverged from the model');
    expect(msg).toMatch(/model\s+│ kernel \(capture, ss, helper\)/);
    const marked = msg.split('\n').filter((l) => l.startsWith('▶✗'));
    expect(marked).toHaveLength(1);
    expect(marked[0]).toMatch(/10\.000\s+client KEEPALIVE\s+│\s+8\.300\s+C > S \.\s+KEEPALIVE/);
    // the good events are listed too, unmarked, with the ss timer lines between them
    expect(msg).toMatch(/\n {3}\s+5\.000\s+client KEEPALIVE\s+│\s+5\.200/);
    expect(msg).toContain('ss: client ESTABLISHED timer:(keepalive,3.000sec,1)');
    expect(msg).toContain('client KEEPALIVE #2 at 8.300 s, predicted 10.000 s');
  });

  it('toCloseWith and toStayOpen carry it as well', () => {
    expect(failureOf(() => expect(keepaliveObservation()).toCloseWith('ECONNRESET', { at: 14, within: 1 }))).toMatch(/▶?✗?[\s\S]*model\s+│ kernel/);
    expect(failureOf(() => expect(keepaliveObservation()).toStayOpen())).toContain('fault armed: blackhole');
  });
});
