#!/bin/busybox sh
# /init of the matrix guest's initramfs (static busybox only). It mounts what the host shares
# over 9p — its root read-only with a tmpfs overlay on top, the checkout snapshot and its
# node_modules likewise, the test kernel's tree read-only, the result folder read-write — at
# fixed guest paths (the tags and paths matrix/run.sh shares, see its G_* names), then switches
# to that root and runs the stage-2 script there as PID 1 (matrix/guest.sh from the snapshot, so
# editing it needs no initramfs rebuild). Any failure before that powers off at once, saying
# why: a guest that never powers off is a hung CI job.
/bin/busybox --install -s /bin
export PATH=/bin

mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev

halt() {
  sync
  poweroff -f
}
fail() {
  echo "deadpeer-init: $*"
  # the result share, if it got mounted, carries the reason to the runner's NO RESULT line
  [ -d /newroot/deadpeer-out ] && mountpoint -q /newroot/deadpeer-out && echo "deadpeer-init: $*" >/newroot/deadpeer-out/failure
  halt
}

while read -r m; do
  insmod "/lib/mods/$m" || echo "deadpeer-init: insmod $m failed"
done </modules

# 9p: msize 512 KiB is the largest every kernel from 5.10 on accepts over virtio; cache=loose is
# safe for read-only shares nobody changes during the run, and much faster than no cache
ro9p() {
  mount -t 9p -o trans=virtio,version=9p2000.L,msize=524288,cache=loose,ro "$1" "$2"
}
# A read-only share made writable in the guest (vitest, npm and the suite write where they run),
# the writes kept in memory and lost at power-off: tag, mount point.
writable() {
  mkdir -p "/lower/$1" "/rw/$1/upper" "/rw/$1/work" "$2"
  ro9p "$1" "/lower/$1" || fail "cannot mount the $1 share (9p)"
  mount -t overlay overlay -o "lowerdir=/lower/$1,upperdir=/rw/$1/upper,workdir=/rw/$1/work" "$2" || fail "cannot mount the overlay on $2"
}

mkdir -p /rw /newroot
mount -t tmpfs -o mode=755 tmpfs /rw
writable hostroot /newroot
mkdir -p /newroot/deadpeer-out
mount -t 9p -o trans=virtio,version=9p2000.L,msize=524288 dpout /newroot/deadpeer-out || fail "cannot mount the results share (9p)"
writable dpsrc /newroot/deadpeer-src
# the snapshot links node_modules for the host run; here it is its own share
rm -rf /newroot/deadpeer-src/node_modules
writable dpmodules /newroot/deadpeer-src/node_modules
mkdir -p /newroot/deadpeer-kernel
ro9p dpkernel /newroot/deadpeer-kernel || fail "cannot mount the kernel share (9p)"
stage2=/deadpeer-src/matrix/guest.sh
[ -f "/newroot$stage2" ] || fail "no $stage2 in the checkout share"
for d in proc sys dev; do mount --move /$d /newroot/$d; done

# switch_root, not chroot: the kernel runs /sbin/modprobe (module autoloading) in PID 1's root, so
# that root must be the host's, where the test kernel's modules get bind-mounted
exec switch_root /newroot /bin/bash "$stage2"
