#!/usr/bin/env python3
"""PruMerge and PruMerge+ in PyTorch, ported line by line from the released LLaVA-PruMerge code, and their
stored reference outputs.

Regenerate (from the repository root, reference venv of Docs/SEMANTICS.md §4; after clip_goldens.py and trim_goldens.py):

    .venv-ref/bin/python Tests/Goldens/prumerge_goldens.py

writes Tests/Goldens/prumerge/<model>.safetensors for clip-tiny (16 × 16 grid), clip-odd (7 × 7) and the
trained clip-demo (24 × 24), each holding, per image and case, `cls_attention`, `kept_indices` (int64, row
order) and `reduced`, with a JSON manifest in the metadata key "manifest".

Other uses (nothing committed): --model-dir DIR --images A.jpg B.png --out FILE  (held-out checks).

The port follows github.com/42Shawn/LLaVA-PruMerge, llava/model/multimodal_encoder/clip_encoder.py
(`token_prune_merge_advanced`, `token_prune_merge_advanced_plus`, `outlier_dectection`, `complement_idx`)
statement by statement, batch of one, float32, with only these changes where the released code breaks or
hard-codes ViT-L/14-336 (each marked `# change:` below; Docs/ALGORITHM.md explains them):
  - the hooked layer is the last one, `layers[L-1]`, instead of the literal 23;
  - `arange(0, 575, …)` uses N − 1 instead of 575;
  - top-32 takes min(32, others) when fewer tokens remain;
  - PruMerge+ with ratio 0 uses the sample [0] (1/ratio is infinite) instead of dividing by zero, a zero
    step becomes 1, an empty supplement appends nothing;
  - ties in `torch.topk` go to the lower index (a stable descending sort), which the Swift side also does.
"""
import argparse
import json
import os
import sys

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image
from safetensors.torch import save_file
from transformers import CLIPModel

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from image_goldens import expand2square  # noqa: E402
from trim_goldens import processor_for, test_images  # noqa: E402

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
OUT = os.path.join(ROOT, "Tests", "Goldens", "prumerge")

# (name, plus, adaptive, ratio when not adaptive)
CASES = [
    ("prumerge", False, True, None),
    ("prumerge+", True, True, None),
    ("prumerge_ratio_1/8", False, False, 1 / 8),
    ("prumerge_ratio_0.3", False, False, 0.3),
    ("prumerge+_ratio_0.4", True, False, 0.4),  # int(int(1/0.4)/3) = 0: the released arange fails
    ("prumerge+_ratio_0", True, False, 0.0),    # 1/0: the released code divides by zero
]


def topk_desc(x, k):
    """torch.topk(x, k, largest=True) with ties to the lower index."""
    order = torch.sort(x, descending=True, stable=True).indices
    return x[order[:k]], order[:k]


def complement_idx(idx, dim):
    a = torch.arange(dim, device=idx.device)
    ndim = idx.ndim
    dims = idx.shape
    n_idx = dims[-1]
    dims = dims[:-1] + (-1, )
    for i in range(1, ndim):
        a = a.unsqueeze(0)
    a = a.expand(*dims)
    masked = torch.scatter(a, -1, idx, 0)
    compl, _ = torch.sort(masked, dim=-1, descending=False)
    compl = compl.permute(-1, *tuple(range(ndim - 1)))
    compl = compl[n_idx:].permute(*(tuple(range(1, ndim)) + (0,)))
    return compl


def outlier_dectection(attn):
    attn_np = attn.to(dtype=torch.float32).cpu().numpy().flatten()
    Q1 = np.percentile(attn_np, 25)
    Q3 = np.percentile(attn_np, 75)
    IQR = Q3 - Q1
    upper_bound = Q3 + 1.5 * IQR
    outlier_indices = np.where((attn_np > upper_bound))[0]
    ratio = len(outlier_indices) / len(attn_np)
    return ratio, float(Q1), float(Q3), float(upper_bound)


