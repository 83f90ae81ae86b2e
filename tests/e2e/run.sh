#!/usr/bin/env bash
# End-to-end checks that need real commits, several sessions, a restart or a crash: one script per
# case, each on its own throwaway cluster, against the installed extension.
#   tests/e2e/run.sh                 every case
#   tests/e2e/run.sh standby crash   the cases whose file names contain these words
# Ends with a table: cases tried, passed, crashes, data lost (failed durability checks).
set -uo pipefail
cd "$(dirname "$0")"
OUT=$(mktemp -d /tmp/pg_marketing-e2e.XXXXXX)
trap 'rm -rf "$OUT"' EXIT
cases=()
for f in [0-9][0-9]_*.sh; do
  if [ $# = 0 ]; then cases+=("$f"); continue; fi
  for want in "$@"; do [[ "$f" == *"$want"* ]] && { cases+=("$f"); break; }; done
done
[ ${#cases[@]} -gt 0 ] || { echo "no e2e case matches: $*"; exit 1; }
failed=()
for f in "${cases[@]}"; do
  echo "== ${f%.sh}"
  RESULTS="$OUT/${f%.sh}" bash "$f" || failed+=("${f%.sh}")
  [ -s "$OUT/${f%.sh}" ] || { echo "FAIL - ${f%.sh} ended before reporting"; echo "0 1 0 0" > "$OUT/${f%.sh}"; }
done
read -r pass fail crashes lost < <(cat "$OUT"/* | awk '{p+=$1; f+=$2; c+=$3; d+=$4} END {print p, f, c, d}')
printf '\n%-12s %-8s %-8s %-10s\n' "cases tried" passed crashes "data lost"
printf '%-12s %-8s %-8s %-10s\n' "$((pass + fail))" "$pass" "$crashes" "$lost"
echo "e2e: ${#cases[@]} scripts, $pass passed, $fail failed${failed:+; failing: ${failed[*]}}"
[ "$fail" = 0 ] && [ ${#failed[@]} = 0 ]
