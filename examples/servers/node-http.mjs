// A plain Node `http` server for `deadpeer exec --role server` (npm run servers): listens on
// DEADPEER_LISTEN (host:port). GET /hold is a long poll that is never answered (the socket stays
// quiet), GET /stream writes a chunk every 50 ms for ever, GET /ok answers "ok" at once (the library gallery's
// pooled requests, examples/libs/undici.mjs). KEEPALIVE_MS=2000 adds
// server.on('connection', s => s.setKeepAlive(true, 2000)); HTTP_KEEPALIVE_TIMEOUT_MS=65000 sets server.keepAliveTimeout
// (Node's 5 s default makes clients such as undici drop a pooled socket after ≈3 s); otherwise Node's defaults.
import http from 'node:http';

const listen = process.env.DEADPEER_LISTEN ?? '127.0.0.1:4242';
const i = listen.lastIndexOf(':');
const host = listen.slice(0, i).replace(/^\[|\]$/g, '');
const port = Number(listen.slice(i + 1));
const keepaliveMs = process.env.KEEPALIVE_MS ? Number(process.env.KEEPALIVE_MS) : undefined;

const server = http.createServer((req, res) => {
  if (req.url === '/stream') {
    res.writeHead(200, { 'content-type': 'text/plain' });
    const chunk = 'x'.repeat(16384) + '\n';
    const t = setInterval(() => res.write(chunk), 50);
    res.on('close', () => clearInterval(t));
    return;
  }
  if (req.url === '/ok') return void res.end('ok\n');
  // /hold: never answered
  req.on('close', () => console.log(`request ${req.url} closed`));
});
if (process.env.HTTP_KEEPALIVE_TIMEOUT_MS) server.keepAliveTimeout = Number(process.env.HTTP_KEEPALIVE_TIMEOUT_MS);
if (keepaliveMs !== undefined) server.on('connection', (s) => s.setKeepAlive(true, keepaliveMs));
server.on('connection', (s) => s.on('close', () => console.log('connection closed')));
server.listen(port, host, () => console.log(`listening on ${listen}${keepaliveMs !== undefined ? `, setKeepAlive(true, ${keepaliveMs})` : ''}`));
process.on('SIGTERM', () => process.exit(0));
