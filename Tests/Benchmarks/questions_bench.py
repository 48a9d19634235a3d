#!/usr/bin/env python3
"""Eight questions about one image: `trim reduce` with eight `--prompt`s (one vision pass, eight
text passes) against the authors' pipeline answering the same eight (which reruns the vision tower for each),
side by side in one invocation, rounds alternated. Both with the model already loaded; the Swift side's time is
the sum of its reported stages (decode, preprocess, vision, and per prompt text, scores, projector), the
PyTorch side's the wall time of eight `bench.authors_trim` calls (each decodes, preprocesses and runs the
24-layer tower, as LLaVA's evaluation loop does). Also checks that the eight results equal eight separate runs.

    .venv-ref/bin/python Tests/Benchmarks/questions_bench.py --model full-vitl-s61 --rounds 3
"""
import argparse
import json
import os
import subprocess
import sys
import time

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import bench  # noqa: E402

QUESTIONS = ["Where is the red ball?", "What is written on the sign?", "Is there a house in the picture?",
             "What colour is the sky?", "How many trees are there?", "Describe the image in detail.",
             "Is the sun visible?", "What is next to the house?"]


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", required=True)
    ap.add_argument("--rounds", type=int, default=3)
    a = ap.parse_args()
    proj = bench.ensure_projector(a.model)
    model, project = bench.load_torch(a.model, proj)
    proc = bench.processor_for(a.model, model.config.vision_config.image_size)
    tok = bench.tokenizer_for(a.model)
    args = ["reduce", "--model", a.model, "--projector", proj, "--image", bench.IMAGE, "--json"]
    args += [x for q in QUESTIONS for x in ("--prompt", q)]
    swift, torch_t = [], []
    print(bench.uptime())
    for r in range(a.rounds):
        out = subprocess.run([bench.TRIM] + args, capture_output=True, text=True, check=True).stdout
        lines = [json.loads(l) for l in out.splitlines()]
        swift.append(sum(sum(l["timings_s"].values()) for l in lines))
        t0 = time.perf_counter()
        for q in QUESTIONS:
            bench.authors_trim(model, proc, tok, project, bench.IMAGE, q)
        torch_t.append(time.perf_counter() - t0)
        print(f"round {r + 1}: swift {swift[-1]:.2f} s, pytorch {torch_t[-1]:.2f} s, ratio {swift[-1] / torch_t[-1]:.3f}",
              flush=True)
    # The eight results equal eight separate runs.
    same = True
    for q, l in zip(QUESTIONS, lines):
        one = json.loads(subprocess.run([bench.TRIM, "reduce", "--model", a.model, "--projector", proj, "--image",
                                         bench.IMAGE, "--prompt", q, "--json"], capture_output=True, text=True,
                                        check=True).stdout)
        same &= one["kept_indices"] == l["kept_indices"] and one["tokens"] == l["tokens"]
    print(f"median: swift {np.median(swift):.2f} s, pytorch {np.median(torch_t):.2f} s, "
          f"ratio {np.median(swift) / np.median(torch_t):.3f} (per-round median "
          f"{np.median(np.array(swift) / np.array(torch_t)):.3f}); eight separate runs identical: {same}")
    print(bench.uptime())


if __name__ == "__main__":
    main()
