#!/usr/bin/env python3
"""Side-by-side benchmark: PyTorch + transformers versus this package's `trim`, on ViT-L/14-336 shapes.

Run from the repository root (reference venv of Docs/SEMANTICS.md §4):

    .venv-ref/bin/python Tests/Benchmarks/bench.py                 # 336 px, --model defaulting to full-vitl in the temp dir

Options: --model DIR (created with Tests/Goldens/clip_goldens.py --preset vit-l-14-336 if missing),
--image-size 224 (a ViT-L/14 at 224 px, created in DIR if missing, same random scheme), --runs N (median of
N timed runs after a warm-up, default 5), --rounds R (PyTorch and Swift alternate R times, default 3; the
table shows the median over rounds), --no-build (reuse .build/release/trim), --skip-gemm, --skip-rss,
--prompt-lengths (also the text tower on a short and a 77-token prompt), --threads N (both sides' model
runs on N threads; `--threads 1` is the comparison least disturbed by other processes, see below),
--json FILE.

Measured in one invocation, fp32, random full-size weights:
  * sgemm GFLOP/s on 577×1024×{1024,3072,4096} and 577×4096×1024 at 1 and 2 threads: PyTorch F.linear
    (x · Wᵀ, the nn.Linear layout) versus `kernel-bench` (TRIM_THREADS=1/2), and the FMA-only peak
    that `kernel-bench` measures in the same process (the ceiling for every row of the table);
  * the vision tower, all layers with hidden states: HF vision_model(output_hidden_states=True) versus
    `trim bench --select-layer -1` (its `vision` stage);
  * TRIM end to end with the model loaded (image file + prompt → projected tokens): the authors' pipeline
    (PIL decode, expand2square, CLIPImageProcessor, all 24 layers, hidden_states[-2], text tower, paper
    scoring, IQR, mean token, projector on the reduced tokens zero-padded to 576 rows, as LLaVA batches
    them) versus `trim bench` (its `total`: decode → projected K+1 rows);
  * load: CLIPModel.from_pretrained + the projector file versus `trim bench`'s `load`, each in a fresh
    process with a warm page cache, alone and followed by the first TRIM result (PyTorch maps the
    weights lazily and pays for reading them in its first forward pass; Swift packs them at load);
  * peak RSS (/usr/bin/time -v) of a fresh process that loads and runs TRIM once, against the fp32 bytes
    of the weights (model.safetensors + projector).
The machine is shared: `uptime` is printed before and after; compare ratios, not absolute seconds.
"""
import argparse
import json
import os
import re
import subprocess
import sys
import time

import numpy as np
import torch
import torch.nn.functional as F

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
sys.path.insert(0, os.path.join(ROOT, "Tests", "Goldens"))
import clip_goldens  # noqa: E402
from trim_goldens import HF_NAMES, expand2square, processor_for, random_projector, tokenizer_for  # noqa: E402

TRIM = os.path.join(ROOT, ".build", "release", "trim")
KERNEL_BENCH = os.path.join(ROOT, ".build", "release", "kernel-bench")
IMAGE = os.path.join(ROOT, "Weights", "demo-image.jpg")
PROMPT = "Where is the red ball?"
GEMM_SHAPES = [(577, 1024, 1024), (577, 1024, 3072), (577, 1024, 4096), (577, 4096, 1024)]


def uptime():
    return subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip()


def median_time(fn, runs):
    fn()  # warm-up
    ts = []
    for _ in range(runs):
        t0 = time.perf_counter()
        fn()
        ts.append(time.perf_counter() - t0)
    return float(np.median(ts))


# ------------------------------------------------------------------------------------------------ inputs
def ensure_model(model_dir, image_size):
    if os.path.exists(os.path.join(model_dir, "model.safetensors")):
        return
    if image_size == 336:
        subprocess.run([sys.executable, os.path.join(ROOT, "Tests", "Goldens", "clip_goldens.py"),
                        "--preset", "vit-l-14-336", "--out", model_dir], check=True)
        return
    preset = json.loads(json.dumps(clip_goldens.PRESETS["vit-l-14-336"]))
    preset["vision"]["image_size"] = image_size
    clip_goldens.save_model(clip_goldens.build_model(preset, 0), preset, model_dir)


def ensure_projector(model_dir):
    from safetensors.torch import save_file
    path = os.path.join(model_dir, "projector-llava-hf.safetensors")
    if not os.path.exists(path):
        save_file(random_projector(1024, 4096, 7, HF_NAMES), path, metadata={"format": "pt"})
    return path


