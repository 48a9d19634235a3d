#!/usr/bin/env python3
"""Held-out check of the `.bin` reader: models of shapes nobody tuned against, saved by torch.save as
a single `pytorch_model.bin` and as two shards with `pytorch_model.bin.index.json`, in F32, F16 and BF16, plus a
LLaVA-original sharded projector — each run through `trim reduce --dump` beside the same weights as
safetensors, and `trim convert`'s output read back by safetensors. Nothing is committed; it prints one line per
check and exits 1 on any difference.

    .venv-ref/bin/python Tests/Goldens/torch_heldout.py --trim .build/release/trim --work bin-heldout --seeds 41 47
"""
import argparse
import json
import os
import subprocess
import sys

import numpy as np
import torch
from safetensors.numpy import load_file as load_np
from safetensors.torch import load_file as load_pt, save_file

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from clip_goldens import build_model, random_shape, save_model  # noqa: E402
from trim_goldens import write_vocab  # noqa: E402

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))


def save_bin_dirs(model_dir, out_single, out_sharded):
    state = load_pt(os.path.join(model_dir, "model.safetensors"))
    for d in (out_single, out_sharded):
        os.makedirs(d, exist_ok=True)
        for f in os.listdir(model_dir):
            if f.endswith(".json") or f.endswith(".txt"):
                with open(os.path.join(model_dir, f), "rb") as a, open(os.path.join(d, f), "wb") as b:
                    b.write(a.read())
    torch.save(state, os.path.join(out_single, "pytorch_model.bin"))
    names = sorted(state)
    half = len(names) // 2
    weight_map = {}
    for i, part in enumerate([names[:half], names[half:]]):
        fname = f"pytorch_model-0000{i + 1}-of-00002.bin"
        torch.save({k: state[k] for k in part}, os.path.join(out_sharded, fname))
        weight_map.update({k: fname for k in part})
    with open(os.path.join(out_sharded, "pytorch_model.bin.index.json"), "w") as f:
        json.dump({"metadata": {"total_size": sum(v.numel() * v.element_size() for v in state.values())},
                   "weight_map": weight_map}, f)
    return state


def projector(width, seed, dtype, out_dir):
    """A LLaVA-original checkpoint whose shard 2 holds the projector; the same projector as safetensors."""
    g = torch.Generator().manual_seed(seed)
    p = {"model.mm_projector.0.weight": torch.randn(48, width, generator=g), "model.mm_projector.0.bias": torch.randn(48, generator=g),
         "model.mm_projector.2.weight": torch.randn(48, 48, generator=g), "model.mm_projector.2.bias": torch.randn(48, generator=g)}
    p = {k: v.to(dtype) for k, v in p.items()}
    lm = {"model.embed_tokens.weight": torch.randn(10, 8, generator=g).to(dtype)}
    os.makedirs(out_dir, exist_ok=True)
    torch.save(lm, os.path.join(out_dir, "pytorch_model-00001-of-00002.bin"))
    torch.save(p, os.path.join(out_dir, "pytorch_model-00002-of-00002.bin"))
    wm = {k: "pytorch_model-00001-of-00002.bin" for k in lm} | {k: "pytorch_model-00002-of-00002.bin" for k in p}
    with open(os.path.join(out_dir, "pytorch_model.bin.index.json"), "w") as f:
        json.dump({"metadata": {}, "weight_map": wm}, f)
    save_file(p, out_dir + ".safetensors")
    return out_dir, out_dir + ".safetensors"


def run(trim, args):
    r = subprocess.run([trim] + args, capture_output=True, text=True)
    if r.returncode != 0:
        sys.exit(f"trim {' '.join(args)} failed: {r.stderr.strip()}")
    return r.stdout


def same_files(a, b):
    x, y = load_pt(a), load_pt(b)
    if sorted(x) != sorted(y):
        return f"names differ: {sorted(x)} vs {sorted(y)}"
    for k in x:
        if x[k].dtype != y[k].dtype or x[k].shape != y[k].shape or not torch.equal(x[k], y[k]):
            return f"{k} differs"
    return None


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--trim", default=os.path.join(ROOT, ".build", "release", "trim"))
    ap.add_argument("--work", default="/tmp/bin-heldout")
    ap.add_argument("--seeds", type=int, nargs="+", default=[41, 47])
    a = ap.parse_args()
    images = [os.path.join(ROOT, "Weights", "demo-image.jpg"), os.path.join(ROOT, "Weights", "demo", "scene.jpg")]
    failures = 0
    for seed in a.seeds:
        for dtype in ["float32", "float16", "bfloat16"]:
            preset = dict(random_shape(seed), dtype=dtype)
            base = os.path.join(a.work, f"s{seed}-{dtype}")
            st_dir = base + "-safetensors"
            model = build_model(preset, seed)
            save_model(model, preset, st_dir)
            write_vocab(st_dir, preset["text"]["vocab_size"] - 514)
            save_bin_dirs(st_dir, base + "-bin", base + "-sharded")
            width = preset["vision"]["hidden_size"]
            proj_dir, proj_st = projector(width, seed, getattr(torch, dtype), base + "-llava")
            for image in images:
                ref = os.path.join(a.work, "ref.safetensors")
                run(a.trim, ["reduce", "--model", st_dir, "--projector", proj_st, "--image", image, "--prompt",
                             "Where is the red ball?", "--dump", ref])
                for model_dir, proj in [(base + "-bin", proj_dir), (base + "-sharded", proj_dir),
                                        (base + "-bin", proj_st)]:
                    out = os.path.join(a.work, "out.safetensors")
                    run(a.trim, ["reduce", "--model", model_dir, "--projector", proj, "--image", image, "--prompt",
                                 "Where is the red ball?", "--dump", out])
                    diff = same_files(ref, out)
                    failures += diff is not None
                    print(f"seed {seed} {dtype:8s} {os.path.basename(model_dir):22s} projector {os.path.basename(proj):24s} "
                          f"{os.path.basename(image):14s} dump {'IDENTICAL' if diff is None else 'DIFFERS: ' + diff}")
            # trim convert: the .bin directory → safetensors, read back by safetensors (numpy where it can).
            conv = os.path.join(a.work, "converted.safetensors")
            run(a.trim, ["convert", base + "-sharded", conv])
            diff = same_files(os.path.join(st_dir, "model.safetensors"), conv)
            if dtype != "bfloat16":  # numpy has no bfloat16
                x, y = load_np(os.path.join(st_dir, "model.safetensors")), load_np(conv)
                if diff is None and any(not np.array_equal(x[k], y[k]) for k in x):
                    diff = "numpy arrays differ"
            failures += diff is not None
            print(f"seed {seed} {dtype:8s} trim convert (sharded .bin → safetensors, read by safetensors."
                  f"{'torch' if dtype == 'bfloat16' else 'numpy'}): {'IDENTICAL' if diff is None else 'DIFFERS: ' + diff}")
    print(f"{failures} differences")
    sys.exit(1 if failures else 0)


if __name__ == "__main__":
    main()
