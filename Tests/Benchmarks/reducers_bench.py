#!/usr/bin/env python3
"""FasterVLM, VisionZip, VisPruner, DivPrune and CDPruner: `trim bench --method all` versus the PyTorch ports of
Tests/Goldens/reducers_goldens.py, in one invocation, rounds interleaved. Run from the repository root:

    .venv-ref/bin/python Tests/Benchmarks/reducers_bench.py --model full-vitl-s11 \
        --projector full-vitl-s11/projector.safetensors [--image Weights/demo-image.jpg] [--keep 64]
        [--rounds 3] [--runs 3] [--trim .build/release/trim] [--json FILE]

Each round: (i) `trim bench --model M --projector P --image IMG --prompt LONG --method all --keep T --runs R
--json` in a subprocess (its own warm-up run, then R runs; per run: a plain encode and a capturing encode in
alternating order, then each method on the capturing one), (ii) the PyTorch side, R timed runs of each item
after a warm-up, torch.set_num_threads(2), fp32, no grad:
  * vision forward, 336 px pixel_values → hidden states (all 24 layers, output_hidden_states=True):
    sdpa without attentions (transformers' default), eager without attentions, eager with
    output_attentions=True plus the k_proj hook that keeps VisionZip's head-mean keys (= the ports'
    `vision_forward`);
  * each port function at T on that forward's captured float32 tensors (x = hidden_states[-2][1:], its
    attention row, the keys), the projector included:
      fastervlm(x, A, T)                             + projector on the T kept rows
      visionzip(hidden, attn, metric, D, C)          + projector on the D + C rows (D, C = 54, 10 at T = 64)
      vispruner(x, A, T, 0.5)                        + projector on the T kept rows
      divprune(projector(x) on all N rows, T)        — the all-rows projector included
      cdpruner: projector on all N rows, image_embeds = visual_projection(post_layernorm(x)), the text tower on
                the prompt's 77-token segments (text_embeds_for), cdpruner(X, E, text, T, "authors")
    The ports also compute each choice's margin (`gap`, bookkeeping for the goldens' manifest, not part of
    the methods): timed both as they are and with topk_gap / argmax_gap stubbed out ("no gaps").
Swift per method = `method_median_s` (its text, scoring, selection, projector on its rows, plus the attention
capture stage for the attention-based methods) and, for DivPrune and CDPruner, plus the shared
`projector (all rows)` stage, so that both sides include the same projector work. Its vision pass (plain, 23
layers: LLaVA's hidden_states[-2] needs no 24th) is `shared_median_s.vision`; PyTorch's is the sdpa forward
without attentions (24 layers, as the released towers run). Medians over all runs of all rounds.
CDPruner is reported twice. `trim bench` caches text embeddings per prompt, so with --runs ≥ 3 its CDPruner
time is the cached one (text tower skipped); it is compared with the PyTorch port given precomputed text
embeddings ("cached"). With the text tower: Swift = `trim reduce --method cdpruner` on one vision pass with
five distinct prompts of LONG's length (last word changed; the first reduce dropped as warm-up), stages
`text segments` + `scores`, plus `projector (all rows)`; PyTorch = the cdpruner item above.
The machine is shared: `uptime` is printed before and after; compare ratios.
"""
import argparse
import json
import os
import statistics
import subprocess
import sys
import time

import torch
from PIL import Image
from transformers import CLIPModel

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
sys.path.insert(0, os.path.join(ROOT, "Tests", "Goldens"))
import reducers_goldens as rg  # noqa: E402
from image_goldens import expand2square  # noqa: E402
from trim_goldens import load_projector, processor_for, tokenizer_for  # noqa: E402

LONG = ("<image>\nPlease write a careful inventory of this picture: "
        + "".join(f"item {i}: say where it sits, what it is made of, and whether it casts a shadow; " for i in range(12))
        + "finally summarise the lighting.")
METHODS = ["fastervlm", "visionzip", "vispruner", "divprune", "cdpruner"]
# `trim bench` runs each method once per timed run on one prompt, and the pipeline caches text embeddings per
# prompt: from its second timed run on, CDPruner's text tower is a cache hit (its `method_median_s` with
# --runs ≥ 3 is the cached cost). The uncached cost is measured with `trim reduce --method cdpruner` on one
# vision pass and distinct prompts of the same length (LONG with its last word changed), first one dropped.
VARIANTS = ["lighting.", "colours.", "shadows.", "layout.", "textures."]


