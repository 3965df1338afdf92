#!/usr/bin/env bash
# deadpeer kernel matrix: run the suite on other kernels, one QEMU guest at a time, and rebuild
# docs/KERNELS.md from the Observations each kernel produced.
#
#   npm run matrix -- [options] [kernel…]        (this script; the GitHub workflow calls it too)
#
# Why a VM and not a container: the kernel is the thing under test. Each guest boots a distro's
# stock kernel with the host's root filesystem shared read-only over 9p (a tmpfs overlay on top
# inside), so node, nft, iproute2 and the compiled helper are the host's and only the kernel
# varies. The checkout snapshot, its node_modules and the kernel's tree come as their own
# read-only shares at fixed guest paths (see G_* below). The guest has no NIC: all traffic stays
# between namespaces made inside it. Results come back through a read-write 9p share; nothing
# else the guest writes survives.
set -euo pipefail

# Physical paths (symlinks resolved): QEMU shares host directories by path, and a symlinked
# checkout must not be shared as the link.
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd -P)
MATRIX=$ROOT/matrix
# shellcheck source=lib.sh
. "$MATRIX/lib.sh"
CACHE=$(realpath -m -- "${DEADPEER_KERNEL_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/deadpeer/kernels}")
OUT=$ROOT/deadpeer-results/matrix
CASES=(cases)
TABLE=$ROOT/docs/KERNELS.md
PER_KERNEL_TIMEOUT=${DEADPEER_MATRIX_TIMEOUT:-1800}
VM_CPUS=${DEADPEER_VM_CPUS:-2}
VM_MEM=${DEADPEER_VM_MEM:-3072}
# modules the initramfs needs to reach the host root; virtio_rng keeps an old guest's getrandom()
# from blocking node's start-up
INITRAMFS_MODULES=(virtio_pci virtio_rng 9pnet_virtio 9p overlay)
KNOWN="5.10 5.15 6.1 6.12 6.16 6.17 6.18 host"

# Where the guest finds what it is given: fixed paths, none under the tmpfs mounts guest.sh makes
# (/tmp, /run, /dev/*), each its own 9p share (tags and mount points also in matrix/init.sh). The
# guest never looks for the checkout at its host path: a clone under /tmp (a CI workspace, a
# throw-away clone) would be hidden by the guest's own /tmp.
G_SRC=/deadpeer-src          # the checkout snapshot (read-only share, writable overlay in the guest)
G_MODULES=$G_SRC/node_modules # the checkout's node_modules (same)
G_KERNEL=/deadpeer-kernel    # the test kernel's extracted packages (read-only)
G_OUT=/deadpeer-out          # this kernel's result folder (read-write)

say() { printf 'deadpeer matrix: %s\n' "$*" >&2; }
die() { say "$1"; exit "${2:-1}"; }

