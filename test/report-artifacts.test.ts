import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execa } from 'execa';
import { inUserNamespace } from '../netns/userns.js';
import { beforeAll, expect, it } from 'vitest';
import { writeRunReport } from '../harness/report/run-summary.js';
import { kernelCases } from '../harness/vitest/cases.js';
import { faults } from '../harness/engine/faults.js';
import { predictIdle } from '../harness/model/idle.js';
import { loadRunFolder } from '../harness/report/run-folder.js';
import { runScenario } from '../harness/engine/scenario.js';
import { accept, arm, awaitClose, connect, established, listen } from '../harness/engine/steps.js';
import { type Observation, sideInput } from '../harness/core/observation.js';
import { resultsDir } from '../harness/core/paths.js';

/**
 * What a run leaves behind, checked with the tools a person would use on it: tcpdump reads every
 * pcap back, and a real headless Chromium renders the run report with its table and pictures.
 * The run is a tiny one made here (idle, keepalive 1/1/1 into a black hole: dead in ~2 s), in its
 * own folder under this vitest run's results: deadpeer-results/<run id>/report-check/.
 */
const CHROMIUM = '/usr/bin/chromium';
const has = (path: string) => existsSync(path);
const TCPDUMP = ['/usr/bin/tcpdump', '/usr/sbin/tcpdump'].find(has);

let dir = '';
let observations: Observation[] = [];

/** Run the tiny scenario in both families with the results redirected to this file's own run folder. */
async function tinyRun(): Promise<void> {
  const saved = { results: process.env.DEADPEER_RESULTS, runId: process.env.DEADPEER_RUN_ID };
  const base = resultsDir();
  process.env.DEADPEER_RESULTS = base;
  process.env.DEADPEER_RUN_ID = 'report-check';
  dir = join(base, 'report-check');
  try {
    observations = await Promise.all(
      ([4, 6] as const).map((family) =>
        runScenario({
          name: 'report-check/keepalive-1-1-1',
          phase: 'idle',
          family,
          client: { options: { SO_KEEPALIVE: 1, TCP_KEEPIDLE: 1, TCP_KEEPINTVL: 1, TCP_KEEPCNT: 1 } },
          model: (s) => predictIdle(sideInput(s, 'client')),
          steps: [listen(), connect(), established(), accept(), arm(faults.blackhole()), awaitClose()],
        }),
      ),
    );
  } finally {
    // this worker may run other files later: leave the environment as it was
    for (const [k, v] of [['DEADPEER_RESULTS', saved.results], ['DEADPEER_RUN_ID', saved.runId]] as const)
      if (v === undefined) delete process.env[k];
      else process.env[k] = v;
  }
}

const chromium = (...args: string[]) =>
  execa(
    CHROMIUM,
    ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync', ...args],
    { timeout: 40_000 },
  );

/** Packets as tcpdump reads them: capture time (s, CLOCK_REALTIME) and flags. */
async function tcpdumpRead(pcap: string): Promise<Array<{ t: number; flags: string }>> {
  // uid 0 of a user namespace (rootless), tcpdump fails to drop to its own user (setgroups is
  // denied there): in a nested one it is not uid 0 and keeps the run's own access to the file
  const argv = [TCPDUMP!, '-nn', '-tt', '--time-stamp-precision=nano', '-r', pcap];
  const r = inUserNamespace() ? await execa('unshare', ['--user', '--', ...argv]) : await execa(argv[0]!, argv.slice(1));
  return r.stdout
    .split('\n')
    .filter(Boolean)
    .map((l) => ({ t: Number(l.split(' ')[0]), flags: /Flags \[([^\]]*)\]/.exec(l)?.[1] ?? '?' }));
}

