#!/usr/bin/env python3
"""Any-resolution TRIM request, side by side: PyTorch + transformers versus this package's `trim`, full size.

Run from the repository root (reference venv of Docs/SEMANTICS.md §4):

    .venv-ref/bin/python Tests/Benchmarks/anyres_bench.py [--runs 3] [--rounds 3] [--no-build]

Builds once (in the system temp dir, reused): a random full-size CLIP ViT-L/14-336 (`bench.py`'s, as
`--model`) and a LLaVA-NeXT checkpoint in the llava-hf layout whose tower has ViT-L/14-336's shape (its own
random weights: the CLIP tower perturbed), a random projector 1024 → 4096 → 4096 and a random `image_newline`
— only the image side, as the language model is not timed.

One request = image file + prompt → the packed, projected rows of TRIM on every view (Docs/SEMANTICS.md §5.6),
with the model loaded:
  * PyTorch, as the target names it: PIL decode, `LlavaNextImageProcessorPil` (5 views for the 640×480
    benchmark image), Hugging Face's `LlavaNextModel.get_image_features` on the views (the tower in one batch,
    all 24 layers with hidden states; the projector on every patch of every view; the packing with
    `image_newline`), then TRIM: `hidden_states[-2]` without CLS, `post_layernorm` + `visual_projection`,
    the text tower, paper scoring, numpy IQR per view, the kept rows picked out of the packed output and
    the mean tokens through the projector;
  * PyTorch lean (reported beside it): the same request written as this package computes it — the tower
    alone, then the projector on the kept rows and mean tokens only, packed with `image_newline` rows (the
    unpadding of `unpad_image`);
  * Swift: `trim bench --anyres`'s `total` (decode → views → 23 layers on all views in one pass → text →
    scores → projector on the kept rows, newline rows inserted).
All three give the same packed rows (checked before timing). Rounds interleave (PyTorch, Swift, PyTorch
lean, …); each ratio is Swift's time over a PyTorch form's in the same round, the median over rounds reported.
Peak memory: `/usr/bin/time -v` of one `trim reduce` against the bytes of the weights it
reads (the NeXT tower's 23 layers and embeddings, projector, newline; CLIP's text tower, projections and
vision embeddings).
"""
import argparse
import json
import os
import subprocess
import sys
import tempfile
import time

import numpy as np
import torch
import torch.nn.functional as F

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
sys.path.insert(0, os.path.join(ROOT, "Tests", "Benchmarks"))
sys.path.insert(0, os.path.join(ROOT, "Tests", "Goldens"))
import bench  # noqa: E402

PINPOINTS = [[336, 672], [672, 336], [672, 672], [1008, 336], [336, 1008]]


def ensure_next(clip_dir, next_dir):
    """A llava-hf LLaVA-NeXT checkpoint with ViT-L/14-336's tower shape (image side only)."""
    if os.path.exists(os.path.join(next_dir, "model.safetensors")):
        return
    from safetensors.torch import load_file, save_file
    os.makedirs(next_dir, exist_ok=True)
    clip = load_file(os.path.join(clip_dir, "model.safetensors"))
    g = torch.Generator().manual_seed(11)
    t = {}
    for k, v in clip.items():
        if k.startswith("vision_model."):  # a "fine-tuned" tower: the CLIP tower, perturbed
            t["vision_tower." + k[len("vision_model."):]] = (v + 0.01 * v.std() * torch.randn(v.shape, generator=g)).contiguous()
    t.pop("vision_tower.embeddings.position_ids", None)
    t.update(bench.random_projector(1024, 4096, 7, bench.HF_NAMES))
    t["image_newline"] = torch.randn(4096, generator=g)
    save_file(t, os.path.join(next_dir, "model.safetensors"), metadata={"format": "pt"})
    vision = json.load(open(os.path.join(clip_dir, "config.json")))["vision_config"]
    config = {"model_type": "llava_next", "architectures": ["LlavaNextForConditionalGeneration"],
              "vision_config": dict(vision, model_type="clip_vision_model"),
              "text_config": {"model_type": "llama", "hidden_size": 4096, "num_hidden_layers": 0, "num_attention_heads": 32,
                              "intermediate_size": 64, "vocab_size": 32},
              "image_grid_pinpoints": PINPOINTS, "vision_feature_layer": -2, "vision_feature_select_strategy": "default",
              "projector_hidden_act": "gelu", "image_token_index": 31}
    json.dump(config, open(os.path.join(next_dir, "config.json"), "w"), indent=2)


def load_torch(clip_dir, next_dir):
    from safetensors.torch import load_file
    from transformers import CLIPModel, LlavaNextConfig, LlavaNextImageProcessorPil, LlavaNextModel
    clip = CLIPModel.from_pretrained(clip_dir, dtype=torch.float32).eval()
    cfg = LlavaNextConfig.from_pretrained(next_dir)
    model = LlavaNextModel(cfg).eval()
    missing, _ = model.load_state_dict(load_file(os.path.join(next_dir, "model.safetensors")), strict=False)
    assert not [m for m in missing if not m.startswith("language_model")], missing
    proc = LlavaNextImageProcessorPil(size={"shortest_edge": 336}, crop_size={"height": 336, "width": 336},
                                      image_grid_pinpoints=PINPOINTS)
    return clip, model, proc, bench.tokenizer_for(clip_dir)


