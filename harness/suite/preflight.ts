import { execa } from 'execa';
import { EnvironmentError } from '../core/errors.js';
import { evidenceLevel } from '../core/evidence.js';
import { ensureHelper } from '../helper/build.js';
import { SETUP_HINT } from '../core/paths.js';

export interface PreflightEnv {
  uid?: number;
  /** checking for a rootless run (harness/suite/rootless.ts), which will be uid 0 of its own user namespace */
  rootless?: boolean;
  /** PATH to look tools up in (default: this process's) */
  path?: string;
}

/**
 * What a kernel case needs, checked once, answered in one line that names the fix.
 * Returns undefined when everything is there.
 */
export async function preflightProblem(env: PreflightEnv = {}): Promise<string | undefined> {
  // a setting, not the machine, but refused here too so that a CLI says so before any namespace exists
  try {
    evidenceLevel();
  } catch (e) {
    return (e as Error).message;
  }
  const uid = env.uid ?? process.getuid?.();
  if (uid !== 0 && !env.rootless)
    return 'not root: kernel cases create network namespaces — run as root, or rootless through deadpeer\'s own user namespace: npm test (a checkout), npx deadpeer run -- vitest run (your project)';
  for (const [tool, flag, pkg] of [
    ['ip', '-V', 'iproute2'],
    ['nft', '--version', 'nftables'],
  ] as const) {
    const r = await execa(tool, [flag], { reject: false, env: env.path ? { PATH: env.path } : {} });
    if (r.failed) return `\`${tool}\` not found — install it: apt-get install -y ${pkg} (or run: ${SETUP_HINT})`;
  }
  return ensureHelper();
}

/** Throw an EnvironmentError (the preflight's one line) unless kernel experiments can run here. */
export async function assertCanRun(env: PreflightEnv = {}): Promise<void> {
  evidenceLevel(); // bad input is an InputError, not an unfit machine
  const problem = await preflightProblem(env);
  if (problem) throw new EnvironmentError(problem);
}