usage() {
  cat <<USAGE
usage: npm run matrix -- [options] [kernel…]

kernels (default: 5.10 6.1 6.12):
  5.10   Debian bullseye linux-image-amd64
  6.1    Debian bookworm linux-image-amd64
  6.12   Debian bookworm linux-image-6.12-amd64
  6.16, 6.17, 6.18
         Debian trixie-backports: the newest complete linux-image-<X.Y>.*-amd64 it carries (no
         per-series meta package there; backports keeps older series until they are removed)
  5.15   Ubuntu jammy linux-image-generic (needs /usr/share/keyrings/ubuntu-archive-keyring.gpg)
  host   the running kernel, no VM
  The current ABI of each is resolved with apt-cache at run time, through a private apt
  configuration under the kernel cache (the host's /etc/apt is read for its mirror, never written).

options:
  --cases "<vitest filters>"  what to run inside (default: cases)
  --out DIR                   results root (default: deadpeer-results/matrix); one folder per kernel
  --table FILE                the cross-kernel table to rewrite (default: docs/KERNELS.md)
  --no-table                  do not rewrite the table
  --prepare-only              fetch and prepare the kernels, boot nothing (CI cache warm-up)
  --exec "<command>"          run this shell command in each guest instead of the suite (debugging)
  --plan                      print, per kernel, the apt sources, the host folders shared with the
                              guest and where it mounts them, the QEMU arguments and the job file;
                              boot, download and write nothing (needs no root)
  -h, --help                  this text

mirrors: a Debian kernel comes from DEADPEER_DEBIAN_MIRROR (+ DEADPEER_DEBIAN_SECURITY), else from
the Debian mirror this host's own apt sources name (Debian hosts); an Ubuntu kernel likewise from
DEADPEER_UBUNTU_MIRROR (+ DEADPEER_UBUNTU_SECURITY) or an Ubuntu host's sources.

environment: DEADPEER_KERNEL_CACHE (default ~/.cache/deadpeer/kernels), DEADPEER_VM_CPUS (2),
DEADPEER_VM_MEM (MiB, 3072), DEADPEER_MATRIX_TIMEOUT (s per kernel, 1800), DEADPEER_PROFILE.
USAGE
}

# ---------- arguments ----------
kernels=() write_table=1 prepare_only=0 plan=0 EXEC=
while [ $# -gt 0 ]; do
  case $1 in
    -h | --help) usage; exit 0 ;;
    --cases) [ $# -ge 2 ] || die "--cases needs a value" 2; read -r -a CASES <<<"$2"; shift 2 ;;
    --out) [ $# -ge 2 ] || die "--out needs a directory" 2; OUT=$(realpath -m -- "$2"); shift 2 ;;
    --table) [ $# -ge 2 ] || die "--table needs a file" 2; TABLE=$(realpath -m -- "$2"); shift 2 ;;
    --no-table) write_table=0; shift ;;
    --prepare-only) prepare_only=1; shift ;;
    --plan) plan=1; shift ;;
    --exec) [ $# -ge 2 ] || die "--exec needs a command" 2; EXEC=$2; write_table=0; shift 2 ;;
    --) shift ;;
    -*) die "unknown option $1 (see --help)" 2 ;;
    *) kernels+=("$1"); shift ;;
  esac
done
[ ${#kernels[@]} -gt 0 ] || kernels=(5.10 6.1 6.12)

# ---------- kernels: where each comes from ----------
# kernel spec -> "distro suite package", where package is a meta package whose current dependency
# is the image, or a pattern (X.Y.*) of which the newest complete image in the suite is taken
source_of() {
  case $1 in
    5.10) echo "debian bullseye linux-image-amd64" ;;
    6.1) echo "debian bookworm linux-image-amd64" ;;
    6.12) echo "debian bookworm linux-image-6.12-amd64" ;;
    6.16 | 6.17 | 6.18) echo "debian trixie-backports linux-image-$1.*-amd64" ;;
    5.15) echo "ubuntu jammy linux-image-generic" ;;
  esac
}

# Every spec is checked before anything is installed or downloaded: bad input costs nothing.
for k in "${kernels[@]}"; do
  case $k in
    *cloud*) die "kernel \"$k\": Debian's *-cloud-amd64 kernels have no 9p module, so they cannot mount the host root; use the generic flavour (e.g. 6.1)" 2 ;;
    host) ;;
    *) [ -n "$(source_of "$k")" ] || die "unknown kernel \"$k\" (known: $KNOWN)" 2 ;;
  esac
done

