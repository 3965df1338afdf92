import type { SocketConfig } from '../check/presets.js';
import { LIBS_B_CLIENT_NAMES, LIBS_B_CLIENTS, type LibsBClientName } from './clients-libs-b.js';
import { CONNECT_BOUND_NOTE, connectBoundMs, ffi, ka, ms } from './code-parts.js';

/**
 * What each client can set on its socket, and how — the recommendation is searched among what the
 * client can reach, and printed as the code that reaches it. Where a client cannot set something
 * the search needs, the reasons say so and name the way around it.
 */
export type ClientName = 'raw' | 'node' | 'go' | 'python' | 'libpq' | 'java' | 'curl' | 'pg' | 'ioredis' | LibsBClientName;
export const CLIENT_NAMES: readonly ClientName[] = ['raw', 'node', 'go', 'python', 'libpq', 'java', 'curl', 'pg', 'ioredis', ...LIBS_B_CLIENT_NAMES];

export interface ClientSpec {
  /** "Node.js", for sentences: "no setting Node.js can make …" */
  label: string;
  can: {
    /** 'full': idle, interval and count; 'idle=interval': one value for both (curl); an object: the count is fixed */
    keepalive: 'full' | 'idle=interval' | { cnt: number };
    userTimeout: boolean;
    synCnt: boolean;
    rtoMax: boolean;
  };
  /** what it cannot set, and the way around it */
  cannot?: string;
  /** how it sets TCP_KEEPIDLE — what keeps a middlebox's mapping — and what it leaves when not asked */
  keepIdle: string;
  /** the code that gets these settings */
  code: (c: SocketConfig) => string[];
}

