import type { SocketSettings } from '../../model/types.js';
import type { SockOpt } from '../../core/protocol.js';
import { LIBS_B_PRESETS } from './presets-libs-b.js';

/**
 * What popular clients set on their TCP sockets, as data: `deadpeer check --preset NAME` runs the
 * phases with it, `deadpeer exec` names the preset a real program's socket matches. Each preset
 * says where its values come from; where a client has no fixed default (libpq), the values are
 * examples and say so. Fields left out keep the kernel's value (the namespace sysctl).
 */
export interface KeepaliveConfig {
  /** TCP_KEEPIDLE, s */
  idle?: number;
  /** TCP_KEEPINTVL, s */
  intvl?: number;
  /** TCP_KEEPCNT */
  cnt?: number;
}

export interface SocketConfig {
  /** false = SO_KEEPALIVE off (set explicitly); an object = on, with these overrides; absent = not set */
  keepalive?: KeepaliveConfig | false;
  /** TCP_USER_TIMEOUT, ms (0 = off) */
  userTimeoutMs?: number;
  /** TCP_SYNCNT */
  synCnt?: number;
  /** TCP_RTO_MAX_MS, ms (6.15+) */
  rtoMaxMs?: number;
}

export interface Preset {
  name: string;
  /** one line: which client and API call */
  title: string;
  /** where the values come from */
  source: string;
  config: SocketConfig;
  /**
   * The real clients (`npm run clients` ids) whose own behaviour this preset describes: a run of
   * one of them whose socket read back these settings verifies it (docs/CLIENTS.md), given its
   * version is at least `minVersion`. Absent: nothing here can back it.
   */
  backedBy?: Array<{ client: string; minVersion?: string }>;
}

