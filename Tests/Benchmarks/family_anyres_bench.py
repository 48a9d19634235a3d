#!/usr/bin/env python3
"""Each reducer's own cost on LLaVA-NeXT any-resolution input, beyond the vision pass of its views, side by side:
`trim bench --anyres --method all` versus PyTorch ports of the same released LLaVA-1.6 code paths
(Tests/Goldens/family_next_ports.py), fp32 on the CPU, at full ViT-L/14-336 size.

Run from the repository root (reference venv of Docs/SEMANTICS.md §4):

    .venv-ref/bin/python Tests/Benchmarks/family_anyres_bench.py [--runs 1] [--rounds 2] [--keep 64] [--no-build]
    .venv-ref/bin/python Tests/Benchmarks/family_anyres_bench.py --tiny --no-build     (seconds: the committed
        tiny LLaVA-NeXT, Tests/Goldens/next/llava-next-hf as --projector and Tests/Goldens/next/clip-next as
        --model, budget N//4 unless --keep is given)

Models (full size): anyres_bench.py's, built once in the system temp dir and reused (`--work`): a random CLIP
ViT-L/14-336 (`--model`, text tower and visual_projection) and a llava-hf LLaVA-NeXT checkpoint whose tower has
ViT-L/14-336's shape, a random projector 1024 → 4096 → 4096 and image_newline (`--projector`). PyTorch loads the
NeXT checkpoint as LlavaNextForConditionalGeneration with eager attention (as the ports require). Image:
Weights/demo-image.jpg (640×480: a base view and 2×2 tiles, 5 views, under every view rule), prompt "Where is the
red ball?". Budget K per view (default 64), as `--method all --keep K` gives it: FasterVLM, VisPruner, CDPruner K
rows per view; VisionZip D + C = round(27K/32) + the rest per view; DivPrune K rows of the whole packed sequence
(`trim bench` hands DivPrune the whole --keep, not its default ratio; the port is given keep=K likewise); the
random control K − 1 patches + the mean token per view; TRIM and PruMerge(+) adaptive (IQR); HiRED rate 0.2,
α 0.5; GlobalCom2 r = 0.25. Every method on the views its release cuts (`--views released`): hf (trim,
prumerge, prumerge+, random), fastervlm, original (visionzip, divprune, globalcom2), fixed 2S×2S (vispruner,
cdpruner), hired.

What is timed, per method:
  * Swift: `trim bench --model CLIP --projector NEXT --anyres --method all --keep K --runs R --json --image IMG
    --prompt P` (Sources/trim/BenchCommand.swift `methodBench`): per view rule, each run encodes the views twice
    in alternating order (plain; capturing the rule's methods' needs), then runs each method on the capturing
    encoding. Own time (`method_median_s`) = the method's prompt stages (the text tower, its prompt cache cleared
    first: TRIM's `text`, CDPruner's `text segments`) + its scoring / selection / packing (with `image_tokens`
    where used) + the projector on the rows it hands on + the pass stages computed for it alone: `attention
    capture` (the [CLS] attention rows and head-mean keys read out of the selected layer's q|k|v during the
    pass, and HiRED's layer-0 [CLS] attention out of layer 0's), `next-layer q/k` (PruMerge: layer L−1's
    layer_norm1 and q/k projections), `next-layer logits` (GlobalCom2: the same plus the [CLS] logits).
    Not counted: `projector (all rows)` (DivPrune's and CDPruner's input; LLaVA projects every row anyway), so
    their handed-on rows are gathered from it. Vision pass = `vision [rule]`, the plain pass, 23 layers
    (hidden_states[-2] needs no 24th). Median of R runs after one warm-up run, in its own process.
  * PyTorch (this process; torch's default threads; no grad): per view rule and run, the views (the ports'
    `build_views`, untimed) through `vision_tower` in one batch, 24 layers as transformers runs them, twice in
    alternating order: plain (`output_hidden_states=True`) and capturing (also `output_attentions=True` when a
    method of the rule reads attention probabilities — FasterVLM, VisionZip, VisPruner, HiRED — and forward hooks
    that keep layer L−2's k_proj and layer L−1's q_proj / k_proj outputs, as the ports' `encode` does). Then,
    for DivPrune's and CDPruner's rules, the projector on every row (timed apart, not counted, as Swift). Then
    each method's own time on the capturing pass's outputs: what the ports' `encode` derives for that method
    alone (VisionZip's head-mean keys from the hooked k_proj; GlobalCom2's [CLS] logits from the hooked q/k;
    CDPruner's image_tokens = visual_projection(post_layernorm(features)); attention rows are views of the
    returned tensors), the text tower (the ports' text cache cleared: CDPruner's untruncated segments), and the
    port's released-mode function (`port_fastervlm`, … with the views and that encoding handed in): scoring,
    selection, packing, and `finish` = the projector on the handed-on rows with image_newline rows inserted —
    for DivPrune and CDPruner the handed-on rows gathered from the all-rows projection instead of projected
    again (the releases hand on the rows they selected among, as Swift does). The ports' choice margins (`gap`:
    topk_gap, argmax_gap, order_gap, bookkeeping for the goldens) are stubbed out. TRIM and the random control
    have no port: TRIM's any-resolution path as anyres_bench.py times it (image_tokens, the text tower with 77-
    token truncation, paper scoring, numpy IQR per view, mean tokens, HF packing with newline rows, projector on
    the kept rows), the random control the same with `trim`'s SplitMix64 sample (the same patches). Vision pass
    = the forward as the port needs it: the capturing pass for the four attention-reading methods (transformers
    can only return every layer's attentions: that cost sits in PyTorch's vision pass, whereas Swift's
    `attention capture` sits in its own time), the plain pass for the others (the hooks cost nothing).
    Median of R runs; one untimed warm-up run before the first round.
Rounds interleave (PyTorch, Swift, PyTorch, …); per round each side's median over its R runs; Swift/PyTorch and
each side's own time ÷ its vision pass per round; the table shows medians over rounds.
Before timing, the two sides are checked to compute the same thing: `trim reduce --anyres --method all --keep K
--json` against the warm-up outputs — grid, rows handed to the LLM and kept (view, patch) list per method
(a differing kept list is printed; at full size random weights can leave near-ties).
The machine may be shared: `uptime` is printed before and after; compare ratios.
"""
import argparse
import datetime
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
sys.path.insert(0, os.path.join(ROOT, "Tests", "Benchmarks"))
sys.path.insert(0, os.path.join(ROOT, "Tests", "Goldens"))
import anyres_bench  # noqa: E402
import bench  # noqa: E402
import family_next_ports as fnp  # noqa: E402
import reducers_goldens as rg  # noqa: E402

