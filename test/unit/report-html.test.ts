import { copyFileSync, existsSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { ROOT } from '../../harness/core/paths.js';
import { announceRun } from '../../harness/report/run-summary.js';
import { orderCases, renderHtml } from '../../harness/report/html.js';
import type { CaseEntry } from '../../harness/report/run-folder.js';
import { commonSysctls, sysctlOverrides } from '../../harness/report/sysctls.js';
import { fifteenRetransmissions, keepaliveObservation, realObservation } from './observation-builder.js';

const entry = (folder: string, obs = keepaliveObservation()): CaseEntry => ({
  folder,
  obs,
  files: { json: `${folder}/observation.json`, pcap: `${folder}/capture.pcap`, svg: `${folder}/timeline.svg` },
});

function report(cases: CaseEntry[]) {
  return renderHtml({ runId: 'run-1', cases, generatedAt: new Date('2026-01-02T03:04:05Z') });
}

describe('the run report (HTML)', () => {
  const differs = keepaliveObservation();
  differs.name = 'synthetic/differs';
  differs.prediction = { ...differs.prediction, closeAt: 30 };
  const cases = [entry('a-ipv4', realObservation()), entry('b-ipv4', fifteenRetransmissions()), entry('c-ipv4', differs)];
  const html = report(cases);

  it('is self-contained: no external stylesheet, script, image or font', () => {
    expect(html).not.toMatch(/<link\b|<img\b|<script[^>]+src=|url\(|@import|https?:\/\/(?!www\.w3\.org\/2000\/svg)/);
    expect(html.startsWith('<!doctype html>')).toBe(true);
  });

  it('has one row per case, each with its picture, and links its artifacts relative to the run folder', () => {
    expect([...html.matchAll(/<tr class="summary"/g)]).toHaveLength(3);
    expect([...html.matchAll(/<svg /g)]).toHaveLength(3);
    expect(html).toContain('href="a-ipv4/capture.pcap"');
    expect(html).toContain('href="a-ipv4/observation.json"');
    expect(html).toContain('href="b-ipv4/timeline.svg"');
  });

  it('heads the page with the kernel, HZ, profile and the effective sysctls', () => {
    const obs = realObservation();
    expect(html).toContain(obs.kernel.release);
    expect(html).toMatch(/<dt>HZ<\/dt><dd>250<\/dd>/);
    expect(html).toMatch(/<dt>profile<\/dt><dd>fast<\/dd>/);
    expect(html).toContain('<tr><td>net.ipv4.tcp_retries2</td><td>15</td></tr>');
  });

  it('says how many agree, and opens the rows that differ', () => {
    expect(html).toContain('2 of 3 runs agree with the model of this kernel — 1 differs (opened below): <a href="#case-c-ipv4">synthetic/differs v4</a>');
    expect(html).toMatch(/<tbody id="case-c-ipv4" class="case open">/);
    expect(html).toMatch(/<tbody id="case-a-ipv4" class="case">/);
    expect(html).toContain('✗ DIFFERS');
  });

  it('each row carries the text timeline and the model’s reasons', () => {
    expect(html).toContain('text timeline (as in a failing test)');
    expect(html).toContain(realObservation().prediction.notes[0]!.replace(/&/g, '&amp;'));
  });

  it('orders cases along a connection’s life: SYN-SENT before idle before busy', () => {
    const syn = keepaliveObservation();
    syn.phase = 'syn-sent';
    const ordered = orderCases([entry('busy', fifteenRetransmissions()), entry('idle'), entry('syn', syn)]);
    expect(ordered.map((c) => c.folder)).toEqual(['syn', 'idle', 'busy']);
  });

  it('a case’s own sysctls are listed in its row, the common ones once at the top', () => {
    const a = keepaliveObservation();
    const b = keepaliveObservation();
    b.settings = { ...b.settings, client: { ...b.settings.client, sysctls: { ...b.settings.client.sysctls, tcp_syn_retries: 3 } } };
    const c = keepaliveObservation();
    const common = commonSysctls([a, b, c]);
    expect(common.tcp_syn_retries).toBe(6);
    expect(sysctlOverrides(b, common)).toEqual(['client tcp_syn_retries=3']);
    expect(sysctlOverrides(a, common)).toEqual([]);
  });

  it('escapes case names', () => {
    const evil = keepaliveObservation();
    evil.name = '<img src=x onerror=alert(1)>';
    expect(report([entry('e', evil)])).not.toContain('<img src=x');
  });
});

describe('the end of a run', () => {
  it('writes report.html into the run folder and says where it is; says nothing when no case ran', () => {
    const dir = mkdtempSync(join(tmpdir(), 'deadpeer-run-'));
    try {
      const said: string[] = [];
      const out = new PassThrough().on('data', (c: Buffer) => said.push(String(c)));
      announceRun(join(dir, 'never-ran'), out);
      expect(said).toEqual([]);
      mkdirSync(join(dir, 'idle-ipv4'));
      copyFileSync(join(ROOT, 'test', 'fixtures', 'idle-keepalive-on-ipv4.observation.json'), join(dir, 'idle-ipv4', 'observation.json'));
      announceRun(dir, out);
      expect(said.join('')).toBe(`deadpeer: 1 case in this run; report: ${join(dir, 'report.html')}\n`);
      expect(existsSync(join(dir, 'report.html'))).toBe(true);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
