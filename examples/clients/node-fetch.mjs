// Node's global fetch (undici), as modern code uses it. idle: the request is sent and
// acknowledged, the answer never comes; busy: the body is streamed 3 s after the connection opened.
const mode = process.argv[2] ?? 'idle';
const url = `http://${process.env.DEADPEER_SERVER}/answer`;
let body;
if (mode === 'busy') {
  body = new ReadableStream({
    start(c) {
      setTimeout(() => {
        c.enqueue(new TextEncoder().encode('hello'));
        c.close();
      }, 3000);
    },
  });
}
try {
  const res = await fetch(url, mode === 'busy' ? { method: 'POST', body, duplex: 'half' } : {});
  console.log(`status ${res.status}`);
} catch (e) {
  const cause = e.cause ?? e;
  console.log(`error: ${cause.code ?? e.name}: ${cause.message ?? e.message}`);
  process.exitCode = 1;
}
