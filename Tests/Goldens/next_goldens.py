#!/usr/bin/env python3
"""Tiny LLaVA-NeXT checkpoints in three published layouts, and goldens for any-resolution input: the vision
tower on every view, Hugging Face's packing with `image_newline`, and TRIM on every view (Docs/SEMANTICS.md §5).

Regenerate (from the repository root, reference venv of Docs/SEMANTICS.md §4; deterministic, fixed seeds):

    .venv-ref/bin/python Tests/Goldens/next_goldens.py

Writes into Tests/Goldens/next/ (all checkpoints hold the same F32 tensors of ONE random model, seed 61):
  llava-next-hf/     `LlavaNextForConditionalGeneration.save_pretrained` as transformers 5 writes it:
                     config.json, generation_config.json, model.safetensors (`vision_tower.{embeddings,
                     pre_layrnorm,encoder,post_layernorm}.*`, `multi_modal_projector.linear_{1,2}.*`,
                     `image_newline`, `language_model.model.*`, `language_model.lm_head.weight`), and the
                     preprocessor_config.json of `LlavaNextImageProcessorPil` (view side 56, the pinpoints below).
                     Vision tower: CLIP hidden 32, 3 layers, 4 heads, 56 px, patch 14 (4×4 = 16 patches per
                     view), `vision_feature_layer` −2; projector 32 → 48 → 48; a 1-layer Llama (hidden 48,
                     vocab 100).
  llava-next-hub/    the Hub's transformers-4 layout of the same tensors: `vision_tower.vision_model.*` (the names
                     4.x's CLIPVisionModel wrote; transformers 5 renames them on load), `multi_modal_projector.*`,
                     `image_newline`, `language_model.model.*`, `language_model.lm_head.weight`; two shards
                     model-0000{1,2}-of-00002.safetensors + model.safetensors.index.json (vision tower, projector
                     and `image_newline` in shard 1, the language model alone in shard 2); config.json as 4.x
                     wrote it (nested configs as diffs from their defaults: no `hidden_act` in vision_config,
                     `image_token_index`, `use_image_newline_parameter`, `torch_dtype`); a 4.x-style
                     preprocessor_config.json.
  llava-v1.6-orig/   the original LLaVA-1.6 layout (haotian-liu/LLaVA `LlavaLlamaForCausalLM`):
                     `model.vision_tower.vision_tower.vision_model.*`, `model.mm_projector.{0,2}.{weight,bias}`,
                     `model.image_newline`, `model.{embed_tokens,layers,norm}.*`, `lm_head.weight`, as two
                     `torch.save` shards pytorch_model-0000{1,2}-of-00002.bin + pytorch_model.bin.index.json
                     (the language model's embeddings and layers in shard 1; norm, lm_head, projector,
                     `image_newline` and the vision tower in shard 2); config.json with `image_grid_pinpoints`,
                     `mm_vision_select_layer` −2, `mm_patch_merge_type` "spatial_unpad", `image_aspect_ratio`
                     "anyres", `mm_projector_type` "mlp2x_gelu", and no vision_config (the tower's shape and the
                     preprocessing come from `--model`, clip-next).
  clip-next/         a CLIPModel (config.json, model.safetensors F32, its own 1000-token vocab.json + merges.txt,
                     legacy `eos_token_id` 2 → the end token's row): vision_config equal to the NeXT tower's with
                     other random weights, text tower hidden 32 / 2 layers / 4 heads / 77 positions,
                     projection_dim 16. It is the `--model`: text tower and `visual_projection`; the features
                     always come from the NeXT checkpoint's own tower.
  images/*.png       photo-like test images (lossless), see IMAGES.
  next.safetensors   the goldens, computed with llava-next-hf in float32 on CPU, names below; one metadata key
                     "manifest", JSON: {"checkpoints": {"hf", "hub", "orig", "clip"} (directory names),
                     "view_size", "patch_size", "patches_per_view", "pinpoints", "vision_feature_layer",
                     "prompts", "settings": [{name, scoring, selection, param, mean_token}], "newlines",
                     "cases": [{name, prompt, setting, scoring, selection, param, mean_token, newlines}],
                     "images": [{name, image (path under next/), size [h, w], views, grid [nph, npw],
                     canvas [H*, W*], unpadded [H', W'], kept_rows [r0, r1), kept_cols [c0, c1) (token units),
                     newlines (H'), dropped_in_padding (cells cut by unpad), tokens (packed L),
                     none: {kept, tokens, newlines, dropped_in_padding},
                     results: {<case>: {kept (emitted patch rows), dropped_in_padding (kept cells cut by
                     unpad), tokens (L'), newlines, kept_per_view (selected per view, before unpad),
                     upper_per_view (IQR bound, null for a ratio), min_relative_gap (distance to a tie)}}}]}

Per image <img> (IMAGES):
  <img>.pixel_values  F32 [V,3,56,56]   LlavaNextImageProcessorPil (the base view, then the tiles row-major)
  <img>.image_sizes   I64 [2]           (h, w)
  <img>.features      F32 [V,16,32]     vision_tower(pixel_values, output_hidden_states=True).hidden_states[-2][:, 1:]
  <img>.image_tokens  F32 [V,16,16]     post_layernorm_NeXT(features) @ visual_projection_CLIP.T
  <img>.packed        F32 [L,48]        LlavaNextModel.get_image_features(pixel_values, image_sizes) (strategy
                                        "default": projector rows with `image_newline` rows, pack_image_features)
  <img>.packed_rows   I64 [L,2]         (view, patch) of each packed row, (−1, −1) for an `image_newline` row
  <img>.<case>.scores        F32 [V,16]  each view's own softmax of its scores
  <img>.<case>.kept_indices  I64 [K,2]   (view, patch) of every emitted patch row, in output-row order
  <img>.<case>.token_map     I64 [L',2]  per output row (view, patch); (view, −1) for a view's mean token;
                                         (−1, −1) for `image_newline`
  <img>.<case>.reduced       F32 [R,32]  the output rows that are not newlines (vision width)
  <img>.<case>.projected     F32 [L',48] projector(reduced) with `image_newline` rows inserted
  <img>.none.{kept_indices,token_map,reduced,projected}   `--method none`: every patch HF packs, no extra row;
                                        projected equals <img>.packed (asserted to 1e-6 relative; the
                                        stored files are identical bit for bit)
Per prompt j: prompt{j}.input_ids I64 (clip-next's tokenizer, truncation to 77) and prompt{j}.text_embeds F32 [16].
Cases <case> = p{j}_{setting}_{newlines}: prompt j × SETTINGS (scoring paper | authors × IQR 1.5 | ratio 0.25,
mean token on) × NEWLINES (all | nonempty | none).

TRIM on every view (Docs/SEMANTICS.md §5): each view is TRIM-1.5 on its own 16 patches (its own softmax, numpy
float32 percentiles and bound, or K_v = int(16·r) top scores with ties to the lower index; its mean token m_v
= the mean of the features of its unselected patches, zeros if none). Rows: view 0's kept patches ascending,
m_0; for each grid row kept by unpad, top to bottom, its kept cells left to right, then `image_newline` (all:
every row; nonempty: rows with a kept cell; none: never); then m_1 … m_T. A kept cell cut away by unpad is
neither emitted nor part of m_v (it is counted in `dropped_in_padding`); an unselected cell cut away by unpad
still is part of m_v, as every unselected patch of the view is.

References: transformers LlavaNextImageProcessorPil, LlavaNextModel.get_image_features / pack_image_features,
modeling_llava_next.unpad_image and image_size_to_num_patches, image_processing_utils.select_best_resolution,
the llava_next entry of transformers' conversion_mapping (the 4.x names), CLIPModel; the TRIM selection of
trim_goldens.py (released TRIM clip_encoder.py).
"""
import json
import math
import os
import sys

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image
from safetensors import safe_open
from safetensors.torch import load_file, save_file
from transformers import (CLIPModel, CLIPVisionConfig, LlamaConfig, LlavaNextConfig,
                          LlavaNextForConditionalGeneration, LlavaNextImageProcessorPil)
