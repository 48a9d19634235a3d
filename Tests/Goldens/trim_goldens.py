#!/usr/bin/env python3
"""The TRIM pipeline in PyTorch, as the authors run it inside LLaVA-1.5, and its stored reference outputs.

Regenerate (from the repository root, reference venv of Docs/SEMANTICS.md §4; run clip_goldens.py first):

    .venv-ref/bin/python Tests/Goldens/trim_goldens.py

writes
    Weights/demo-image.jpg                 the bundled sample image (drawn here with Pillow, 640×480 JPEG)
    Weights/projector-tiny.safetensors     random LLaVA mlp2x_gelu projector for clip-tiny, llava-hf names
    Weights/clip-odd/{vocab.json,merges.txt}  clip-odd's own 1000-token BPE vocabulary (first 486 OpenAI merges)
    Tests/Goldens/trim/projector-odd.safetensors  random projector for clip-odd, original LLaVA names
    Tests/Goldens/trim/llava-sharded/      a 2-shard llava-hf-style checkpoint holding projector-tiny's tensors
    Tests/Goldens/trim/images/*            further test images (PNG portrait, tiny PNG, progressive JPEG)
    Tests/Goldens/trim/<model>.safetensors every intermediate per image, prompt and case (see `run_model`),
                                           with a JSON manifest in the metadata key "manifest"

Other uses (nothing committed):
    --model-dir DIR --projector FILE --images A.jpg B.png --prompts "p1" "p2" --out FILE
        the same reference on any model, images and prompts (held-out checks; see Docs/CONFORMANCE.md)

The reference follows the released code (github.com/FreedomIntelligence/TRIM, clip_encoder.py) in float32:
LLaVA's expand2square pad, CLIPImageProcessor (PIL backend), hidden_states[select_layer][:, 1:],
post_layernorm + visual_projection, CLIPTokenizerFast(truncation=True) → text_embeds, then
    paper:   s = cos(image_tokens, text_embeds)          authors: s = -(image_tokens @ text_embeds)
    scores = softmax(s); Q1, Q3 = np.percentile(scores, 25), np.percentile(scores, 75) (float32 scalars,
    two calls as the released code makes them), keep scores > Q3 + m·(Q3 − Q1), or the top int(N·r);
    kept features in index order, then the mean of the others (zeros if none); projector on those rows.
"""
import argparse
import json
import math
import os
import sys
import tempfile

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image, ImageDraw, ImageFilter
from safetensors.numpy import save_file as save_np
from safetensors.torch import save_file
from transformers import CLIPImageProcessorPil, CLIPModel, CLIPTokenizerFast

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from tokenizer_goldens import bytes_to_unicode, vocab_and_merges, write_files  # noqa: E402
from image_goldens import expand2square  # noqa: E402  (LLaVA's pad-to-square)

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
OUT = os.path.join(ROOT, "Tests", "Goldens", "trim")

PROMPTS = [
    "Where is the red ball?",
    "What is written on the sign?",
    "a photo of a cat",
    # Longer than 77 tokens: truncated to 76 + <|endoftext|>.
    "Describe in great detail " + " ".join(f"the object number {i} and its colour," for i in range(20)) + " please.",
]

# (name, scoring, selection, multiplier-or-ratio, mean token, select layer)
CASES = [
    ("paper_iqr", "paper", "iqr", 1.5, True, -2),
    ("authors_iqr", "authors", "iqr", 1.5, True, -2),
    ("paper_ratio", "paper", "ratio", 0.25, True, -2),
    ("authors_ratio_nomean", "authors", "ratio", 0.1, False, -2),
]
# Run only on image 0 × prompt 0: edge cases of K and of the layer selector.
EXTRA_CASES = [
    ("no_outlier", "paper", "iqr", 1000.0, True, -2),   # K = 0: only the mean token
    ("keep_all", "paper", "ratio", 1.0, True, -2),      # K = N: the mean token is zeros
    ("last_layer", "paper", "iqr", 1.5, True, -1),
    ("embeddings", "authors", "iqr", 1.5, True, 0),
    ("layer_1", "paper", "iqr", 1.5, False, 1),
]


