// undici (the npm package, pinned) against a node http server (examples/servers/node-http.mjs):
//   UNDICI=pool (default: an undici.Pool with its defaults) | fetch (Node's global fetch, its own bundled undici)
// node examples/libs/undici.mjs idle|busy|quiet — see report-calls.mjs for the modes.
import { Pool } from 'undici';
import { say, sayError, sleep, recovery, HOST, PORT, MODE, QUIET_MS } from './report-calls.mjs';

const kind = process.env.UNDICI ?? 'pool';
const origin = `http://${HOST.includes(':') ? `[${HOST}]` : HOST}:${PORT}`;
const pool = kind === 'pool' ? new Pool(origin) : undefined;
const get = async (path, label) => {
  if (pool) {
    const r = await pool.request({ path, method: 'GET' });
    say(`${label}: ok ${r.statusCode} ${(await r.body.text()).trim()}`);
  } else {
    const r = await fetch(origin + path);
    say(`${label}: ok ${r.status} ${(await r.text()).trim()}`);
  }
};
say(`undici ${kind === 'pool' ? 'Pool (defaults)' : `global fetch (Node ${process.versions.undici})`} mode ${MODE}`);
try {
  await get('/ok', 'first request');
  if (MODE === 'idle') await get('/hold', 'GET /hold');
  else {
    await sleep(MODE === 'busy' ? 3000 : QUIET_MS);
    await get('/ok', 'request on the pooled socket');
  }
} catch (e) {
  sayError(MODE === 'idle' ? `${kind === 'pool' ? 'pool.request' : 'fetch'}(GET /hold)` : `${kind === 'pool' ? 'pool.request' : 'fetch'}(GET /ok) on the pooled socket`, e);
  await recovery(() => get('/ok', 'the next request'));
  process.exitCode = 1;
}
await pool?.destroy();