# ---------- mirrors ----------
# Every binary source this host's apt reads, as apt_source_entries lines (the host's apt
# configuration says where its sources are; nothing there is written).
host_sources() {
  local SL='' SP='' f
  eval "$(apt-config shell SL Dir::Etc::sourcelist/f SP Dir::Etc::sourceparts/d 2>/dev/null || true)"
  SL=${SL:-/etc/apt/sources.list} SP=${SP:-/etc/apt/sources.list.d/}
  if [ -f "$SL" ]; then apt_source_entries list <"$SL"; fi
  for f in "${SP%/}"/*; do
    case $f in
      *.list) apt_source_entries list <"$f" ;;
      *.sources) apt_source_entries sources <"$f" ;;
    esac
  done
}

# The mirror a distribution's kernels come from ($1 debian|ubuntu, $2 archive|security): its
# environment variable, else this host's own apt sources when the host runs that distribution.
# No mirror is built in: which mirror a machine reaches is its administrator's choice, already
# made in its apt configuration. Prints nothing (status 1) when neither says.
mirror_of() {
  local distro=$1 kind=$2 var id codename
  var=DEADPEER_${distro^^}_MIRROR
  [ "$kind" = security ] && var=DEADPEER_${distro^^}_SECURITY
  if [ -n "${!var:-}" ]; then
    printf '%s\n' "${!var%/}"
    return
  fi
  id=$(. /etc/os-release 2>/dev/null && echo "${ID:-}")
  codename=$(. /etc/os-release 2>/dev/null && echo "${VERSION_CODENAME:-}")
  [ "$id" = "$distro" ] && [ -n "$codename" ] && host_sources | apt_mirror "$codename" "$kind"
}

declare -A MIRROR SECURITY
for k in "${kernels[@]}"; do
  [ "$k" = host ] && continue
  read -r distro _ <<<"$(source_of "$k")"
  [ -n "${MIRROR[$distro]:-}" ] && continue
  MIRROR[$distro]=$(mirror_of "$distro" archive) ||
    die "kernel $k comes from ${distro^}'s archive, and this host's apt sources name no ${distro^} mirror: set DEADPEER_${distro^^}_MIRROR to the URL of one you can reach" 2
  # the security archive only brings newer ABIs; without one the suite's own kernel still runs
  SECURITY[$distro]=$(mirror_of "$distro" security) || SECURITY[$distro]=
done

# The private sources.list of a suite (what use_suite writes), on stdout.
sources_list() {
  local distro=$1 suite=$2 keyring=$3 m=${MIRROR[$1]} sec=${SECURITY[$1]:-}
  printf 'deb [signed-by=%s] %s %s main\n' "$keyring" "$m" "$suite"
  case $suite in *-backports) return ;; esac # a backports suite has no -updates or -security
  printf 'deb [signed-by=%s] %s %s main\n' "$keyring" "$m" "$suite-updates"
  if [ -n "$sec" ]; then printf 'deb [signed-by=%s] %s %s main\n' "$keyring" "$sec" "$suite-security"; fi
}

keyring_of() {
  case $1 in
    debian) echo /usr/share/keyrings/debian-archive-keyring.gpg ;;
    ubuntu) echo /usr/share/keyrings/ubuntu-archive-keyring.gpg ;;
  esac
}

# ---------- paths ----------
# What the guest runs: a snapshot of the checkout (taken before booting, see below), its
# node_modules and node itself. A path with a newline cannot go through QEMU's options or the job
# file; node under a folder the guest covers with a tmpfs would not be there.
SRC=$OUT/.checkout
NODE_MODULES=$(realpath -m -- "$ROOT/node_modules")
NODE_BIN=$(realpath -m -- "$(command -v node || echo /nonexistent/node)")
nl='
'
for p in "$ROOT" "$OUT" "$CACHE" "$NODE_MODULES"; do
  case $p in *"$nl"*) die "the path \"${p%%"$nl"*}…\" contains a newline, which cannot be shared with a guest: move the checkout or set --out / DEADPEER_KERNEL_CACHE elsewhere" 2 ;; esac
done
if covered=$(guest_covered "$NODE_BIN"); then
  die "node is $NODE_BIN, under $covered, which the guest covers with its own tmpfs: install node outside /tmp, /run and /dev (or put it first on PATH from there)" 2
fi

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
APT_OPTS=()
# Lists, cache and sources live under $CACHE/apt/<suite>; SourceParts points at an empty folder so
# the host's sources.list.d is not read either.
use_suite() {
  local distro=$1 suite=$2 d=$CACHE/apt/$2 keyring
  mkdir -p "$d/lists/partial" "$d/cache/archives/partial" "$d/parts"
  keyring=$(keyring_of "$distro")
  case $distro in
    ubuntu) [ -f "$keyring" ] || die "$suite kernels are Ubuntu's: $keyring is missing (an Ubuntu host has it; on Debian: install ubuntu-keyring if your release packages it)" ;;
  esac
  sources_list "$distro" "$suite" "$keyring" >"$d/sources.list.new"
  # a changed mirror makes the old lists stale
  cmp -s "$d/sources.list.new" "$d/sources.list" || rm -f "$d/lists/"*Packages* "$d/lists/"*Release*
  mv "$d/sources.list.new" "$d/sources.list"
  APT_OPTS=(-o "Dir::Etc::SourceList=$d/sources.list" -o "Dir::Etc::SourceParts=$d/parts"
    -o "Dir::State::Lists=$d/lists" -o "Dir::Cache=$d/cache" -o "Dir::Cache::pkgcache=" -o "Dir::Cache::srcpkgcache="
    -o "APT::Architectures=amd64" -o "Acquire::Languages=none" -o "APT::Sandbox::User=root")
  # refresh at most daily: the ABI moves with point releases, not by the minute
  if [ -z "$(find "$d/lists" -maxdepth 1 -name '*Packages*' -mmin -1440 2>/dev/null | head -1)" ]; then
    say "apt-get update ($suite, private lists under $d)"
    apt-get "${APT_OPTS[@]}" update -qq >&2 || return 1
  fi
}

# The packages an image needs, one per line: the image and the packages of its own ABI it
# depends on (newer Debian kernels split it into linux-binary-, linux-modules- and linux-base-
# <abi>); "missing <name>" for such a dependency the suite no longer carries (apt shows it as
# <virtual>: backports removes older series' parts before their images).
image_packages() {
  local image=$1
  printf '%s\n' "$image"
  apt-cache "${APT_OPTS[@]}" depends --no-recommends --no-suggests --no-conflicts --no-breaks --no-replaces --no-enhances "$image" 2>/dev/null |
    awk -v sfx="-${image#linux-image-}" '
      $1 ~ /Depends:$/ {
        n = $2
        virtual = n ~ /^</
        gsub(/[<>]/, "", n)
        if (length(n) > length(sfx) && substr(n, length(n) - length(sfx) + 1) == sfx) print (virtual ? "missing " : "") n
      }' | sort -u
}
# an image whose binary or modules package is gone cannot boot (linux-base-<abi> only carries
# files the matrix does not use, and older images name it without anyone providing it)
image_complete() {
  ! image_packages "$1" | grep -qE '^missing linux-(binary|modules)-'
}

# The image a spec's package stands for: a meta package's current dependency (linux-image-<abi>),
# or for a pattern linux-image-X.Y.*-amd64 the newest complete generic image of that series in
# the suite. Never a hard-coded ABI.
resolve_image() {
  local pkg=$1 series c
  case $pkg in
    *'*'*)
      series=${pkg#linux-image-}
      series=${series%%.\**}
      for c in $(apt-cache "${APT_OPTS[@]}" pkgnames "linux-image-$series." 2>/dev/null |
        grep -E "^linux-image-${series//./\\.}\.[0-9]+\+deb[0-9.]+-amd64\$" | sort -rV); do
        if image_complete "$c"; then
          echo "$c"
          return
        fi
        say "$series: $c lacks $(image_packages "$c" | sed -n 's/^missing //p' | tr '\n' ' ')in this suite; trying an older one"
      done
      ;;
    *)
      apt-cache "${APT_OPTS[@]}" depends --no-recommends --no-suggests "$pkg" 2>/dev/null |
        awk '$1 == "Depends:" && $2 ~ /^linux-image-[0-9]/ { print $2; exit }'
      ;;
  esac
}

# Download, extract, depmod and build the initramfs for one spec; prints the prepared tree.
prepare_kernel() {
  local spec=$1 distro suite meta image abi debs=() tree rel f
  read -r distro suite meta <<<"$(source_of "$spec")"
  if ! use_suite "$distro" "$suite"; then
    tree=$(ls -1dt "$CACHE/trees/$spec-"*/ 2>/dev/null | head -1 || true)
    [ -n "$tree" ] && [ -f "$tree/ready" ] || die "$spec: apt-get update failed and no prepared kernel is cached"
    say "$spec: apt-get update failed; using the cached ${tree%/}"
    echo "${tree%/}"
    return
  fi
  image=$(resolve_image "$meta")
  [ -n "$image" ] || die "$spec: cannot resolve $meta in $suite (apt-cache found no complete linux-image-* for it)"
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

  image_complete "$image" || die "$spec: $image needs $(image_packages "$image" | sed -n 's/^missing //p' | tr '\n' ' ')which $suite does not carry"
  local pkgs
  mapfile -t pkgs < <(image_packages "$image" | grep -v '^missing ')
  [ "$distro" = ubuntu ] && pkgs+=("linux-modules-extra-$abi")
  mapfile -t pkgs < <(printf '%s\n' "${pkgs[@]}" | sort -u)
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
  for f in linux-image linux-binary linux-base linux-modules linux-modules-extra; do
    find "$CACHE/debs" -maxdepth 1 -name "$f-$spec.*.deb" ! -name "*-${abi}_*" -delete
  done
  find "$CACHE/trees" -mindepth 1 -maxdepth 1 -name "$spec-*" ! -name "$spec-$abi" -exec rm -rf {} + 2>/dev/null || true

  say "$spec: preparing $abi (dpkg-deb -x, depmod, initramfs)"
  rm -rf "$tree"
  mkdir -p "$tree/root"
  for f in "${debs[@]}"; do dpkg-deb -x "$f" "$tree/root"; done
  # merged-/usr packages (trixie on) ship usr/lib/modules; depmod, modprobe -d and guest.sh look in lib/modules
  if [ ! -e "$tree/root/lib" ] && [ -d "$tree/root/usr/lib/modules" ]; then ln -s usr/lib "$tree/root/lib"; fi
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

