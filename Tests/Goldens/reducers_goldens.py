#!/usr/bin/env python3
"""FasterVLM, VisionZip, VisPruner, DivPrune and CDPruner in PyTorch, ported statement by statement from the
authors' released LLaVA-1.5 code (Docs/SEMANTICS.md §3c), and their stored reference outputs.

Regenerate (from the repository root, reference venv of Docs/SEMANTICS.md §4; after clip_goldens.py and trim_goldens.py):

    .venv-ref/bin/python Tests/Goldens/reducers_goldens.py          (NO_DEMO=1 skips clip-demo)

writes Tests/Goldens/reducers/<model>.safetensors for clip-tiny (16 × 16 grid, Weights/projector-tiny),
clip-odd (7 × 7, Tests/Goldens/trim/projector-odd, original LLaVA names) and the trained clip-demo (24 × 24,
Weights/projector-demo), on the images of prumerge_goldens.py (two for clip-demo). To keep the files small:
clip-odd runs every case (`full_plan`) on every image, clip-tiny on image 0 and the budgets (`core_plan`) on
the others, clip-demo the budgets on both images (image 1 without the projector). A float64 rerun of each
selection flags rounding-dependent cases ("fp64_agrees"); a CDPruner case whose float64 selection differs is
left out (listed under "dropped"): its greedy steps accumulate float32 rounding in the orthogonalised rows, so
the reference's own picks are not reproducible in float32 even where every step's margin is well above 1e-6. Takes about 20 s on 2 CPU cores.

Other uses (nothing committed):
    --model-dir DIR [--projector FILE] --images A.jpg B.png --prompts "p1" "p2" --out FILE
        budgets 64 / 128 / 192 scaled to the model's N (round(N·b/576); exact on 576 patches) and the
        defaults, every method, every image and prompt (held-out checks, e.g. on a ViT-L/14-336 made by
        Tests/Goldens/clip_goldens.py --preset vit-l-14-336 --seed N --out DIR).

File schema. Metadata key "manifest" (JSON):
    {"model": relpath, "projector": relpath | null, "images": [relpaths], "prompts": [texts as given],
     "cases": [{"image": i, "method": "fastervlm" | "visionzip" | "vispruner" | "divprune" | "cdpruner",
                "keep": T requested (null: DivPrune's default int(round(0.098·N)), or VisionZip given D and C;
                        VisionZip with "keep": D = round-half-even(27·T/32), C = T − D, both recorded),
                "dominant": D, "contextual": C            (VisionZip: D counts the CLS row; else null),
                "important_ratio": r                      (VisPruner; else null),
                "scoring": "authors" | "paper", "prompt": j  (CDPruner; else null),
                "projector": whether the case uses the projector (DivPrune / CDPruner select on its rows),
                "signal": "cls_attention" | "relevance" | null, "rows": rows of `reduced`,
                "gap": the smallest relative gap of any discrete choice the case makes — (s_k − s_k+1)/|s_k| of
                       a sorted score at a top-k / argsort boundary (FasterVLM, VisionZip's dominant set, VisPruner's
                       important set and each round's drop), or (best − second)/|best| of an argmax (VisionZip's
                       assignments, DivPrune's and CDPruner's greedy steps); null if no choice is made,
                "dpp_stop": (CDPruner) null, or {"step": i, "ratio": largest remaining d² / largest initial
                       d² at the stop, "last_ratio": the same at the last DPP step} when the rank rule fired,
                "fp64_agrees": whether the same selection computed in float64 from the same float32 inputs keeps
                       the same patches (false: the kept set depends on float32 rounding; compare with a tie
                       tolerance)}],
     "dropped": [cases left out because they are not reproducible in float32 (CDPruner cases whose float64
                 selection differs), with "reason"; absent if none],
     "logic": [{"image": i, "keep": T, "important_ratio": r}]  (clip-tiny and clip-demo, image 0: VisPruner's
                 selection run on the stored cosines; absent elsewhere)}
    Tensors per case c:
    case{c}.kept_indices  int64 [K]   patch indices (0-based among the N patches, no CLS) of the single-patch
                                      rows of `reduced`, in row order (VisionZip: its dominant patches)
    case{c}.reduced       f32 [R, D]  the rows handed to the LLM before the projector (VisionZip: x_CLS,
                                      dominant patches ascending, contextual rows in target order)
    case{c}.projected     f32 [R, P]  the projector applied to those rows (only when "projector" is true)
    case{c}.signal        f32 [N]     fastervlm / vispruner: mean_h A[h,0,1:]; visionzip: Σ_h A[h,0,1:];
                                      cdpruner: r after the min/max step; divprune: absent
    prompt{j}.input_ids   int64 [L]   CDPruner's text ids ("<image>" → " ", no truncation, before padding)
    prompt{j}.text_embeds f32 [M, P'] one projected text embedding per segment of max_position_embeddings
    logic_image{i}.cosines f32 [N, N] x̂ x̂ᵀ of the normalised features (the port's own float32 products)
    logic_image{i}.signal f32 [N]     mean_h A[h,0,1:]
    logic{k}.kept_indices int64 [T]   VisPruner's choice from those two, ascending

Where the released code breaks or hard-codes ViT-L/14-336 / 24 layers, the port changes it (each marked
`# change:` below):
  - ties in topk / argsort go to the lower index (a stable descending sort); argmax takes the first maximum;
  - any budget T > N is clamped to N; T = 0 gives no rows (VisionZip keeps its CLS row while D ≥ 1);
  - VisionZip: layer 22 → layer L−2 (the one that outputs hidden_states[-2]); D is clamped to N + 1, D = 0
    means no CLS row either; C = 0 gives no contextual rows (released divides by zero); M < C uses C = M
    (released fails to broadcast); M = 0 gives no contextual rows;
  - VisPruner: with an odd residual count R the released `expand(-1, R // 2 - r)` fails; all the a's that
    are not dropped are kept (in descending score order), then all the b's. When r' exceeds the number of
    a's (small T_div), Python slicing drops every a (R → R // 2) — the released expand fails there too;
  - DivPrune: N = 1 picks 0 (topk of 2 fails on one row); T picks instead of the SUBSET_RATIO environment
    variable, default int(round(0.098·N));
  - CDPruner: max == min relevance gives r = 1 everywhere (released divides by zero); if the largest
    remaining d² ≤ 1e-4 × the largest initial diagonal entry of K (the kernel's rank is exhausted), the
    remaining picks are the unpicked patches by descending r, ties to the lower index.
The attention is transformers' eager `attentions[-2]` (softmax(q·kᵀ·hd^-0.5)); VisionZip's own attention
scales q before the product, the same value up to rounding. Without a projector DivPrune and CDPruner work on
x[1:] (hidden_states[-2] without CLS), the project's convention.
"""
import argparse
import json
import os
import sys
import time

