#!/usr/bin/env python3
"""Random-weight CLIP checkpoints in Hugging Face layout, and PyTorch reference outputs for them.

Regenerate everything committed (from the repository root, reference venv of Docs/SEMANTICS.md §4):

    .venv-ref/bin/python Tests/Goldens/clip_goldens.py

writes
    Weights/clip-tiny/   ViT-L/14-like proportions scaled down (patch 14, 224 px, quick_gelu, real 49408-token
                         vocabulary, eos_token_id 2 → argmax pooling), stored as F16: the bundled demo model.
    Weights/clip-odd/    deliberately odd (head dim 12, 75 px image with patch 10 so trailing pixels are dropped,
                         exact-erf GELU, eps 1e-6, 1000-token vocabulary, eos_token_id 999 → first-eos pooling), F32.
    Tests/Goldens/clip/<model>.safetensors   inputs and every reference tensor (see `reference_outputs`).

Other uses (nothing committed):
    --preset vit-l-14-336 --out DIR   full-size random openai/clip-vit-large-patch14-336 shape (≈1.7 GB) + goldens
    --random-shape --seed N --out DIR a held-out model with a random shape, for checks nobody tuned against

Every parameter is re-drawn (LayerNorm weights and biases too) so that each one influences the outputs;
the reference runs in float32 on CPU with the weights exactly as stored (F16-rounded for clip-tiny).
"""
import argparse
import json
import math
import os
import random
import sys

import numpy as np
import torch
from safetensors.torch import save_file
from transformers import CLIPConfig, CLIPModel

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))

PRESETS = {
    "clip-tiny": dict(
        vision=dict(hidden_size=64, intermediate_size=256, num_attention_heads=4, num_hidden_layers=4,
                    patch_size=14, image_size=224, hidden_act="quick_gelu", layer_norm_eps=1e-5),
        text=dict(hidden_size=32, intermediate_size=128, num_attention_heads=2, num_hidden_layers=3,
                  vocab_size=49408, max_position_embeddings=77, hidden_act="quick_gelu", layer_norm_eps=1e-5,
                  bos_token_id=0, eos_token_id=2, pad_token_id=1),
        projection_dim=48, dtype="float16"),
    "clip-odd": dict(
        vision=dict(hidden_size=60, intermediate_size=100, num_attention_heads=5, num_hidden_layers=3,
                    patch_size=10, image_size=75, hidden_act="gelu", layer_norm_eps=1e-6),
        text=dict(hidden_size=36, intermediate_size=72, num_attention_heads=3, num_hidden_layers=2,
                  vocab_size=1000, max_position_embeddings=20, hidden_act="gelu", layer_norm_eps=1e-6,
                  bos_token_id=998, eos_token_id=999, pad_token_id=0),
        projection_dim=24, dtype="float32"),
    # openai/clip-vit-large-patch14-336 shapes (config values as in that checkpoint's config.json).
    "vit-l-14-336": dict(
        vision=dict(hidden_size=1024, intermediate_size=4096, num_attention_heads=16, num_hidden_layers=24,
                    patch_size=14, image_size=336, hidden_act="quick_gelu", layer_norm_eps=1e-5),
        text=dict(hidden_size=768, intermediate_size=3072, num_attention_heads=12, num_hidden_layers=12,
                  vocab_size=49408, max_position_embeddings=77, hidden_act="quick_gelu", layer_norm_eps=1e-5,
                  bos_token_id=0, eos_token_id=2, pad_token_id=1),
        projection_dim=768, dtype="float32"),
}


