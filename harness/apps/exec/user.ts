import { spawnSync } from 'node:child_process';
import { InputError } from '../../core/errors.js';
import { hostUidOfThisProcess, inUserNamespace } from '../../../netns/userns.js';

/** The account a program under test runs as (`exec --user`). */
export interface ProgramUser {
  name: string;
  uid: number;
  gid: number;
  home: string;
}

/**
 * Look the user up as the system does (getent: /etc/passwd, or NSS). Refused rootless: only uid 0
 * is mapped in deadpeer's own user namespace, so there is no other user to become — and none is
 * needed: the program already runs as the invoking user, with no privilege outside the namespaces.
 */
export function resolveProgramUser(user: string, flag: string): ProgramUser {
  if (process.getuid?.() !== 0 || inUserNamespace())
    throw new InputError(`${flag} needs root: rootless, the program already runs as you (uid ${hostUidOfThisProcess()} on the host) with no privilege beyond deadpeer's namespaces — drop ${flag}`);
  const r = spawnSync('getent', ['passwd', user], { encoding: 'utf8' });
  const [name, , uid, gid, , home] = (r.status === 0 ? r.stdout.split('\n')[0]! : '').split(':');
  if (!name || uid === undefined || gid === undefined) throw new InputError(`${flag}: no such user ${JSON.stringify(user)} (a name or uid that getent passwd knows)`);
  return { name, uid: Number(uid), gid: Number(gid), home: home || '/' };
}

/** The argv prefix that runs a program as `u`, with its groups (setpriv, util-linux: no PAM session, no shell). */
export const asUser = (u: ProgramUser): string[] => ['setpriv', `--reuid=${u.uid}`, `--regid=${u.gid}`, '--init-groups', '--'];
