import { describe, expect, it } from 'vitest';
import { conditionNotes } from '../../harness/judge/timeline-text.js';
import { needsUserNamespace, refusalMessage, userNamespaceArgv, withSystemDirs } from '../../harness/suite/rootless.js';
import { hostUid, isInitialUidMap } from '../../netns/userns.js';

const gates = (values: Record<string, string>) => (name: string) => values[name];

describe('rootless: a refused user namespace is one line naming the setting and the fix', () => {
  it('user.max_user_namespaces = 0', () => {
    const m = refusalMessage('unshare: unshare failed: No space left on device', gates({ 'user.max_user_namespaces': '0', 'user.max_net_namespaces': '96362' }));
    expect(m).toBe(
      'unprivileged user namespaces are refused here (unshare failed: No space left on device): user.max_user_namespaces = 0 — as root: sysctl -w user.max_user_namespaces=15000 (or run deadpeer as root)',
    );
  });

  it('a namespace limit of 0 other than the user one is named too', () => {
    expect(refusalMessage('unshare: unshare failed: No space left on device', gates({ 'user.max_user_namespaces': '100', 'user.max_net_namespaces': '0' }))).toMatch(
      /: user\.max_net_namespaces = 0 — as root: sysctl -w user\.max_net_namespaces=15000/,
    );
  });

  it("Ubuntu's AppArmor restriction (the sysctl read where it exists)", () => {
    const m = refusalMessage('unshare: write failed /proc/self/uid_map: Operation not permitted', gates({ 'user.max_user_namespaces': '100', 'kernel.apparmor_restrict_unprivileged_userns': '1' }));
    expect(m).toMatch(/^unprivileged user namespaces are refused here \(write failed \/proc\/self\/uid_map: Operation not permitted\): kernel\.apparmor_restrict_unprivileged_userns = 1 \(AppArmor\) — as root: sysctl -w kernel\.apparmor_restrict_unprivileged_userns=0/);
  });

  it("Debian's older switch", () => {
    expect(refusalMessage('unshare: unshare failed: Operation not permitted', gates({ 'kernel.unprivileged_userns_clone': '0' }))).toMatch(/kernel\.unprivileged_userns_clone = 0 — as root: sysctl -w kernel\.unprivileged_userns_clone=1/);
  });

  it('a limit used up in an enclosing namespace (this one reads high): still names the setting', () => {
    expect(refusalMessage('unshare: unshare failed: No space left on device', gates({ 'user.max_user_namespaces': '2147483647' }))).toMatch(/: user\.max_user_namespaces is used up, here or in an enclosing user namespace/);
  });

  it('anything else: the error as unshare said it, and where to look; always one line', () => {
    const m = refusalMessage('unshare: unshare failed: Invalid argument\nmore', gates({}));
    expect(m).toMatch(/^unprivileged user namespaces are refused here \(unshare failed: Invalid argument\) — check user\.max_user_namespaces and kernel\.apparmor_restrict_unprivileged_userns/);
    expect(m.split('\n')).toHaveLength(1);
  });
});

describe('rootless: the pieces', () => {
  it('ip and nft are found where a normal user’s PATH does not look', () => {
    expect(withSystemDirs('/usr/local/bin:/usr/bin:/bin')).toBe('/usr/local/bin:/usr/bin:/bin:/usr/local/sbin:/usr/sbin:/sbin');
    expect(withSystemDirs('/usr/sbin:/usr/bin')).toBe('/usr/sbin:/usr/bin:/usr/local/sbin:/sbin');
    expect(withSystemDirs(undefined)).toBe('/usr/local/sbin:/usr/sbin:/sbin');
  });

  it('only a normal user re-runs itself in a user namespace', () => {
    expect(needsUserNamespace(0)).toBe(false);
    expect(needsUserNamespace(1000)).toBe(true);
  });

  it('the initial user namespace maps every uid onto itself; anything else is a user namespace', () => {
    expect(isInitialUidMap('         0          0 4294967295\n')).toBe(true);
    expect(isInitialUidMap('         0       1000          1\n')).toBe(false);
    expect(isInitialUidMap('         0          0      65536\n')).toBe(false);
  });

  it('the uid the host sees, through the uid map', () => {
    expect(hostUid('         0       1000          1\n', 0)).toBe(1000);
    expect(hostUid('         0          0 4294967295\n', 1000)).toBe(1000);
    expect(hostUid('         0       1000          1\n', 5)).toBeUndefined();
  });

  it('the command goes last, after a user, a network and a mount namespace of its own', () => {
    const argv = userNamespaceArgv(['vitest', 'run']);
    expect(argv.slice(0, 7)).toEqual(['unshare', '--user', '--map-root-user', '--net', '--mount', '--propagation', 'private']);
    expect(argv.slice(-2)).toEqual(['vitest', 'run']);
  });

  it('what a run could not have is said, in words; nothing when it had everything', () => {
    expect(conditionNotes(undefined)).toEqual([]);
    expect(conditionNotes({ rootless: false, realtime: true })).toEqual([]);
    expect(conditionNotes({ rootless: true, realtime: false, realtimeOff: 'EPERM', unplaced: 'the jiffies clock is unreadable (/proc/timer_list is root-only)' })).toEqual([
      'rootless (a user namespace of its own)',
      'helpers without SCHED_FIFO (EPERM)',
      'model times ideal, not placed on the timer wheel: the jiffies clock is unreadable (/proc/timer_list is root-only)',
    ]);
  });
});
