# shellcheck shell=bash
# The matrix runner's pure parts: functions of their arguments and stdin only (no globals, no
# files but the ones named), sourced by matrix/run.sh and unit-tested without booting anything
# (test/unit/matrix-*.test.ts).

# ---------- apt sources ----------
# One line "URI SUITE COMPONENT…" per binary (deb) source in an apt sources file on stdin, in
# the order apt reads them. $1 is the file's format: "list" (one-line, sources.list and *.list)
# or "sources" (deb822, *.sources). deb-src, disabled stanzas, comments and cdrom: are skipped.
apt_source_entries() {
  case $1 in
    list)
      awk '
        { sub(/#.*/, "") }
        $1 != "deb" { next }
        {
          line = $0
          sub(/^[ \t]*deb[ \t]+/, "", line)
          # [ arch=amd64 signed-by=… ]: options, possibly with spaces inside the brackets
          if (line ~ /^\[/) sub(/^\[[^]]*\][ \t]*/, "", line)
          n = split(line, f, /[ \t]+/)
          if (n < 2 || f[1] ~ /^cdrom:/) next
          out = f[1] " " f[2]
          for (i = 3; i <= n; i++) if (f[i] != "") out = out " " f[i]
          print out
        }'
      ;;
    sources)
      # Field names are case-insensitive; a line starting with whitespace continues the previous
      # field (Signed-By can embed a whole key); stanzas end at a blank line.
      awk '
        function flush(   nu, ns, u, s, i, j, t, deb) {
          deb = 0
          nt = split(F["types"], t, /[ \t]+/)
          for (i = 1; i <= nt; i++) if (t[i] == "deb") deb = 1
          if (deb && tolower(F["enabled"]) != "no") {
            nu = split(F["uris"], u, /[ \t]+/)
            ns = split(F["suites"], s, /[ \t]+/)
            for (i = 1; i <= nu; i++) {
              if (u[i] == "" || u[i] ~ /^cdrom:/) continue
              for (j = 1; j <= ns; j++) if (s[j] != "") print u[i] " " s[j] (F["components"] == "" ? "" : " " F["components"])
            }
          }
          delete F
          key = ""
        }
        /^#/ { next }
        /^[ \t]*$/ { flush(); next }
        /^[ \t]/ { next }
        {
          i = index($0, ":")
          if (i == 0) next
          key = tolower(substr($0, 1, i - 1))
          v = substr($0, i + 1)
          gsub(/^[ \t]+|[ \t]+$/, "", v)
          gsub(/[ \t]+/, " ", v)
          F[key] = v
        }
        END { flush() }'
      ;;
    *) return 2 ;;
  esac
}

# The archive a distribution's own sources point at, from apt_source_entries lines on stdin:
# $1 the host's codename (bookworm), $2 "archive" (the suite itself or its -updates/-backports)
# or "security" (<codename>-security). Only entries with the main component count, so a
# third-party repository that names its suite after the codename (with its own components) is
# not mistaken for the distribution's mirror. Prints the first URI found, without a trailing
# slash; prints nothing (status 1) if there is none.
apt_mirror() {
  local codename=$1 kind=$2
  awk -v c="$codename" -v kind="$kind" '
    {
      main = 0
      for (i = 3; i <= NF; i++) if ($i == "main") main = 1
      if (!main) next
      ok = kind == "security" ? ($2 == c "-security" || $2 == c "/updates") : ($2 == c || $2 == c "-updates" || $2 == c "-backports")
      if (!ok) next
      u = $1
      sub(/\/+$/, "", u)
      print u
      found = 1
      exit
    }
    END { exit found ? 0 : 1 }'
}

# ---------- paths ----------
# A value for a QEMU option list (-fsdev local,path=VALUE,…): a comma there ends the value unless
# doubled.
qemu_opt_escape() {
  printf '%s' "${1//,/,,}"
}

# Where the guest mounts its tmpfs file systems (matrix/guest.sh): a host path under one of them
# is invisible in the guest through the shared root. Prints the covering mount point, or nothing
# (status 1).
guest_covered() {
  local p=$1 m
  for m in /tmp /run /dev; do
    case $p in "$m" | "$m"/*) printf '%s' "$m"; return 0 ;; esac
  done
  return 1
}

# ---------- diagnosis ----------
# Why a guest gave no result, in one line: what the guest itself said (its failure file, or its
# last deadpeer-guest:/deadpeer-init: line on the console), else what the console or QEMU's exit
# status shows; a line that cannot say why says which log to read. $1 the kernel's result folder,
# $2 the exit status of qemu (through timeout), $3 the per-kernel timeout in seconds.
diagnose() {
  local out=$1 rc=$2 limit=$3 log=$1/console.log line
  if [ -s "$out/failure" ]; then
    head -1 "$out/failure"
    return
  fi
  line=$(grep -aE 'deadpeer-(guest|init):' "$log" 2>/dev/null | tail -1 | tr -d '\r' || true)
  if [ -n "$line" ]; then
    printf '%s\n' "${line#"${line%%deadpeer-*}"}"
  elif [ "$rc" = 124 ] || [ "$rc" = 137 ]; then
    printf 'timed out after %s s (the console up to then: %s)\n' "$limit" "$log"
  elif grep -aq 'Kernel panic' "$log" 2>/dev/null; then
    grep -a -m1 'Kernel panic' "$log" | tr -d '\r'
  elif [ -f "$out/status" ]; then
    printf 'the guest gave up without saying why (status %s); see %s\n' "$(cat "$out/status")" "$log"
  else
    printf 'qemu exited with %s before the guest wrote a status, and the console says nothing of it; see %s\n' "$rc" "$log"
  fi
}