def prune_merge(vision_tower, images, plus, if_adaptive=True, reduction_ratio=1 / 8, select_layer=-2):
    """token_prune_merge_advanced(_plus) for one image: (reduced [R, C], kept idx [K], cls_attn [N], stats)."""
    outputs = {}
    layers = vision_tower.encoder.layers
    last = len(layers) - 1  # change: layers[23] → the last layer
    hook_handle_k = layers[last].self_attn.k_proj.register_forward_hook(lambda m, i, o: outputs.__setitem__("desired_k", o))
    hook_handle_q = layers[last].self_attn.q_proj.register_forward_hook(lambda m, i, o: outputs.__setitem__("desired_q", o))
    image_forward_outs = vision_tower(images, output_hidden_states=True)
    image_features = image_forward_outs.hidden_states[select_layer][:, 1:]
    B, N, C = image_features.shape
    desired_layer_k = outputs["desired_k"]
    desired_layer_q = outputs["desired_q"]
    hook_handle_k.remove()
    hook_handle_q.remove()

    attn = (desired_layer_q @ desired_layer_k.transpose(-2, -1)) * C ** -0.5
    attn = F.softmax(attn, dim=-1)
    cls_attn = attn[:, 0, 1:]

    stats = (None, None, None)
    if if_adaptive:
        reduction_ratio, q1, q3, upper = outlier_dectection(cls_attn)
        stats = (q1, q3, upper)
    _, idx0 = topk_desc(cls_attn[0], int(N * reduction_ratio))
    idx = idx0.unsqueeze(0)

    if plus:  # the inference branch (used for a fixed ratio too; see Docs/ALGORITHM.md)
        if reduction_ratio == 0:
            arithmetic_sequence = torch.tensor([0])  # change: 1/0 → an infinite step
        else:
            step_length = int(1 / reduction_ratio)
            step = max(int(step_length / 3), 1)  # change: a zero step → 1
            arithmetic_sequence = torch.arange(0, N - 1, step)  # change: 575 → N − 1
        original_tensor_1d = idx.flatten()
        filtered_sequence = torch.tensor([x for x in arithmetic_sequence if x not in original_tensor_1d],
                                         dtype=torch.long)  # change: an empty list stays a long tensor
        idx = torch.cat((idx, filtered_sequence.unsqueeze(0)), dim=1)

    index = idx.unsqueeze(-1).expand(-1, -1, C)
    Key_wo_cls = desired_layer_k[:, 1:]
    x_others = torch.gather(image_features, dim=1, index=index)
    x_others_attn = torch.gather(cls_attn, dim=1, index=idx)
    Key_others = torch.gather(Key_wo_cls, dim=1, index=index)
    compl = complement_idx(idx, N)
    non_topk = torch.gather(image_features, dim=1, index=compl.unsqueeze(-1).expand(-1, -1, C))
    non_topk_Key = torch.gather(Key_wo_cls, dim=1, index=compl.unsqueeze(-1).expand(-1, -1, C))
    non_topk_attn = torch.gather(cls_attn, dim=1, index=compl)
    Key_others_norm = F.normalize(Key_others, p=2, dim=-1)
    non_topk_Key_norm = F.normalize(non_topk_Key, p=2, dim=-1)

    B, left_tokens, C = x_others.size()
    updated_x_others = torch.zeros_like(x_others)
    for b in range(B):
        for i in range(left_tokens):
            key_others_norm = Key_others_norm[b, i, :].unsqueeze(0).unsqueeze(0)
            before_i_Key = Key_others_norm[b, :i, :].unsqueeze(0)
            after_i_Key = Key_others_norm[b, i + 1:, :].unsqueeze(0)
            before_i_x_others = x_others[b, :i, :].unsqueeze(0)
            after_i_x_others = x_others[b, i + 1:, :].unsqueeze(0)
            rest_x_others = torch.cat([before_i_x_others, after_i_x_others, non_topk[b, :, :].unsqueeze(0)], dim=1)
            before_i_x_others_attn = x_others_attn[b, :i].unsqueeze(0)
            after_i_x_others_attn = x_others_attn[b, i + 1:].unsqueeze(0)
            rest_x_others_attn = torch.cat([before_i_x_others_attn, after_i_x_others_attn,
                                            non_topk_attn[b, :].unsqueeze(0)], dim=1)
            rest_Keys = torch.cat([before_i_Key, after_i_Key, non_topk_Key_norm[b, :, :].unsqueeze(0)], dim=1)
            cos_sim_matrix = torch.bmm(key_others_norm, rest_Keys.transpose(1, 2))
            k = min(32, rest_Keys.shape[1])  # change: top-32 of fewer
            _, cluster_indices = topk_desc(cos_sim_matrix[0, 0], k)
            cluster_tokens = rest_x_others[:, cluster_indices, :]
            weights = rest_x_others_attn[:, cluster_indices].unsqueeze(-1)
            weighted_avg = torch.sum(cluster_tokens * weights, dim=1)
            updated_center = weighted_avg + x_others[b, i, :]
            updated_x_others[b, i, :] = updated_center

    extra_one_token = torch.sum(non_topk * non_topk_attn.unsqueeze(-1), dim=1, keepdim=True)
    updated_x_others = torch.cat([updated_x_others, extra_one_token], dim=1)
    return updated_x_others[0], idx[0], cls_attn[0], stats


