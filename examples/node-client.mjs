// A Node.js client as an application would write it: net.connect + socket.setKeepAlive(true, 5000),
// nothing else. deadpeer did not configure it; `deadpeer exec` reads what it really set.
//   node examples/node-client.mjs idle     connect, then wait for the server to say something
//   node examples/node-client.mjs busy     connect, send one request 3 s later, wait for the answer
//   node examples/node-client.mjs stream   connect, then write as fast as the connection takes it
//   a second argument is setKeepAlive's initial delay in ms (default 5000; 0 = setKeepAlive(true))
import net from 'node:net';

const mode = process.argv[2] ?? 'idle';
const m = /^\[?([^\]]+)\]?:(\d+)$/.exec(process.env.DEADPEER_SERVER ?? '');
if (!m) {
  console.error('set DEADPEER_SERVER=host:port (deadpeer exec does)');
  process.exit(2);
}
const socket = net.connect({ host: m[1], port: Number(m[2]) });
socket.setKeepAlive(true, Number(process.argv[3] ?? 5000));
socket.on('connect', () => {
  console.log(`connected from ${socket.localAddress}:${socket.localPort}`);
  if (mode === 'busy') setTimeout(() => socket.write('GET /answer\n'), 3000);
  if (mode === 'stream') {
    const chunk = Buffer.alloc(64 * 1024, 'x');
    const pump = () => {
      while (socket.write(chunk));
    };
    socket.on('drain', pump);
    pump();
  }
});
socket.on('data', (d) => console.log(`received ${d.length} bytes`));
socket.on('error', (e) => {
  console.log(`error: ${e.code}: ${e.message}`);
  process.exitCode = 1;
});
socket.on('close', () => console.log('socket closed'));
