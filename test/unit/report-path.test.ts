import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import type { Observation } from '../../harness/core/observation.js';
import { judgeTimeline } from '../../harness/judge/verdict.js';
import { fromRouter, renderTimeline } from '../../harness/judge/timeline-text.js';
import { renderSvg } from '../../harness/report/svg.js';

/**
 * A run through a middlebox (a NAT that answers a forgotten flow with a RST), recorded on this
 * kernel by cases/middlebox.test.ts: what the listing and the picture make of the router.
 */
const obs = JSON.parse(readFileSync(join(import.meta.dirname, '..', 'fixtures', 'middlebox-nat-reset-ipv4.observation.json'), 'utf8')) as Observation;

describe('a path through a router, drawn', () => {
  it('the recorded run agrees with its model', () => {
    expect(judgeTimeline(obs).ok).toBe(true);
    expect(obs.path!.predicted!.mapping.kept).toBe('no');
  });

  it("the RST on the client's leg is the router's own: it never crossed the far leg", () => {
    const rst = obs.packets.find((p) => p.kind === 'RST')!;
    expect(fromRouter(obs, rst)).toBe(true);
    const synAck = obs.packets.find((p) => p.kind === 'SYN-ACK')!;
    expect(fromRouter(obs, synAck)).toBe(false);
  });

  it('the listing shows both legs, the router’s answer and its table on one clock', () => {
    const text = renderTimeline(obs, judgeTimeline(obs));
    expect(text).toMatch(/^path: idle-expiry:5s:reset:nat \(nat, idle timeout 5 s, reset\)/m);
    expect(text).toMatch(/R > S S +SYN .*\(server's leg\)/);
    expect(text).toMatch(/R > C R +RST .*\(from the router\)/);
    expect(text).toMatch(/router conntrack new entry: ESTABLISHED, \d s left, masqueraded as 198\.18\.1\.254/);
    expect(text).toMatch(/router conntrack entry gone: forgotten/);
  });

  it('the picture has the router lane: the entry while held, its end, the data stopped at the router', () => {
    const svg = renderSvg(obs);
    expect(svg).toContain('router: idle-expiry:5s:reset:nat');
    expect(svg).toContain('router forgot the connection');
    expect(svg).toContain('router: new entry');
    // the write never reached the server: drawn dashed, crossed at the router
    expect(svg).toMatch(/class="packet dropped"[^]*DATA \[P\.\] len 1000/);
  });
});