# `--method all` at any resolution, in catalog order, and the view rule each release cuts.
METHODS = ["trim", "prumerge", "prumerge+", "fastervlm", "visionzip", "vispruner", "divprune", "cdpruner", "hired",
           "globalcom2", "random"]
RULE = {"trim": "hf", "prumerge": "hf", "prumerge+": "hf", "random": "hf", "fastervlm": "fastervlm",
        "visionzip": "original", "divprune": "original", "globalcom2": "original", "vispruner": "fixed",
        "cdpruner": "fixed", "hired": "hired"}
RULES = list(dict.fromkeys(RULE[m] for m in METHODS))           # first-use order, as trim bench
ATTENTION = {"fastervlm", "visionzip", "vispruner", "hired"}    # read attention probabilities
ALL_ROWS = {"divprune", "cdpruner"}                             # choose among the projector's rows
# The ports' view rule of a method (canvas_for): one representative per rule.
REPRESENTATIVE = {"hf": "prumerge", "fastervlm": "fastervlm", "original": "visionzip", "fixed": "vispruner",
                  "hired": "hired"}
TINY_CLIP = os.path.join(ROOT, "Tests", "Goldens", "next", "clip-next")
TINY_NEXT = os.path.join(ROOT, "Tests", "Goldens", "next", "llava-next-hf")


# ================================================================================================ models
def load_context(clip_dir, next_dir):
    from transformers import CLIPModel, LlavaNextForConditionalGeneration
    clip = CLIPModel.from_pretrained(clip_dir, dtype=torch.float32).eval()
    nxt, info = LlavaNextForConditionalGeneration.from_pretrained(next_dir, dtype=torch.float32, attn_implementation="eager",
                                                                  output_loading_info=True)
    missing = [k for k in info["missing_keys"] if "language_model" not in k and "lm_head" not in k]
    assert not missing, missing   # the image side is the checkpoint's (the language model is not used)
    nxt.eval()
    return fnp.Context(nxt, clip, bench.tokenizer_for(clip_dir))


