#!/usr/bin/env python3
"""Trains the bundled demo CLIP (Weights/clip-demo) on the generated world of Tests/Training/scenes.py.

Reproduce the bundled files (reference venv of Docs/SEMANTICS.md §4; CPU only, 2 threads, 1,400 steps; about
an hour on a 2-core machine shared with other work):

    .venv-ref/bin/python Tests/Training/train_demo_clip.py

writes Weights/clip-demo/{config.json, model.safetensors, preprocessor_config.json, training.json}.
Deterministic: the seeds (model 0, data 1 + step) and the thread count (2) are fixed; the same torch
build on the same CPU gives the same file. `--steps N --out DIR` makes a shorter run elsewhere. On a machine
shared with other work, `OMP_WAIT_POLICY=PASSIVE` keeps the two threads from spinning while they wait for each
other (about twice as fast there; it changes how idle threads wait, not how the work is split).

The scenes (scenes.py, `small=SMALL_SHARE`): half at the original 12–32 % of the side, half log-uniform 3–32 %,
so that objects down to about half a patch, the scale the tiles of LLaVA-NeXT's any-resolution input show, are
trained on too. An object that covers no patch by half still gets positive patches: those it covers by at least
half its largest coverage (`positives`).

The model is a Hugging Face `CLIPModel` (loaded unchanged by `trim`): vision 336 px, 14 px patches, so the
grid is LLaVA's 24 × 24 = 576 patches; the real 49,408-token CLIP vocabulary and tokenizer.

Losses, per batch of scenes (each scene with one prompt per object plus one prompt about an absent object):
  * clip      CLIP's symmetric contrastive loss between pooled image embeddings and a caption listing
              the scene's objects (what real CLIP is trained with, at web scale, and nothing else).
  * patch     on TRIM's own path: z_i = visual_projection(post_layernorm(hidden_states[-2][1 + i])),
              t = text_embeds(prompt); a sigmoid loss on τ·cos(z_i, t) + b per patch and prompt: positive
              where the prompted object covers ≥ 50 % of the patch (≥ half its largest coverage when that is
              below a whole patch: `positives`), negative where it covers none, ignored in between.
  * infonce   softmax over the 576 patches of τ'·cos(z_i, t): the prompted object's patches against all
              others (the hardest negatives — distractors sharing its colour or shape — weigh most).
  * iqr       TRIM's decision itself: e_i = exp(cos(z_i, t)) (softmax without its constant), u = Q3 + 1.5·IQR
              of e (torch.quantile, linear, as numpy.percentile); hinges log u + m − cos_i on positives
              and cos_i − log u + m on negatives, so the IQR rule keeps exactly the object, with margin m.
Real CLIP gets patch–text alignment as a by-product of contrastive training on 400 M image–caption pairs;
this model gets it from the three dense losses on a world with 24 concepts.
"""
import argparse
import json
import math
import os
import sys
import time

import numpy as np
import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import scenes  # noqa: E402

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))

CONFIG = {
    "projection_dim": 64,
    "logit_scale_init_value": 2.6592,
    "text_config": dict(vocab_size=49408, hidden_size=64, intermediate_size=256, num_hidden_layers=3,
                        num_attention_heads=4, max_position_embeddings=77, hidden_act="quick_gelu",
                        bos_token_id=49406, eos_token_id=49407, pad_token_id=49407),
    "vision_config": dict(image_size=336, patch_size=14, hidden_size=128, intermediate_size=512,
                          num_hidden_layers=4, num_attention_heads=4, hidden_act="quick_gelu"),
}


