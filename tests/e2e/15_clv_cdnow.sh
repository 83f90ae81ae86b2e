#!/usr/bin/env bash
# Customer value models against the reference: the CDNOW data that ships with lifetimes 0.11.3
# (fetched from PyPI at run time). BG/NBD, Pareto/NBD and Gamma-Gamma on the published summary
# match the parameters of Fader, Hardie and Lee and of lifetimes itself to 3 decimals and the
# log-likelihood to 0.1; mkt.rfm_summary of CDNOW_sample.txt equals lifetimes' summaries (by day,
# by week, and with a calibration and hold-out) for every customer.
set -uo pipefail
cd "$(dirname "$0")/../.."
. tests/lib.sh
. scripts/lifetimes.sh
if ! lifetimes_data || ! lifetimes_python; then
  if [ "${CI:-}" = true ]; then
    fail "lifetimes 0.11.3 could not be fetched from PyPI"
  else
    echo "skip - lifetimes 0.11.3 could not be fetched from PyPI (no network?)"
  fi
  echo "$PASS $FAIL 0 0" > "${RESULTS:-/dev/null}"; exit "$FAIL"
fi
scratch_dir
start_cluster
trap 'cluster_stop; rm -rf "$SCRATCH"' EXIT
q "CREATE EXTENSION pg_marketing" > /dev/null
cdnow_sample_csv "$SCRATCH/sample.csv"
q "CREATE TABLE cdnow (id int, frequency float8, recency float8, t float8, monetary_value float8)"
psql -X -q -c "\\copy cdnow FROM '$LIFETIMES_DATA/cdnow_customers_summary_with_transactions.csv' CSV HEADER"
q "CREATE TABLE cdnow_tx (customer_id text, ts date, cds int, amount numeric)"
psql -X -q -c "\\copy cdnow_tx FROM '$SCRATCH/sample.csv' CSV"

# lifetimes' own fits and summaries of the same files.
"$LIFETIMES_PY" - "$LIFETIMES_DATA" "$SCRATCH" <<'PY' > "$SCRATCH/lifetimes.out" 2> "$SCRATCH/lifetimes.err"
import sys, pandas as pd
from lifetimes import BetaGeoFitter, GammaGammaFitter, ParetoNBDFitter
from lifetimes.utils import summary_data_from_transaction_data, calibration_and_holdout_data
data, out = sys.argv[1], sys.argv[2]
s = pd.read_csv(f'{data}/cdnow_customers_summary_with_transactions.csv')
bg = BetaGeoFitter().fit(s['x'], s['t_x'], s['T'])
print('bg_nbd', ' '.join('%.3f' % bg.params_[k] for k in ['r', 'alpha', 'a', 'b']))
pn = ParetoNBDFitter().fit(s['x'], s['t_x'], s['T'])
print('pareto_nbd', ' '.join('%.5f' % pn.params_[k] for k in ['r', 'alpha', 's', 'beta']))
rep = s[s['x'] > 0]
gg = GammaGammaFitter().fit(rep['x'], rep['zbar'])
print('gamma_gamma', ' '.join('%.3f' % gg.params_[k] for k in ['p', 'q', 'v']))
tx = pd.read_csv(f'{out}/sample.csv', header=None, names=['customer_id', 'date', 'cds', 'amount'], dtype={'customer_id': str})
tx['date'] = pd.to_datetime(tx['date'])
for freq, name in [('D', 'day'), ('W', 'week')]:
    summary_data_from_transaction_data(tx, 'customer_id', 'date', monetary_value_col='amount', freq=freq).to_csv(f'{out}/lt_{name}.csv')
calibration_and_holdout_data(tx, 'customer_id', 'date', calibration_period_end='1997-09-30', observation_period_end='1998-06-30',
                             freq='W', monetary_value_col='amount').to_csv(f'{out}/lt_cal.csv')
PY
[ -s "$SCRATCH/lifetimes.out" ] || fail "lifetimes ran: $(tail -3 "$SCRATCH/lifetimes.err")"
ref() { awk -v m="$1" '$1 == m {$1 = ""; sub(/^ /, ""); print}' "$SCRATCH/lifetimes.out"; }

fit() { # model, param names[, decimals (3)]
  local p; p=$(printf "round((parameters->>'%s')::numeric, ${3:-3})::text, " $2)
  q "SELECT concat_ws(' ', ${p%, }) FROM mkt.train_clv('cd_$1', 'cdnow', 'id', NULL, params => '{\"input\": \"summary\", \"frequency_col\": \"frequency\", \"model\": \"$1\"}')"
}
# Fader, Hardie and Lee (2005), "Counting your customers the easy way", and their Pareto/NBD note.
check "BG/NBD on CDNOW equals the published parameters (r, alpha, a, b)" "0.243 4.414 0.793 2.426" "$(fit bg_nbd 'r alpha a b')"
check "and lifetimes' BetaGeoFitter on the same data" "$(ref bg_nbd)" "$(fit bg_nbd 'r alpha a b')"
check "BG/NBD log-likelihood is the published -9582.4" "-9582.4" \
  "$(q "SELECT round(log_likelihood::numeric, 1) FROM mkt.train_clv('cd_ll', 'cdnow', 'id', NULL, params => '{\"input\": \"summary\"}')")"
