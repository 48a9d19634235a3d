#!/usr/bin/env python3
"""Goldens for TRIMImage: PNG decoding, Pillow BICUBIC/BILINEAR resizing, LLaVA + CLIP preprocessing.

Regenerate (from the repository root, deterministic, fixed seeds):

    .venv-ref/bin/python Tests/Goldens/image_goldens.py

Writes into Tests/Goldens/images/:
  png/*.png                    test PNGs: every colour type x bit depth, interlaced or not, palette/tRNS,
                               all five filters, split IDAT, ancillary chunks, odd sizes (written by the
                               small PNG writer below so every variant exists; a few saved by Pillow too)
  png_decoded.safetensors      U8 [h, w, 3] per file name (without .png): Image.open(f).convert("RGB")
  resize.safetensors           U8 "<case>.src" [h, w, 3] and "<case>.out" [H, W, 3]: Image.resize((W, H), filter);
                               __metadata__ "<case>" = JSON {"width", "height", "filter"}
  preprocess.safetensors       U8 "<case>.src", U8 "<case>.crop" (HF resize+crop, uint8) and, for small
                               configs, F32 "<case>.pixel_values" [3, H, W] from CLIPImageProcessorPil with
                               LLaVA's expand2square applied first; F32 "default.table" [3, 256]: HF's
                               rescale+normalize of every byte value per channel (default config);
                               __metadata__ "<case>" = JSON {"config": {...HF kwargs...}, "pad": bool}

Deterministic: rerunning reproduces every tensor and PNG byte for byte (given the same zlib); only the
order of keys inside the safetensors JSON headers may change, since safetensors writes them from a hash map.

References: Pillow (PIL.Image.open / convert / resize), transformers CLIPImageProcessorPil (PIL backend).
"""

import json
import os
import struct
import zlib

import numpy as np
import PIL
import transformers
from PIL import Image
from safetensors.numpy import save_file
from transformers import CLIPImageProcessorPil

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "images")
PNG_DIR = os.path.join(OUT, "png")


# ---------------------------------------------------------------- content


