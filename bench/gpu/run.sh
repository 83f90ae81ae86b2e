#!/usr/bin/env bash
# Runs on a GPU machine (no Rust needed): the two-tower model's training throughput on synthetic
# data (10M interactions, 200k users, 20k items, sampled softmax, batches of 1024 users) on the
# CPU and on CUDA, with the binary bench/gpu/build.sh made. The CUDA libraries come from the
# machine's Python packages (nvidia-cublas, nvidia-curand), the driver from the system.
# Usage: bash run.sh [INTERACTIONS] [STEPS] [DEVICES]
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
bin=$here/speed
[ -x "$bin" ] || bin=$here/out/speed
libs=$(python3 - <<'PY' 2>/dev/null || true
import glob, os, site, sys
paths = site.getsitepackages() + [site.getusersitepackages()] + sys.path
found = []
for p in paths:
    for lib in ("libcublas.so.13", "libcurand.so.10", "libcublasLt.so.13"):
        found += [os.path.dirname(f) for f in glob.glob(os.path.join(p, "nvidia", "**", lib), recursive=True)]
print(":".join(dict.fromkeys(found)))
PY
)
if [ -z "$libs" ]; then
  libs=$(find / -name 'libcublas.so.13' -not -path '/proc/*' 2>/dev/null | head -1 | xargs -r dirname || true)
fi
nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader || true
export LD_LIBRARY_PATH="${libs}${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
"$bin" "${1:-10000000}" "${2:-20}" "${3:-cpu,cuda}"
