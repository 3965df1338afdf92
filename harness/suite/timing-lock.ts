import { type Server, createConnection, createServer } from 'node:net';

/**
 * One timing run per machine at a time.
 *
 * The oracle is the kernel's timers, and they only keep their promises on a CPU that is not
 * saturated: when softirq work piles up the kernel moves it to ksoftirqd, an ordinary thread that
 * competes with everything else, and the timer fires late. The soak measured it with two suites
 * on 2 cores: a 224 ms persist timer 13 ms late (its wheel allows 8 ms), and the cases'
 * orchestration starved for 0.7 s between a packet and the step reacting to it. Serialised, two
 * suites take about as long as they did interleaved, and every verdict is about the kernel again
 * rather than about the load.
 *
 * The lock is a listening Unix socket in the abstract namespace: binding the name is atomic, and
 * the kernel frees it when its process dies, however it dies (SIGKILL included), so there is no
 * lock file to go stale and nothing for the reaper to do. A waiter asks the holder who it is.
 * Processes started under the lock (the CLI runs of the tools tests) inherit it through
 * DEADPEER_TIMING_LOCK and do not wait for their own parent.
 */
const ENV = 'DEADPEER_TIMING_LOCK';
/** The abstract socket's name (the leading NUL puts it in the abstract namespace). */
export const LOCK_NAME = '\0deadpeer-timing-lock';

export interface TimingLock {
  release(): Promise<void>;
}

function tryListen(what: string, name: string): Promise<Server | null> {
  return new Promise((resolve, reject) => {
    const server = createServer((c) => {
      // a waiter that gave up (or died) before the answer arrives must not take the holder down with EPIPE
      c.on('error', () => {});
      c.end(`${what} (pid ${process.pid})`);
    });
    server.once('error', (e: NodeJS.ErrnoException) => (e.code === 'EADDRINUSE' ? resolve(null) : reject(e)));
    server.listen({ path: name }, () => {
      server.unref(); // holding the lock must not keep a finished process alive
      resolve(server);
    });
  });
}

/** Who holds the lock, in its own words ('' if it did not say). */
function holder(name: string): Promise<string> {
  return new Promise((resolve) => {
    let said = '';
    const c = createConnection({ path: name });
    c.setTimeout(1000, () => c.destroy());
    c.on('data', (d) => (said += d.toString()));
    c.on('close', () => resolve(said));
    c.on('error', () => resolve(said));
  });
}

/**
 * Wait until no other timing run holds the machine, then hold it. `say` gets a line when waiting
 * starts and every 15 s after (progress on anything slow).
 */
export async function acquireTimingLock(what: string, say: (line: string) => void = () => {}, name = LOCK_NAME): Promise<TimingLock> {
  if (process.env[ENV] && process.env[ENV] !== String(process.pid) && name === LOCK_NAME) return { release: async () => {} }; // an ancestor holds it for us
  // several experiments of one process (concurrent exec() calls in a test file) share its hold
  const mine = held.get(name);
  if (mine) {
    mine.users += 1;
    return { release: () => mine.release() };
  }
  const pending = acquire(what, say, name);
  const share = { users: 1, release: async () => {} };
  held.set(name, share);
  let server: Server;
  try {
    server = await pending;
  } catch (e) {
    held.delete(name);
    throw e;
  }
  share.release = async () => {
    share.users -= 1;
    if (share.users > 0) return;
    held.delete(name);
    await releaseServer(server, name);
  };
  return { release: () => share.release() };
}

/** The holds of this process, by lock name: one listening socket however many experiments share it. */
const held = new Map<string, { users: number; release: () => Promise<void> }>();

async function acquire(what: string, say: (line: string) => void, name: string): Promise<Server> {
  const t0 = Date.now();
  let lastSaid = -Infinity;
  let server: Server | null;
  while (!(server = await tryListen(what, name))) {
    if (Date.now() - lastSaid >= 15_000) {
      const waited = Math.round((Date.now() - t0) / 1000);
      const who = (await holder(name)) || 'another timing run';
      say(`deadpeer: waiting for ${who} to finish — one timing run per machine, or the kernel's timers fire late${waited ? ` (waited ${waited} s)` : ''}`);
      lastSaid = Date.now();
    }
    await new Promise((r) => setTimeout(r, 200));
  }
  if (name === LOCK_NAME) process.env[ENV] = String(process.pid);
  return server;
}

function releaseServer(server: Server, name: string): Promise<void> {
  return new Promise<void>((resolve) => {
    if (name === LOCK_NAME && process.env[ENV] === String(process.pid)) delete process.env[ENV];
    server.close(() => resolve());
  });
}
