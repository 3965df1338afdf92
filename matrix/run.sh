#!/usr/bin/env bash
# deadpeer kernel matrix: run the suite on other kernels, one QEMU guest at a time, and rebuild
# docs/KERNELS.md from the Observations each kernel produced.
#
#   npm run matrix -- [options] [kernel…]        (this script; the GitHub workflow calls it too)
#
# Why a VM and not a container: the kernel is the thing under test. Each guest boots a distro's
# stock kernel with the host's root filesystem shared read-only over 9p (a tmpfs overlay on top
# inside), so node, nft, iproute2 and the compiled helper are the host's and only the kernel
# varies. The guest has no NIC: all traffic stays between namespaces made inside it. Results come
# back through a second, read-write 9p share; nothing else the guest writes survives.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
MATRIX=$ROOT/matrix
CACHE=${DEADPEER_KERNEL_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/deadpeer/kernels}
OUT=$ROOT/deadpeer-results/matrix
CASES=(cases)
TABLE=$ROOT/docs/KERNELS.md
PER_KERNEL_TIMEOUT=${DEADPEER_MATRIX_TIMEOUT:-1800}
VM_CPUS=${DEADPEER_VM_CPUS:-2}
VM_MEM=${DEADPEER_VM_MEM:-3072}
DEBIAN_MIRROR=${DEADPEER_DEBIAN_MIRROR:-http://deb.debian.org/debian}
DEBIAN_SECURITY=${DEADPEER_DEBIAN_SECURITY:-http://deb.debian.org/debian-security}
UBUNTU_MIRROR=${DEADPEER_UBUNTU_MIRROR:-http://archive.ubuntu.com/ubuntu}
UBUNTU_SECURITY=${DEADPEER_UBUNTU_SECURITY:-http://security.ubuntu.com/ubuntu}
# modules the initramfs needs to reach the host root; virtio_rng keeps an old guest's getrandom()
# from blocking node's start-up
INITRAMFS_MODULES=(virtio_pci virtio_rng 9pnet_virtio 9p overlay)
KNOWN="5.10 5.15 6.1 6.12 host"

say() { printf 'deadpeer matrix: %s\n' "$*" >&2; }
die() { say "$1"; exit "${2:-1}"; }

usage() {
  cat <<EOF
usage: npm run matrix -- [options] [kernel…]

kernels (default: 5.10 6.1 6.12):
  5.10   Debian bullseye linux-image-amd64
  6.1    Debian bookworm linux-image-amd64
  6.12   Debian bookworm linux-image-6.12-amd64
  5.15   Ubuntu jammy linux-image-generic (needs /usr/share/keyrings/ubuntu-archive-keyring.gpg)
  host   the running kernel, no VM
  The current ABI of each is resolved with apt-cache at run time, through a private apt
  configuration under the kernel cache (the host's /etc/apt is never touched).

options:
  --cases "<vitest filters>"  what to run inside (default: cases)
  --out DIR                   results root (default: deadpeer-results/matrix); one folder per kernel
  --table FILE                the cross-kernel table to rewrite (default: docs/KERNELS.md)
  --no-table                  do not rewrite the table
  --prepare-only              fetch and prepare the kernels, boot nothing (CI cache warm-up)
  --exec "<command>"          run this shell command in each guest instead of the suite (debugging)
  -h, --help                  this text

environment: DEADPEER_KERNEL_CACHE (default ~/.cache/deadpeer/kernels), DEADPEER_VM_CPUS (2),
DEADPEER_VM_MEM (MiB, 3072), DEADPEER_MATRIX_TIMEOUT (s per kernel, 1800), DEADPEER_PROFILE,
DEADPEER_DEBIAN_MIRROR, DEADPEER_UBUNTU_MIRROR.
EOF
}

# ---------- arguments ----------
kernels=() write_table=1 prepare_only=0 EXEC=
while [ $# -gt 0 ]; do
  case $1 in
    -h | --help) usage; exit 0 ;;
    --cases) [ $# -ge 2 ] || die "--cases needs a value" 2; read -r -a CASES <<<"$2"; shift 2 ;;
    --out) [ $# -ge 2 ] || die "--out needs a directory" 2; OUT=$(realpath -m "$2"); shift 2 ;;
    --table) [ $# -ge 2 ] || die "--table needs a file" 2; TABLE=$(realpath -m "$2"); shift 2 ;;
    --no-table) write_table=0; shift ;;
    --prepare-only) prepare_only=1; shift ;;
    --exec) [ $# -ge 2 ] || die "--exec needs a command" 2; EXEC=$2; write_table=0; shift 2 ;;
    --) shift ;;
    -*) die "unknown option $1 (see --help)" 2 ;;
    *) kernels+=("$1"); shift ;;
  esac
