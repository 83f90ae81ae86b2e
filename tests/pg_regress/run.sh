#!/usr/bin/env bash
# Golden-file SQL tests: each sql/<area>.sql runs through psql in one database (setup.sql first)
# and its output must equal expected/<area>.out. The layout and the psql settings are those of
# `cargo pgrx regress`; this runner drives the same pg_regress on a throwaway cluster run by the
# postgres user, because cargo-pgrx 0.18's regress ignores --runas and cannot start its instance
# as root (initdb refuses root).
#   tests/pg_regress/run.sh                  every file
#   tests/pg_regress/run.sh policies models  some (setup.sql always runs first)
#   tests/pg_regress/run.sh --update [...]   write the outputs to expected/ (then read the diff)
set -uo pipefail
cd "$(dirname "$0")/../.."
ROOT=$PWD
. tests/lib.sh
REGRESS=$(pgxs_tool regress/pg_regress) || exit 1
update=false
[ "${1:-}" = --update ] && { update=true; shift; }
scratch_dir; OUT=$SCRATCH
cluster_start "client_min_messages = warning"
createdb pg_marketing_regress
printf '#!/bin/bash\n"$@" -v VERBOSITY=terse\n' > "$OUT/launcher.sh"; chmod 755 "$OUT/launcher.sh"
if [ $# -gt 0 ]; then tests=("$@"); else
  tests=(); for f in tests/pg_regress/sql/*.sql; do n=$(basename "$f" .sql); [ "$n" != setup ] && tests+=("$n"); done
fi
"$REGRESS" --use-existing --host="$PGHOST" --port="$PGPORT" --user=postgres --dbname=pg_marketing_regress \
  --inputdir="$ROOT/tests/pg_regress" --outputdir="$OUT" --launcher="$OUT/launcher.sh" setup "${tests[@]}"
status=$?
if $update; then
  cp "$OUT"/results/*.out tests/pg_regress/expected/
  echo "expected/ updated from this run: git diff tests/pg_regress/expected"
elif [ $status != 0 ] && [ -f "$OUT/regression.diffs" ]; then
  cat "$OUT/regression.diffs"
fi
exit $status