from transformers.image_processing_utils import select_best_resolution

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from anyres_goldens import photo  # noqa: E402
from clip_goldens import build_model as build_clip, save_model as save_clip  # noqa: E402
from trim_goldens import select, tokenizer_for, write_vocab  # noqa: E402

OUT = os.path.join(HERE, "next")
S, PATCH = 56, 14
G = S // PATCH                      # patches per side of a view
N = G * G                           # patches per view
PINPOINTS = [[S, 2 * S], [2 * S, S], [2 * S, 2 * S], [3 * S, S], [S, 3 * S]]  # (height, width)
SEED = 61

VISION = dict(hidden_size=32, intermediate_size=64, num_hidden_layers=3, num_attention_heads=4, image_size=S,
              patch_size=PATCH, projection_dim=16, hidden_act="quick_gelu", layer_norm_eps=1e-5)
TEXT_LM = dict(hidden_size=48, intermediate_size=96, num_hidden_layers=1, num_attention_heads=4,
               num_key_value_heads=4, vocab_size=100, max_position_embeddings=512)
IMAGE_TOKEN = 99
CLIP_PRESET = dict(
    vision=VISION,
    text=dict(hidden_size=32, intermediate_size=64, num_attention_heads=4, num_hidden_layers=2, vocab_size=1000,
              max_position_embeddings=77, hidden_act="quick_gelu", layer_norm_eps=1e-5,
              bos_token_id=0, eos_token_id=2, pad_token_id=1),
    projection_dim=16, dtype="float32")

