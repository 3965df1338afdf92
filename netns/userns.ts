import { readFileSync } from 'node:fs';

/**
 * Whether a uid_map is that of the initial user namespace, which maps every uid onto itself
 * ("0 0 4294967295"). Anything else is a user namespace: deadpeer's own rootless one, or a
 * container's. Pure: the map's text is the input.
 */
export function isInitialUidMap(uidMap: string): boolean {
  return /^\s*0\s+0\s+4294967295\s*$/.test(uidMap);
}

/**
 * Whether this process lives in a user namespace other than the initial one. There it may be uid 0
 * with every capability over the namespaces it made, and still have no privilege over the host:
 * no SCHED_FIFO, no root-only /proc files (the jiffies clock), no `setpriv` to another user.
 */
export function inUserNamespace(): boolean {
  try {
    return !isInitialUidMap(readFileSync('/proc/self/uid_map', 'utf8'));
  } catch {
    return false; // no /proc/self/uid_map: a kernel without user namespaces
  }
}

/** This process's uid as the host sees it: the outer uid its own maps onto (pure: the map's text, the uid inside). */
export function hostUid(uidMap: string, uid: number): number | undefined {
  for (const line of uidMap.split('\n')) {
    const [inner, outer, count] = line.trim().split(/\s+/).map(Number);
    if (inner !== undefined && outer !== undefined && count !== undefined && uid >= inner && uid < inner + count) return outer + (uid - inner);
  }
  return undefined;
}

/** This process's uid on the host (in deadpeer's user namespace, the user who started the run). */
export function hostUidOfThisProcess(): number | undefined {
  const uid = process.getuid?.();
  if (uid === undefined) return undefined;
  try {
    return hostUid(readFileSync('/proc/self/uid_map', 'utf8'), uid);
  } catch {
    return uid;
  }
}
