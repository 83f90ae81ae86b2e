#!/usr/bin/env bash
# Customer value benchmark on synthetic data (default 1M customers, about 10M transactions; 2 threads):
#   - mkt.rfm_summary against a plain SQL GROUP BY computing the same columns (by week), same run;
#   - the BG/NBD + Gamma-Gamma fit and every customer's P(alive), expected purchases, expected
#     spend and CLV against lifetimes 0.11.3 on the same summary, side by side (when PyPI answers);
#   - each call's peak backend memory against mkt.max_memory_mb.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/cluster.sh
. bench/lib.sh
. scripts/lifetimes.sh
trap cluster_stop EXIT
LIMIT_MB=1024
cluster_start "shared_buffers = '256MB'" "max_wal_size = '4GB'" "work_mem = '256MB'" "mkt.max_memory_mb = $LIMIT_MB" \
  "max_parallel_workers_per_gather = 1" "mkt.threads = 2"
CUSTOMERS=${BENCH_CLV_CUSTOMERS:-1000000}
q "CREATE EXTENSION pg_marketing"
# Customers drawn from a BG/NBD with Gamma-Gamma spend (crates/mkt-clv/examples/synthetic.rs):
# about 10 transactions each over 2025.
cargo build -q --release -p mkt-clv --example synthetic
q "CREATE TABLE bench_tx (customer_id bigint, ts timestamptz, amount numeric)"
./target/release/examples/synthetic "$CUSTOMERS" \
  | psql -X -q -v ON_ERROR_STOP=1 -c "CREATE TEMP TABLE raw (c bigint, s float8, a numeric)" -c "\copy raw FROM STDIN CSV" \
         -c "INSERT INTO bench_tx SELECT c, to_timestamp(s), a FROM raw"
q "ANALYZE bench_tx"
TX=$(q "SELECT count(*) FROM bench_tx")
echo "transactions: $TX, customers: $(q "SELECT count(DISTINCT customer_id) FROM bench_tx"), 2 threads, mkt.max_memory_mb $LIMIT_MB"

t=$(date +%s%N); rfm_mem=$(peak_mb "SELECT count(*), sum(frequency) FROM mkt.rfm_summary('bench_tx', amount_col => 'amount');"); rfm_ms=$(ms $t)
plain="WITH p AS (SELECT customer_id, (ts::date - DATE '1970-01-01' + 3) / 7 AS period, sum(amount) AS amount
                FROM bench_tx GROUP BY 1, 2),
            c AS (SELECT customer_id, count(*) - 1 AS frequency, max(period) - min(period) AS recency, min(period) AS first,
                         coalesce((sum(amount) - min(amount) FILTER (WHERE period = first_period)) / nullif(count(*) - 1, 0), 0) AS monetary
                  FROM (SELECT *, min(period) OVER (PARTITION BY customer_id) AS first_period FROM p) f GROUP BY 1),
            e AS (SELECT max((ts::date - DATE '1970-01-01' + 3) / 7) AS last FROM bench_tx)
       SELECT count(*), sum(frequency) FROM c, e WHERE e.last - c.first >= 0"
t=$(date +%s%N); plain_mem=$(peak_mb "$plain;"); plain_ms=$(ms $t)
echo "rfm_summary_ms=$rfm_ms plain_sql_group_by_ms=$plain_ms ratio(rfm_summary/plain)=$(awk "BEGIN{printf \"%.2f\", $rfm_ms/$plain_ms}") target<=2 peak_memory_mb=$rfm_mem (plain $plain_mem) within_limit=$([ "$rfm_mem" -le "$LIMIT_MB" ] && echo yes || echo NO)"

# The summary both fits start from.
q "CREATE TABLE bench_summary AS SELECT customer_id::bigint AS id, frequency, recency, t, monetary_value
   FROM mkt.rfm_summary('bench_tx', amount_col => 'amount')"