# (name, height, width): grid and unpad chosen to cover both cut directions, no cut, and an odd remainder.
IMAGES = [
    ("wide", 30, 150),     # 1×3 grid (12 token columns); unpad keeps rows [1, 3) of 4
    ("tall", 170, 40),     # 3×1 grid; unpad keeps columns [1, 3) of 4
    ("square", 90, 90),    # 2×2 grid (several pinpoints hold the whole image); nothing cut
    ("odd", 57, 113),      # 2×2 grid; unpad keeps rows [2, 6) of 8 (odd padding of the canvas)
    ("narrow", 90, 60),    # 2×2 grid; 5 columns wide, (8 − 5) // 2 = 1 cut each side: 6 kept
]
PROMPTS = ["Where is the red ball?", "a photo of a cat"]
# (name, scoring, selection, IQR multiplier or keep ratio); the mean token is on in every case.
SETTINGS = [
    ("paper_iqr", "paper", "iqr", 1.5),
    ("authors_iqr", "authors", "iqr", 1.5),
    ("paper_ratio", "paper", "ratio", 0.25),
    ("authors_ratio", "authors", "ratio", 0.25),
]
NEWLINES = ["all", "nonempty", "none"]

HF_DIR, HUB_DIR, ORIG_DIR, CLIP_DIR = (os.path.join(OUT, d) for d in
                                       ("llava-next-hf", "llava-next-hub", "llava-v1.6-orig", "clip-next"))


# ----------------------------------------------------------------------------------------------- checkpoints
def next_config():
    return LlavaNextConfig(vision_config=CLIPVisionConfig(**VISION), text_config=LlamaConfig(**TEXT_LM),
                           image_grid_pinpoints=PINPOINTS, vision_feature_layer=-2,
                           vision_feature_select_strategy="default", image_token_id=IMAGE_TOKEN)


def build_next():
    """One random LLaVA-NeXT, every parameter re-drawn so that each one matters (clip_goldens.py's scheme:
    norms around identity, weights with unit-variance outputs, embeddings and `image_newline` std 0.5)."""
    torch.manual_seed(SEED)
    model = LlavaNextForConditionalGeneration(next_config()).eval()
    g = torch.Generator().manual_seed(SEED + 1)
    with torch.no_grad():
        for name, p in model.named_parameters():
            if "norm" in name or "layrnorm" in name:
                base = 1.0 if name.endswith("weight") else 0.0
                p.copy_(base + 0.2 * torch.randn(p.shape, generator=g))
            elif "embedding" in name or "embed_tokens" in name or name.endswith("image_newline"):
                p.copy_(0.5 * torch.randn(p.shape, generator=g))
            elif p.dim() >= 2:
                p.copy_(torch.randn(p.shape, generator=g) / math.sqrt(p[0].numel()))
            else:  # biases
                p.copy_(0.1 * torch.randn(p.shape, generator=g))
    return model


def processor():
    return LlavaNextImageProcessorPil(size={"shortest_edge": S}, crop_size={"height": S, "width": S},
                                      image_grid_pinpoints=PINPOINTS)


def hub_name(k):
    """transformers-5 saved name → the Hub's 4.x name (only the vision tower differs)."""
    return "vision_tower.vision_model." + k[len("vision_tower."):] if k.startswith("vision_tower.") else k


