#!/usr/bin/env bash
# The action's run step (action.yml): the deadpeer command from the inputs, as root, its output in
# the job summary, its evidence in one folder for the artifact. DEADPEER_ACTION_DRY_RUN=1 prints
# the command line it would run and stops (the suite checks the argument handling that way).
set -uo pipefail

fail() { echo "::error::deadpeer action: $*"; echo "exit-code=2" >> "${GITHUB_OUTPUT:-/dev/null}"; exit 0; }

# split like a shell command line, without running anything in it
command_text=${DEADPEER_COMMAND:-}
[ -n "${command_text//[[:space:]]/}" ] || fail 'the command input is empty: give "check …" or "exec … -- CMD"'
case "$command_text" in *'$('*|*'`'*|*';'*|*'&'*|*'|'*|*'>'*|*'<'*) fail "the command input is one deadpeer command line, without shell syntax: $command_text" ;; esac
eval "args=($command_text)" 2>/dev/null || fail "the command input does not parse as a command line (unbalanced quotes?): $command_text"
sub=${args[0]:-}
case "$sub" in
  check) gate=--max-detect ;;
  exec) gate=--max-notice ;;
  *) fail "the command must start with check or exec, not \"$sub\"" ;;
esac

# the options the inputs add, before an exec's "--" (the program's own arguments follow it)
own=("${args[@]:1}") rest=()
for i in "${!own[@]}"; do
  if [ "${own[$i]}" = -- ]; then rest=("${own[@]:$i}"); own=("${own[@]:0:$i}"); break; fi
done
has() { local o; for o in "${own[@]}"; do case "$o" in "$1"|"$1"=*) return 0 ;; esac; done; return 1; }
profile=${DEADPEER_PROFILE_INPUT:-fast}
case "$profile" in fast|faithful) ;; *) fail "profile must be fast or faithful, not \"$profile\"" ;; esac
if has --profile; then
  [ "$profile" = fast ] || fail 'the profile is given twice (in command and in the profile input): keep one'
else
  own+=(--profile "$profile")
fi
if [ -n "${DEADPEER_BUDGET:-}" ]; then
  has "$gate" && fail "the budget is given twice ($gate in command, and the budget input): keep one"
  own+=("$gate" "$DEADPEER_BUDGET")
fi
argv=("$sub" "${own[@]}" "${rest[@]}")

if [ "${DEADPEER_ACTION_DRY_RUN:-0}" = 1 ]; then printf '%s\n' "${argv[@]}"; exit 0; fi

export DEADPEER_RESULTS=${RUNNER_TEMP:-$PWD}/deadpeer-results
export DEADPEER_RUN_ID="run-${GITHUB_RUN_ID:-local}-${GITHUB_RUN_ATTEMPT:-1}-${GITHUB_JOB:-job}"
results=$DEADPEER_RESULTS/$DEADPEER_RUN_ID
as_root=()
[ "$(id -u)" = 0 ] || as_root=(sudo -E env "PATH=$PATH")
out=$(mktemp)
"${as_root[@]}" node "$DEADPEER_BIN" "${argv[@]}" | tee "$out"
code=${PIPESTATUS[0]}
# the run report (timeline pictures, every case's row) over whatever the run left
if [ -d "$results" ]; then "${as_root[@]}" node "$DEADPEER_BIN" html "$results" >/dev/null 2>&1 || true; fi

{
  echo "### deadpeer ${argv[*]}"
  echo
  case "$code" in
    0) echo "**passed** on kernel $(uname -r)" ;;
    1) echo "**failed** on kernel $(uname -r): over budget, not noticed, or not measured (below)" ;;
    *) echo "**refused** (exit $code): see the step's log" ;;
  esac
  echo
  echo '```text'
  cat "$out"
  echo '```'
  [ -d "$results" ] && echo "Evidence (pcaps, observations, report.html): the \`${DEADPEER_ARTIFACT:-deadpeer-results}\` artifact."
} >> "${GITHUB_STEP_SUMMARY:-/dev/null}"
rm -f "$out"
{
  echo "exit-code=$code"
  [ -d "$results" ] && echo "results=$results"
} >> "${GITHUB_OUTPUT:-/dev/null}"
exit 0
