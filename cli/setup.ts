import { spawnSync } from 'node:child_process';
import { describeParseError, parseOnce } from '../harness/apps/parse-args.js';
import { ensureHelper, helperPath } from '../harness/helper/build.js';
import { missingPackages } from '../harness/suite/requirements.js';
import { oneLine } from '../harness/core/one-line.js';

/**
 * `deadpeer setup`: install what is missing for deadpeer to run here (apt packages, as root), then
 * build the native helper. An installed package's counterpart of a checkout's setup.sh; a second
 * run only checks.
 */
export const SETUP_USAGE = `usage: deadpeer setup

Installs the Debian/Ubuntu packages deadpeer needs and this machine lacks (iproute2, nftables, a C
compiler, make, the C and kernel headers) with apt-get — as root — and compiles the native helper
(into a cache directory when the package directory is not writable). A second run only checks.
`;

const say = (t: string) => process.stderr.write(`${oneLine(`deadpeer setup: ${t}`)}\n`);

export function runSetup(argv: string[]): number {
  let help;
  try {
    help = parseOnce({ args: argv, allowPositionals: false, strict: true, options: { help: { type: 'boolean', short: 'h' } } }).values.help;
  } catch (e) {
    say(describeParseError(e, '--help', (a) => `unexpected argument "${a}" (setup takes none; see --help)`));
    return 2;
  }
  if (help) {
    process.stdout.write(SETUP_USAGE);
    return 0;
  }
  const missing = missingPackages();
  if (missing.length) {
    if (process.getuid?.() !== 0) {
      say(`missing ${missing.join(' ')}: run as root (sudo npx deadpeer setup), or install them: apt-get install -y ${missing.join(' ')}`);
      return 2;
    }
    if (spawnSync('sh', ['-c', 'command -v apt-get']).status !== 0) {
      say(`missing ${missing.join(' ')} and there is no apt-get here: install them with this system's package manager`);
      return 2;
    }
    say(`installing ${missing.join(' ')}`);
    const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
    for (const args of [['update', '-qq'], ['install', '-y', '-qq', '--no-install-recommends', ...missing]]) {
      const r = spawnSync('apt-get', args, { stdio: ['ignore', 'ignore', 'pipe'], encoding: 'utf8', env });
      if (r.status !== 0) {
        say(`apt-get ${args[0]} failed: ${(r.stderr ?? '').trim().split('\n').at(-1) ?? `exit ${r.status}`}`);
        return 1;
      }
    }
  }
  say('building the native helper');
  const problem = ensureHelper();
  if (problem) {
    say(problem);
    return 1;
  }
  say(`ready: the native helper is ${helperPath()}`);
  return 0;
}
