"""The demo world (Docs/DEMO_MODEL.md), rendered with Pillow for training the demo CLIP.

Vocabulary (published; an independent renderer draws its own scenes from it):
  shapes   ball (filled circle), square (filled, axis-aligned), triangle (filled, pointing up), star (filled,
           five points)
  colours  red, green, blue, yellow, white, black (saturated)
  backgrounds  plain muted colour, linear gradient between two muted colours (vertical or horizontal), muted
           colour + Gaussian noise, two-tone split (vertical or horizontal cut)
  1–4 non-overlapping objects, each 13–30 % of the image side; any image size and aspect.

Object sizes: for training (`small=SMALL_SHARE`), in half the scenes uniformly 12–32 % of the reference side;
in the other half log-uniformly 3–32 % (at least SMALL_FLOOR = 8 px, 0.57 patch, in the 336-px view), so that
about 30 % of all training objects are smaller than 12 %: the scale at which the tiles of LLaVA-NeXT's
any-resolution input show the objects of `trim eval --anyres` (0.6–3.4 patches of 14 px, 3–14 % of a 336-px
tile). `scene(rng)` (small=0) draws the 12–32 % world alone, exactly as it was drawn before `small` existed.

This renderer randomises what an independent one might do differently (exact shades, anti-aliasing,
star proportions, triangle shape, noise level, JPEG or not, which side "13–30 %" refers to), so that the
model learns the vocabulary rather than one renderer's pixels. Everything is driven by a
`numpy.random.Generator`, so a seed fixes a scene.

`scene(rng)` returns the RGB image (PIL), the objects (colour, shape, geometry) and, per object, its
coverage of each patch of LLaVA's 24 × 24 grid after pad-to-square and resize to 336 (`patch_coverage`).
"""
import io
import math

import numpy as np
from PIL import Image, ImageDraw

SHAPES = ["ball", "square", "triangle", "star"]
COLOURS = ["red", "green", "blue", "yellow", "white", "black"]
CONCEPTS = [(c, s) for c in COLOURS for s in SHAPES]  # 24 colour–shape pairs

# Saturated anchors; each draw jitters them a little.
RGB = {
    "red": (220, 30, 30),
    "green": (30, 180, 40),
    "blue": (30, 60, 220),
    "yellow": (240, 220, 30),
    "white": (245, 245, 245),
    "black": (15, 15, 15),
}

PAD = (122, 116, 104)  # LLaVA's expand2square fill: int(mean * 255)
SIZE, PATCH = 336, 14
GRID = SIZE // PATCH

# The share of scenes whose objects are drawn at 3–32 % of the side (log-uniform) rather than 12–32 %, and the
# smallest object those scenes hold, in pixels of the 336-px view (0.57 of a 14-px patch).
SMALL_SHARE = 0.5
SMALL_FLOOR = 8

SYNONYMS = {"ball": ["ball", "circle"], "square": ["square", "box"], "triangle": ["triangle"], "star": ["star"]}
PLURAL = {"ball": "balls", "circle": "circles", "square": "squares", "box": "boxes", "triangle": "triangles", "star": "stars"}

TEMPLATES = [
    "Where is the {c} {s}?",
    "Is there a {c} {s} in the picture?",
    "the {c} {s}",
    "What is next to the {c} {s}?",
    "Describe the {c} {s}.",
    "{c} {s}",
    "a {c} {s}",
    "the {c} {s}.",
    "Find the {c} {s}.",
    "Show me the {c} {s}.",
    "Can you see a {c} {s}?",
    "Point to the {c} {s}.",
    "Where's the {c} {s}?",
    "Where is a {c} {s} in this image?",
    "Is there a {c} {s}?",
    "a photo of a {c} {s}",
    "a picture of the {c} {s}",
    "How big is the {c} {s}?",
    "Is the {c} {s} on the left or the right?",
    "What is above the {c} {s}?",
    "What is below the {c} {s}?",
    "What is to the left of the {c} {s}?",
    "What is to the right of the {c} {s}?",
    "Tell me about the {c} {s}.",
    "Look at the {c} {s}.",
    "There is a {c} {s} here.",
    "Locate the {c} {s} in the image.",
    "Which object is the {c} {s}?",
    "What shape is next to the {c} {s}?",
    "Is the {c} {s} near the edge of the image?",
    "Describe the position of the {c} {s}.",
    "Do you see the {c} {s}?",
    "Where can I find the {c} {s}?",
    "How many {c} {p} are there?",
    "Count the {c} {p}.",
    "the {s} that is {c}",
    "Which {s} is {c}?",
    "WHERE IS THE {C} {S}?",
    "{c} {s}?",
    "Is the {c} {s} bigger than the others?",
]

