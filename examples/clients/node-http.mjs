// Node's http module with the global agent, as most code uses it: http.get(url). Node 19+ makes the
// global agent keep-alive (it sets SO_KEEPALIVE with keepAliveMsecs, 1 s). The builtin server
// never answers: idle = the request is sent and acknowledged, the answer never comes; busy = the
// request is written 3 s after the connection opened (a second request on a pooled connection).
import http from 'node:http';

const mode = process.argv[2] ?? 'idle';
const url = `http://${process.env.DEADPEER_SERVER}/answer`;
const get = () =>
  http
    .get(url, (res) => console.log(`status ${res.statusCode}`))
    .on('error', (e) => {
      console.log(`error: ${e.code}: ${e.message}`);
      process.exitCode = 1;
    });
if (mode === 'busy') {
  // open the connection first (a HEAD-less TCP connect through the agent's socket), then write later
  const req = http.request(url, { method: 'POST', headers: { 'content-length': 5 } });
  req.on('error', (e) => {
    console.log(`error: ${e.code}: ${e.message}`);
    process.exitCode = 1;
  });
  req.flushHeaders();
  setTimeout(() => req.end('hello'), 3000);
} else get();
