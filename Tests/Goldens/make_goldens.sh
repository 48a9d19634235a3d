#!/usr/bin/env bash
# Regenerates every committed golden and test checkpoint from the project's own PyTorch / Python scripts.
# Usage (from anywhere):  Tests/Goldens/make_goldens.sh
# Creates the reference environment of Docs/SEMANTICS.md §4 in .venv-ref if it is missing (CPU-only torch, ~1 minute).
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
for script in inflate safetensors tokenizer jpeg image clip trim torch prumerge anyres next family_next; do
    echo "== ${script}_goldens.py"
    "$py" "Tests/Goldens/${script}_goldens.py"
done
# The trained demo CLIP's TRIM goldens (Weights/clip-demo itself comes from Tests/Training/train_demo_clip.py,
# about 40 minutes, and the demo scene + projector from Tests/Training/make_demo.py; neither is rerun here).
echo "== trim_goldens.py on clip-demo"
"$py" Tests/Goldens/trim_goldens.py --model-dir Weights/clip-demo --projector Weights/projector-demo.safetensors \
    --images Tests/Goldens/trim/images/scene-1000006.png \
    --prompts "the black triangle" "Is there a blue circle in the picture?" --out Tests/Goldens/trim/clip-demo.safetensors
# FasterVLM, VisionZip, VisPruner, DivPrune and CDPruner (clip-tiny, clip-odd, clip-demo; NO_DEMO=1 skips clip-demo).
echo "== reducers_goldens.py"
"$py" Tests/Goldens/reducers_goldens.py
git status --short -- Tests/Goldens Weights
