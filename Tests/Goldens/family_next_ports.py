#!/usr/bin/env python3
"""PyTorch ports of the reducer family on LLaVA-NeXT any-resolution input (Docs/SEMANTICS.md §5b, §5c): each
method as its authors' released LLaVA-1.6 code runs it (`mode="released"`), and every method on Hugging Face's
views and packing (`mode="hf"`, the like-for-like form). float32 on the CPU, deterministic, no global state.
Used by family_next_check.py (held-out check of `trim reduce --anyres --method M`); nothing here is stored.

Entry point: `run(ctx, method, image, mode, **budget)` with `ctx = Context(next_model, clip, tokenizer)` (the
LLaVA-NeXT model loaded with `attn_implementation="eager"`, the CLIP `--model`, its tokenizer). It returns an
`Output`: grid (nph, npw), pixel_values [V,3,S,S], image_sizes (h, w), features [V,N,D], token_map (one (view,
patch) per row handed to the LLM: (view, −1) for a row that is not one patch — [CLS], contextual, merged — and
(−1, −1) for `image_newline`), kept (the single-patch rows in row order), reduced [R,D] (the non-newline rows
before the projector), projected [L,H] (newline rows included), signals {dump name: [V,N]}, gap (the smallest
relative margin of any discrete choice the case made; below 1e-6 a different choice is a tie) and notes.
`Refused` is raised where `trim` must exit 1 (FasterVLM's degenerate aspect, GlobalCom2's empty unpad).

Released code read (commit, file): haotian-liu/LLaVA c121f04 llava/mm_utils.py, llava/model/llava_arch.py;
Theia-4869/FasterVLM f5d5f12 llava/mm_utils.py, llava/model/llava_arch.py,
llava/model/multimodal_encoder/clip_encoder.py; Theia-4869/VisPruner aefa01a (same files);
Theia-4869/CDPruner 9541616 (same files); dvlab-research/VisionZip 3151f6d visionzip/{clip_encoder,utils,
llava_arch,main}.py; vbdi/divprune 799e2d9 LLaVA/llava/model/llava_arch.py; hasanar1f/HiRED 502d6dd
transformers/src/transformers/models/llava_next/{modeling,image_processing}_llava_next.py (vendored 4.42);
xuyang-liu16/GlobalCom2 96b2d00 llava/model/llava_arch.py, llava/model/multimodal_encoder/apply_customvit.py.
The 1.5 selections are reducers_goldens.py's and prumerge_goldens.py's ports, called per view. Generalised as
Docs/SEMANTICS.md says: N, g, L−2, 2S and the config's heads instead of 576, 24, 22, 672 and 16; ties in
top-k / argsort / argmax go to the lower index.

Two module settings decide what Docs/SEMANTICS.md leaves open: HF_BASE_ORDER (where the HF packing puts the
base view's kept patches: "ascending", their order among the base view's N packed rows, or "own", the method's
row order — PruMerge's top-k order, GlobalCom2's descending-score thumbnail) and CDPRUNER_STOP_RULE (when a
view's DPP counts as having used up the rank of its rows; see cdpruner_select).
"""
import math

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image
from transformers.image_processing_utils import select_best_resolution

import next_goldens as ng
import prumerge_goldens as pg
import reducers_goldens as rg

METHODS = ["fastervlm", "vispruner", "cdpruner", "visionzip", "divprune", "hired", "globalcom2", "prumerge",
           "prumerge+"]
MODES = ["released", "hf"]
NEWLINE = (-1, -1)
# Where a view's kept base-view patches go in the HF packing: "ascending" (their order among the base view's
# N rows, as HF's packing holds them) or "own" (the method's own row order: PruMerge's top-k order,
# GlobalCom2's descending-score thumbnail). Only these two methods differ.
HF_BASE_ORDER = "ascending"
CDPRUNER_STOP = 1e-4           # CDPruner's rank-exhaustion threshold (cdpruner_select)
CDPRUNER_STOP_RULE = "relative"


class Refused(Exception):
    """A case `trim` must refuse as bad input (exit 1, one line)."""


# ============================================================================================== context
class Context:
    """The models one check runs on. `next_model`: LlavaNextForConditionalGeneration (eager attention);
    `clip`: CLIPModel (text tower, visual_projection); `tok`: its CLIPTokenizerFast."""

    def __init__(self, next_model, clip, tok, pinpoints=None):
        nxt = next_model.model
        self.tower = nxt.vision_tower
        self.projector = nxt.multi_modal_projector
        self.newline = nxt.image_newline.detach()
        vc = self.tower.config
        self.S, self.patch = vc.image_size, vc.patch_size
        self.g = self.S // self.patch
        self.N = self.g * self.g
        self.layers = len(self.tower.encoder.layers)
        self.heads = vc.num_attention_heads
        self.width = vc.hidden_size
        self.pinpoints = [list(p) for p in (pinpoints or next_model.config.image_grid_pinpoints)]
        assert next_model.config.vision_feature_layer == -2
        self.clip, self.tok = clip, tok
        self.mean = np.array(CLIP_MEAN, dtype=np.float32)
        self.std = np.array(CLIP_STD, dtype=np.float32)
        self._text = {}
        self._enc = {}

    @torch.no_grad()
    def text(self, prompt):
        """CDPruner's text: untruncated ids, segments of the text context, one projected embedding each."""
        if prompt not in self._text:
            self._text[prompt] = rg.text_embeds_for(self.clip, self.tok, prompt)
        return self._text[prompt]


CLIP_MEAN = [0.48145466, 0.4578275, 0.40821073]
CLIP_STD = [0.26862954, 0.26130258, 0.27577711]


# ============================================================================================== canvases
def hf_canvas(h, w, pins):
    """transformers' select_best_resolution: pinpoints (height, width); (H*, W*)."""
    return tuple(select_best_resolution((h, w), pins))