# ----------------------------------------------------------------------------------------------- PyTorch
def torch_gemm(threads, runs):
    """PyTorch F.linear GFLOP/s per shape (median of `runs` after a warm-up) at `threads` threads."""
    torch.set_num_threads(threads)
    out = {}
    for m, k, n in GEMM_SHAPES:
        g = torch.Generator().manual_seed(0)
        x, w = torch.randn(m, k, generator=g), torch.randn(n, k, generator=g)
        out[f"{m}x{k}x{n}"] = 2 * m * k * n / median_time(lambda: F.linear(x, w), runs) / 1e9
    torch.set_num_threads(os.cpu_count() or 1)
    return out


def load_torch(model_dir, projector_path):
    from safetensors.torch import load_file
    from transformers import CLIPModel
    model = CLIPModel.from_pretrained(model_dir, dtype=torch.float32).eval()
    t = load_file(projector_path)
    w1, b1, w2, b2 = (t[n] for n in HF_NAMES)
    return model, (lambda x: F.linear(F.gelu(F.linear(x, w1, b1)), w2, b2))


@torch.no_grad()
def authors_trim(model, proc, tok, project, image_path, prompt):
    """The released TRIM code path inside LLaVA-1.5 (see trim_goldens.py), timed as one request."""
    from PIL import Image
    img = Image.open(image_path).convert("RGB")
    pad = tuple(int(x * 255) for x in proc.image_mean)
    px = proc(images=expand2square(img, pad), return_tensors="pt")["pixel_values"]
    hs = model.vision_model(pixel_values=px, output_hidden_states=True).hidden_states  # all 24 layers
    f = hs[-2][0, 1:]
    tokens = model.visual_projection(model.vision_model.post_layernorm(f))
    ids = tok(prompt, truncation=True, max_length=77)["input_ids"]
    t = model.get_text_features(input_ids=torch.tensor([ids]))
    t = (t.pooler_output if hasattr(t, "pooler_output") else t)[0]
    scores = F.softmax(F.normalize(tokens, dim=-1) @ F.normalize(t, dim=-1), dim=-1)
    s = scores.numpy()
    q1, q3 = np.percentile(s, 25), np.percentile(s, 75)
    kept = torch.from_numpy(np.where(s > q3 + np.float32(1.5) * (q3 - q1))[0])
    mask = torch.ones(f.shape[0], dtype=torch.bool)
    mask[kept] = False
    mean = f[mask].mean(0) if mask.any() else torch.zeros(f.shape[1])
    reduced = torch.cat([f[kept], mean[None]])
    padded = torch.zeros(f.shape[0], f.shape[1])  # LLaVA batches the reduced tokens padded to 576 rows
    padded[: reduced.shape[0]] = reduced
    return project(padded)


LOAD_AND_RUN = """
import sys, time, json
sys.path.insert(0, {bench!r})
import bench
bench.torch.set_num_threads({threads})
t0 = time.perf_counter()
model, project = bench.load_torch({model!r}, {proj!r})
load = time.perf_counter() - t0
proc = bench.processor_for({model!r}, model.config.vision_config.image_size)
tok = bench.tokenizer_for({model!r})
t1 = time.perf_counter()
bench.authors_trim(model, proc, tok, project, bench.IMAGE, bench.PROMPT)
first = time.perf_counter() - t1
print(json.dumps({{"load": load, "first": first}}))
"""


def peak_rss(cmd, env=None):
    """(stdout, peak RSS in bytes) of `cmd` under /usr/bin/time -v."""
    r = subprocess.run(["/usr/bin/time", "-v"] + cmd, capture_output=True, text=True, env=env, check=True)
    kb = int(re.search(r"Maximum resident set size \(kbytes\): (\d+)", r.stderr).group(1))
    return r.stdout, kb * 1024


# ------------------------------------------------------------------------------------------------- Swift
MODEL_THREADS = None  # --threads: both sides' thread count for the model runs (None: each side's default)


def trim_json(args, threads=None, binary=None):
    env = dict(os.environ)
    threads = threads or MODEL_THREADS
    if threads:
        env["TRIM_THREADS"] = str(threads)
    r = subprocess.run([binary or TRIM] + args, capture_output=True, text=True, env=env, check=True)
    return json.loads(r.stdout)


