#!/usr/bin/env bash
# GPU worker check (issue 13): training throughput on CUDA in fp32 and bf16 beside the matmul ceilings, then one
# default run of the sample (ingest, train, backtest) on the GPU with its wall time. One short script, ~5 min on
# one modern GPU. Needs a venv with a CUDA build of torch (PY=...); figures go to $OUT (default /tmp/windcast_gpu).
#   bash benchmarks/gpu_check.sh
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PY:-.venv/bin/python}
OUT=${OUT:-/tmp/windcast_gpu}
mkdir -p "$OUT"
export PYTHONPATH=$PWD PREFECT_HOME="$OUT/prefect" PREFECT_SERVER_ANALYTICS_ENABLED=false DO_NOT_TRACK=1
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv | tee "$OUT/gpu.txt"
"$PY" - <<'PY' | tee -a "$OUT/gpu.txt"
import torch

assert torch.cuda.is_available(), "no CUDA device visible to torch"
from models.device import describe_precision, pick_device

device = pick_device("auto")
print(f"torch {torch.__version__}, {torch.cuda.get_device_name()}, auto device {device}, "
      f"precision auto: {describe_precision(device)}")
PY
# 1. throughput grid on CUDA (fp32 vs bf16, % of the fp32 matmul ceiling) and the default fits of the sample
timeout 420 "$PY" benchmarks/train.py --device cuda 2>&1 | tee "$OUT/train_cuda.txt"
# 2. one default pipeline run of the sample on the GPU (device auto -> cuda), timed end to end
start=$(date +%s)
timeout 600 "$PY" -m windcast.cli run --data-dir "$OUT/store" 2>&1 | tail -40 | tee "$OUT/run_sample.txt"
echo "sample run (ingest + train + backtest) on the GPU: $(( $(date +%s) - start )) s" | tee -a "$OUT/run_sample.txt"
