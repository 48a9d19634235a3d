#!/usr/bin/env python3
"""Goldens for LLaVA-NeXT's any-resolution views (Docs/SEMANTICS.md §5): Hugging Face's PIL path.

Regenerate (from the repository root, deterministic, fixed seeds):

    .venv-ref/bin/python Tests/Goldens/anyres_goldens.py

Writes into Tests/Goldens/anyres/:
  images/*.png               the test images (photo-like content, lossless), sizes chosen for the grid's
                             ties and the float rounding of the fitted size
  views.safetensors          per case "<case>.views" U8 [V, S, S, 3]: the views HF's
                             LlavaNextImageProcessorPil feeds CLIP preprocessing (the base view then the tiles),
                             reconstructed from its pixel_values bit for bit; "<case>.pixel_values" F32
                             [V, 3, S, S] for the small cases; "<case>.image_sizes" I64 [2] (h, w);
                             __metadata__ "<case>" = JSON {"image", "view_size", "pinpoints", "grid": [nph, npw],
                             "canvas": [H*, W*], "fitted": [h', w']}

References: transformers LlavaNextImageProcessorPil, image_processing_utils.select_best_resolution and
get_patch_output_size (float64), Pillow BICUBIC.
"""

import json
import math
import os

import numpy as np
from PIL import Image
from safetensors.numpy import save_file
from transformers import LlavaNextImageProcessorPil
from transformers.image_processing_utils import get_patch_output_size, select_best_resolution
from transformers.image_utils import ChannelDimension

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "anyres")
MEAN = [0.48145466, 0.4578275, 0.40821073]
STD = [0.26862954, 0.26130258, 0.27577711]


def photo(h, w, seed):
    """Photo-like content: smooth gradients, sharp edges and noise, uint8 [h, w, 3]."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:h, 0:w].astype(np.float64)
    img = np.zeros((h, w, 3))
    for c in range(3):
        fx, fy, ph = rng.uniform(0.01, 0.2), rng.uniform(0.01, 0.2), rng.uniform(0, 6.3)
        img[..., c] = 128 + 90 * np.sin(fx * x + fy * y + ph)
    for _ in range(4):  # rectangles with hard edges
        y0, x0 = rng.integers(0, h), rng.integers(0, w)
        img[y0:y0 + rng.integers(1, h + 1), x0:x0 + rng.integers(1, w + 1)] = rng.uniform(0, 255, 3)
    img += rng.normal(0, 12, img.shape)
    return np.clip(np.rint(img), 0, 255).astype(np.uint8)


def default_pinpoints(s):
    return [[s, 2 * s], [2 * s, s], [2 * s, 2 * s], [3 * s, s], [s, 3 * s]]


# (name, height, width, view size, pinpoints or None for the default set scaled to S)
CASES = [
    ("wide-56", 40, 150, 56, None),           # 1×3 grid
    ("tall-56", 170, 50, 56, None),           # 3×1 grid
    ("square-56", 90, 90, 56, None),          # the tie zone: several pinpoints keep the whole image
    ("small-56", 20, 30, 56, None),           # both sides below S
    ("odd-56", 57, 113, 56, None),            # odd padding remainders
    ("custom-42", 61, 200, 42, [[42, 84], [84, 84], [42, 168], [126, 42]]),  # another view size and set
    ("round-336", 300, 300, 336, None),       # 300·(672/300) = 336.00000000000006 → ceil 337 wide
    ("round-76", 76, 19, 336, None),          # 19·(672/76) = 168.00000000000003 → 169
]


def hf_processor(s, pinpoints):
    return LlavaNextImageProcessorPil(
        size={"shortest_edge": s}, crop_size={"height": s, "width": s}, image_grid_pinpoints=pinpoints,
        do_pad=False)


def views_from_pixel_values(pv):
    """Invert rescale + normalise to the uint8 views (exact: each float came from one byte)."""
    out = []
    for v in pv:
        chans = []
        for c in range(3):
            table = ((np.arange(256, dtype=np.float64) * (1 / 255)).astype(np.float32) - np.float32(MEAN[c])) / np.float32(STD[c])
            idx = np.searchsorted(table.astype(np.float32), v[c])
            idx = np.clip(idx, 0, 255)
            assert np.array_equal(table[idx], v[c]), "pixel value not produced by one byte"
            chans.append(idx.astype(np.uint8))
        out.append(np.stack(chans, axis=-1))
    return np.stack(out)


def main():
    os.makedirs(os.path.join(OUT, "images"), exist_ok=True)
    tensors, meta = {}, {}
    for seed, (name, h, w, s, pins) in enumerate(CASES):
        pins = pins or default_pinpoints(s)
        path = os.path.join("images", f"{name}.png")
        Image.fromarray(photo(h, w, 100 + seed)).save(os.path.join(OUT, path))
        image = Image.open(os.path.join(OUT, path)).convert("RGB")
        out = hf_processor(s, pins)(images=image, return_tensors="np")
        pv = out["pixel_values"][0].astype(np.float32)  # [V, 3, S, S]
        best = select_best_resolution((h, w), pins)
        arr = np.asarray(image).transpose(2, 0, 1)
        fitted = get_patch_output_size(arr, best, input_data_format=ChannelDimension.FIRST)
        grid = [best[0] // s, best[1] // s]
        assert pv.shape[0] == 1 + grid[0] * grid[1]
        tensors[f"{name}.views"] = views_from_pixel_values(pv)
        if s <= 56:
            tensors[f"{name}.pixel_values"] = pv
        tensors[f"{name}.image_sizes"] = np.asarray(out["image_sizes"][0], dtype=np.int64)
        meta[name] = json.dumps({"image": path, "view_size": s, "pinpoints": pins, "grid": grid,
                                 "canvas": list(best), "fitted": list(fitted)})
        print(f"{name}: {h}×{w} → canvas {best}, fitted {fitted}, grid {grid}, {pv.shape[0]} views")
    meta["cases"] = json.dumps([c[0] for c in CASES])
    save_file(tensors, os.path.join(OUT, "views.safetensors"), metadata=meta)


if __name__ == "__main__":
    main()
