import { readdirSync, readFileSync } from 'node:fs';

/**
 * The processes a command started, followed through /proc: a server forks (PostgreSQL a backend per
 * connection, each its own session leader — setsid() in InitPostmasterChild — so a signal to the
 * command's process group does not reach them). A process is named by its pid AND its start time
 * (field 22 of /proc/PID/stat), so a pid the kernel hands out again is never taken for it.
 */
export interface TreeProcess {
  pid: number;
  start: string;
}

interface Stat {
  ppid: number;
  state: string;
  start: string;
  /** task flags (field 9): PF_EXITING among them */
  flags: number;
}

function stat(pid: number): Stat | undefined {
  try {
    const s = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // comm may hold spaces and parentheses: the fields start after the last ')'
    const f = s.slice(s.lastIndexOf(')') + 2).split(' ');
    return { state: f[0]!, ppid: Number(f[1]), start: f[19]!, flags: Number(f[6]) };
  } catch {
    return undefined;
  }
}

/** `pid` and every process below it now (a zombie counts as gone: it holds nothing). */
export function processTree(pid: number): TreeProcess[] {
  const children = new Map<number, number[]>();
  const stats = new Map<number, Stat>();
  for (const p of readdirSync('/proc')) {
    if (!/^\d+$/.test(p)) continue;
    const s = stat(Number(p));
    if (!s || s.state === 'Z') continue;
    stats.set(Number(p), s);
    children.set(s.ppid, [...(children.get(s.ppid) ?? []), Number(p)]);
  }
  const out: TreeProcess[] = [];
  const walk = (p: number) => {
    const s = stats.get(p);
    if (!s) return;
    out.push({ pid: p, start: s.start });
    for (const c of children.get(p) ?? []) walk(c);
  };
  walk(pid);
  return out;
}

/** Whether this very process (not a reuse of its pid) still runs. */
export function alive(p: TreeProcess): boolean {
  const s = stat(p.pid);
  return !!s && s.state !== 'Z' && s.start === p.start;
}

/**
 * Whether a process is gone or on its way out. A process that exits closes its files (exit_files)
 * before it becomes a zombie, and a poll in between — milliseconds on a loaded machine — finds it
 * alive without its fds: PF_EXITING (set by exit_signals at the top of do_exit) tells that apart
 * from a process that closed an fd and lives on.
 */
export function exiting(pid: number): boolean {
  const s = stat(pid);
  return !s || s.state === 'Z' || s.state === 'X' || (s.flags & PF_EXITING) !== 0;
}
const PF_EXITING = 0x4;

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/**
 * A set of processes one run started, remembered as they appear (`note`): a child the command's
 * leader loses — reparented when its parent exits first — is still ours to end.
 */
export class ProcessTree {
  private readonly known = new Map<string, TreeProcess>();
  constructor(readonly root: number) {
    this.note();
  }

  /** Remember every process below the root now. */
  note(): void {
    for (const p of processTree(this.root)) this.known.set(`${p.pid}/${p.start}`, p);
  }

  /** Those still running. */
  running(): TreeProcess[] {
    return [...this.known.values()].filter(alive);
  }

  /**
   * End all of it: `signal` to the root's process group and to each process (by pid, each one
   * checked to be the very process first), wait up to graceMs for all to be gone, then SIGKILL
   * what is left and wait again (bounded). Returns the pids that survived even SIGKILL (none
   * expected: a process in uninterruptible sleep).
   */
  async end(signal: NodeJS.Signals = 'SIGTERM', graceMs = 5000): Promise<number[]> {
    this.note();
    const send = (sig: NodeJS.Signals) => {
      try {
        process.kill(-this.root, sig);
      } catch {
        /* not a group leader, or gone */
      }
      for (const p of this.running()) {
        try {
          process.kill(p.pid, sig);
        } catch {
          /* gone meanwhile */
        }
      }
    };
    const waitGone = async (ms: number) => {
      const deadline = Date.now() + ms;
      while (Date.now() < deadline) {
        this.note(); // a fork racing the signal is ours too
        if (!this.running().length) return true;
        await sleep(20);
      }
      return !this.running().length;
    };
    if (!this.running().length) return [];
    send(signal);
    // a stopped process (exec --role server stops a --client for zero-window) takes its signal once continued
    send('SIGCONT');
    if (await waitGone(graceMs)) return [];
    send('SIGKILL');
    await waitGone(2000);
    return this.running().map((p) => p.pid);
  }
}
