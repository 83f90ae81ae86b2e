#!/usr/bin/env bash
# A model report renders in headless Chromium (screenshot and DOM with the training curve).
set -uo pipefail
cd "$(dirname "$0")/../.."
. tests/lib.sh
start_cluster
setup_demo_model
if ! command -v chromium > /dev/null; then
  fail "chromium is not installed (make deps-test installs it)"
  finish chromium; exit
fi
q "SELECT * FROM mkt.train_recommender('deep_report', 'tr', algorithm => 'neural', params => '{\"epochs\": 6, \"patience\": 100, \"dim\": 16, \"hidden\": 16}')" > /dev/null
q "SELECT * FROM mkt.evaluate_recommender('deep_report', 'te', 10)" > /dev/null
q "SELECT mkt.model_report('deep_report')" > "$CLUSTER_DIR/report.html"
chmod 644 "$CLUSTER_DIR/report.html"
shot=${REPORT_SCREENSHOT:-$CLUSTER_DIR/report.png}
timeout 60 chromium --headless --no-sandbox --disable-gpu --hide-scrollbars --window-size=900,1600 \
  --screenshot="$shot" "file://$CLUSTER_DIR/report.html" > "$CLUSTER_DIR/chromium.log" 2>&1
dom=$(timeout 60 chromium --headless --no-sandbox --disable-gpu --dump-dom "file://$CLUSTER_DIR/report.html" 2> /dev/null)
[ -s "$shot" ] && [ "$(stat -c %s "$shot")" -gt 10000 ] && ok "Chromium renders the model report ($(stat -c %s "$shot") bytes of PNG)" \
  || fail "no screenshot: $(tail -3 "$CLUSTER_DIR/chromium.log")"
grep -q "<polyline" <<< "$dom" && grep -q "validation ndcg@10" <<< "$dom" && ok "the rendered DOM has the training curve" \
  || fail "rendered DOM lacks the curve"
grep -q "Recommendations by item popularity" <<< "$dom" && grep -q "top-10s" <<< "$dom" \
  && ok "the rendered DOM has the recommendations by item popularity" || fail "rendered DOM lacks the popularity chart"
finish chromium
