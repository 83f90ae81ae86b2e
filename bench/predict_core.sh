#!/usr/bin/env bash
# The predictor and uplift learners of mkt-predict beside their Python peers, without a server:
# UniversalBank ROC-AUC against scikit-learn and LightGBM, its Education as a 3-class label against
# their softmax models (and our multiclass metrics against scikit-learn's), logistic coefficients against
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
# Training time varies by a tenth or more from one run to the next on a shared VM: three more
# fits of each learner, alternating, and the medians of the four are compared.
"$PEERS" --synthetic "$OUT/synthetic_x.f64" "$OUT/synthetic_y.f64" "$ROWS" "$FEATURES" "$TREES" | tee "$OUT/ours.txt"
for round in 1 2 3; do
  "$PREDICT_PY" - "$OUT" "$ROWS" "$FEATURES" "$TREES" >> "$OUT/peers.txt" <<'PY'
import sys, time
import numpy as np, lightgbm as lgb
out, n, f, trees = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
X = np.fromfile(f"{out}/synthetic_x.f64", dtype="<f8").reshape(n, f)
y = np.fromfile(f"{out}/synthetic_y.f64", dtype="<f8")
m = lgb.LGBMClassifier(n_estimators=trees, num_leaves=31, learning_rate=0.1, min_child_samples=20, verbose=-1,
                       n_jobs=2, max_bin=255)
start = time.time()
m.fit(X, y)
print(f"synthetic {n:,} x {f}: LightGBM {trees} trees x 31 leaves on 2 threads: {time.time() - start:.2f} s")
PY
  "$PEERS" --synthetic "$OUT/synthetic_x.f64" "$OUT/synthetic_y.f64" "$ROWS" "$FEATURES" "$TREES" >> "$OUT/ours.txt"
done
rm -f "$OUT"/synthetic_*.f64
median() { tr ' ' '\n' | sort -n | awk '{ v[NR] = $1 } END { printf "%.2f", (v[int((NR + 1) / 2)] + v[int(NR / 2) + 1]) / 2 }'; }
theirs_all=$(sed -n 's/.*LightGBM .* threads: \([0-9.]*\) s.*/\1/p' "$OUT/peers.txt" | paste -sd' ')
ours_all=$(sed -n 's/.* trees in \([0-9.]*\) s.*/\1/p' "$OUT/ours.txt" | paste -sd' ')
theirs=$(median <<< "$theirs_all")
ours=$(median <<< "$ours_all")
echo "gbdt training, median of 4 alternating runs: LightGBM $theirs s ($theirs_all), mkt-predict $ours s ($ours_all)"
awk -v o="$ours" -v t="$theirs" 'BEGIN { printf "ratio(mkt-predict gbdt / LightGBM training time)=%.2f target<=1 (in memory; the SQL path adds the table read)\n", o / t }'