def original_canvas(h, w, pins):
    """haotian-liu/LLaVA mm_utils.py select_best_resolution (lines 12-39): the image as (width, height), each
    pinpoint read as (width, height), first candidate on a tie; returned here as (H*, W*)."""
    best, max_eff, min_waste = None, 0, float("inf")
    for width, height in pins:
        scale = min(width / w, height / h)
        dw, dh = int(w * scale), int(h * scale)
        eff = min(dw * dh, w * h)
        waste = width * height - eff
        if eff > max_eff or (eff == max_eff and waste < min_waste):
            max_eff, min_waste, best = eff, waste, (height, width)
    return best


def fastervlm_canvas(h, w, pins):
    """FasterVLM mm_utils.py select_best_resolution (lines 12-36): (width, height) pinpoints, ratio
    int(w·s)·int(h·s)/(W·H) with no cap, first strict maximum over 0; None when none is above 0."""
    best, max_ratio = None, 0
    for width, height in pins:
        scale = min(width / w, height / h)
        sw, sh = int(w * scale), int(h * scale)
        ratio = (sw * sh) / (width * height)
        if ratio > max_ratio:
            max_ratio, best = ratio, (height, width)
    return best


def canvas_for(ctx, method, mode, h, w):
    """(H*, W*) and the view kind ("hf" padding or "hired") a method's views use."""
    if mode == "hf" or method in ("prumerge", "prumerge+"):
        return hf_canvas(h, w, ctx.pinpoints), "hf"
    if method == "fastervlm":
        c = fastervlm_canvas(h, w, ctx.pinpoints)
        if c is None:
            raise Refused(f"FasterVLM's grid rule: a {w}×{h} image fills none of the pinpoints (degenerate aspect)")
        return c, "hf"
    if method in ("vispruner", "cdpruner"):
        return (2 * ctx.S, 2 * ctx.S), "hf"   # mm_utils.py line 29: possible_resolutions = [(672, 672)]
    if method == "hired":
        return hf_canvas(h, w, ctx.pinpoints), "hired"   # transformers 4.42: HF's canvas, its own padding
    return original_canvas(h, w, ctx.pinpoints), "hf"    # visionzip, divprune, globalcom2: original LLaVA


# ================================================================================================= views
def fitted_size(h, w, H, W):
    """get_patch_output_size / resize_and_pad_image: (new_h, new_w), the ratio first, the other side ceil."""
    scale_w, scale_h = W / w, H / h
    if scale_w < scale_h:
        return min(math.ceil(h * scale_w), H), W
    return H, min(math.ceil(w * scale_h), W)


def normalize(img, mean, std):
    """CLIP rescale (float64 × 1/255 → float32) and normalise (float32) of an RGB PIL image, CHW."""
    a = (np.asarray(img, dtype=np.uint8).astype(np.float64) * (1 / 255)).astype(np.float32)
    a = (a - mean) / std
    return a.transpose(2, 0, 1)


def clip_preprocess(img, S, mean, std):
    """CLIP preprocessing of a view that is not S×S (HiRED's S−1 tiles): short side to S, long side
    int(S·long/short) (transformers 4.42 get_resize_output_image_size), Pillow bicubic, centre crop S."""
    w, h = img.size
    short, long = (w, h) if w <= h else (h, w)
    new_long = int(S * long / short)
    nh, nw = (new_long, S) if w <= h else (S, new_long)
    img = img.resize((nw, nh), Image.BICUBIC)
    top, left = (nh - S) // 2, (nw - S) // 2
    return normalize(img.crop((left, top, left + S, top + S)), mean, std)