done
[ ${#kernels[@]} -gt 0 ] || kernels=(5.10 6.1 6.12)

# Every spec is checked before anything is installed or downloaded: bad input costs nothing.
for k in "${kernels[@]}"; do
  case $k in
    *cloud*) die "kernel \"$k\": Debian's *-cloud-amd64 kernels have no 9p module, so they cannot mount the host root; use the generic flavour (e.g. 6.1)" 2 ;;
    5.10 | 5.15 | 6.1 | 6.12 | host) ;;
    *) die "unknown kernel \"$k\" (known: $KNOWN)" 2 ;;
  esac
done
[ "$(id -u)" = 0 ] || die "must run as root (kernel cases create network namespaces; qemu shares / read-only)" 2

# ---------- host tools ----------
ensure_packages() {
  local need=() pair cmd pkg
  for pair in qemu-system-x86_64:qemu-system-x86 busybox:busybox-static depmod:kmod modprobe:kmod; do
    cmd=${pair%%:*} pkg=${pair#*:}
    command -v "$cmd" >/dev/null 2>&1 || need+=("$pkg")
  done
  # the static busybox specifically: the initramfs has no libc
  if command -v busybox >/dev/null 2>&1 && ldd "$(command -v busybox)" >/dev/null 2>&1; then need+=(busybox-static); fi
  [ -f /usr/share/keyrings/debian-archive-keyring.gpg ] || need+=(debian-archive-keyring)
  [ ${#need[@]} -eq 0 ] && return
  mapfile -t need < <(printf '%s\n' "${need[@]}" | sort -u)
  say "installing ${need[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
}

# ---------- kernels: a private apt configuration per suite ----------
# kernel spec -> "distro suite meta-package"
source_of() {
  case $1 in
    5.10) echo "debian bullseye linux-image-amd64" ;;
    6.1) echo "debian bookworm linux-image-amd64" ;;
    6.12) echo "debian bookworm linux-image-6.12-amd64" ;;
    5.15) echo "ubuntu jammy linux-image-generic" ;;
  esac
}