FILLER_PREFIX = ["", "", "please", "hey,", "in this image,", "in the picture,", "can you tell me", "question:", "tell me",
                 "look:", "so", "now", "ok,", "I wonder", "quick question:"]
FILLER_SUFFIX = ["", "", "?", ".", "please", "in the image", "in this picture", "right now", "if you can", "thanks",
                 "on the screen", "here", "exactly"]


def prompt(rng, colour, shape):
    """A natural prompt naming `colour` and `shape` (with the synonyms circle/ball, box/square)."""
    s = SYNONYMS[shape][rng.integers(len(SYNONYMS[shape]))]
    if rng.random() < 0.25:  # a composed form with fillers, for templates never listed
        core = ["the {c} {s}", "a {c} {s}", "{c} {s}", "that {c} {s}"][rng.integers(4)].format(c=colour, s=s)
        pre = FILLER_PREFIX[rng.integers(len(FILLER_PREFIX))]
        verb = ["where is", "find", "show", "describe", "what about", "is there", "", "see"][rng.integers(8)]
        suf = FILLER_SUFFIX[rng.integers(len(FILLER_SUFFIX))]
        text = " ".join(w for w in [pre, verb, core, suf] if w)
        return text
    t = TEMPLATES[rng.integers(len(TEMPLATES))]
    return t.format(c=colour, s=s, p=PLURAL[s], C=colour.upper(), S=s.upper())


def _muted(rng):
    """A low-saturation, mid-lightness colour."""
    base = rng.uniform(70, 190)
    tint = rng.normal(0, 1, 3)
    tint = tint / (np.linalg.norm(tint) + 1e-9) * rng.uniform(0, 35)
    return np.clip(base + tint, 0, 255)


def _background(rng, w, h):
    kind = rng.integers(4)
    if kind == 0:  # plain
        img = np.broadcast_to(_muted(rng), (h, w, 3)).astype(np.float32)
    elif kind == 1:  # linear gradient, vertical or horizontal
        a, b = _muted(rng), _muted(rng)
        if rng.random() < 0.5:
            t = np.linspace(0, 1, h, dtype=np.float32)[:, None, None]
        else:
            t = np.linspace(0, 1, w, dtype=np.float32)[None, :, None]
        img = np.broadcast_to(a * (1 - t) + b * t, (h, w, 3)).astype(np.float32)
    elif kind == 2:  # muted colour + Gaussian noise
        sigma = rng.uniform(4, 30)
        noise = rng.standard_normal((h, w, 1 if rng.random() < 0.3 else 3), dtype=np.float32) * sigma
        img = _muted(rng).astype(np.float32)[None, None, :] + noise
        img = np.broadcast_to(img, (h, w, 3)).astype(np.float32)
    else:  # two-tone split
        a, b = _muted(rng), _muted(rng)
        img = np.empty((h, w, 3), np.float32)
        if rng.random() < 0.5:
            cut = int(rng.uniform(0.25, 0.75) * h)
            img[:cut], img[cut:] = a, b
        else:
            cut = int(rng.uniform(0.25, 0.75) * w)
            img[:, :cut], img[:, cut:] = a, b
    return np.clip(img, 0, 255)


