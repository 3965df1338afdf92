// @grpc/grpc-js against the gallery's grpc-js server (examples/servers/grpc-server.mjs). Channel options
// from the environment, as JSON — GRPC_OPTS='{"grpc.keepalive_time_ms":2000,"grpc.keepalive_timeout_ms":1000}'
// (HTTP/2 PINGs: grpc-js's own detector; default {} = the library's defaults).
// node examples/libs/grpc.mjs idle|busy|quiet|stream-busy — see report-calls.mjs; idle here is a server-streaming
// call the server sends nothing on; stream-busy one it sends a message on every 50 ms.
import grpc from '@grpc/grpc-js';
import { GalleryClient } from './grpc-service.mjs';
import { say, sayError, sleep, recovery, HOST, PORT, MODE, QUIET_MS } from './report-calls.mjs';

const opts = JSON.parse(process.env.GRPC_OPTS ?? '{}');
const target = `${HOST.includes(':') ? `[${HOST}]` : HOST}:${PORT}`;
const client = new GalleryClient(target, grpc.credentials.createInsecure(), opts);
const ask = (label) =>
  new Promise((ok, fail) =>
    client.Ask({}, { deadline: Date.now() + (MODE === 'quiet' || label.includes('next') ? 60_000 : 3_600_000) }, (e, r) => {
      if (e) return fail(e);
      say(`${label}: ok ${JSON.stringify(r)}`);
      ok(r);
    }),
  );
const watch = (every) =>
  new Promise((ok, fail) => {
    const call = client.Watch({ every });
    let n = 0;
    call.on('data', () => ++n === 1 && say(`Watch(every ${every}): first message`));
    call.on('error', fail);
    call.on('end', ok);
  });
say(`grpc-js ${JSON.stringify(opts)} mode ${MODE}`);
const sayGrpc = (call, e) => sayError(call, Object.assign(e, { code: `${grpc.status[e.code] ?? e.code}` }));
try {
  await ask('first call Ask');
  if (MODE === 'idle') await watch(0);
  else if (MODE === 'stream-busy') await watch(50);
  else {
    await sleep(MODE === 'busy' ? 3000 : QUIET_MS);
    await ask('Ask on the open channel');
  }
} catch (e) {
  sayGrpc(MODE === 'idle' || MODE === 'stream-busy' ? 'the server-streaming call Watch' : 'unary Ask on the open channel', e);
  await recovery(() => ask('the next call Ask')).catch(() => {});
  process.exitCode = 1;
}
client.close();
