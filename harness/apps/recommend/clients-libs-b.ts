import type { SocketConfig } from '../check/presets.js';
import { CONNECT_BOUND_NOTE, connectBoundMs, ffi, ka, ms } from './code-parts.js';

/**
 * `recommend --client mysql2|grpc-js|undici` (issue 21): each library's own options first, and for
 * what it cannot set, the socket-level code that reaches its socket — or, for grpc-js, which gives
 * no access to its socket, its own HTTP/2 PING detector in their place. What each really sets is
 * measured by `npm run clients` (docs/CLIENTS.md). Typed as ClientSpec where clients.ts spreads them into
 * CLIENTS (importing the type here would be an import circle).
 */
export type LibsBClientName = 'mysql2' | 'grpc-js' | 'undici';
export const LIBS_B_CLIENT_NAMES: readonly LibsBClientName[] = ['mysql2', 'grpc-js', 'undici'];

const needsMore = (c: SocketConfig) => Boolean((ka(c) && (ka(c)!.intvl !== 1 || ka(c)!.cnt !== 10)) || ms(c));

export const LIBS_B_CLIENTS = {
  mysql2: {
    label: 'mysql2',
    // connection.js: on 'connect', stream.setKeepAlive(true, keepAliveInitialDelay) — libuv then fixes TCP_KEEPINTVL 1, TCP_KEEPCNT 10
    keepIdle: "through keepAliveInitialDelay (ms; enableKeepAlive is on by default, and with no delay Node's setKeepAlive(true, 0) leaves what docs/CLIENTS.md measured)",
    can: { keepalive: 'full' as const, userTimeout: true, synCnt: false, rtoMax: false },
    cannot:
      "mysql2's own options reach only SO_KEEPALIVE and TCP_KEEPIDLE (enableKeepAlive, keepAliveInitialDelay; libuv fixes TCP_KEEPINTVL 1 and TCP_KEEPCNT 10); " +
      "the rest needs its `stream` option (a socket you connect yourself) and setsockopt on it, e.g. the net-keepalive package; TCP_SYNCNT cannot be reached (connectTimeout bounds the connect)" + '; ' + CONNECT_BOUND_NOTE,
    code: (c: SocketConfig) =>
      needsMore(c)
        ? [
            "import net from 'node:net';",
            "import mysql from 'mysql2/promise';",
            "import NetKeepAlive from 'net-keepalive'; // setsockopt through FFI: what node:net cannot set",
            `const pool = mysql.createPool({ host, port, user, password, database,${connectBoundMs(c) ? ` connectTimeout: ${connectBoundMs(c)}, // the connect's bound: TCP_USER_TIMEOUT is set only once connected` : ''}`,
            ...(ka(c) ? [`  enableKeepAlive: true, keepAliveInitialDelay: ${ka(c)!.idle * 1000}, // SO_KEEPALIVE, TCP_KEEPIDLE ${ka(c)!.idle} s`] : ['  enableKeepAlive: false,']),
            '  // mysql2 calls stream() for each connection: connect it yourself to reach the options it cannot set',
            '  stream: () => {',
            '    const socket = net.connect({ host, port });',
            "    socket.once('connect', () => {",
            ...ffi(c, 'socket', '      '),
            '    });',
            '    return socket;',
            '  },',
            '});',
          ]
        : [
            "import mysql from 'mysql2/promise';",
            ka(c)
              ? `const pool = mysql.createPool({ host, port, user, password, database, enableKeepAlive: true, keepAliveInitialDelay: ${ka(c)!.idle * 1000} }); // TCP_KEEPIDLE ${ka(c)!.idle} s (libuv: TCP_KEEPINTVL 1, TCP_KEEPCNT 10)`
              : 'const pool = mysql.createPool({ host, port, user, password, database, enableKeepAlive: false });',
          ],
  },
  undici: {
    label: 'undici',
    // lib/core/connect.js: socket.setKeepAlive(true, keepAliveInitialDelay ?? 60e3) unless keepAlive: false
    keepIdle: 'through connect: { keepAliveInitialDelay } (ms; 60 s when unset: undici turns SO_KEEPALIVE on for every socket, libuv fixes TCP_KEEPINTVL 1, TCP_KEEPCNT 10)',
    can: { keepalive: 'full' as const, userTimeout: true, synCnt: false, rtoMax: false },
    cannot:
      "undici's connect options reach only SO_KEEPALIVE and TCP_KEEPIDLE (keepAlive, keepAliveInitialDelay); the rest needs a connect function that wraps buildConnector " +
      "and calls setsockopt on the socket (net-keepalive); global fetch uses Node's bundled undici: pass `dispatcher: new Agent({ connect })` (undici's own fetch or setGlobalDispatcher) to reach it; TCP_SYNCNT cannot be reached (connect.timeout bounds the connect)" + '; ' + CONNECT_BOUND_NOTE,
    code: (c: SocketConfig) => {
      // the connect's bound (timeout): TCP_USER_TIMEOUT is set only once connected
      const bound = connectBoundMs(c) ? `, timeout: ${connectBoundMs(c)}` : '';
      const opts = ka(c) ? `{ keepAlive: true, keepAliveInitialDelay: ${ka(c)!.idle * 1000}${bound} }` : `{ keepAlive: false${bound} }`;
      return needsMore(c)
        ? [
            "import { Agent, buildConnector, setGlobalDispatcher } from 'undici';",
            "import NetKeepAlive from 'net-keepalive'; // setsockopt through FFI: what node:net cannot set",
            `const connector = buildConnector(${opts}); // SO_KEEPALIVE${ka(c) ? `, TCP_KEEPIDLE ${ka(c)!.idle} s` : ' off'}`,
            'const agent = new Agent({',
            '  connect: (opts, cb) => connector(opts, (err, socket) => {',
            '    if (socket) {',
            ...ffi(c, 'socket', '      '),
            '    }',
            '    cb(err, socket);',
            '  }),',
            '});',
            'setGlobalDispatcher(agent); // undici.request/fetch use it; or new Pool(origin, { connect }) the same way',
          ]
        : ["import { Agent, setGlobalDispatcher } from 'undici';", `setGlobalDispatcher(new Agent({ connect: ${opts} })); // libuv: TCP_KEEPINTVL 1, TCP_KEEPCNT 10`];
    },
  },
  'grpc-js': {
    label: '@grpc/grpc-js',
    keepIdle: 'never: grpc-js sets no socket option (no SO_KEEPALIVE); its keepalive is an HTTP/2 PING every grpc.keepalive_time_ms, which also keeps a middlebox mapping',
    // its PING plays both parts: sent every keepalive_time_ms, a missing ack within keepalive_timeout_ms ends the connection (idle or busy alike)
    can: { keepalive: 'full' as const, userTimeout: true, synCnt: false, rtoMax: false },
    cannot:
      'grpc-js gives no access to its socket and sets no TCP option: the socket-level values cannot reach it. Its own detector is the HTTP/2 PING ' +
      '(grpc.keepalive_time_ms, then grpc.keepalive_timeout_ms for the ack: noticed at their sum, idle or busy); the settings above are translated to it — ' +
      'TCP_KEEPIDLE → keepalive_time_ms, the rest of the budget → keepalive_timeout_ms. The server must allow the rate: a C-core or Go server answers pings ' +
      'more often than its min ping interval (5 min by default) with GOAWAY too_many_pings; a grpc-js server enforces none',
    code: (c: SocketConfig) => {
      const time = ka(c) ? ka(c)!.idle * 1000 : undefined;
      const rest = ms(c) ? ms(c) - (time ?? 0) : ka(c) ? ka(c)!.intvl * ka(c)!.cnt * 1000 : undefined;
      return time === undefined
        ? ["// no keepalive: grpc-js's defaults send no PING, and nothing at the socket notices an idle dead peer", 'const client = new Client(target, grpc.credentials.createInsecure());']
        : [
            "import grpc from '@grpc/grpc-js';",
            'const client = new Client(target, grpc.credentials.createInsecure(), {',
            `  'grpc.keepalive_time_ms': ${time}, // a PING every ${time / 1000} s (stands for TCP_KEEPIDLE; no socket option)`,
            `  'grpc.keepalive_timeout_ms': ${Math.max(rest ?? 1000, 1000)}, // no PING ack within it: the channel's calls fail with UNAVAILABLE`,
            "  'grpc.keepalive_permit_without_calls': 1, // ping an idle channel too (the server must allow it)",
            '});',
          ];
    },
  },
} satisfies Record<LibsBClientName, unknown>;
