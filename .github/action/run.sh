#!/usr/bin/env bash
# The action's run step (action.yml): the deadpeer command from the inputs, as root, its output in
# the job summary, its evidence in a folder of its own for the artifact. DEADPEER_ACTION_DRY_RUN=1
# prints the command line it would run and stops (the suite checks the argument handling that way).
#
# The command input may come from anyone who can name a branch or title a pull request, and this
# script runs it as root: it is split by the small parser below, never by a shell (no eval, no
# unquoted expansion), and anything a shell would have interpreted is refused rather than passed on.
set -uo pipefail
# byte-wise matching: a multibyte locale must not let a control byte hide inside a "character".
# Not exported, and put back before deadpeer runs: the program under test keeps the job's locale.
[ -n "${LC_ALL+set}" ] && lc_all_was=$LC_ALL
LC_ALL=C

# GitHub's workflow-command escaping, so no message can end the ::error:: line or start another one
esc() { local s=${1//'%'/%25}; s=${s//$'\r'/%0D}; printf '%s' "${s//$'\n'/%0A}"; }
# In the action the step ends 0 and the verdict step fails the job with the exit-code output (so the
# summary and upload steps still run); a dry run has no verdict step, so it exits 2 itself.
fail() {
  echo "::error::deadpeer action: $(esc "$*")"
  echo "exit-code=2" >> "${GITHUB_OUTPUT:-/dev/null}"
  if [ "${DEADPEER_ACTION_DRY_RUN:-0}" = 1 ]; then exit 2; fi
  exit 0
}
# a value echoed into a message: escaped by fail(), and cut short so a message stays one short line
short() { local s=$1; (( ${#s} <= 40 )) || s="${s:0:40}…"; printf '%s' "$s"; }
# ASCII controls (newline, CR, tab, ESC, DEL, …), C1 controls and the Unicode line separators
has_control() {
  case $1 in
    *[$'\x01'-$'\x1f'$'\x7f']* | *$'\xc2'[$'\x80'-$'\x9f']* | *$'\xe2\x80'[$'\xa8\xa9']*) return 0 ;;
  esac
  return 1
}

for input in profile:DEADPEER_PROFILE_INPUT budget:DEADPEER_BUDGET evidence:DEADPEER_EVIDENCE_INPUT artifact-name:DEADPEER_ARTIFACT; do
  var=${input#*:}
  if has_control "${!var-}"; then fail "the ${input%%:*} input has a control character (a newline, CR, tab, …): give it on one line"; fi
done

# ---- the command input, split without a shell ----
command_text=${DEADPEER_COMMAND-}
max_command=4096
(( ${#command_text} <= max_command )) || fail "the command input is longer than $max_command bytes: put a long program invocation in a script and run that"
has_control "$command_text" && fail 'the command input has a control character (a newline, CR, tab, …): give one command on one line'
case $command_text in
  *'$'* | *'`'*) fail 'the command input has $ or a backtick: nothing here expands variables or runs commands, give the values themselves' ;;
esac
# Words are separated by spaces; '…' is literal, "…" is literal too ($ and backticks are refused
# above, and a backslash in it is refused below rather than given a meaning). Whatever a shell
# would have expanded or interpreted outside quotes is refused, so nothing is silently different
# from what the workflow's author read.
args=() word='' inword=0 i=0 n=${#command_text}
while (( i < n )); do
  c=${command_text:i:1}
  case $c in
    ' ')
      if (( inword )); then args+=("$word"); word='' inword=0; fi ;;
    "'" | '"')
      rest=${command_text:i+1}
      [[ $rest == *"$c"* ]] || fail "the command input has an unbalanced $c quote: close it"
      quoted=${rest%%"$c"*}
      if [ "$c" = '"' ] && [[ $quoted == *'\'* ]]; then fail 'the command input has a backslash inside double quotes: use single quotes for a literal backslash'; fi
      word+=$quoted inword=1 i=$(( i + ${#quoted} + 1 )) ;;
    '\')
      fail 'the command input has a backslash outside quotes: quote the argument instead (single quotes keep a backslash literal)' ;;
    ';' | '&' | '|' | '<' | '>' | '(' | ')' | '*' | '?' | '[' | ']' | '{' | '}' | '~' | '#' | '!')
      fail "the command input has $c outside quotes: it is one deadpeer command line, no shell reads it (no pipes, redirections, globs, ~ or comments); quote an argument that contains $c" ;;
    *)
      word+=$c inword=1 ;;
  esac
  i=$(( i + 1 ))
done
(( inword )) && args+=("$word")
(( ${#args[@]} )) || fail 'the command input is empty: give "check …" or "exec … -- CMD"'

sub=${args[0]}
case "$sub" in
  check) gate=--max-detect ;;
  exec) gate=--max-notice ;;
  *) fail "the command must start with check or exec, not \"$(short "$sub")\"" ;;
esac

# the options the inputs add, before an exec's "--" (the program's own arguments follow it)
own=("${args[@]:1}") rest=()
for i in "${!own[@]}"; do
  if [ "${own[$i]}" = -- ]; then rest=("${own[@]:$i}"); own=("${own[@]:0:$i}"); break; fi
done
has() { local o; for o in "${own[@]}"; do case "$o" in "$1"|"$1"=*) return 0 ;; esac; done; return 1; }
# every value given to an option in command, as --opt V or --opt=V
values_of() {
  local k
  for k in "${!own[@]}"; do
    case "${own[$k]}" in
      "$1") printf '%s\n' "${own[$((k + 1))]-}" ;;
      "$1"=*) printf '%s\n' "${own[$k]#"$1"=}" ;;
    esac
  done
}

# An empty profile input means "not given": only then may command's --profile decide, so an
# explicit input is never silently overridden.
profile=${DEADPEER_PROFILE_INPUT-}
case "$profile" in ''|fast|faithful) ;; *) fail "the profile input must be fast or faithful, not \"$(short "$profile")\"" ;; esac
if has --profile; then
  mapfile -t in_command < <(values_of --profile)
  (( ${#in_command[@]} == 1 )) || fail 'command gives --profile more than once: keep one'
  if [ -n "$profile" ] && [ "${in_command[0]}" != "$profile" ]; then
    fail "the profile is given twice, differently (the profile input says $profile, command's --profile another): keep one"
  fi
else
  own+=(--profile "${profile:-fast}")
fi
if [ -n "${DEADPEER_BUDGET:-}" ]; then
  has "$gate" && fail "the budget is given twice ($gate in command, and the budget input): keep one"
  own+=("$gate" "$DEADPEER_BUDGET")
fi
argv=("$sub" "${own[@]}" "${rest[@]}")

# ---- evidence: what the artifact may hold ----
evidence=${DEADPEER_EVIDENCE_INPUT:-summary}
case "$evidence" in
  # none still records headers only: the folder stays on the runner, and holds no secret there either
  none|summary) harness_evidence=summary ;;
  full) harness_evidence=full ;;
  *) fail "the evidence input must be none, summary or full, not \"$(short "$evidence")\"" ;;
esac

# ---- one artifact name and one results folder per use ----
# upload-artifact v4 refuses a second artifact of a name within a run: two uses in one job, or one
# use in every job of a matrix, each need their own.
artifact=${DEADPEER_ARTIFACT:-}
if [ -n "$artifact" ]; then
  case "$artifact" in
    *[\"\:\<\>\|\*\?\\/\`]*) fail 'the artifact-name input has a character an artifact name cannot have (" : < > | * ? \ / or a backtick): choose another name' ;;
  esac
  (( ${#artifact} <= 200 )) || fail 'the artifact-name input is longer than 200 bytes: choose a shorter name'
fi
safe() { local s=$1; printf '%s' "${s//[^A-Za-z0-9._-]/_}"; }
job=$(safe "${GITHUB_JOB:-job}")
attempt=$(safe "${GITHUB_RUN_ATTEMPT:-1}")
# strategy.job-index / job-total: a matrix's jobs share the job id
matrix='' index=${DEADPEER_JOB_INDEX:-0} total=${DEADPEER_JOB_TOTAL:-1}
if [[ $index =~ ^[0-9]{1,6}$ && $total =~ ^[0-9]{1,6}$ ]] && (( 10#$total > 1 )); then
  matrix="-$(( 10#$index + 1 ))of$(( 10#$total ))"
fi
dry=${DEADPEER_ACTION_DRY_RUN:-0}
uses=${RUNNER_TEMP:-$PWD}/deadpeer-action
use=1
# a dry run outside a runner claims nothing: it must leave the working directory as it was
if [ "$dry" != 1 ] || [ -n "${RUNNER_TEMP:-}" ]; then
  mkdir -p "$uses" || fail "cannot create $uses: is RUNNER_TEMP writable?"
  # mkdir is the atomic claim: a second use in this job (even at the same moment) takes the next number
  until mkdir "$uses/$use" 2>/dev/null; do
    use=$(( use + 1 ))
    (( use <= 1000 )) || fail "more than 1000 uses of the action in one job: cannot claim a results folder under $uses"
  done
fi
artifact=${artifact:-deadpeer-$job$matrix-attempt$attempt-use$use}

export DEADPEER_RESULTS=$uses/$use
export DEADPEER_RUN_ID="run-${GITHUB_RUN_ID:-local}-$attempt-$job"
export DEADPEER_EVIDENCE=$harness_evidence
results=$DEADPEER_RESULTS/$DEADPEER_RUN_ID

if [ "$dry" = 1 ]; then
  printf '%s\n' "${argv[@]}"
  {
    echo "artifact-name=$artifact"
    echo "results=$results"
    echo "evidence=$DEADPEER_EVIDENCE"
  } >> "${GITHUB_OUTPUT:-/dev/null}"
  exit 0
fi

if [ -n "${lc_all_was+set}" ]; then LC_ALL=$lc_all_was; else unset LC_ALL; fi
as_root=()
[ "$(id -u)" = 0 ] || as_root=(sudo -E env "PATH=$PATH")
out=$(mktemp)
"${as_root[@]}" node "$DEADPEER_BIN" "${argv[@]}" | tee "$out"
code=${PIPESTATUS[0]}
# the run report (timeline pictures, every case's row) over whatever the run left
if [ -d "$results" ]; then "${as_root[@]}" node "$DEADPEER_BIN" html "$results" >/dev/null 2>&1 || true; fi

# a code fence (or span) longer than any run of backticks in what it holds cannot be closed by it
fence_for() { local f=$1; while grep -qF -- "$f" "$2"; do f+='`'; done; printf '%s' "$f"; }
line=$(mktemp)
printf '%s\n' "deadpeer ${argv[*]}" > "$line"
tick=$(fence_for '`' "$line")
fence=$(fence_for '```' "$out")
{
  echo "### deadpeer $sub"
  echo
  echo "$tick deadpeer ${argv[*]} $tick"
  echo
  case "$code" in
    0) echo "**passed** on kernel $(uname -r)" ;;
    1) echo "**failed** on kernel $(uname -r): over budget, not noticed, or not measured (below)" ;;
    *) echo "**refused** (exit $code): see the step's log" ;;
  esac
  echo
  echo "${fence}text"
  cat "$out"
  echo "$fence"
  if [ -d "$results" ]; then
    case "$evidence" in
      full) echo "Evidence (full pcaps, the program's argv and output, observations, report.html): the \`$artifact\` artifact." ;;
      summary) echo "Evidence (headers-only pcaps, observations, report.html; no program argv or output): the \`$artifact\` artifact." ;;
      none) echo "Evidence: not uploaded (evidence: none)." ;;
    esac
  fi
} >> "${GITHUB_STEP_SUMMARY:-/dev/null}"
rm -f "$out" "$line"
{
  echo "exit-code=$code"
  if [ -d "$results" ]; then
    echo "results=$results"
    [ "$evidence" = none ] || echo "artifact-name=$artifact"
  fi
} >> "${GITHUB_OUTPUT:-/dev/null}"
exit 0