kernelCases('what a run leaves behind', () => {
  beforeAll(tinyRun, 30_000);

  it('every case leaves a pcap and an Observation; the run report draws a timeline picture beside them', () => {
    expect(observations).toHaveLength(2);
    for (const obs of observations) for (const f of [obs.artifacts.pcap, obs.artifacts.json]) expect(existsSync(f), f).toBe(true);
    writeRunReport(dir);
    for (const obs of observations) {
      const svg = join(obs.artifacts.dir, 'timeline.svg');
      expect(existsSync(svg), svg).toBe(true);
      expect(readFileSync(svg, 'utf8')).toMatch(/^<svg [^>]*class="deadpeer-timeline"/);
    }
  });

  it.skipIf(!TCPDUMP)(`tcpdump reads each pcap back: the Observation's packets, in order, with their flags${TCPDUMP ? '' : ' — skipped: tcpdump not installed (bash setup.sh installs it)'}`, { timeout: 20_000 }, async () => {
    for (const obs of observations) {
      const read = await tcpdumpRead(obs.artifacts.pcap);
      // The pcap holds the kernel's timestamps (CLOCK_REALTIME), the Observation the same stamps on
      // CLOCK_MONOTONIC: one offset maps them. The capture keeps recording while the topology is
      // torn down after the Observation was taken (the server's FIN when its helper exits), so
      // the Observation is the pcap up to the run's end.
      const offset = read[0]!.t - obs.packets[0]!.t;
      const inRun = read.filter((p) => p.t - offset <= obs.end + 0.001);
      expect(inRun).toHaveLength(obs.packets.length);
      expect(inRun.map((p) => p.flags)).toEqual(obs.packets.map((p) => p.flags));
      inRun.forEach((p, i) => expect(Math.abs(p.t - offset - obs.packets[i]!.t)).toBeLessThan(1e-5));
    }
  });

  // one browser launch: ~2 s on an idle machine, several times that while the whole suite loads it
  it.skipIf(!has(CHROMIUM))(`the run report renders in headless Chromium: every row, every picture${has(CHROMIUM) ? '' : ' — skipped: chromium not installed (bash setup.sh installs it)'}`, { timeout: 45_000 }, async () => {
    const report = writeRunReport(dir).path;
    expect(loadRunFolder(dir).cases).toHaveLength(2);
    const profile = mkdtempSync(join(tmpdir(), 'deadpeer-chromium-'));
    try {
      // a copy of the report with a probe appended: it measures the laid-out page and writes the
      // numbers into the DOM, which --dump-dom then prints (the report itself carries no test hook)
      const probe = report.replace(/\.html$/, '.probe.html');
      writeFileSync(
        probe,
        readFileSync(report, 'utf8').replace(
          '</body>',
          `<script>
addEventListener('load', function () {
  var box = function (e) { var r = e.getBoundingClientRect(); return { w: Math.round(r.width), h: Math.round(r.height) }; };
  var m = {
    rows: [].map.call(document.querySelectorAll('tr.summary'), box),
    open: document.querySelectorAll('tbody.case.open').length,
    svgs: [].map.call(document.querySelectorAll('svg.deadpeer-timeline'), box),
    arrows: [].map.call(document.querySelectorAll('svg g.packet'), function (g) { return box(g).w; })
  };
  var pre = document.createElement('pre'); pre.id = 'deadpeer-probe'; pre.hidden = true; pre.textContent = JSON.stringify(m); document.body.appendChild(pre);
});
</script></body>`,
        ),
      );
      // one launch does both: the DOM as laid out, and the screenshot (an artifact of the run, next to the report)
      const png = join(dir, 'report.png');
      const dom = await chromium(`--user-data-dir=${profile}`, '--hide-scrollbars', '--window-size=1400,2000', `--screenshot=${png}`, '--dump-dom', `file://${probe}#all`);
      const m = JSON.parse(/<pre id="deadpeer-probe" hidden="">(.*?)<\/pre>/s.exec(dom.stdout)![1]!.replace(/&quot;/g, '"')) as {
        rows: Array<{ w: number; h: number }>;
        open: number;
        svgs: Array<{ w: number; h: number }>;
        arrows: number[];
      };
      expect(m.rows).toHaveLength(2);
      for (const r of m.rows) expect(r.h).toBeGreaterThan(10);
      expect(m.open).toBe(2); // the page's script ran: "#all" opened every row
      expect(m.svgs).toHaveLength(2);
      for (const s of m.svgs) {
        expect(s.w).toBeGreaterThan(600);
        expect(s.h).toBeGreaterThan(300);
      }
      // every packet was laid out as an arrow spanning the lanes
      expect(m.arrows).toHaveLength(observations.reduce((n, o) => n + o.packets.length, 0));
      for (const w of m.arrows) expect(w).toBeGreaterThan(150);
      rmSync(probe);
      const head = readFileSync(png);
      expect(head.subarray(1, 4).toString()).toBe('PNG');
      expect([head.readUInt32BE(16), head.readUInt32BE(20)]).toEqual([1400, 2000]);
    } finally {
      rmSync(profile, { recursive: true, force: true });
    }
  });
});
