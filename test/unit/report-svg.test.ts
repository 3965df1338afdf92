import { describe, expect, it } from 'vitest';
import { MAX_PACKET_ROWS, fmtDelta, fmtExpiry, renderSvg } from '../../harness/report/svg.js';
import { judgeTimeline } from '../../harness/judge/verdict.js';
import { buildObservation, fifteenRetransmissions, keepaliveObservation, realObservation, type PacketSpec } from './observation-builder.js';

/** What a reader sees: the text of every label, in document order. */
const texts = (svg: string) => [...svg.matchAll(/<text[^>]*>(.*?)<\/text>/gs)].map((m) => m[1]!.replace(/<[^>]+>/g, '').replace(/&amp;/g, '&').replace(/&lt;/g, '<').replace(/&gt;/g, '>'));
const height = (svg: string) => Number(/height="(\d+)"/.exec(svg)![1]);
const count = (svg: string, re: RegExp) => [...svg.matchAll(re)].length;

function wellFormed(svg: string) {
  expect(svg.startsWith('<svg xmlns="http://www.w3.org/2000/svg"')).toBe(true);
  expect(svg.trimEnd().endsWith('</svg>')).toBe(true);
  for (const tag of ['text', 'g', 'title', 'tspan']) expect(count(svg, new RegExp(`<${tag}[ >]`, 'g'))).toBe(count(svg, new RegExp(`</${tag}>`, 'g')));
  expect(svg).not.toMatch(/NaN|undefined|Infinity|null/);
}

