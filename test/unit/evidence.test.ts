import { describe, expect, it } from 'vitest';
import { forTheSummary, type AppReport } from '../../harness/apps/exec/run.js';
import { evidenceLevel } from '../../harness/core/evidence.js';
import { InputError } from '../../harness/core/errors.js';
import { preflightProblem } from '../../harness/suite/preflight.js';

/**
 * DEADPEER_EVIDENCE: what a run's results folder keeps of what the program sent and printed (the
 * GitHub Action sets it from its evidence input). The capture side is in test/evidence.test.ts.
 */
describe('DEADPEER_EVIDENCE', () => {
  it('is full unless set, summary when asked', () => {
    expect(evidenceLevel({})).toBe('full');
    expect(evidenceLevel({ DEADPEER_EVIDENCE: '' })).toBe('full');
    expect(evidenceLevel({ DEADPEER_EVIDENCE: 'full' })).toBe('full');
    expect(evidenceLevel({ DEADPEER_EVIDENCE: 'summary' })).toBe('summary');
  });

  it.each(['none', 'Summary', 'headers', 'summary\nfull'])('%j is refused in one line that says what to do', (v) => {
    let err: unknown;
    try {
      evidenceLevel({ DEADPEER_EVIDENCE: v });
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(InputError);
    expect((err as Error).message).toMatch(/^DEADPEER_EVIDENCE must be "full" or "summary", not .*: unset it/);
    expect((err as Error).message.split('\n')).toHaveLength(1);
  });

  it('a bad value stops check/exec in the preflight, before any namespace exists', async () => {
    const before = process.env.DEADPEER_EVIDENCE;
    process.env.DEADPEER_EVIDENCE = 'most';
    try {
      expect(await preflightProblem({ uid: 0 })).toMatch(/^DEADPEER_EVIDENCE must be/);
    } finally {
      if (before === undefined) delete process.env.DEADPEER_EVIDENCE;
      else process.env.DEADPEER_EVIDENCE = before;
    }
  });
});

describe("exec.json at DEADPEER_EVIDENCE=summary", () => {
  const report = {
    phase: 'idle',
    family: 4,
    fault: 'blackhole',
    command: ['node', 'client.js', '--password', 'hunter2'],
    server: 'redis-server --requirepass hunter2',
    kernel: { release: '6.8.0', hz: 250 },
    presets: [],
    t: { start: 1, end: 2 },
    app: {
      exitCode: 1,
      noticedBy: 'output',
      noticedLine: 'AUTH hunter2 failed: ETIMEDOUT',
      errno: 'ETIMEDOUT',
      output: [{ t: 1.5, stream: 'stdout', text: 'AUTH hunter2' }],
    },
    asked: [
      { opt: 'SO_KEEPALIVE', value: '1', result: '0' },
      { opt: 'TCP_MD5SIG', value: '{tcpm_addr={sa_family=AF_INET, sin_port=htons(0)', result: '0' },
    ],
    unnoticed: false,
    problems: [],
    packets: [],
    artifacts: { dir: '/x', pcap: '/x/capture.pcap', json: '/x/exec.json' },
  } as unknown as AppReport;

  it('keeps what the verdict rests on and leaves out what the program was given or printed', () => {
    const cut = forTheSummary(report);
    const text = JSON.stringify(cut);
    expect(text).not.toMatch(/hunter2/);
    expect(text).not.toMatch(/client\.js|redis-server|tcpm_addr/);
    expect(cut.app).toMatchObject({ exitCode: 1, noticedBy: 'output', errno: 'ETIMEDOUT', output: [] });
    expect(cut.asked![0]).toEqual({ opt: 'SO_KEEPALIVE', value: '1', result: '0' });
    expect(cut.evidence).toBe('summary');
    expect(cut.leftOut).toEqual(expect.arrayContaining(['command', 'app.output', 'app.noticedLine']));
  });

  it('leaves the report the caller gets back untouched', () => {
    forTheSummary(report);
    expect(report.command).toContain('hunter2');
    expect(report.app.output).toHaveLength(1);
  });

  it('--role server: the client\'s and the probe\'s commands and the client\'s lines are left out too', () => {
    const server = { ...report, role: 'server', serverSide: { client: 'psql password=hunter2', released: 'psql -c hunter2', clientOutput: [{ t: 1, stream: 'stdout', text: 'hunter2' }], budgetS: 300, verdict: 'agree', verdictWhy: 'x', releaseProbes: 3 } } as AppReport;
    const cut = forTheSummary(server);
    expect(JSON.stringify(cut)).not.toMatch(/hunter2/);
    expect(cut.serverSide).toMatchObject({ verdict: 'agree', releaseProbes: 3, clientOutput: [] });
    expect(cut.leftOut).toEqual(expect.arrayContaining(['serverSide.client', 'serverSide.released', 'serverSide.clientOutput']));
    expect(forTheSummary({ ...server, serverSide: { ...server.serverSide!, client: 'builtin' } }).serverSide!.client).toBe('builtin');
  });

  it('keeps the builtin server by name', () => {
    expect(forTheSummary({ ...report, server: 'builtin' }).server).toBe('builtin');
  });
});