# ============================================================================================ the passes
@torch.no_grad()
def vision_pass(ctx, pv, attentions, hooks):
    """vision_tower on the views in one batch, all layers, hidden states; with `hooks` the outputs of layer L−2's
    k_proj and layer L−1's q_proj / k_proj are kept (as the ports' encode)."""
    layers = ctx.tower.encoder.layers
    L = len(layers)
    cap, handles = {}, []
    if hooks:
        for name, i in (("k", L - 2), ("q", L - 1), ("k", L - 1)):
            proj = getattr(layers[i].self_attn, name + "_proj")
            handles.append(proj.register_forward_hook(lambda m, a, o, key=(name, i): cap.__setitem__(key, o)))
    try:
        out = ctx.tower(pixel_values=pv, output_hidden_states=True, output_attentions=attentions)
    finally:
        for h in handles:
            h.remove()
    return dict(hidden=out.hidden_states[-2], attentions=out.attentions, cap=cap)


def derive(ctx, method, passed, projected):
    """The part of the ports' `encode` (family_next_ports.py) that `method` uses, from the capturing pass."""
    h = passed["hidden"]
    enc = dict(hidden=h, features=h[:, 1:])
    L, att, cap = ctx.layers, passed["attentions"], passed["cap"]
    V, n1, D = h.shape
    hd = D // ctx.heads
    if method in ATTENTION:
        enc["A_sel"] = att[L - 2]
    if method == "hired":
        enc["A0"] = att[0]
    if method == "visionzip":
        enc["metric"] = cap[("k", L - 2)].view(V, n1, ctx.heads, hd).transpose(1, 2).contiguous().mean(1)
    if method in ("prumerge", "prumerge+", "globalcom2"):
        enc["q_last"], enc["k_last"] = cap[("q", L - 1)], cap[("k", L - 1)]
    if method == "globalcom2":
        qh = (enc["q_last"] * hd ** -0.5).view(V, n1, ctx.heads, hd).transpose(1, 2)
        kh = enc["k_last"].view(V, n1, ctx.heads, hd).transpose(1, 2)
        enc["logits"] = torch.matmul(qh, kh.transpose(2, 3)).mean(1)[:, 0, 1:]
    if method == "cdpruner":
        enc["tokens"] = ctx.clip.visual_projection(ctx.tower.post_layernorm(enc["features"]))
    if method in ALL_ROWS:
        enc["projected"] = projected
    return enc


@torch.no_grad()
def finish_gathered(ctx, method, mode, entries, *, pv, grid, canvas, hw, enc, signals, gap, notes, dropped=0, **info):
    """The ports' `finish`, the handed-on rows gathered from the all-rows projection (DivPrune, CDPruner)."""
    o = fnp.Output()
    o.method, o.mode, o.grid, o.canvas, o.views = method, mode, grid, canvas, pv.shape[0]
    o.pixel_values, o.image_sizes, o.features = pv, hw, enc["features"]
    o.token_map = [(e[0], e[1]) if e is not fnp.NEWLINE else fnp.NEWLINE for e in entries]
    assert all(e is fnp.NEWLINE or e[1] >= 0 for e in entries)
    rows = [e[2] for e in entries if e is not fnp.NEWLINE]
    o.reduced = torch.stack(rows) if rows else torch.zeros(0, enc["features"].shape[-1])
    P = enc["projected"]
    o.projected = torch.stack([ctx.newline if e is fnp.NEWLINE else P[e[0], e[1]] for e in entries])
    o.kept = [t for t in o.token_map if t[1] >= 0]
    o.signals, o.gap, o.notes, o.dropped, o.info = signals, gap, notes, dropped, info
    return o


MASK = (1 << 64) - 1


def splitmix_sample(k, n, seed=0):
    """RandomSelection.sample (Sources/TRIM/Reducers/RandomSelection.swift): k of n, ascending."""
    state = (seed + 0x9E3779B97F4A7C15) & MASK
    order = list(range(n))
    for i in range(min(max(k, 0), n)):
        state = (state + 0x9E3779B97F4A7C15) & MASK
        z = state
        z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & MASK
        z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & MASK
        z ^= z >> 31
        j = i + z % (n - i)
        order[i], order[j] = order[j], order[i]
    return sorted(order[:min(max(k, 0), n)])