APT_OPTS=()
# Lists, cache and sources live under $CACHE/apt/<suite>; SourceParts points at an empty folder so
# the host's sources.list.d is not read either.
use_suite() {
  local distro=$1 suite=$2 d=$CACHE/apt/$2 keyring
  mkdir -p "$d/lists/partial" "$d/cache/archives/partial" "$d/parts"
  case $distro in
    debian)
      keyring=/usr/share/keyrings/debian-archive-keyring.gpg
      printf 'deb [signed-by=%s] %s %s main\n' \
        "$keyring" "$DEBIAN_MIRROR" "$suite" "$keyring" "$DEBIAN_MIRROR" "$suite-updates" "$keyring" "$DEBIAN_SECURITY" "$suite-security" >"$d/sources.list"
      ;;
    ubuntu)
      keyring=/usr/share/keyrings/ubuntu-archive-keyring.gpg
      [ -f "$keyring" ] || die "$suite kernels are Ubuntu's: $keyring is missing (an Ubuntu host has it; on Debian: install ubuntu-keyring if your release packages it)"
      printf 'deb [signed-by=%s] %s %s main\n' \
        "$keyring" "$UBUNTU_MIRROR" "$suite" "$keyring" "$UBUNTU_MIRROR" "$suite-updates" "$keyring" "$UBUNTU_SECURITY" "$suite-security" >"$d/sources.list"
      ;;
  esac
  APT_OPTS=(-o "Dir::Etc::SourceList=$d/sources.list" -o "Dir::Etc::SourceParts=$d/parts"
    -o "Dir::State::Lists=$d/lists" -o "Dir::Cache=$d/cache" -o "Dir::Cache::pkgcache=" -o "Dir::Cache::srcpkgcache="
    -o "APT::Architectures=amd64" -o "Acquire::Languages=none" -o "APT::Sandbox::User=root")
  # refresh at most daily: the ABI moves with point releases, not by the minute
  if [ -z "$(find "$d/lists" -maxdepth 1 -name '*Packages*' -mmin -1440 2>/dev/null | head -1)" ]; then
    say "apt-get update ($suite, private lists under $d)"
    apt-get "${APT_OPTS[@]}" update -qq >&2 || return 1
  fi
}

# The meta package's current dependency: linux-image-<abi>, never hard-coded.
resolve_image() {
  local meta=$1
  apt-cache "${APT_OPTS[@]}" depends --no-recommends --no-suggests "$meta" 2>/dev/null |
    awk '$1 == "Depends:" && $2 ~ /^linux-image-[0-9]/ { print $2; exit }'
}

# Download, extract, depmod and build the initramfs for one spec; prints the prepared tree.
prepare_kernel() {
  local spec=$1 distro suite meta image abi debs=() tree root rel f
  read -r distro suite meta <<<"$(source_of "$spec")"
  if ! use_suite "$distro" "$suite"; then
    tree=$(ls -1dt "$CACHE/trees/$spec-"*/ 2>/dev/null | head -1 || true)
    [ -n "$tree" ] && [ -f "$tree/ready" ] || die "$spec: apt-get update failed and no prepared kernel is cached"
    say "$spec: apt-get update failed; using the cached ${tree%/}"
    echo "${tree%/}"
    return
  fi
  image=$(resolve_image "$meta")
  [ -n "$image" ] || die "$spec: cannot resolve $meta in $suite (apt-cache depends found no linux-image-*)"
  case $image in *-cloud-*) die "$spec: $meta resolved to $image, a cloud kernel without 9p" 2 ;; esac
  abi=${image#linux-image-}
  case $abi in "$spec".*) ;; *) die "$spec: $meta in $suite now resolves to $image, not a $spec kernel" ;; esac
  tree=$CACHE/trees/$spec-$abi
  if [ -f "$tree/ready" ]; then
    # the initramfs embeds init.sh: rebuild it (cheap) when the script changed
    cmp -s "$MATRIX/init.sh" "$tree/initramfs.d/init" || build_initramfs "$tree" "$(cat "$tree/release")"
    echo "$tree"
    return
  fi

  local pkgs=("$image")
  [ "$distro" = ubuntu ] && pkgs+=("linux-modules-$abi" "linux-modules-extra-$abi")
  mkdir -p "$CACHE/debs"
  for f in "${pkgs[@]}"; do
    if ! compgen -G "$CACHE/debs/${f}_*.deb" >/dev/null; then
      say "$spec: apt-get download $f"
      (cd "$CACHE/debs" && apt-get "${APT_OPTS[@]}" download -qq "$f" >&2)
    fi
    debs+=("$(ls -1t "$CACHE/debs/${f}_"*.deb | head -1)")
  done
  # a new ABI replaces the old one: drop that kernel's older packages and trees (~300 MB each)
  # ("linux-image-6.1.*" does not match 6.12's packages: the dot after the spec is literal)
  for f in linux-image linux-modules linux-modules-extra; do
    find "$CACHE/debs" -maxdepth 1 -name "$f-$spec.*.deb" ! -name "*-${abi}_*" -delete
  done
  find "$CACHE/trees" -mindepth 1 -maxdepth 1 -name "$spec-*" ! -name "$spec-$abi" -exec rm -rf {} + 2>/dev/null || true

  say "$spec: preparing $abi (dpkg-deb -x, depmod, initramfs)"
  rm -rf "$tree"
  mkdir -p "$tree/root"
  for f in "${debs[@]}"; do dpkg-deb -x "$f" "$tree/root"; done
  rel=$(ls -1 "$tree/root/lib/modules" | head -1)
  [ -n "$rel" ] && [ -f "$tree/root/boot/vmlinuz-$rel" ] || die "$spec: $image has no /boot/vmlinuz-<release> and /lib/modules/<release>"
  depmod -b "$tree/root" "$rel"
  echo "$rel" >"$tree/release"
  build_initramfs "$tree" "$rel"
  touch "$tree/ready"
  echo "$tree"
}