def run_model(model_dir, image_paths):
    # The vision half of CLIPModel (transformers 5's CLIPVisionModel would re-prefix the checkpoint's keys).
    full = CLIPModel.from_pretrained(model_dir, dtype=torch.float32, attn_implementation="eager").eval()
    model, vc = full.vision_model, full.config.vision_config
    proc = processor_for(model_dir, vc.image_size)
    pad = tuple(int(x * 255) for x in proc.image_mean)
    out, manifest = {}, {"model": os.path.relpath(model_dir, ROOT), "images": [], "cases": []}
    for i, path in enumerate(image_paths):
        manifest["images"].append(os.path.relpath(path, ROOT))
        img = Image.open(path).convert("RGB")
        px = proc(images=expand2square(img, pad), return_tensors="pt")["pixel_values"]
        for name, plus, adaptive, ratio in CASES:
            with torch.no_grad():
                reduced, idx, cls_attn, (q1, q3, upper) = prune_merge(
                    model, px, plus, if_adaptive=adaptive, reduction_ratio=ratio if ratio is not None else 1 / 8)
            c = len(manifest["cases"])
            out[f"case{c}.reduced"] = reduced.contiguous()
            out[f"case{c}.kept_indices"] = idx.to(torch.int64).contiguous()
            out[f"case{c}.cls_attention"] = cls_attn.contiguous()
            manifest["cases"].append(dict(image=i, name=name, plus=plus, ratio=ratio, kept=len(idx), upper=upper))
    return out, manifest


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model-dir")
    ap.add_argument("--images", nargs="*")
    ap.add_argument("--out")
    a = ap.parse_args()
    torch.set_num_threads(os.cpu_count() or 1)
    if a.model_dir:
        t, m = run_model(os.path.abspath(a.model_dir), [os.path.abspath(p) for p in a.images])
        save_file(t, a.out, metadata={"manifest": json.dumps(m)})
        print(a.out, [(c["name"], c["kept"]) for c in m["cases"]])
        return
    os.makedirs(OUT, exist_ok=True)
    images = [os.path.join(ROOT, "Weights", "demo-image.jpg"), os.path.join(ROOT, "Weights", "demo", "scene.jpg")] + \
             [os.path.join(ROOT, "Tests", "Goldens", "trim", "images", n) for n, _, _ in test_images()]
    for name in ["clip-tiny", "clip-odd"] + ([] if os.environ.get("NO_DEMO") else ["clip-demo"]):
        d = os.path.join(ROOT, "Weights", name)
        if not os.path.exists(os.path.join(d, "model.safetensors")):
            sys.exit(f"{d} is missing: train it first (Tests/Training/train_demo_clip.py)")
        t, m = run_model(d, images if name != "clip-demo" else images[:2])
        path = os.path.join(OUT, f"{name}.safetensors")
        save_file(t, path, metadata={"manifest": json.dumps(m)})
        print(path, [(c["name"], c["kept"]) for c in m["cases"]], os.path.getsize(path), "bytes")


if __name__ == "__main__":
    main()
