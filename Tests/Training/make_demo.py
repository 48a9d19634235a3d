#!/usr/bin/env python3
"""Writes the bundled demo scene and the demo projector (seconds; deterministic).

    .venv-ref/bin/python Tests/Training/make_demo.py

writes
    Weights/demo/scene.jpg               a 640 × 400 scene of the demo world (Tests/Training/scenes.py, seed 2024, the
                                         first draw with all four objects and the ball ≥ 27 % of the height):
                                         a red ball with distractors sharing its colour (a red star) or its shape
                                         (a blue ball), and a yellow square
    Weights/demo/scene-mask-<k>.png      each object's coverage of every pixel (0…255), in the first channel
    Weights/demo/scenes.jsonl            the scene directory manifest `trim eval --input` reads
    Weights/projector-demo.safetensors   a random LLaVA mlp2x_gelu projector for clip-demo (128 → 512 → 512,
                                         llava-hf names). There is no language model here, so it stays random.
"""
import json
import os
import sys

import numpy as np
import torch
from PIL import Image
from safetensors.torch import save_file

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import scenes  # noqa: E402

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))


def mask_image(obj, w, h):
    alpha, x0, y0 = scenes._coverage(obj, w, h, 1.0, 0.0, 0.0, 4)
    m = np.zeros((h, w), np.float32)
    m[y0:y0 + alpha.shape[0], x0:x0 + alpha.shape[1]] = alpha
    return Image.fromarray(np.clip(m * 255 + 0.5, 0, 255).astype(np.uint8), "L").convert("RGB")


def main():
    out = os.path.join(ROOT, "Weights", "demo")
    os.makedirs(out, exist_ok=True)
    concepts = [("red", "ball"), ("red", "star"), ("blue", "ball"), ("yellow", "square")]
    rng = np.random.default_rng(2024)
    while True:  # the first draw of this seed with all four objects, the red ball large, and no JPEG pass
        sc = scenes.scene(rng, size=(640, 400), concepts=concepts, jpeg=False)
        if len(sc["objects"]) == 4 and sc["objects"][0]["size"] >= 0.27 * 400:
            break
    image = sc["image"]
    image.save(os.path.join(out, "scene.jpg"), quality=92)
    objects, prompts = [], []
    for k, o in enumerate(sc["objects"]):
        name = f"scene-mask-{k}.png"
        mask_image(o, 640, 400).save(os.path.join(out, name))
        objects.append({"colour": o["colour"], "shape": o["shape"], "mask": name})
        prompts.append({"text": f"Where is the {o['colour']} {o['shape']}?", "object": k})
    with open(os.path.join(out, "scenes.jsonl"), "w") as f:
        f.write(json.dumps({"image": "scene.jpg", "objects": objects, "prompts": prompts}) + "\n")

    torch.manual_seed(14)
    d, h = 128, 512
    l1, l2 = torch.nn.Linear(d, h), torch.nn.Linear(h, h)
    save_file({"multi_modal_projector.linear_1.weight": l1.weight.detach().contiguous(),
               "multi_modal_projector.linear_1.bias": l1.bias.detach().contiguous(),
               "multi_modal_projector.linear_2.weight": l2.weight.detach().contiguous(),
               "multi_modal_projector.linear_2.bias": l2.bias.detach().contiguous()},
              os.path.join(ROOT, "Weights", "projector-demo.safetensors"), metadata={"format": "pt"})
    print("wrote", out, "and Weights/projector-demo.safetensors")


if __name__ == "__main__":
    main()
