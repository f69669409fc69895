#!/usr/bin/env bash
# Install the pinned torch into the venv: the CUDA build where a CUDA GPU is present, a CPU build elsewhere.
# A plain `pip install torch` on Linux pulls a CUDA build of several GB, which a CPU-only host does not need.
set -euo pipefail
PIP="$1"
VERSION="${TORCH_VERSION:-2.13.0}"
CPU_INDEX="${TORCH_CPU_INDEX:-https://download.pytorch.org/whl/cpu}"

if "$PIP" show torch >/dev/null 2>&1 && [ "$("$PIP" show torch | awk '/^Version:/{print $2}' | cut -d+ -f1)" = "$VERSION" ]; then
    echo "torch $VERSION already installed"
    exit 0
fi
if command -v nvidia-smi >/dev/null 2>&1 && nvidia-smi -L >/dev/null 2>&1; then
    echo "CUDA GPU found: installing the CUDA build of torch $VERSION"
    "$PIP" install "torch==$VERSION"
elif "$PIP" install --no-index --no-deps "torch==$VERSION" 2>/dev/null; then
    # a local wheelhouse (pip's find-links) holds a build: on hosts that ship the CPU wheel this is it
    echo "installed torch $VERSION from the local wheelhouse"
else
    echo "no CUDA GPU: installing the CPU build of torch $VERSION from $CPU_INDEX"
    "$PIP" install --no-deps "torch==$VERSION" --index-url "$CPU_INDEX"
fi
"$PIP" show torch | grep -E '^(Name|Version)'