# A busybox initramfs with just the modules needed to mount the host root, loaded by /init in
# dependency order. Modules are decompressed here because busybox's insmod may not inflate them.
build_initramfs() {
  local tree=$1 rel=$2 ir=$1/initramfs.d n=0 m line ko base
  rm -rf "$ir"
  mkdir -p "$ir"/{bin,dev,proc,sys,lib/mods}
  cp "$(command -v busybox)" "$ir/bin/busybox"
  cp "$MATRIX/init.sh" "$ir/init"
  chmod 755 "$ir/init" "$ir/bin/busybox"
  : >"$ir/modules"
  for m in "${INITRAMFS_MODULES[@]}"; do
    while read -r line; do
      case $line in
        insmod\ *)
          ko=${line#insmod }
          ko=${ko%% *}
          base=$(basename "$ko")
          base=${base%.xz} base=${base%.zst} base=${base%.gz}
          grep -qx "[0-9]*-$base" "$ir/modules" && continue
          n=$((n + 1))
          case $ko in
            *.xz) xz -dc "$ko" ;;
            *.zst) zstd -qdc "$ko" ;;
            *.gz) gzip -dc "$ko" ;;
            *) cat "$ko" ;;
          esac >"$ir/lib/mods/$(printf %02d "$n")-$base"
          printf '%02d-%s\n' "$n" "$base" >>"$ir/modules"
          ;;
      esac # "builtin X": nothing to load
    done < <(modprobe -d "$tree/root" -S "$rel" --show-depends "$m" 2>/dev/null || echo "missing $m")
  done
  (cd "$ir" && find . -print0 | sort -z | busybox cpio -o -H newc -0 2>/dev/null) | gzip -1 >"$tree/initramfs.gz"
}

# ---------- running ----------
# KVM only when it can really run a stock kernel: a writable /dev/kvm is not enough on a host
# without vmx/svm (the guest hangs or dies with a KVM internal error), so check the CPU flags too.
accel() {
  if [ -w /dev/kvm ] && grep -qwE 'vmx|svm' /proc/cpuinfo; then echo kvm; else echo tcg; fi
}