import torch
import torch.nn.functional as F
from PIL import Image
from safetensors.torch import save_file

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from image_goldens import expand2square  # noqa: E402
from trim_goldens import load_for_goldens, test_images  # noqa: E402

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
OUT = os.path.join(ROOT, "Tests", "Goldens", "reducers")

PROMPTS = [
    "<image>\nWhere is the red ball?",
    # More than two segments of 77 tokens (and many of clip-odd's 20).
    "<image>\nDescribe in great detail " + " ".join(f"the object number {i} and its colour," for i in range(30))
    + " please.",
]


# ------------------------------------------------------------------------------------------------ helpers
def desc_order(x):
    """argsort(descending=True) with ties to the lower index."""
    return torch.sort(x, descending=True, stable=True).indices


def topk_desc(x, k):
    """torch.topk(x, k) along the last dim with ties to the lower index."""
    order = desc_order(x)[..., :k]
    return torch.gather(x, -1, order), order


def topk_gap(s, k):
    """Relative gap between the k-th and (k+1)-th largest score (None if no boundary)."""
    if k <= 0 or k >= s.numel():
        return None
    v = torch.sort(s.flatten(), descending=True).values
    return float((v[k - 1] - v[k]) / v[k - 1].abs().clamp_min(1e-30))


def argmax_gap(scores, valid=None):
    """Relative gap between the best and second-best finite entries."""
    v = scores[torch.isfinite(scores)] if valid is None else scores[valid]
    if v.numel() < 2:
        return None
    t = torch.topk(v, 2).values
    return float((t[0] - t[1]) / t[0].abs().clamp_min(1e-30))


def order_gap(v):
    """Smallest relative gap between neighbours of the sorted values (None for fewer than two): every place
    where a near-tie reorders them."""
    v = torch.sort(v.flatten(), descending=True).values
    if v.numel() < 2:
        return None
    return float(((v[:-1] - v[1:]) / v[:-1].abs().clamp_min(1e-30)).min())


def min_gap(gaps):
    gaps = [g for g in gaps if g is not None]
    return min(gaps) if gaps else None


