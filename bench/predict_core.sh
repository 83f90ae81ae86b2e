#!/usr/bin/env bash
# The predictor and uplift learners of mkt-predict beside their Python peers, without a server:
# UniversalBank ROC-AUC against scikit-learn and LightGBM, logistic coefficients against
# scikit-learn's, Qini/AUUC/uplift@k against scikit-uplift on the same scores (Hair-Care-Product),
# and gradient-boosting time on 1M x 30 against LightGBM with the same trees and leaves, 2 threads.
# Data and peers come from PyPI at run time (scripts/predict_peers.sh).
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/predict_peers.sh
ROWS=${ROWS:-1000000} FEATURES=${FEATURES:-30} TREES=${TREES:-100}
if ! predict_data || ! predict_python; then
  echo "bench/predict_core.sh: PyPI cannot be reached for dmba, scikit-learn, LightGBM, scikit-uplift" >&2
  exit 1
fi
OUT=$PREDICT_CACHE/out
mkdir -p "$OUT"
cargo build --release -q -p mkt-predict --example peers
PEERS=target/release/examples/peers
"$PEERS" "$PREDICT_DATA" "$OUT"
"$PREDICT_PY" bench/predict_peers.py "$PREDICT_DATA" "$OUT" "$ROWS" "$FEATURES" "$TREES" | tee "$OUT/peers.txt"
"$PEERS" --synthetic "$OUT/synthetic_x.f64" "$OUT/synthetic_y.f64" "$ROWS" "$FEATURES" "$TREES" | tee "$OUT/ours.txt"
rm -f "$OUT"/synthetic_*.f64
theirs=$(sed -n 's/.*LightGBM .* threads: \([0-9.]*\) s.*/\1/p' "$OUT/peers.txt")
ours=$(sed -n 's/.* trees in \([0-9.]*\) s.*/\1/p' "$OUT/ours.txt")
awk -v o="$ours" -v t="$theirs" 'BEGIN { printf "ratio(mkt-predict gbdt / LightGBM training time)=%.2f target<=1 (in memory; the SQL path adds the table read)\n", o / t }'