def build_views(ctx, image, canvas, kind):
    """[base, tiles…] pixel values [V,3,S,S] for canvas (H*, W*): the image fitted (bicubic), black padding
    (kind "hf": the odd pixel bottom/right; "hired": (H*−nh)//2 on both sides, as transformers 4.42's
    _pad_for_patching, so the last tile row/column can be S−1 px), row-major S×S tiles, base = the image
    resized straight to S×S."""
    S = ctx.S
    H, W = canvas
    w, h = image.size
    nh, nw = fitted_size(h, w, H, W)
    resized = image.resize((nw, nh), Image.BICUBIC)
    top, left = (H - nh) // 2, (W - nw) // 2
    ch, cw = (nh + 2 * top, nw + 2 * left) if kind == "hired" else (H, W)
    padded = Image.new("RGB", (cw, ch), (0, 0, 0))
    padded.paste(resized, (left, top))
    tiles = [padded.crop((j * S, i * S, min(j * S + S, cw), min(i * S + S, ch)))
             for i in range(H // S) for j in range(W // S)]
    views = [image.resize((S, S), Image.BICUBIC)] + tiles
    arr = [normalize(v, ctx.mean, ctx.std) if v.size == (S, S) else clip_preprocess(v, S, ctx.mean, ctx.std)
           for v in views]
    return torch.from_numpy(np.stack(arr)), (H // S, W // S)


# ============================================================================================== encoding
@torch.no_grad()
def encode(ctx, pv):
    """One batched pass of the NeXT tower over the views: hidden_states[-2] (with CLS), eager attentions of
    layer 0 and L−2, q_proj/k_proj outputs of layers L−2 and L−1, image_tokens."""
    key = (pv.shape, pv.numpy().tobytes())
    if key in ctx._enc:
        return ctx._enc[key]
    layers = ctx.tower.encoder.layers
    L = len(layers)
    cap = {}
    hooks = []
    for i in (L - 2, L - 1):
        hooks.append(layers[i].self_attn.q_proj.register_forward_hook(lambda m, a, o, i=i: cap.__setitem__(("q", i), o)))
        hooks.append(layers[i].self_attn.k_proj.register_forward_hook(lambda m, a, o, i=i: cap.__setitem__(("k", i), o)))
    try:
        out = ctx.tower(pixel_values=pv, output_hidden_states=True, output_attentions=True)
    finally:
        for hk in hooks:
            hk.remove()
    assert len(out.hidden_states) == L + 1 and len(out.attentions) == L
    hidden = out.hidden_states[-2]                                 # [V, 1+N, D]
    features = hidden[:, 1:]
    V, n1, D = hidden.shape
    hd = D // ctx.heads
    k_sel = cap[("k", L - 2)]
    # VisionZip's metric (utils.py lines 23-24, 89): k_proj output split into heads, mean over heads.
    metric = k_sel.view(V, n1, ctx.heads, hd).transpose(1, 2).contiguous().mean(1)   # [V, 1+N, hd]
    # GlobalCom2's scores (apply_customvit.py lines 34-48, llava_arch.py line 403): last layer, q scaled
    # before the product, head mean of the pre-softmax logits, [CLS] row, patch columns.
    q_last, k_last = cap[("q", L - 1)], cap[("k", L - 1)]
    qh = (q_last * hd ** -0.5).view(V, n1, ctx.heads, hd).transpose(1, 2)
    kh = k_last.view(V, n1, ctx.heads, hd).transpose(1, 2)
    logits = torch.matmul(qh, kh.transpose(2, 3)).mean(1)[:, 0, 1:]                  # [V, N]
    tokens = ctx.clip.visual_projection(ctx.tower.post_layernorm(features))
    enc = dict(hidden=hidden, features=features, A_sel=out.attentions[L - 2], A0=out.attentions[0],
               metric=metric, q_last=q_last, k_last=k_last, logits=logits, tokens=tokens,
               projected=ctx.projector(features))
    ctx._enc[key] = enc
    return enc


# =============================================================================================== packing
# modeling_llava_next.unpad_image (transformers 5) in token units: rows [r0, r1), columns [c0, c1) — the
# one next_goldens.py ports for LLaVA-NeXT's own goldens.
unpad_hf = ng.unpad_bounds


def unpad_original(h, w, R, C):
    """llava_arch.py unpad_image (original LLaVA): int(h·(C/w)) in float64, no rounding."""
    if w / h > C / R:
        n = int(h * (C / w))
        pad = (R - n) // 2
        return (pad, R - pad), (0, C)
    n = int(w * (R / h))
    pad = (C - n) // 2
    return (0, R), (pad, C - pad)


def unpad_hired(h, w, R, C):
    """HiRED's vendored unpad_image (modeling_llava_next.py lines 167-208) with image_sizes an int64 tensor:
    w/h is float32, compared with C/R rounded to float32; C/w is reciprocal(w)·C in float32; int() of the
    float32 product. Evaluated with torch exactly so."""
    oh, ow = torch.tensor([h, w], dtype=torch.int64).unbind(0)
    if ow / oh > C / R:
        scale = C / ow
        n = int(oh * scale)
        pad = (R - n) // 2
        return (pad, R - pad), (0, C)
    scale = R / oh
    n = int(ow * scale)
    pad = (C - n) // 2
    return (0, R), (pad, C - pad)


def position(g, npw, v, p):
    """Grid cell (row, column) of tile view v's patch p (HF packing)."""
    t = v - 1
    return (t // npw) * g + p // g, (t % npw) * g + p % g


def cell(g, npw, r, c):
    """(view, patch) of grid cell (r, c) (HF packing)."""
    return 1 + (r // g) * npw + c // g, (r % g) * g + c % g


class ViewRows:
    """One view's rows: single-patch rows [(patch, value)] in the method's own order, and the view's other
    rows ([CLS], contextual, merged, …) in order."""

    def __init__(self, patches, extras=()):
        self.patches = list(patches)
        self.extras = list(extras)


def pack_grid(ctx, views, grid, bounds, newlines, base_order):
    """The HF layout (Docs/SEMANTICS.md §5.5 / §5b `--views hf`): the base view's patch rows (ascending, or
    its own order), then its other rows; the tiles' patch rows at their grid cells, grid rows `bounds` top to
    bottom, kept cells left to right, each row followed by a newline (all | nonempty | none); then the tiles'
    other rows in tile order. bounds = ((r0, r1), (c0, c1)); the full grid with newlines "none" is the
    released `spatial` layout. Returns (entries, dropped): entries (view, patch, value) or NEWLINE."""
    g, (nph, npw) = ctx.g, grid
    (r0, r1), (c0, c1) = bounds
    base = views[0]
    bp = sorted(base.patches, key=lambda e: e[0]) if base_order == "ascending" else base.patches
    entries = [(0, p, val) for p, val in bp] + [(0, -1, val) for val in base.extras]
    cells, dropped = {}, 0
    for v in range(1, len(views)):
        for p, val in views[v].patches:
            r, c = position(g, npw, v, p)
            if r0 <= r < r1 and c0 <= c < c1:
                cells[(r, c)] = (v, p, val)
            else:
                dropped += 1
    for r in range(r0, r1):
        line = [cells[(r, c)] for c in range(c0, c1) if (r, c) in cells]
        entries += line
        if newlines == "all" or (newlines == "nonempty" and line):
            entries.append(NEWLINE)
    for v in range(1, len(views)):
        entries += [(v, -1, val) for val in views[v].extras]
    return entries, dropped


class Output:
    pass


@torch.no_grad()
def finish(ctx, method, mode, entries, *, pv, grid, canvas, hw, enc, signals, gap, notes, dropped=0, **info):
    """token_map, kept, reduced, projected (= projector(reduced) with image_newline rows inserted)."""
    o = Output()
    o.method, o.mode, o.grid, o.canvas, o.views = method, mode, grid, canvas, pv.shape[0]
    o.pixel_values, o.image_sizes, o.features = pv, hw, enc["features"]
    o.token_map = [(e[0], e[1]) if e is not NEWLINE else NEWLINE for e in entries]
    rows = [e[2] for e in entries if e is not NEWLINE]
    D = enc["features"].shape[-1]
    o.reduced = torch.stack(rows) if rows else torch.zeros(0, D)
    proj = ctx.projector(o.reduced) if rows else torch.zeros(0, ctx.newline.shape[0])
    it = iter(proj)
    o.projected = (torch.stack([ctx.newline if e is NEWLINE else next(it) for e in entries]) if entries
                   else torch.zeros(0, ctx.newline.shape[0]))
    o.kept = [t for t in o.token_map if t[1] >= 0]
    o.signals, o.gap, o.notes, o.dropped, o.info = signals, gap, notes, dropped, info
    return o


# ============================================================================================ the ports
def _views_for(ctx, method, mode, image):
    w, h = image.size
    canvas, kind = canvas_for(ctx, method, mode, h, w)
    pv, grid = build_views(ctx, image, canvas, kind)
    return pv, grid, canvas, (h, w), encode(ctx, pv)


def _spatial_or_hf(ctx, method, mode, per_view, grid, hw, newlines):
    """Released `spatial` layout (FasterVLM, VisPruner, CDPruner: llava_arch.py 'spatial' branch, no unpad,
    no newline, base first) or the HF packing."""
    h, w = hw
    R, C = grid[0] * ctx.g, grid[1] * ctx.g
    if mode == "released":
        return pack_grid(ctx, per_view, grid, ((0, R), (0, C)), "none", "own")
    return pack_grid(ctx, per_view, grid, unpad_hf(h, w, R, C), newlines, HF_BASE_ORDER)


def port_fastervlm(ctx, image, mode, keep, newlines="all"):
    """FasterVLM llava_arch.py encode_images (lines 141-157): per view topk(mean_h A[h,0,1:], T) of the
    select layer's attention (clip_encoder.py line 38: attentions[-2]); layout 'spatial' forced (line 177)."""
    pv, grid, canvas, hw, enc = _views_for(ctx, "fastervlm", mode, image)
    x, A = enc["features"], enc["A_sel"][:, :, 0, 1:]
    per_view, sig, gaps = [], [], []
    for v in range(pv.shape[0]):
        kept, s, gap = rg.fastervlm(x[v:v + 1], A[v:v + 1], keep)
        per_view.append(ViewRows([(int(p), x[v, p]) for p in kept]))
        sig.append(s)
        gaps.append(gap)
    entries, dropped = _spatial_or_hf(ctx, "fastervlm", mode, per_view, grid, hw, newlines)
    return finish(ctx, "fastervlm", mode, entries, pv=pv, grid=grid, canvas=canvas, hw=hw, enc=enc,
                  signals={"cls_attention": torch.stack(sig)}, gap=rg.min_gap(gaps), notes=[], dropped=dropped,
                  selected=[[p for p, _ in vr.patches] for vr in per_view])


def port_vispruner(ctx, image, mode, keep, important_ratio=0.5, newlines="all"):
    """VisPruner llava_arch.py encode_images (lines 141-186) per view, fixed 2S×2S canvas (mm_utils.py 29)."""
    pv, grid, canvas, hw, enc = _views_for(ctx, "vispruner", mode, image)
    x, A = enc["features"], enc["A_sel"][:, :, 0, 1:]
    per_view, sig, gaps = [], [], []
    for v in range(pv.shape[0]):
        kept, s, gap = rg.vispruner(x[v:v + 1], A[v:v + 1], keep, important_ratio)
        per_view.append(ViewRows([(int(p), x[v, p]) for p in kept]))
        sig.append(s)
        gaps.append(gap)
    entries, dropped = _spatial_or_hf(ctx, "vispruner", mode, per_view, grid, hw, newlines)
    return finish(ctx, "vispruner", mode, entries, pv=pv, grid=grid, canvas=canvas, hw=hw, enc=enc,
                  signals={"cls_attention": torch.stack(sig)}, gap=rg.min_gap(gaps), notes=[], dropped=dropped,
                  selected=[[p for p, _ in vr.patches] for vr in per_view])


def cdpruner_select(X, E, text, T, scoring, stop_rule=None):
    """CDPruner llava_arch.py encode_images (lines 141-187) on all V views at once: relevance rescaled with one
    min/max over every V·N value (line 160), one DPP per view (lines 169-181), exactly the release's greedy
    steps. Changes: T > N is N; max = min relevance gives r = 1; when T exceeds the rank of a view's rows, where
    the release takes square roots of rounding noise, the view's remaining picks are its unpicked patches by
    descending r (ties to the lower index), as at one view — judged by stop_rule "relative" (default): every
    unpicked j has d²_j ≤ CDPRUNER_STOP·K_jj (its row lies in the span of the picks up to float32 noise);
    "initial-max": the largest remaining d² ≤ CDPRUNER_STOP × the view's largest initial d² (the 1.5 rule,
    which with the joint rescaling also fires on views of low relevance). Returns (picks per view ascending,
    r [V,N], gaps, stops: the step each view stopped at or None)."""
    stop_rule = stop_rule or CDPRUNER_STOP_RULE
    V, N, _ = X.shape
    T = min(T, N)
    Xn = (X / X.norm(dim=-1, keepdim=True)).float()
    similarity = torch.matmul(Xn, Xn.transpose(1, 2))
    En = E / E.norm(dim=-1, keepdim=True)
    tn = text / text.norm(dim=-1, keepdim=True)
    rel = torch.matmul(En, tn.t())
    rel = (-rel if scoring == "authors" else rel).mean(dim=-1)              # [V, N]
    if rel.max() == rel.min():
        r = torch.ones_like(rel)                                              # change: released divides by 0
    else:
        r = (rel - rel.min() + 1e-6) / (rel.max() - rel.min())
    kernel = r.unsqueeze(2) * similarity * r.unsqueeze(1)
    picks, gaps, stops = [], [], []
    for v in range(V):
        K = kernel[v]
        d2 = torch.diagonal(K).clone()
        diag = d2.clone()
        initial = float(d2.max())
        cis = torch.zeros((T, N))
        sel, stop = [], None
        for i in range(T):
            remaining = torch.isfinite(d2)
            if stop_rule == "relative":
                ratio = float((d2[remaining] / diag[remaining]).max())
            else:
                ratio = float(d2[remaining].max()) / initial if initial > 0 else 0.0
            if T < N:  # at T = N every patch is kept wherever the rank runs out: nothing depends on the stop
                gaps.append(abs(ratio - CDPRUNER_STOP))   # absolute, as reducers_cli_check.py judges the 1.5 stop
            if not ratio > CDPRUNER_STOP:
                stop = i
                order = sorted(range(N), key=lambda p: (-float(r[v, p]), p))
                sel += [p for p in order if p not in set(sel)][:T - len(sel)]
                break
            if T < N:
                gaps.append(rg.argmax_gap(d2, remaining))
            j = int(torch.argmax(d2))
            e = (K[j] - torch.einsum('t,tn->n', cis[:i, j], cis[:i])) / torch.sqrt(d2[j])
            cis[i] = e
            d2 -= torch.square(e)
            d2[j] = -float("inf")
            sel.append(j)
        picks.append(sorted(sel))
        stops.append(stop)
    return picks, r, gaps, stops


def port_cdpruner(ctx, image, mode, keep, prompt, scoring="authors", newlines="all"):
    """CDPruner per view, fixed 2S×2S canvas; X = projector rows, E = image_tokens, text segments."""
    pv, grid, canvas, hw, enc = _views_for(ctx, "cdpruner", mode, image)
    _, text = ctx.text(prompt)
    picks, r, gaps, stops = cdpruner_select(enc["projected"], enc["tokens"], text, keep, scoring)
    x = enc["features"]
    per_view = [ViewRows([(p, x[v, p]) for p in ps]) for v, ps in enumerate(picks)]
    notes = [f"view {v}: the kernel's rank ran out after {s} of {min(keep, ctx.N)} picks; the rest by descending relevance"
             for v, s in enumerate(stops) if s is not None]
    entries, dropped = _spatial_or_hf(ctx, "cdpruner", mode, per_view, grid, hw, newlines)
    return finish(ctx, "cdpruner", mode, entries, pv=pv, grid=grid, canvas=canvas, hw=hw, enc=enc,
                  signals={"relevance": r}, gap=rg.min_gap(gaps), notes=notes, dropped=dropped, stops=stops,
                  selected=picks)


def port_visionzip(ctx, image, mode, dominant, contextual, newlines="all"):
    """VisionZip clip_encoder.py forward (lines 42-85) per view (layer L−2, not 22) and llava_arch.py
    restore_image_features_sorted (lines 42-80; N and g, not 576 and 24)."""
    pv, grid, canvas, hw, enc = _views_for(ctx, "visionzip", mode, image)
    V = pv.shape[0]
    rows, sig, gaps, per = [], [], [], []
    for v in range(V):
        out, kept, s, gap = rg.visionzip(enc["hidden"][v:v + 1], enc["A_sel"][v:v + 1], enc["metric"][v:v + 1],
                                         dominant, contextual)
        kept = [int(p) for p in kept]
        has_cls = min(dominant, ctx.N + 1) >= 1
        cls = [out[0]] if has_cls else []
        dom = out[len(cls):len(cls) + len(kept)]
        ctxrows = list(out[len(cls) + len(kept):])
        per.append((cls, list(zip(kept, dom)), ctxrows))
        sig.append(s)
        gaps.append(gap)
    if mode == "released":
        g, (nph, npw) = ctx.g, grid
        cls0, dom0, ctx0 = per[0]
        entries = [(0, -1, c) for c in cls0] + [(0, p, val) for p, val in dom0] + [(0, -1, c) for c in ctx0]
        cells = {}
        for v in range(1, V):
            for p, val in per[v][1]:
                cells[position(g, npw, v, p)] = (v, p, val)
        entries += [cells[rc] for rc in sorted(cells)]               # the full R×C grid, row-major
        entries += [(v, -1, c) for v in range(1, V) for c in per[v][0]]   # tiles' [CLS] rows, tile order
        entries += [(v, -1, c) for v in range(1, V) for c in per[v][2]]   # contextual rows, tile-major
        dropped = 0
    else:
        views = [ViewRows(d, cls + c) for cls, d, c in per]
        entries, dropped = pack_grid(ctx, views, grid, unpad_hf(hw[0], hw[1], grid[0] * ctx.g, grid[1] * ctx.g),
                                     newlines, HF_BASE_ORDER)
    return finish(ctx, "visionzip", mode, entries, pv=pv, grid=grid, canvas=canvas, hw=hw, enc=enc,
                  signals={"cls_attention": torch.stack(sig)}, gap=rg.min_gap(gaps), notes=[], dropped=dropped)


def divprune_select(X, T, newline_rows):
    """DivPrune llava_arch.py DivPrune (lines 152-171) over the packed rows X [L, H]; the newline rows' distances
    are the first newline's (computed once, so they stay equal). Picks ascending and the gap."""
    n = X.shape[0]
    T = min(T, n)
    Xn = X / X.norm(dim=1, keepdim=True)
    dist = 1.0 - torch.mm(Xn, Xn.t())
    if len(newline_rows) > 1:
        first = newline_rows[0]
        idx = torch.tensor(newline_rows[1:])
        dist[idx, :] = dist[first, :].clone()
        dist[:, idx] = dist[:, first:first + 1].clone()
    others = torch.ones(n, dtype=torch.bool)
    others[newline_rows[1:]] = False
    s, gaps = [], []
    for i in range(T):
        if i == 0:
            scores = torch.zeros(1) if n == 1 else torch.topk(dist, 2, dim=0, largest=False).values[1, :]
        else:
            scores = torch.min(dist[torch.tensor(s)], dim=0).values
        j = int(torch.argmax(scores))
        gaps.append(rg.argmax_gap(scores, others))   # the other newline columns equal the first by construction
        s.append(j)
    return sorted(s), rg.min_gap(gaps)


def port_divprune(ctx, image, mode, keep=None, keep_ratio=0.098, newlines="all"):
    """DivPrune on the packed sequence: released = original views and packing (original unpad, a newline after
    every kept grid row, llava_arch.py lines 199-217); hf = HF's packing with --newlines. One max-min selection
    over all L projected rows, newline rows included; budget `--keep` or int(round(ratio·L)); packed order."""
    pv, grid, canvas, hw, enc = _views_for(ctx, "divprune", mode, image)
    h, w = hw
    g, (nph, npw) = ctx.g, grid
    R, C = nph * g, npw * g
    if mode == "released":
        bounds, policy = unpad_original(h, w, R, C), "all"
    else:
        bounds, policy = unpad_hf(h, w, R, C), newlines
    x, P = enc["features"], enc["projected"]
    full = [ViewRows([(p, None) for p in range(ctx.N)])] + [ViewRows([(p, None) for p in range(ctx.N)])
                                                            for _ in range(1, pv.shape[0])]
    packed, _ = pack_grid(ctx, full, grid, bounds, policy, "ascending")
    X = torch.stack([ctx.newline if e is NEWLINE else P[e[0], e[1]] for e in packed])
    L = len(packed)
    T = keep if keep is not None else int(round(keep_ratio * L))
    nl = [i for i, e in enumerate(packed) if e is NEWLINE]
    picks, gap = divprune_select(X, T, nl)
    entries = [NEWLINE if packed[i] is NEWLINE else (packed[i][0], packed[i][1], x[packed[i][0], packed[i][1]])
               for i in picks]
    return finish(ctx, "divprune", mode, entries, pv=pv, grid=grid, canvas=canvas, hw=hw, enc=enc, signals={},
                  gap=gap, notes=[], packed_length=L, budget=T)


def hired_select(ctx, enc, V, rate, alpha):
    """HiRED_token_selection (modeling_llava_next.py lines 518-559) + HiRED_sub_img_budgets (490-516), one
    image: per view the kept patches (sets) and the gaps."""
    N = ctx.N
    a0 = enc["A0"][:, :, 0, -N:].sum(dim=1)          # layer 0 ('top'), heads summed
    aS = enc["A_sel"][:, :, 0, -N:].sum(dim=1)       # layer L−2 ('bottom', the release's 22)
    total = int(V * N * rate)
    base = min(int(total * alpha), N)
    sub = min(total - base, (V - 1) * N)
    kept = [[] for _ in range(V)]
    kept[0] = rg.topk_desc(aS[0], base)[1].tolist()
    gaps = [rg.topk_gap(aS[0], base)]
    ks = [0] * (V - 1)
    if sub > 0:
        nm = int(N * (1 - alpha))
        spatial = torch.zeros(N, dtype=torch.bool)
        spatial[rg.topk_desc(a0[0], nm)[1]] = True
        gaps.append(rg.topk_gap(a0[0], nm))
        # change: T not dividing N → near-equal contiguous chunks (the release's reshape fails)
        counts = torch.stack([c.sum() for c in torch.tensor_split(spatial, V - 1)])
        if int(counts.sum()) == 0:
            ks = [0] * (V - 1)                        # change: the release's 0/0 gives NaN → int → topk fails
        else:
            ratio = counts / counts.sum()             # int64 / int64 → float32
            ks = torch.clamp((ratio * sub).int(), max=N).tolist()
        for i, k in enumerate(ks):
            kept[1 + i] = rg.topk_desc(aS[1 + i], k)[1].tolist()
            gaps.append(rg.topk_gap(aS[1 + i], k))
    return kept, a0, aS, rg.min_gap(gaps), dict(total=total, base=base, sub=sub, per_tile=ks)


def port_hired(ctx, image, mode, rate=0.2, alpha=0.5):
    """HiRED (hasanar1f/HiRED, vendored transformers 4.42 modeling_llava_next.py). released: its views
    (both-sides padding), its packing with the grid swapped to (npw, nph) (lines 815-826) and the float32
    unpad, no newline (image_newline=None, line 1011). hf: HF's views, geometry and unpad, no newline."""
    pv, grid, canvas, hw, enc = _views_for(ctx, "hired", mode, image)
    h, w = hw
    V = pv.shape[0]
    g, (nph, npw) = ctx.g, grid
    kept, a0, aS, gap, info = hired_select(ctx, enc, V, rate, alpha)
    x = enc["features"]
    entries = [(0, p, x[0, p]) for p in sorted(kept[0])]
    notes = []
    if mode == "released":
        Rp, Cp = npw * g, nph * g                            # swapped: tiles viewed as (npw, nph)
        (r0, r1), (c0, c1) = unpad_hired(h, w, Rp, Cp)
        sets = [set(k) for k in kept]
        emitted = 0
        for r in range(r0, r1):
            for c in range(c0, c1):
                t, p = (r // g) * nph + c // g, (r % g) * g + c % g
                if p in sets[1 + t]:
                    entries.append((1 + t, p, x[1 + t, p]))
                    emitted += 1
        dropped = sum(len(k) for k in kept[1:]) - emitted
        if nph != npw:
            notes.append(f"release defect: the {nph}×{npw} tile grid is packed as {npw}×{nph}")
    else:
        views = [ViewRows([])] + [ViewRows([(p, x[v, p]) for p in kept[v]]) for v in range(1, V)]
        grid_entries, dropped = pack_grid(ctx, views, grid, unpad_hf(h, w, nph * g, npw * g), "none", "ascending")
        entries += grid_entries
    return finish(ctx, "hired", mode, entries, pv=pv, grid=grid, canvas=canvas, hw=hw, enc=enc,
                  signals={"cls_attention": aS, "cls_attention_layer0": a0}, gap=gap, notes=notes,
                  dropped=dropped, **info)


def globalcom2_scales(s0, npw, nph, base_scale, temperature=10.0):
    """generate_scale_for_crop_features (GlobalCom2 llava_arch.py lines 103-135), numpy float64 as released."""
    N = s0.shape[0]
    side = int(N ** 0.5)
    pw, ph = max(side // npw, 1), max(side // nph, 1)
    sums = np.zeros(npw * nph)
    for idx, score in enumerate(s0):
        i, j = divmod(idx, side)
        pi, pj = min(i // ph, nph - 1), min(j // pw, npw - 1)
        sums[pi * npw + pj] += score.item()
    shifted = (sums - np.max(sums)) / temperature
    e = np.exp(shifted)
    soft = e / (np.sum(e) + 1e-8)
    if np.sum(soft) == 0:
        return [base_scale] * (npw * nph), soft
    return np.clip(base_scale * (1 + soft - np.mean(soft)), None, 1.0).tolist(), soft


def port_globalcom2(ctx, image, mode, ratio=0.25, newlines="all"):
    """GlobalCom2 (llava_arch.py compress_thumbnail, compress_crops, lines 285-387). released: original views
    and unpad; the kept token at valid-list position q is written to patch slot q of its tile (lines 247, 263,
    358-361: the slot defect); the full padded R×C grid walked row by row with a newline after every padded
    row. hf: HF's views and unpad, tokens at their own cells, newline after each unpadded row (--newlines)."""
    pv, grid, canvas, hw, enc = _views_for(ctx, "globalcom2", mode, image)
    h, w = hw
    V = pv.shape[0]
    g, N, (nph, npw) = ctx.g, ctx.N, grid
    R, C = nph * g, npw * g
    s = enc["logits"]                                  # [V, N]
    x = enc["features"]
    gaps = []
    # Thumbnail: int(N·r) base patches by argsort(desc), rows in that order (lines 285-295).
    k0 = int(N * ratio)
    order = rg.desc_order(s[0])[:k0].tolist()
    gaps += [rg.topk_gap(s[0], k0), rg.order_gap(s[0][order]) if k0 > 1 else None]
    scales, soft = globalcom2_scales(s[0], npw, nph, ratio)
    (r0, r1), (c0, c1) = (unpad_original if mode == "released" else unpad_hf)(h, w, R, C)
    Hp, Wp = r1 - r0, c1 - c0
    if Hp <= 0 or Wp <= 0:
        raise Refused(f"GlobalCom2: the unpadded grid of a {w}×{h} image keeps no token")
    # Per tile: valid cells (raster order) and the bounding box (get_actual_crop_dimensions).
    valid, dims = [], []
    for t in range(nph * npw):
        ti, tj = divmod(t, npw)
        rows = range(max(r0, ti * g), min(r1, ti * g + g))
        cols = range(max(c0, tj * g), min(c1, tj * g + g))
        valid.append([(r - ti * g) * g + (c - tj * g) for r in rows for c in cols])
        dims.append((len(cols), len(rows)) if len(rows) and len(cols) else (0, 0))
    # Global map: s[0] as g×g, bilinear to (H′, W′), align_corners=False, kept 2-D; split per tile
    # (interpolate_and_split_cls_attn_scores, lines 197-236).
    gmap = F.interpolate(s[0].view(1, 1, g, g), size=(Hp, Wp), mode="bilinear", align_corners=False)[0, 0]
    crops, cur_h = [], 0
    for i in range(nph):
        cur_w = 0
        for j in range(npw):
            cw, ch = dims[i * npw + j]
            crops.append(gmap[cur_h:cur_h + ch, cur_w:cur_w + cw].flatten())
            cur_w += cw
        cur_h += dims[i * npw][1]
    slots = {}           # (view, slot patch) → (view, own patch)
    moved, per_tile = 0, []
    for t in range(nph * npw):
        v = 1 + t
        vl = valid[t]
        Nt = len(vl)
        kt = int(Nt * scales[t])
        per_tile.append(kt)
        # int(N_t·scale_t) can flip when the float64 product lies within rounding of an integer; the scale
        # does not depend on the scores when every σ_t is equal (one tile, or equal block sums)
        frac = Nt * scales[t]
        if len(set(soft.tolist())) > 1 and round(frac) != 0:
            gaps.append(abs(frac - round(frac)) / max(frac, 1.0))
        if Nt == 0 or kt == 0:
            continue
        vs = s[v][torch.tensor(vl)]
        combined = F.normalize(vs.unsqueeze(0), p=2, dim=-1).squeeze(0) + \
            F.normalize(crops[t].unsqueeze(0), p=2, dim=-1).squeeze(0)
        top = rg.topk_desc(combined, kt)[1].tolist()
        gaps.append(rg.topk_gap(combined, kt))
        for q in top:
            own = vl[q]
            slot = q if mode == "released" else own
            moved += slot != own
            slots[(v, slot)] = (v, own)
    entries = [(0, p, x[0, p]) for p in (order if mode == "released" or HF_BASE_ORDER == "own" else sorted(order))]
    if mode == "released":
        for r in range(R):
            for c in range(C):
                vp = cell(g, npw, r, c)
                if vp in slots:
                    v, own = slots[vp]
                    entries.append((v, own, x[v, own]))
            entries.append(NEWLINE)
    else:
        for r in range(r0, r1):
            line = []
            for c in range(c0, c1):
                vp = cell(g, npw, r, c)
                if vp in slots:
                    line.append((vp[0], vp[1], x[vp]))
            entries += line
            if newlines == "all" or (newlines == "nonempty" and line):
                entries.append(NEWLINE)
    notes = [f"release defect: {moved} kept tokens written to another tile slot"] if moved else []
    return finish(ctx, "globalcom2", mode, entries, pv=pv, grid=grid, canvas=canvas, hw=hw, enc=enc,
                  signals={"cls_attention": s}, gap=rg.min_gap(gaps), notes=notes, scales=scales,
                  per_tile=per_tile, unpadded=(Hp, Wp), moved=moved)


def prumerge_view(x, q, k, plus):
    """prumerge_goldens.py prune_merge (LLaVA-PruMerge clip_encoder.py token_prune_merge_advanced(_plus)) for
    one view from its features x [N, C] and the last layer's q/k [1+N, C]: (rows [K+1, C], idx [K], cls_attn,
    gap)."""
    N, C = x.shape
    image_features, desired_layer_q, desired_layer_k = x[None], q[None], k[None]
    attn = F.softmax((desired_layer_q @ desired_layer_k.transpose(-2, -1)) * C ** -0.5, dim=-1)
    cls_attn = attn[:, 0, 1:]
    reduction_ratio, q1, q3, upper = pg.outlier_dectection(cls_attn)
    a = cls_attn[0].numpy().astype(np.float64)
    gaps = [float(np.min(np.abs(a - upper)) / abs(upper))]
    _, idx0 = pg.topk_desc(cls_attn[0], int(N * reduction_ratio))
    gaps.append(rg.topk_gap(cls_attn[0], int(N * reduction_ratio)))
    idx = idx0.unsqueeze(0)
    if plus:
        if reduction_ratio == 0:
            seq = torch.tensor([0])
        else:
            step = max(int(int(1 / reduction_ratio) / 3), 1)
            seq = torch.arange(0, N - 1, step)
        flat = idx.flatten()
        extra = torch.tensor([int(s) for s in seq if s not in flat], dtype=torch.long)
        idx = torch.cat((idx, extra.unsqueeze(0)), dim=1)
    index = idx.unsqueeze(-1).expand(-1, -1, C)
    key_wo_cls = desired_layer_k[:, 1:]
    x_others = torch.gather(image_features, 1, index)
    x_others_attn = torch.gather(cls_attn, 1, idx)
    key_others = torch.gather(key_wo_cls, 1, index)
    compl = pg.complement_idx(idx, N)
    non_topk = torch.gather(image_features, 1, compl.unsqueeze(-1).expand(-1, -1, C))
    non_topk_key = torch.gather(key_wo_cls, 1, compl.unsqueeze(-1).expand(-1, -1, C))
    non_topk_attn = torch.gather(cls_attn, 1, compl)
    key_others_norm = F.normalize(key_others, p=2, dim=-1)
    non_topk_key_norm = F.normalize(non_topk_key, p=2, dim=-1)
    left = x_others.shape[1]
    updated = torch.zeros_like(x_others)
    for i in range(left):
        rest_x = torch.cat([x_others[0, :i], x_others[0, i + 1:], non_topk[0]], dim=0)
        rest_attn = torch.cat([x_others_attn[0, :i], x_others_attn[0, i + 1:], non_topk_attn[0]], dim=0)
        rest_keys = torch.cat([key_others_norm[0, :i], key_others_norm[0, i + 1:], non_topk_key_norm[0]], dim=0)
        cos = torch.bmm(key_others_norm[:, i:i + 1], rest_keys.unsqueeze(0).transpose(1, 2))[0, 0]
        kk = min(32, rest_keys.shape[0])
        _, cluster = pg.topk_desc(cos, kk)
        gaps.append(rg.topk_gap(cos, kk))
        updated[0, i] = torch.sum(rest_x[cluster] * rest_attn[cluster].unsqueeze(-1), dim=0) + x_others[0, i]
    extra_one = torch.sum(non_topk * non_topk_attn.unsqueeze(-1), dim=1, keepdim=True)
    rows = torch.cat([updated, extra_one], dim=1)[0]
    return rows, idx[0].tolist(), cls_attn[0], rg.min_gap(gaps)


def port_prumerge(ctx, image, mode, plus=False, newlines="all"):
    """PruMerge / PruMerge+ (no released any-resolution code): per view on HF's views, HF packing, in both
    modes; each kept (merged) row sits at its patch's cell, the extra token goes where TRIM's mean goes."""
    method = "prumerge+" if plus else "prumerge"
    pv, grid, canvas, hw, enc = _views_for(ctx, method, mode, image)
    x = enc["features"]
    per_view, sig, gaps = [], [], []
    for v in range(pv.shape[0]):
        rows, idx, cls_attn, gap = prumerge_view(x[v], enc["q_last"][v], enc["k_last"][v], plus)
        per_view.append(ViewRows(list(zip(idx, rows[:-1])), [rows[-1]]))
        sig.append(cls_attn)
        gaps.append(gap)
    g, (nph, npw) = ctx.g, grid
    entries, dropped = pack_grid(ctx, per_view, grid, unpad_hf(hw[0], hw[1], nph * g, npw * g), newlines,
                                 HF_BASE_ORDER)
    return finish(ctx, method, mode, entries, pv=pv, grid=grid, canvas=canvas, hw=hw, enc=enc,
                  signals={"cls_attention": torch.stack(sig)}, gap=rg.min_gap(gaps), notes=[], dropped=dropped)


@torch.no_grad()
def run(ctx, method, image, mode, **kw):
    """One case. kw: keep (FasterVLM, VisPruner, CDPruner per view; DivPrune whole sequence), keep_ratio
    (DivPrune ratio, HiRED rate, GlobalCom2 r), important_ratio, prompt, scoring, dominant, contextual, alpha,
    newlines."""
    image = image.convert("RGB")
    nl = kw.get("newlines", "all")
    if method == "fastervlm":
        return port_fastervlm(ctx, image, mode, kw["keep"], nl)
    if method == "vispruner":
        return port_vispruner(ctx, image, mode, kw["keep"], kw.get("important_ratio", 0.5), nl)
    if method == "cdpruner":
        return port_cdpruner(ctx, image, mode, kw["keep"], kw["prompt"], kw.get("scoring", "authors"), nl)
    if method == "visionzip":
        return port_visionzip(ctx, image, mode, kw["dominant"], kw["contextual"], nl)
    if method == "divprune":
        return port_divprune(ctx, image, mode, kw.get("keep"), kw.get("keep_ratio") or 0.098, nl)
    if method == "hired":
        return port_hired(ctx, image, mode, kw.get("keep_ratio") or 0.2, kw.get("alpha", 0.5))
    if method == "globalcom2":
        return port_globalcom2(ctx, image, mode, kw.get("keep_ratio") or 0.25, nl)
    if method in ("prumerge", "prumerge+"):
        return port_prumerge(ctx, image, mode, method == "prumerge+", nl)
    raise ValueError(method)