# ------------------------------------------------------------------------------------------------ vision
@torch.no_grad()
def vision_forward(model, px):
    """hidden_states[-2] [1, 1+N, D], attentions[-2] [1, H, 1+N, 1+N], VisionZip's metric [1, 1+N, hd]."""
    layers = model.encoder.layers
    layer = len(layers) - 2  # change: VisionZip's literal 22 → L − 2 (the layer that outputs hidden_states[-2])
    attn = layers[layer].self_attn
    captured = {}

    def hook(module, inputs, output):
        # utils.py CLIPAttention_forward: key_states = self._shape(self.k_proj(hidden_states), -1, bsz)
        # = view(bsz, S, H, hd).transpose(1, 2) → [B, H, S, hd]; metric = raw_key_states.mean(1).
        bsz, S, _ = output.shape
        key_states = output.view(bsz, S, attn.num_heads, attn.head_dim).transpose(1, 2).contiguous()
        captured["metric"] = key_states.clone().mean(1)

    handle = attn.k_proj.register_forward_hook(hook)
    try:
        outs = model(pixel_values=px, output_hidden_states=True, output_attentions=True)
    finally:
        handle.remove()
    assert len(outs.hidden_states) == len(layers) + 1 and len(outs.attentions) == len(layers)
    return outs.hidden_states[-2], outs.attentions[-2], captured["metric"]


# ------------------------------------------------------------------------------------------------ FasterVLM
def fastervlm(image_features, image_attentions, visual_token_num):
    """llava_arch.py encode_images (FasterVLM), batch of one: (kept ascending, cls attention, gap)."""
    B, N, C = image_features.shape
    visual_token_num = min(visual_token_num, N)  # change: T > N clamped
    image_attentions = image_attentions.mean(dim=1)  # (B, N)
    token_indices = topk_desc(image_attentions, visual_token_num)[1]  # change: ties to the lower index
    index_masks = torch.zeros(B, N, dtype=torch.bool)
    index_masks.scatter_(1, token_indices, True)
    kept = torch.nonzero(index_masks[0]).flatten()  # the masked rows, in order
    return kept, image_attentions[0], topk_gap(image_attentions[0], visual_token_num)