# The job file the guest sources, on stdout: shell-quoted, so values with spaces survive. Only
# guest paths: the guest never needs to know where anything is on the host.
write_job() {
  local spec=$1 rel=$2 acc=$3 v
  printf 'DP_SPEC=%q\nDP_RELEASE=%q\nDP_ACCEL=%q\nDP_CWD=%q\nDP_KERNEL=%q\nDP_OUT=%q\n' "$spec" "$rel" "$acc" "$G_SRC" "$G_KERNEL" "$G_OUT"
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
  if [ "$acc" = tcg ]; then printf 'export DP_VITEST_ARGS=%q\n' "--no-file-parallelism --maxConcurrency=4"; fi
  for v in DEADPEER_PROFILE CI; do
    if [ -n "${!v:-}" ]; then printf 'export %s=%q\n' "$v" "${!v}"; fi
  done
}

# The shares of one boot: "tag<TAB>host path<TAB>guest path<TAB>ro|rw" lines. matrix/init.sh
# mounts each tag at its guest path (hostroot is the root itself, under an overlay).
shares() {
  local tree=$1 out=$2
  printf '%s\t%s\t%s\t%s\n' \
    hostroot / / ro \
    dpsrc "$SRC" "$G_SRC" ro \
    dpmodules "$NODE_MODULES" "$G_MODULES" ro \
    dpkernel "$tree/root" "$G_KERNEL" ro \
    dpout "$out" "$G_OUT" rw
}

