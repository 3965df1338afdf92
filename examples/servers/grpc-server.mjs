// A @grpc/grpc-js server for the library gallery (examples/libs/grpc.mjs), no .proto: a generic
// service with JSON messages. Listens on DEADPEER_LISTEN (host:port), plaintext HTTP/2.
//   /gallery.Gallery/Ask    unary: answers {ok: true} at once
//   /gallery.Gallery/Watch  server streaming: {every: 0} sends nothing (an idle stream), {every: N} a message every N ms
// GRPC_SERVER_OPTS='{"grpc.keepalive_permit_without_calls":1}' passes server options (default: none).
import grpc from '@grpc/grpc-js';
import { SERVICE } from '../libs/grpc-service.mjs';

const listen = process.env.DEADPEER_LISTEN ?? '127.0.0.1:4242';
const opts = JSON.parse(process.env.GRPC_SERVER_OPTS ?? '{}');
const server = new grpc.Server(opts);
server.addService(SERVICE, {
  Ask: (_call, cb) => cb(null, { ok: true }),
  Watch: (call) => {
    const every = Number(call.request?.every ?? 0);
    if (!every) return; // idle: the stream stays open, nothing sent
    let n = 0;
    const t = setInterval(() => call.write({ n: n++, pad: 'x'.repeat(8192) }), every);
    call.on('cancelled', () => clearInterval(t));
    call.on('close', () => clearInterval(t));
  },
});
const addr = listen.startsWith('[') || !listen.includes('::') ? listen : `[${listen.slice(0, listen.lastIndexOf(':'))}]${listen.slice(listen.lastIndexOf(':'))}`;
server.bindAsync(addr, grpc.ServerCredentials.createInsecure(), (e) => {
  if (e) {
    console.log(`error: bind ${addr}: ${e.message}`);
    process.exit(1);
  }
  console.log(`listening on ${addr} ${JSON.stringify(opts)}`);
});
process.on('SIGTERM', () => process.exit(0));
