#!/usr/bin/env bash
# Installs what deadpeer needs and is missing, then builds it. Idempotent: a second run only
# checks. Debian/Ubuntu, as root. Touches nothing but packages and this checkout.
set -euo pipefail
cd "$(dirname "$0")"

say() { printf 'deadpeer setup: %s\n' "$*" >&2; }
[ "$(id -u)" = 0 ] || { say "must run as root (it installs packages; the cases create network namespaces)"; exit 1; }

# command -> Debian package that provides it (tcpdump and chromium: the report's tests read the
# pcaps back and render the HTML report in a real headless browser; python3 runs an example
# client under `deadpeer exec`)
need=()
for pair in ip:iproute2 nft:nftables cc:gcc make:make node:nodejs npm:npm tcpdump:tcpdump chromium:chromium python3:python3; do
  cmd=${pair%%:*} pkg=${pair#*:}
  command -v "$cmd" >/dev/null 2>&1 || need+=("$pkg")
done
[ -e /usr/include/linux/inet_diag.h ] || need+=(linux-libc-dev)
[ -e /usr/include/stdio.h ] || need+=(libc6-dev)
if [ ${#need[@]} -gt 0 ]; then
  say "installing ${need[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi

node_major=$(node -p 'process.versions.node.split(".")[0]')
[ "$node_major" -ge 20 ] || { say "Node $node_major is too old: deadpeer needs Node >= 20"; exit 1; }

if [ ! -d node_modules ] || [ package.json -nt node_modules/.package-lock.json ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  say "installing npm dependencies"
  npm ci --no-audit --no-fund --loglevel=error --ignore-scripts
fi
say "building (tsc + native helper)"
npm run --silent build