def random_shape(seed):
    """A CLIP shape nobody tuned against: random widths, heads, depths, patch and image sizes."""
    r = random.Random(seed)
    vh = r.choice([3, 5, 6, 7]) * r.choice([8, 10, 12, 16])
    vheads = [h for h in range(2, 9) if vh % h == 0]
    th = r.choice([4, 6, 9]) * r.choice([4, 6, 8])
    theads = [h for h in range(2, 9) if th % h == 0]
    patch = r.choice([7, 8, 9, 14, 16])
    eos2 = r.random() < 0.5
    vocab = r.choice([500, 3000])
    return dict(
        vision=dict(hidden_size=vh, intermediate_size=r.choice([2, 3, 4]) * vh, num_attention_heads=r.choice(vheads),
                    num_hidden_layers=r.randint(2, 5), patch_size=patch, image_size=patch * r.randint(3, 9) + r.randint(0, patch - 1),
                    hidden_act=r.choice(["quick_gelu", "gelu"]), layer_norm_eps=r.choice([1e-5, 1e-6])),
        text=dict(hidden_size=th, intermediate_size=r.choice([2, 4]) * th, num_attention_heads=r.choice(theads),
                  num_hidden_layers=r.randint(1, 4), vocab_size=vocab, max_position_embeddings=r.randint(10, 40),
                  hidden_act=r.choice(["quick_gelu", "gelu"]), layer_norm_eps=r.choice([1e-5, 1e-6]),
                  bos_token_id=0 if eos2 else vocab - 2, eos_token_id=2 if eos2 else vocab - 1, pad_token_id=1),
        projection_dim=r.choice([16, 20, 32]), dtype=r.choice(["float32", "float16", "bfloat16"]))


def build_model(preset, seed):
    torch.manual_seed(seed)
    config = CLIPConfig(text_config=preset["text"], vision_config=preset["vision"],
                        projection_dim=preset["projection_dim"])
    model = CLIPModel(config).eval()
    g = torch.Generator().manual_seed(seed + 1)
    with torch.no_grad():
        for name, p in model.named_parameters():
            if name == "logit_scale":
                p.fill_(math.log(1 / 0.07))
            elif "layer_norm" in name or "layrnorm" in name or "layernorm" in name:
                # Perturbed around identity so every LayerNorm parameter matters.
                base = 1.0 if name.endswith("weight") else 0.0
                p.copy_(base + 0.2 * torch.randn(p.shape, generator=g))
            elif p.dim() >= 2 and "embedding" not in name:
                # Linear / conv weights: unit-variance outputs, like a trained network's scale.
                fan_in = p[0].numel()
                p.copy_(torch.randn(p.shape, generator=g) / math.sqrt(fan_in))
            elif "embedding" in name:
                p.copy_(0.5 * torch.randn(p.shape, generator=g))
            else:  # biases
                p.copy_(0.1 * torch.randn(p.shape, generator=g))
        # Round to the storage dtype so the reference sees exactly the stored weights.
        dtype = getattr(torch, preset["dtype"])
        for p in model.parameters():
            p.copy_(p.to(dtype).to(torch.float32))
    return model


def save_model(model, preset, out_dir):
    os.makedirs(out_dir, exist_ok=True)
    model.config.save_pretrained(out_dir)
    dtype = getattr(torch, preset["dtype"])
    # The exact tensor names and layout of a Hugging Face CLIPModel checkpoint (model.safetensors).
    state = {k: v.detach().to(dtype).contiguous() for k, v in model.state_dict().items()
             if not k.endswith("position_ids")}
    save_file(state, os.path.join(out_dir, "model.safetensors"), metadata={"format": "pt"})