def timed(fn):
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", required=True)
    ap.add_argument("--projector", required=True)
    ap.add_argument("--image", default=os.path.join(ROOT, "Weights", "demo-image.jpg"))
    ap.add_argument("--prompt", default=LONG)
    ap.add_argument("--keep", type=int, default=64)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--trim", default=os.path.join(ROOT, ".build", "release", "trim"))
    ap.add_argument("--json")
    a = ap.parse_args()
    torch.set_num_threads(2)
    print("uptime:", subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip())

    full = CLIPModel.from_pretrained(a.model, dtype=torch.float32, attn_implementation="eager").eval()
    vm = full.vision_model
    proc = processor_for(a.model, full.config.vision_config.image_size)
    tok = tokenizer_for(a.model)
    project = load_projector(a.projector)
    pad = tuple(int(x * 255) for x in proc.image_mean)
    px = proc(images=expand2square(Image.open(a.image).convert("RGB"), pad), return_tensors="pt")["pixel_values"]
    T = a.keep
    D, C = rg.vz_split(T)

    def set_attn(impl):
        full.set_attn_implementation(impl)

    with torch.no_grad():
        hidden, attn, metric = rg.vision_forward(vm, px)  # eager, as the goldens
    x = hidden[:, 1:]
    A = attn[:, :, 0, 1:]

    def port_calls():
        def fastervlm():
            kept = rg.fastervlm(x, A, T)[0]
            project(x[0][kept])

        def visionzip():
            rows = rg.visionzip(hidden, attn, metric, D, C)[0]
            project(rows)

        def vispruner():
            kept = rg.vispruner(x, A, T, 0.5)[0]
            project(x[0][kept])

        def divprune():
            rg.divprune(project(x[0]), T)

        def cdpruner():
            X = project(x[0])
            E = full.visual_projection(vm.post_layernorm(x))
            _, text = rg.text_embeds_for(full, tok, a.prompt)
            rg.cdpruner(X[None], E, text, T, "authors")

        _, cached_text = rg.text_embeds_for(full, tok, a.prompt)

        def cdpruner_cached():  # the text embeddings computed beforehand (as Swift's prompt cache)
            X = project(x[0])
            E = full.visual_projection(vm.post_layernorm(x))
            rg.cdpruner(X[None], E, cached_text, T, "authors")

        def text_tower():
            rg.text_embeds_for(full, tok, a.prompt)
        return dict(fastervlm=fastervlm, visionzip=visionzip, vispruner=vispruner, divprune=divprune, cdpruner=cdpruner,
                    cdpruner_cached=cdpruner_cached, text_tower=text_tower)

    calls = port_calls()
    real_gaps = (rg.topk_gap, rg.argmax_gap)

    def gaps(on):
        rg.topk_gap, rg.argmax_gap = real_gaps if on else (lambda *_, **__: None, lambda *_, **__: None)

    def forward(impl, attentions):
        set_attn(impl)
        if attentions:
            return lambda: rg.vision_forward(vm, px)
        return lambda: vm(pixel_values=px, output_hidden_states=True)

    py = {}
    sw = {}
    swift_args = [a.trim, "bench", "--model", a.model, "--projector", a.projector, "--image", a.image,
                  "--prompt", a.prompt, "--method", "all", "--keep", str(T), "--runs", str(a.runs), "--json"]
    print("swift:", " ".join("PROMPT" if v == a.prompt else v for v in swift_args))
    for rnd in range(a.rounds):
        # (i) Swift
        r = subprocess.run(swift_args, capture_output=True, text=True, check=True)
        j = json.loads(r.stdout.strip().splitlines()[-1])
        for k, v in j["shared_median_s"].items():
            sw.setdefault(k, []).append(v)
        for k, v in j["method_median_s"].items():
            sw.setdefault(k, []).append(v)
        # (i') Swift CDPruner with its text tower (no cache hits): one vision pass, a distinct prompt per reduce
        vargs = [a.trim, "reduce", "--model", a.model, "--projector", a.projector, "--image", a.image,
                 "--method", "cdpruner", "--keep", str(T), "--json"]
        for v in VARIANTS:
            vargs += ["--prompt", a.prompt.rsplit(" ", 1)[0] + " " + v]
        r = subprocess.run(vargs, capture_output=True, text=True, check=True)
        for n, line in enumerate(r.stdout.strip().splitlines()):
            t = json.loads(line)["timings_s"]
            if n == 0:
                sw.setdefault("cdpruner reduce: prompt tokens", []).append(len(json.loads(line)["input_ids"]))
                continue  # the first reduce of the process: warm-up
            sw.setdefault("cdpruner text segments (uncached)", []).append(t["text segments"])
            sw.setdefault("cdpruner scores (uncached)", []).append(t["scores"])
            sw.setdefault("cdpruner own (uncached)", []).append(t["text segments"] + t["scores"])
        # (ii) PyTorch
        with torch.no_grad():
            items = [("vision sdpa", forward("sdpa", False)), ("vision eager", forward("eager", False)),
                     ("vision eager + attentions", forward("eager", True))]
            for name, fn in items:
                if name.startswith("vision"):
                    set_attn(name.split()[1])
                fn()  # warm-up
                for _ in range(a.runs):
                    py.setdefault(name, []).append(timed(fn))
            set_attn("eager")
            for on in (True, False):
                gaps(on)
                for m in METHODS + (["cdpruner_cached", "text_tower"] if not on else []):
                    calls[m]()  # warm-up
                    for _ in range(a.runs):
                        py.setdefault(m + ("" if on else " (no gaps)"), []).append(timed(calls[m]))
            gaps(True)
        print(f"round {rnd + 1}: swift vision {j['shared_median_s']['vision'] * 1e3:.0f} ms, "
              f"pytorch sdpa {statistics.median(py['vision sdpa'][-a.runs:]) * 1e3:.0f} ms")

    med = lambda xs: statistics.median(xs)
    swv, pyv = med(sw["vision"]), med(py["vision sdpa"])
    print("uptime:", subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip())
    print(f"\nvision pass: swift {swv * 1e3:.0f} ms (23 layers); pytorch sdpa {pyv * 1e3:.0f} ms, eager "
          f"{med(py['vision eager']) * 1e3:.0f} ms (24 layers)")
    cap_sw = med(sw["vision (capturing)"]) - swv
    print(f"capture: swift vision capturing {med(sw['vision (capturing)']) * 1e3:.0f} ms (+{cap_sw * 1e3:.1f} ms; "
          f"'attention capture' stage {med(sw.get('attention capture', [0])) * 1e3:.1f} ms, "
          f"'projector (all rows)' {med(sw.get('projector (all rows)', [0])) * 1e3:.1f} ms); "
          f"pytorch eager + attentions {med(py['vision eager + attentions']) * 1e3:.0f} ms "
          f"(+{(med(py['vision eager + attentions']) - med(py['vision eager'])) * 1e3:.1f} ms vs eager, "
          f"+{(med(py['vision eager + attentions']) - pyv) * 1e3:.1f} ms vs sdpa)")
    print(f"\nT = {T}: method | swift ms | pytorch ms (no gaps) | pytorch ms (as is) | pytorch/swift | swift % vision | pytorch % vision")
    rows = {}
    proj_all = med(sw.get("projector (all rows)", [0]))
    for m in METHODS:
        s = med(sw[m]) + (proj_all if m in ("divprune", "cdpruner") else 0)
        p, p_as_is = med(py[m + " (no gaps)"]), med(py[m])
        rows[m] = dict(swift_ms=s * 1e3, pytorch_ms=p * 1e3, pytorch_as_is_ms=p_as_is * 1e3, ratio=p / s,
                       swift_pct_vision=100 * s / swv, pytorch_pct_vision=100 * p / pyv)
        print(f"| {m} | {s * 1e3:.1f} | {p * 1e3:.1f} | {p_as_is * 1e3:.1f} | {p / s:.1f}× | {100 * s / swv:.2f} % | {100 * p / pyv:.2f} % |")
    s = med(sw["cdpruner own (uncached)"]) + proj_all
    p = med(py["cdpruner (no gaps)"])
    rows["cdpruner with text"] = dict(swift_ms=s * 1e3, pytorch_ms=p * 1e3, ratio=p / s)
    print(f"| cdpruner, text tower run (Swift: trim reduce, distinct prompts) | {s * 1e3:.1f} | {p * 1e3:.1f} | "
          f"| {p / s:.1f}× | {100 * s / swv:.2f} % | {100 * p / pyv:.2f} % |")
    s = med(sw["cdpruner"]) + proj_all
    p = med(py["cdpruner_cached (no gaps)"])
    rows["cdpruner text cached"] = dict(swift_ms=s * 1e3, pytorch_ms=p * 1e3, ratio=p / s)
    print(f"| cdpruner, text embeddings cached (Swift: trim bench) | {s * 1e3:.1f} | {p * 1e3:.1f} | "
          f"| {p / s:.1f}× | {100 * s / swv:.2f} % | {100 * p / pyv:.2f} % |")
    print(f"text tower alone: swift {med(sw['cdpruner text segments (uncached)']) * 1e3:.1f} ms "
          f"(up to each segment's pooled row), pytorch {med(py['text_tower (no gaps)']) * 1e3:.1f} ms (4 × 77 tokens); "
          f"swift cdpruner 'scores' stage (image_tokens, relevance, DPP) {med(sw['cdpruner scores (uncached)']) * 1e3:.1f} ms; "
          f"prompt tokens {sw['cdpruner reduce: prompt tokens'][0]}")
    if a.json:
        with open(a.json, "w") as f:
            json.dump(dict(swift=sw, pytorch=py, rows=rows), f, indent=1)


if __name__ == "__main__":
    main()