# ------------------------------------------------------------------------------------------------ assets
def demo_image():
    """A 640×480 outdoor scene: sky gradient, sun, hills, a house, a tree, a red ball and a sign, with noise."""
    w, h = 640, 480
    rng = np.random.default_rng(7)
    y = np.linspace(0, 1, h)[:, None]
    sky = np.stack([110 + 80 * y, 160 + 60 * y, 235 - 30 * y], -1) * np.ones((1, w, 1))
    img = Image.fromarray(np.clip(sky, 0, 255).astype(np.uint8), "RGB")
    d = ImageDraw.Draw(img)
    d.ellipse([520, 40, 590, 110], fill=(255, 214, 80))
    d.polygon([(0, 330), (160, 250), (330, 320), (470, 260), (640, 310), (640, 480), (0, 480)], fill=(86, 150, 70))
    d.rectangle([0, 380, 640, 480], fill=(70, 130, 60))
    d.rectangle([70, 240, 230, 370], fill=(200, 180, 150))
    d.polygon([(55, 245), (150, 170), (245, 245)], fill=(150, 60, 50))
    d.rectangle([130, 300, 170, 370], fill=(100, 70, 40))
    d.rectangle([85, 265, 120, 295], fill=(180, 220, 250))
    d.rectangle([465, 230, 485, 390], fill=(100, 70, 40))
    d.ellipse([420, 150, 530, 260], fill=(40, 110, 40))
    d.ellipse([330, 360, 400, 430], fill=(220, 30, 35))
    d.ellipse([345, 372, 362, 389], fill=(250, 120, 120))
    d.rectangle([540, 330, 545, 400], fill=(90, 60, 30))
    d.rectangle([505, 300, 600, 345], fill=(245, 245, 235), outline=(40, 40, 40))
    d.text((515, 315), "TRIM", fill=(20, 20, 20))
    img = img.filter(ImageFilter.GaussianBlur(0.8))
    a = np.asarray(img).astype(np.int16) + rng.normal(0, 6, (h, w, 3)).astype(np.int16)
    return Image.fromarray(np.clip(a, 0, 255).astype(np.uint8), "RGB")


def test_images():
    """(file name, image, save kwargs): a portrait PNG, a tiny PNG and a progressive square JPEG."""
    rng = np.random.default_rng(11)
    yy, xx = np.mgrid[0:300, 0:180]
    portrait = np.stack([xx * 255 / 180, yy * 255 / 300, (xx + yy) % 256], -1) + rng.normal(0, 12, (300, 180, 3))
    portrait[120:160, 60:110] = [230, 40, 40]
    tiny = rng.integers(0, 256, (13, 20, 3))
    yy, xx = np.mgrid[0:256, 0:256]
    square = np.stack([128 + 100 * np.sin(xx / 17.0), 128 + 100 * np.cos(yy / 23.0), (xx * yy) % 256], -1)
    square += rng.normal(0, 10, square.shape)
    u8 = lambda a: Image.fromarray(np.clip(a, 0, 255).astype(np.uint8), "RGB")
    return [("portrait.png", u8(portrait), {}), ("tiny.png", u8(tiny), {}),
            ("square-progressive.jpg", u8(square), dict(quality=85, progressive=True))]


def write_vocab(directory, n_merges):
    """The vocab.json + merges.txt of Docs/SEMANTICS.md §2, restricted to the first n_merges OpenAI merges."""
    _, merges = vocab_and_merges()
    chars = list(bytes_to_unicode().values())
    merges = merges[:n_merges]
    vocab = chars + [c + "</w>" for c in chars] + ["".join(m.split()) for m in merges] + ["<|startoftext|>", "<|endoftext|>"]
    write_files(directory, {v: i for i, v in enumerate(vocab)}, merges)
    return len(vocab)


