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