def orig_name(k):
    """transformers-5 saved name → original LLaVA-1.6 name."""
    for a, b in [("vision_tower.", "model.vision_tower.vision_tower.vision_model."),
                 ("multi_modal_projector.linear_1.", "model.mm_projector.0."),
                 ("multi_modal_projector.linear_2.", "model.mm_projector.2."),
                 ("image_newline", "model.image_newline"),
                 ("language_model.model.", "model."),
                 ("language_model.lm_head.", "lm_head.")]:
        if k.startswith(a):
            return b + k[len(a):]
    raise KeyError(k)


def write_index(directory, name, shards, total):
    weight_map = {k: fname for fname, tensors in shards for k in tensors}
    with open(os.path.join(directory, name), "w") as f:
        json.dump({"metadata": {"total_size": total}, "weight_map": dict(sorted(weight_map.items()))}, f, indent=2)
        f.write("\n")


def write_json(path, obj):
    with open(path, "w") as f:
        json.dump(obj, f, indent=2, sort_keys=True)
        f.write("\n")


def save_hub(state):
    """The Hub's layout (llava-hf/llava-v1.6-*-hf, written by transformers 4.x)."""
    os.makedirs(HUB_DIR, exist_ok=True)
    renamed = {hub_name(k): v for k, v in state.items()}
    vision = {k: v for k, v in renamed.items() if not k.startswith("language_model.")}
    lm = {k: v for k, v in renamed.items() if k.startswith("language_model.")}
    shards = [("model-00001-of-00002.safetensors", vision), ("model-00002-of-00002.safetensors", lm)]
    for fname, tensors in shards:
        save_file(tensors, os.path.join(HUB_DIR, fname), metadata={"format": "pt"})
    write_index(HUB_DIR, "model.safetensors.index.json", shards, sum(v.numel() * 4 for v in renamed.values()))
    vc = {k: v for k, v in VISION.items() if k not in ("hidden_act", "layer_norm_eps")}  # 4.x: defaults omitted
    tc = {k: v for k, v in TEXT_LM.items()}
    write_json(os.path.join(HUB_DIR, "config.json"), {
        "architectures": ["LlavaNextForConditionalGeneration"],
        "ignore_index": -100,
        "image_grid_pinpoints": PINPOINTS,
        "image_token_index": IMAGE_TOKEN,
        "model_type": "llava_next",
        "projector_hidden_act": "gelu",
        "text_config": dict(tc, architectures=["LlamaForCausalLM"], model_type="llama", torch_dtype="float32"),
        "tie_word_embeddings": False,
        "torch_dtype": "float32",
        "transformers_version": "4.40.0.dev0",
        "use_image_newline_parameter": True,
        "vision_config": dict(vc, model_type="clip_vision_model", vocab_size=32000),
        "vision_feature_layer": -2,
        "vision_feature_select_strategy": "default",
        "vocab_size": TEXT_LM["vocab_size"],
    })
    p = processor()
    write_json(os.path.join(HUB_DIR, "preprocessor_config.json"), {
        "aspect_ratio_setting": "anyres",
        "crop_size": {"height": S, "width": S},
        "do_center_crop": True, "do_convert_rgb": True, "do_normalize": True, "do_pad": True,
        "do_rescale": True, "do_resize": True,
        "image_grid_pinpoints": PINPOINTS,
        "image_mean": list(p.image_mean), "image_std": list(p.image_std),
        "image_processor_type": "LlavaNextImageProcessor",
        "processor_class": "LlavaNextProcessor",
        "resample": 3, "rescale_factor": 1 / 255,
        "size": {"shortest_edge": S},
    })