def photo(h, w, seed, depth=8):
    """Photographic-like content: smooth gradients + sharp edges + noise, [h, w, 3] in 0..2^depth-1."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:h, 0:w].astype(np.float64)
    fx, fy = rng.uniform(0.02, 0.2, 2)
    base = np.stack(
        [
            0.5 + 0.4 * np.sin(fx * x + 0.7 * fy * y + rng.uniform(0, 6)),
            0.5 + 0.4 * np.cos(0.6 * fx * x - fy * y + rng.uniform(0, 6)),
            (x / max(w - 1, 1) * 0.6 + y / max(h - 1, 1) * 0.4),
        ],
        axis=-1,
    )
    # sharp edges: a disc and a diagonal band with different colours
    cx, cy, r = rng.uniform(0, w), rng.uniform(0, h), rng.uniform(0.2, 0.5) * max(h, w)
    disc = (x - cx) ** 2 + (y - cy) ** 2 < r * r
    base[disc] = base[disc] * 0.3 + rng.uniform(0, 0.7, 3)
    band = np.abs((x - y * rng.uniform(-1, 1)) % 17 - 8) < 2
    base[band] = 1.0 - base[band]
    base += rng.normal(0, 0.05, base.shape)
    top = (1 << depth) - 1
    return np.clip(np.round(base * top), 0, top).astype(np.uint16 if depth == 16 else np.uint8)


# ---------------------------------------------------------------- a small PNG writer (every variant)

ADAM7 = [(0, 0, 8, 8), (4, 0, 8, 8), (0, 4, 4, 8), (2, 0, 4, 4), (0, 2, 2, 4), (1, 0, 2, 2), (0, 1, 1, 2)]
CHANNELS = {0: 1, 2: 3, 3: 1, 4: 2, 6: 4}


def chunk(cid, data):
    return struct.pack(">I", len(data)) + cid + data + struct.pack(">I", zlib.crc32(cid + data) & 0xFFFFFFFF)


def pack_rows(samples, depth):
    """samples [h, w, c] ints -> list of packed scanline bytes (without filter byte)."""
    h, w, c = samples.shape
    rows = []
    for yy in range(h):
        flat = samples[yy].reshape(-1).astype(np.int64)
        if depth == 16:
            rows.append(b"".join(struct.pack(">H", int(v)) for v in flat))
        elif depth == 8:
            rows.append(bytes(int(v) for v in flat))
        else:
            per = 8 // depth
            out = bytearray()
            for i in range(0, len(flat), per):
                byte = 0
                for j in range(per):
                    v = int(flat[i + j]) if i + j < len(flat) else 0
                    byte |= v << (8 - depth * (j + 1))
                out.append(byte)
            rows.append(bytes(out))
    return rows


def paeth(a, b, c):
    p = a + b - c
    pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
    if pa <= pb and pa <= pc:
        return a
    return b if pb <= pc else c


def filter_rows(rows, bpp, first_filter):
    """Apply filter types cycling 0..4 starting at first_filter; returns the filtered byte stream."""
    out = bytearray()
    prev = bytes(len(rows[0])) if rows else b""
    for i, row in enumerate(rows):
        ft = (first_filter + i) % 5
        f = bytearray()
        for x in range(len(row)):
            a = row[x - bpp] if x >= bpp else 0
            b = prev[x]
            c = prev[x - bpp] if x >= bpp else 0
            pred = [0, a, b, (a + b) // 2, paeth(a, b, c)][ft]
            f.append((row[x] - pred) & 0xFF)
        out.append(ft)
        out += f
        prev = row
    return bytes(out)


def write_png(path, samples, color_type, depth, interlace=False, palette=None, trns=None, idat_pieces=1,
              extra_chunks=(), first_filter=0):
    h, w, c = samples.shape
    assert c == CHANNELS[color_type]
    bpp = max(1, c * depth // 8)
    if interlace:
        raw = b""
        for p, (x0, y0, dx, dy) in enumerate(ADAM7):
            sub = samples[y0::dy, x0::dx]
            if sub.shape[0] == 0 or sub.shape[1] == 0:
                continue
            raw += filter_rows(pack_rows(sub, depth), bpp, first_filter + p)
    else:
        raw = filter_rows(pack_rows(samples, depth), bpp, first_filter)
    z = zlib.compress(raw, 9)
    out = b"\x89PNG\r\n\x1a\n"
    out += chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, depth, color_type, 0, 0, 1 if interlace else 0))
    for cid, data in extra_chunks:
        out += chunk(cid, data)
    if palette is not None:
        out += chunk(b"PLTE", bytes(np.asarray(palette, dtype=np.uint8).reshape(-1)))
    if trns is not None:
        out += chunk(b"tRNS", trns)
    n = max(1, idat_pieces)
    step = -(-len(z) // n) if z else 1
    pieces = [z[i : i + step] for i in range(0, len(z), step)] or [b""]
    if idat_pieces > 1:
        pieces.insert(1, b"")  # an empty IDAT chunk in the middle is legal
    for piece in pieces:
        out += chunk(b"IDAT", piece)
    out += chunk(b"tEXt", b"Comment\x00after IDAT")
    out += chunk(b"IEND", b"")
    with open(path, "wb") as f:
        f.write(out)


def png_corpus():
    """Writes the PNG files and returns {name: Pillow's decoded RGB array}."""
    os.makedirs(PNG_DIR, exist_ok=True)
    for f in os.listdir(PNG_DIR):
        os.remove(os.path.join(PNG_DIR, f))
    names = []
    seed = [100]

    def next_seed():
        seed[0] += 1
        return seed[0]

    def grey_samples(h, w, depth):
        s = next_seed()
        if depth == 16:
            g = photo(h, w, s, 16)[..., :1].astype(np.int64)
            # Pillow's I;16 -> RGB clips at 255: put a dark region in so both branches are exercised.
            g[: h // 2] //= 97
            return g
        return photo(h, w, s, depth)[..., :1]

    def samples_for(color_type, depth, h, w):
        s = next_seed()
        if color_type == 0:
            return grey_samples(h, w, depth)
        if color_type == 2:
            return photo(h, w, s, depth)
        if color_type == 4:
            g = grey_samples(h, w, depth)
            a = photo(h, w, s + 1000, depth)[..., 1:2]
            return np.concatenate([g, a], axis=-1)
        if color_type == 6:
            return np.concatenate([photo(h, w, s, depth), photo(h, w, s + 1000, depth)[..., :1]], axis=-1)
        raise ValueError

    def add(name, samples, color_type, depth, **kw):
        write_png(os.path.join(PNG_DIR, name + ".png"), samples, color_type, depth, **kw)
        names.append(name)

    combos = [(0, 1), (0, 2), (0, 4), (0, 8), (0, 16), (2, 8), (2, 16), (3, 1), (3, 2), (3, 4), (3, 8),
              (4, 8), (4, 16), (6, 8), (6, 16)]
    sizes = [(23, 37), (13, 7)]
    for ct, depth in combos:
        for interlace in (False, True):
            for h, w in sizes:
                name = f"ct{ct}_d{depth}_{'adam7' if interlace else 'plain'}_{w}x{h}"
                if ct == 3:
                    n = min(1 << depth, 200)
                    rng = np.random.default_rng(next_seed())
                    pal = rng.integers(0, 256, (n, 3))
                    idx = rng.integers(0, n, (h, w, 1))
                    add(name, idx, 3, depth, interlace=interlace, palette=pal,
                        first_filter=(depth + interlace) % 5, idat_pieces=3 if interlace else 1)
                else:
                    add(name, samples_for(ct, depth, h, w), ct, depth, interlace=interlace,
                        first_filter=(ct + depth) % 5, idat_pieces=1 if interlace else 2,
                        extra_chunks=[(b"gAMA", struct.pack(">I", 45455)), (b"prVt", b"private ancillary")])

    # odd sizes, including Adam7 with empty passes
    for h, w in [(1, 1), (3, 500), (500, 3), (2, 5)]:
        for interlace in (False, True):
            tag = f"{w}x{h}_{'adam7' if interlace else 'plain'}"
            add(f"rgb8_{tag}", samples_for(2, 8, h, w), 2, 8, interlace=interlace, first_filter=(h + w) % 5)
            add(f"grey2_{tag}", samples_for(0, 2, h, w), 0, 2, interlace=interlace, first_filter=(h * w) % 5)
            add(f"rgba16_{tag}", samples_for(6, 16, h, w), 6, 16, interlace=interlace, first_filter=h % 5)

    # transparency: grey + tRNS (8 and 16 bit), RGB + tRNS, palette + partial / single-entry tRNS
    g = grey_samples(19, 21, 8)
    add("grey8_trns", g, 0, 8, trns=struct.pack(">H", int(g[3, 4, 0])))
    g16 = grey_samples(19, 21, 16)
    add("grey16_trns", g16, 0, 16, trns=struct.pack(">H", int(g16[2, 2, 0])))
    rgb = samples_for(2, 8, 19, 21)
    add("rgb8_trns", rgb, 2, 8, trns=struct.pack(">HHH", *[int(v) for v in rgb[0, 0]]))
    rng = np.random.default_rng(next_seed())
    pal = rng.integers(0, 256, (16, 3))
    idx = rng.integers(0, 16, (19, 21, 1))
    add("pal4_trns_partial", idx, 3, 4, palette=pal, trns=bytes([0, 128, 255, 7, 200]))
    add("pal4_trns_single", idx, 3, 4, palette=pal, trns=bytes([255, 255, 0]))
    add("pal8_trns_adam7", rng.integers(0, 40, (19, 21, 1)), 3, 8, interlace=True,
        palette=rng.integers(0, 256, (40, 3)), trns=bytes(range(0, 240, 6)))

    # a few saved by Pillow itself (its own zlib settings / filter choices)
    base = photo(45, 60, next_seed())
    for mode in ("RGB", "RGBA", "L", "LA", "P", "1", "I;16"):
        if mode == "RGBA":
            im = Image.fromarray(np.concatenate([base, base[..., :1]], axis=-1), "RGBA")
        elif mode == "I;16":
            im = Image.fromarray(base[..., 0].astype(np.uint16) * 3)
        else:
            im = Image.fromarray(base, "RGB").convert(mode)
        name = "pillow_" + mode.replace(";", "")
        im.save(os.path.join(PNG_DIR, name + ".png"), optimize=(mode == "RGB"))
        names.append(name)
    Image.fromarray(base, "RGB").save(os.path.join(PNG_DIR, "pillow_RGB_adam7.png"), interlace=1)
    names.append("pillow_RGB_adam7")

    decoded = {}
    for name in names:
        with Image.open(os.path.join(PNG_DIR, name + ".png")) as im:
            decoded[name] = np.ascontiguousarray(np.asarray(im.convert("RGB")))
    return decoded


# ---------------------------------------------------------------- resize

RESIZE_CASES = [
    # name, (src h, w), (out h, w), filter
    ("shrink_both", (61, 97), (25, 40), "bicubic"),
    ("enlarge_both", (9, 13), (37, 50), "bicubic"),
    ("shrink_x_enlarge_y", (20, 120), (47, 33), "bicubic"),
    ("enlarge_x_shrink_y", (120, 20), (33, 47), "bicubic"),
    ("width_only", (31, 80), (31, 45), "bicubic"),
    ("height_only", (80, 31), (45, 31), "bicubic"),
    ("odd_ratio", (103, 101), (29, 67), "bicubic"),
    ("big_shrink", (160, 220), (15, 19), "bicubic"),
    ("one_pixel_up", (1, 1), (3, 5), "bicubic"),
    ("to_one_pixel", (13, 7), (1, 1), "bicubic"),
    ("wide", (3, 500), (1, 17), "bicubic"),
    ("tall", (500, 3), (17, 2), "bicubic"),
    ("near_identity", (50, 50), (49, 51), "bicubic"),
    ("bilinear_shrink", (61, 97), (25, 40), "bilinear"),
    ("bilinear_enlarge", (9, 13), (37, 50), "bilinear"),
    ("nearest_shrink", (61, 97), (25, 40), "nearest"),
    ("nearest_enlarge", (9, 13), (37, 50), "nearest"),
    ("nearest_odd", (53, 71), (29, 67), "nearest"),
    ("nearest_thirds", (30, 30), (7, 9), "nearest"),
]


def resize_goldens():
    tensors, meta = {}, {}
    for i, (name, (h, w), (oh, ow), flt) in enumerate(RESIZE_CASES):
        src = photo(h, w, 500 + i)
        resample = {"bicubic": Image.BICUBIC, "bilinear": Image.BILINEAR, "nearest": Image.NEAREST}[flt]
        out = np.asarray(Image.fromarray(src, "RGB").resize((ow, oh), resample))
        tensors[name + ".src"] = src
        tensors[name + ".out"] = np.ascontiguousarray(out)
        meta[name] = json.dumps({"width": ow, "height": oh, "filter": flt})
    return tensors, meta


# ---------------------------------------------------------------- preprocessing


def expand2square(pil_img, background_color):
    """LLaVA's llava/mm_utils.py expand2square."""
    width, height = pil_img.size
    if width == height:
        return pil_img
    elif width > height:
        result = Image.new(pil_img.mode, (width, width), background_color)
        result.paste(pil_img, (0, (width - height) // 2))
        return result
    else:
        result = Image.new(pil_img.mode, (height, height), background_color)
        result.paste(pil_img, ((height - width) // 2, 0))
        return result


SMALL = {"size": {"shortest_edge": 64}, "crop_size": {"height": 64, "width": 64}}
PREPROCESS_CASES = [
    # name, (src h, w), HF kwargs (merged over the CLIP ViT-L/14-336 defaults), pad, store pixel_values
    ("default_landscape_pad", (210, 280), {}, True, False),
    ("default_portrait_nopad", (150, 90), {}, False, False),
    ("small_landscape_pad", (120, 180), SMALL, True, True),
    ("small_landscape_nopad", (120, 180), SMALL, False, True),
    ("small_portrait_pad", (160, 90), SMALL, True, True),
    ("small_portrait_nopad", (160, 90), SMALL, False, True),
    ("small_square", (128, 128), SMALL, True, True),
    ("small_enlarge_pad", (30, 40), SMALL, True, True),
    ("small_enlarge_nopad", (30, 40), SMALL, False, True),
    ("small_tiny", (2, 3), SMALL, True, True),
    ("small_one_pixel", (1, 1), SMALL, False, True),
    ("already_at_size", (64, 90), SMALL, False, True),
    ("very_tall_nopad", (1200, 3), SMALL, False, True),  # resized 64x25600, only the crop is computed
    ("tall_nopad_vertical_first", (500, 70), SMALL, False, True),  # Pillow 13 runs the vertical pass first
    ("crop_larger_than_resize", (50, 77), {"size": {"shortest_edge": 40}, "crop_size": {"height": 47, "width": 52}},
     False, True),
    ("exact_size_bilinear_other_mean", (70, 50),
     {"size": {"height": 45, "width": 60}, "crop_size": {"height": 40, "width": 33}, "resample": 2,
      "image_mean": [0.5, 0.25, 0.75], "image_std": [0.2, 0.3, 0.4]}, True, True),
    ("nearest_config", (45, 70), {**SMALL, "resample": 0}, False, True),
    ("no_rescale_no_normalize", (40, 55), {**SMALL, "do_rescale": False, "do_normalize": False}, True, True),
]

DEFAULTS = {
    "size": {"shortest_edge": 336},
    "crop_size": {"height": 336, "width": 336},
    "resample": 3,
    "image_mean": [0.48145466, 0.4578275, 0.40821073],
    "image_std": [0.26862954, 0.26130258, 0.27577711],
}


def preprocess_goldens():
    tensors, meta = {}, {}
    for i, (name, (h, w), kwargs, pad, store_pv) in enumerate(PREPROCESS_CASES):
        config = {**DEFAULTS, **kwargs}
        proc = CLIPImageProcessorPil(**config)
        src = photo(h, w, 900 + i)
        image = Image.fromarray(src, "RGB")
        if pad:
            image = expand2square(image, tuple(int(x * 255) for x in proc.image_mean))
        pv = proc(images=image, return_tensors="np")["pixel_values"][0]
        crop = CLIPImageProcessorPil(**{**config, "do_rescale": False, "do_normalize": False})(
            images=image, return_tensors="np")["pixel_values"][0]
        assert crop.dtype == np.uint8, crop.dtype
        tensors[name + ".src"] = src
        tensors[name + ".crop"] = np.ascontiguousarray(crop.transpose(1, 2, 0))  # [H, W, 3]
        if store_pv:
            tensors[name + ".pixel_values"] = np.ascontiguousarray(pv.astype(np.float32))
        meta[name] = json.dumps({"config": config, "pad": pad})
        if name.startswith("default"):
            # HF's rescale + normalize is elementwise: a per-channel table of all 256 byte values reproduces it.
            ramp = np.broadcast_to(np.arange(256, dtype=np.uint8)[None, :, None], (1, 256, 3)).copy()
            table = CLIPImageProcessorPil(**{**config, "do_resize": False, "do_center_crop": False})(
                images=Image.fromarray(ramp, "RGB"), return_tensors="np")["pixel_values"][0][:, 0, :]
            assert np.array_equal(table[np.arange(3)[:, None, None], crop], pv), name
            tensors["default.table"] = np.ascontiguousarray(table.astype(np.float32))
    return tensors, meta


def main():
    os.makedirs(OUT, exist_ok=True)
    versions = {"pillow": PIL.__version__, "transformers": transformers.__version__, "numpy": np.__version__}
    decoded = png_corpus()
    save_file(decoded, os.path.join(OUT, "png_decoded.safetensors"), metadata=versions)
    t, m = resize_goldens()
    save_file(t, os.path.join(OUT, "resize.safetensors"), metadata={**m, **versions})
    t, m = preprocess_goldens()
    save_file(t, os.path.join(OUT, "preprocess.safetensors"), metadata={**m, **versions})
    total = sum(os.path.getsize(os.path.join(dp, f)) for dp, _, fs in os.walk(OUT) for f in fs)
    print(f"{len(decoded)} PNGs, {len(RESIZE_CASES)} resize cases, {len(PREPROCESS_CASES)} preprocess cases; "
          f"{total / 1e6:.2f} MB in {OUT}")


if __name__ == "__main__":
    main()