describe('the timeline picture (SVG)', () => {
  it('a keepalive case: every packet an arrow labelled with its flags and length, drops marked', () => {
    const obs = keepaliveObservation();
    const svg = renderSvg(obs);
    wellFormed(svg);
    const t = texts(svg);
    expect(t).toContain('SYN [S] len 0');
    expect(t).toContain('SYN-ACK [S.] len 0');
    expect(t).toContain('ACK [.] len 0');
    expect(t.filter((x) => x === 'KEEPALIVE [.] len 0')).toHaveLength(3);
    expect(t).toContain('RST [R.] len 0');
    expect(count(svg, /<g class="packet[ "]/g)).toBe(obs.packets.length);
    expect(count(svg, /<g class="packet dropped"/g)).toBe(obs.packets.filter((p) => p.dropped).length);
  });

  it('shows the timer states as ss -tno prints them, the fault, and both closes with the errno', () => {
    const t = texts(renderSvg(keepaliveObservation()));
    expect(t).toContain('ESTABLISHED timer:(keepalive,4.990sec,0)');
    expect(t).toContain('timer:(keepalive,3.000sec,2)');
    expect(t).toContain('ESTABLISHED no timer');
    expect(t.some((x) => x.includes('fault armed: blackhole'))).toBe(true);
    expect(t).toContain('close ETIMEDOUT'); // the model's
    expect(t.some((x) => /^14\.400 closed: ETIMEDOUT \(poll\)/.test(x))).toBe(true); // the kernel's
    expect(t.some((x) => x.includes('agrees with the model'))).toBe(true);
  });

  it('puts each predicted event beside the observed one, with the difference', () => {
    const t = texts(renderSvg(keepaliveObservation()));
    expect(t).toContain('KEEPALIVE #1');
    expect(t.some((x) => x.startsWith('5.200') && x.includes('model 5.000 (+200 ms)'))).toBe(true);
  });

  it('a band per running timer, in the timer’s colour', () => {
    const svg = renderSvg(keepaliveObservation());
    expect(count(svg, /<rect[^>]*fill="#27ae60"/g)).toBeGreaterThanOrEqual(4); // 4 keepalive states (+ the legend's)
    const busy = renderSvg(fifteenRetransmissions());
    expect(count(busy, /<rect[^>]*fill="#e67e22"/g)).toBeGreaterThanOrEqual(16);
  });

  it('fifteen retransmissions over a quarter of an hour: compressed axis, readable height, real gap lengths', () => {
    const obs = fifteenRetransmissions();
    expect(judgeTimeline(obs).ok).toBe(true);
    const svg = renderSvg(obs);
    wellFormed(svg);
    expect(height(svg)).toBeLessThan(1600);
    const t = texts(svg);
    expect(t.filter((x) => x.startsWith('RETRANSMIT [.] len 1448'))).toHaveLength(15);
    expect(t.some((x) => x === '≈ 2.0 min')).toBe(true); // the 120 s gaps, as a broken axis
    expect(t.some((x) => x.includes('long gaps are compressed'))).toBe(true);
  });

  it('a 3-packet case stays small and linear', () => {
    const obs = buildObservation({
      packets: [
        [0, 'client', 'S', 0, true],
        [1, 'client', 'S', 0, true],
        [3, 'client', 'S', 0, true],
      ],
      predicted: [
        [0, 'client', 'SYN', 0],
        [1, 'client', 'SYN', 1],
        [3, 'client', 'SYN', 2],
      ],
      closeAt: 7,
      errno: 'ETIMEDOUT',
      close: [7.01, 'ETIMEDOUT', 'connect'],
      end: 7.02,
      phase: 'syn-sent',
    });
    const svg = renderSvg(obs);
    wellFormed(svg);
    expect(height(svg)).toBeLessThan(900);
    expect(texts(svg).some((x) => x.includes('linear'))).toBe(true);
  });

  it('a divergence is shown: DIFFERS in the header, ▶ on the first problem, and the reasons', () => {
    const obs = keepaliveObservation();
    obs.prediction = { ...obs.prediction, events: obs.prediction.events.map((e) => ({ ...e, t: e.t + 2 })), closeAt: 16 };
    const t = texts(renderSvg(obs));
    expect(t.some((x) => x.includes('DIFFERS'))).toBe(true);
    expect(t.filter((x) => x.startsWith('▶'))).toHaveLength(1);
    expect(t.some((x) => x.includes('▶✗'))).toBe(true);
    expect(t.some((x) => x.startsWith('✗ client KEEPALIVE #1 at 5.200 s, predicted 7.000 s'))).toBe(true);
  });

  it('a predicted packet that never came is marked "not seen"', () => {
    const obs = keepaliveObservation();
    obs.prediction = { ...obs.prediction, events: [...obs.prediction.events, { t: 12, side: 'client', packet: 'KEEPALIVE', n: 4 }] };
    expect(texts(renderSvg(obs))).toContain('✗ not seen');
  });

  it('a run still open at the end says so', () => {
    const obs = buildObservation({ packets: [[0, 'client', 'S', 0], [0, 'server', 'S.', 0], [0, 'client', '.', 0]], predicted: [], closeAt: null, errno: null, end: 10 });
    expect(texts(renderSvg(obs)).some((x) => x.includes('run ended, still open'))).toBe(true);
  });

  it('bulk transfer is folded so the story stays visible', () => {
    const bulk: PacketSpec[] = [];
    for (let i = 0; i < 300; i++) bulk.push([-1 + i * 0.003, i % 2 ? 'server' : 'client', '.', i % 2 ? 0 : 1448]);
    const obs = buildObservation({ packets: [[-1.1, 'client', 'S', 0], [-1.1, 'server', 'S.', 0], ...bulk, [0, 'client', 'P.', 1448, true]], predicted: [[0, 'client', 'DATA', 0]], closeAt: null, errno: null, end: 1 });
    const svg = renderSvg(obs);
    expect(count(svg, /<g class="packet/g)).toBeLessThanOrEqual(MAX_PACKET_ROWS);
    expect(texts(svg).some((x) => /⋯ \d+ more packets \(\d+ C→S, \d+ S→C\) ⋯/.test(x))).toBe(true);
  });

  it('escapes what it prints', () => {
    const obs = keepaliveObservation();
    obs.name = 'x<script>&"';
    const svg = renderSvg(obs);
    expect(svg).not.toContain('<script>');
    expect(svg).toContain('x&lt;script&gt;&amp;');
  });

  it('draws a real saved run: all its packets, its timers and its close', () => {
    const obs = realObservation();
    const svg = renderSvg(obs);
    wellFormed(svg);
    expect(count(svg, /<g class="packet[ "]/g)).toBe(obs.packets.length);
    expect(count(svg, /<g class="timer"/g)).toBe(obs.timers.length);
    expect(texts(svg).some((x) => x.includes(`closed: ${obs.close!.errno}`))).toBe(true);
    expect(texts(svg)[0]).toBe(`${obs.name} · IPv${obs.family} · ${obs.phase}`);
  });

  it('formats deltas and expiries the way people read them', () => {
    expect([0.0042, -0.2, 1.5].map(fmtDelta)).toEqual(['+4.2 ms', '−200 ms', '+1.50 s']);
    expect([408, 4988].map(fmtExpiry)).toEqual(['408ms', '4.988sec']);
  });
});
