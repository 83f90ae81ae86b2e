#!/usr/bin/env bash
# Interleavings of concurrent sessions, as PostgreSQL tests its own: each spec in specs/ runs its
# permutations step by step with pg_isolation_regress (from postgresql-server-dev-15) on a
# throwaway cluster, and the output must equal expected/<spec>.out.
#   tests/isolation/run.sh                 every spec
#   tests/isolation/run.sh reward_twice    some
set -uo pipefail
cd "$(dirname "$0")/../.."
ROOT=$PWD
. tests/lib.sh
ISO=$(pgxs_tool isolation/pg_isolation_regress) || exit 1
scratch_dir; OUT=$SCRATCH
cluster_start
if [ $# -gt 0 ]; then specs=("$@"); else
  specs=(); for f in tests/isolation/specs/*.spec; do specs+=("$(basename "$f" .spec)"); done
fi
"$ISO" --inputdir="$ROOT/tests/isolation" --outputdir="$OUT" --bindir="$PGBIN" \
  --host="$PGHOST" --port="$PGPORT" --user=postgres --dbname=isolation_regression "${specs[@]}"
status=$?
if [ $status != 0 ] && [ -f "$OUT/regression.diffs" ]; then
  cat "$OUT/regression.diffs"
  mkdir -p tests/isolation/results && cp "$OUT"/results/*.out tests/isolation/results/ 2>/dev/null
  echo "(actual outputs copied to tests/isolation/results/)"
fi
exit $status