export const PRESETS: readonly Preset[] = [
  {
    name: 'kernel-defaults',
    title: 'a socket nobody set options on',
    // tcp_sk_init() in net/ipv4/tcp_ipv4.c: tcp_syn_retries 6, tcp_retries2 15, keepalive 7200/75/9 but SO_KEEPALIVE off
    source: 'Linux defaults (net/ipv4/tcp_ipv4.c tcp_sk_init; Documentation/networking/ip-sysctl.rst): SO_KEEPALIVE off, no TCP_USER_TIMEOUT',
    config: {},
    backedBy: [{ client: 'python-plain' }, { client: 'java' }],
  },
  {
    name: 'node-keepalive',
    title: 'Node.js socket.setKeepAlive(true)',
    // libuv applies a pending keepalive when the connection opens with a fixed 60 s delay
    // (uv__stream_open → uv__tcp_keepalive(fd, 1, 60): KEEPIDLE 60, KEEPINTVL 1, KEEPCNT 10); Node
    // then applies its own initialDelay 0 on 'connect', which the kernel refuses (TCP_KEEPIDLE 0:
    // EINVAL) and Node ignores. Read back and straced by `npm run clients` on Node 20.20.2.
    source:
      'libuv uv__stream_open/uv__tcp_keepalive (delay 60 s, interval 1 s, count 10 when the connection opens); ' +
      "Node's setKeepAlive(true) then asks for TCP_KEEPIDLE 0, refused with EINVAL: keepalive 60/1/10 (docs/CLIENTS.md)",
    config: { keepalive: { idle: 60, intvl: 1, cnt: 10 } },
    backedBy: [{ client: 'node-net-keepalive' }],
  },
  {
    name: 'node-keepalive-5s',
    title: 'Node.js socket.setKeepAlive(true, 5000)',
    // libuv uv__tcp_keepalive(): TCP_KEEPIDLE = delay/1000, TCP_KEEPINTVL 1, TCP_KEEPCNT 10; no TCP_USER_TIMEOUT API in Node
    source:
      'libuv uv__tcp_keepalive (libuv ≥ 1.35; strace of Node 20.20 / libuv 1.46 confirms): TCP_KEEPIDLE = ms/1000, TCP_KEEPINTVL 1, ' +
      'TCP_KEEPCNT 10; Node has no TCP_USER_TIMEOUT',
    config: { keepalive: { idle: 5, intvl: 1, cnt: 10 } },
    backedBy: [{ client: 'node-net-5s' }],
  },
  {
    name: 'go-1.23',
    title: 'Go ≥ 1.23 net.Dialer defaults',
    source: 'Go net.KeepAliveConfig (Go 1.23+): Idle 15 s, Interval 15 s, Count 9 when unset; no TCP_USER_TIMEOUT',
    config: { keepalive: { idle: 15, intvl: 15, cnt: 9 } },
    backedBy: [{ client: 'go', minVersion: '1.23' }],
  },
  {
    name: 'libpq',
    title: 'PostgreSQL libpq with keepalives_* and tcp_user_timeout (example values)',
    // libpq's own defaults are keepalives=1 with the kernel's values and tcp_user_timeout=0 (see libpq-defaults)
    source:
      'libpq connection parameters keepalives_idle / keepalives_interval / keepalives_count / tcp_user_timeout; ' +
      'EXAMPLE values 10/5/3 and 25000 ms (= 10 + 5×3 s), not defaults',
    config: { keepalive: { idle: 10, intvl: 5, cnt: 3 }, userTimeoutMs: 25_000 },
    backedBy: [{ client: 'psql-keepalive-params' }],
  },
  {
    name: 'libpq-defaults',
    title: 'PostgreSQL libpq with no keepalive parameters',
    source: 'libpq: keepalives=1 by default (kernel keepalive values), tcp_user_timeout=0',
    config: { keepalive: {} },
    backedBy: [{ client: 'psql' }],
  },
  {
    name: 'grpc',
    title: 'gRPC client with keepalive enabled (C-core, Java, Go)',
    // gRPC proposal A18 "TCP user timeout": with GRPC_ARG_KEEPALIVE_TIME_MS set, TCP_USER_TIMEOUT = keepalive timeout
    source:
      'gRPC proposal A18: when keepalive time is set, TCP_USER_TIMEOUT = keepalive timeout (20 s default); ' +
      'gRPC keepalive is HTTP/2 PING (data, so an idle channel with pings is "busy"), not SO_KEEPALIVE',
    config: { userTimeoutMs: 20_000 },
  },
  {
    name: 'reference',
    title: 'the 2019 reference recommendation',
    // "When TCP sockets refuse to die" (Cloudflare, 2019): keepalive on, TCP_USER_TIMEOUT = IDLE + INTVL × CNT;
    // the values are the reference's idle experiment's 5/3/3
    source: '"When TCP sockets refuse to die" (2019): keepalive on, TCP_USER_TIMEOUT = IDLE + INTVL×CNT; values 5/3/3 → 14000 ms',
    config: { keepalive: { idle: 5, intvl: 3, cnt: 3 }, userTimeoutMs: 14_000 },
    backedBy: [{ client: 'python-reference' }],
  },
  {
    name: 'pg',
    title: 'node-postgres (pg) with keepAlive: true, keepAliveInitialDelayMillis: 2000 (example value)',
    // pg Connection.connect: stream.setKeepAlive(true, keepAliveInitialDelayMillis) on 'connect'; libuv fixes
    // TCP_KEEPINTVL 1, TCP_KEEPCNT 10. pg's default is keepAlive false (kernel-defaults: a plain socket).
    source:
      "pg lib/connection.js: setKeepAlive(true, keepAliveInitialDelayMillis) on 'connect' → TCP_KEEPIDLE = ms/1000, libuv's TCP_KEEPINTVL 1, TCP_KEEPCNT 10; " +
      'EXAMPLE delay 2000 ms, not a default (pg defaults to no keepalive); no TCP_USER_TIMEOUT option (docs/CLIENTS.md)',
    config: { keepalive: { idle: 2, intvl: 1, cnt: 10 } },
    backedBy: [{ client: 'pg-keepalive-2s' }],
  },
  {
    name: 'ioredis',
    title: 'ioredis with keepAlive: 2000 (example value)',
    // ioredis Redis.js: stream.setKeepAlive(true, options.keepAlive) once connected; libuv fixes TCP_KEEPINTVL 1, TCP_KEEPCNT 10
    source:
      "ioredis built/Redis.js: setKeepAlive(true, keepAlive) on 'connect' → TCP_KEEPIDLE = ms/1000, libuv's TCP_KEEPINTVL 1, TCP_KEEPCNT 10; " +
      'EXAMPLE keepAlive 2000 ms, not the default (30000 in 6.x: keepalive 30/1/10); no TCP_USER_TIMEOUT option (docs/CLIENTS.md)',
    config: { keepalive: { idle: 2, intvl: 1, cnt: 10 } },
    backedBy: [{ client: 'ioredis-keepalive-2s' }],
  },
  {
    name: 'node-redis',
    title: 'node-redis (redis) createClient defaults',
    // @redis/client lib/client/socket.js: net.createConnection({ keepAlive: true, keepAliveInitialDelay: 30000 }) (read in 6.4.0)
    source:
      '@redis/client socket.js: net.createConnection with keepAlive true, keepAliveInitialDelay DEFAULT_KEEPALIVE_INITIAL_DELAY (30000 ms, read in 6.4.0) → ' +
      "TCP_KEEPIDLE 30, libuv's TCP_KEEPINTVL 1, TCP_KEEPCNT 10; no TCP_USER_TIMEOUT option (docs/CLIENTS.md)",
    config: { keepalive: { idle: 30, intvl: 1, cnt: 10 } },
    backedBy: [{ client: 'node-redis', minVersion: '6.0' }],
  },
  ...LIBS_B_PRESETS,
];

