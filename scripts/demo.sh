#!/usr/bin/env bash
# The end-to-end demo on the built-in data: throwaway cluster, demo data, split, four models,
# evaluation, recommendations. Expects the extension to be installed (make demo does that).
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/cluster.sh
trap cluster_stop EXIT
cluster_start
echo "== cluster on port $PGPORT"
mkdir -p target/demo && chmod 777 target/demo
psql -X -v ON_ERROR_STOP=1 -f scripts/demo.sql
echo "== wrote target/demo/shop_clv.svg"