# Pareto/NBD's likelihood is flat along beta: lifetimes' own estimate moves in the 4th digit
# between SciPy versions and from one run to the next (three runs with SciPy 1.17.1: s 0.60616 to
# 0.60628, beta 11.6666 to 11.6706), so both to 5 decimals, within 0.1% of it, and the published
# values to their precision. (Rounded to 3 decimals, s = 0.606 alone could differ by 0.16%.)
pn=$(fit pareto_nbd 'r alpha s beta' 5)
check "Pareto/NBD on CDNOW within 0.1% of lifetimes' ParetoNBDFitter (r, alpha, s, beta)" "yes" \
  "$(paste -d' ' <(tr ' ' '\n' <<< "$pn") <(ref pareto_nbd | tr ' ' '\n') | awk '{d = $1 - $2; if (d < 0) d = -d; if (d > 0.001 * $2) bad = 1} END {print bad ? "no" : "yes"}')"
check "and the published 0.55, 10.58, 0.61, 11.67" "0.55 10.58 0.61 11.67" "$(awk '{printf "%.2f %.2f %.2f %.2f", $1, $2, $3, $4}' <<< "$pn")"
check "Pareto/NBD log-likelihood is the published -9595.0" "-9595.0" \
  "$(q "SELECT round(log_likelihood::numeric, 1) FROM mkt.train_clv('cd_pll', 'cdnow', 'id', NULL, params => '{\"input\": \"summary\", \"model\": \"pareto_nbd\"}')")"
q "SELECT 1 FROM mkt.train_clv('cd_gg', 'cdnow', 'id', NULL, 'monetary_value', '{\"input\": \"summary\"}')" > /dev/null
gg() { q "SELECT concat_ws(' ', $(printf "round((metrics->'parameters'->'spend'->>'%s')::numeric, %s), " p "$1" q "$1" v "$2" | sed 's/, $//'))
          FROM mkt.models WHERE model_name = 'cd_gg'"; }
check "Gamma-Gamma on CDNOW's 946 repeat buyers equals lifetimes' GammaGammaFitter (p, q, v)" "$(ref gamma_gamma)" "$(gg 3 3)"
# The paper prints v as 15.44; lifetimes and this fit agree on 15.448.
check "and the published 6.25, 3.74, 15.4 to their precision" "6.25 3.74 15.4" "$(gg 2 1)"

# The summaries of CDNOW_sample.txt, customer by customer.
for p in day week; do
  q "CREATE TABLE lt_$p (customer_id text, frequency float8, recency float8, t float8, monetary_value float8)"
  psql -X -q -c "\\copy lt_$p FROM '$SCRATCH/lt_$p.csv' CSV HEADER"
  check "mkt.rfm_summary by $p equals lifetimes' summary for all 2357 customers" "2357|0" \
    "$(q "SELECT count(*), count(*) FILTER (WHERE l.customer_id IS NULL OR m.customer_id IS NULL OR l.frequency <> m.frequency
              OR l.recency <> m.recency OR l.t <> m.t OR abs(l.monetary_value - m.monetary_value) > 1e-9)
          FROM lt_$p l FULL JOIN mkt.rfm_summary('cdnow_tx', amount_col => 'amount', period => '$p') m USING (customer_id)")"
done
q "CREATE TABLE lt_cal (customer_id text, f float8, r float8, t float8, m float8, hf float8, hm float8, d float8)"
psql -X -q -c "\\copy lt_cal FROM '$SCRATCH/lt_cal.csv' CSV HEADER"
check "with a calibration end and a hold-out too" "2357|0" \
  "$(q "SELECT count(*), count(*) FILTER (WHERE l.customer_id IS NULL OR m.customer_id IS NULL OR l.f <> m.frequency
            OR l.r <> m.recency OR l.t <> m.t OR abs(l.m - m.monetary_value) > 1e-9 OR l.hf <> m.holdout_frequency
            OR abs(l.hm - m.holdout_monetary_value) > 1e-9)
        FROM lt_cal l FULL JOIN mkt.rfm_summary('cdnow_tx', amount_col => 'amount', calibration_end => '1997-09-30',
                                                 holdout_end => '1998-06-30') m USING (customer_id)")"
finish clv_cdnow