def per_view_mean(ctx, enc, grid, hw, kept):
    """Kept patches + the mean of the rest per view, HF packing with a newline after every unpadded grid row
    (Docs/SEMANTICS.md §5.5), the projector on the rows (the ports' finish)."""
    f = enc["features"]
    V, n, d = f.shape
    views = []
    for v in range(V):
        mask = torch.ones(n, dtype=torch.bool)
        mask[list(kept[v])] = False
        mean = f[v][mask].mean(0) if mask.any() else torch.zeros(d)
        views.append(fnp.ViewRows([(p, f[v, p]) for p in sorted(kept[v])], [mean]))
    g, (nph, npw) = ctx.g, grid
    entries, dropped = fnp.pack_grid(ctx, views, grid, fnp.unpad_hf(hw[0], hw[1], nph * g, npw * g), "all", "ascending")
    return entries, dropped


def trim_own(ctx, enc, grid, hw, prompt):
    """TRIM on every view (anyres_bench.py's torch_request after its vision pass)."""
    f = enc["features"]
    tokens = ctx.clip.visual_projection(ctx.tower.post_layernorm(f))
    ids = ctx.tok(prompt, truncation=True, max_length=ctx.clip.config.text_config.max_position_embeddings)["input_ids"]
    t = ctx.clip.get_text_features(input_ids=torch.tensor([ids]))
    t = (t.pooler_output if hasattr(t, "pooler_output") else t)[0]
    scores = F.softmax(F.normalize(tokens, dim=-1) @ F.normalize(t, dim=-1), dim=-1).numpy()  # [V, N]
    kept = []
    for s in scores:
        q1, q3 = np.percentile(s, 25), np.percentile(s, 75)
        kept.append(np.where(s > q3 + np.float32(1.5) * (q3 - q1))[0].tolist())
    entries, dropped = per_view_mean(ctx, enc, grid, hw, kept)
    return fnp.finish(ctx, "trim", "released", entries, pv=enc["pv"], grid=grid, canvas=None, hw=hw, enc=enc,
                      signals={}, gap=None, notes=[], dropped=dropped)


def random_own(ctx, enc, grid, hw, keep):
    V, n, _ = enc["features"].shape
    kept = [splitmix_sample(keep - 1, n) for _ in range(V)]
    entries, dropped = per_view_mean(ctx, enc, grid, hw, kept)
    return fnp.finish(ctx, "random", "released", entries, pv=enc["pv"], grid=grid, canvas=None, hw=hw, enc=enc,
                      signals={}, gap=None, notes=[], dropped=dropped)


