#!/usr/bin/env python3
"""Held-out check of any-resolution input (Docs/SEMANTICS.md §5) through the `trim` binary: model shapes,
pinpoint sets, images and prompts that the committed goldens (next_goldens.py, anyres_goldens.py) do not use.
Usage (from the repository root, reference venv of Docs/SEMANTICS.md §4, after a release build):

    .venv-ref/bin/python Tests/Goldens/next_cli_check.py [--work DIR] [--trim .build/release/trim]
        [--shapes a,b] [--layouts hf,orig] [--tolerance 1e-5]

Everything is made in --work (default: next-cli-check under the system temp dir; kept afterwards, so a
failing call can be rerun by hand). Deterministic (fixed seeds).

Models: next_goldens.py's builders with its module constants replaced (one random LLaVA-NeXT per shape, written
in the llava-hf transformers-5 layout and as original LLaVA-1.6 `.bin` shards, asserted to hold the same tensors,
plus a CLIP `--model` whose vision config equals the NeXT tower's, with other random weights):
  a  view 84 px, patch 14 (6 × 6 = 36 patches per view), 2 layers, 6 heads of width 48 (hidden 288), quick_gelu;
     pinpoints [[84,252],[168,168],[84,84],[252,84]] (a 1 × 1 canvas: 2 views); projector 288 → 64 → 64;
     CLIP text context 77, legacy `eos_token_id` 2 (argmax pooling)
  b  view 70 px, patch 10 (7 × 7 = 49), 4 layers, hidden 40, 5 heads, exact-erf gelu, eps 1e-6;
     pinpoints [[70,280],[140,140],[280,70],[140,210]] (1 × 4 and 4 × 1 canvases; three of equal area, so a
     small image's canvas is decided by list order); projector 40 → 72 → 72; CLIP text context 52, first-eos
     pooling
Images (per shape, each size asserted to have the property it is there for): both sides below S, 1:6 and 1:7
extremes, the tie zone (several pinpoints keep the whole image: the waste, or for shape b the list order,
decides), fitted sizes hit by the float rounding of get_patch_output_size (a ratio product just above an
integer, rounded up), unpad bounds changed by `round(x, 7)`, odd padding remainders, JPEGs of the repository
(4:1:1, CMYK, odd-sized 4:2:0, progressive, the demo scenes), photo-like JPEGs (quality 90) at camera sizes,
and an RGBA PNG (alpha dropped, Pillow's convert("RGB")).
Prompts: a short question and one of well over 77 tokens (truncated to the CLIP context).

Per (shape, layout, image):
  - `trim preprocess --anyres` (hf: --model the NeXT directory, once on its own — the checkpoint's pinpoints
    must be used — and once with --pinpoints; orig: --model the CLIP directory with --pinpoints, as an original
    checkpoint ships no preprocessing): `pixel_values` equal to LlavaNextImageProcessorPil's bit for bit
    (max|Δ| reported, must be 0), `image_sizes` equal;
  - `trim reduce --method none --dump --json`: `projected` against LlavaNextModel.get_image_features' packed
    output (max|Δ|/max|ref| ≤ tolerance), `token_map` identical to HF's packing's (view, patch) rows (that map
    is asserted to rebuild HF's packed output from the per-view projector rows), `features` against HF's
    vision_tower hidden_states[-2] (≤ tolerance) and far from what the CLIP `--model`'s own tower gives
    (the NeXT checkpoint's tower must be the one used), `pixel_values`, `image_sizes`, and the JSON fields;
  - `trim reduce` (TRIM) with both prompts in one call for {paper IQR 1.5, authors IQR 1.5, paper keep-ratio
    0.3} × newlines {all, nonempty, none}, against next_goldens.py's port of TRIM on every view:
    `kept_indices` and `token_map` identical, `scores`, `reduced`, `projected` (and `features`,
    `image_tokens`, `text_embeds`) within the tolerance, `input_ids` identical, `pixel_values` bit-exact, the
    JSON's kept indices equal to the dump's and its counts equal to the port's. A kept set that differs only
    in patches whose (reference) score is within 1e-6 relative of their view's IQR bound / keep-ratio
    threshold (midway between the K-th and K+1-th score) is a tie (Docs/SEMANTICS.md §4): printed and
    counted apart, never a pass.
Prints one line per image (and one per failing or tied case, with the command to rerun a failing preprocess),
then a summary table per shape × layout; exits 1 on any failure (ties alone do not fail).
"""
import argparse
import json
import math
import os
import shutil
import subprocess
import sys
import tempfile
import time