def reference_inputs(model, seed, n_images=2, n_texts=3):
    cfg = model.config
    g = torch.Generator().manual_seed(seed + 2)
    s = cfg.vision_config.image_size
    images = [torch.randn(3, s, s, generator=g) for _ in range(n_images)]
    tc = cfg.text_config
    L = tc.max_position_embeddings
    if tc.eos_token_id == 2:
        # Legacy OpenAI configs pool at argmax(id): ids as the real tokenizer makes them,
        # <|startoftext|> = vocab-2, <|endoftext|> = vocab-1, padded with <|endoftext|>.
        start, end, pad = tc.vocab_size - 2, tc.vocab_size - 1, tc.vocab_size - 1
    else:
        # Newer configs pool at the first eos_token_id.
        start, end, pad = tc.bos_token_id, tc.eos_token_id, tc.pad_token_id
    texts = []
    for j in range(n_texts):
        # start body end padding, with different lengths (the last fills the context exactly).
        body_len = [3, L // 2, L - 2][j % 3]
        body = torch.randint(3, min(start, end, tc.vocab_size) - 1, (body_len,), generator=g)
        ids = torch.cat([torch.tensor([start]), body, torch.tensor([end])])
        ids = torch.cat([ids, torch.full((L - len(ids),), pad)])
        texts.append(ids.long())
    return images, texts


@torch.no_grad()
def reference_outputs(model, images, texts):
    """pixel_values_i, vision_hidden_i_k (k = 0 … layers), vision_pooled_i, image_embeds_i, input_ids_j,
    text_hidden_j_k, text_last_j (after final_layer_norm), text_pooled_j, text_embeds_j, logit_scale."""
    out = {}
    for i, px in enumerate(images):
        r = model.vision_model(pixel_values=px[None], output_hidden_states=True)
        out[f"pixel_values_{i}"] = px
        for k, h in enumerate(r.hidden_states):
            out[f"vision_hidden_{i}_{k}"] = h[0]
        out[f"vision_pooled_{i}"] = r.pooler_output[0]
        out[f"image_embeds_{i}"] = model.visual_projection(r.pooler_output)[0]
    for j, ids in enumerate(texts):
        r = model.text_model(input_ids=ids[None], output_hidden_states=True)
        out[f"input_ids_{j}"] = ids
        for k, h in enumerate(r.hidden_states):
            out[f"text_hidden_{j}_{k}"] = h[0]
        out[f"text_last_{j}"] = r.last_hidden_state[0]
        out[f"text_pooled_{j}"] = r.pooler_output[0]
        out[f"text_embeds_{j}"] = model.text_projection(r.pooler_output)[0]
    out["logit_scale"] = model.logit_scale.detach().reshape([])
    return {k: v.detach().contiguous() for k, v in out.items()}


def make(name, preset, model_dir, golden_path, seed):
    model = build_model(preset, seed)
    save_model(model, preset, model_dir)
    images, texts = reference_inputs(model, seed)
    refs = reference_outputs(model, images, texts)
    os.makedirs(os.path.dirname(golden_path), exist_ok=True)
    # One metadata key: safetensors writes a multi-key metadata map in no fixed order.
    save_file(refs, golden_path, metadata={
        "producer": f"Tests/Goldens/clip_goldens.py model={name} seed={seed} torch={torch.__version__}"})
    print(f"{name}: {model_dir} ({os.path.getsize(os.path.join(model_dir, 'model.safetensors'))} bytes), "
          f"{golden_path} ({len(refs)} tensors)")


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--preset", choices=sorted(PRESETS))
    ap.add_argument("--random-shape", action="store_true")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", help="output directory for --preset / --random-shape (model + goldens.safetensors)")
    ap.add_argument("--dtype", choices=["float32", "float16", "bfloat16"],
                    help="storage dtype of the weights (overrides the preset's; the reference runs in float32 on "
                         "exactly the stored values)")
    a = ap.parse_args()
    torch.set_num_threads(os.cpu_count() or 1)
    if a.preset or a.random_shape:
        if not a.out:
            sys.exit("--out DIR is required with --preset or --random-shape")
        preset = dict(random_shape(a.seed) if a.random_shape else PRESETS[a.preset])
        if a.dtype:
            preset["dtype"] = a.dtype
        print(json.dumps(preset))
        make(a.preset or f"random-{a.seed}", preset, a.out, os.path.join(a.out, "goldens.safetensors"), a.seed)
        return
    for seed, name in [(1, "clip-tiny"), (2, "clip-odd")]:
        make(name, PRESETS[name], os.path.join(ROOT, "Weights", name),
             os.path.join(ROOT, "Tests", "Goldens", "clip", f"{name}.safetensors"), seed)


if __name__ == "__main__":
    main()
