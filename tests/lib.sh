# Helpers every test script sources (e2e cases, regress, isolation, Citus, upgrade): checks that
# count, psql shorthands, waiting, throwaway clusters (scripts/cluster.sh).

. "$(dirname "${BASH_SOURCE[0]}")/../scripts/cluster.sh"

PASS=0; FAIL=0; DATA_LOST=0

ok()   { echo "ok   - $1"; PASS=$((PASS + 1)); }
fail() { echo "FAIL - $1"; FAIL=$((FAIL + 1)); }

# check NAME EXPECTED ACTUAL: equal. An empty EXPECTED fails (the query giving it failed); use
# expect_empty for output that must be empty.
check() {
  if [ -z "$2" ]; then fail "$1: the expected value is empty"
  elif [ "$2" = "$3" ]; then ok "$1"; else fail "$1: expected [$2] got [$3]"; fi
}

# dcheck: a check that data survived (restart, crash, dump/restore, concurrency); counted apart.
dcheck() {
  if [ -n "$2" ] && [ "$2" = "$3" ]; then ok "$1"
  else fail "$1: expected [$2] got [$3]"; DATA_LOST=$((DATA_LOST + 1)); fi
}

# expect_empty NAME ACTUAL: nothing was printed.
expect_empty() {
  if [ -z "$2" ]; then ok "$1"; else fail "$1: got [$2]"; fi
}

# expect_error NAME PATTERN SQL [psql options...]: the statement fails with output matching PATTERN.
expect_error() {
  local name=$1 pattern=$2 sql=$3; shift 3
  local err; err=$(psql -X -qAt -v VERBOSITY=verbose "$@" -c "$sql" 2>&1)
  if grep -q -- "$pattern" <<< "$err"; then ok "$name"; else fail "$name: $(echo "$err" | head -2)"; fi
}

q() { psql -X -qAt -v ON_ERROR_STOP=1 -c "$1"; }

# Runs a query every 0.1 s, at most `tries` times, until it prints `expected`; prints its last value.
poll() { # expected, tries, query
  local v=""
  for _ in $(seq "$2"); do v=$(q "$3"); [ "$v" = "$1" ] && break; sleep 0.1; done
  echo "$v"
}

# The pid of the backend running mkt.train_recommender('<model>', ...), once it runs.
backend_of() {
  local pid=""
  for _ in $(seq 50); do
    pid=$(q "SELECT pid FROM pg_stat_activity WHERE query LIKE '%train_recommender(''$1''%' AND pid <> pg_backend_pid()")
    [ -n "$pid" ] && break; sleep 0.1
  done
  echo "$pid"
}

# Waits until the server answers again (after a crash and its restart of every backend).
server_back() {
  for _ in $(seq 300); do q "SELECT 1" > /dev/null 2>&1 && return; sleep 0.1; done
}

# A throwaway cluster (extra postgresql.conf lines as arguments), stopped when the script exits.
start_cluster() {
  trap cluster_stop EXIT
  cluster_start "$@"
}

# A folder for a run's output that the postgres user can write too, removed when the script exits
# (after the cluster stops).
scratch_dir() {
  SCRATCH=$(mktemp -d /tmp/pg_marketing-test.XXXXXX)
  chmod 777 "$SCRATCH"
  trap 'cluster_stop; rm -rf "$SCRATCH"' EXIT
}

# The path of a PostgreSQL test program shipped with postgresql-server-dev-15 (pg_regress,
# pg_isolation_regress); fails the script when it is missing.
pgxs_tool() {
  local path; path=$($PGBIN/pg_config --pkglibdir)/pgxs/src/test/$1
  [ -x "$path" ] || { echo "FAIL - $path is missing (postgresql-server-dev-15)" >&2; exit 1; }
  echo "$path"
}

# A login role 'analyst' that may use the catalog and read tr, and a table 'secret' it may not read.
setup_analyst() {
  q "CREATE ROLE analyst LOGIN" > /dev/null
  q "GRANT USAGE ON SCHEMA mkt TO analyst; GRANT ALL ON ALL TABLES IN SCHEMA mkt TO analyst;
     GRANT ALL ON ALL SEQUENCES IN SCHEMA mkt TO analyst; GRANT SELECT ON tr TO analyst;
     CREATE TABLE secret AS SELECT 1 AS user_id, 2 AS item_id" > /dev/null
}

# The extension, the demo shop, a temporal split (tr, te) and an ALS model 'm' trained on tr.
setup_demo_model() {
  q "CREATE EXTENSION IF NOT EXISTS pg_marketing" > /dev/null
  PGOPTIONS="-c client_min_messages=warning" q "SELECT * FROM mkt.demo_data(1)" > /dev/null
  q "SELECT * FROM mkt.split('mkt_demo.events', 'tr', 'te', method => 'temporal', time_col => 'ts')" > /dev/null
  q "SELECT * FROM mkt.train_recommender('m', 'tr', algorithm => 'als', params => '{\"factors\": 8}')" > /dev/null
}

# A Thompson policy 'conc' over three actions with `n` decisions rewarded.
setup_policy() {
  q "SELECT mkt.create_policy('conc', ARRAY['a', 'b', 'c'], 'thompson', '{\"state_features\": [\"segment\"], \"draws\": 50}')" > /dev/null
  q "SELECT count(mkt.reward(d.decision_id, (g % 2)::float8)) FROM generate_series(1, ${1:-60}) g,
     LATERAL mkt.decide('conc', jsonb_build_object('segment', g % 3)) d" > /dev/null
}

# Backends of the server log $1 that ended by a signal other than a deliberate kill -9.
crashes_in() {
  grep "terminated by signal" "$1" | grep -vc "signal 9: Killed"
}

# Ends a test script: the crash check on $CLUSTER_LOG (unless NO_CRASH_CHECK), the counts line a
# runner reads (and writes to $RESULTS when set), exit status 0 only when nothing failed.
finish() {
  local crashes=0
  if [ -n "${CLUSTER_LOG:-}" ] && [ -f "$CLUSTER_LOG" ]; then
    crashes=$(crashes_in "$CLUSTER_LOG")
    [ "$crashes" = 0 ] && ok "no backend crashed" || fail "the server log shows $crashes crashed backend(s)"
  fi
  echo "${1:-result}: $PASS passed, $FAIL failed, $crashes crashes, $DATA_LOST data lost"
  [ -n "${RESULTS:-}" ] && echo "$PASS $FAIL $crashes $DATA_LOST" > "$RESULTS"
  [ "$FAIL" = 0 ]
}
