#!/usr/bin/env python3
"""Writes the bundled high-resolution demo scene, Weights/demo-hires/ (seconds; deterministic; standard library only).

    python3 Tests/Training/make_demo_hires.py [path/to/trim]      # default: swift run -c release trim

The scene is drawn by the evaluation's own renderer (`SceneGenerator.highResolutionScene`, Docs/EVAL.md), through
`trim eval --anyres --scenes 1 --seed 2049 --write-scenes`: seed 2049 is the first from 2024 whose scene is wide
(at least 2.5 : 1, so LLaVA-NeXT cuts it into 1 × 3 tiles), holds at least four objects among them a red ball
(the demo's prompt), and has a background without noise (so its PNG stays small). It is 1031 × 373 with six
objects 16–48 px across: a blue ball, a black ball, a green triangle, a blue square, a red ball, a black square.

writes, in the format of Weights/demo/ (a scene directory `trim eval --input` reads):
    Weights/demo-hires/scene.png             the picture, lossless (the renderer's pixels)
    Weights/demo-hires/scene-mask-<k>.png    each object's coverage of every pixel (0…255), in the first channel
    Weights/demo-hires/scenes.jsonl          the manifest, one prompt per object: "Where is the <colour> <shape>?"
"""
import json
import os
import shutil
import subprocess
import sys
import tempfile

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
SEED = 2049


def main():
    trim = sys.argv[1:] or ["swift", "run", "--package-path", ROOT, "-c", "release", "trim"]
    out = os.path.join(ROOT, "Weights", "demo-hires")
    with tempfile.TemporaryDirectory() as tmp:
        subprocess.run(trim + ["eval", "--anyres", "--scenes", "1", "--seed", str(SEED), "--write-scenes", tmp,
                               "--quiet", "--json"], check=True, stdout=subprocess.DEVNULL)
        with open(os.path.join(tmp, "scenes.jsonl")) as f:
            scene = json.loads(f.readline())
        objects = scene["objects"]
        assert len(objects) >= 4 and any(o["colour"] == "red" and o["shape"] == "ball" for o in objects), objects
        os.makedirs(out, exist_ok=True)
        shutil.copyfile(os.path.join(tmp, scene["image"]), os.path.join(out, "scene.png"))
        manifest = {"image": "scene.png", "objects": [], "prompts": []}
        for k, o in enumerate(objects):
            name = f"scene-mask-{k}.png"
            shutil.copyfile(os.path.join(tmp, o["mask"]), os.path.join(out, name))
            manifest["objects"].append({"colour": o["colour"], "shape": o["shape"], "mask": name})
            manifest["prompts"].append({"text": f"Where is the {o['colour']} {o['shape']}?", "object": k})
    with open(os.path.join(out, "scenes.jsonl"), "w") as f:
        f.write(json.dumps(manifest) + "\n")
    print("wrote", os.path.relpath(out, ROOT), f"({len(objects)} objects)")


if __name__ == "__main__":
    main()