def tokenizer_for(model_dir):
    """CLIPTokenizerFast from the directory's vocab.json + merges.txt, else from the bundled vocabulary."""
    if os.path.exists(os.path.join(model_dir, "vocab.json")):
        return CLIPTokenizerFast(vocab=os.path.join(model_dir, "vocab.json"), merges=os.path.join(model_dir, "merges.txt"))
    tmp = tempfile.mkdtemp()
    write_vocab(tmp, 48894)
    return CLIPTokenizerFast(vocab=os.path.join(tmp, "vocab.json"), merges=os.path.join(tmp, "merges.txt"))


def random_projector(d_in, d_out, seed, names):
    g = torch.Generator().manual_seed(seed)
    w1 = torch.randn(d_out, d_in, generator=g) / math.sqrt(d_in)
    b1 = 0.1 * torch.randn(d_out, generator=g)
    w2 = torch.randn(d_out, d_out, generator=g) / math.sqrt(d_out)
    b2 = 0.1 * torch.randn(d_out, generator=g)
    return dict(zip(names, [w1, b1, w2, b2]))


HF_NAMES = ["multi_modal_projector.linear_1.weight", "multi_modal_projector.linear_1.bias",
            "multi_modal_projector.linear_2.weight", "multi_modal_projector.linear_2.bias"]
LLAVA_NAMES = ["model.mm_projector.0.weight", "model.mm_projector.0.bias",
               "model.mm_projector.2.weight", "model.mm_projector.2.bias"]


def make_assets():
    os.makedirs(os.path.join(OUT, "images"), exist_ok=True)
    demo_image().save(os.path.join(ROOT, "Weights", "demo-image.jpg"), quality=90)
    for name, img, kw in test_images():
        img.save(os.path.join(OUT, "images", name), **kw)
    tiny = random_projector(64, 128, 21, HF_NAMES)
    save_file(tiny, os.path.join(ROOT, "Weights", "projector-tiny.safetensors"), metadata={"format": "pt"})
    save_file(random_projector(60, 96, 22, LLAVA_NAMES), os.path.join(OUT, "projector-odd.safetensors"),
              metadata={"format": "pt"})
    # A llava-hf-like sharded checkpoint: a stand-in language model in shard 1, the projector in shard 2.
    sharded = os.path.join(OUT, "llava-sharded")
    os.makedirs(sharded, exist_ok=True)
    g = torch.Generator().manual_seed(23)
    lm = {"language_model.model.embed_tokens.weight": torch.randn(100, 128, generator=g)}
    shards = [("model-00001-of-00002.safetensors", lm), ("model-00002-of-00002.safetensors", tiny)]
    weight_map = {}
    for fname, tensors in shards:
        save_file(tensors, os.path.join(sharded, fname), metadata={"format": "pt"})
        weight_map.update({k: fname for k in tensors})
    total = sum(t.numel() * 4 for _, ts in shards for t in ts.values())
    with open(os.path.join(sharded, "model.safetensors.index.json"), "w") as f:
        json.dump({"metadata": {"total_size": total}, "weight_map": dict(sorted(weight_map.items()))}, f, indent=2)
    n = write_vocab(os.path.join(ROOT, "Weights", "clip-odd"), 486)
    assert n == 1000, n


# --------------------------------------------------------------------------------------------- reference
def processor_for(model_dir, image_size):
    path = os.path.join(model_dir, "preprocessor_config.json")
    if os.path.exists(path):
        return CLIPImageProcessorPil.from_pretrained(model_dir)
    return CLIPImageProcessorPil(size={"shortest_edge": image_size}, crop_size={"height": image_size, "width": image_size})


def load_projector(path):
    from safetensors.torch import load_file
    t = load_file(path)
    for names in (HF_NAMES, LLAVA_NAMES):
        if names[0] in t:
            w1, b1, w2, b2 = (t[n].float() for n in names)  # F16 / BF16 files: exactly the stored values
            return lambda x: F.linear(F.gelu(F.linear(x, w1, b1)), w2, b2)
    raise SystemExit(f"no projector tensors in {path}")


