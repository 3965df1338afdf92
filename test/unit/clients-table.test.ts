import { describe, expect, it } from 'vitest';
import { type ClientRun, libraryFindings, renderClientsTable, renderVerifiedModule, unbackedPresets, verifiedPresets } from '../../bench/clients-table.js';

/** docs/CLIENTS.md and the presets' evidence, from runs made up here. */
const run = (o: Partial<ClientRun>): ClientRun => ({
  id: 'node-net-5s',
  client: 'Node.js net',
  version: 'v20.20.2',
  phase: 'idle',
  sets: 'SO_KEEPALIVE=1 KEEPIDLE=5 KEEPINTVL=1 KEEPCNT=10',
  refused: [],
  kernelAbortS: 15.46,
  noticedS: 15.55,
  noticedBy: 'output',
  printed: 'error: ETIMEDOUT: read ETIMEDOUT',
  errno: 'ETIMEDOUT',
  modelS: 15,
  watchedS: 21,
  presets: ['node-keepalive-5s'],
  problems: [],
  ...o,
});

describe('npm run clients: the table', () => {
  it('a row per run, with what it set, when the kernel and the program noticed, and what it printed', () => {
    const md = renderClientsTable([run({}), run({ client: 'psql', version: 'psql 15', sets: '', kernelAbortS: null, noticedS: null, printed: undefined, errno: undefined, modelS: 7245, watchedS: 60, presets: [] })], { date: '2026-12-03', kernel: '6.18', profile: 'fast', wallS: 300 });
    expect(md).toContain('| Node.js net | v20.20.2 | idle | SO_KEEPALIVE=1 KEEPIDLE=5 KEEPINTVL=1 KEEPCNT=10 | 15.46 s | 15.55 s (output) | `error: ETIMEDOUT: read ETIMEDOUT` → ETIMEDOUT | 15.00 s |');
    expect(md).toContain('| psql | psql 15 | idle | (nothing: a plain socket) | not within 60 s | not within 60 s | — | 7245.00 s |');
    expect(md).toContain('- `node-keepalive-5s`: Node.js net (v20.20.2)');
  });

  it('a preset is backed only by runs that ran, once per client and version', () => {
    const v = verifiedPresets([run({}), run({ phase: 'busy' }), run({ client: 'x', problems: ['never connected'] })], '2026-12-03');
    expect(v).toEqual({ 'node-keepalive-5s': [{ client: 'Node.js net', version: 'v20.20.2', date: '2026-12-03' }] });
    // the same values from a client the preset does not describe back nothing
    expect(verifiedPresets([run({ id: 'psql', presets: ['node-keepalive', 'libpq-defaults'] })], 'd')).toEqual({ 'libpq-defaults': [{ client: 'Node.js net', version: 'v20.20.2', date: 'd' }] });
    // a version below the preset's minimum backs nothing, and the table says why
    const go = run({ id: 'go', client: 'Go', version: 'go version go1.19.8 linux/amd64', presets: ['go-1.23'] });
    expect(verifiedPresets([go], 'd')).toEqual({});
    expect(unbackedPresets([go])).toContain('`go-1.23`: needs go ≥ 1.23, this machine has go version go1.19.8 linux/amd64');
    expect(verifiedPresets([{ ...go, version: 'go1.23.1' }], 'd')['go-1.23']).toHaveLength(1);
    expect(renderVerifiedModule(v)).toMatch(/export const VERIFIED: Record<string, Verification\[\]> = \{\n {2}"node-keepalive-5s"/);
  });

  it('a library gets a section of its own: its rows (the middlebox ones too, with the next request), and what they show', () => {
    const pg = run({ id: 'pg-keepalive', client: 'pg, keepAlive: true', version: 'pg 8.23.1, PostgreSQL 15.18', sets: 'SO_KEEPALIVE=1 KEEPIDLE=7200 KEEPINTVL=75 KEEPCNT=9', refused: ['TCP_KEEPIDLE=0 → EINVAL'], kernelAbortS: null, noticedS: null, printed: undefined, errno: undefined, presets: [] });
    const mb = run({ id: 'pg', client: 'pg, defaults', version: 'pg 8.23.1, PostgreSQL 15.18', sets: '', middlebox: 'idle-expiry:6s:reset', kernelAbortS: 9.01, noticedS: 9.02, printed: 'error: ECONNRESET: read ECONNRESET (rejected request) [mono 12.5]', errno: 'ECONNRESET', next: 'ok (the library recovered)', presets: [] });
    const md = renderClientsTable([run({}), pg, mb], { date: 'd', kernel: '6.18', profile: 'fast', wallS: 1 });
    expect(md).toContain('## node-postgres (`pg`)');
    expect(md).toContain('| pg, defaults | idle behind idle-expiry:6s:reset | (nothing: a plain socket) | 9.01 s | 9.02 s (output) | `error: ECONNRESET: read ECONNRESET (rejected request)` → ECONNRESET | ok (the library recovered) | 15.00 s |');
    // the library's rows are in its section, not the main table
    expect(md.split('## node-postgres')[0]).not.toContain('pg, defaults');
    // keepalive held the mapping: the request after the quiet was answered, and the row says so
    const kept = run({ id: 'pg-keepalive-2s', client: 'pg, keepAlive 2 s', version: 'pg 8.23.1', sets: 'SO_KEEPALIVE=1 KEEPIDLE=2', middlebox: 'idle-expiry:6s:drop', kernelAbortS: null, noticedS: null, printed: undefined, errno: undefined, modelS: null, gotThrough: true, presets: [] });
    expect(renderClientsTable([kept], { date: 'd', kernel: '6.18', profile: 'fast', wallS: 1 })).toContain('| pg, keepAlive 2 s | idle behind idle-expiry:6s:drop | SO_KEEPALIVE=1 KEEPIDLE=2 | — (none) | — | — (the request after the quiet was answered: the mapping was kept) | — | never |');
    expect(libraryFindings([pg])).toEqual(['the option does not reach the socket as asked: `TCP_KEEPIDLE=0 → EINVAL` (pg, keepAlive: true, idle; it holds SO_KEEPALIVE=1 KEEPIDLE=7200 KEEPINTVL=75 KEEPCNT=9)']);
    expect(libraryFindings([{ ...mb, errno: undefined, printed: 'Connection terminated unexpectedly' }])).toEqual(['the library hides the errno: the kernel aborted at 9.01 s, it surfaced `Connection terminated unexpectedly` (pg, defaults, idle behind idle-expiry:6s:reset)']);
  });
});
