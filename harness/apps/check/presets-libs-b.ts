/**
 * The library gallery's presets (issue 21): what mysql2, undici and @grpc/grpc-js leave on their
 * sockets, read back by `npm run clients` (docs/CLIENTS.md, "mysql2", "undici", "@grpc/grpc-js").
 * Typed where presets.ts appends them to PRESETS (an import of its Preset here would be a circle).
 */
export const LIBS_B_PRESETS = [
  {
    name: 'mysql2',
    title: 'mysql2 with its defaults (enableKeepAlive on, no keepAliveInitialDelay)',
    // lib/base/connection.js: on 'connect', stream.setKeepAlive(true, keepAliveInitialDelay) — undefined → Node asks
    // TCP_KEEPIDLE 0, the kernel refuses (EINVAL) and libuv stops before TCP_KEEPINTVL/TCP_KEEPCNT: the kernel's values stay
    source:
      "mysql2 3.x lib/base/connection.js: setKeepAlive(true, undefined) after 'connect' → TCP_KEEPIDLE 0 refused (EINVAL): " +
      'SO_KEEPALIVE on with the kernel\'s keepalive values (7200/75/9 by default); no TCP_USER_TIMEOUT (docs/CLIENTS.md)',
    config: { keepalive: {} },
    backedBy: [{ client: 'mysql2' }, { client: 'mysql2-keepalive' }],
  },
  {
    name: 'mysql2-2s',
    title: 'mysql2 with enableKeepAlive: true, keepAliveInitialDelay: 2000',
    source: "mysql2 3.x: setKeepAlive(true, 2000) after 'connect' → libuv TCP_KEEPIDLE 2, TCP_KEEPINTVL 1, TCP_KEEPCNT 10; no TCP_USER_TIMEOUT (docs/CLIENTS.md)",
    config: { keepalive: { idle: 2, intvl: 1, cnt: 10 } },
    backedBy: [{ client: 'mysql2-keepalive-2s' }],
  },
  {
    name: 'undici',
    title: 'undici (Pool/Agent, and global fetch) with its defaults',
    // lib/core/connect.js: socket.setKeepAlive(true, keepAliveInitialDelay ?? 60e3) right after net.connect (pending until open)
    source: 'undici lib/core/connect.js: setKeepAlive(true, 60000) on every socket unless keepAlive: false → libuv 60/1/10; no TCP_USER_TIMEOUT (docs/CLIENTS.md)',
    config: { keepalive: { idle: 60, intvl: 1, cnt: 10 } },
    backedBy: [{ client: 'undici' }, { client: 'undici-fetch' }],
  },
  {
    name: 'grpc-js',
    title: '@grpc/grpc-js (any channel options): no TCP option at all; its keepalive is an HTTP/2 PING',
    source:
      '@grpc/grpc-js 1.x: sets no SO_KEEPALIVE and no TCP_USER_TIMEOUT (unlike C-core, see the grpc preset); grpc.keepalive_time_ms / ' +
      'grpc.keepalive_timeout_ms send HTTP/2 PINGs, an application-level detector the socket does not show (docs/CLIENTS.md)',
    config: {},
    backedBy: [{ client: 'grpc-js' }, { client: 'grpc-js-keepalive' }],
  },
];
