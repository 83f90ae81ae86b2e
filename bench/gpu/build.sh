#!/usr/bin/env bash
# Builds, on a CPU machine without a GPU, the CUDA training-throughput binary that
# bench/gpu/run.sh runs on a GPU machine that has no Rust toolchain and no registry access.
#
# The CUDA compiler and libraries come from PyPI (NVIDIA's wheels, version CUDA_VERSION, default
# 13.0 to match a 580 driver) into bench/gpu/.venv. candle links the CUDA driver library, which only
# a GPU machine has, so the link uses a stub libcuda.so.1 that defines the driver functions cudarc
# declares (generated from its bindings); at run time the dynamic loader finds the real driver.
# Output: bench/gpu/out/speed (about 12 MB) and bench/gpu/out/run.sh.
set -euo pipefail
cd "$(dirname "$0")/../.."
V=${CUDA_VERSION:-13.0}
CAP=${CUDA_COMPUTE_CAP:-90}
VENV=bench/gpu/.venv
OUT=bench/gpu/out
TARGET=${GPU_TARGET_DIR:-target/cuda}
[ -x "$VENV/bin/pip" ] || python3 -m venv "$VENV"
"$VENV/bin/pip" install -q "nvidia-cuda-nvcc==$V.*" "nvidia-cuda-cccl==$V.*" "nvidia-cuda-crt==$V.*" \
  "nvidia-nvvm==$V.*" "nvidia-cuda-runtime==$V.*" "nvidia-cuda-nvrtc==$V.*" "nvidia-cublas==$V.*" \
  "nvidia-curand==10.4.0.*"
CUDA=$(ls -d "$PWD/$VENV"/lib/python3*/site-packages/nvidia/cu13)
LINK="$PWD/$TARGET/cuda-link"
mkdir -p "$LINK" "$OUT"
# The stub driver: every cu* function cudarc's bindings declare, as an empty symbol.
BINDINGS=$(cargo metadata --format-version 1 --features cuda | python3 -c '
import json, sys, os
m = json.load(sys.stdin)
p = [p for p in m["packages"] if p["name"] == "cudarc"][0]
print(os.path.join(os.path.dirname(p["manifest_path"]), "src/driver/sys/mod.rs"))')
grep -oP '^\s{8,}fn \Kcu\w+' "$BINDINGS" | sort -u | awk '{print "void " $1 "(void) {}"}' > "$LINK/stub.c"
cc -shared -fPIC -o "$LINK/libcuda.so" -Wl,-soname,libcuda.so.1 "$LINK/stub.c"
for l in cublas cublasLt cudart nvrtc; do ln -sf "$CUDA/lib/lib$l.so.13" "$LINK/lib$l.so"; done
ln -sf "$CUDA/lib/libcurand.so.10" "$LINK/libcurand.so"
PATH="$CUDA/bin:$PATH" CUDA_ROOT="$CUDA" CUDA_PATH="$CUDA" CUDA_HOME="$CUDA" CUDA_COMPUTE_CAP="$CAP" \
  CARGO_TARGET_DIR="$TARGET" RUSTFLAGS="-L $LINK" \
  cargo build --release -p mkt-neural --features cuda --example speed
cp "$TARGET/release/examples/speed" "$OUT/speed"
cp bench/gpu/run.sh "$OUT/run.sh"
# The binary must start and train on the CPU here (the stub stands in for the driver).
mkdir -p "$LINK/runtime" && cp "$LINK/libcuda.so" "$LINK/runtime/libcuda.so.1"
LD_LIBRARY_PATH="$LINK/runtime:$CUDA/lib" "$OUT/speed" 100000 3 cpu
ls -l "$OUT"
