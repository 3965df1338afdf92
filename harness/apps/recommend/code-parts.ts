import type { KeepaliveConfig, SocketConfig } from '../check/presets.js';

/**
 * Pieces of the printed code the Node-based clients share (node, pg, ioredis, mysql2, undici): their
 * sockets are node:net sockets, so what node:net cannot set goes through the same FFI calls, and
 * TCP_USER_TIMEOUT reaches the socket only once it is connected.
 */

/** A recommendation states all three keepalive values. */
export const ka = (c: SocketConfig) => (c.keepalive ? (c.keepalive as Required<KeepaliveConfig>) : undefined);
export const ms = (c: SocketConfig) => c.userTimeoutMs ?? 0;

/** net-keepalive's calls (setsockopt through FFI) for what node:net cannot set, on `socket`, indented. */
export const ffi = (c: SocketConfig, socket: string, indent: string) => [
  ...(ka(c) ? [`NetKeepAlive.setKeepAliveInterval(${socket}, ${ka(c)!.intvl * 1000}); // TCP_KEEPINTVL ${ka(c)!.intvl} s`, `NetKeepAlive.setKeepAliveProbes(${socket}, ${ka(c)!.cnt}); // TCP_KEEPCNT`] : []),
  ...(ms(c) ? [`NetKeepAlive.setUserTimeout(${socket}, ${ms(c)}); // TCP_USER_TIMEOUT`] : []),
].map((l) => indent + l);

/**
 * A node:net socket gets TCP_USER_TIMEOUT only on 'connect': during connect() the kernel would wait
 * out tcp_syn_retries instead (≈ 127 s with the default 6). The library's own connect timeout, set
 * to the same U, ends the connect when the model's connect row says the socket would — with the
 * library's timeout error in place of ETIMEDOUT. 0: no U, nothing to bound.
 */
export const connectBoundMs = (c: SocketConfig) => ms(c);
export const CONNECT_BOUND_NOTE =
  "TCP_USER_TIMEOUT reaches the socket only once connected; during connect() the library's own connect timeout, set to the same value in the code, ends the attempt when the connect row says (the library's timeout error, not ETIMEDOUT)";
