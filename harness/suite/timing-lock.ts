import { readFileSync, readdirSync, readlinkSync } from 'node:fs';
import { type Server, createConnection, createServer } from 'node:net';
import { EnvironmentError, InputError } from '../core/errors.js';
import { shown, shownRaw } from '../core/one-line.js';

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
 *
 * Any local user can bind an abstract name (there are no permissions on it), so the lock could be
 * squatted, and root would wait for ever. Two defences, neither of which moves the lock:
 * - Who really holds it is read from the kernel, not taken from the holder's word: the listening
 *   socket's inode from /proc/net/unix (this network namespace's Unix sockets), the process whose
 *   fd points at that inode from /proc/<pid>/fd, its uid and command line from /proc/<pid>. (Node
 *   has no SO_PEERCRED; this is what `ss -xlp` does.) A holder of another uid that does not
 *   answer as a deadpeer run does ("<what> (pid <its own pid>)") is not a timing run: it is named
 *   in one line (pid, uid, command) and not waited for. Root sees every process; a normal user
 *   sees only their own, so a silent holder they cannot see is another user's, and said so.
 * - Every wait is bounded: after DEADPEER_LOCK_WAIT_S (default 1800 s, 0 = do not wait) the
 *   waiter gives up with one line naming the holder. Whoever runs deadpeer itself (or anything
 *   that answers like it) can still hold the machine, as any timing run can — for that long.
 * Why not a root-owned lock file under /run for root runs: a normal user's rootless run must
 * exclude root's runs and be excluded by them (harness/suite/rootless.ts), so both need one lock
 * both can take; a root-only lock would let the two measure at once, or make root honour a
 * second, user-takeable lock and bring the squatting back. And a file lock (Node has no flock)
 * would go stale when its holder is SIGKILLed, which the socket never does.
 */
const ENV = 'DEADPEER_TIMING_LOCK';
/** The abstract socket's name (the leading NUL puts it in the abstract namespace). */
export const LOCK_NAME = '\0deadpeer-timing-lock';
/** How long a run waits for another's lock before it gives up, in seconds (environment). */
export const LOCK_WAIT_ENV = 'DEADPEER_LOCK_WAIT_S';
export const LOCK_WAIT_DEFAULT_S = 1800;
const LOCK_WAIT_MAX_S = 7 * 86400;

/** The lock is held by something that is not a timing run, or for longer than this run waits. */
export class TimingLockError extends EnvironmentError {
  override name = 'TimingLockError';
}

export interface TimingLock {
  release(): Promise<void>;
}

