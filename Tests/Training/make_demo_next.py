#!/usr/bin/env python3
"""Writes the bundled demo LLaVA-NeXT checkpoint, Weights/llava-next-demo/ (seconds; deterministic).

    .venv-ref/bin/python Tests/Training/make_demo_next.py

It holds ONLY THE IMAGE SIDE of a LLaVA-NeXT model, in the llava-hf layout transformers 5 writes
(`LlavaNextForConditionalGeneration.save_pretrained`), and no language model at all:

    vision_tower.*            the trained demo CLIP's vision tower (Weights/clip-demo, its `vision_model.*`
                              tensors renamed; 4 layers, 128 wide, 336 px views, 14 px patches), unchanged
    multi_modal_projector.*   the demo projector (Weights/projector-demo.safetensors: mlp2x_gelu, 128 → 512 → 512,
                              random), unchanged
    image_newline [512]       random: torch.manual_seed(16), N(0, 1/512) as transformers initialises it

    config.json               LlavaNextConfig: the vision_config of clip-demo, image_grid_pinpoints = Hugging
                              Face's default set at 336 ([[336,672],[672,336],[672,672],[1008,336],[336,1008]],
                              height × width), vision_feature_layer −2, vision_feature_select_strategy "default",
                              and a text_config (a one-layer Llama) that describes NO weights here: only its
                              hidden_size, 512 = the projector's output width, means something
    preprocessor_config.json  LlavaNextImageProcessor at 336 with the same pinpoints and CLIP's mean / std

So `trim reduce --model Weights/clip-demo --projector Weights/llava-next-demo …` turns any-resolution input on
by itself: the views go through this checkpoint's tower (the demo CLIP's own, so the features equal clip-demo's
bit for bit), the text tower and `visual_projection` come from --model, and the packed rows are projected with
the demo projector and this `image_newline`. There is no language model, so nothing here was trained for
LLaVA-NeXT: the projector and `image_newline` are random, as the single-view demo projector is.

The script checks what it wrote with transformers: `LlavaNextForConditionalGeneration.from_pretrained` finds every
image-side tensor (only the language model's are missing), and its tower gives clip-demo's hidden states.
"""
import json
import os

import torch
from safetensors.torch import load_file, save_file
from transformers import (CLIPModel, CLIPVisionConfig, LlamaConfig, LlavaNextConfig,
                          LlavaNextForConditionalGeneration, LlavaNextImageProcessorPil)

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
CLIP_DIR = os.path.join(ROOT, "Weights", "clip-demo")
PROJECTOR = os.path.join(ROOT, "Weights", "projector-demo.safetensors")
OUT = os.path.join(ROOT, "Weights", "llava-next-demo")
S = 336
PINPOINTS = [[S, 2 * S], [2 * S, S], [2 * S, 2 * S], [3 * S, S], [S, 3 * S]]  # Hugging Face's default, (height, width)
NEWLINE_SEED = 16


def main():
    os.makedirs(OUT, exist_ok=True)
    clip_state = load_file(os.path.join(CLIP_DIR, "model.safetensors"))
    with open(os.path.join(CLIP_DIR, "config.json")) as f:
        clip_config = json.load(f)
    vision = {k: v for k, v in clip_config["vision_config"].items() if k not in ("model_type",)}

    tensors = {"vision_tower." + k[len("vision_model."):]: v.contiguous()
               for k, v in clip_state.items() if k.startswith("vision_model.")}
    projector = load_file(PROJECTOR)
    assert sorted(projector) == [f"multi_modal_projector.linear_{i}.{p}" for i in (1, 2) for p in ("bias", "weight")]
    tensors.update({k: v.contiguous() for k, v in projector.items()})
    width = projector["multi_modal_projector.linear_2.weight"].shape[0]
    assert projector["multi_modal_projector.linear_1.weight"].shape[1] == vision["hidden_size"]
    torch.manual_seed(NEWLINE_SEED)
    tensors["image_newline"] = (torch.randn(width) / width ** 0.5).contiguous()

    # The language model is not there: text_config only carries the width the projector writes into.
    text = LlamaConfig(hidden_size=width, intermediate_size=2 * width, num_hidden_layers=1, num_attention_heads=8,
                       num_key_value_heads=8, vocab_size=32064, max_position_embeddings=4096)
    config = LlavaNextConfig(vision_config=CLIPVisionConfig(**vision), text_config=text, image_grid_pinpoints=PINPOINTS,
                             vision_feature_layer=-2, vision_feature_select_strategy="default",
                             projector_hidden_act="gelu", image_token_id=32000)
    config.architectures = ["LlavaNextForConditionalGeneration"]
    config.save_pretrained(OUT)
    LlavaNextImageProcessorPil(size={"shortest_edge": S}, crop_size={"height": S, "width": S},
                               image_grid_pinpoints=PINPOINTS).save_pretrained(OUT)
    save_file(tensors, os.path.join(OUT, "model.safetensors"), metadata={"format": "pt"})
    os.chmod(os.path.join(OUT, "model.safetensors"), 0o644)
    check(clip_state)
    print("wrote", os.path.relpath(OUT, ROOT), f"({len(tensors)} tensors, image side only)")


@torch.no_grad()
def check(clip_state):
    """transformers reads every image-side tensor, and the tower is clip-demo's."""
    model, info = LlavaNextForConditionalGeneration.from_pretrained(OUT, dtype=torch.float32, output_loading_info=True)
    missing = info["missing_keys"]
    assert missing and all("language_model" in k or k.startswith("lm_head") for k in missing), missing
    assert not info["unexpected_keys"], info["unexpected_keys"]
    nxt = model.model
    assert torch.equal(nxt.image_newline, load_file(os.path.join(OUT, "model.safetensors"))["image_newline"])
    clip = CLIPModel.from_pretrained(CLIP_DIR, dtype=torch.float32).eval()
    x = torch.randn(2, 3, S, S, generator=torch.Generator().manual_seed(0))
    a = nxt.vision_tower(x, output_hidden_states=True).hidden_states[-2]
    b = clip.vision_model(x, output_hidden_states=True).hidden_states[-2]
    assert torch.equal(a, b), (a - b).abs().max()
    w = nxt.multi_modal_projector.linear_1.weight
    assert torch.equal(w, load_file(PROJECTOR)["multi_modal_projector.linear_1.weight"])
    del clip_state


if __name__ == "__main__":
    main()