import numpy as np
import torch
from PIL import Image
from safetensors.numpy import load_file as load_np
from safetensors.torch import load_file
from transformers import CLIPModel, LlavaNextForConditionalGeneration, LlavaNextImageProcessorPil
from transformers.image_processing_utils import select_best_resolution

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.abspath(os.path.join(HERE, "..", ".."))
sys.path.insert(0, HERE)
import next_goldens as ng  # noqa: E402
from anyres_goldens import photo  # noqa: E402
from clip_goldens import build_model as build_clip, save_model as save_clip  # noqa: E402
from trim_goldens import tokenizer_for, write_vocab  # noqa: E402

TIE = 1e-6
PROMPTS = [
    "<image>\nWhat is written on the sign next to the door?",
    "<image>\nDescribe this photograph for someone who cannot see it: "
    + " ".join(f"region {i}: say its colour, its texture, and whether anything in it could move;" for i in range(9))
    + " then say which region matters most and why.",
]
# (name, scoring, selection, IQR multiplier or keep ratio)
SETTINGS = [("paper_iqr", "paper", "iqr", 1.5), ("authors_iqr", "authors", "iqr", 1.5),
            ("paper_ratio", "paper", "ratio", 0.3)]
NEWLINES = ["all", "nonempty", "none"]

SHAPES = {
    "a": dict(
        view=84, patch=14, seed=71,
        vision=dict(hidden_size=288, intermediate_size=576, num_hidden_layers=2, num_attention_heads=6,
                    hidden_act="quick_gelu", layer_norm_eps=1e-5, projection_dim=24),
        lm=dict(hidden_size=64, intermediate_size=128, num_hidden_layers=1, num_attention_heads=4,
                num_key_value_heads=4, vocab_size=100, max_position_embeddings=512),
        pinpoints=[[84, 252], [168, 168], [84, 84], [252, 84]],
        text=dict(hidden_size=48, intermediate_size=96, num_attention_heads=4, num_hidden_layers=2, vocab_size=1000,
                  max_position_embeddings=77, hidden_act="quick_gelu", layer_norm_eps=1e-5,
                  bos_token_id=0, eos_token_id=2, pad_token_id=1),
        projection_dim=24),
    "b": dict(
        view=70, patch=10, seed=83,
        vision=dict(hidden_size=40, intermediate_size=120, num_hidden_layers=4, num_attention_heads=5,
                    hidden_act="gelu", layer_norm_eps=1e-6, projection_dim=20),
        lm=dict(hidden_size=72, intermediate_size=144, num_hidden_layers=1, num_attention_heads=4,
                num_key_value_heads=4, vocab_size=120, max_position_embeddings=512),
        pinpoints=[[70, 280], [140, 140], [280, 70], [140, 210]],
        text=dict(hidden_size=36, intermediate_size=72, num_attention_heads=3, num_hidden_layers=2, vocab_size=1500,
                  max_position_embeddings=52, hidden_act="gelu", layer_norm_eps=1e-6,
                  bos_token_id=1498, eos_token_id=1499, pad_token_id=1),
        projection_dim=20),
}

