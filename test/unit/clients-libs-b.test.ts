import { describe, expect, it } from 'vitest';
import { type MiddleboxRun, renderLibsBSections } from '../../bench/clients-libs-b.js';
import type { ClientRun } from '../../bench/clients-table.js';
import { CLIENTS } from '../../harness/apps/recommend/clients.js';
import { findPreset } from '../../harness/apps/check/presets.js';

/** docs/CLIENTS.md's library section (mysql2, @grpc/grpc-js, undici) and their recommend/presets entries. */
const run: ClientRun = {
  id: 'mysql2-keepalive-2s',
  client: 'mysql2 pool keepAliveInitialDelay: 2000',
  version: 'mysql2 3.26.1, server MariaDB 10.11.19',
  phase: 'idle',
  sets: 'SO_KEEPALIVE=1 KEEPIDLE=2 KEEPINTVL=1 KEEPCNT=10 TCP_NODELAY=1',
  refused: [],
  kernelAbortS: 12.26,
  noticedS: 12.29,
  noticedBy: 'output',
  printed: '[12.531] error: ETIMEDOUT (Error) on pool.query(SELECT SLEEP(3600)): read ETIMEDOUT',
  errno: 'ETIMEDOUT',
  modelS: 12,
  watchedS: 20,
  presets: ['mysql2-2s'],
  problems: [],
};
const mb: MiddleboxRun = {
  id: 'mysql2',
  client: 'mysql2 pool (defaults)',
  version: 'mysql2 3.26.1, server MariaDB 10.11.19',
  middlebox: 'idle-expiry:6s:reset',
  sets: 'SO_KEEPALIVE=1 KEEPIDLE=7200 KEEPINTVL=75 KEEPCNT=9',
  mapping: 'forgotten at 6.0 s',
  met: 'the router answered with a RST',
  kernelAbortS: 8.98,
  noticedS: 8.97,
  printed: 'error: ECONNRESET (Error) on pool.query on the pooled connection: read ECONNRESET',
  recovery: 'recovery: the next call got through',
  problems: [],
};

describe('npm run clients: the libraries section', () => {
  it('a section per library: its rows, idle/busy and behind the middlebox with the next call, and the ones not run', () => {
    const md = renderLibsBSections([run], [mb]);
    expect(md).toContain('### mysql2 (against MariaDB)');
    expect(md).toContain('| mysql2 pool keepAliveInitialDelay: 2000 | idle | SO_KEEPALIVE=1 KEEPIDLE=2 KEEPINTVL=1 KEEPCNT=10 TCP_NODELAY=1 | 12.26 s | 12.29 s (output) | `error: ETIMEDOUT (Error) on pool.query(SELECT SLEEP(3600)): read ETIMEDOUT` |');
    expect(md).toContain('| mysql2 pool (defaults) | idle-expiry:6s:reset: mapping forgotten at 6.0 s | SO_KEEPALIVE=1 KEEPIDLE=7200 KEEPINTVL=75 KEEPCNT=9 | 8.98 s | 8.97 s |');
    expect(md).toContain('| recovery: the next call got through |');
    expect(md).toMatch(/### @grpc\/grpc-js[^\n]*\n\nNot run on this machine/);
  });

  it('recommend --client mysql2|undici|grpc-js: the library\'s own option first, setsockopt for the rest; grpc-js translated to its PINGs', () => {
    const c = { keepalive: { idle: 16, intvl: 1, cnt: 10 }, userTimeoutMs: 25_000 };
    expect(CLIENTS.mysql2.code(c).join('\n')).toMatch(/keepAliveInitialDelay: 16000[\s\S]*stream: \(\) =>[\s\S]*setUserTimeout\(socket, 25000\)/);
    expect(CLIENTS.undici.code(c).join('\n')).toMatch(/buildConnector\(\{ keepAlive: true, keepAliveInitialDelay: 16000, timeout: 25000 \}\)[\s\S]*setUserTimeout\(socket, 25000\)/);
    expect(CLIENTS.undici.code({ keepalive: { idle: 5, intvl: 1, cnt: 10 } })).toEqual([expect.stringContaining('undici'), expect.stringContaining('keepAliveInitialDelay: 5000')]);
    expect(CLIENTS['grpc-js'].code(c).join('\n')).toMatch(/'grpc.keepalive_time_ms': 16000[\s\S]*'grpc.keepalive_timeout_ms': 9000/);
    expect(CLIENTS['grpc-js'].cannot).toMatch(/no access to its socket/);
  });

  it("a node:net socket gets TCP_USER_TIMEOUT only once connected: each Node library's connect timeout carries U through connect()", () => {
    const c = { keepalive: { idle: 16, intvl: 1, cnt: 10 }, userTimeoutMs: 25_000 };
    const code = (n: keyof typeof CLIENTS) => CLIENTS[n].code(c).join('\n');
    expect(code('node')).toMatch(/setTimeout\(\(\) => socket\.destroy[^\n]*, 25000\)[\s\S]*once\('connect'[\s\S]*clearTimeout\(connectTimer\)/);
    expect(code('pg')).toContain('connectionTimeoutMillis: 25000');
    expect(code('ioredis')).toContain('connectTimeout: 25000');
    expect(code('mysql2')).toContain('connectTimeout: 25000');
    for (const n of ['node', 'pg', 'ioredis', 'mysql2', 'undici'] as const) expect(CLIENTS[n].cannot).toMatch(/only once connected/);
    // no U asked: no bound printed
    expect(CLIENTS.pg.code({ keepalive: { idle: 16, intvl: 1, cnt: 10 } }).join('\n')).not.toContain('connectionTimeoutMillis');
  });

  it('the presets say what the libraries leave on the socket', () => {
    expect(findPreset('mysql2')?.config).toEqual({ keepalive: {} });
    expect(findPreset('undici')?.config).toEqual({ keepalive: { idle: 60, intvl: 1, cnt: 10 } });
    expect(findPreset('grpc-js')?.backedBy?.map((b) => b.client)).toEqual(['grpc-js', 'grpc-js-keepalive']);
  });
});