def select(scores, selection, param):
    """The kept indices (increasing) and (q1, q3, upper) — numpy on float32, as the released code."""
    s = scores.numpy().astype(np.float32)
    n = len(s)
    if selection == "iqr":
        q1 = np.percentile(s, 25)
        q3 = np.percentile(s, 75)
        assert q1.dtype == np.float32 and q3.dtype == np.float32
        upper = q3 + np.float32(param) * (q3 - q1)
        assert upper.dtype == np.float32
        kept = np.where(s > upper)[0]
        # The released code keeps the top int(N·ratio) scores with ratio = K/N; same set unless tied.
        k = int(n * (len(kept) / n))
        top = torch.topk(scores, k).indices.sort().values.numpy()
        assert k != len(kept) or np.array_equal(top, kept), "threshold and top-k disagree (tie at the bound)"
        return kept, (float(q1), float(q3), float(upper))
    k = int(n * param)
    order = sorted(range(n), key=lambda i: (-s[i], i))
    return np.array(sorted(order[:k]), dtype=np.int64), None


def load_for_goldens(model_dir, projector_path, **from_pretrained):
    """A goldens script's inputs for one model directory: (CLIPModel in float32, eval mode), its image
    processor, tokenizer, projector function (or None) and LLaVA's pad colour. A small random model
    (clip_goldens.py --random-shape) first gets its own BPE vocabulary of the right size, so real prompts
    tokenize into its id range (start = vocab-2, end = vocab-1)."""
    model = CLIPModel.from_pretrained(model_dir, dtype=torch.float32, **from_pretrained).eval()
    vc, tc = model.config.vision_config, model.config.text_config
    if tc.vocab_size != 49408 and not os.path.exists(os.path.join(model_dir, "vocab.json")):
        assert write_vocab(model_dir, tc.vocab_size - 514) == tc.vocab_size
    proc = processor_for(model_dir, vc.image_size)
    project = load_projector(projector_path) if projector_path else None
    return model, proc, tokenizer_for(model_dir), project, tuple(int(x * 255) for x in proc.image_mean)


