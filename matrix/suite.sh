#!/bin/bash
# Runs the cases on the running kernel (a matrix guest, or the host for `npm run matrix -- host`)
# and leaves in $DP_OUT what the table is built from: meta.json (the kernel and its feature
# probes), vitest.json (every test's result), results/run/<case>/observation.json + capture.pcap,
# and status (vitest's exit code).
#   DP_SPEC=6.1 DP_ACCEL=tcg DP_OUT=/deadpeer-out bash matrix/suite.sh cases/syn-sent
set -u
cd "$(dirname "${BASH_SOURCE[0]}")/.."
: "${DP_SPEC:?}" "${DP_OUT:?}" "${DP_ACCEL:=none}"

probe() { [ -e "/proc/sys/net/ipv4/$1" ] && echo true || echo false; }
# where harness/engine/kernel.ts looks: /proc/config.gz, else /boot/config-<release>
hz=$({ zcat /proc/config.gz 2>/dev/null || cat "/boot/config-$(uname -r)" 2>/dev/null; } | sed -n 's/^CONFIG_HZ=//p')
started=$(date +%s.%N)
write_meta() {
  cat >"$DP_OUT/meta.json" <<EOF
{
  "spec": "$DP_SPEC",
  "release": "$(uname -r)",
  "version": "$(sed 's/"/\\"/g' /proc/version)",
  "accel": "$DP_ACCEL",
  "hz": ${hz:-null},
  "cpus": $(nproc),
  "node": "$(node -v)",
  "profile": "${DEADPEER_PROFILE:-fast}",
  "vitestArgs": "${DP_VITEST_ARGS:-}",
  "probes": {
    "tcp_syn_linear_timeouts": $(probe tcp_syn_linear_timeouts),
    "tcp_rto_min_us": $(probe tcp_rto_min_us),
    "tcp_rto_max_ms": $(probe tcp_rto_max_ms)
  },
  "cases": "$*",
  "started": $started,
  "ended": ${ended:-null},
  "exit": ${rc:-null}
}
EOF
}
mkdir -p "$DP_OUT/results"
write_meta "$@"
echo "deadpeer suite: kernel $(uname -r) (${DP_ACCEL}), HZ=${hz:-?}, $(nproc) CPU, node $(node -v): vitest run $*"
# piped: a serial console is a TTY, and vitest's live redrawing makes an unreadable log
DEADPEER_RESULTS=$DP_OUT/results DEADPEER_RUN_ID=run NO_COLOR=1 \
  node node_modules/vitest/vitest.mjs run "$@" ${DP_VITEST_ARGS:-} --reporter=default --reporter=json --outputFile.json="$DP_OUT/vitest.json" | cat
rc=${PIPESTATUS[0]}
ended=$(date +%s.%N)
write_meta "$@"
echo "$rc" >"$DP_OUT/status"
exit "$rc"