# The job file the guest sources: shell-quoted, so values with spaces survive.
write_job() {
  local out=$1 spec=$2 tree=$3 rel=$4 acc=$5 v
  {
    printf 'DP_SPEC=%q\nDP_TREE=%q\nDP_RELEASE=%q\nDP_ACCEL=%q\nDP_CWD=%q\nDP_OUT=/deadpeer-out\n' "$spec" "$tree" "$rel" "$acc" "$SRC"
    # the host's PATH: node may live outside the standard dirs (setup-node on CI, nvm)
    printf 'DP_PATH=%q\n' "$PATH"
    printf 'DP_CASES=(%s)\n' "$(printf '%q ' "${CASES[@]}")"
    printf 'DP_EXEC=%q\n' "$EXEC"
    # One emulated CPU is shared by every vitest worker, helper, ip and nft. With all files at
    # once, setup steps that take milliseconds on hardware took seconds (measured on 6.1: 3.3 s
    # from the handshake to arming a fault, past a 2 s keepalive idle); with a dozen scenarios of
    # one file setting up at once, 5.10's retransmit timer fired 0.2-0.6 s late twice (its
    # softirqs wait for a saturated CPU; the same two tests alone pass). Files one at a time and
    # at most 4 tests of a file at once keep the guest's CPU mostly idle, as on hardware.
    [ "$acc" = tcg ] && printf 'export DP_VITEST_ARGS=%q\n' "--no-file-parallelism --maxConcurrency=4"
    for v in DEADPEER_PROFILE CI; do
      [ -n "${!v:-}" ] && printf 'export %s=%q\n' "$v" "${!v}"
    done
  } >"$out/job.env"
}

# Boot one prepared kernel and run the suite in it. Returns the suite's exit status; 125 when the
# guest never reported one (did not boot, panicked, timed out).
boot_kernel() {
  local spec=$1 tree=$2 out=$3 rel acc machine rc=0
  rel=$(cat "$tree/release")
  acc=$(accel)
  if [ "$acc" = kvm ]; then
    machine=(-machine q35,accel=kvm -cpu host -smp "$VM_CPUS")
  else
    # TCG: the guest's clock is driven by the instruction counter (-icount), not by host time.
    # Without it a vCPU thread preempted on a busy host (or slowed by emulation) sees time pass
    # while it cannot run, and the guest kernel's timers fire 50-600 ms late (measured here: a
    # 1 s SYN RTO at 1.061 s, a close 575 ms late) — noise the wheel-derived tolerances rightly
    # reject. With shift=0 each instruction is 1 ns (a ~1 GHz CPU, so userspace keeps roughly
    # native latencies) and sleep=on lets idle time pass in real time, so kernel timers fire on
    # the guest's clock exactly as on hardware. icount needs single-threaded TCG: one vCPU.
    machine=(-machine q35,accel=tcg -cpu max -icount shift=0,sleep=on -smp 1)
  fi
  write_job "$out" "$spec" "$tree" "$rel" "$acc"
  say "$spec: booting $rel under $acc (${machine[*]}, ${VM_MEM} MiB); console in $out/console.log"
  set +e
  timeout --foreground --kill-after=10 "$PER_KERNEL_TIMEOUT" qemu-system-x86_64 \
    -nodefaults -no-user-config -no-reboot -display none \
    "${machine[@]}" -m "$VM_MEM" ${DEADPEER_QEMU_EXTRA:-} \
    -kernel "$tree/root/boot/vmlinuz-$rel" -initrd "$tree/initramfs.gz" \
    -append "console=ttyS0 panic=-1 norandmaps loglevel=4 rdinit=/init dp.stage2=$SRC/matrix/guest.sh ${DEADPEER_KERNEL_APPEND:-}" \
    -fsdev local,id=hostroot,path=/,security_model=none,readonly=on,multidevs=remap \
    -device virtio-9p-pci,fsdev=hostroot,mount_tag=hostroot \
    -fsdev local,id=dpout,path="$out",security_model=none,multidevs=remap \
    -device virtio-9p-pci,fsdev=dpout,mount_tag=dpout \
    -device virtio-rng-pci \
    -serial stdio </dev/null 2>&1 | tee "$out/console.log" | sed -u "s/^/[$spec] /"
  rc=${PIPESTATUS[0]}
  set -e
  if [ -f "$out/status" ]; then return "$(cat "$out/status")"; fi
  if [ "$rc" = 124 ] || [ "$rc" = 137 ]; then
    echo "timed out after ${PER_KERNEL_TIMEOUT} s" >"$out/failure"
  elif grep -q 'Kernel panic' "$out/console.log"; then
    grep -m1 'Kernel panic' "$out/console.log" >"$out/failure"
  elif grep -q 'deadpeer-init:' "$out/console.log"; then
    grep 'deadpeer-init:' "$out/console.log" | tail -1 >"$out/failure"
  else
    echo "qemu exited with $rc before the guest wrote a status" >"$out/failure"
  fi
  return 125
}