def _polygon(shape, cx, cy, size, star_inner, tri_height):
    """Vertices of a square / triangle / star of bounding size `size` centred at (cx, cy)."""
    r = size / 2
    if shape == "square":
        return [(cx - r, cy - r), (cx + r, cy - r), (cx + r, cy + r), (cx - r, cy + r)]
    if shape == "triangle":
        hh = r * tri_height
        return [(cx, cy - hh), (cx + r, cy + hh), (cx - r, cy + hh)]
    pts = []
    for k in range(10):  # star: outer and inner points, first one pointing up
        a = -math.pi / 2 + k * math.pi / 5
        rad = r if k % 2 == 0 else r * star_inner
        pts.append((cx + rad * math.cos(a), cy + rad * math.sin(a)))
    return pts


def _coverage(obj, w, h, scale, dx, dy, ss):
    """The shape's coverage (0…1) of the pixels of a w × h raster in which the object's geometry is mapped
    by `x·scale + dx`, supersampled `ss` times per side, over the object's bounding box only:
    returns (alpha [y1 − y0, x1 − x0] float32, x0, y0)."""
    cx, cy, size = obj["cx"] * scale + dx, obj["cy"] * scale + dy, obj["size"] * scale
    x0, y0 = max(int(math.floor(cx - size / 2)) - 1, 0), max(int(math.floor(cy - size / 2)) - 1, 0)
    x1, y1 = min(int(math.ceil(cx + size / 2)) + 2, w), min(int(math.ceil(cy + size / 2)) + 2, h)
    bw, bh = max(x1 - x0, 1), max(y1 - y0, 1)
    mask = Image.new("L", (bw * ss, bh * ss), 0)
    d = ImageDraw.Draw(mask)
    cx, cy, size = (cx - x0) * ss, (cy - y0) * ss, size * ss
    if obj["shape"] == "ball":
        r = size / 2
        d.ellipse([cx - r, cy - r, cx + r, cy + r], fill=255)
    else:
        d.polygon(_polygon(obj["shape"], cx, cy, size, obj["star_inner"], obj["tri_height"]), fill=255)
    if ss > 1:
        mask = mask.resize((bw, bh), Image.BOX)
    return np.asarray(mask, dtype=np.float32)[: y1 - y0, : x1 - x0] / 255, x0, y0


