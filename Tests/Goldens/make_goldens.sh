#!/usr/bin/env bash
# Regenerates every committed golden and test checkpoint from the project's own PyTorch / Python scripts.
# Usage (from anywhere):  Tests/Goldens/make_goldens.sh
# Creates the reference environment of SPEC §4 in .venv-ref if it is missing (CPU-only torch, ~1 minute).
set -euo pipefail
root="$(cd "$(dirname "$0")/../.." && pwd)"
cd "$root"
py=.venv-ref/bin/python
if ! "$py" -c "import torch, transformers, safetensors, PIL, numpy" 2>/dev/null; then
    python3 -m venv .venv-ref
    .venv-ref/bin/pip install "torch==2.13.0+cpu" transformers safetensors pillow numpy
fi
# Order matters: the tokenizer script bundles the vocabulary that trim_goldens.py reads,
# trim_goldens.py reads the checkpoints clip_goldens.py writes, torch_goldens.py re-saves Weights/clip-odd.
for script in inflate safetensors tokenizer jpeg image clip trim torch; do
    echo "== ${script}_goldens.py"
    "$py" "Tests/Goldens/${script}_goldens.py"
done
git status --short -- Tests/Goldens Weights