run_host() {
  local out=$1
  say "host: running the suite on $(uname -r) directly"
  DP_SPEC=host DP_ACCEL=none DP_OUT=$out bash "$SRC/matrix/suite.sh" "${CASES[@]}" 2>&1 | tee "$out/console.log" | sed -u 's/^/[host] /'
  return "$(cat "$out/status" 2>/dev/null || echo 125)"
}

if [ "$prepare_only" = 0 ] && { [ ! -f "$ROOT/dist/cli/main.js" ] || [ ! -x "$ROOT/harness/helper/deadpeer-helper" ]; }; then
  die "not built: run bash setup.sh (or npm run build) first"
fi
vms=0
for k in "${kernels[@]}"; do [ "$k" = host ] || vms=1; done
[ "$vms" = 1 ] && ensure_packages

declare -A trees
for k in "${kernels[@]}"; do
  [ "$k" = host ] && continue
  trees[$k]=$(prepare_kernel "$k") || exit $?
done
[ "$prepare_only" = 1 ] && { say "prepared: ${trees[*]}"; exit 0; }

# Every kernel runs the same code: a snapshot of the checkout taken now, not the live tree, which
# others may be editing (a guest once read a case file half-written and failed to parse it).
# node_modules is linked, not copied: it is large and nobody edits it by hand.
mkdir -p "$OUT"
SRC=$OUT/.checkout
rm -rf "$SRC"
mkdir -p "$SRC"
excludes=(--exclude=./node_modules --exclude=./.git --exclude=./deadpeer-results --exclude=./.deadpeer-kernels)
rel=$(realpath --relative-to="$ROOT" "$OUT")
case $rel in ..*) ;; *) excludes+=(--exclude="./$rel") ;; esac
tar -C "$ROOT" "${excludes[@]}" -cf - . | tar -C "$SRC" -xf -
ln -s "$ROOT/node_modules" "$SRC/node_modules"
trap 'rm -rf "$SRC"' EXIT

failed=()
started=$(date +%s)
for k in "${kernels[@]}"; do
  out=$OUT/$k
  rm -rf "$out"
  mkdir -p "$out"
  t0=$(date +%s)
  rc=0
  if [ "$k" = host ]; then run_host "$out" || rc=$?; else boot_kernel "$k" "${trees[$k]}" "$out" || rc=$?; fi
  echo "$(($(date +%s) - t0))" >"$out/wall_s"
  if [ "$rc" = 125 ]; then
    say "$k: NO RESULT — $(cat "$out/failure" 2>/dev/null || echo unknown failure)"
    failed+=("$k")
  elif [ "$rc" != 0 ]; then
    say "$k: the suite failed (exit $rc) in $(cat "$out/wall_s") s"
    failed+=("$k")
  else
    say "$k: the suite passed in $(cat "$out/wall_s") s"
  fi
done

if [ "$write_table" = 1 ]; then
  mapfile -t dirs < <(find "$OUT" -mindepth 1 -maxdepth 1 -type d ! -name '.*' | sort -V)
  node "$ROOT/bin/deadpeer.js" kernels --out "$TABLE" --html "$OUT/kernels.html" "${dirs[@]}" || true
  say "table: $TABLE (and $OUT/kernels.html, linking each kernel's run report)"
fi
say "wall time $(($(date +%s) - started)) s for ${kernels[*]}${failed:+; failed: ${failed[*]}}"
[ ${#failed[@]} -eq 0 ]
