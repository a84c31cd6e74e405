#!/usr/bin/env bash
# Every GPU benchmark in one prepared run, under 5 minutes on one H100/H200: the trainer
# against the article's loop and a hand-tuned loop for `unet --res 64` and `mlp --res 32`
# (images/s, ratios, compile time, the U-Net's MFU). Writes ${OUT:-benchmarks/results}/gpu.json.
#
#   bash benchmarks/gpu.sh           # on a machine with a GPU
#   bash benchmarks/gpu.sh --tiny    # anywhere, in seconds: tiny models on the CPU (or AETUI_BENCH_TINY=1)
#
# A bare GPU image without pydantic/sqlmodel/alembic: run benchmarks/gpu_wheels.sh here
# first and carry .whl/ along; this script installs it under /tmp.
set -euo pipefail
cd "$(dirname "$0")/.."
tiny=${AETUI_BENCH_TINY:-}
[ "${1:-}" = "--tiny" ] && tiny=1
PY=${PY:-$([ -x .venv/bin/python ] && echo .venv/bin/python || echo python3)}
if ! "$PY" -c 'import pydantic, sqlalchemy, sqlmodel, alembic' 2>/dev/null && compgen -G ".whl/*.whl" >/dev/null; then
    "$PY" -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/aetui-site .whl/*.whl
    export PYTHONPATH=/tmp/aetui-site${PYTHONPATH:+:$PYTHONPATH}
fi
export PYTHONPATH=$PWD${PYTHONPATH:+:$PYTHONPATH}  # aetui and store from this tree, installed or not
export PYTHONUNBUFFERED=1
out=${OUT:-benchmarks/results}
if [ -n "$tiny" ]; then
    args=(--tiny --device cpu)
else
    "$PY" -c 'import torch, sys; sys.exit(0 if torch.cuda.is_available() else "benchmarks/gpu.sh: no CUDA device here (use --tiny)")'
    nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader || true
    args=(--device cuda --repeats 3 --budget-s 250)
fi
"$PY" benchmarks/train.py "${args[@]}" --name gpu --out "$out"