J = lambda *p: os.path.join(ROOT, *p)  # noqa: E731
# (name, source, properties). source: ("photo", h, w, seed, ext) made here (JPEG quality 90 or PNG),
# ("rgba", h, w, seed) an RGBA PNG, or ("file", path) a repository file. Properties are asserted.
IMAGES = {
    "a": [
        ("below-411", ("file", J("Tests/Goldens/jpeg/cjpeg_411.jpg")), ["below", "grid1x1"]),
        ("below-cmyk", ("file", J("Tests/Goldens/jpeg/cmyk_base.jpg")), ["below"]),
        ("odd-420-65x33", ("file", J("Tests/Goldens/jpeg/size33x65_420.jpg")), ["below", "odd"]),
        ("tie-60x60", ("photo", 60, 60, 901, "png"), ["below", "tie"]),
        ("wide-1x6-unpad", ("photo", 47, 282, 902, "jpg"), ["wide6", "unpad"]),
        ("tall-6x1", ("photo", 300, 50, 903, "jpg"), ["tall6"]),
        ("tall-unpad", ("photo", 110, 44, 904, "png"), ["unpad"]),
        ("fit-round-odd", ("photo", 36, 102, 905, "jpg"), ["fit", "odd"]),
        ("fit-round-2", ("photo", 75, 100, 906, "png"), ["fit", "odd"]),
        ("camera-480x640", ("photo", 480, 640, 907, "jpg"), []),
        ("camera-640x427", ("photo", 640, 427, 908, "jpg"), ["odd"]),
        ("camera-900x1600", ("photo", 900, 1600, 909, "jpg"), []),
        ("rgba-90x120", ("rgba", 90, 120, 910), []),
        ("progressive-256", ("file", J("Tests/Goldens/trim/images/square-progressive.jpg")), []),
        ("demo-scene", ("file", J("Weights/demo/scene.jpg")), ["odd"]),
    ],
    "b": [
        ("below-411", ("file", J("Tests/Goldens/jpeg/cjpeg_411.jpg")), ["below", "listtie"]),
        ("below-cmyk", ("file", J("Tests/Goldens/jpeg/cmyk_base.jpg")), ["below", "listtie"]),
        ("odd-420-65x33", ("file", J("Tests/Goldens/jpeg/size33x65_420.jpg")), ["below", "listtie"]),
        ("tie-60x60", ("photo", 60, 60, 911, "png"), ["below", "listtie"]),
        ("wide-1x7-unpad", ("photo", 49, 343, 912, "jpg"), ["wide6", "unpad"]),
        ("tall-7x1-unpad", ("photo", 343, 49, 913, "jpg"), ["tall6", "unpad"]),
        ("tall-6x1", ("photo", 300, 50, 914, "png"), ["tall6", "odd"]),
        ("square-unpad", ("photo", 110, 55, 915, "jpg"), ["unpad"]),
        ("fit-round-odd", ("photo", 52, 156, 916, "jpg"), ["fit", "odd"]),
        ("fit-round-2", ("photo", 31, 93, 917, "png"), ["fit", "odd"]),
        ("camera-480x640", ("photo", 480, 640, 918, "jpg"), ["odd"]),
        ("camera-640x427", ("photo", 640, 427, 919, "jpg"), []),
        ("camera-900x1600", ("photo", 900, 1600, 920, "jpg"), []),
        ("rgba-90x120", ("rgba", 90, 120, 921), ["odd"]),
        ("demo-image", ("file", J("Weights/demo-image.jpg")), []),
    ],
}


