# Helpers the benchmark scripts share: psql shorthand, elapsed milliseconds, and a call's peak
# backend memory.

q() { psql -X -qAt -v ON_ERROR_STOP=1 -c "$1"; }
ms() { echo $(( ($(date +%s%N) - $1) / 1000000 )); }

# Runs SQL in one session and prints that backend's peak private memory in MB: its high-water mark
# (VmHWM) minus the shared buffers it touched (RssShmem, which stay resident), read in the same
# session.
peak_mb() {
  psql -X -qAt -v ON_ERROR_STOP=1 <<SQL | tail -1
SELECT pg_backend_pid() AS pid \gset
$1
\setenv MKT_PID :pid
\! awk '/VmHWM/ {h=\$2} /RssShmem/ {s=\$2} END {printf "%.0f", (h - s) / 1024}' /proc/\$MKT_PID/status
SQL
}

# Downloads MovieLens-100K from the PyPI wheel of recbole (once, into $ML100K_DIR) and prints the
# folder holding ml-100k.inter, .user and .item. Nothing of it is stored in the repository.
fetch_ml100k() {
  local py=${BENCH_PYTHON:-python3} data=${ML100K_DIR:-/tmp/pg_marketing-ml100k}
  if [ ! -f "$data/ml-100k.inter" ]; then
    mkdir -p "$data/wheel"
    "$py" -m pip download -q --no-deps recbole==1.2.1 -d "$data/wheel" >&2
    "$py" - "$data" <<'PYEOF'
import sys, zipfile, glob
d = sys.argv[1]
with zipfile.ZipFile(glob.glob(d + "/wheel/recbole-1.2.1-*.whl")[0]) as z:
    for name in ("inter", "user", "item"):
        with open(f"{d}/ml-100k.{name}", "wb") as f:
            f.write(z.read(f"recbole/dataset_example/ml-100k/ml-100k.{name}"))
PYEOF
  fi
  echo "$data"
}

# Starts a throwaway cluster (stopped on exit) with pg_marketing, MovieLens-100K's ratings in
# ml_raw (user_id, item_id, rating, ts) and its movies in ml_items_raw (item_id, title,
# release_year, class), and makes q quiet (warnings only). Sets DATA to the data folder.
ml100k_start() {
  DATA=$(fetch_ml100k)
  trap cluster_stop EXIT
  cluster_start "shared_buffers = '256MB'"
  chmod 644 "$DATA"/ml-100k.*
  q() { PGOPTIONS="-c client_min_messages=warning" psql -X -qAt -v ON_ERROR_STOP=1 -c "$1"; }
  q "CREATE EXTENSION pg_marketing"
  q "CREATE TABLE ml_raw (user_id bigint, item_id bigint, rating float8, ts float8)"
  q "CREATE TABLE ml_items_raw (item_id bigint, title text, release_year text, class text)"
  tail -n +2 "$DATA/ml-100k.inter" | psql -X -q -c "COPY ml_raw FROM STDIN"
  tail -n +2 "$DATA/ml-100k.item" | psql -X -q -c "COPY ml_items_raw FROM STDIN (FORMAT csv, DELIMITER E'\t', QUOTE E'\x01')"
}