def scene(rng, size=None, concepts=None, jpeg=True, binding=False, small=0.0):
    """One random scene. Returns dict(image=PIL RGB, objects=[...], coverage=[K, 576] float32 per object).
    `small`: the probability that the scene's objects are drawn at the tiles' scale (3–32 % of the side); the
    training script passes SMALL_SHARE, the default 0 draws the 12–32 % world (make_demo.py's scene)."""
    if size is None:
        if rng.random() < 0.2:
            w = h = int(rng.integers(140, 640))
        else:
            aspect = math.exp(rng.uniform(math.log(1 / 2.5), math.log(2.5)))
            area = rng.uniform(140, 640) ** 2
            w, h = max(48, int(math.sqrt(area * aspect))), max(48, int(math.sqrt(area / aspect)))
    else:
        w, h = size
    img = _background(rng, w, h)

    # Objects: 1–4, often with distractors sharing the colour or the shape of another one.
    n = int(rng.integers(1, 5))
    if concepts is None:
        if binding:  # at least two objects, always a distractor sharing a colour or a shape
            n = max(n, 2)
        concepts = []
        while len(concepts) < n:
            if concepts and (binding or rng.random() < 0.6):
                c0, s0 = concepts[rng.integers(len(concepts))]
                cand = (c0, SHAPES[rng.integers(4)]) if rng.random() < 0.5 else (COLOURS[rng.integers(6)], s0)
            else:
                cand = CONCEPTS[rng.integers(len(CONCEPTS))]
            if cand not in concepts:
                concepts.append(cand)
    side_ref = min(w, h) if rng.random() < 0.6 else max(w, h)
    # Small objects, at the scale LLaVA-NeXT's tiles show (Docs/DEMO_MODEL.md): in a share `small` of the scenes
    # each object's size is drawn log-uniformly from 3–32 % of the reference side instead of uniformly from
    # 12–32 %, with a floor of SMALL_FLOOR px in the 336-px view. `small=0` draws nothing here, so it gives
    # exactly the scenes of the 12–32 % world (the held-out evaluation scenes of the training script).
    small_scene = small > 0 and rng.random() < small
    floor = SMALL_FLOOR * max(w, h) / SIZE  # SMALL_FLOOR px of the 336-px view, in image pixels
    objects = []
    for colour, shape in concepts:
        for _ in range(200):
            if small_scene:
                size = max(math.exp(rng.uniform(math.log(0.03), math.log(0.32))) * side_ref, floor)
            else:
                size = rng.uniform(0.12, 0.32) * side_ref
            size = min(size, 0.92 * min(w, h))
            cx, cy = rng.uniform(size / 2, w - size / 2), rng.uniform(size / 2, h - size / 2)
            if all(math.hypot(cx - o["cx"], cy - o["cy"]) > (size + o["size"]) / 2 * 1.05 + 2 for o in objects):
                break
        else:
            continue  # no room: fewer objects
        rgb = np.clip(np.array(RGB[colour], np.float32) + rng.normal(0, 12, 3), 0, 255)
        objects.append(dict(colour=colour, shape=shape, cx=cx, cy=cy, size=size, rgb=rgb,
                            star_inner=rng.uniform(0.36, 0.5), tri_height=rng.uniform(0.8, 1.0)))

    ss = 1 if rng.random() < 0.35 else 3
    img = np.array(img, np.float32)
    for o in objects:
        alpha, x0, y0 = _coverage(o, w, h, 1.0, 0.0, 0.0, ss)
        win = img[y0:y0 + alpha.shape[0], x0:x0 + alpha.shape[1]]
        win[...] = win * (1 - alpha[..., None]) + o["rgb"] * alpha[..., None]
    image = Image.fromarray(np.clip(img + 0.5, 0, 255).astype(np.uint8), "RGB")
    if rng.random() < 0.3 and jpeg:  # JPEG artefacts, as a photo-like input would have
        buf = io.BytesIO()
        image.save(buf, "JPEG", quality=int(rng.integers(60, 96)))
        buf.seek(0)
        image = Image.open(buf).convert("RGB")

    # Coverage of the 24 × 24 grid after LLaVA's pad to a square of side max(w, h) and resize to 336.
    side = max(w, h)
    scale = SIZE / side
    dx, dy = ((side - w) // 2) * scale, ((side - h) // 2) * scale
    cov = []
    for o in objects:
        alpha, x0, y0 = _coverage(o, SIZE, SIZE, scale, dx, dy, 2)
        a = np.zeros((SIZE, SIZE), np.float32)
        a[y0:y0 + alpha.shape[0], x0:x0 + alpha.shape[1]] = alpha
        cov.append(a.reshape(GRID, PATCH, GRID, PATCH).mean(axis=(1, 3)).reshape(-1))
    return dict(image=image, objects=objects, coverage=np.array(cov, np.float32).reshape(len(objects), GRID * GRID))


def expand2square(image, fill=PAD):
    """LLaVA's pad-to-square: paste onto a square of side max(w, h), centred on the short axis."""
    w, h = image.size
    if w == h:
        return image
    side = max(w, h)
    out = Image.new(image.mode, (side, side), fill)
    out.paste(image, (0, (w - h) // 2) if w > h else ((h - w) // 2, 0))
    return out


MEAN = np.array([0.48145466, 0.4578275, 0.40821073], np.float32)
STD = np.array([0.26862954, 0.26130258, 0.27577711], np.float32)


def pixel_values(image):
    """LLaVA pad + CLIP preprocessing at 336 (square after padding, so the crop is a no-op): [3, 336, 336]."""
    sq = expand2square(image).resize((SIZE, SIZE), Image.BICUBIC)
    x = (np.asarray(sq, dtype=np.float64) * (1 / 255)).astype(np.float32)
    return ((x - MEAN) / STD).transpose(2, 0, 1)