# QEMU's arguments for one boot (after the binary), one per line: $1 spec, $2 tree, $3 result
# folder, $4 release, $5 accel.
qemu_args() {
  local spec=$1 tree=$2 out=$3 rel=$4 acc=$5 tag host guest mode opt
  if [ "$acc" = kvm ]; then
    printf '%s\n' -machine q35,accel=kvm -cpu host -smp "$VM_CPUS"
  else
    # TCG: the guest's clock is driven by the instruction counter (-icount), not by host time.
    # Without it a vCPU thread preempted on a busy host (or slowed by emulation) sees time pass
    # while it cannot run, and the guest kernel's timers fire 50-600 ms late (measured here: a
    # 1 s SYN RTO at 1.061 s, a close 575 ms late) — noise the wheel-derived tolerances rightly
    # reject. With shift=0 each instruction is 1 ns (a ~1 GHz CPU, so userspace keeps roughly
    # native latencies) and sleep=on lets idle time pass in real time, so kernel timers fire on
    # the guest's clock exactly as on hardware. icount needs single-threaded TCG: one vCPU.
    printf '%s\n' -machine q35,accel=tcg -cpu max -icount shift=0,sleep=on -smp 1
  fi
  printf '%s\n' -nodefaults -no-user-config -no-reboot -display none -m "$VM_MEM"
  # word-split on purpose: a debugging hook for extra QEMU options
  # shellcheck disable=SC2086
  if [ -n "${DEADPEER_QEMU_EXTRA:-}" ]; then printf '%s\n' ${DEADPEER_QEMU_EXTRA}; fi
  printf '%s\n' -kernel "$tree/root/boot/vmlinuz-$rel" -initrd "$tree/initramfs.gz"
  # no path on the command line: the kernel splits it at spaces, and init.sh knows where stage 2 is
  printf '%s\n' -append "console=ttyS0 panic=-1 norandmaps loglevel=4 rdinit=/init ${DEADPEER_KERNEL_APPEND:-}"
  while IFS=$'\t' read -r tag host guest mode; do
    opt="local,id=$tag,path=$(qemu_opt_escape "$host"),security_model=none,multidevs=remap"
    [ "$mode" = ro ] && opt+=",readonly=on"
    printf '%s\n' -fsdev "$opt" -device "virtio-9p-pci,fsdev=$tag,mount_tag=$tag"
  done < <(shares "$tree" "$out")
  printf '%s\n' -device virtio-rng-pci -serial stdio
}