/** DEADPEER_LOCK_WAIT_S, validated: seconds from 0 (do not wait) to 7 days; unset or empty = the default. */
export function lockWaitS(env: NodeJS.ProcessEnv = process.env): number {
  const raw = env[LOCK_WAIT_ENV];
  if (raw === undefined || raw === '') return LOCK_WAIT_DEFAULT_S;
  if (!/^\d+(\.\d+)?$/.test(raw) || Number(raw) > LOCK_WAIT_MAX_S)
    throw new InputError(
      `${LOCK_WAIT_ENV}=${shown(raw)} is not allowed: the longest wait for another run's timing lock, in seconds from 0 (do not wait) to ${LOCK_WAIT_MAX_S} (7 days); unset it for the default ${LOCK_WAIT_DEFAULT_S}`,
    );
  return Number(raw);
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

/** What the holder says about itself ('' if it said nothing within `ms`). */
function holderSays(name: string, ms: number): Promise<string> {
  return new Promise((resolve) => {
    let said = '';
    const c = createConnection({ path: name });
    c.setTimeout(ms, () => c.destroy());
    c.on('data', (d) => (said += d.toString()));
    c.on('close', () => resolve(said.slice(0, 1000)));
    c.on('error', () => resolve(said.slice(0, 1000)));
  });
}

/** The process that holds a listening Unix socket, as the kernel knows it. */
export interface SocketOwner {
  inode: number;
  /** undefined: no process this one may inspect has it open (another user's, to a normal user) */
  pid?: number;
  /** effective uid */
  uid?: number;
  command?: string;
}

/**
 * Who holds the listening socket bound to `name` in this process's network namespace, from /proc
 * (undefined when nothing listens on it: it was released meanwhile).
 */
export function socketOwner(name: string, proc = '/proc'): SocketOwner | undefined {
  // the kernel shows an abstract name's NULs as '@'; node binds the whole sun_path (108 bytes, NUL-padded)
  const path = name.startsWith('\0') ? `@${name.slice(1).replace(/\0/g, '@')}` : name;
  const padded = name.startsWith('\0') ? path.padEnd(108, '@') : path;
  let inode: number | undefined;
  for (const line of readFileSync(`${proc}/net/unix`, 'utf8').split('\n').slice(1)) {
    // Num: RefCount Protocol Flags Type St Inode Path; Flags 00010000 = listening
    const m = /^\S+: \S+ \S+ (\S+) \S+ \S+ +(\d+) (.*)$/.exec(line);
    if (!m || (parseInt(m[1]!, 16) & 0x10000) === 0) continue;
    if (m[3] === padded) inode = Number(m[2]);
    else if (m[3] === path) inode ??= Number(m[2]);
  }
  if (inode === undefined) return undefined;
  const target = `socket:[${inode}]`;
  for (const pid of readdirSync(proc).filter((d) => /^\d+$/.test(d))) {
    if (Number(pid) === process.pid) continue;
    let fds: string[];
    try {
      fds = readdirSync(`${proc}/${pid}/fd`);
    } catch {
      continue; // gone, or another user's (not root)
    }
    const holds = fds.some((fd) => {
      try {
        return readlinkSync(`${proc}/${pid}/fd/${fd}`) === target;
      } catch {
        return false;
      }
    });
    if (!holds) continue;
    const owner: SocketOwner = { inode, pid: Number(pid) };
    try {
      const uid = /^Uid:\s+\d+\s+(\d+)/m.exec(readFileSync(`${proc}/${pid}/status`, 'utf8'));
      if (uid) owner.uid = Number(uid[1]);
      owner.command = readFileSync(`${proc}/${pid}/cmdline`, 'utf8').split('\0').filter(Boolean).join(' ');
    } catch {
      // it ended between the two reads: what we have
    }
    return owner;
  }
  return { inode };
}

/** The holder, by the kernel's account and its own. */
interface Holder {
  /** undefined: not in /proc/net/unix (released meanwhile, or /proc unreadable): not judged */
  owner?: SocketOwner;
  said: string;
  /** it answers as a deadpeer run does: "<what> (pid <its own pid>)" */
  answers: boolean;
}

async function holderOf(name: string, answerMs: number): Promise<Holder> {
  const said = (await holderSays(name, answerMs)).trim();
  let owner: SocketOwner | undefined;
  try {
    owner = socketOwner(name);
  } catch {
    owner = undefined; // no /proc here: the holder's word is all there is
  }
  const claimed = /\(pid (\d+)\)$/.exec(said);
  const answers = !!claimed && (owner?.pid === undefined || Number(claimed[1]) === owner.pid);
  return { ...(owner ? { owner } : {}), said, answers };
}

const lockLabel = (name: string) => `abstract Unix socket @${name.slice(1)}`;

/** The holder in the waiter's words: pid, uid, command (escaped and cut: it is the holder's text). */
function described(o: SocketOwner | undefined, myUid: number): string {
  if (!o) return 'not found in /proc/net/unix';
  if (o.pid === undefined)
    return myUid === 0 ? 'a process not visible in this /proc' : `a process of another user (uid ${myUid} cannot see which: as root, ss -xlp | grep deadpeer-timing-lock)`;
  return `pid ${o.pid}, uid ${o.uid ?? '?'}, command ${shown(o.command ?? '?', 100)}`;
}

/** A holder that is no timing run: another user's process that does not answer as deadpeer does. */
function squatter(h: Holder, myUid: number): boolean {
  if (h.answers || !h.owner) return false;
  return h.owner.pid === undefined || (h.owner.uid !== undefined && h.owner.uid !== myUid);
}

const fmtS = (s: number) => (s >= 120 && s % 60 === 0 ? `${s / 60} min` : `${s} s`);

/**
 * Wait until no other timing run holds the machine, then hold it. `say` gets a line when waiting
 * starts and every 15 s after (progress on anything slow). Throws a TimingLockError (one line,
 * naming the holder) when the holder is another user's process that is no timing run, or when the
 * wait reaches DEADPEER_LOCK_WAIT_S; an InputError when that variable is malformed.
 */
export async function acquireTimingLock(what: string, say: (line: string) => void = () => {}, name = LOCK_NAME): Promise<TimingLock> {
  const maxWaitS = lockWaitS();
  if (process.env[ENV] && process.env[ENV] !== String(process.pid) && name === LOCK_NAME) return { release: async () => {} }; // an ancestor holds it for us
  // several experiments of one process (concurrent exec() calls in a test file) share its hold
  const mine = held.get(name);
  if (mine) {
    mine.users += 1;
    return { release: () => mine.release() };
  }
  const pending = acquire(what, say, name, maxWaitS);
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

async function acquire(what: string, say: (line: string) => void, name: string, maxWaitS: number): Promise<Server> {
  const myUid = process.geteuid?.() ?? 0;
  const t0 = Date.now();
  let lastSaid = -Infinity;
  let judged: number | undefined; // the socket inode last judged (a new holder is judged afresh)
  let server: Server | null;
  while (!(server = await tryListen(what, name))) {
    const waitedS = (Date.now() - t0) / 1000;
    const over = waitedS >= maxWaitS;
    const due = Date.now() - lastSaid >= 15_000;
    const queried = over || due || judged === undefined;
    let h = queried ? await holderOf(name, 1000) : undefined;
    if (h?.owner && h.owner.inode !== judged) {
      // a holder that did not answer may be a busy timing run: ask once more, longer, before naming it
      if (squatter(h, myUid)) h = await holderOf(name, 3000);
      if (squatter(h, myUid))
        throw new TimingLockError(
          `the machine's timing lock (${lockLabel(name)}) is held by ${described(h.owner, myUid)}, which does not answer as a deadpeer run — not waiting for it: ${h.owner?.pid !== undefined ? `stop it (kill ${h.owner.pid}) and run again` : 'have it stopped and run again'}`,
        );
      judged = h.owner?.inode;
    }
    // past the bound: give up, naming the holder (one that vanished from /proc meanwhile and said
    // nothing was probably just released: a moment more for the next try to take it)
    if (h && over && (h.owner || h.said || waitedS >= maxWaitS + 2))
      throw new TimingLockError(
        `gave up after ${fmtS(maxWaitS)} waiting for the machine's timing lock: ${h.said ? shownRaw(h.said, 120) : 'a process that does not say what it is'} still holds it (${described(h.owner, myUid)}) — let it finish, stop it${h.owner?.pid !== undefined ? ` (kill ${h.owner.pid})` : ''}, or wait longer: ${LOCK_WAIT_ENV}=SECONDS`,
      );
    if (h && due) {
      const waited = Math.round(waitedS);
      const who = h.said ? shownRaw(h.said, 120) : 'another timing run';
      say(
        `deadpeer: waiting for ${who} to finish — one timing run per machine, or the kernel's timers fire late${waited ? ` (waited ${waited} s)` : ''}; holder ${described(h.owner, myUid)}; gives up after ${fmtS(maxWaitS)} (${LOCK_WAIT_ENV})`,
      );
      lastSaid = Date.now();
    }
    await new Promise((r) => setTimeout(r, Math.min(200, Math.max(20, maxWaitS * 1000 - (Date.now() - t0)))));
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
