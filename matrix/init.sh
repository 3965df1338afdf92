#!/bin/busybox sh
# /init of the matrix guest's initramfs (static busybox only). It mounts the host root read-only
# over 9p with a tmpfs overlay on top and the read-write results share, then switches to that root
# and runs the stage-2 script there as PID 1 (matrix/guest.sh, read from the host root, so editing
# it needs no initramfs rebuild). Any failure before that powers off at once: a guest that never
# powers off is a hung CI job.
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
  halt
}

while read -r m; do
  insmod "/lib/mods/$m" || echo "deadpeer-init: insmod $m failed"
done </modules

stage2=
for arg in $(cat /proc/cmdline); do
  case $arg in dp.stage2=*) stage2=${arg#dp.stage2=} ;; esac
done
[ -n "$stage2" ] || fail "no dp.stage2= on the kernel command line"

# 9p: msize 512 KiB is the largest every kernel from 5.10 on accepts over virtio; cache=loose is
# safe for a read-only root nobody changes during the run, and much faster than no cache
mkdir -p /host /rw /newroot
mount -t 9p -o trans=virtio,version=9p2000.L,msize=524288,cache=loose,ro hostroot /host || fail "cannot mount the host root (9p)"
mount -t tmpfs -o mode=755 tmpfs /rw
mkdir -p /rw/upper /rw/work
mount -t overlay overlay -o lowerdir=/host,upperdir=/rw/upper,workdir=/rw/work /newroot || fail "cannot mount the overlay"
mkdir -p /newroot/deadpeer-out
mount -t 9p -o trans=virtio,version=9p2000.L,msize=524288 dpout /newroot/deadpeer-out || fail "cannot mount the results share (9p)"
for d in proc sys dev; do mount --move /$d /newroot/$d; done

# switch_root, not chroot: the kernel runs /sbin/modprobe (module autoloading) in PID 1's root, so
# that root must be the host's, where the test kernel's modules get bind-mounted
exec switch_root /newroot /bin/bash "$stage2"
