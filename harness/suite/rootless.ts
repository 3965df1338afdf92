import { spawn, spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { constants } from 'node:os';
import { delimiter } from 'node:path';
import { preflightProblem } from './preflight.js';
import { acquireTimingLock } from './timing-lock.js';

/**
 * Rootless mode: a normal user's run goes on inside a user namespace of its own, one per run.
 *
 * `unshare --user --map-root-user --net --mount` makes the run uid 0 of a fresh user namespace
 * that owns a network namespace and a mount namespace of its own; a private tmpfs on /run/netns
 * takes the bind mounts `ip netns add` and the helpers make. Inside, every capability deadpeer
 * uses (creating namespaces, veth, nft, per-namespace sysctls, AF_PACKET, sock_diag, ptrace for
 * pidfd_getfd) holds over the namespaces the run creates, and the code runs as it does for root:
 * one code path. What the kernel keeps for the initial namespace stays out of reach, and is said
 * where it shows (conditionNotes): SCHED_FIFO and the root-only /proc/timer_list.
 *
 * Node cannot unshare itself (it is multi-threaded), so the entry points re-run their own command
 * through unshare(1). The timing lock is an abstract Unix socket, and those belong to a network
 * namespace: it is taken here, in the host's, before entering, and the run inherits it through
 * DEADPEER_TIMING_LOCK, so root and rootless runs exclude each other as two root runs do.
 */

/** Where ip(8), nft(8) and friends live; a normal user's PATH often lacks them. */
const SYSTEM_DIRS = ['/usr/local/sbin', '/usr/sbin', '/sbin'];

/** PATH with the system directories appended where missing (pure). */
export function withSystemDirs(path: string | undefined): string {
  const have = (path ?? '').split(delimiter).filter(Boolean);
  return [...have, ...SYSTEM_DIRS.filter((d) => !have.includes(d))].join(delimiter);
}

/** A normal user: the kernel experiments need a user namespace of their own. */
export const needsUserNamespace = (uid = process.getuid?.() ?? 0): boolean => uid !== 0;

/** The sysctls that refuse unprivileged user namespaces, as /proc/sys paths. */
const GATES = {
  'user.max_user_namespaces': '/proc/sys/user/max_user_namespaces',
  'user.max_net_namespaces': '/proc/sys/user/max_net_namespaces',
  'user.max_mnt_namespaces': '/proc/sys/user/max_mnt_namespaces',
  'kernel.apparmor_restrict_unprivileged_userns': '/proc/sys/kernel/apparmor_restrict_unprivileged_userns',
  'kernel.unprivileged_userns_clone': '/proc/sys/kernel/unprivileged_userns_clone',
} as const;
type Gate = keyof typeof GATES;

const OR_ROOT = 'or run deadpeer as root';

/**
 * The one line for a refused user namespace, naming the setting and the fix (pure: unshare's
 * error and the gates' values are the input; a gate this kernel lacks reads undefined).
 */
export function refusalMessage(unshareError: string, gate: (name: Gate) => string | undefined): string {
  const why = unshareError.replace(/^unshare: /, '').split('\n')[0]!.trim();
  const head = `unprivileged user namespaces are refused here (${why})`;
  for (const g of ['user.max_user_namespaces', 'user.max_net_namespaces', 'user.max_mnt_namespaces'] as const) {
    if (gate(g) === '0') return `${head}: ${g} = 0 — as root: sysctl -w ${g}=15000 (${OR_ROOT})`;
  }
  if (gate('kernel.apparmor_restrict_unprivileged_userns') === '1')
    return `${head}: kernel.apparmor_restrict_unprivileged_userns = 1 (AppArmor) — as root: sysctl -w kernel.apparmor_restrict_unprivileged_userns=0, or an AppArmor profile that allows userns for node (${OR_ROOT})`;
  if (gate('kernel.unprivileged_userns_clone') === '0')
    return `${head}: kernel.unprivileged_userns_clone = 0 — as root: sysctl -w kernel.unprivileged_userns_clone=1 (${OR_ROOT})`;
  if (/no space left/i.test(why))
    return `${head}: user.max_user_namespaces is used up, here or in an enclosing user namespace (0 there disables them) — raise it as root: sysctl -w user.max_user_namespaces=15000 (${OR_ROOT})`;
  return `${head} — check user.max_user_namespaces and kernel.apparmor_restrict_unprivileged_userns (${OR_ROOT})`;
}

const readGate = (name: Gate): string | undefined => {
  try {
    return readFileSync(GATES[name], 'utf8').trim();
  } catch {
    return undefined;
  }
};

/**
 * Why this user cannot have the namespaces a run needs, in one line; undefined when it can. Tried
 * for real (a user namespace with its own network and mount namespaces, a few ms), since what
 * refuses them differs between distributions and some (AppArmor) only show when it is tried.
 */
export function userNamespaceProblem(): string | undefined {
  const r = spawnSync('unshare', ['--user', '--map-root-user', '--net', '--mount', 'true'], { encoding: 'utf8' });
  if (r.error) return '`unshare` not found — install it: apt-get install -y util-linux (deadpeer runs rootless through it)';
  if (r.status === 0) return undefined;
  return refusalMessage(r.stderr || `exit ${r.status}`, readGate);
}

/**
 * Run inside the new namespaces, before the command: a private /run/netns (a tmpfs over the
 * host's); where the host has none (nothing ever ran `ip netns add` since boot, and a normal user
 * cannot make one in /run), a /run of its own with the host's entries bound back in. Loopback up,
 * as in any fresh network namespace deadpeer uses. Then the command, in this same process.
 */
const ENTER = `set -e
if [ -d /run/netns ]; then
  mount -t tmpfs -o mode=0755,size=1m deadpeer-netns /run/netns
else
  exec 9</run
  mount -t tmpfs -o mode=0755 deadpeer-run /run
  old=/proc/$$/fd/9
  for e in "$old"/* "$old"/.[!.]*; do
    [ -e "$e" ] || [ -L "$e" ] || continue
    n=/run/\${e##*/}
    if [ -e "$n" ] || [ -L "$n" ]; then continue; fi # mount(8) itself made it (/run/mount)
    if [ -L "$e" ]; then ln -s "$(readlink "$e")" "$n"
    elif [ -d "$e" ]; then mkdir "$n" && mount --rbind "$e" "$n" || true
    else : > "$n" && mount --bind "$e" "$n" || true
    fi
  done
  exec 9<&-
  mkdir /run/netns
fi
ip link set lo up
exec "$@"`;

/** The command line that runs `argv` inside a fresh user namespace (pure). */
export function userNamespaceArgv(argv: string[]): string[] {
  return ['unshare', '--user', '--map-root-user', '--net', '--mount', '--propagation', 'private', '--', '/bin/sh', '-c', ENTER, 'deadpeer-userns', ...argv];
}

export interface RootlessRun {
  /** what the run is, for a waiting run's message ("deadpeer check") */
  what: string;
  /** what starts its one-line refusals (default "deadpeer") */
  prefix?: string;
  say?: (line: string) => void;
}

/**
 * Run `argv` where deadpeer's experiments can run: as root, as it is; as a normal user, inside a
 * user namespace of its own (after the machine's checks and the timing lock). Returns its exit
 * code; a refusal is one line on stderr and 2.
 */
export async function runWhereExperimentsRun(argv: string[], run: RootlessRun): Promise<number> {
  const say = run.say ?? ((line: string) => process.stderr.write(`${line}\n`));
  if (!needsUserNamespace()) return await passThrough(argv, undefined);
  const problem = (await preflightProblem({ rootless: true, path: withSystemDirs(process.env.PATH) })) ?? userNamespaceProblem();
  if (problem) {
    say(`${run.prefix ?? 'deadpeer'}: ${problem}`);
    return 2;
  }
  const uid = process.getuid?.();
  const lock = await acquireTimingLock(`${run.what} (rootless, uid ${uid})`, say);
  say(`deadpeer: rootless (uid ${uid}), in a user namespace of its own: the helpers run without SCHED_FIFO and the model's times are the ideal ones (/proc/timer_list is root-only) — README, "Without root"`);
  try {
    return await passThrough(userNamespaceArgv(argv), uid);
  } finally {
    await lock.release();
  }
}

/**
 * The child, with this process's terminal, until it exits; its exit is ours. SIGTERM and SIGHUP
 * sent to us are passed on; SIGINT is not: a terminal's ^C reaches the whole process group, the
 * child included, and the child releases what it holds before it exits.
 */
function passThrough(argv: string[], uid: number | undefined): Promise<number> {
  return new Promise((resolve) => {
    // unshare and ip live in /usr/sbin: the child gets them on its PATH, this process's env stays as it is
    const child = spawn(argv[0]!, argv.slice(1), { stdio: 'inherit', env: { ...process.env, PATH: withSystemDirs(process.env.PATH) } });
    const handlers = (['SIGINT', 'SIGTERM', 'SIGHUP'] as const).map((sig) => {
      const h = () => sig !== 'SIGINT' && child.kill(sig);
      process.on(sig, h);
      return () => process.removeListener(sig, h);
    });
    const done = (code: number) => {
      handlers.forEach((off) => off());
      resolve(code);
    };
    child.once('error', (e: NodeJS.ErrnoException) => {
      process.stderr.write(`deadpeer: cannot run ${argv[0]}: ${e.code === 'ENOENT' ? 'not found' : e.message}${uid !== undefined ? ' (rootless)' : ''}\n`);
      done(2);
    });
    child.once('exit', (code, signal) => done(code ?? (signal ? 128 + constants.signals[signal] : 1)));
  });
}