t=$(date +%s%N)
fit_mem=$(peak_mb "SELECT round(log_likelihood::numeric, 1), parameters->>'iterations' FROM mkt.train_clv('bench', 'bench_summary', 'id', NULL, 'monetary_value', '{\"input\": \"summary\"}');")
fit_ms=$(ms $t)
fit=$(q "SELECT concat_ws(' ', round((parameters->>'r')::numeric, 4), round((parameters->>'alpha')::numeric, 4),
               round((parameters->>'a')::numeric, 4), round((parameters->>'b')::numeric, 4), 'll', round((metrics->>'log_likelihood')::numeric, 1))
         FROM mkt.models m, LATERAL (SELECT m.metrics->'parameters' AS parameters) p WHERE model_name = 'bench'")
t=$(date +%s%N); value_mem=$(peak_mb "SELECT count(*), sum(clv) FROM mkt.customer_value('bench', 52);"); cold_ms=$(ms $t)
# Warm: the model already mapped by the backend, as serving has it after its first call.
timed() { psql -X -qAt -v ON_ERROR_STOP=1 -c "SELECT count(*) FROM mkt.customer_value('bench', 52, customers => '{1}')" \
            -c "SELECT extract(epoch FROM clock_timestamp())" -c "$1" -c "SELECT extract(epoch FROM clock_timestamp())" \
          | awk 'NR == 2 {a = $1} NR == 4 {printf "%.0f", ($1 - a) * 1000}'; }
value_ms=$(timed "SELECT count(*), sum(clv) FROM mkt.customer_value('bench', 52)")
discounted_ms=$(timed "SELECT count(*), sum(clv) FROM mkt.customer_value('bench', 52, 0.002)")
echo "pg_marketing: fit_ms=$fit_ms (read + fit + store: $fit) customer_value_all_ms=$value_ms (first call of a session, loading the model: $cold_ms; discounted per week: $discounted_ms) peak_memory_mb fit=$fit_mem value=$value_mem"
p_alive_ms=$(timed "SELECT count(*) FROM generate_series(1, 200000) g WHERE mkt.p_alive('bench', (g * 5)::text) < 0.3")
echo "p_alive: $(awk "BEGIN{printf \"%.0f\", 200000 * 1000 / $p_alive_ms}") calls/s in one backend (a campaign condition's cost)"

if lifetimes_python; then
  q "COPY bench_summary TO '/tmp/pg_marketing_bench_summary.csv' CSV HEADER"
  "$LIFETIMES_PY" - <<'PY'
import time, warnings, pandas as pd
warnings.filterwarnings("ignore")
from lifetimes import BetaGeoFitter, GammaGammaFitter
s = pd.read_csv('/tmp/pg_marketing_bench_summary.csv')
t0 = time.time()
bg = BetaGeoFitter().fit(s['frequency'], s['recency'], s['t'])
rep = s[(s['frequency'] > 0) & (s['monetary_value'] > 0)]
gg = GammaGammaFitter().fit(rep['frequency'], rep['monetary_value'])
fit = time.time() - t0
t0 = time.time()
alive = bg.conditional_probability_alive(s['frequency'], s['recency'], s['t'])
purchases = bg.conditional_expected_number_of_purchases_up_to_time(52, s['frequency'], s['recency'], s['t'])
spend = gg.conditional_expected_average_profit(s['frequency'], s['monetary_value'])
clv = gg.customer_lifetime_value(bg, s['frequency'], s['recency'], s['t'], s['monetary_value'], time=12, discount_rate=0.0, freq='W')
value = time.time() - t0
p = bg.params_
print(f"lifetimes: fit_ms={fit * 1000:.0f} ({p['r']:.4f} {p['alpha']:.4f} {p['a']:.4f} {p['b']:.4f}) customer_value_all_ms={value * 1000:.0f}")
with open('/tmp/pg_marketing_bench_lifetimes', 'w') as f:
    f.write(f"{fit * 1000:.0f} {value * 1000:.0f}\n")
PY
  read -r lt_fit lt_value < /tmp/pg_marketing_bench_lifetimes
  echo "ratio(lifetimes fit / pg_marketing fit)=$(awk "BEGIN{printf \"%.1f\", $lt_fit/$fit_ms}") target>=10 ratio(lifetimes values / pg_marketing customer_value)=$(awk "BEGIN{printf \"%.1f\", $lt_value/$value_ms}") target>=10"
  rm -f /tmp/pg_marketing_bench_summary.csv /tmp/pg_marketing_bench_lifetimes
else
  echo "lifetimes: not installed (PyPI unreachable); no side-by-side ratio this run"
fi
