#!/usr/bin/env bash
# Installs what building and testing pg_marketing needs, skipping whatever is already there.
# Safe to run again. Needs root (or sudo) for apt.
set -euo pipefail

PG_CONFIG=/usr/lib/postgresql/15/bin/pg_config
PKGS="postgresql-15 postgresql-server-dev-15 postgresql-15-cron libclang-dev clang sudo pkg-config python3 python3-pip"
# The tests also render a model report in headless Chromium, and run lifetimes (from PyPI, in a
# virtual environment) beside the customer value models.
if [ "${1:-}" = test ]; then PKGS="$PKGS chromium python3 python3-venv python3-pip"; fi
PGRX_VERSION=0.18.0

as_root() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }

missing=""
for p in $PKGS; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing="$missing $p"
done
if [ -n "$missing" ]; then
  echo "setup: installing$missing"
  as_root apt-get update -q
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -q $missing
fi

export PATH="$HOME/.cargo/bin:$PATH"
if ! cargo pgrx --version 2>/dev/null | grep -q "$PGRX_VERSION"; then
  echo "setup: installing cargo-pgrx $PGRX_VERSION"
  cargo install cargo-pgrx --version "$PGRX_VERSION" --locked
fi

PGRX_HOME="${PGRX_HOME:-$HOME/.pgrx}"
if ! grep -q "pg15 *= *\"$PG_CONFIG\"" "$PGRX_HOME/config.toml" 2>/dev/null; then
  echo "setup: cargo pgrx init --pg15 $PG_CONFIG"
  cargo pgrx init --pg15 "$PG_CONFIG"
fi