@torch.no_grad()
def run_model(model_dir, projector_path, image_paths, prompts, cases, extra_cases):
    """Tensors: image{i}.pixel_values (i = 0 only), image{i}.layer{k}.features, image{i}.layer{k}.image_tokens,
    prompt{j}.input_ids, prompt{j}.text_embeds, case{c}.scores, case{c}.kept_indices, case{c}.reduced,
    case{c}.projected; and the manifest describing images, prompts and cases."""
    model, proc, tok, project, pad = load_for_goldens(model_dir, projector_path)
    vc, tc = model.config.vision_config, model.config.text_config
    out, manifest = {}, {"model": os.path.relpath(model_dir, ROOT), "images": [], "prompts": prompts, "cases": [],
                         "projector": projector_path and os.path.relpath(projector_path, ROOT)}
    feats = {}

    def features(i, layer):
        if (i, layer) not in feats:
            img = Image.open(image_paths[i]).convert("RGB")
            px = proc(images=expand2square(img, pad), return_tensors="pt")["pixel_values"]
            hs = model.vision_model(pixel_values=px, output_hidden_states=True).hidden_states
            f = hs[layer][0, 1:]
            tokens = model.visual_projection(model.vision_model.post_layernorm(f))
            feats[(i, layer)] = (f, tokens)
            if i == 0 and layer == -2:
                out["image0.pixel_values"] = px[0]
            out[f"image{i}.layer{layer}.features"] = f
            out[f"image{i}.layer{layer}.image_tokens"] = tokens
        return feats[(i, layer)]

    text = {}
    for j, p in enumerate(prompts):
        ids = tok(p, truncation=True, max_length=min(77, tc.max_position_embeddings))["input_ids"]
        t = model.get_text_features(input_ids=torch.tensor([ids]))
        t = t.pooler_output if hasattr(t, "pooler_output") else t
        text[j] = t[0]
        out[f"prompt{j}.input_ids"] = torch.tensor(ids, dtype=torch.int64)
        out[f"prompt{j}.text_embeds"] = t[0]
    for path in image_paths:
        manifest["images"].append(os.path.relpath(path, ROOT))

    c = 0
    # Every prompt on image 0, and every image with some prompt (keeps the goldens small).
    pairs = [(0, j) for j in range(len(prompts))] + [(i, i % len(prompts)) for i in range(1, len(image_paths))]
    plan = [(i, j, case) for i, j in pairs for case in cases]
    plan += [(0, 0, case) for case in extra_cases]
    for i, j, (name, scoring, selection, param, mean_token, layer) in plan:
        f, tokens = features(i, layer)
        if scoring == "paper":
            s = F.normalize(tokens, dim=-1) @ F.normalize(text[j], dim=-1)
        else:
            s = -(tokens @ text[j])
        scores = F.softmax(s, dim=-1)
        kept, stats = select(scores, selection, param)
        kept_t = torch.from_numpy(kept.astype(np.int64))
        reduced = f[kept_t]
        if mean_token:
            mask = torch.ones(f.shape[0], dtype=torch.bool)
            mask[kept_t] = False
            mean = f[mask].mean(0) if mask.any() else torch.zeros(f.shape[1])
            reduced = torch.cat([reduced, mean[None]])
        out[f"case{c}.scores"] = scores
        out[f"case{c}.kept_indices"] = kept_t
        out[f"case{c}.reduced"] = reduced
        if project:
            out[f"case{c}.projected"] = project(reduced)
        manifest["cases"].append(dict(name=name, image=i, prompt=j, scoring=scoring, selection=selection,
                                      param=param, mean_token=mean_token, select_layer=layer, kept=len(kept),
                                      q1=stats and stats[0], q3=stats and stats[1], upper=stats and stats[2]))
        c += 1
    return {k: v.detach().contiguous() for k, v in out.items()}, manifest


def save(tensors, manifest, path):
    save_file(tensors, path, metadata={"manifest": json.dumps(manifest)})
    kept = [m["kept"] for m in manifest["cases"]]
    print(f"{path}: {len(manifest['cases'])} cases, kept K from {min(kept)} to {max(kept)}, "
          f"{os.path.getsize(path)} bytes")


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model-dir")
    ap.add_argument("--projector")
    ap.add_argument("--images", nargs="*")
    ap.add_argument("--prompts", nargs="*")
    ap.add_argument("--out")
    ap.add_argument("--make-projector", metavar="FILE",
                    help="first write a random llava-hf projector (vision width → 4096 → 4096) for --model-dir to FILE")
    a = ap.parse_args()
    if a.make_projector:
        width = CLIPModel.config_class.from_pretrained(a.model_dir).vision_config.hidden_size
        save_file(random_projector(width, 4096, 24, HF_NAMES), a.make_projector, metadata={"format": "pt"})
        a.projector = a.make_projector
    torch.set_num_threads(os.cpu_count() or 1)
    if a.model_dir:
        if not (a.images and a.prompts and a.out):
            sys.exit("--model-dir needs --images, --prompts and --out")
        t, m = run_model(os.path.abspath(a.model_dir), a.projector, [os.path.abspath(p) for p in a.images],
                         a.prompts, CASES, EXTRA_CASES)
        save(t, m, a.out)
        return
    make_assets()
    images = [os.path.join(ROOT, "Weights", "demo-image.jpg")] + \
             [os.path.join(OUT, "images", n) for n, _, _ in test_images()]
    for name, projector in [("clip-tiny", os.path.join(ROOT, "Weights", "projector-tiny.safetensors")),
                            ("clip-odd", os.path.join(OUT, "projector-odd.safetensors"))]:
        t, m = run_model(os.path.join(ROOT, "Weights", name), projector, images, PROMPTS, CASES, EXTRA_CASES)
        save(t, m, os.path.join(OUT, f"{name}.safetensors"))


if __name__ == "__main__":
    main()
