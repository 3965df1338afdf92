#!/usr/bin/env bash
# Installs what deadpeer needs and is missing, then builds it. Idempotent: a second run only
# checks. Debian/Ubuntu, as root (a normal user's run only checks and builds, once root's has
# installed the packages). Touches nothing but packages and this checkout.
set -euo pipefail
cd "$(dirname "$0")"

say() { printf 'deadpeer setup: %s\n' "$*" >&2; }

# --gallery: also what `npm run clients` / `npm run servers` run against (docs/CLIENTS.md, SERVERS.md):
# MariaDB, a JDK, Go and curl, from Debian — the gallery needs nothing from the internet
gallery=0
for arg in "$@"; do
  case "$arg" in
    --gallery) [ "$gallery" = 0 ] || { say "--gallery given twice: give it once"; exit 2; }; gallery=1 ;;
    *) say "unknown argument \"$arg\": setup.sh takes none, or --gallery (the clients' and servers' gallery too)"; exit 2 ;;
  esac
done

# what deadpeer needs to run (harness/helper/requirements.txt, which `deadpeer setup` reads too),
# then what this checkout's tests need besides: node and npm; tcpdump and chromium, because the
# report's tests read the pcaps back and render the HTML report in a real headless browser;
# python3, an example client under `deadpeer exec`; psql and a PostgreSQL server, the server's half's
# real server; promtool (Debian's prometheus package), which checks `deadpeer audit --openmetrics`
# and the example alert rules as Prometheus reads them
need=()
while read -r what pkg; do
  case "$what" in ''|'#'*) continue ;; esac
  if [ "${what#/}" != "$what" ]; then [ -e "$what" ] || need+=("$pkg")
  else command -v "$what" >/dev/null 2>&1 || need+=("$pkg"); fi
done < harness/helper/requirements.txt
for pair in node:nodejs npm:npm tcpdump:tcpdump chromium:chromium python3:python3 psql:postgresql-client promtool:prometheus; do
  cmd=${pair%%:*} pkg=${pair#*:}
  command -v "$cmd" >/dev/null 2>&1 || need+=("$pkg")
done
# a real PostgreSQL server for the server's half (exec --role server): the tests start their own in
# the server's namespace, never the host's service
compgen -G '/usr/lib/postgresql/*/bin/postgres' >/dev/null || need+=(postgresql)
# redis-server for test/libs.test.ts (ioredis against a real server, started in the server's namespace;
# RUNLEVEL=1 below keeps the package's own service from starting)
command -v redis-server >/dev/null 2>&1 || need+=(redis-server)
if [ "$gallery" = 1 ]; then
  for pair in mariadbd:mariadb-server javac:default-jdk-headless go:golang-go curl:curl; do
    cmd=${pair%%:*} pkg=${pair#*:}
    command -v "$cmd" >/dev/null 2>&1 || [ -x "/usr/sbin/$cmd" ] || need+=("$pkg")
  done
fi
if [ ${#need[@]} -gt 0 ]; then
  [ "$(id -u)" = 0 ] || { say "missing ${need[*]}: run this once as root (it installs packages): sudo bash setup.sh"; exit 1; }
  say "installing ${need[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  # RUNLEVEL=1: invoke-rc.d starts no service a package brings (PostgreSQL's would listen on the
  # host, Prometheus' would scrape it); deadpeer runs its servers itself, in its own namespaces
  RUNLEVEL=1 apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi

node_major=$(node -p 'process.versions.node.split(".")[0]')
[ "$node_major" -ge 20 ] || { say "Node $node_major is too old: deadpeer needs Node >= 20"; exit 1; }

# A normal user's checkout stays theirs: root installs the packages, and the npm steps run as the
# checkout's owner (so its npm cache, which test/package.test.ts installs offline from, is theirs
# too); an owner without a home of its own gets what root built handed over instead.
owner=$(stat -c %u .)
as_owner=()
if [ "$(id -u)" = 0 ] && [ "$owner" != 0 ]; then
  home=$(getent passwd "$owner" | cut -d: -f6 || true)
  if [ -n "$home" ] && [ -d "$home" ] && [ "$(stat -c %u "$home")" = "$owner" ]; then
    as_owner=(setpriv --reuid="$owner" --regid="$(stat -c %g .)" --init-groups env HOME="$home")
  fi
fi
if [ ! -d node_modules ] || [ package.json -nt node_modules/.package-lock.json ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  say "installing npm dependencies"
  "${as_owner[@]}" npm ci --no-audit --no-fund --loglevel=error --ignore-scripts
fi
say "building (tsc + native helper)"
"${as_owner[@]}" npm run --silent build
if [ "$(id -u)" = 0 ] && [ "$owner" != 0 ] && [ ${#as_owner[@]} = 0 ]; then
  chown -R "$owner:$(stat -c %g .)" node_modules dist harness/helper/deadpeer-helper
fi
