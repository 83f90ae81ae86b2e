#!/usr/bin/env bash
# Memory of serving one large model from many connections: a 1M-user x 64-factor model served by
# 20 backends, each decoding a private copy (mkt.shared_models = off, the baseline) against all
# mapping one shared file (on). Reads each backend's /proc/<pid>/smaps_rollup: Private is what
# that backend alone holds, Pss splits shared pages among the processes that map them (their sum
# is what the 20 backends cost the machine).
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/cluster.sh
trap cluster_stop EXIT
cluster_start "shared_buffers = '256MB'" "max_wal_size = '4GB'"
USERS=${MEM_USERS:-1000000}
CONNS=${MEM_CONNECTIONS:-20}
q() { psql -X -qAt -v ON_ERROR_STOP=1 -c "$1"; }

q "CREATE EXTENSION pg_marketing"
q "CREATE TABLE mem_events AS SELECT u AS user_id, (u::bigint * 7919 + n * 104729) % 10000 AS item_id
   FROM generate_series(1, $USERS) u, generate_series(1, 3) n"
psql -X -qAt -v ON_ERROR_STOP=1 -c "SET mkt.progress_interval = 0" \
  -c "SELECT 1 FROM mkt.train_recommender('mem', 'mem_events', algorithm => 'bpr', params => '{\"factors\": 64, \"iterations\": 1}')" > /dev/null
echo "model: $(q "SELECT n_users || ' users x ' || n_items || ' items, 64 factors, stored ' || (SELECT pg_size_pretty(sum(octet_length(data))) FROM mkt.model_blobs b JOIN mkt.model_versions v USING (model_id) WHERE v.model_name = 'mem') FROM mkt.models WHERE model_name = 'mem'")"

# kB of one smaps_rollup field summed over the given pids
field() {
  local name=$1; shift
  for pid in "$@"; do cat "/proc/$pid/smaps_rollup"; done | awk -v f="$name:" '$1 == f {s += $2} END {print s + 0}'
}

measure() { # mode label
  local mode=$1 sql
  if [ "$mode" = idle ]; then sql="SELECT 1"; else
    sql="SET mkt.shared_models = $mode; SELECT count(*) FROM mkt.recommend('mem', (random() * $USERS)::int + 1, 10)"
  fi
  for _ in $(seq "$CONNS"); do
    PGAPPNAME=memtest psql -X -qAt -c "$sql" -c "SELECT pg_sleep(600)" > /dev/null 2>&1 &
  done
  local pids=""
  for _ in $(seq 600); do
    pids=$(q "SELECT string_agg(pid::text, ' ') FROM pg_stat_activity WHERE application_name = 'memtest' AND query LIKE '%pg_sleep%'")
    [ "$(echo "$pids" | wc -w)" = "$CONNS" ] && break
    sleep 0.2
  done
  # shellcheck disable=SC2086
  local priv=$(( $(field Private_Clean $pids) + $(field Private_Dirty $pids) ))
  # shellcheck disable=SC2086
  local pss=$(field Pss $pids) rss=$(field Rss $pids)
  q "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = 'memtest'" > /dev/null
  wait 2> /dev/null || true
  echo "$mode connections=$CONNS per_backend_private_mb=$((priv / 1024 / CONNS)) per_backend_rss_mb=$((rss / 1024 / CONNS)) total_pss_mb=$((pss / 1024))"
  eval "PSS_$mode=$pss"
}

echo "== $CONNS connections, each serving one recommendation from the model, then idle"
measure idle
measure off
measure on
echo "ratio(total_pss private copies / shared mapping)=$(awk "BEGIN{printf \"%.1f\", $PSS_off/$PSS_on}") target>=5"
echo "model memory beyond idle backends: private=$(( (PSS_off - PSS_idle) / 1024 )) MB shared=$(( (PSS_on - PSS_idle) / 1024 )) MB"