def build_model(seed, sincos=True):
    from transformers import CLIPConfig, CLIPModel
    torch.manual_seed(seed)
    cfg = CLIPConfig(text_config=CONFIG["text_config"], vision_config=CONFIG["vision_config"],
                     projection_dim=CONFIG["projection_dim"], logit_scale_init_value=CONFIG["logit_scale_init_value"])
    model = CLIPModel(cfg)
    model.config._attn_implementation = "sdpa"
    if sincos:
        # 2-D sine–cosine patch positions (MAE-style) as the starting point of the learned table, so attention
        # can be local from the first step: telling a red ball from a red star next to it needs a patch to
        # pool the edges of its own blob, not of every red patch (see Docs/DEMO_MODEL.md).
        with torch.no_grad():
            pe = model.vision_model.embeddings.position_embedding.weight  # [1 + 576, 128]
            g = CONFIG["vision_config"]["image_size"] // CONFIG["vision_config"]["patch_size"]
            d = pe.shape[1]
            rows, cols = torch.meshgrid(torch.arange(g, dtype=torch.float32), torch.arange(g, dtype=torch.float32),
                                        indexing="ij")
            freq = 1.0 / (10000 ** (torch.arange(d // 4, dtype=torch.float32) / (d // 4)))
            parts = []
            for axis in (rows.reshape(-1), cols.reshape(-1)):
                a = axis[:, None] * freq[None, :]
                parts += [torch.sin(a), torch.cos(a)]
            pe[1:] = 0.5 * torch.cat(parts, dim=1)
            pe[0] = 0
    return model


def tokenizer():
    from transformers import CLIPTokenizerFast
    sys.path.insert(0, os.path.join(ROOT, "Tests", "Goldens"))
    from tokenizer_goldens import write_files, vocab_and_merges  # the bundled OpenAI vocabulary, HF files
    import tempfile
    d = tempfile.mkdtemp()
    vocab, merges = vocab_and_merges()
    write_files(d, vocab, merges)
    return CLIPTokenizerFast(os.path.join(d, "vocab.json"), os.path.join(d, "merges.txt"))


def make_batch(rng, batch, binding=False, small=scenes.SMALL_SHARE):
    """Scenes → pixel_values [B,3,336,336], prompts (text, image index, object index or −1), captions."""
    pixels, prompts, captions, coverage = [], [], [], []
    for b in range(batch):
        sc = scenes.scene(rng, binding=binding, small=small)
        pixels.append(scenes.pixel_values(sc["image"]))
        present = [(o["colour"], o["shape"]) for o in sc["objects"]]
        coverage.append(sc["coverage"])
        for k, (c, s) in enumerate(present):
            prompts.append((scenes.prompt(rng, c, s), b, k))
        # one absent concept, preferably sharing a colour or a shape with a present one (a hard negative)
        absent = [cs for cs in scenes.CONCEPTS if cs not in present]
        hard = [cs for cs in absent if any(cs[0] == p[0] or cs[1] == p[1] for p in present)]
        pool = hard if hard and rng.random() < 0.8 else absent
        c, s = pool[rng.integers(len(pool))]
        prompts.append((scenes.prompt(rng, c, s), b, -1))
        names = [f"a {c} {scenes.SYNONYMS[s][rng.integers(len(scenes.SYNONYMS[s]))]}" for c, s in present]
        rng.shuffle(names)
        captions.append(", ".join(names) if names else "nothing")
    return torch.from_numpy(np.stack(pixels)), prompts, captions, coverage


def encode_text(model, tok, texts):
    enc = tok(texts, padding=True, truncation=True, max_length=77, return_tensors="pt")
    out = model.text_model(input_ids=enc.input_ids, attention_mask=enc.attention_mask)
    return model.text_projection(out.pooler_output)


def patch_tokens(model, pixels):
    """(z [B, 576, P] on TRIM's path, pooled image embeds [B, P])."""
    vo = model.vision_model(pixel_values=pixels, output_hidden_states=True)
    feats = vo.hidden_states[-2][:, 1:]
    z = model.visual_projection(model.vision_model.post_layernorm(feats))
    return z, model.visual_projection(vo.pooler_output)


def trim_keep(cos, multiplier=1.5):
    """TRIM's IQR rule on softmax(cos) as numpy computes it (float32)."""
    s = np.exp(cos - cos.max()).astype(np.float32)
    s = (s / s.sum()).astype(np.float32)
    q1, q3 = np.percentile(s, 25), np.percentile(s, 75)
    return s > q3 + np.float32(multiplier) * (q3 - q1)


def metrics(keep, cov):
    """precision (kept touching / kept), recall (≥ half-covered kept / ≥ half-covered), found (some kept patch
    touches the object)."""
    touch, half = cov > 0, cov >= 0.5
    p = float((keep & touch).sum() / keep.sum()) if keep.sum() else float("nan")
    r = float((keep & half).sum() / half.sum()) if half.sum() else float("nan")
    return p, r, bool((keep & touch).any())


def positives(c):
    """The patches a prompt's object should win: those it covers by half, or, for an object too small to cover
    any patch by half (below about a patch across), those it covers by at least half its largest coverage."""
    return c >= min(0.5, 0.5 * float(c.max()))


def evaluate(model, tok, seeds, small=0.0):
    """TRIM on held-out scenes: small=0 the 12–32 % world, small=1 every scene at 3–32 % (the tiles' scale)."""
    model.eval()
    P, R, J, K, FOUND = [], [], [], [], []
    with torch.no_grad():
        for seed in seeds:
            rng = np.random.default_rng(seed)
            sc = scenes.scene(rng, small=small)
            if not sc["objects"]:
                continue
            z, _ = patch_tokens(model, torch.from_numpy(scenes.pixel_values(sc["image"]))[None])
            z = F.normalize(z[0], dim=-1)
            keeps = []
            for k, o in enumerate(sc["objects"]):
                t = F.normalize(encode_text(model, tok, [scenes.prompt(rng, o["colour"], o["shape"])])[0], dim=-1)
                keep = trim_keep((z @ t).numpy())
                p, r, found = metrics(keep, sc["coverage"][k])
                P.append(p), R.append(r), K.append(int(keep.sum())), FOUND.append(found)
                keeps.append(keep)
            if len(keeps) >= 2:
                a, b = keeps[0], keeps[1]
                J.append(float((a & b).sum() / max((a | b).sum(), 1)))
    model.train()
    res = dict(precision=float(np.nanmedian(P)), recall=float(np.nanmedian(R)), jaccard=float(np.median(J)),
               kept=float(np.median(K)), mean_precision=float(np.nanmean(P)), mean_recall=float(np.nanmean(R)),
               found=int(sum(FOUND)), prompts=len(P))
    return res


def losses(model, tok, batch, coverage):
    pixels, prompts, captions = batch
    z, img = patch_tokens(model, pixels)
    zn = F.normalize(z, dim=-1)                                    # [B, 576, P]
    t = F.normalize(encode_text(model, tok, [p[0] for p in prompts]), dim=-1)  # [Q, P]
    cap = F.normalize(encode_text(model, tok, captions), dim=-1)   # [B, P]
    imgn = F.normalize(img, dim=-1)

    # CLIP contrastive
    scale = model.logit_scale.exp().clamp(max=100)
    logits = scale * imgn @ cap.T
    labels = torch.arange(len(captions))
    l_clip = (F.cross_entropy(logits, labels) + F.cross_entropy(logits.T, labels)) / 2

    img_idx = torch.tensor([p[1] for p in prompts])
    cos = (zn[img_idx] * t[:, None, :]).sum(-1)                    # [Q, 576]
    target = torch.zeros_like(cos)
    weight = torch.ones_like(cos)
    for q, (_, b, k) in enumerate(prompts):
        if k >= 0:
            c = torch.from_numpy(coverage[b][k])
            hit = torch.from_numpy(positives(coverage[b][k]))
            target[q] = hit.float()
            weight[q] = (hit | (c <= 1e-3)).float()
    pos = (target > 0) & (weight > 0)
    neg = (target == 0) & (weight > 0)

    # per-patch sigmoid
    l_patch = (F.binary_cross_entropy_with_logits(model.patch_scale * cos + model.patch_bias, target,
                                                  weight=weight, reduction="sum") / weight.sum())
    # InfoNCE over patches (prompts whose object covers at least one patch by half)
    has = pos.any(dim=1)
    logp = F.log_softmax(20.0 * cos, dim=1)
    l_nce = -(logp * pos).sum(1)[has] / pos.sum(1)[has].clamp(min=1)
    l_nce = l_nce.mean() if has.any() else cos.sum() * 0

    # TRIM's IQR rule with a margin, on log e = cos
    e = torch.exp(cos)
    q = torch.quantile(e, torch.tensor([0.25, 0.75]), dim=1)       # [2, Q]
    log_u = torch.log(q[1] + 1.5 * (q[1] - q[0]))[:, None]
    m = 0.05
    h_pos = F.relu(log_u + m - cos) * pos
    h_neg = F.relu(cos - log_u + m) * neg
    l_iqr = (h_pos.sum(1) / pos.sum(1).clamp(min=1)).mean() + (h_neg.sum(1) / neg.sum(1).clamp(min=1)).mean() * 10

    return l_clip, l_patch, l_nce, l_iqr


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--steps", type=int, default=1400)
    ap.add_argument("--batch", type=int, default=12)
    ap.add_argument("--lr", type=float, default=1e-3)
    ap.add_argument("--out", default=os.path.join(ROOT, "Weights", "clip-demo"))
    ap.add_argument("--eval-every", type=int, default=400)
    ap.add_argument("--bench", action="store_true", help="time a few steps and exit")
    ap.add_argument("--threads", type=int, default=2,
                    help="torch threads (the result depends on it: the bundled file was made with its value in "
                         "training.json)")
    ap.add_argument("--stage2-steps", type=int, default=0,
                    help="then fine-tune this many steps on binding scenes (always a distractor sharing a colour "
                         "or a shape) at --stage2-lr; 0 to skip")
    ap.add_argument("--stage2-lr", type=float, default=3e-4)
    ap.add_argument("--small-share", type=float, default=scenes.SMALL_SHARE,
                    help="the share of training scenes whose objects are drawn at 3–32 %% of the side (the tiles' "
                         "scale) instead of 12–32 %%; 0 for the 12–32 %% world alone")
    ap.add_argument("--init", help="start from this checkpoint directory instead of stage 1 (it must be the "
                                   "output of stage 1: `--stage2-steps 0`) and run stage 2 only")
    args = ap.parse_args()

    torch.set_num_threads(args.threads)
    torch.use_deterministic_algorithms(True)
    model = build_model(0)
    tok = tokenizer()
    log, log_small = [], []
    start = time.time()
    if args.init:
        from safetensors.torch import load_file
        model.load_state_dict(load_file(os.path.join(args.init, "model.safetensors")), strict=False)
        with open(os.path.join(args.init, "training.json")) as f:
            stage1 = json.load(f)
        log = stage1["eval"]
        log_small = stage1.get("eval_small", [])
        start -= stage1["seconds"]  # report the total of both stages
    else:
        train(model, tok, args, args.steps, args.lr, (log, log_small), start, binding=False, seed0=1)
    if args.stage2_steps:
        train(model, tok, args, args.stage2_steps, args.stage2_lr, (log, log_small), start, binding=True,
              seed0=5_000_000)
    save(model, args.out, dict(steps=args.steps, batch=args.batch, lr=args.lr, stage2_steps=args.stage2_steps,
                               stage2_lr=args.stage2_lr, small_share=args.small_share,
                               small_floor_px=scenes.SMALL_FLOOR,
                               positives="coverage >= min(0.5, 0.5 * the object's largest coverage)",
                               seconds=round(time.time() - start),
                               torch=torch.__version__, threads=args.threads,
                               seeds=dict(model=0, data="1 + step (stage 1), 5000000 + step (stage 2)",
                                          eval="10000000…"), eval=log,
                               eval_small=log_small))


def train(model, tok, args, steps, lr, logs, start, binding, seed0):
    """One stage: AdamW, linear warm-up then cosine decay; data seed seed0 + step. Evaluates on held-out scenes
    of the 12–32 % world (logs[0]) and of the tiles' scale, 3–32 % (logs[1])."""
    # Two scalars of the sigmoid loss (training only; not part of the saved CLIP), fresh for each stage.
    model.patch_scale = torch.nn.Parameter(torch.tensor(10.0))
    model.patch_bias = torch.nn.Parameter(torch.tensor(-5.0))

    decay, no_decay = [], []
    for n, p in model.named_parameters():
        (no_decay if p.ndim < 2 or "embedding" in n or "norm" in n else decay).append(p)
    opt = torch.optim.AdamW([dict(params=decay, weight_decay=0.05), dict(params=no_decay, weight_decay=0.0)],
                            lr=lr, betas=(0.9, 0.98), eps=1e-6)
    warm = min(200, steps // 10)
    sched = torch.optim.lr_scheduler.LambdaLR(
        opt, lambda s: min(1, (s + 1) / warm) * 0.5 * (1 + math.cos(math.pi * min(s, steps) / steps)))

    eval_seeds = range(10_000_000, 10_000_100)  # held out from training (training uses seed0 + step)
    for step in range(steps):
        rng = np.random.default_rng(seed0 + step)
        pixels, prompts, captions, coverage = make_batch(rng, args.batch, binding=binding, small=args.small_share)
        l_clip, l_patch, l_nce, l_iqr = losses(model, tok, (pixels, prompts, captions), coverage)
        loss = 0.2 * l_clip + l_patch + 0.2 * l_nce + l_iqr
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        sched.step()
        if step % 20 == 0 or step == steps - 1:
            el = time.time() - start
            print(f"{'binding ' if binding else ''}step {step:5d}/{steps}  loss {loss.item():.3f}  clip {l_clip.item():.3f}  patch {l_patch.item():.3f}  "
                  f"nce {l_nce.item():.3f}  iqr {l_iqr.item():.4f}  {el:6.0f}s",
                  flush=True)
        if args.bench and step == 9:
            print(f"{(time.time() - start) / 10:.2f} s/step")
            sys.exit(0)
        if (step + 1) % args.eval_every == 0 or step == steps - 1:
            for log, small, name in zip(logs, (0.0, 1.0), ("eval", "eval small")):
                ev = evaluate(model, tok, eval_seeds if step == steps - 1 else eval_seeds[:40], small=small)
                ev["step"] = step + 1
                ev["stage"] = 2 if binding else 1
                log.append(ev)
                print(name, json.dumps(ev), flush=True)


def save(model, out, info):
    from safetensors.torch import save_file
    os.makedirs(out, exist_ok=True)
    del model.patch_scale, model.patch_bias
    state = {k: v.detach().contiguous() for k, v in model.state_dict().items()}
    state.pop("text_model.embeddings.position_ids", None)
    state.pop("vision_model.embeddings.position_ids", None)
    model.config._attn_implementation = "eager"
    model.save_pretrained(out, safe_serialization=True)
    save_file(state, os.path.join(out, "model.safetensors"), metadata={"format": "pt"})
    with open(os.path.join(out, "preprocessor_config.json"), "w") as f:
        json.dump({"crop_size": {"height": 336, "width": 336}, "do_center_crop": True, "do_normalize": True,
                   "do_resize": True, "image_mean": [0.48145466, 0.4578275, 0.40821073],
                   "image_std": [0.26862954, 0.26130258, 0.27577711],
                   "resample": 3, "size": {"shortest_edge": 336}, "image_processor_type": "CLIPImageProcessor"},
                  f, indent=2)
    with open(os.path.join(out, "training.json"), "w") as f:
        json.dump(info, f, indent=2)
    print("wrote", out)


if __name__ == "__main__":
    main()