def save_orig(state):
    """haotian-liu/LLaVA's LLaVA-1.6 layout: `torch.save` shards as transformers 4.36's Trainer wrote them."""
    os.makedirs(ORIG_DIR, exist_ok=True)
    renamed = {orig_name(k): v.clone().contiguous() for k, v in state.items()}
    first = {k: v for k, v in renamed.items() if k.startswith(("model.embed_tokens.", "model.layers."))}
    second = {k: v for k, v in renamed.items() if k not in first}
    shards = [("pytorch_model-00001-of-00002.bin", first), ("pytorch_model-00002-of-00002.bin", second)]
    for fname, tensors in shards:
        torch.save(dict(sorted(tensors.items())), os.path.join(ORIG_DIR, fname))
    write_index(ORIG_DIR, "pytorch_model.bin.index.json", shards, sum(v.numel() * 4 for v in renamed.values()))
    write_json(os.path.join(ORIG_DIR, "config.json"), {
        "_name_or_path": "./checkpoints/llava-v1.6-tiny",
        "architectures": ["LlavaLlamaForCausalLM"],
        "attention_bias": False, "attention_dropout": 0.0, "bos_token_id": 1, "eos_token_id": 2,
        "freeze_mm_mlp_adapter": False, "freeze_mm_vision_resampler": False,
        "hidden_act": "silu", "hidden_size": TEXT_LM["hidden_size"],
        "image_aspect_ratio": "anyres",
        "image_crop_resolution": 224,
        "image_grid_pinpoints": PINPOINTS,
        "image_split_resolution": 224,
        "initializer_range": 0.02, "intermediate_size": TEXT_LM["intermediate_size"],
        "max_position_embeddings": TEXT_LM["max_position_embeddings"],
        "mm_hidden_size": VISION["hidden_size"],
        "mm_patch_merge_type": "spatial_unpad",
        "mm_projector_lr": None,
        "mm_projector_type": "mlp2x_gelu",
        "mm_resampler_type": None,
        "mm_use_im_patch_token": False, "mm_use_im_start_end": False,
        "mm_vision_select_feature": "patch",
        "mm_vision_select_layer": -2,
        "mm_vision_tower": "clip-next",
        "mm_vision_tower_lr": 2e-06,
        "model_type": "llava",
        "num_attention_heads": TEXT_LM["num_attention_heads"], "num_hidden_layers": TEXT_LM["num_hidden_layers"],
        "num_key_value_heads": TEXT_LM["num_key_value_heads"], "pad_token_id": 0, "pretraining_tp": 1,
        "rms_norm_eps": 1e-06, "rope_scaling": None, "rope_theta": 10000.0, "tie_word_embeddings": False,
        "tokenizer_model_max_length": TEXT_LM["max_position_embeddings"], "tokenizer_padding_side": "right",
        "torch_dtype": "float32", "transformers_version": "4.36.2",
        "tune_mm_mlp_adapter": False, "tune_mm_vision_resampler": False, "unfreeze_mm_vision_tower": True,
        "use_cache": True, "use_mm_proj": True, "vocab_size": TEXT_LM["vocab_size"],
    })


def load_index(directory, index_name, loader):
    with open(os.path.join(directory, index_name)) as f:
        files = sorted(set(json.load(f)["weight_map"].values()))
    out = {}
    for fname in files:
        out.update(loader(os.path.join(directory, fname)))
    return out


def check_layouts(model, state):
    """All three layouts hold bit-identical tensors under their names, and transformers loads the Hub's."""
    hf = load_file(os.path.join(HF_DIR, "model.safetensors"))
    hub = load_index(HUB_DIR, "model.safetensors.index.json", load_file)
    orig = load_index(ORIG_DIR, "pytorch_model.bin.index.json", lambda p: torch.load(p, weights_only=True))
    with safe_open(os.path.join(HUB_DIR, "model-00002-of-00002.safetensors"), "pt") as f:
        assert all(k.startswith("language_model.") for k in f.keys())
    with safe_open(os.path.join(HUB_DIR, "model-00001-of-00002.safetensors"), "pt") as f:
        assert any(k.startswith("vision_tower.vision_model.") for k in f.keys())
    for name, tensors, rename in [("hf", hf, lambda k: k), ("hub", hub, hub_name), ("orig", orig, orig_name)]:
        expect = {rename(k): v for k, v in state.items()}
        assert set(tensors) == set(expect), (name, sorted(set(tensors) ^ set(expect))[:5])
        for k, v in expect.items():
            assert tensors[k].dtype == torch.float32 and torch.equal(tensors[k], v), (name, k)
    # transformers itself: both HF-format directories load to the model's own tensors, no key left over.
    ref = model.state_dict()
    for d in (HF_DIR, HUB_DIR):
        m, info = LlavaNextForConditionalGeneration.from_pretrained(d, dtype=torch.float32, output_loading_info=True)
        assert not any(info[k] for k in ("missing_keys", "unexpected_keys", "mismatched_keys")), (d, info)
        for k, v in m.state_dict().items():
            assert torch.equal(v, ref[k]), (d, k)
        assert m.config.image_grid_pinpoints == PINPOINTS and m.config.vision_feature_layer == -2
    return LlavaNextForConditionalGeneration.from_pretrained(HUB_DIR, dtype=torch.float32).eval()


