#!/bin/bash
# Stage 2 of the matrix guest: PID 1 after the initramfs's switch_root into the host's root
# (read-only 9p + tmpfs overlay; the checkout, the kernel tree and the result folder at the fixed
# paths init.sh mounts). Makes the root usable for the suite with the guest kernel, runs
# matrix/suite.sh (which writes the status), and powers off on every path — PID 1 exiting would
# panic the guest, and a guest that never powers off is a hung CI job.
set -u
OUT=/deadpeer-out
off() {
  [ -f $OUT/status ] || echo 125 >$OUT/status
  sync
  /bin/busybox poweroff -f 2>/dev/null || echo o >/proc/sysrq-trigger
}
trap off EXIT
# the reason goes to the console and to the result folder, where the runner's NO RESULT line reads it
fail() {
  echo "deadpeer-guest: $*"
  echo "deadpeer-guest: $*" >$OUT/failure
  exit
}
. $OUT/job.env || fail "cannot read $OUT/job.env"

# Clean /tmp and /run for the suite (the host's own would show its namespaces and sockets). Nothing
# the guest needs may live under them: the checkout, node_modules and the kernel come as their own
# shares at paths outside (matrix/run.sh refuses a node found under them).
mount -t tmpfs -o mode=1777 tmpfs /tmp
mount -t tmpfs -o mode=755 tmpfs /run
mkdir -p /run/netns /run/lock /dev/pts /dev/shm
mount -t devpts devpts /dev/pts
mount -t tmpfs tmpfs /dev/shm
mount -t cgroup2 cgroup2 /sys/fs/cgroup 2>/dev/null || true

# modprobe (the host's kmod) looks in /lib/modules/$(uname -r): give it the test kernel's own tree,
# so nf_tables, veth and friends autoload exactly as on a machine running that kernel
[ -d "$DP_KERNEL/lib/modules/$DP_RELEASE" ] || fail "no lib/modules/$DP_RELEASE in the kernel share ($DP_KERNEL)"
mkdir -p "/lib/modules/$DP_RELEASE"
mount --bind "$DP_KERNEL/lib/modules/$DP_RELEASE" "/lib/modules/$DP_RELEASE"
# harness/engine/kernel.ts reads HZ from /boot/config-$(uname -r); Debian kernels have no /proc/config.gz
cp "$DP_KERNEL/boot/config-$DP_RELEASE" /boot/ 2>/dev/null
echo /sbin/modprobe >/proc/sys/kernel/modprobe
ip link set lo up
hostname "deadpeer-$DP_SPEC"

cd "$DP_CWD" || fail "no $DP_CWD (the checkout share)"
[ -f node_modules/vitest/vitest.mjs ] || fail "no node_modules/vitest in $DP_CWD (the node_modules share)"
export HOME=/root PATH=$DP_PATH:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
command -v node >/dev/null || fail "no node on the guest's PATH ($DP_PATH)"
export DP_SPEC DP_ACCEL DP_OUT
if [ -n "$DP_EXEC" ]; then
  bash -c "$DP_EXEC"
  echo $? >"$DP_OUT/status"
else
  bash "$DP_CWD/matrix/suite.sh" "${DP_CASES[@]}"
fi
