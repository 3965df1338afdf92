/**
 * A process holding many TCP connections, for bench/audit.ts (run inside the bench's namespaces):
 *   node dist/bench/audit-holder.js serve ADDR PORT      accept on ADDR:PORT and hold every connection
 *   node dist/bench/audit-holder.js connect ADDR PORT N  open N connections to ADDR:PORT and hold them
 * It says "ready N" on stdout once it listens (serve) or holds all N (connect), and holds them
 * until it is ended. Nothing is read or written on them: idle connections, as a pool holds them.
 */
import net from 'node:net';

/** Connections in flight at once: the server's accept queue (somaxconn 4096) never overflows. */
const BATCH = 1000;

const [mode, addr, portText, countText] = process.argv.slice(2);
const port = Number(portText);
const held: net.Socket[] = [];

function fail(message: string): never {
  process.stderr.write(`audit-holder: ${message}\n`);
  process.exit(2);
}

if (!addr || !Number.isInteger(port)) fail('usage: serve ADDR PORT | connect ADDR PORT N');
if (mode === 'serve') {
  const server = net.createServer({ pauseOnConnect: true }, (s) => void held.push(s));
  server.on('error', (e) => fail(String(e)));
  server.listen({ host: addr, port, backlog: 4096 }, () => process.stdout.write('ready 0\n'));
} else if (mode === 'connect') {
  const n = Number(countText);
  if (!Number.isInteger(n) || n < 1) fail(`connect: N must be a whole number above 0, not ${JSON.stringify(countText)}`);
  const one = () =>
    new Promise<void>((resolve, reject) => {
      const s = net.connect({ host: addr, port }, () => {
        held.push(s);
        resolve();
      });
      s.once('error', reject);
    });
  for (let done = 0; done < n; done += BATCH) await Promise.all(Array.from({ length: Math.min(BATCH, n - done) }, one)).catch((e) => fail(`after ${held.length}: ${String(e)}`));
  process.stdout.write(`ready ${held.length}\n`);
  // held until ended: a connection nothing is read from or written to keeps no event loop alive
  setInterval(() => undefined, 2 ** 30);
} else fail(`unknown mode ${JSON.stringify(mode)}: serve or connect`);