# Boot one prepared kernel and run the suite in it. Returns the suite's exit status; 125 when the
# guest gave no result (did not boot, panicked, timed out, or stopped and said why), with the
# reason in $out/failure.
boot_kernel() {
  local spec=$1 tree=$2 out=$3 rel acc args=() rc=0
  rel=$(cat "$tree/release")
  acc=$(accel)
  mapfile -t args < <(qemu_args "$spec" "$tree" "$out" "$rel" "$acc")
  write_job "$spec" "$rel" "$acc" >"$out/job.env"
  say "$spec: booting $rel under $acc (${args[*]:0:8}, ${VM_MEM} MiB); console in $out/console.log"
  set +e
  timeout --foreground --kill-after=10 "$PER_KERNEL_TIMEOUT" qemu-system-x86_64 "${args[@]}" </dev/null 2>&1 |
    tee "$out/console.log" | sed -u "s/^/[$spec] /"
  rc=${PIPESTATUS[0]}
  set -e
  if [ -f "$out/status" ] && [ "$(cat "$out/status")" != 125 ]; then return "$(cat "$out/status")"; fi
  diagnose "$out" "$rc" "$PER_KERNEL_TIMEOUT" >"$out/failure.new"
  mv "$out/failure.new" "$out/failure"
  return 125
}

run_host() {
  local out=$1 rc=0
  say "host: running the suite on $(uname -r) directly"
  set +e
  DP_SPEC=host DP_ACCEL=none DP_OUT=$out bash "$SRC/matrix/suite.sh" "${CASES[@]}" 2>&1 | tee "$out/console.log" | sed -u 's/^/[host] /'
  rc=${PIPESTATUS[0]}
  set -e
  if [ -f "$out/status" ]; then return "$(cat "$out/status")"; fi
  diagnose "$out" "$rc" "$PER_KERNEL_TIMEOUT" >"$out/failure.new"
  mv "$out/failure.new" "$out/failure"
  return 125
}

