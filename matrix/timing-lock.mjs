// Holds the machine's timing lock (harness/suite/timing-lock.ts) for a shell script:
//
//   coproc LOCK { node matrix/timing-lock.mjs "<who>"; }; read -r held <&"${LOCK[0]}"
//
// It waits for the lock, saying for whom on stderr like the other tools, then prints
// "held <pid>" on stdout and holds the lock until its stdin reaches EOF — when the script that
// started it ends, however it ends (the write end closes with it). <pid> is what the script
// exports as DEADPEER_TIMING_LOCK, so what it starts (a host suite run) does not wait for it.
// `--name NAME` uses another abstract socket (tests, so as not to take the machine's lock).
// It gives up like every waiter (DEADPEER_LOCK_WAIT_S, and at once for a squatter): one line, exit 2.
//
// The lock code is the harness's own, from the build (dist/): one implementation, one name.
import { acquireTimingLock } from '../dist/harness/suite/timing-lock.js';

const args = process.argv.slice(2);
let name;
if (args[0] === '--name') {
  if (!args[1]) fail('--name needs a value');
  name = `\0${args[1]}`;
  args.splice(0, 2);
}
if (args.length !== 1 || !args[0]) fail('usage: node matrix/timing-lock.mjs [--name NAME] "<who holds it>"');

function fail(line) {
  process.stderr.write(`deadpeer matrix: ${line}\n`);
  process.exit(2);
}

// a squatter, a wait past DEADPEER_LOCK_WAIT_S, a malformed DEADPEER_LOCK_WAIT_S: one line, exit 2
const lock = await acquireTimingLock(args[0], (line) => process.stderr.write(`${line}\n`), name).catch((e) => fail(e.message.split('\n')[0]));
process.stdout.write(`held ${process.env.DEADPEER_TIMING_LOCK || process.pid}\n`);
const done = () => lock.release().then(() => process.exit(0));
process.stdin.on('end', done);
process.stdin.on('error', done);
process.stdin.resume();
// the script's Ctrl-C reaches us too (same process group): the lock goes with the script
for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP']) process.on(sig, done);