def hidden_layers(swift_benches):
    return range(swift_benches[0]["vision_layers"])


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", default=None)
    ap.add_argument("--image-size", type=int, default=336, choices=[224, 336])
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--threads", type=int, help="threads for the model runs on both sides (default: all cores)")
    ap.add_argument("--no-build", action="store_true")
    ap.add_argument("--skip-rss", action="store_true")
    ap.add_argument("--skip-gemm", action="store_true")
    ap.add_argument("--prompt-lengths", action="store_true", help="also time the text tower on a short and a 77-token prompt")
    ap.add_argument("--json", help="also write the results to this file")
    a = ap.parse_args()
    model_dir = a.model or ("/tmp/full-vitl" if a.image_size == 336 else f"/tmp/full-vitl-{a.image_size}")
    ensure_model(model_dir, a.image_size)
    projector = ensure_projector(model_dir)
    if not a.no_build:
        subprocess.run(["swift", "build", "-c", "release", "-Xswiftc", "-target-cpu", "-Xswiftc", "native",
                        "--product", "trim"], cwd=ROOT, check=True)
    print("load before:", uptime(), flush=True)
    res = {"uptime_before": uptime(), "model": model_dir, "runs": a.runs}
    rows = []

    # Every comparison runs in interleaved rounds (PyTorch, then Swift, then PyTorch, …) and reports the
    # median over rounds, so that load from other processes drifting over minutes hits both sides alike.
    rounds = a.rounds
    if not a.skip_gemm:
        for threads in (1, 2):
            tg, sg, peaks = [], [], []
            for _ in range(rounds):
                tg.append(torch_gemm(threads, a.runs))
                g = trim_json(["--json", "--runs", str(a.runs)], threads=threads, binary=KERNEL_BENCH)
                sg.append(g["gemm_gflops"])
                peaks.append(g["fma_peak_gflops"])
            res[f"fma_peak_t{threads}"] = peaks
            for m, k, n in GEMM_SHAPES:
                name = f"{m}x{k}x{n}"
                pt, sw = float(np.median([r[name] for r in tg])), float(np.median([r[name] for r in sg]))
                # GFLOP/s: higher is better, so the ratio that reads like the time rows is PyTorch / Swift
                # time = Swift / PyTorch GFLOP/s; per round, then the range over rounds.
                per_round = [s_[name] / t_[name] for t_, s_ in zip(tg, sg)]
                rows.append((f"sgemm {name}, {threads} thr (GFLOP/s)", pt, sw, sw / pt, per_round))
                res[f"gemm_{name}_t{threads}"] = {"torch": pt, "swift": sw}

    global MODEL_THREADS
    MODEL_THREADS = a.threads
    torch.set_num_threads(a.threads or os.cpu_count() or 1)
    res["threads"] = a.threads or os.cpu_count()
    model, project = load_torch(model_dir, projector)
    proc = processor_for(model_dir, model.config.vision_config.image_size)
    tok = tokenizer_for(model_dir)
    size = model.config.vision_config.image_size
    px = torch.randn(1, 3, size, size, generator=torch.Generator().manual_seed(1))
    common = ["bench", "--model", model_dir, "--projector", projector, "--runs", str(a.runs), "--json"]
    tv, te, sv, se = [], [], [], []
    for _ in range(rounds):
        with torch.no_grad():
            tv.append(median_time(lambda: model.vision_model(pixel_values=px, output_hidden_states=True), a.runs))
        sv.append(trim_json(common + ["--select-layer", "-1"]))
        te.append(median_time(lambda: authors_trim(model, proc, tok, project, IMAGE, PROMPT), a.runs))
        se.append(trim_json(common))
    del model, project
    tvm, tem = float(np.median(tv)), float(np.median(te))
    svm = float(np.median([r["median_s"]["vision"] for r in sv]))
    sem = float(np.median([r["median_s"]["total"] for r in se]))
    rows.append((f"vision, all {len(hidden_layers(sv))} layers + hidden states (s)", tvm, svm, svm / tvm,
                 [r["median_s"]["vision"] / t for t, r in zip(tv, sv)]))
    rows.append(("TRIM end to end, model loaded (s)", tem, sem, sem / tem,
                 [r["median_s"]["total"] / t for t, r in zip(te, se)]))
    res.update(torch_vision=tv, torch_e2e=te, swift_vision_bench=sv, swift_e2e_bench=se)

    if a.prompt_lengths:
        # Cost versus prompt length: the text tower only (Swift runs it up to the end-of-text token).
        long_prompt = "Describe " + " ".join(f"object {i} and its colour," for i in range(30))
        model, _ = load_torch(model_dir, projector)
        for label, prompt in [("short prompt", PROMPT), ("77-token prompt", long_prompt)]:
            ids = tok(prompt, truncation=True, max_length=77)["input_ids"]
            with torch.no_grad():
                tt = median_time(lambda: model.get_text_features(input_ids=torch.tensor([ids])), a.runs)
            st = trim_json(["bench", "--model", model_dir, "--prompt", prompt, "--runs", str(a.runs), "--json"])
            stt = st["median_s"]["text"]
            rows.append((f"text tower, {label} ({len(ids)} tokens) (s)", tt, stt, stt / tt, [stt / tt]))
            res[f"text_{len(ids)}_tokens"] = {"torch": tt, "swift": stt, "swift_total": st["median_s"]["total"]}
        del model

    if not a.skip_rss:
        weights = os.path.getsize(os.path.join(model_dir, "model.safetensors")) + os.path.getsize(projector)
        tl, sl, trss, srss = [], [], [], []
        for _ in range(rounds):
            out, rss = peak_rss([sys.executable, "-c", LOAD_AND_RUN.format(
                bench=os.path.dirname(os.path.abspath(__file__)), model=model_dir, proj=projector,
                threads=a.threads or os.cpu_count() or 1)])
            d = json.loads(out.strip().splitlines()[-1])
            tl.append((d["load"], d["load"] + d["first"]))
            trss.append(rss)
            env = dict(os.environ, **({"TRIM_THREADS": str(a.threads)} if a.threads else {}))
            out, rss = peak_rss([TRIM, "bench", "--model", model_dir, "--projector", projector, "--runs", "1", "--json"],
                                env=env)
            d = json.loads(out)["median_s"]
            sl.append((d["load"], d["load"] + d["total"]))
            srss.append(rss)
        tload, sload = float(np.median([x[0] for x in tl])), float(np.median([x[0] for x in sl]))
        tfirst, sfirst = float(np.median([x[1] for x in tl])), float(np.median([x[1] for x in sl]))
        trss_m, srss_m = float(np.median(trss)), float(np.median(srss))
        rows.append(("load only, fresh process (s)", tload, sload, sload / tload,
                     [s_[0] / t_[0] for t_, s_ in zip(tl, sl)]))
        rows.append(("load + first TRIM result, fresh process (s)", tfirst, sfirst, sfirst / tfirst,
                     [s_[1] / t_[1] for t_, s_ in zip(tl, sl)]))
        rows.append((f"peak RSS / fp32 weight bytes ({weights / 2**30:.2f} GiB)", trss_m / weights, srss_m / weights,
                     srss_m / trss_m, [s_ / t_ for t_, s_ in zip(trss, srss)]))
        res.update(torch_load=tl, swift_load=sl, torch_rss=trss, swift_rss=srss, weight_bytes=weights)

    res["uptime_after"] = uptime()
    # Swift/PyTorch: the ratio of the medians; "per round": the same ratio within each interleaved round
    # (both sides measured minutes apart at most), its range over the rounds.
    # The per-round median is the paired statistic (both sides under the same minute's machine); the ratio
    # of medians can pair a fast PyTorch round with a slow Swift one and is shown for reference.
    print(f"\n{'measure':<48} {'PyTorch':>10} {'Swift':>10} {'Swift/PyTorch':>14} {'per round: median (range)':>27}")
    for name, pt, sw, ratio, per_round in rows:
        spread = (f"{float(np.median(per_round)):.2f} ({min(per_round):.2f}–{max(per_round):.2f})"
                  if len(per_round) > 1 else "")
        print(f"{name:<48} {pt:>10.3f} {sw:>10.3f} {ratio:>14.2f} {spread:>27}")
    res["table"] = [{"measure": n, "torch": pt, "swift": sw, "ratio": r, "per_round": pr} for n, pt, sw, r, pr in rows]
    for threads in (1, 2):
        if f"fma_peak_t{threads}" in res:
            p = res[f"fma_peak_t{threads}"]
            print(f"FMA peak, {threads} thr (kernel-bench: FMAs only, no memory): median {np.median(p):.1f} GFLOP/s, "
                  f"range {min(p):.1f}–{max(p):.1f} over the rounds")
    print("load after:", res["uptime_after"])
    if a.json:
        with open(a.json, "w") as f:
            json.dump(res, f, indent=1, default=str)


if __name__ == "__main__":
    main()
