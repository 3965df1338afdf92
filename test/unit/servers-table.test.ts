import { describe, expect, it } from 'vitest';
import { type ServerRun, renderServersTable } from '../../bench/servers-table.js';
import { shellCommand } from '../../harness/apps/exec/server-role.js';

/** docs/SERVERS.md from runs made up here. */
const run = (o: Partial<ServerRun>): ServerRun => ({
  server: 'PostgreSQL, tcp_keepalives 2/1/2',
  version: 'PostgreSQL 15.18',
  phase: 'idle',
  client: 'psql: a lock, idle in transaction',
  sets: 'SO_KEEPALIVE=1 KEEPIDLE=2 KEEPINTVL=1 KEEPCNT=2',
  modelS: 4,
  kernelAbortS: 4.05,
  serverReleasedS: 4.07,
  releasedBy: 'the process exited',
  releasedS: 4.14,
  verdict: 'the kernel agrees with the model',
  watchedS: 9.4,
  problems: [],
  ...o,
});
const META = { date: '2026-12-06', kernel: '6.1.0', profile: 'fast', wallS: 56, versions: ['PostgreSQL 15.18'] };
const rows = (md: string) => md.split('\n').filter((l) => l.startsWith('| ') && !l.startsWith('| server') && !l.startsWith('| ---'));

describe('docs/SERVERS.md', () => {
  it('a run: the four moments, the model and the verdict in one row', () => {
    expect(rows(renderServersTable([run({})], META))).toEqual([
      '| PostgreSQL, tcp_keepalives 2/1/2 | idle | psql: a lock, idle in transaction | SO_KEEPALIVE=1 KEEPIDLE=2 KEEPINTVL=1 KEEPCNT=2 | 4.00 s | 4.05 s | 4.07 s (the process exited) | 4.14 s | the kernel agrees with the model |',
    ]);
  });

  it('predicted, not run: hours said as such, no measured cells', () => {
    const [row] = rows(renderServersTable([run({ modelS: 7875, notRun: 'beyond the budget', kernelAbortS: null, serverReleasedS: null, releasedS: null, verdict: 'not run' })], META));
    expect(row).toContain('| 2 h 11 min | (not run) | (not run) | (not run) | predicted: held ≈ 2 h 11 min, not run |');
  });

  it('not released within the run, no resource probed, the server closing first, a run that could not be made', () => {
    const r = rows(
      renderServersTable(
        [
          run({ serverReleasedS: null, releasedS: null, releasedBy: undefined, watchedS: 20.4 }),
          run({ releasedS: undefined, closedFirst: true, releasedBy: 'fd closed', kernelAbortS: null }),
          run({ problems: ['the server sent nothing within 15 s'] }),
        ],
        META,
      ),
    );
    expect(r[0]).toContain('| 4.05 s | not within 20 s | not within 20 s |');
    expect(r[1]).toContain('| not within 9 s | 4.07 s (fd closed, closed it first) | — |');
    expect(r[2]).toContain('(not run: the server sent nothing within 15 s)');
  });

  it('a pipe in a name does not break the table', () => {
    expect(rows(renderServersTable([run({ client: 'a | b' })], META))[0]).toContain('a \\| b');
  });
});

describe('exec --role server: the server command from its argv', () => {
  it('one word is a shell command as it is; several are quoted each', () => {
    expect(shellCommand(['redis-server --port "$DEADPEER_PORT"'])).toBe('redis-server --port "$DEADPEER_PORT"');
    expect(shellCommand(['sh', '-c', "echo 'hi' $X"])).toBe(`sh -c 'echo '\\''hi'\\'' $X'`);
    expect(shellCommand(['node', 'examples/servers/node-http.mjs'])).toBe('node examples/servers/node-http.mjs');
  });
});
