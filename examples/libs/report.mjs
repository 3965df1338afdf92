// Shared by the library clients (examples/libs/*.mjs): one line per event, with CLOCK_MONOTONIC
// seconds (process.hrtime is CLOCK_MONOTONIC on Linux, the clock deadpeer exec's report uses), so a
// line can be set beside the kernel's abort. Lines that report a loss contain "error"; the others
// avoid the words deadpeer exec takes for a failure, so the first error line is the library's.
export const mono = () => (Number(process.hrtime.bigint()) / 1e9).toFixed(3);
export const say = (text) => console.log(`${text} [mono ${mono()}]`);
/** the loss, as the library surfaced it: `how` names the event or the call */
export const lost = (how, e) => say(`error: ${e?.code ?? e?.errno ?? e?.name ?? '?'}: ${String(e?.message ?? e).split('\n')[0]} (${how})`);
export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

export const MODES = ['idle', 'busy', 'quiet'];
/**
 * Runs a library client through the three shapes deadpeer exec measures:
 * - idle: one request, then nothing: the library's idle connection (pooled) is all there is;
 * - busy: one request, then 3 s later one that the server never answers (the peer is gone by then);
 * - quiet (exec --middlebox): one request, QUIET_S seconds of nothing (default 9), then one more.
 * Once the loss surfaced (lib.onLoss), or a request failed, it asks once more, at once (deadpeer exec
 * watches half a second past the loss): "next request: ok" says the library recovered, "failed" that it did not.
 */
export async function run(lib) {
  const mode = process.argv[2] ?? 'idle';
  if (!MODES.includes(mode)) throw new Error(`mode: idle, busy or quiet, not ${mode}`);
  let nextAsked = false;
  const next = async () => {
    if (nextAsked) return;
    nextAsked = true;
    const t = setTimeout(() => say('next request: no answer within 20 s'), 20_000);
    try {
      await lib.request();
      say('next request: ok (the library recovered)');
    } catch (e) {
      say(`next request: failed: ${e?.code ?? ''} ${String(e?.message ?? e).split('\n')[0]}`);
    } finally {
      clearTimeout(t);
    }
  };
  lib.onLoss(next);
  await lib.request();
  say(`first request: ok (${mode})`);
  if (mode === 'idle') return; // the library's own events say the rest
  await sleep(mode === 'busy' ? 3000 : Number(process.env.QUIET_S ?? 9) * 1000);
  try {
    await (mode === 'busy' ? lib.hang() : lib.request());
    say('second request: ok');
  } catch (e) {
    lost('rejected request', e);
    await next();
  }
}