# ------------------------------------------------------------------------------------------------- packing
def grid_of(h, w):
    H, W = select_best_resolution((h, w), PINPOINTS)
    return H // S, W // S


def unpad_bounds(h, w, R, C):
    """modeling_llava_next.unpad_image in token units: the kept rows [r0, r1) and columns [c0, c1)."""
    if w / h > C / R:
        n = int(round(h * (C / w), 7))
        pad = (R - n) // 2
        return (pad, R - pad), (0, C)
    n = int(round(w * (R / h), 7))
    pad = (C - n) // 2
    return (0, R), (pad, C - pad)


def cell(r, c, npw):
    """The (view, patch) of token-grid cell (r, c) (pack_image_features' view/permute/flatten)."""
    return 1 + (r // G) * npw + c // G, (r % G) * G + c % G


def packed_rows(h, w):
    nph, npw = grid_of(h, w)
    (r0, r1), (c0, c1) = unpad_bounds(h, w, nph * G, npw * G)
    rows = [(0, i) for i in range(N)]
    for r in range(r0, r1):
        rows += [cell(r, c, npw) for c in range(c0, c1)] + [(-1, -1)]
    return rows, (nph, npw), (r1 - r0, c1 - c0), ((r0, r1), (c0, c1))


def assemble(rows, view_rows, newline):
    """Rows of `view_rows[v, p]` (or `newline` for (−1, −1))."""
    return torch.stack([newline if v < 0 else view_rows[v, p] for v, p in rows])


# ---------------------------------------------------------------------------------------------------- TRIM
def rel_gap(scores, selection, param, kept):
    """How close the selection came to a tie: the smallest relative distance of a score to the IQR bound, or
    between the K-th and (K+1)-th scores for a ratio (a gap under 1e-6 would be a tie under §4)."""
    s = scores.numpy().astype(np.float64)
    if selection == "iqr":
        q1, q3 = np.percentile(scores.numpy(), 25), np.percentile(scores.numpy(), 75)
        upper = float(q3 + np.float32(param) * (q3 - q1))
        return float(np.min(np.abs(s - upper)) / abs(upper))
    k = len(kept)
    srt = np.sort(s)[::-1]
    return float((srt[k - 1] - srt[k]) / abs(srt[k - 1])) if 0 < k < len(s) else math.inf


def trim_views(features, tokens, text, scoring, selection, param):
    """Per view: (scores [N], kept patch indices ascending, mean token [D], IQR stats, tie gap)."""
    out = []
    for v in range(features.shape[0]):
        f, t = features[v], tokens[v]
        if scoring == "paper":
            s = F.normalize(t, dim=-1) @ F.normalize(text, dim=-1)
        else:
            s = -(t @ text)
        scores = F.softmax(s, dim=-1)
        kept, stats = select(scores, selection, param)
        mask = torch.ones(N, dtype=torch.bool)
        mask[torch.from_numpy(kept.astype(np.int64))] = False
        mean = f[mask].mean(0) if mask.any() else torch.zeros(f.shape[1])
        out.append((scores, [int(i) for i in kept], mean, stats, rel_gap(scores, selection, param, kept)))
    return out


def trim_rows(per_view, h, w, newlines):
    """token_map rows and dropped_in_padding for TRIM on every view (§5.6)."""
    nph, npw = grid_of(h, w)
    (r0, r1), (c0, c1) = unpad_bounds(h, w, nph * G, npw * G)
    kept = [set(k) for _, k, _, _, _ in per_view]
    rows = [(0, p) for p in sorted(kept[0])] + [(0, -1)]
    emitted = 0
    for r in range(r0, r1):
        line = [cell(r, c, npw) for c in range(c0, c1) if cell(r, c, npw)[1] in kept[cell(r, c, npw)[0]]]
        rows += line
        emitted += len(line)
        if newlines == "all" or (newlines == "nonempty" and line):
            rows.append((-1, -1))
    rows += [(v, -1) for v in range(1, len(per_view))]
    dropped = sum(len(k) for k in kept[1:]) - emitted
    return rows, dropped


# ---------------------------------------------------------------------------------------------------- main
@torch.no_grad()
def main():
    torch.set_num_threads(os.cpu_count() or 1)
    os.makedirs(os.path.join(OUT, "images"), exist_ok=True)

    # Checkpoints: one model, three layouts; the CLIP `--model` with its own vocabulary.
    model = build_next()
    model.save_pretrained(HF_DIR)
    processor().save_pretrained(HF_DIR)
    state = load_file(os.path.join(HF_DIR, "model.safetensors"))
    save_hub(state)
    save_orig(state)
    hub_model = check_layouts(model, state)
    clip = build_clip(CLIP_PRESET, SEED + 10)
    save_clip(clip, CLIP_PRESET, CLIP_DIR)
    assert write_vocab(CLIP_DIR, 486) == CLIP_PRESET["text"]["vocab_size"]
    clip = CLIPModel.from_pretrained(CLIP_DIR, dtype=torch.float32).eval()
    tok = tokenizer_for(CLIP_DIR)
    assert clip.config.vision_config.hidden_size == VISION["hidden_size"]

    nxt = model.model
    tower, projector, newline = nxt.vision_tower, nxt.multi_modal_projector, nxt.image_newline
    proc = LlavaNextImageProcessorPil.from_pretrained(HF_DIR)
    proc_hub = LlavaNextImageProcessorPil.from_pretrained(HUB_DIR)
    tensors = {}
    manifest = {
        "checkpoints": {"hf": "llava-next-hf", "hub": "llava-next-hub", "orig": "llava-v1.6-orig", "clip": "clip-next"},
        "view_size": S, "patch_size": PATCH, "patches_per_view": N, "pinpoints": PINPOINTS,
        "vision_feature_layer": -2, "prompts": PROMPTS,
        "settings": [dict(name=n, scoring=sc, selection=sel, param=p, mean_token=True) for n, sc, sel, p in SETTINGS],
        "newlines": NEWLINES, "cases": [], "images": [],
    }

    text = {}
    for j, prompt in enumerate(PROMPTS):
        ids = tok(prompt.replace("<image>", " "), truncation=True,
                  max_length=min(77, clip.config.text_config.max_position_embeddings))["input_ids"]
        t = clip.get_text_features(input_ids=torch.tensor([ids]))
        text[j] = (t.pooler_output if hasattr(t, "pooler_output") else t)[0]
        tensors[f"prompt{j}.input_ids"] = torch.tensor(ids, dtype=torch.int64)
        tensors[f"prompt{j}.text_embeds"] = text[j]
    for j in range(len(PROMPTS)):
        for name, scoring, selection, param in SETTINGS:
            for nl in NEWLINES:
                manifest["cases"].append(dict(name=f"p{j}_{name}_{nl}", prompt=j, setting=name, scoring=scoring,
                                              selection=selection, param=param, mean_token=True, newlines=nl))

    min_gap = math.inf
    for seed, (img, h, w) in enumerate(IMAGES):
        path = os.path.join(OUT, "images", f"{img}.png")
        Image.fromarray(photo(h, w, 600 + seed)).save(path)
        image = Image.open(path).convert("RGB")
        enc = proc(images=image, return_tensors="pt")
        pv, sizes = enc["pixel_values"][0].float(), enc["image_sizes"][0].long()
        assert torch.equal(pv, proc_hub(images=image, return_tensors="pt")["pixel_values"][0])
        V = pv.shape[0]
        rows, (nph, npw), (hk, wk), bounds = packed_rows(h, w)
        assert V == 1 + nph * npw and sizes.tolist() == [h, w]

        features = tower(pv, output_hidden_states=True).hidden_states[-2][:, 1:]         # [V, N, D]
        packed = nxt.get_image_features(pixel_values=pv[None], image_sizes=sizes[None]).pooler_output[0]
        packed_hub = hub_model.model.get_image_features(pixel_values=pv[None], image_sizes=sizes[None]).pooler_output[0]
        assert torch.equal(packed, packed_hub), img
        per_view = projector(features)                                                    # [V, N, H]
        assert torch.equal(assemble(rows, per_view, newline), packed), img
        assert packed.shape[0] == N + hk * (wk + 1)
        tokens = clip.visual_projection(tower.post_layernorm(features))                   # [V, N, P]
        # The TRIM row builder keeping every patch is HF's packing plus one mean row per view.
        every = [(None, list(range(N)), None, None, None)] * V
        full, cut_kept = trim_rows(every, h, w, "all")
        assert [r for r in full if r[1] != -1 or r[0] < 0] == rows and cut_kept == (V - 1) * N - hk * wk

        tensors.update({f"{img}.pixel_values": pv, f"{img}.image_sizes": sizes, f"{img}.features": features,
                        f"{img}.image_tokens": tokens, f"{img}.packed": packed,
                        f"{img}.packed_rows": torch.tensor(rows, dtype=torch.int64)})
        # --method none: every packed patch, no extra row; its projected output is HF's packed output.
        patch_rows = [r for r in rows if r[0] >= 0]
        reduced = torch.stack([features[v, p] for v, p in patch_rows])
        proj = projector(reduced)
        it = iter(proj)
        projected = torch.stack([newline if v < 0 else next(it) for v, _ in rows])
        err = ((projected - packed).abs().max() / packed.abs().max()).item()
        assert err <= 1e-6, (img, err)
        tensors.update({f"{img}.none.kept_indices": torch.tensor(patch_rows, dtype=torch.int64),
                        f"{img}.none.token_map": torch.tensor(rows, dtype=torch.int64),
                        f"{img}.none.reduced": reduced, f"{img}.none.projected": projected})
        cut = (V - 1) * N - hk * wk
        entry = {"name": img, "image": f"images/{img}.png", "size": [h, w], "views": V, "grid": [nph, npw],
                 "canvas": [nph * S, npw * S], "unpadded": [hk, wk], "kept_rows": list(bounds[0]),
                 "kept_cols": list(bounds[1]), "newlines": hk, "dropped_in_padding": cut, "tokens": len(rows),
                 "none": {"kept": len(patch_rows), "tokens": len(rows), "newlines": hk, "dropped_in_padding": cut},
                 "results": {}}

        for case in manifest["cases"]:
            trimmed = trim_views(features, tokens, text[case["prompt"]], case["scoring"], case["selection"],
                                 case["param"])
            trows, dropped = trim_rows(trimmed, h, w, case["newlines"])
            means = [m for _, _, m, _, _ in trimmed]
            out_rows = [r for r in trows if r[0] >= 0]
            reduced = torch.stack([means[v] if p < 0 else features[v, p] for v, p in out_rows])
            it = iter(projector(reduced))
            projected = torch.stack([newline if v < 0 else next(it) for v, _ in trows])
            kept_idx = [r for r in trows if r[1] >= 0]
            key = f"{img}.{case['name']}"
            tensors.update({f"{key}.scores": torch.stack([s for s, _, _, _, _ in trimmed]),
                            f"{key}.kept_indices": torch.tensor(kept_idx, dtype=torch.int64).reshape(-1, 2),
                            f"{key}.token_map": torch.tensor(trows, dtype=torch.int64),
                            f"{key}.reduced": reduced, f"{key}.projected": projected})
            gap = min(g for _, _, _, _, g in trimmed)
            min_gap = min(min_gap, gap)
            entry["results"][case["name"]] = {
                "kept": len(kept_idx), "dropped_in_padding": dropped, "tokens": len(trows),
                "newlines": sum(1 for r in trows if r[0] < 0),
                "kept_per_view": [len(k) for _, k, _, _, _ in trimmed],
                "upper_per_view": [st and st[2] for _, _, _, st, _ in trimmed],
                "min_relative_gap": gap}
        manifest["images"].append(entry)
        res = entry["results"]
        kept = [r["kept"] for r in res.values()]
        print(f"{img}: {h}×{w}, grid {nph}×{npw}, {V} views, unpadded {hk}×{wk}, packed L = {len(rows)}, "
              f"cut cells {cut}; TRIM kept {min(kept)}–{max(kept)}, "
              f"dropped up to {max(r['dropped_in_padding'] for r in res.values())}")
    assert min_gap > 1e-5, f"a selection is within {min_gap} of a tie"

    out = {k: v.detach().contiguous() for k, v in tensors.items()}
    dest = os.path.join(OUT, "next.safetensors")
    save_file(out, dest, metadata={"manifest": json.dumps(manifest)})
    print(f"{dest}: {len(out)} tensors, {len(manifest['cases'])} cases per image, smallest tie gap {min_gap:.2e}, "
          f"{os.path.getsize(dest)} bytes")


if __name__ == "__main__":
    main()