class TorchSide:
    """The ports on precomputed views and passes; `own(method)` is one method's own work, timed."""

    def __init__(self, ctx, image_path, prompt, keep):
        self.ctx, self.prompt, self.keep = ctx, prompt, keep
        image = Image.open(image_path).convert("RGB")
        w, h = image.size
        self.hw = (h, w)
        self.views = {}
        for rule in RULES:
            canvas, kind = fnp.canvas_for(ctx, REPRESENTATIVE[rule], "released", h, w)
            pv, grid = fnp.build_views(ctx, image, canvas, kind)
            self.views[rule] = (pv, grid, canvas)
        self.dominant, self.contextual = rg.vz_split(keep)
        real = (rg.topk_gap, rg.argmax_gap, rg.order_gap)
        none = lambda *_, **__: None  # noqa: E731
        rg.topk_gap, rg.argmax_gap, rg.order_gap = none, none, none   # the goldens' margins: not the methods'
        self._real_gaps = real
        self.current = None
        fnp._views_for = lambda ctx_, method, mode, image_: self.current

    @torch.no_grad()
    def own(self, method, passed, projected):
        """One method on a capturing pass: (seconds, output)."""
        ctx, (pv, grid, canvas) = self.ctx, self.views[RULE[method]]
        ctx._text.clear()   # the text tower is timed, not a cache hit (as trim bench clears its prompt caches)
        t0 = time.perf_counter()
        enc = derive(ctx, method, passed, projected)
        self.current = (pv, grid, canvas, self.hw, enc)
        if method == "trim":
            out = trim_own(ctx, dict(enc, pv=pv), grid, self.hw, self.prompt)
        elif method == "random":
            out = random_own(ctx, dict(enc, pv=pv), grid, self.hw, self.keep)
        elif method in ("prumerge", "prumerge+"):
            out = fnp.port_prumerge(ctx, None, "released", plus=method == "prumerge+")
        elif method == "fastervlm":
            out = fnp.port_fastervlm(ctx, None, "released", self.keep)
        elif method == "visionzip":
            out = fnp.port_visionzip(ctx, None, "released", self.dominant, self.contextual)
        elif method == "vispruner":
            out = fnp.port_vispruner(ctx, None, "released", self.keep, 0.5)
        elif method in ALL_ROWS:
            real = fnp.finish
            fnp.finish = finish_gathered
            try:
                out = (fnp.port_divprune(ctx, None, "released", keep=self.keep) if method == "divprune"
                       else fnp.port_cdpruner(ctx, None, "released", self.keep, self.prompt, "authors"))
            finally:
                fnp.finish = real
        elif method == "hired":
            out = fnp.port_hired(ctx, None, "released", 0.2, 0.5)
        elif method == "globalcom2":
            out = fnp.port_globalcom2(ctx, None, "released", 0.25)
        else:
            raise ValueError(method)
        return time.perf_counter() - t0, out

    @torch.no_grad()
    def run(self, runs, warmup=False):
        """runs × (per rule: plain and capturing pass in alternating order, the all-rows projector where needed,
        each method); medians per item, or with `warmup` the outputs of one untimed run."""
        samples, outputs = {}, {}
        for r in range(runs):
            for rule in RULES:
                pv = self.views[rule][0]
                group = [m for m in METHODS if RULE[m] == rule]
                attn = any(m in ATTENTION for m in group)
                passed = None
                for capture in ([False, True] if r % 2 == 0 else [True, False]):
                    t0 = time.perf_counter()
                    out = vision_pass(self.ctx, pv, attentions=capture and attn, hooks=capture)
                    t = time.perf_counter() - t0
                    samples.setdefault(f"{'capturing' if capture else 'plain'} [{rule}]", []).append(t)
                    if capture:
                        passed = out
                    del out
                projected = None
                if any(m in ALL_ROWS for m in group):
                    t0 = time.perf_counter()
                    projected = self.ctx.projector(passed["hidden"][:, 1:])
                    samples.setdefault(f"projector (all rows) [{rule}]", []).append(time.perf_counter() - t0)
                for m in group:
                    t, o = self.own(m, passed, projected)
                    samples.setdefault(m, []).append(t)
                    outputs[m] = o
                del passed, projected
        if warmup:
            return outputs
        return {k: statistics.median(v) for k, v in samples.items()}

    def vision_of(self, med, method):
        """The method's vision pass: the forward as its port needs it."""
        return med[f"{'capturing' if method in ATTENTION else 'plain'} [{RULE[method]}]"]


# ================================================================================================= check
def check(outputs, swift_lines):
    """The two sides compute the same thing: grid, rows handed on, kept (view, patch) list per method."""
    by = {j["method"]: j for j in swift_lines}
    lines, bad = [], 0
    for m in METHODS:
        o, s = outputs[m], by[m]
        rows = len(o.token_map)
        kept = [list(t) for t in o.kept]
        same_grid = list(o.grid) == s["grid"] and o.views == s["views"]
        same_rows = rows == s["rows"]
        if kept == s["kept_indices"]:
            k = "kept list identical"
        else:
            common = len({tuple(t) for t in kept} & {tuple(t) for t in s["kept_indices"]})
            k = f"kept lists DIFFER ({common} in common of {len(kept)} / {len(s['kept_indices'])})"
        bad += not (same_grid and same_rows)
        lines.append(f"  {m:<11} {RULE[m]:<9} views {o.views} grid {o.grid[0]}×{o.grid[1]}"
                     f"{'' if same_grid else ' (Swift ' + str(s['views']) + ' ' + str(s['grid']) + ')'}; "
                     f"rows {rows}{'' if same_rows else ' (Swift ' + str(s['rows']) + ')'}; {k}")
    return lines, bad


# ================================================================================================== main
def fmt(s):
    """Seconds as ms below 1 s."""
    return f"{s * 1e3:.1f} ms" if s < 1 else f"{s:.2f} s"


