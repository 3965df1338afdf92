// The call-by-call report of the mysql2, grpc-js and undici clients (report.mjs is the pg/ioredis/node-redis one:
// a request/onLoss shape); the two output shapes are parsed by bench/clients-libs-b.ts and bench/clients.ts.
// What every library client here prints: one line per event, "[seconds since start, monotonic] what".
// Only lines that report a failure use words deadpeer exec reads as the program noticing
// ("error: …"); the others must not (no "closed", "reset", "timeout" in them).
import { performance } from 'node:perf_hooks';

export const say = (what) => console.log(`[${(performance.now() / 1000).toFixed(3)}] ${what}`);
/** "error: CODE (Class) on <call>: message [errno …]" — the code, class and errno the library exposes */
export const sayError = (call, e) => {
  const c = e?.cause ?? {};
  const code = e?.code ?? c.code ?? '-';
  const errno = e?.errno ?? c.errno;
  const sys = [c.code, c.syscall].filter(Boolean).join(' ');
  say(`error: ${code} (${e?.constructor?.name ?? typeof e}) on ${call}: ${String(e?.message ?? e).split('\n')[0]}${errno !== undefined ? ` [errno ${errno}]` : ''}${sys && sys !== code ? ` [cause ${sys}]` : ''}`);
};
export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
/** the server, from deadpeer exec's environment */
export const HOST = process.env.DEADPEER_HOST ?? '127.0.0.1';
export const PORT = Number(process.env.DEADPEER_PORT ?? 4242);
/** idle: a call in flight the server never answers; busy: a call on the pooled connection 3 s after the first;
 *  quiet (for --middlebox): one call, quiet QUIET_S (9) s, the next call, and if it failed one more (recovery) */
export const MODE = process.argv[2] ?? 'idle';
export const QUIET_MS = Number(process.env.QUIET_S ?? 9) * 1000;

/** After a failure: does the next call get through (a fresh connection, or the pool's)? */
export async function recovery(call) {
  try {
    await call();
    say('recovery: the next call got through');
  } catch (e) {
    sayError('the next call (recovery)', e);
  }
}
