#!/usr/bin/env python3
"""Compares `trim reduce --method prumerge|prumerge+ --dump` with a goldens file from `prumerge_goldens.py --model-dir`
(for full-size models, where the debug-built tests are too slow). Usage:
    .venv-ref/bin/python Tests/Goldens/prumerge_cli_check.py GOLDENS MODEL_DIR .build/release/trim
"""
import json, subprocess, sys, numpy as np
import os
ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
from safetensors.numpy import load_file
from safetensors import safe_open
ref_path, model, trim = sys.argv[1], sys.argv[2], sys.argv[3]
ref = load_file(ref_path)
with safe_open(ref_path, "np") as f: man = json.loads(f.metadata()["manifest"])
worst = 0; bad = 0
for c, k in enumerate(man["cases"]):
    img = man["images"][k["image"]]
    args = [trim, "reduce", "--model", model, "--image", ROOT + "/" + img, "--prompt", "x",
            "--method", "prumerge+" if k["plus"] else "prumerge", "--dump", "/tmp/pm.safetensors"]
    if k["ratio"] is not None: args += ["--keep-ratio", repr(k["ratio"])]
    r = subprocess.run(args, capture_output=True, text=True)
    if r.returncode: print(r.stderr); bad += 1; continue
    d = load_file("/tmp/pm.safetensors")
    same = np.array_equal(d["kept_indices"], ref[f"case{c}.kept_indices"])
    e = max(np.abs(d[n] - ref[f"case{c}.{n}"]).max() / np.abs(ref[f"case{c}.{n}"]).max() for n in ["cls_attention", "reduced"])
    worst = max(worst, e); bad += (not same) or e > 1e-3
    print(f"image {k['image']} {k['name']:22s} kept {k['kept']:4d} order identical: {same}  max rel err {e:.2e}")
print(f"worst {worst:.2e}, {bad} failures")
