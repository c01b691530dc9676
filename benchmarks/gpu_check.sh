#!/usr/bin/env bash
# On a machine with a CUDA GPU, in one go: the test suite (its `gpu` tests run there), a small
# model trained on the GPU and saved for loading on a CPU-only machine, and the GPU figures.
#
#   bash benchmarks/gpu_check.sh CORPUS RESULTS_DIR [benchmarks/gpu_figures.py options ...]
#
# RESULTS_DIR receives device.txt (torch, CUDA and the GPU), tests.log, gpu.pt (a checkpoint
# trained on the GPU: `charlm generate` and `charlm evaluate` it on a machine without CUDA),
# figures.log and figures.json (written as each figure is measured). A failing step does not
# stop the later ones; the exit status is the test suite's. PYTHON names the interpreter (python3).
# WHEELS names a folder of wheels for a machine without a package index (made elsewhere with
# `pip download nltk platformdirs --only-binary=:all: --python-version 3.12
# --platform manylinux2014_x86_64 -d WHEELS`, for the machine's Python): NLTK and platformdirs are installed from it, and this
# checkout is used from where it lies (PYTHONPATH) over the torch already there; torch, numpy,
# typer, rich and pytest must be installed already.
set -uo pipefail
corpus=$1
results=$2
shift 2
mkdir -p "$results"
export PYTHONUNBUFFERED=1
PYTHON=${PYTHON:-python3}
if [ -n "${WHEELS:-}" ]; then
    "$PYTHON" -m pip install -q --no-index --find-links "$WHEELS" nltk platformdirs
    export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"
fi
"$PYTHON" - <<'EOF' | tee "$results/device.txt"
import os, torch
name = torch.cuda.get_device_name(0) if torch.cuda.is_available() else "no CUDA device"
print(f"torch {torch.__version__}, CUDA {torch.version.cuda}, {name}, {os.cpu_count()} CPUs")
EOF
"$PYTHON" -m pytest -q -p no:cacheprovider -rs 2>&1 | tee "$results/tests.log"
tests=$?
small=$corpus
[ -d "$corpus" ] && small=$(find "$corpus" -name '*.txt' | sort | head -1)
"$PYTHON" -m charlm train "$small" --out "$results/gpu.pt" --force --epochs 2 --samples 1 \
    --device auto 2>&1 | tail -5
"$PYTHON" benchmarks/gpu_figures.py "$corpus" --json "$results/figures.json" "$@" 2>&1 \
    | tee "$results/figures.log"
exit "$tests"