# ---------- --plan: the boot of each kernel, printed ----------
if [ "$plan" = 1 ]; then
  printf 'root\t%s\nsnapshot\t%s\nnode_modules\t%s\nnode\t%s\ncache\t%s\nout\t%s\n' "$ROOT" "$SRC" "$NODE_MODULES" "$NODE_BIN" "$CACHE" "$OUT"
  for k in "${kernels[@]}"; do
    printf 'kernel\t%s\n' "$k"
    [ "$k" = host ] && continue
    read -r distro suite _ <<<"$(source_of "$k")"
    while IFS= read -r line; do printf 'apt\t%s\n' "$line"; done < <(sources_list "$distro" "$suite" "$(keyring_of "$distro")")
    # a prepared tree if the cache has one, else where it would be
    tree=$(ls -1dt "$CACHE/trees/$k-"*/ 2>/dev/null | head -1 || true)
    tree=${tree%/}
    [ -n "$tree" ] && [ -f "$tree/release" ] && rel=$(cat "$tree/release") || { tree=$CACHE/trees/$k-ABI rel=RELEASE; }
    while IFS= read -r line; do printf 'share\t%s\n' "$line"; done < <(shares "$tree" "$OUT/$k")
    while IFS= read -r line; do printf 'qemu\t%s\n' "$line"; done < <(qemu_args "$k" "$tree" "$OUT/$k" "$rel" "$(accel)")
    while IFS= read -r line; do printf 'job\t%s\n' "$line"; done < <(write_job "$k" "$rel" "$(accel)")
  done
  exit 0
fi

[ "$(id -u)" = 0 ] || die "must run as root (kernel cases create network namespaces; qemu shares / read-only)" 2
if [ "$prepare_only" = 0 ] && { [ ! -f "$ROOT/dist/cli/main.js" ] || [ ! -x "$ROOT/harness/helper/deadpeer-helper" ] || [ ! -d "$NODE_MODULES" ]; }; then
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

# One timing run per machine (harness/suite/timing-lock.ts): a guest under TCG loads a whole core for
# minutes, which makes another suite's kernel timers fire late, and another suite's load would
# spoil the guest's. Downloads and preparation above load nothing and run outside it; from here
# on a node helper holds the lock until this script ends (its stdin closes, however we end).
# What we start inherits it through DEADPEER_TIMING_LOCK (the host run's vitest does not wait for us).
if [ -z "${DEADPEER_TIMING_LOCK:-}" ]; then
  coproc TIMING_LOCK { exec node "$MATRIX/timing-lock.mjs" "the kernel matrix (${kernels[*]})"; }
  read -r held <&"${TIMING_LOCK[0]}" || die "could not take the machine's timing lock (matrix/timing-lock.mjs said why above)"
  export DEADPEER_TIMING_LOCK=${held#held }
fi

# Every kernel runs the same code: a snapshot of the checkout taken now, not the live tree, which
# others may be editing (a guest once read a case file half-written and failed to parse it).
# node_modules is not copied: it is large and nobody edits it by hand; the host run links it,
# a guest gets it as its own share.
mkdir -p "$OUT"
rm -rf "$SRC"
mkdir -p "$SRC"
excludes=(--exclude=./node_modules --exclude=./.git --exclude=./deadpeer-results --exclude=./.deadpeer-kernels)
rel=$(realpath --relative-to="$ROOT" "$OUT")
case $rel in ..*) ;; *) excludes+=(--exclude="./$rel") ;; esac
tar -C "$ROOT" "${excludes[@]}" -cf - . | tar -C "$SRC" -xf -
ln -s "$NODE_MODULES" "$SRC/node_modules"
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
    say "$k: NO RESULT — $(cat "$out/failure" 2>/dev/null || echo "no diagnosis recorded; see $out/console.log")"
    failed+=("$k")
  elif [ "$rc" != 0 ]; then
    say "$k: the suite failed (exit $rc) in $(cat "$out/wall_s") s; see $out/console.log"
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