# --------------------------------------------------------------------------------------------- geometry
def geometry(h, w, s, g, pins):
    """The float64 quantities the properties are about (the same formulas as HF, recomputed here)."""
    H, W = select_best_resolution((h, w), pins)
    sw, sh = W / w, H / h
    if sw < sh:
        x, cap, fitted = h * sw, H, (min(math.ceil(h * sw), H), W)
    else:
        x, cap, fitted = w * sh, W, (H, min(math.ceil(w * sh), W))
    R, C = H // s * g, W // s * g
    if w / h > C / R:
        y, full = h * (C / w), R
    else:
        y, full = w * (R / h), C
    effs = []
    for ph, pw in pins:
        sc = min(pw / w, ph / h)
        effs.append(min(int(w * sc) * int(h * sc), w * h))
    best = [(ph * pw - e) for (ph, pw), e in zip(pins, effs) if e == max(effs)]
    return dict(
        canvas=(H, W), fitted=fitted, grid=(H // s, W // s),
        below=h < s and w < s, wide6=w / h >= 6, tall6=h / w >= 6, grid1x1=(H, W) == (s, s),
        fit=x != round(x) and abs(x - round(x)) < 1e-9 and math.ceil(x) > round(x) and math.ceil(x) <= cap,
        odd=(H - fitted[0]) % 2 == 1 or (W - fitted[1]) % 2 == 1,
        unpad=int(y) != int(round(y, 7)) and (full - int(y)) // 2 != (full - int(round(y, 7))) // 2,
        tie=len(best) >= 2, listtie=len(best) >= 2 and best.count(min(best)) >= 2)


# ------------------------------------------------------------------------------------------------ models
def configure(spec, work):
    """Point next_goldens.py's module constants at this shape (its functions read them when called)."""
    s, p = spec["view"], spec["patch"]
    ng.S, ng.PATCH, ng.G, ng.N = s, p, s // p, (s // p) ** 2
    ng.PINPOINTS = spec["pinpoints"]
    ng.VISION = dict(spec["vision"], image_size=s, patch_size=p)
    ng.TEXT_LM = dict(spec["lm"])
    ng.SEED = spec["seed"]
    ng.CLIP_PRESET = dict(vision=ng.VISION, text=spec["text"], projection_dim=spec["projection_dim"], dtype="float32")
    ng.HF_DIR, ng.HUB_DIR, ng.ORIG_DIR, ng.CLIP_DIR = (os.path.join(work, d) for d in
                                                       ("llava-next-hf", "llava-next-hub", "llava-v1.6-orig", "clip"))


def build_models(spec, work):
    configure(spec, work)
    model = ng.build_next()
    model.save_pretrained(ng.HF_DIR)
    ng.processor().save_pretrained(ng.HF_DIR)
    state = load_file(os.path.join(ng.HF_DIR, "model.safetensors"))
    ng.save_orig(state)
    # The two layouts hold the same tensors; transformers loads the HF one back with nothing left over.
    orig = ng.load_index(ng.ORIG_DIR, "pytorch_model.bin.index.json", lambda p: torch.load(p, weights_only=True))
    assert set(orig) == {ng.orig_name(k) for k in state}
    assert all(torch.equal(orig[ng.orig_name(k)], v) for k, v in state.items())
    hf, info = LlavaNextForConditionalGeneration.from_pretrained(ng.HF_DIR, dtype=torch.float32,
                                                                 output_loading_info=True)
    assert not any(info[k] for k in ("missing_keys", "unexpected_keys", "mismatched_keys")), info
    ref = model.state_dict()
    assert all(torch.equal(v, ref[k]) for k, v in hf.state_dict().items())
    assert hf.config.image_grid_pinpoints == spec["pinpoints"]
    clip = build_clip(ng.CLIP_PRESET, spec["seed"] + 10)
    save_clip(clip, ng.CLIP_PRESET, ng.CLIP_DIR)
    vocab = spec["text"]["vocab_size"]
    assert write_vocab(ng.CLIP_DIR, vocab - 514) == vocab
    clip = CLIPModel.from_pretrained(ng.CLIP_DIR, dtype=torch.float32).eval()
    return hf.eval(), clip, tokenizer_for(ng.CLIP_DIR)


def make_image(source, path):
    kind = source[0]
    if kind == "file":
        shutil.copyfile(source[1], path)
    elif kind == "rgba":
        _, h, w, seed = source
        rgb = photo(h, w, seed)
        alpha = (np.add.outer(np.arange(h), np.arange(w)) * 255 // (h + w)).astype(np.uint8)
        Image.fromarray(np.dstack([rgb, alpha]), "RGBA").save(path)
    else:
        _, h, w, seed, ext = source
        img = Image.fromarray(photo(h, w, seed))
        img.save(path, **({"quality": 90} if ext == "jpg" else {}))


# --------------------------------------------------------------------------------------------- reference
@torch.no_grad()
def reference(hf, clip, proc, path, text):
    """HF's views, tower, packing and the port of TRIM on every view, for one image."""
    nxt = hf.model
    tower, projector, newline = nxt.vision_tower, nxt.multi_modal_projector, nxt.image_newline
    image = Image.open(path).convert("RGB")
    w, h = image.size
    enc = proc(images=image, return_tensors="pt")
    pv, sizes = enc["pixel_values"][0].float(), enc["image_sizes"][0].long()
    assert sizes.tolist() == [h, w]
    features = tower(pv, output_hidden_states=True).hidden_states[-2][:, 1:]
    clip_features = clip.vision_model(pixel_values=pv, output_hidden_states=True).hidden_states[-2][:, 1:]
    packed = nxt.get_image_features(pixel_values=pv[None], image_sizes=sizes[None]).pooler_output[0]
    rows, grid, unpadded, _ = ng.packed_rows(h, w)
    rebuilt = ng.assemble(rows, projector(features), newline)
    assert rebuilt.shape == packed.shape and rel(rebuilt, packed) <= 1e-6, "the (view, patch) map is not HF's packing"
    tokens = clip.visual_projection(tower.post_layernorm(features))
    V = pv.shape[0]
    patch_rows = [r for r in rows if r[0] >= 0]
    ref = dict(h=h, w=w, pv=pv.numpy(), sizes=sizes.numpy(), features=features.numpy(),
               clip_features=clip_features.numpy(), tokens=tokens.numpy(), packed=packed.numpy(),
               rows=np.array(rows, dtype=np.int64), grid=list(grid), unpadded=list(unpadded), views=V,
               none=dict(kept=len(patch_rows), tokens=len(rows), newlines=unpadded[0],
                         dropped_in_padding=(V - 1) * ng.N - unpadded[0] * unpadded[1]),
               cases={})
    for j in range(len(PROMPTS)):
        for name, scoring, selection, param in SETTINGS:
            for nl in NEWLINES:
                trimmed = ng.trim_views(features, tokens, text[j], scoring, selection, param)
                trows, dropped = ng.trim_rows(trimmed, h, w, nl)
                means = [m for _, _, m, _, _ in trimmed]
                out_rows = [r for r in trows if r[0] >= 0]
                reduced = torch.stack([means[v] if p < 0 else features[v, p] for v, p in out_rows])
                it = iter(projector(reduced))
                projected = torch.stack([newline if v < 0 else next(it) for v, _ in trows])
                scores = torch.stack([s for s, _, _, _, _ in trimmed])
                bounds = []
                for s, kept, _, stats, _ in trimmed:
                    if selection == "iqr":
                        bounds.append(stats[2])
                    else:
                        srt = np.sort(s.numpy().astype(np.float64))[::-1]
                        k = len(kept)
                        bounds.append(None if k in (0, len(srt)) else (srt[k - 1] + srt[k]) / 2)
                ref["cases"][(j, name, nl)] = dict(
                    scores=scores.numpy(), kept=np.array([r for r in trows if r[1] >= 0], dtype=np.int64).reshape(-1, 2),
                    token_map=np.array(trows, dtype=np.int64), reduced=reduced.numpy(), projected=projected.numpy(),
                    dropped=dropped, tokens=len(trows), newlines=sum(1 for r in trows if r[0] < 0),
                    selected=[k for _, k, _, _, _ in trimmed], bounds=bounds,
                    gap=min(gp for _, _, _, _, gp in trimmed))
    return ref


# -------------------------------------------------------------------------------------------- comparing
def rel(a, ref):
    a = np.asarray(a, dtype=np.float64)
    ref = np.asarray(ref, dtype=np.float64)
    return float(np.abs(a - ref).max() / max(np.abs(ref).max(), 1e-30)) if ref.size else 0.0


def run(args, what):
    t = time.time()
    r = subprocess.run(args, capture_output=True, text=True)
    if r.returncode:
        raise RuntimeError(f"{what}: exit {r.returncode}: {r.stderr.strip()}\n    command: {' '.join(args)}")
    return r.stdout, time.time() - t


class Stats:
    def __init__(self):
        self.images = self.cases = self.same = self.ties = self.fail = 0
        self.pre_same = self.pre_n = self.none_ok = self.none_n = 0
        self.worst = {}
        self.own_tower = math.inf   # smallest distance of trim's features to the CLIP --model tower's
        self.min_gap = math.inf

    def err(self, key, value):
        self.worst[key] = max(self.worst.get(key, 0.0), value)


def check_common(d, ref, st, problems, tol, text=None):
    """Tensors every reduce dump carries: the views, the tower, the image tokens, the prompt."""
    if d["pixel_values"].shape != ref["pv"].shape:
        problems.append(f"pixel_values shape {d['pixel_values'].shape} vs {ref['pv'].shape}")
    else:
        e = float(np.abs(d["pixel_values"].astype(np.float64) - ref["pv"]).max())
        st.err("pixel_values", e)
        if e != 0:
            problems.append(f"pixel_values max|Δ| {e:.3g} (must be 0)")
    if not np.array_equal(d["image_sizes"], ref["sizes"]):
        problems.append(f"image_sizes {d['image_sizes'].tolist()} vs {ref['sizes'].tolist()}")
    for dn, rn in [("features", "features")] + ([("image_tokens", "tokens")] if text is not None else []):
        if d[dn].shape != ref[rn].shape:
            problems.append(f"{dn} shape {d[dn].shape} vs {ref[rn].shape}")
            continue
        e = rel(d[dn], ref[rn])
        st.err(dn, e)
        if e > tol:
            problems.append(f"{dn} {e:.2e} > {tol:g}")
    if d["features"].shape == ref["clip_features"].shape:
        far = rel(d["features"], ref["clip_features"])
        st.own_tower = min(st.own_tower, far)
        if far < 1e-2:
            problems.append(f"features are the CLIP --model tower's (distance {far:.2e}), not the NeXT checkpoint's")
    if text is not None:
        ids, emb = text
        if not np.array_equal(d["input_ids"], ids):
            problems.append(f"input_ids {d['input_ids'].tolist()} vs {ids.tolist()}")
        e = rel(d["text_embeds"], emb)
        st.err("text_embeds", e)
        if e > tol:
            problems.append(f"text_embeds {e:.2e} > {tol:g}")


def check_json(line, expect, problems):
    for k, v in expect.items():
        if line.get(k) != v:
            problems.append(f"--json {k} {line.get(k)} vs {v}")


def tie_verdict(d, ref_case):
    """None if the mismatch is not explained by ties; else a description. The judgement is on the reference's
    scores: every (view, patch) chosen by one side only must be within TIE relative of its view's bound."""
    mine = {tuple(r) for r in d["kept_indices"].tolist()}
    theirs = {tuple(r) for r in ref_case["kept"].tolist()}
    diff = sorted(mine ^ theirs)
    near = []
    for v, p in diff:
        b = ref_case["bounds"][v]
        s = float(ref_case["scores"][v, p])
        if b is None or abs(s - b) > TIE * abs(b):
            return None
        near.append(f"({v},{p}) {abs(s - b) / abs(b):.1e}")
    if not diff:
        return None
    return f"{len(diff)} (view, patch) differ, all within {TIE:g} of their view's bound: {', '.join(near)}"


def check_shape(sname, spec, layouts, trim, work, tol, table):
    t0 = time.time()
    configure(spec, work)
    hf, clip, tok = build_models(spec, work)
    s, g = spec["view"], spec["view"] // spec["patch"]
    proc = LlavaNextImageProcessorPil.from_pretrained(ng.HF_DIR)
    proc_orig = LlavaNextImageProcessorPil(size={"shortest_edge": s}, crop_size={"height": s, "width": s},
                                           image_grid_pinpoints=spec["pinpoints"])
    ctx = min(77, spec["text"]["max_position_embeddings"])
    text = []
    with torch.no_grad():
        for prompt in PROMPTS:
            full = tok(prompt.replace("<image>", " "))["input_ids"]
            ids = tok(prompt.replace("<image>", " "), truncation=True, max_length=ctx)["input_ids"]
            out = clip.get_text_features(input_ids=torch.tensor([ids]))
            emb = (out.pooler_output if hasattr(out, "pooler_output") else out)[0]
            text.append((np.array(ids, dtype=np.int64), emb))
            print(f"  prompt: {len(full)} tokens, {len(ids)} after truncation to {ctx}")
    assert len(tok(PROMPTS[1])["input_ids"]) > 77
    pins = ",".join(f"{ph}x{pw}" for ph, pw in spec["pinpoints"])
    img_dir = os.path.join(work, "images")
    os.makedirs(img_dir, exist_ok=True)
    refs = []
    for name, source, props in IMAGES[sname]:
        ext = os.path.splitext(source[1])[1] if source[0] == "file" else (
            ".png" if source[0] == "rgba" else "." + source[4])
        path = os.path.join(img_dir, name + ext)
        make_image(source, path)
        w, h = Image.open(path).size
        geo = geometry(h, w, s, g, spec["pinpoints"])
        missing = [p for p in props if not geo[p]]
        assert not missing, f"{sname}/{name} ({h}×{w}) lacks {missing}: {geo}"
        ref = reference(hf, clip, proc, path, [e for _, e in text])
        assert np.array_equal(proc_orig(images=Image.open(path).convert("RGB"), return_tensors="np")["pixel_values"][0],
                              ref["pv"])
        assert ref["grid"] == list(geo["grid"])
        refs.append((name, path, props, geo, ref))
    print(f"shape {sname}: models and references for {len(refs)} images in {time.time() - t0:.1f} s")

    dirs = {"hf": ng.HF_DIR, "orig": ng.ORIG_DIR}
    out = os.path.join(work, "out")
    os.makedirs(out, exist_ok=True)
    for layout in layouts:
        st = Stats()
        table.append((sname, layout, st))
        nextdir = dirs[layout]
        for name, path, props, geo, ref in refs:
            st.images += 1
            h, w = ref["h"], ref["w"]
            head = (f"  {sname}/{layout:4s} {name:16s} {h:4d}×{w:<4d} grid {geo['grid'][0]}×{geo['grid'][1]} "
                    f"V={ref['views']} unpadded {ref['unpadded'][0]}×{ref['unpadded'][1]} L={len(ref['rows'])}"
                    + (f" [{' '.join(props)}]" if props else ""))
            lines = []
            # 1. preprocess: hf with the checkpoint's own pinpoints (none given) and with them given; orig
            #    (no preprocessing of its own) through the CLIP --model with --pinpoints.
            variants = ([("own", ["--model", nextdir]), ("given", ["--model", nextdir, "--pinpoints", pins])]
                        if layout == "hf" else [("given", ["--model", ng.CLIP_DIR, "--pinpoints", pins])])
            for tag, margs in variants:
                st.pre_n += 1
                pre = os.path.join(out, f"{sname}-{layout}-{name}-pre-{tag}.safetensors")
                pargs = [trim, "preprocess", "--image", path, "--anyres", "--output", pre] + margs
                problems = []
                try:
                    run(pargs, "preprocess")
                    d = load_np(pre)
                    if d["pixel_values"].shape != ref["pv"].shape:
                        problems.append(f"pixel_values shape {d['pixel_values'].shape} vs {ref['pv'].shape}")
                    else:
                        e = float(np.abs(d["pixel_values"].astype(np.float64) - ref["pv"]).max())
                        st.err("preprocess", e)
                        if e != 0:
                            problems.append(f"pixel_values max|Δ| {e:.3g}")
                    if not np.array_equal(d.get("image_sizes"), ref["sizes"]):
                        problems.append(f"image_sizes {d.get('image_sizes')} vs {ref['sizes'].tolist()}")
                except RuntimeError as exc:
                    problems.append(str(exc))
                if problems:
                    st.fail += 1
                    lines.append(f"    preprocess ({' '.join(margs[2:]) or 'pinpoints from ' + margs[1]}) FAIL: "
                                 f"{'; '.join(problems)}\n      command: {' '.join(pargs)}")
                else:
                    st.pre_same += 1
            # 2. --method none: HF's packed output
            st.none_n += 1
            dump = os.path.join(out, f"{sname}-{layout}-{name}-none.safetensors")
            base = [trim, "reduce", "--model", ng.CLIP_DIR, "--projector", nextdir, "--image", path]
            problems = []
            try:
                stdout, _ = run(base + ["--prompt", PROMPTS[0], "--method", "none", "--dump", dump, "--json"], "none")
                line = json.loads(stdout.splitlines()[0])
                d = load_np(dump)
                check_common(d, ref, st, problems, tol)
                if not np.array_equal(d["kept_indices"], ref["rows"][ref["rows"][:, 0] >= 0]):
                    problems.append("kept_indices are not HF's packed patch rows in order")
                if not np.array_equal(d["token_map"], ref["rows"]):
                    problems.append(f"token_map {d['token_map'].shape} differs from HF's packing {ref['rows'].shape}")
                elif d["projected"].shape != ref["packed"].shape:
                    problems.append(f"projected shape {d['projected'].shape} vs {ref['packed'].shape}")
                else:
                    e = rel(d["projected"], ref["packed"])
                    st.err("none projected", e)
                    if e > tol:
                        problems.append(f"projected {e:.2e} > {tol:g}")
                check_json(line, dict(views=ref["views"], grid=ref["grid"], image_size=[h, w],
                                      unpadded=ref["unpadded"], total=ref["views"] * ng.N, **ref["none"]), problems)
            except (RuntimeError, KeyError, IndexError, ValueError) as exc:
                problems.append(f"{type(exc).__name__}: {exc}")
            if problems:
                st.fail += 1
                lines.append(f"    --method none FAIL: {'; '.join(problems)}")
            else:
                st.none_ok += 1
            # 3. TRIM: both prompts in one call per setting × newlines
            n_same = n_tie = n_fail = 0
            for sn, scoring, selection, param in SETTINGS:
                for nl in NEWLINES:
                    dump = os.path.join(out, f"{sname}-{layout}-{name}-{sn}-{nl}.safetensors")
                    args = base + ["--scoring", scoring, "--newlines", nl, "--dump", dump, "--json"]
                    if selection == "ratio":
                        args += ["--keep-ratio", repr(param)]
                    else:
                        args += ["--iqr-multiplier", repr(param)]
                    for p in PROMPTS:
                        args += ["--prompt", p]
                    try:
                        stdout, _ = run(args, "reduce")
                        jl = [json.loads(x) for x in stdout.splitlines() if x.strip()]
                        err = None
                    except RuntimeError as exc:
                        jl, err = [], str(exc)
                    for j in range(len(PROMPTS)):
                        st.cases += 1
                        rc = ref["cases"][(j, sn, nl)]
                        st.min_gap = min(st.min_gap, rc["gap"])
                        label = f"p{j} {sn} {nl}"
                        if err is not None:
                            st.fail += 1
                            n_fail += 1
                            lines.append(f"    {label} FAIL: {err}")
                            continue
                        problems = []
                        try:
                            d = load_np(dump.replace(".safetensors", f"-{j + 1}.safetensors"))
                            check_common(d, ref, st, problems, tol, (text[j][0], text[j][1].numpy()))
                            e = rel(d["scores"], rc["scores"]) if d["scores"].shape == rc["scores"].shape else math.inf
                            st.err("scores", e)
                            if e > tol:
                                problems.append(f"scores {e:.2e} > {tol:g}")
                            line = jl[j]
                            if line.get("kept_indices") != d["kept_indices"].tolist():
                                problems.append("--json kept_indices differ from the dump's")
                            same = (np.array_equal(d["kept_indices"], rc["kept"])
                                    and np.array_equal(d["token_map"], rc["token_map"]))
                            tie = None
                            if same:
                                for dn in ("reduced", "projected"):
                                    if d[dn].shape != rc[dn].shape:
                                        problems.append(f"{dn} shape {d[dn].shape} vs {rc[dn].shape}")
                                        continue
                                    e = rel(d[dn], rc[dn])
                                    st.err(dn, e)
                                    if e > tol:
                                        problems.append(f"{dn} {e:.2e} > {tol:g}")
                                check_json(line, dict(views=ref["views"], grid=ref["grid"], image_size=[h, w],
                                                      unpadded=ref["unpadded"], total=ref["views"] * ng.N,
                                                      kept=len(rc["kept"]), tokens=rc["tokens"],
                                                      newlines=rc["newlines"], dropped_in_padding=rc["dropped"]),
                                           problems)
                            else:
                                tie = tie_verdict(d, rc)
                                if tie is None:
                                    mine, theirs = d["kept_indices"].tolist(), rc["kept"].tolist()
                                    problems.append(
                                        f"kept_indices/token_map differ (gap {rc['gap']:.1e}): trim {len(mine)} "
                                        f"{mine[:10]}… port {len(theirs)} {theirs[:10]}…; token_map "
                                        f"{d['token_map'].shape} vs {rc['token_map'].shape}")
                        except (KeyError, IndexError, ValueError, FileNotFoundError) as exc:
                            problems.append(f"{type(exc).__name__}: {exc}")
                            tie = None
                            same = False
                        if problems:
                            st.fail += 1
                            n_fail += 1
                            lines.append(f"    {label} FAIL: {'; '.join(problems)}")
                        elif tie is not None:
                            st.ties += 1
                            n_tie += 1
                            lines.append(f"    {label} TIE: {tie}")
                        else:
                            st.same += 1
                            n_same += 1
            print(f"{head}: preprocess {'ok' if not any('preprocess' in l for l in lines) else 'FAIL'}"
                  f" ({len(variants)} call{'s' if len(variants) > 1 else ''}), "
                  f"none {'ok' if not any('--method none' in l for l in lines) else 'FAIL'}, "
                  f"TRIM {n_same} identical / {n_tie} ties / {n_fail} failures")
            for l in lines:
                print(l)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--work", default=os.path.join(tempfile.gettempdir(), "next-cli-check"))
    ap.add_argument("--trim", default=os.path.join(ROOT, ".build", "release", "trim"))
    ap.add_argument("--shapes", default="a,b")
    ap.add_argument("--layouts", default="hf,orig")
    ap.add_argument("--tolerance", type=float, default=1e-5)
    a = ap.parse_args()
    torch.set_num_threads(os.cpu_count() or 1)
    trim = os.path.abspath(a.trim)
    layouts = a.layouts.split(",")
    assert set(layouts) <= {"hf", "orig"}, layouts
    table = []
    t0 = time.time()
    for sname in a.shapes.split(","):
        work = os.path.join(os.path.abspath(a.work), f"shape-{sname}")
        os.makedirs(work, exist_ok=True)
        check_shape(sname, SHAPES[sname], layouts, trim, work, a.tolerance, table)
    print(f"\nsummary (tolerance {a.tolerance:g}; TRIM cases = images × 2 prompts × 3 settings × 3 newlines; "
          f"{time.time() - t0:.0f} s):")
    hdr = ("| shape | layout | images | preprocess bit-exact | --method none ok | TRIM cases | identical | ties "
           "| failures | pixel_values max\\|Δ\\| | features | none projected | scores | reduced | projected "
           "| own tower vs CLIP's | smallest tie gap |")
    print(hdr)
    print("|" + "---|" * (hdr.replace("\\|", "").count("|") - 1))
    total_fail = 0
    for sname, layout, st in table:
        wv = st.worst
        pv = max(wv.get("preprocess", 0.0), wv.get("pixel_values", 0.0))
        print(f"| {sname} | {layout} | {st.images} | {st.pre_same}/{st.pre_n} | {st.none_ok}/{st.none_n} | {st.cases} "
              f"| {st.same} | {st.ties} | {st.fail} | {pv:g} | {wv.get('features', 0):.1e} "
              f"| {wv.get('none projected', 0):.1e} | {wv.get('scores', 0):.1e} | {wv.get('reduced', 0):.1e} "
              f"| {wv.get('projected', 0):.1e} | {st.own_tower:.2f} | {st.min_gap:.1e} |")
        total_fail += st.fail
    sys.exit(1 if total_fail else 0)


if __name__ == "__main__":
    main()