def host():
    cpu = next((ln.split(":", 1)[1].strip() for ln in subprocess.run(["lscpu"], capture_output=True, text=True)
                .stdout.splitlines() if ln.startswith("Model name")), platform.processor())
    flags = open("/proc/cpuinfo").read() if os.path.exists("/proc/cpuinfo") else ""
    return f"{cpu}, {os.cpu_count()} logical CPUs, AVX-512 {'yes' if 'avx512f' in flags else 'no'}"


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--work", default=os.path.join(tempfile.gettempdir(), "trim-anyres-bench"),
                    help="where the full-size checkpoints are built once and reused (anyres_bench.py's)")
    ap.add_argument("--runs", type=int, default=1)
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--keep", type=int, help="budget per view (default 64; --tiny: N//4)")
    ap.add_argument("--tiny", action="store_true", help="the committed tiny LLaVA-NeXT (a quick end-to-end check)")
    ap.add_argument("--image", default=bench.IMAGE)
    ap.add_argument("--prompt", default=bench.PROMPT)
    ap.add_argument("--no-build", action="store_true", help="reuse .build/release/trim")
    ap.add_argument("--trim", default=bench.TRIM)
    ap.add_argument("--json", help="also write the per-round results to this file")
    a = ap.parse_args()
    if a.tiny:
        clip_dir, next_dir = TINY_CLIP, TINY_NEXT
    else:
        clip_dir, next_dir = os.path.join(a.work, "clip-vitl"), os.path.join(a.work, "next-vitl")
        os.makedirs(a.work, exist_ok=True)
        bench.ensure_model(clip_dir, 336)
        anyres_bench.ensure_next(clip_dir, next_dir)
    if not a.no_build:
        subprocess.run(["swift", "build", "-c", "release", "-Xswiftc", "-target-cpu", "-Xswiftc", "native",
                        "--product", "trim"], cwd=ROOT, check=True)
    started = datetime.datetime.now().astimezone()
    print(f"started {started:%Y-%m-%d %H:%M %Z}; host: {host()}; torch {torch.__version__}, "
          f"{torch.get_num_threads()} threads", flush=True)
    print("uptime before:", bench.uptime(), flush=True)
    ctx = load_context(clip_dir, next_dir)
    keep = a.keep or (ctx.N // 4 if a.tiny else 64)
    side = TorchSide(ctx, a.image, a.prompt, keep)
    rel = lambda p: os.path.relpath(p, ROOT) if p.startswith(ROOT) else os.path.basename(p)  # noqa: E731
    common = ["--model", clip_dir, "--projector", next_dir, "--anyres", "--method", "all", "--keep", str(keep),
              "--image", a.image, "--prompt", a.prompt]
    swift_bench = [a.trim, "bench"] + common + ["--runs", str(a.runs), "--json"]
    print("Swift:", " ".join(["trim", "bench", "--model", rel(clip_dir), "--projector", rel(next_dir)] + common[4:9]
                             + ["--image", rel(a.image), "--prompt", repr(a.prompt), "--runs", str(a.runs), "--json"]),
          flush=True)

    # The same computation on both sides (also PyTorch's warm-up).
    outputs = side.run(1, warmup=True)
    r = subprocess.run([a.trim, "reduce"] + common + ["--json"], capture_output=True, text=True, check=True)
    lines, bad = check(outputs, [json.loads(x) for x in r.stdout.splitlines() if x.strip()])
    print(f"check against `trim reduce --anyres --method all --keep {keep}` (per method: view rule, views, grid, rows "
          "handed to the LLM, kept patches):")
    print("\n".join(lines), flush=True)
    if bad:
        sys.exit(f"{bad} method(s) differ in grid or rows: the sides do not compute the same thing")

    rounds = []
    for rnd in range(a.rounds):
        pt = side.run(a.runs)
        sw = bench.trim_json(swift_bench[1:], binary=a.trim)
        rounds.append(dict(torch=pt, swift=sw))
        vis = ", ".join(f"{rule} {fmt(pt[f'plain [{rule}]'])} / {fmt(sw['shared_median_s'][f'vision [{rule}]'])}" for rule in RULES)
        own = ", ".join(f"{m} {fmt(pt[m])} / {fmt(sw['method_median_s'][m])}" for m in METHODS)
        print(f"round {rnd + 1} ({datetime.datetime.now():%H:%M}): plain vision pass, PyTorch / Swift: {vis}\n"
              f"  own time, PyTorch / Swift: {own}", flush=True)

    med = statistics.median
    finished = datetime.datetime.now().astimezone()
    print("uptime after:", bench.uptime())
    print(f"\nmeasured {started:%Y-%m-%d %H:%M}–{finished:%H:%M %Z} on {host()}; budget K = {keep} per view; "
          f"{a.rounds} rounds × {a.runs} runs per side; image {rel(a.image)} ({side.views['hf'][0].shape[0]} views per rule), "
          f"prompt {a.prompt!r}; models: {'the committed tiny LLaVA-NeXT' if a.tiny else 'random full-size ViT-L/14-336 + LLaVA-NeXT image side'}")
    print("\nOwn time beyond the vision pass (medians over rounds of per-round medians; ratios per round, then median):\n")
    print("| method | views | PyTorch own | Swift own | Swift / PyTorch | PyTorch own ÷ its vision pass | "
          "Swift own ÷ its vision pass |")
    print("|---|---|---:|---:|---:|---:|---:|")
    table = {}
    for m in METHODS:
        p = [x["torch"][m] for x in rounds]
        s = [x["swift"]["method_median_s"][m] for x in rounds]
        ratio = med([b / c for b, c in zip(s, p)])
        pp = med([x["torch"][m] / side.vision_of(x["torch"], m) for x in rounds])
        sp = med([x["swift"]["method_over_vision"][m] for x in rounds])
        table[m] = dict(torch_s=med(p), swift_s=med(s), swift_over_torch=ratio, torch_over_vision=pp, swift_over_vision=sp)
        print(f"| {m} | {RULE[m]} | {fmt(med(p))} | {fmt(med(s))} | {ratio:.3g} | {100 * pp:.2f} % | "
              f"{100 * sp:.2f} % |")
    print("\nVision passes per view rule (medians over rounds; PyTorch 24 layers, eager; Swift 23 layers):\n")
    print("| views | V | PyTorch plain | PyTorch capturing | Swift plain | Swift capturing | Swift / PyTorch plain | "
          "Swift pass stages of the methods' needs | PyTorch projector (all rows) |")
    print("|---|---:|---:|---:|---:|---:|---:|---|---:|")
    extras = ["attention capture", "next-layer q/k", "next-layer logits", "projector (all rows)"]
    for rule in RULES:
        tp = med([x["torch"][f"plain [{rule}]"] for x in rounds])
        tc = med([x["torch"][f"capturing [{rule}]"] for x in rounds])
        sp = med([x["swift"]["shared_median_s"][f"vision [{rule}]"] for x in rounds])
        sc = med([x["swift"]["shared_median_s"][f"vision (capturing) [{rule}]"] for x in rounds])
        ratio = med([x["swift"]["shared_median_s"][f"vision [{rule}]"] / x["torch"][f"plain [{rule}]"] for x in rounds])
        st = "; ".join(f"{e} {fmt(med([x['swift']['shared_median_s'][f'{e} [{rule}]'] for x in rounds]))}"
                       for e in extras if f"{e} [{rule}]" in rounds[0]["swift"]["shared_median_s"])
        pj = f"projector (all rows) [{rule}]"
        pj = fmt(med([x['torch'][pj] for x in rounds])) if pj in rounds[0]["torch"] else "—"
        attn = "with attentions" if any(RULE[m] == rule and m in ATTENTION for m in METHODS) else "hooks only"
        print(f"| {rule} | {side.views[rule][0].shape[0]} | {fmt(tp)} | {fmt(tc)} ({attn}) | {fmt(sp)} | {fmt(sc)} | "
              f"{ratio:.3g} | {st or '—'} | {pj} |")
    print("\nPyTorch capturing = output_hidden_states plus k_proj / q_proj hooks, and output_attentions=True when a method "
          "of the rule reads attentions. PyTorch own ÷ its vision pass: the capturing pass for fastervlm, visionzip, "
          "vispruner, hired, the plain pass otherwise. Swift own ÷ its plain pass (its capture stages are in its own time). "
          "Not in either side's own time: the projector on all rows (DivPrune, CDPruner).")
    if a.json:
        with open(a.json, "w") as f:
            json.dump(dict(started=started.isoformat(), finished=finished.isoformat(), host=host(), keep=keep,
                           runs=a.runs, rounds=rounds, table=table), f, indent=1)


if __name__ == "__main__":
    main()
