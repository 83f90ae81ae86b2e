#!/usr/bin/env bash
# Sentence embeddings per second: mkt.embed over a batch of texts beside sentence-transformers'
# encode on the same texts, model (all-MiniLM-L6-v2 from the same wheel), batch size (32) and
# threads, measured in the same run; then their agreement (cosine) on those texts.
# Expects a release build installed (make install-release, which installs the model too).
# The peer runs in bench/.venv-text (created with pip install sentence-transformers when missing),
# or in the Python BENCH_TEXT_PYTHON names.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/cluster.sh
. bench/lib.sh
trap cluster_stop EXIT
cluster_start
THREADS=${BENCH_THREADS:-2}
N=${TEXT_N:-2000}
MODEL=$(/usr/lib/postgresql/15/bin/pg_config --sharedir)/pg_marketing/all-MiniLM-L6-v2

q "CREATE EXTENSION pg_marketing"
# Product descriptions of 4 to 40 words, deterministic.
q "CREATE TABLE texts AS
   SELECT g AS id, initcap(w[1 + g % 12]) || ' ' || w[1 + (g / 12) % 16] || ' ' ||
          array_to_string(ARRAY(SELECT w[1 + (g * 7 + k * 13) % 28] FROM generate_series(1, 2 + (g * 31) % 37) k), ' ') AS t
   FROM generate_series(1, $N) g,
        (SELECT string_to_array('lightweight waterproof premium budget eco-friendly vintage compact ergonomic handmade refurbished limited smart jacket laptop coffee-maker yoga-mat novel phone-case sofa tent lipstick drill backpack watch printer kettle bicycle scarf', ' ') AS w) words"
WORK=$(mktemp -d); trap 'cluster_stop; rm -rf "$WORK"' EXIT
chmod 777 "$WORK"
q "COPY (SELECT t FROM texts ORDER BY id) TO '$WORK/texts.txt'"

run_ours() {
  psql -X -qAt -v ON_ERROR_STOP=1 <<SQL
SET mkt.threads = $THREADS;
SET mkt.progress_interval = 0;
\o /dev/null
SELECT mkt.embed('warm up: the model loads once per backend');
\o
SELECT extract(epoch FROM clock_timestamp()) AS t0 \gset
\o /dev/null
SELECT count(*) FROM mkt.embed((SELECT array_agg(t ORDER BY id) FROM texts));
\o
SELECT round(($N / (extract(epoch FROM clock_timestamp()) - :t0))::numeric, 1);
SQL
}
started=$(date +%s%N)
psql -X -qAt -v ON_ERROR_STOP=1 -c "SELECT cardinality(mkt.embed('load'))" > /dev/null
load_ms=$(ms "$started")
ours=$(run_ours | tail -1)
echo "pg_marketing: model load + first call in a new backend ${load_ms} ms"
echo "pg_marketing mkt.embed(text[]): $ours sentences/s ($N texts, $THREADS threads)"
PGOPTIONS="-c client_min_messages=warning" q "COPY (SELECT e.ord, array_to_string(e.embedding, ',') FROM mkt.embed((SELECT array_agg(t ORDER BY id) FROM texts)) e) TO '$WORK/ours.csv' (FORMAT csv)"

PY=${BENCH_TEXT_PYTHON:-bench/.venv-text/bin/python}
if [ ! -x "$PY" ]; then
  python3 -m venv bench/.venv-text && bench/.venv-text/bin/pip install -q sentence-transformers || true
fi
if [ -x "$PY" ] && "$PY" -c "import sentence_transformers" 2> /dev/null; then
  HF_HUB_OFFLINE=1 "$PY" - "$MODEL" "$WORK" "$THREADS" "$ours" <<'PYEOF'
import sys, time, csv
import numpy as np, torch
from sentence_transformers import SentenceTransformer
model_dir, work, threads, ours = sys.argv[1], sys.argv[2], int(sys.argv[3]), float(sys.argv[4])
torch.set_num_threads(threads)
texts = open(f"{work}/texts.txt").read().split("\n")[:-1]
m = SentenceTransformer(model_dir, device="cpu")
m.encode(texts[:64], batch_size=32)
t = time.time()
peer = m.encode(texts, batch_size=32, convert_to_numpy=True)
rate = len(texts) / (time.time() - t)
print(f"sentence-transformers {__import__('sentence_transformers').__version__} (torch {torch.__version__}): {rate:.1f} sentences/s")
print(f"ratio(ours/sentence-transformers)={ours / rate:.2f} target>=1.0")
rows = {int(r[0]): np.array([float(x) for x in r[1].split(",")]) for r in csv.reader(open(f"{work}/ours.csv"))}
cos = [float(np.dot(rows[i + 1], peer[i]) / np.linalg.norm(rows[i + 1]) / np.linalg.norm(peer[i])) for i in range(len(texts))]
print(f"cosine with sentence-transformers on these texts: min {min(cos):.7f} mean {np.mean(cos):.7f}")
PYEOF
else
  echo "sentence-transformers: not available (pip install sentence-transformers to compare)"
fi