# ------------------------------------------------------------------------------------------------ VisionZip
def visionzip(hidden_states, attn_weights, metric, dominant, contextual_num):
    """clip_encoder.py CLIPVisionTower_VisionZip.forward, batch of one, after main.py's dominant_num =
    dominant − 1: (rows [D + C, width], dominant patches ascending, Σ_h cls attention, gap)."""
    N = hidden_states.shape[1] - 1
    dominant = min(dominant, N + 1)  # change: D clamped to N + 1
    dominant_num = max(dominant - 1, 0)  # change: D = 0 → no CLS row and no dominant patch (below)

    ## Dominant Visual Tokens
    cls_idx = 0
    cls_attention = attn_weights[:, :, cls_idx, cls_idx + 1:]
    cls_attention_sum = cls_attention.sum(dim=1)
    topk_indices = topk_desc(cls_attention_sum, dominant_num)[1] + 1  # change: ties to the lower index
    if dominant >= 1:
        all_indices = torch.cat([torch.zeros((hidden_states.shape[0], 1), dtype=topk_indices.dtype), topk_indices], dim=1)
    else:
        all_indices = topk_indices  # change: D = 0 keeps no CLS row
    kept_count = all_indices.shape[1]

    mask = torch.ones_like(hidden_states[:, :, 0], dtype=torch.bool).scatter_(1, all_indices, False)
    mask[:, 0] = False  # change: (only matters for D = 0) the CLS row is never a contextual candidate
    dominant_tokens = hidden_states.masked_select(~mask.unsqueeze(-1)).view(hidden_states.shape[0], -1, hidden_states.shape[2])
    if dominant == 0:
        dominant_tokens = dominant_tokens[:, 1:]  # change: D = 0 → drop the CLS row again
    assert dominant_tokens.shape[1] == kept_count

    ### Filter
    M = int(mask[0].sum())
    metric_filtered = metric[mask].view(hidden_states.shape[0], M, metric.shape[2])
    hidden_states_filtered = hidden_states.masked_select(mask.unsqueeze(-1)).view(hidden_states.shape[0], M, hidden_states.shape[2])
    metric_normalized = metric_filtered / metric_filtered.norm(dim=-1, keepdim=True)

    ## Contextual Visual Tokens
    contextual_num = min(contextual_num, M)  # change: M < C → C = M; C = 0 or M = 0 → no contextual rows
    if contextual_num > 0:
        step = max(1, metric_normalized.shape[1] // contextual_num)
        target_indices = torch.arange(0, metric_normalized.shape[1], step)[:contextual_num]
        target_tokens = metric_normalized[:, target_indices, :]

        tokens_to_merge = metric_normalized[:, ~torch.isin(torch.arange(metric_normalized.shape[1]), target_indices), :]
        similarity = torch.bmm(tokens_to_merge, target_tokens.transpose(1, 2))
        assign_one_hot = torch.zeros(tokens_to_merge.shape[0], tokens_to_merge.shape[1], contextual_num, dtype=hidden_states_filtered.dtype)
        assign_one_hot.scatter_(2, similarity.argmax(dim=2).unsqueeze(-1), 1)  # first maximum on ties
        counts = assign_one_hot.sum(dim=1).clamp(min=1).unsqueeze(-1)
        hidden_to_merge = hidden_states_filtered[:, ~torch.isin(torch.arange(hidden_states_filtered.shape[1]), target_indices), :]
        aggregated_hidden = torch.bmm(assign_one_hot.transpose(1, 2), hidden_to_merge) / counts
        target_hidden = hidden_states_filtered[:, target_indices, :]

        contextual_tokens = target_hidden + aggregated_hidden
        gaps = [argmax_gap(row) for row in similarity[0]]
    else:
        contextual_tokens = hidden_states[:, :0]
        gaps = []

    # Merge with target hidden states and concatenate
    hidden_states_save = torch.cat([dominant_tokens, contextual_tokens], dim=1)
    kept = (topk_indices[0] - 1).sort().values  # the dominant patches, ascending as masked_select keeps them
    gap = min_gap([topk_gap(cls_attention_sum[0], dominant_num)] + gaps)
    return hidden_states_save[0], kept, cls_attention_sum[0], gap


# ------------------------------------------------------------------------------------------------ VisPruner
def vispruner(image_features, image_attentions, visual_token_num, important_ratio, cosines=None):
    """llava_arch.py encode_images (VisPruner), batch of one: (kept ascending, cls attention, gap).

    `cosines` (an [N, N] matrix) replaces the per-round `a @ bᵀ` of the normalised features by lookups in it,
    for checking the selection logic on given cosines (the "logic" goldens). `gap` covers every ordering the
    rounds depend on: the whole descending attention order (it fixes which residual patch is an a or a b) and
    every round's sorted scores (the kept a's stay in that order), not only the drop boundaries."""
    B, N, C = image_features.shape
    visual_token_num = min(visual_token_num, N)  # change: T > N clamped
    important_token_num = int(visual_token_num * important_ratio)  # T_imp = T * r
    diverse_token_num = visual_token_num - important_token_num  # T_div = T * (1 - r)

    image_attentions = image_attentions.mean(dim=1)  # (B, N)
    token_indices = desc_order(image_attentions)  # change: stable descending argsort
    important_indices = token_indices[:, :important_token_num]
    residual_indices = token_indices[:, important_token_num:]

    image_normalized = image_features / image_features.norm(dim=-1, keepdim=True)
    gaps = [topk_gap(image_attentions[0], important_token_num)]
    if diverse_token_num > 0:
        gaps.append(order_gap(image_attentions[0]))
    while diverse_token_num > 0:
        R = residual_indices.shape[1]
        r = min(8, R - diverse_token_num)
        if r <= 0:
            break

        if cosines is None:
            residual_tokens = image_normalized[torch.arange(B).unsqueeze(-1).expand(-1, R), residual_indices]
            a, b = residual_tokens[..., ::2, :], residual_tokens[..., 1::2, :]
            scores = a @ b.transpose(-1, -2)
        else:  # the same products, looked up in the given matrix
            scores = cosines[residual_indices[0, ::2]][:, residual_indices[0, 1::2]].unsqueeze(0)
        scores = scores.max(dim=-1).values

        distinct_indices = desc_order(scores)[:, r:]  # change: stable descending argsort
        gaps.append(order_gap(scores[0]))
        a_indices = residual_indices[..., ::2]
        residual_indices = torch.cat([
            # change: keep every a that is not dropped (ceil(R/2) − r of them; released expands R // 2 − r)
            a_indices[torch.arange(B).unsqueeze(-1).expand(-1, distinct_indices.shape[1]), distinct_indices],
            residual_indices[..., 1::2]
        ], dim=-1)

    if diverse_token_num > 0:
        selected_indices = torch.cat([important_indices, residual_indices], dim=-1)
    else:
        selected_indices = important_indices
    index_masks = torch.zeros(B, N, dtype=torch.bool)
    index_masks.scatter_(1, selected_indices, True)
    kept = torch.nonzero(index_masks[0]).flatten()
    assert len(kept) == visual_token_num, (len(kept), visual_token_num)
    return kept, image_attentions[0], min_gap(gaps)


# ------------------------------------------------------------------------------------------------ DivPrune
def pairwise_cosine_similarity(matrix):
    norm_matrix = matrix / matrix.norm(dim=1, keepdim=True)
    cosine_similarity = torch.mm(norm_matrix, norm_matrix.t())
    return cosine_similarity


def divprune(visual_feature_vectors, threshold_terms):
    """llava_arch.py DivPrune with a count instead of a ratio: (picks sorted ascending, gap)."""
    n = visual_feature_vectors.shape[0]
    threshold_terms = min(threshold_terms, n)  # change: T > N clamped
    cosine_matrix = 1.0 - (pairwise_cosine_similarity(visual_feature_vectors))

    s = torch.empty(threshold_terms, dtype=torch.long)
    gaps = []
    for i in range(threshold_terms):
        if i == 0:
            m2 = cosine_matrix
        else:
            m2 = torch.index_select(cosine_matrix, 0, torch.index_select(s, 0, torch.arange(0, i)))

        if i == 0:
            if n == 1:
                scores = torch.zeros(1)  # change: topk of 2 on one row fails; the pick is 0
            else:
                scores = torch.topk(m2, 2, dim=0, largest=False).values[1, :]  # for distance
        else:
            scores = torch.min(m2, dim=0).values  # for distance

        phrase_to_add_idx = torch.argmax(scores)  # first maximum on ties
        s[i] = phrase_to_add_idx
        gaps.append(argmax_gap(scores))
    # keep_indexs.sort() in prepare_inputs_labels_for_multimodal: the picks in ascending order
    return s.sort().values, min_gap(gaps)


# ------------------------------------------------------------------------------------------------ CDPruner
@torch.no_grad()
def text_embeds_for(full, tok, prompt):
    """clip_encoder.py forward's text branch: no truncation, pad ids and mask with 0 to a multiple of
    max_position_embeddings, one row per segment through CLIPTextModelWithProjection."""
    text = prompt.replace("<image>", " ")  # the project's rule for LLaVA question files
    text_inputs = tok(text=[text], return_tensors="pt")
    text_inputs = {k: text_inputs[k] for k in ("input_ids", "attention_mask")}
    max_position_embeddings = full.config.text_config.max_position_embeddings
    ids = text_inputs["input_ids"][0].clone()
    text_segment = (text_inputs["input_ids"].shape[1] - 1) // max_position_embeddings + 1
    text_padding = max_position_embeddings * text_segment - text_inputs["input_ids"].shape[1]
    text_inputs = {
        k: torch.cat([v, v.new_zeros((v.shape[0], text_padding))], dim=1).reshape(-1, max_position_embeddings)
        for k, v in text_inputs.items()
    }
    pooled = full.text_model(**text_inputs).pooler_output
    return ids, full.text_projection(pooled)


def cdpruner(image_features, image_embeds, text_embeds, visual_token_num, scoring):
    """llava_arch.py encode_images (CDPruner), batch of one. image_features: X [1, N, D'] (projector rows or
    features); image_embeds: E [1, N, P]; text_embeds [M, P]. Returns (picks ascending, r [N], gap, info)."""
    B, N, C = image_features.shape
    visual_token_num = min(visual_token_num, N)  # change: T > N clamped

    image_normalized = image_features / image_features.norm(dim=-1, keepdim=True)
    image_normalized = image_normalized.to(image_features.dtype)  # .float() (float64 in the rounding check)
    similarity = torch.matmul(image_normalized, image_normalized.transpose(1, 2))

    image_embeds = image_embeds / image_embeds.norm(dim=-1, keepdim=True)
    text_embeds = text_embeds / text_embeds.norm(dim=-1, keepdim=True)
    relevance = torch.matmul(image_embeds, text_embeds.t())
    relevance = (-relevance if scoring == "authors" else relevance).mean(dim=-1)  # paper: no minus
    if relevance.max() == relevance.min():
        relevance = torch.ones_like(relevance)  # change: released divides by zero
    else:
        relevance = (relevance - relevance.min() + 1e-6) / (relevance.max() - relevance.min())

    kernel = relevance.unsqueeze(2) * similarity * relevance.unsqueeze(1)

    cis = torch.zeros((visual_token_num, B, N), dtype=kernel.dtype)
    di2s = torch.diagonal(kernel, dim1=1, dim2=2).clone()
    initial_max = float(di2s.max()) if N else 0.0
    select_idx = torch.empty((visual_token_num, B), dtype=torch.long)
    gaps, exhausted_at, last_ratio = [], None, None
    for i in range(visual_token_num):
        remaining = torch.isfinite(di2s[0])
        best = float(di2s[0][remaining].max())
        if best <= 1e-4 * initial_max:
            # change: the kernel's rank is exhausted; the rest by descending relevance, ties to the lower index
            picked = set(select_idx[:i, 0].tolist())
            order = [j for j in desc_order(relevance[0]).tolist() if j not in picked]
            select_idx[i:, 0] = torch.tensor(order[:visual_token_num - i], dtype=torch.long)
            exhausted_at = (i, best / initial_max)
            break
        last_ratio = best / initial_max
        gaps.append(argmax_gap(di2s[0], remaining))
        j = torch.argmax(di2s, dim=-1)
        select_idx[i] = j

        eis = (kernel[torch.arange(B), j] - torch.einsum('tb,tbn->bn', cis[:i, torch.arange(B), j], cis[:i])) \
            / torch.sqrt(di2s[torch.arange(B), j]).unsqueeze(-1)
        cis[i, :, :] = eis
        di2s -= torch.square(eis)
        di2s[torch.arange(B), j] = -float('inf')

    select_idx = torch.sort(select_idx.t()).values
    return select_idx[0], relevance[0], min_gap(gaps), dict(exhausted_at=exhausted_at, last_ratio=last_ratio)


# ------------------------------------------------------------------------------------------------ plans
def budgets(n):
    return [round(n * b / 576) for b in (64, 128, 192)]


def odd_residual_budget(n, start):
    """The first T ≥ start with an odd residual count N − int(T·0.5) (VisPruner's odd-R path)."""
    t = start
    while (n - int(t * 0.5)) % 2 == 0:
        t += 1
    return t


def vz_split(t):
    d = round(27 * t / 32)  # round half to even
    return d, t - d


def core_plan(n, width, has_proj, rank_case=False):
    b = budgets(n)
    p = has_proj
    cases = []
    cases += [dict(method="fastervlm", keep=t, projector=False) for t in b]
    cases += [dict(method="visionzip", keep=t, projector=False) for t in b]
    cases += [dict(method="vispruner", keep=t, important_ratio=0.5, projector=False)
              for t in b + [odd_residual_budget(n, b[0] + 1)]]
    cases += [dict(method="divprune", keep=None, projector=p)]
    cases += [dict(method="divprune", keep=t, projector=False) for t in b]
    cases += [dict(method="cdpruner", keep=b[0], scoring=s, prompt=0, projector=p) for s in ("authors", "paper")]
    cases += [dict(method="cdpruner", keep=b[0], scoring="authors", prompt=1, projector=False)]
    if width < n and rank_case:  # rank exhaustion: more picks than the width of the features
        cases += [dict(method="cdpruner", keep=b[2], scoring="authors", prompt=0, projector=False)]
    return cases


def full_plan(n, width, has_proj):
    b = budgets(n)
    p = has_proj
    over = n + 37
    small = n <= 64  # the T > N (all-rows) cases of the other methods only on small grids (file size)
    cases = []
    cases += [dict(method="fastervlm", keep=t, projector=p) for t in b + [1]]
    cases += [dict(method="fastervlm", keep=t, projector=False) for t in (n, over)]
    cases += [dict(method="visionzip", keep=t, projector=p) for t in b]
    d0, _ = vz_split(b[0])
    cases += [dict(method="visionzip", dominant=d0, contextual=0, projector=p),            # C = 0
              dict(method="visionzip", dominant=1, contextual=b[0] - 1, projector=p),     # CLS + contextual
              dict(method="visionzip", dominant=n - 4, contextual=10, projector=False),   # M = 5 < C
              ] + ([dict(method="visionzip", dominant=n + 5, contextual=3, projector=False),  # D > N + 1: M = 0
                    dict(method="visionzip", keep=over, projector=False)] if small else [])
    cases += [dict(method="vispruner", keep=t, important_ratio=0.5, projector=p)
              for t in b + [odd_residual_budget(n, b[0] + 1), 1]]
    cases += [dict(method="vispruner", keep=b[1], important_ratio=r, projector=p) for r in (0.0, 1.0)]
    cases += [dict(method="vispruner", keep=over, important_ratio=0.5, projector=False)] if small else []
    for q in ([True, False] if p else [False]):
        cases += [dict(method="divprune", keep=t, projector=q) for t in [None] + b]
    cases += [dict(method="divprune", keep=t, projector=False) for t in ([1, over] if small else [1])]
    for q in ([True, False] if p else [False]):
        cases += [dict(method="cdpruner", keep=b[1], scoring=s, prompt=j, projector=q)
                  for s in ("authors", "paper") for j in (0, 1)]
    cases += [dict(method="cdpruner", keep=t, scoring="authors", prompt=0, projector=p) for t in (b[0], b[2])]
    if width < n:  # rank exhaustion: more picks than the width of the features
        cases += [dict(method="cdpruner", keep=min(n, width + 36), scoring="authors", prompt=0, projector=False)]
    cases += [dict(method="cdpruner", keep=over, scoring="paper", prompt=0, projector=False)] if small else []
    return cases


def heldout_plan(n, width, has_proj, n_prompts):
    b = budgets(n)
    p = has_proj
    cases = []
    cases += [dict(method="fastervlm", keep=t, projector=p) for t in b]
    cases += [dict(method="visionzip", keep=t, projector=p) for t in b]
    cases += [dict(method="vispruner", keep=t, important_ratio=0.5, projector=p) for t in b]
    cases += [dict(method="divprune", keep=t, projector=p) for t in [None] + b]
    cases += [dict(method="cdpruner", keep=t, scoring=s, prompt=j, projector=p)
              for j in range(n_prompts) for s in ("authors", "paper") for t in b]
    return cases


# ------------------------------------------------------------------------------------------------ runner
@torch.no_grad()
def run_model(model_dir, projector_path, image_paths, prompts, plan_for, log=None, drop_fragile=False, logic_for=None):
    full, proc, tok, project, pad = load_for_goldens(model_dir, projector_path, attn_implementation="eager")
    model, vc, tc = full.vision_model, full.config.vision_config, full.config.text_config
    out = {}
    manifest = {"model": os.path.relpath(model_dir, ROOT),
                "projector": projector_path and os.path.relpath(projector_path, ROOT),
                "images": [os.path.relpath(p, ROOT) for p in image_paths], "prompts": prompts, "cases": []}
    text = {}
    for j, p in enumerate(prompts):
        ids, t = text_embeds_for(full, tok, p)
        text[j] = t
        out[f"prompt{j}.input_ids"] = ids.to(torch.int64)
        out[f"prompt{j}.text_embeds"] = t
        if log is not None:
            log.append(f"prompt {j}: {len(ids)} tokens, {t.shape[0]} segments of {tc.max_position_embeddings}")

    for i, path in enumerate(image_paths):
        img = Image.open(path).convert("RGB")
        px = proc(images=expand2square(img, pad), return_tensors="pt")["pixel_values"]
        hidden, attn, metric = vision_forward(model, px)
        x = hidden[:, 1:]  # image_features (select_feature 'patch')
        A = attn[:, :, 0, 1:]  # image_attentions [1, H, N]
        n, width = x.shape[1], x.shape[2]
        projected_all = project(x[0]) if project else None
        E = full.visual_projection(model.post_layernorm(x))  # CDPruner's image_embeds
        def select(case, dt):
            """(kept, reduced or None, signal, gap, info) from the float32 inputs cast to dt."""
            m, signal, info, reduced = case["method"], None, {}, None
            c = lambda t: t.to(dt)
            if m == "fastervlm":
                kept, signal, gap = fastervlm(c(x), c(A), case["keep"])
            elif m == "vispruner":
                kept, signal, gap = vispruner(c(x), c(A), case["keep"], case["important_ratio"])
            elif m == "visionzip":
                if case.get("keep") is not None:
                    d, c_ = vz_split(min(case["keep"], n))
                    case["dominant"], case["contextual"] = d, c_
                reduced, kept, signal, gap = visionzip(c(hidden), c(attn), c(metric), case["dominant"], case["contextual"])
            elif m == "divprune":
                t = case["keep"] if case["keep"] is not None else int(round(0.098 * n))
                X = projected_all if case["projector"] else x[0]
                kept, gap = divprune(c(X), t)
            elif m == "cdpruner":
                X = projected_all if case["projector"] else x[0]
                kept, signal, gap, info = cdpruner(c(X)[None], c(E), c(text[case["prompt"]]), case["keep"], case["scoring"])
            return kept, reduced, signal, gap, info

        if logic_for and logic_for(i):
            # VisPruner's selection logic on the port's own float32 cosines, stored with them: the rounds
            # re-split the residual by the order of near-equal maxima, so on features this close (flat
            # regions) the kept set follows float32 rounding; given the same cosines it must not differ.
            xn = x[0] / x[0].norm(dim=-1, keepdim=True)
            gram = xn @ xn.T
            out[f"logic_image{i}.cosines"] = gram
            out[f"logic_image{i}.signal"] = A[0].mean(dim=0)
            for t, ratio in [(b, 0.5) for b in budgets(n)] + [(budgets(n)[0] + 1, 0.5), (budgets(n)[1], 0.3)]:
                kept, _, _ = vispruner(x, A, t, ratio, cosines=gram)
                k = len(manifest.setdefault("logic", []))
                out[f"logic{k}.kept_indices"] = kept.to(torch.int64)
                manifest["logic"].append(dict(image=i, keep=t, important_ratio=ratio))
        for case in plan_for(i, n, width, project is not None):
            m = case["method"]
            kept, reduced, signal, gap, info = select(case, torch.float32)
            # Rounding check: the same selection from the same inputs in float64.
            fp64_agrees = bool(torch.equal(kept, select(dict(case), torch.float64)[0]))
            if drop_fragile and not fp64_agrees and m == "cdpruner":
                manifest.setdefault("dropped", []).append(dict(image=i, **case, reason="float64 keeps other patches"))
                if log is not None:
                    stop = info.get("exhausted_at")
                    log.append(f"dropped ({m} T={case['keep']} image {i}): not reproducible in float32 "
                               f"(float64 keeps other patches; smallest step margin {gap:.3g}"
                               + (f", stop ratio {stop[1]:.3g}" if stop else "")
                               + f", last DPP ratio {info['last_ratio']:.3g})")
                continue
            projected = project(reduced) if reduced is not None and case["projector"] else None
            if reduced is None:
                reduced = x[0][kept]
                projected = projected_all[kept] if case["projector"] else None
            c = len(manifest["cases"])
            out[f"case{c}.kept_indices"] = kept.to(torch.int64)
            out[f"case{c}.reduced"] = reduced
            if projected is not None:
                out[f"case{c}.projected"] = projected
            if signal is not None:
                out[f"case{c}.signal"] = signal
            entry = dict(image=i, keep=None, dominant=None, contextual=None, important_ratio=None, scoring=None,
                         prompt=None)
            entry.update(case)
            if m == "cdpruner":
                stop = info["exhausted_at"]
                entry["dpp_stop"] = stop and dict(step=stop[0], ratio=stop[1], last_ratio=info["last_ratio"])
            entry["fp64_agrees"] = fp64_agrees
            entry.update(signal={"fastervlm": "cls_attention", "visionzip": "cls_attention", "vispruner": "cls_attention",
                                 "cdpruner": "relevance", "divprune": None}[m],
                         rows=reduced.shape[0], gap=gap)
            manifest["cases"].append(entry)
            if log is not None and info.get("exhausted_at"):
                log.append(f"case {c} ({m} T={case['keep']} image {i}): rank exhausted at step {info['exhausted_at'][0]}, "
                           f"max d²/initial = {info['exhausted_at'][1]:.3g}; last d²/initial before = {info['last_ratio']:.3g}")
    return {k: v.detach().contiguous() for k, v in out.items()}, manifest


def summary(manifest):
    by = {}
    for c in manifest["cases"]:
        by[c["method"]] = by.get(c["method"], 0) + 1
    by["fp64_disagrees"] = [(k, c["method"], c["keep"], c["image"]) for k, c in enumerate(manifest["cases"])
                            if not c["fp64_agrees"]]
    gaps = [(c["gap"], k, c["method"], c.get("keep")) for k, c in enumerate(manifest["cases"]) if c["gap"] is not None]
    return by, sorted(gaps)[:3]


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model-dir")
    ap.add_argument("--projector")
    ap.add_argument("--images", nargs="*")
    ap.add_argument("--prompts", nargs="*")
    ap.add_argument("--out")
    a = ap.parse_args()
    torch.set_num_threads(os.cpu_count() or 1)
    if a.model_dir:
        if not (a.images and a.prompts and a.out):
            sys.exit("--model-dir needs --images, --prompts and --out")
        log = []
        t, m = run_model(os.path.abspath(a.model_dir), a.projector and os.path.abspath(a.projector),
                         [os.path.abspath(p) for p in a.images], a.prompts,
                         lambda i, n, w, p: heldout_plan(n, w, p, len(a.prompts)), log)
        save_file(t, a.out, metadata={"manifest": json.dumps(m)})
        print(a.out, len(m["cases"]), "cases", summary(m), os.path.getsize(a.out), "bytes", *log, sep="\n  ")
        return
    os.makedirs(OUT, exist_ok=True)
    images = [os.path.join(ROOT, "Weights", "demo-image.jpg"), os.path.join(ROOT, "Weights", "demo", "scene.jpg")] + \
             [os.path.join(ROOT, "Tests", "Goldens", "trim", "images", n) for n, _, _ in test_images()]
    models = [("clip-tiny", os.path.join(ROOT, "Weights", "projector-tiny.safetensors")),
              ("clip-odd", os.path.join(ROOT, "Tests", "Goldens", "trim", "projector-odd.safetensors"))]
    if not os.environ.get("NO_DEMO"):
        models.append(("clip-demo", os.path.join(ROOT, "Weights", "projector-demo.safetensors")))
    for name, projector in models:
        d = os.path.join(ROOT, "Weights", name)
        if not os.path.exists(os.path.join(d, "model.safetensors")):
            sys.exit(f"{d} is missing: train it first (Tests/Training/train_demo_clip.py)")
        start, log = time.time(), []
        if name == "clip-odd":  # 49 patches: every case on every image
            plan = lambda i, n, w, p: full_plan(n, w, p)
        elif name == "clip-tiny":  # image 0: every case; the others: the budgets
            plan = lambda i, n, w, p: full_plan(n, w, p) if i == 0 else core_plan(n, w, p)
        else:  # clip-demo (576 patches, 640-wide rows): the budgets; image 1 without the projector
            plan = lambda i, n, w, p: core_plan(n, w, p and i == 0, rank_case=i == 0)
        t, m = run_model(d, projector, images if name != "clip-demo" else images[:2], PROMPTS, plan, log,
                         drop_fragile=True, logic_for=(lambda i: i == 0) if name != "clip-odd" else None)
        path = os.path.join(OUT, f"{name}.safetensors")
        save_file(t, path, metadata={"manifest": json.dumps(m)})
        print(path, len(m["cases"]), "cases", summary(m), os.path.getsize(path), "bytes",
              f"{time.time() - start:.1f} s", *log, sep="\n  ")


if __name__ == "__main__":
    main()
