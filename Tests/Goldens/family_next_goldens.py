#!/usr/bin/env python3
"""Goldens of the reducer family on any-resolution input (Docs/SEMANTICS.md §5b, §5c) for FamilyNextGoldenTests:
family_next_ports.py's PyTorch ports of each method's released LLaVA-1.6 code, and its --views hf form, run on
the committed tiny LLaVA-NeXT of next_goldens.py (Tests/Goldens/next/llava-next-hf with clip-next as --model) and
its five images. Usage (from the repository root, reference venv of Docs/SEMANTICS.md §4; about a minute):

    .venv-ref/bin/python Tests/Goldens/family_next_goldens.py

writes Tests/Goldens/family_next/family.safetensors. Per case `c{i}` (the manifest in the metadata lists each
case's method, mode, image, settings, grid, views, rows and notes): c{i}.token_map I64 [L,2], c{i}.kept I64
[K,2], c{i}.reduced F32 [R,D], c{i}.projected F32 [L,H], c{i}.signal F32 [V,N] (the method's dump signal; not
for DivPrune, whose order of picks is not a score) and,
for HiRED, c{i}.signal_layer0. A case whose smallest relative margin of a discrete choice is below 1e-6 (a
near-tie that float32 rounding could flip) is left out and listed in the manifest's `skipped`.
The held-out check on other shapes and images is family_next_check.py.
"""
import json
import os
import sys

import numpy as np
import torch
from PIL import Image
from safetensors.numpy import save_file
from transformers import CLIPModel, LlavaNextForConditionalGeneration

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import family_next_ports as fp  # noqa: E402
import next_goldens as ng  # noqa: E402
from trim_goldens import tokenizer_for  # noqa: E402

OUT = os.path.join(HERE, "family_next")
PROMPT = ng.PROMPTS[0]
IMAGES = ["wide", "tall", "square", "narrow", "odd"]


def cases(n):
    """(method, settings for the port, the same as trim options) — budgets scaled to N patches per view."""
    t = max(2, n // 4)
    d = round(27 * t / 32)
    return [
        ("fastervlm", dict(keep=t), ["--keep", str(t)]),
        ("vispruner", dict(keep=t), ["--keep", str(t)]),
        ("cdpruner", dict(keep=t, prompt=PROMPT), ["--keep", str(t)]),
        ("visionzip", dict(dominant=d, contextual=t - d), ["--dominant", str(d), "--contextual", str(t - d)]),
        ("divprune", dict(keep_ratio=0.098), []),
        ("hired", dict(keep_ratio=0.2, alpha=0.5), []),
        ("globalcom2", dict(keep_ratio=0.25), []),
        ("prumerge", dict(), []),
        ("prumerge+", dict(), []),
    ]


@torch.no_grad()
def main():
    torch.manual_seed(0)
    nxt = LlavaNextForConditionalGeneration.from_pretrained(ng.HF_DIR, dtype=torch.float32, attn_implementation="eager").eval()
    clip = CLIPModel.from_pretrained(ng.CLIP_DIR, dtype=torch.float32).eval()
    ctx = fp.Context(nxt, clip, tokenizer_for(ng.CLIP_DIR))
    tensors, manifest, skipped = {}, [], []
    i = 0
    for image_name in IMAGES:
        path = os.path.join(ng.OUT, "images", f"{image_name}.png")
        image = Image.open(path)
        for method, kw, options in cases(ctx.N):
            for mode in fp.MODES:
                o = fp.run(ctx, method, image, mode, **kw)
                label = f"{image_name} {method} {mode}"
                if o.gap is not None and o.gap < 1e-6:
                    skipped.append(label)
                    continue
                key = f"c{i}"
                tensors[f"{key}.token_map"] = np.array(o.token_map, dtype=np.int64).reshape(-1, 2)
                tensors[f"{key}.kept"] = np.array(o.kept, dtype=np.int64).reshape(-1, 2)
                tensors[f"{key}.reduced"] = o.reduced.numpy().astype(np.float32)
                tensors[f"{key}.projected"] = o.projected.numpy().astype(np.float32)
                signals = dict(o.signals)
                name = next((k for k in signals if k != "cls_attention_layer0"), None)  # DivPrune ranks by none
                if name:
                    tensors[f"{key}.signal"] = signals[name].numpy().astype(np.float32)
                if "cls_attention_layer0" in signals:
                    tensors[f"{key}.signal_layer0"] = signals["cls_attention_layer0"].numpy().astype(np.float32)
                manifest.append(dict(key=key, image=f"images/{image_name}.png", method=method, mode=mode, options=options,
                                     prompt=PROMPT, grid=list(o.grid), views=int(o.views), rows=len(o.token_map),
                                     signal=name, notes=o.notes))
                print(f"{key}: {label}: grid {o.grid}, {len(o.token_map)} rows, {len(o.kept)} patches")
                i += 1
    os.makedirs(OUT, exist_ok=True)
    meta = {"manifest": json.dumps({"cases": manifest, "skipped": skipped, "model": "next/clip-next",
                                    "projector": "next/llava-next-hf"})}
    save_file(tensors, os.path.join(OUT, "family.safetensors"), metadata=meta)
    print(f"{i} cases, {len(skipped)} skipped near a tie: {skipped}")


if __name__ == "__main__":
    main()