export function findPreset(name: string): Preset | undefined {
  return PRESETS.find((p) => p.name === name);
}

/** Overrides on top of a base: each field stated in `over` replaces the base's (keepalive as a whole). */
export function mergeConfig(base: SocketConfig, over: SocketConfig): SocketConfig {
  const out: SocketConfig = { ...base };
  for (const k of Object.keys(over) as (keyof SocketConfig)[]) if (over[k] !== undefined) (out as Record<string, unknown>)[k] = over[k];
  return out;
}

/** The setsockopt calls a configuration means, in the order a client makes them. */
export function socketOptions(c: SocketConfig): Partial<Record<SockOpt, number>> {
  const o: Partial<Record<SockOpt, number>> = {};
  if (c.keepalive === false) o.SO_KEEPALIVE = 0;
  else if (c.keepalive) {
    o.SO_KEEPALIVE = 1;
    if (c.keepalive.idle !== undefined) o.TCP_KEEPIDLE = c.keepalive.idle;
    if (c.keepalive.intvl !== undefined) o.TCP_KEEPINTVL = c.keepalive.intvl;
    if (c.keepalive.cnt !== undefined) o.TCP_KEEPCNT = c.keepalive.cnt;
  }
  if (c.userTimeoutMs !== undefined) o.TCP_USER_TIMEOUT = c.userTimeoutMs;
  if (c.synCnt !== undefined) o.TCP_SYNCNT = c.synCnt;
  if (c.rtoMaxMs !== undefined) o.TCP_RTO_MAX_MS = c.rtoMaxMs;
  return o;
}

/** "keepalive 5/1/10, TCP_USER_TIMEOUT 14000 ms" — a configuration in one line. */
export function describeConfig(c: SocketConfig): string {
  const k = c.keepalive || undefined;
  const ka = !k
    ? 'keepalive off'
    : k.idle === undefined && k.intvl === undefined && k.cnt === undefined
      ? "keepalive on (the kernel's values)"
      : `keepalive ${k.idle ?? 'kernel'}/${k.intvl ?? 'kernel'}/${k.cnt ?? 'kernel'}`;
  return [
    ka,
    c.userTimeoutMs ? `TCP_USER_TIMEOUT ${c.userTimeoutMs} ms` : 'no TCP_USER_TIMEOUT',
    c.synCnt !== undefined ? `TCP_SYNCNT ${c.synCnt}` : '',
    c.rtoMaxMs !== undefined ? `TCP_RTO_MAX_MS ${c.rtoMaxMs}` : '',
  ]
    .filter(Boolean)
    .join(', ');
}

/**
 * What a preset means on a socket of a namespace with these keepalive sysctls: the values the
 * kernel would hold (read back) after the preset's setsockopt calls.
 */
function effective(p: Preset, kernel: Pick<SocketSettings, 'keepIdle' | 'keepIntvl' | 'keepCnt'>): Pick<SocketSettings, 'keepalive' | 'keepIdle' | 'keepIntvl' | 'keepCnt' | 'userTimeoutMs'> {
  const ka = p.config.keepalive || undefined;
  return {
    keepalive: !!ka,
    keepIdle: ka?.idle ?? kernel.keepIdle,
    keepIntvl: ka?.intvl ?? kernel.keepIntvl,
    keepCnt: ka?.cnt ?? kernel.keepCnt,
    userTimeoutMs: p.config.userTimeoutMs ?? 0,
  };
}

/**
 * The presets a socket's read-back settings match (keepalive, and its values only where it is
 * on; TCP_USER_TIMEOUT), given the namespace's keepalive sysctls for the values not set.
 */
export function matchingPresets(s: SocketSettings, kernel: Pick<SocketSettings, 'keepIdle' | 'keepIntvl' | 'keepCnt'>): Preset[] {
  return PRESETS.filter((p) => {
    const e = effective(p, kernel);
    if (e.keepalive !== s.keepalive || e.userTimeoutMs !== s.userTimeoutMs) return false;
    return !s.keepalive || (e.keepIdle === s.keepIdle && e.keepIntvl === s.keepIntvl && e.keepCnt === s.keepCnt);
  });
}