def trim_per_view(clip, model, tok, f, prompt):
    """TRIM's selection on every view's features `f` [V, N, D]: kept patch sets and mean tokens per view."""
    tokens = clip.visual_projection(model.vision_tower.post_layernorm(f))
    ids = tok(prompt, truncation=True, max_length=77)["input_ids"]
    t = clip.get_text_features(input_ids=torch.tensor([ids]))
    t = (t.pooler_output if hasattr(t, "pooler_output") else t)[0]
    scores = F.softmax(F.normalize(tokens, dim=-1) @ F.normalize(t, dim=-1), dim=-1).numpy()  # [V, N]
    v, n, d = f.shape
    kept, means = [], []
    for i in range(v):
        s = scores[i]
        q1, q3 = np.percentile(s, 25), np.percentile(s, 75)
        k = np.where(s > q3 + np.float32(1.5) * (q3 - q1))[0]
        mask = np.ones(n, bool)
        mask[k] = False
        kept.append(set(k.tolist()))
        means.append(f[i][torch.from_numpy(mask)].mean(0) if mask.any() else torch.zeros(d))
    return kept, means


def grid_walk(size, n):
    """The packed grid block in HF's order (`unpad_image`, a newline after each row): (view, patch) per
    surviving cell, None for each newline row."""
    from transformers.models.llava_next.modeling_llava_next import get_anyres_image_grid_shape, unpad_image
    g = int(n ** 0.5)
    nph, npw = get_anyres_image_grid_shape(size.tolist(), PINPOINTS, 336)
    rows_r, cols_c = nph * g, npw * g
    unpadded = unpad_image(torch.arange(rows_r * cols_c).view(1, rows_r, cols_c), size)  # surviving flat cells
    walk = []
    for r in range(unpadded.shape[1]):
        for flat in unpadded[0, r].tolist():
            rr, cc = divmod(flat, cols_c)
            walk.append((1 + (rr // g) * npw + cc // g, (rr % g) * g + cc % g))
        walk.append(None)
    return walk


def views_of(proc, image_path):
    from PIL import Image
    out = proc(images=Image.open(image_path).convert("RGB"), return_tensors="pt")
    return out["pixel_values"], out["image_sizes"]


@torch.no_grad()
def torch_request(clip, model, proc, tok, image_path, prompt):
    """TRIM on every view in PyTorch, packed as LLaVA-NeXT packs (Docs/SEMANTICS.md §5.5–5.6), the projector
    run on the kept rows and mean tokens only (the lean form, what this package does)."""
    px, sizes = views_of(proc, image_path)
    hs = model.vision_tower(px[0], output_hidden_states=True).hidden_states  # all layers, as get_image_features
    f = hs[-2][:, 1:]  # [V, N, D]
    kept, means = trim_per_view(clip, model, tok, f, prompt)
    rows, layout = [f[0][sorted(kept[0])], means[0][None]], []
    for cell in grid_walk(sizes[0], f.shape[1]):
        if cell is None:
            layout.append(0)
        elif cell[1] in kept[cell[0]]:
            rows.append(f[cell[0]][cell[1]][None])
            layout.append(1)
    rows += [m[None] for m in means[1:]]
    projected = model.multi_modal_projector(torch.cat(rows))
    base = len(kept[0]) + 1
    out_rows, i = [projected[:base]], base
    for item in layout:
        if item:
            out_rows.append(projected[i:i + 1])
            i += 1
        else:
            out_rows.append(model.image_newline[None])
    out_rows.append(projected[i:])
    return torch.cat(out_rows)


@torch.no_grad()
def torch_request_hf(clip, model, proc, tok, image_path, prompt):
    """The same request on top of Hugging Face's own `get_image_features` (the tower, the projector on every
    patch of every view, the packing), TRIM then picking its rows out of the packed output: only the mean
    tokens need a projector call of their own."""
    px, sizes = views_of(proc, image_path)
    out = model.get_image_features(px, sizes, vision_feature_layer=-2, vision_feature_select_strategy="default",
                                   output_hidden_states=True)
    packed, f = out.pooler_output, out.hidden_states[-2][:, 1:]
    packed = packed[0] if isinstance(packed, (list, tuple)) else packed  # one image's packed rows
    kept, means = trim_per_view(clip, model, tok, f, prompt)
    projected_means = model.multi_modal_projector(torch.stack(means))
    n = f.shape[1]
    picks = sorted(kept[0])
    index = n
    for cell in grid_walk(sizes[0], n):
        if cell is None or cell[1] in kept[cell[0]]:
            picks.append(index)
        index += 1
    assert index == packed.shape[0], (index, packed.shape)
    base = len(kept[0])
    rows = packed[torch.tensor(picks, dtype=torch.long)]
    return torch.cat([rows[:base], projected_means[:1], rows[base:], projected_means[1:]])


def weights_read(clip_dir, next_dir, layers):
    """Bytes of the tensors `trim reduce` reads with a NeXT checkpoint (k vision layers of its tower)."""
    from safetensors import safe_open
    total = 0
    with safe_open(os.path.join(next_dir, "model.safetensors"), "pt") as f:
        for k in f.keys():
            if ".encoder.layers." in k and int(k.split(".encoder.layers.")[1].split(".")[0]) >= layers:
                continue
            shape = f.get_slice(k).get_shape()
            total += int(np.prod(shape)) * 4 if shape else 4
    with safe_open(os.path.join(clip_dir, "model.safetensors"), "pt") as f:
        for k in f.keys():
            if k.startswith("vision_model.encoder."):
                continue  # with a NeXT checkpoint, --model loads no vision layers
            shape = f.get_slice(k).get_shape()
            total += int(np.prod(shape)) * 4 if shape else 4
    return total


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--work", default=os.path.join(tempfile.gettempdir(), "trim-anyres-bench"))
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--no-build", action="store_true")
    ap.add_argument("--json", help="also write the results to this file")
    a = ap.parse_args()
    clip_dir, next_dir = os.path.join(a.work, "clip-vitl"), os.path.join(a.work, "next-vitl")
    os.makedirs(a.work, exist_ok=True)
    bench.ensure_model(clip_dir, 336)
    ensure_next(clip_dir, next_dir)
    if not a.no_build:
        subprocess.run(["swift", "build", "-c", "release", "-Xswiftc", "-target-cpu", "-Xswiftc", "native",
                        "--product", "trim"], cwd=ROOT, check=True)
    print("load before:", bench.uptime(), flush=True)
    clip, model, proc, tok = load_torch(clip_dir, next_dir)
    # The two sides compute the same request: the same number of packed rows, the same projected rows.
    swift = json.loads(subprocess.run([bench.TRIM, "reduce", "--model", clip_dir, "--projector", next_dir, "--image", bench.IMAGE,
                                       "--prompt", bench.PROMPT, "--json"], capture_output=True, text=True, check=True).stdout)
    ours = torch_request(clip, model, proc, tok, bench.IMAGE, bench.PROMPT)
    theirs = torch_request_hf(clip, model, proc, tok, bench.IMAGE, bench.PROMPT)
    assert ours.shape[0] == swift["tokens"] == theirs.shape[0], (ours.shape, theirs.shape, swift["tokens"])
    gap = float((ours - theirs).abs().max() / ours.abs().max())
    assert gap <= 1e-5, gap
    print(f"{swift['views']} views, grid {swift['grid']}, {swift['tokens']} packed rows on every side "
          f"(the two PyTorch forms within {gap:.1e})", flush=True)
    common = ["bench", "--model", clip_dir, "--projector", next_dir, "--runs", str(a.runs), "--json"]
    th, tl, st, ratios, lean = [], [], [], [], []
    for r in range(a.rounds):
        th.append(bench.median_time(lambda: torch_request_hf(clip, model, proc, tok, bench.IMAGE, bench.PROMPT), a.runs))
        s = bench.trim_json(common)
        st.append(s["median_s"]["total"])
        tl.append(bench.median_time(lambda: torch_request(clip, model, proc, tok, bench.IMAGE, bench.PROMPT), a.runs))
        ratios.append(st[-1] / th[-1])
        lean.append(st[-1] / tl[-1])
        print(f"round {r + 1}: PyTorch (get_image_features + TRIM) {th[-1]:.3f} s, Swift {st[-1]:.3f} s, "
              f"PyTorch lean {tl[-1]:.3f} s; Swift / PyTorch {ratios[-1]:.2f}, Swift / lean {lean[-1]:.2f}", flush=True)
    _, rss = bench.peak_rss([bench.TRIM, "reduce", "--model", clip_dir, "--projector", next_dir, "--image", bench.IMAGE,
                             "--prompt", bench.PROMPT, "--json"])
    read = weights_read(clip_dir, next_dir, 23)
    res = {"torch_hf_s": th, "torch_lean_s": tl, "swift_s": st, "ratios": ratios, "ratio_median": float(np.median(ratios)),
           "lean_ratios": lean, "lean_ratio_median": float(np.median(lean)),
           "peak_rss_bytes": rss, "weights_read_bytes": read, "rss_over_weights": rss / read,
           "uptime_after": bench.uptime()}
    print(f"any-resolution TRIM request: Swift / PyTorch (get_image_features + TRIM) median {res['ratio_median']:.2f} "
          f"(rounds {', '.join(f'{x:.2f}' for x in ratios)}); Swift / PyTorch lean median {res['lean_ratio_median']:.2f} "
          f"(rounds {', '.join(f'{x:.2f}' for x in lean)}); peak RSS {rss / 1e9:.2f} GB = "
          f"{res['rss_over_weights']:.2f}× the {read / 1e9:.2f} GB of weights read")
    print("load after:", res["uptime_after"])
    if a.json:
        json.dump(res, open(a.json, "w"), indent=2)


if __name__ == "__main__":
    main()
