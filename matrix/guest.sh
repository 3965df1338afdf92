#!/bin/bash
# Stage 2 of the matrix guest: PID 1 after the initramfs's switch_root into the host's root
# (read-only 9p + tmpfs overlay). Makes the root usable for the suite with the guest kernel, runs
# matrix/suite.sh (which writes the status), and powers off on every path — PID 1 exiting would
# panic the guest, and a guest that never powers off is a hung CI job.
set -u
off() {
  [ -f /deadpeer-out/status ] || echo 125 >/deadpeer-out/status
  sync
  /bin/busybox poweroff -f 2>/dev/null || echo o >/proc/sysrq-trigger
}
trap off EXIT
. /deadpeer-out/job.env

mount -t tmpfs -o mode=1777 tmpfs /tmp
mount -t tmpfs -o mode=755 tmpfs /run
mkdir -p /run/netns /run/lock /dev/pts /dev/shm
mount -t devpts devpts /dev/pts
mount -t tmpfs tmpfs /dev/shm
mount -t cgroup2 cgroup2 /sys/fs/cgroup 2>/dev/null || true

# modprobe (the host's kmod) looks in /lib/modules/$(uname -r): give it the test kernel's own tree,
# so nf_tables, veth and friends autoload exactly as on a machine running that kernel
mkdir -p "/lib/modules/$DP_RELEASE"
mount --bind "$DP_TREE/root/lib/modules/$DP_RELEASE" "/lib/modules/$DP_RELEASE"
# harness/engine/kernel.ts reads HZ from /boot/config-$(uname -r); Debian kernels have no /proc/config.gz
cp "$DP_TREE/root/boot/config-$DP_RELEASE" /boot/ 2>/dev/null
echo /sbin/modprobe >/proc/sys/kernel/modprobe
ip link set lo up
hostname "deadpeer-$DP_SPEC"

cd "$DP_CWD" || { echo "deadpeer-guest: no $DP_CWD in the shared root"; exit; }
export HOME=/root PATH=$DP_PATH:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
export DP_SPEC DP_ACCEL DP_OUT
if [ -n "$DP_EXEC" ]; then
  bash -c "$DP_EXEC"
  echo $? >"$DP_OUT/status"
else
  bash "$DP_CWD/matrix/suite.sh" "${DP_CASES[@]}"
fi