export const CLIENTS: Record<ClientName, ClientSpec> = {
  raw: {
    label: 'a C program',
    keepIdle: "setsockopt(TCP_KEEPIDLE) after SO_KEEPALIVE; without it the kernel's tcp_keepalive_time (7200 s)",
    can: { keepalive: 'full', userTimeout: true, synCnt: true, rtoMax: true },
    code: (c) => [
      '/* before connect(); values in the kernel\'s units (s, s, count, ms) */',
      ...(ka(c)
        ? [
            'int on = 1; setsockopt(fd, SOL_SOCKET, SO_KEEPALIVE, &on, sizeof on);',
            `int idle = ${ka(c)!.idle}, intvl = ${ka(c)!.intvl}, cnt = ${ka(c)!.cnt};`,
            'setsockopt(fd, IPPROTO_TCP, TCP_KEEPIDLE, &idle, sizeof idle);',
            'setsockopt(fd, IPPROTO_TCP, TCP_KEEPINTVL, &intvl, sizeof intvl);',
            'setsockopt(fd, IPPROTO_TCP, TCP_KEEPCNT, &cnt, sizeof cnt);',
          ]
        : []),
      ...(ms(c) ? [`unsigned int ut = ${ms(c)}; setsockopt(fd, IPPROTO_TCP, TCP_USER_TIMEOUT, &ut, sizeof ut);`] : []),
      ...(c.synCnt ? [`int syncnt = ${c.synCnt}; setsockopt(fd, IPPROTO_TCP, TCP_SYNCNT, &syncnt, sizeof syncnt);`] : []),
      ...(c.rtoMaxMs ? [`int rto_max = ${c.rtoMaxMs}; setsockopt(fd, IPPROTO_TCP, TCP_RTO_MAX_MS, &rto_max, sizeof rto_max); /* Linux 6.15+ */`] : []),
    ],
  },
  python: {
    label: 'Python',
    keepIdle: "socket.TCP_KEEPIDLE after SO_KEEPALIVE; without it the kernel's tcp_keepalive_time (7200 s)",
    can: { keepalive: 'full', userTimeout: true, synCnt: true, rtoMax: true },
    code: (c) => [
      'import socket',
      's = socket.socket(socket.AF_INET, socket.SOCK_STREAM)',
      ...(ka(c)
        ? [
            's.setsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE, 1)',
            `s.setsockopt(socket.IPPROTO_TCP, socket.TCP_KEEPIDLE, ${ka(c)!.idle})`,
            `s.setsockopt(socket.IPPROTO_TCP, socket.TCP_KEEPINTVL, ${ka(c)!.intvl})`,
            `s.setsockopt(socket.IPPROTO_TCP, socket.TCP_KEEPCNT, ${ka(c)!.cnt})`,
          ]
        : []),
      ...(ms(c) ? [`s.setsockopt(socket.IPPROTO_TCP, socket.TCP_USER_TIMEOUT, ${ms(c)})`] : []),
      ...(c.synCnt ? [`s.setsockopt(socket.IPPROTO_TCP, socket.TCP_SYNCNT, ${c.synCnt})`] : []),
      ...(c.rtoMaxMs ? [`s.setsockopt(socket.IPPROTO_TCP, 44, ${c.rtoMaxMs})  # TCP_RTO_MAX_MS (Linux 6.15+; no name in the socket module yet)`] : []),
      's.connect((host, port))',
    ],
  },
  node: {
    label: 'Node.js',
    keepIdle: "only through socket.setKeepAlive(true, ms) (TCP_KEEPIDLE = ms/1000; libuv fixes TCP_KEEPINTVL 1, TCP_KEEPCNT 10); setKeepAlive(true) with no delay leaves libuv's 60 s (docs/CLIENTS.md)",
    // libuv: setKeepAlive(true, ms) sets TCP_KEEPIDLE = ms/1000, TCP_KEEPINTVL 1, TCP_KEEPCNT 10 (docs/CLIENTS.md)
    can: { keepalive: 'full', userTimeout: true, synCnt: false, rtoMax: false },
    cannot: "Node's net sets only TCP_KEEPIDLE (libuv fixes TCP_KEEPINTVL 1 and TCP_KEEPCNT 10) and nothing else; the rest needs setsockopt on the socket's fd, e.g. the net-keepalive package; TCP_SYNCNT (before connect()) cannot be reached" + '; ' + CONNECT_BOUND_NOTE,
    code: (c) => [
      "import net from 'node:net';",
      "import NetKeepAlive from 'net-keepalive'; // setsockopt through FFI: what node:net cannot set",
      'const socket = net.connect({ host, port });',
      ...(ka(c) ? [`socket.setKeepAlive(true, ${ka(c)!.idle * 1000}); // TCP_KEEPIDLE ${ka(c)!.idle} s (libuv also sets TCP_KEEPINTVL 1, TCP_KEEPCNT 10)`] : []),
      ...(connectBoundMs(c)
        ? [`const connectTimer = setTimeout(() => socket.destroy(Object.assign(new Error('connect timed out'), { code: 'ETIMEDOUT' })), ${connectBoundMs(c)}); // the connect's bound: TCP_USER_TIMEOUT is set only once connected`]
        : []),
      "socket.once('connect', () => {",
      ...(connectBoundMs(c) ? ['  clearTimeout(connectTimer);'] : []),
      ...ffi(c, 'socket', '  '),
      '});',
    ],
  },
  go: {
    label: 'Go',
    keepIdle: 'net.KeepAliveConfig.Idle (Go 1.23+; 15 s when unset); Dialer.KeepAlive before it set idle and interval alike',
    can: { keepalive: 'full', userTimeout: true, synCnt: true, rtoMax: true },
    code: (c) => [
      '// Go 1.23+: KeepAliveConfig; the rest through the dialer\'s Control (golang.org/x/sys/unix)',
      'd := net.Dialer{',
      ...(ka(c) ? [`\tKeepAliveConfig: net.KeepAliveConfig{Enable: true, Idle: ${ka(c)!.idle} * time.Second, Interval: ${ka(c)!.intvl} * time.Second, Count: ${ka(c)!.cnt}},`] : ['\tKeepAlive: -1, // no keepalive']),
      '\tControl: func(network, address string, rc syscall.RawConn) error {',
      '\t\tvar serr error',
      '\t\terr := rc.Control(func(fd uintptr) {',
      ...(ms(c) ? [`\t\t\tserr = unix.SetsockoptInt(int(fd), unix.IPPROTO_TCP, unix.TCP_USER_TIMEOUT, ${ms(c)})`] : []),
      ...(c.synCnt ? [`\t\t\tif serr == nil { serr = unix.SetsockoptInt(int(fd), unix.IPPROTO_TCP, unix.TCP_SYNCNT, ${c.synCnt}) }`] : []),
      ...(c.rtoMaxMs ? [`\t\t\tif serr == nil { serr = unix.SetsockoptInt(int(fd), unix.IPPROTO_TCP, 44 /* TCP_RTO_MAX_MS, 6.15+ */, ${c.rtoMaxMs}) }`] : []),
      '\t\t})',
      '\t\tif err != nil { return err }',
      '\t\treturn serr',
      '\t},',
      '}',
      'conn, err := d.Dial("tcp", address)',
    ],
  },
  libpq: {
    label: 'libpq',
    keepIdle: "keepalives_idle; without it the kernel's tcp_keepalive_time (7200 s)",
    can: { keepalive: 'full', userTimeout: true, synCnt: false, rtoMax: false },
    cannot: 'libpq has no TCP_SYNCNT or TCP_RTO_MAX_MS parameter (connect_timeout bounds the connect at the application level)',
    code: (c) => [
      '# libpq connection parameters (a conninfo string, or PG* environment variables)',
      [
        'keepalives=' + (ka(c) ? 1 : 0),
        ...(ka(c) ? [`keepalives_idle=${ka(c)!.idle}`, `keepalives_interval=${ka(c)!.intvl}`, `keepalives_count=${ka(c)!.cnt}`] : []),
        ...(ms(c) ? [`tcp_user_timeout=${ms(c)}`] : []),
      ].join(' '),
    ],
  },
  java: {
    label: 'Java',
    keepIdle: "jdk.net.ExtendedSocketOptions.TCP_KEEPIDLE (JDK 11+); Socket.setKeepAlive(true) alone leaves the kernel's 7200 s",
    can: { keepalive: 'full', userTimeout: false, synCnt: false, rtoMax: false },
    cannot: "java.net.Socket has no TCP_USER_TIMEOUT (jdk.net.ExtendedSocketOptions has only the keepalive three; Netty's epoll transport has EpollChannelOption.TCP_USER_TIMEOUT), so unacknowledged data waits for tcp_retries2",
    code: (c) => [
      'Socket s = new Socket();',
      ...(ka(c)
        ? [
            's.setKeepAlive(true);',
            `s.setOption(jdk.net.ExtendedSocketOptions.TCP_KEEPIDLE, ${ka(c)!.idle});`,
            `s.setOption(jdk.net.ExtendedSocketOptions.TCP_KEEPINTERVAL, ${ka(c)!.intvl});`,
            `s.setOption(jdk.net.ExtendedSocketOptions.TCP_KEEPCOUNT, ${ka(c)!.cnt});`,
          ]
        : []),
      's.connect(new InetSocketAddress(host, port));',
    ],
  },
  curl: {
    label: 'curl',
    keepIdle: '--keepalive-time sets TCP_KEEPIDLE and TCP_KEEPINTVL to one value (60 s by default)',
    // curl's --keepalive-time sets TCP_KEEPIDLE and TCP_KEEPINTVL to the same value; the count stays the kernel's (9) before curl 8.9's --keepalive-cnt
    can: { keepalive: 'idle=interval', userTimeout: false, synCnt: false, rtoMax: false },
    cannot: 'curl sets no TCP_USER_TIMEOUT: a transfer whose data is unacknowledged waits for tcp_retries2 unless --speed-limit/--speed-time or --max-time end it at the application level',
    code: (c) => [
      `curl${ka(c) ? ` --keepalive-time ${ka(c)!.idle}${ka(c)!.cnt !== 9 ? ` --keepalive-cnt ${ka(c)!.cnt}  # --keepalive-cnt: curl 8.9+` : ''}` : ' --no-keepalive'} URL`,
    ],
  },
  pg: {
    label: 'node-postgres (pg)',
    keepIdle: "keepAlive: true with keepAliveInitialDelayMillis (TCP_KEEPIDLE = ms/1000; libuv fixes TCP_KEEPINTVL 1, TCP_KEEPCNT 10); keepAlive: true alone asks for TCP_KEEPIDLE 0, which the kernel refuses, and leaves the kernel's 7200 s; pg's default is no keepalive (docs/CLIENTS.md)",
    // pg's own options reach TCP_KEEPIDLE only; its `stream` option (a function returning the socket pg connects) reaches the rest through FFI
    can: { keepalive: 'full', userTimeout: true, synCnt: false, rtoMax: false },
    cannot:
      "pg's own options set only TCP_KEEPIDLE (keepAliveInitialDelayMillis); TCP_KEEPINTVL, TCP_KEEPCNT and TCP_USER_TIMEOUT have no pg option: the code makes the socket itself through pg's `stream` option and sets them with setsockopt through FFI (the net-keepalive package) once connected; TCP_SYNCNT (before connect()) cannot be reached — connectionTimeoutMillis bounds the connect at the application level" + '; ' + CONNECT_BOUND_NOTE,
    code: (c) => [
      "import net from 'node:net';",
      "import pg from 'pg';",
      "import NetKeepAlive from 'net-keepalive'; // setsockopt through FFI: what neither pg nor node:net can set",
      'const pool = new pg.Pool({',
      '  host, port, user, database,',
      ...(connectBoundMs(c) ? [`  connectionTimeoutMillis: ${connectBoundMs(c)}, // the connect's bound: TCP_USER_TIMEOUT is set only once connected`] : []),
      "  keepAlive: false, // set on the socket below: pg's own setKeepAlive would reset TCP_KEEPINTVL/TCP_KEEPCNT to libuv's 1/10",
      '  // pg connects the socket this returns (pg 8: `stream` may be a function of the config)',
      '  stream: () => {',
      '    const socket = new net.Socket();',
      "    socket.once('connect', () => {",
      ...(ka(c) ? [`      socket.setKeepAlive(true, ${ka(c)!.idle * 1000}); // TCP_KEEPIDLE ${ka(c)!.idle} s`] : []),
      ...ffi(c, 'socket', '      '),
      '    });',
      '    return socket;',
      '  },',
      '});',
      "pool.on('error', (err) => { /* an idle client's socket died (err.code, e.g. ETIMEDOUT): the pool drops it */ });",
    ],
  },
  ioredis: {
    label: 'ioredis',
    keepIdle: "keepAlive: ms (the initial delay: TCP_KEEPIDLE = ms/1000; libuv fixes TCP_KEEPINTVL 1, TCP_KEEPCNT 10); the default (6.x) is 30000: keepalive 30/1/10 (docs/CLIENTS.md)",
    // ioredis's keepAlive reaches TCP_KEEPIDLE only; redis.stream (the net.Socket, after 'connect') reaches the rest through FFI
    can: { keepalive: 'full', userTimeout: true, synCnt: false, rtoMax: false },
    cannot:
      "ioredis's own options set only TCP_KEEPIDLE (keepAlive: ms); TCP_KEEPINTVL, TCP_KEEPCNT and TCP_USER_TIMEOUT have no ioredis option: the code sets them on redis.stream (its net.Socket) on every 'connect' (it reconnects on a new socket), with setsockopt through FFI (the net-keepalive package); TCP_SYNCNT cannot be reached — connectTimeout bounds the connect at the application level" + '; ' + CONNECT_BOUND_NOTE,
    code: (c) => [
      "import { Redis } from 'ioredis';",
      "import NetKeepAlive from 'net-keepalive'; // setsockopt through FFI: what neither ioredis nor node:net can set",
      `const redis = new Redis({ host, port, ${ka(c) ? `keepAlive: ${ka(c)!.idle * 1000} /* TCP_KEEPIDLE ${ka(c)!.idle} s */` : "keepAlive: false /* no keepalive: ioredis's default is 30000 */"}${connectBoundMs(c) ? `, connectTimeout: ${connectBoundMs(c)} /* the connect's bound: TCP_USER_TIMEOUT is set only once connected */` : ''} });`,
      "// 'connect' comes after ioredis's own setKeepAlive, on every (re)connection",
      "redis.on('connect', () => {",
      ...ffi(c, 'redis.stream', '  '),
      '});',
      "redis.on('error', (err) => { /* err.code, e.g. ETIMEDOUT: ioredis reconnects by itself */ });",
    ],
  },
  ...LIBS_B_CLIENTS,
};
