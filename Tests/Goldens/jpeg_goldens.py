#!/usr/bin/env python3
"""JPEG decoder goldens: a small corpus of JPEG files and the pixels Pillow decodes from them.

Regenerate (from the repository root):
    .venv-ref/bin/python Tests/Goldens/jpeg_goldens.py

Writes Tests/Goldens/jpeg/: for every case NAME.jpg and, when Pillow decodes it, NAME.rgb
(the raw bytes of numpy.asarray(Image.open(f).convert("RGB")), shape [height, width, 3]), plus
manifest.tsv with one line per case: name, width, height, expectation ("pixels" or
"error:<kind>" with Pillow's message).

Reference: Pillow (PIL.__version__ and its libjpeg-turbo version are written to manifest.tsv's header)
with default settings (islow IDCT, fancy upsampling). Encoders: Pillow itself and, for sampling
factors, scan scripts and arithmetic coding Pillow cannot write, libjpeg-turbo's `cjpeg` (Debian
package libjpeg-turbo-progs). A few cases are byte-patched from those files (marked "patched").

Held-out check (not committed, not tuned on): `--heldout DIR` writes larger images with other seeds
and settings to DIR in the same layout.

Deterministic: fixed seeds, no timestamps.
"""

import argparse
import io
import re
import os
import shutil
import subprocess
import sys
import tempfile

import numpy as np
import PIL
from PIL import Image, ImageDraw, features


def content(width, height, seed, grey=False):
    """Photographic-like test content: smooth gradients, noise, sharp edges and text-like strokes."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:height, 0:width].astype(np.float64)
    w, h = max(width, 2), max(height, 2)
    phase = rng.uniform(0, 6.28, 3)
    img = np.empty((height, width, 3))
    img[..., 0] = 128 + 90 * np.sin(x / w * 3.1 + phase[0]) * np.cos(y / h * 2.3)
    img[..., 1] = 60 + 150 * (x + y) / (w + h)
    img[..., 2] = 128 + 100 * np.cos((x - y) / (w + h) * 5 + phase[2])
    img += rng.normal(0, 14, img.shape)
    # Sharp-edged shapes in saturated colours.
    for _ in range(3):
        x0, y0 = rng.integers(0, w), rng.integers(0, h)
        x1, y1 = x0 + rng.integers(1, w // 2 + 2), y0 + rng.integers(1, h // 2 + 2)
        img[y0:y1, x0:x1] = rng.integers(0, 256, 3)
    im = Image.fromarray(np.clip(img, 0, 255).astype(np.uint8), "RGB")
    draw = ImageDraw.Draw(im)
    for _ in range(4):
        pts = [(int(rng.integers(0, w)), int(rng.integers(0, h))) for _ in range(2)]
        draw.line(pts, fill=tuple(int(v) for v in rng.integers(0, 256, 3)), width=int(rng.integers(1, 3)))
    if width >= 24 and height >= 12:
        draw.text((2, 1), "TRIM 2025", fill=(255, 255, 255))
        draw.text((4, height // 2), "Ag#", fill=(0, 0, 0))
    return im.convert("L") if grey else im


def pillow_jpeg(im, **kw):
    b = io.BytesIO()
    im.save(b, "JPEG", **kw)
    return b.getvalue()


def cjpeg(im, *flags):
    """Encodes with libjpeg-turbo's cjpeg (PPM/PGM input)."""
    with tempfile.TemporaryDirectory() as d:
        src = os.path.join(d, "in.pgm" if im.mode == "L" else "in.ppm")
        im.save(src)
        scan_flags = []
        for f in flags:
            if f.startswith("SCANS:"):
                script = os.path.join(d, "scans.txt")
                with open(script, "w") as fh:
                    fh.write(f[6:])
                scan_flags += ["-scans", script]
            else:
                scan_flags.append(f)
        return subprocess.run(["cjpeg", *scan_flags, src], check=True, capture_output=True).stdout


def segments_removed(data, markers):
    """Drops every marker segment whose marker byte is in `markers` (before the first SOS)."""
    out = bytearray(data[:2])
    p = 2
    while p < len(data):
        assert data[p] == 0xFF
        m = data[p + 1]
        if m == 0xDA:
            out += data[p:]
            break
        length = int.from_bytes(data[p + 2:p + 4], "big")
        if m not in markers:
            out += data[p:p + 2 + length]
        p += 2 + length
    return bytes(out)


def patch_adobe_transform(data, transform):
    i = data.index(b"Adobe")
    return data[:i + 11] + bytes([transform]) + data[i + 12:]


def renumber_components(data, ids):
    """Rewrites the component ids in the frame header and in every scan header."""
    out = bytearray(data)
    p = 2
    while p + 4 <= len(out):
        m = out[p + 1]
        length = int.from_bytes(out[p + 2:p + 4], "big")
        if 0xC0 <= m <= 0xC2:
            old = [out[p + 10 + 3 * i] for i in range(out[p + 9])]
            mapping = dict(zip(old, ids))
            for i in range(out[p + 9]):
                out[p + 10 + 3 * i] = mapping[out[p + 10 + 3 * i]]
        if m == 0xDA:
            for i in range(out[p + 4]):
                out[p + 5 + 2 * i] = mapping[out[p + 5 + 2 * i]]
            offsets = scan_offsets(bytes(out))
            later = [o for o in offsets if o > p]
            if not later:
                break
            p = later[0]
            continue
        p += 2 + length
    return bytes(out)


def cut_scan(data, keep, tail=b"\xff\xd9"):
    """Keeps `keep` bytes of the last scan's entropy-coded data, then appends `tail`."""
    sos = data.rindex(b"\xff\xda")
    start = sos + 2 + int.from_bytes(data[sos + 2:sos + 4], "big")
    return data[:start + keep] + tail


def scan_offsets(data):
    """Offsets of every SOS marker, found by walking segments and skipping entropy-coded data."""
    out, p = [], 2
    while p + 4 <= len(data):
        if data[p] != 0xFF:
            p += 1
            continue
        m = data[p + 1]
        if m in (0xD8, 0xD9, 0x01, 0xFF) or 0xD0 <= m <= 0xD7 or m == 0:
            p += 2 if m != 0xFF else 1
            continue
        length = int.from_bytes(data[p + 2:p + 4], "big")
        if m == 0xDA:
            out.append(p)
            p += 2 + length
            while p + 1 < len(data) and not (data[p] == 0xFF and data[p + 1] not in (0, 0xFF)
                                             and not 0xD0 <= data[p + 1] <= 0xD7):
                p += 1
            continue
        p += 2 + length
    return out


# A progressive script with spectral selection and successive approximation on every component,
# non-interleaved AC scans, DC interleaved (cjpeg -scans syntax).
PROGRESSIVE_SCRIPT = """
0,1,2: 0-0, 0, 1;
0: 1-2, 0, 2;
0: 3-9, 0, 2;
0: 10-63, 0, 2;
2: 1-63, 0, 1;
1: 1-63, 0, 1;
0: 1-63, 2, 1;
0,1,2: 0-0, 1, 0;
2: 1-63, 1, 0;
1: 1-63, 1, 0;
0: 1-63, 1, 0;
"""
# Progressive scans that never refine the luma AC bits to Al=0 and never send chroma AC 6..63.
INCOMPLETE_SCRIPT = """
0,1,2: 0-0, 0, 0;
0: 1-63, 0, 1;
1: 1-5, 0, 0;
2: 1-9, 0, 0;
"""
# Sequential but one scan per component (non-interleaved baseline).
SEQUENTIAL_SCRIPT = "0;\n1;\n2;\n"


def cases(seed_base=0, scale=1):
    """Yields (name, jpeg bytes). `scale` enlarges the images for the held-out run."""
    s = seed_base
    W, H = 40 * scale, 32 * scale
    base = content(W, H, s + 1)
    for prog in (False, True):
        for q in (50, 75, 95, 100):
            for sub, subname in ((0, "444"), (1, "422"), (2, "420")):
                yield (f"{'prog' if prog else 'base'}_q{q}_{subname}",
                       pillow_jpeg(base, quality=q, subsampling=sub, progressive=prog))
    grey = content(W, H, s + 2, grey=True)
    yield "grey_base_q75", pillow_jpeg(grey, quality=75)
    yield "grey_prog_q90", pillow_jpeg(grey, quality=90, progressive=True)
    yield "grey_base_q100_opt", pillow_jpeg(grey, quality=100, optimize=True)
    sizes = [(1, 1), (2, 2), (3, 3), (7, 13), (17, 9), (1, 300), (300, 1), (33, 65), (5, 4), (4, 5), (9, 17)]
    for i, (w, h) in enumerate(sizes):
        im = content(w * scale, h * scale, s + 10 + i)
        yield f"size{w}x{h}_420", pillow_jpeg(im, quality=85, subsampling=2)
        yield f"size{w}x{h}_422_prog", pillow_jpeg(im, quality=85, subsampling=1, progressive=True)
        if i % 2 == 0:
            yield f"size{w}x{h}_444", pillow_jpeg(im, quality=85, subsampling=0)
    yield "size7x13_grey", pillow_jpeg(content(7, 13, s + 30, grey=True), quality=80)
    odd = content(37 * scale, 29 * scale, s + 40)
    yield "restart_blocks1_420", pillow_jpeg(odd, quality=80, restart_marker_blocks=1)
    yield "restart_blocks3_444", pillow_jpeg(odd, quality=80, subsampling=0, restart_marker_blocks=3)
    yield "restart_rows1_prog", pillow_jpeg(odd, quality=80, progressive=True, restart_marker_rows=1)
    yield "restart_blocks2_prog_422", pillow_jpeg(odd, quality=80, subsampling=1, progressive=True,
                                                  restart_marker_blocks=2)
    yield "optimize_base", pillow_jpeg(odd, quality=90, optimize=True)
    yield "optimize_prog", pillow_jpeg(odd, quality=90, optimize=True, progressive=True)
    exif = Image.Exif()
    exif[0x0112] = 6  # orientation: rotate 90 (not applied by Image.open)
    exif[0x010F] = "TRIM test camera"
    icc = bytes(range(256)) * 3
    yield "meta_exif_icc_com", pillow_jpeg(odd, quality=85, exif=exif.tobytes(), icc_profile=icc,
                                           comment=b"a comment segment")
    yield "meta_exif_prog", pillow_jpeg(odd, quality=85, exif=exif.tobytes(), progressive=True)
    # Colour spaces.
    cmyk = odd.convert("CMYK")
    cm = np.asarray(cmyk).copy()
    cm[..., 3] = np.asarray(content(37 * scale, 29 * scale, s + 41, grey=True)) // 2
    cmyk = Image.fromarray(cm, "CMYK")
    cmyk_jpg = pillow_jpeg(cmyk, quality=90)
    yield "cmyk_base", cmyk_jpg
    yield "cmyk_prog", pillow_jpeg(cmyk, quality=90, progressive=True)
    yield "ycck_patched", patch_adobe_transform(cmyk_jpg, 2)
    yield "cmyk_no_adobe_patched", segments_removed(cmyk_jpg, {0xEE})
    rgb_jpg = pillow_jpeg(odd, quality=90, keep_rgb=True)
    yield "rgb_adobe", rgb_jpg
    yield "rgb_ids_only_patched", segments_removed(rgb_jpg, {0xE0, 0xEE})
    yield "sof1_extended_patched", b"\xff\xc1".join(pillow_jpeg(odd, quality=90).split(b"\xff\xc0", 1))
    zero_based = renumber_components(pillow_jpeg(odd, quality=90, progressive=True), [0, 1, 2])
    yield "ids_zero_based_prog", zero_based
    yield "ids_zero_based_no_jfif_patched", segments_removed(zero_based, {0xE0})
    yield "ycc_no_jfif_patched", segments_removed(pillow_jpeg(odd, quality=90), {0xE0})
    # Sampling factors Pillow cannot write, scan scripts, via cjpeg.
    for flags, name in ((("-sample", "1x2"), "440"), (("-sample", "4x1"), "411"), (("-sample", "4x2"), "410"),
                        (("-sample", "2x1,1x2,1x1"), "mixed_21_12_11"), (("-sample", "1x1,2x2,1x1"), "chroma_big"),
                        (("-sample", "3x1"), "311"), (("-sample", "1x4"), "14"), (("-sample", "2x2,2x1,1x2"), "mixed_22_21_12")):
        yield f"cjpeg_{name}", cjpeg(odd, "-quality", "85", *flags)
        yield f"cjpeg_{name}_prog", cjpeg(odd, "-quality", "85", "-progressive", *flags)
    small = content(3 * scale, 7 * scale, s + 50)
    yield "cjpeg_440_3x7", cjpeg(small, "-quality", "90", "-sample", "1x2")
    yield "cjpeg_411_3x7", cjpeg(small, "-quality", "90", "-sample", "4x1")
    yield "cjpeg_grey_22", cjpeg(grey, "-quality", "90", "-grayscale", "-sample", "2x2")
    yield "cjpeg_restart1_420", cjpeg(odd, "-quality", "75", "-sample", "2x2", "-restart", "1")
    yield "cjpeg_restart2b_prog", cjpeg(odd, "-quality", "75", "-progressive", "-restart", "2B")
    yield "cjpeg_scans_progressive", cjpeg(odd, "-quality", "88", "-sample", "2x2",
                                           "SCANS:" + PROGRESSIVE_SCRIPT)
    yield "cjpeg_scans_sequential", cjpeg(odd, "-quality", "88", "-sample", "2x1",
                                          "SCANS:" + SEQUENTIAL_SCRIPT)
    yield "cjpeg_rgb", cjpeg(odd, "-quality", "90", "-rgb")
    # Damaged and unusual files.
    b420 = pillow_jpeg(odd, quality=85)
    yield "early_eoi_base", cut_scan(b420, 200)
    yield "early_eoi_prog", cut_scan(pillow_jpeg(odd, quality=85, progressive=True), 40)
    yield "early_eoi_restart", cut_scan(pillow_jpeg(odd, quality=85, restart_marker_blocks=2), 300)
    # Progressive files ending early at scan boundaries or inside a scan: libjpeg-turbo's block smoothing.
    prog = pillow_jpeg(odd, quality=85, progressive=True)
    starts = scan_offsets(prog)
    for k in (1, 2, 3, 5, 6, 9):
        yield f"smooth_after_scan{k}", prog[:starts[k]] + b"\xff\xd9"
    yield "smooth_eoi_inside_scan1", prog[:starts[0] + 14 + 120] + b"\xff\xd9"
    yield "smooth_eoi_inside_scan4", prog[:starts[3] + 300] + b"\xff\xd9"
    greyprog = pillow_jpeg(content(37 * scale, 29 * scale, s + 42, grey=True), quality=85, progressive=True)
    yield "smooth_grey_after_scan2", greyprog[:scan_offsets(greyprog)[2]] + b"\xff\xd9"
    oddrows = pillow_jpeg(content(45 * scale, 8 * (4 * scale + 1) - 3, s + 43), quality=80, progressive=True)
    for k in (1, 4):
        yield f"smooth_odd_rows_after_scan{k}", oddrows[:scan_offsets(oddrows)[k]] + b"\xff\xd9"
    yield "smooth_incomplete_script", cjpeg(odd, "-quality", "85", "-sample", "2x2", "SCANS:" + INCOMPLETE_SCRIPT)
    yield "smooth_restart_eoi", pillow_jpeg(odd, quality=85, progressive=True, restart_marker_blocks=3)[
        :scan_offsets(pillow_jpeg(odd, quality=85, progressive=True, restart_marker_blocks=3))[1] + 200] + b"\xff\xd9"
    first_scan = scan_offsets(b420)[0]
    yield "second_scan_after_full_scan", b420[:-2] + b420[first_scan:]
    yield "trailing_garbage", b420 + b"\x00garbage after EOI\xff"
    yield "truncated_base", b420[: len(b420) - 60]
    yield "truncated_no_eoi", b420[:-2]
    yield "truncated_prog", pillow_jpeg(odd, quality=85, progressive=True)[:-300]
    yield "arithmetic", cjpeg(odd, "-quality", "85", "-arithmetic")
    sof = b420.index(b"\xff\xc0")
    yield "precision12_patched", b420[:sof + 4] + b"\x0c" + b420[sof + 5:]


def big_cases(seed=2024):
    """Ten larger held-out images with randomly drawn size, quality, subsampling and mode."""
    rng = np.random.default_rng(seed)
    for i in range(10):
        w, h = int(rng.integers(300, 1600)), int(rng.integers(300, 1200))
        q = int(rng.choice([40, 60, 75, 85, 90, 95, 100]))
        sub = int(rng.integers(0, 3))
        prog = bool(i % 2)
        kw = dict(quality=q, subsampling=sub, progressive=prog, optimize=bool(rng.integers(0, 2)))
        if rng.integers(0, 3) == 0:
            kw["restart_marker_blocks"] = int(rng.integers(1, 50))
        grey = i == 7
        im = content(w, h, 5000 + i, grey=grey)
        yield f"big{i}_{w}x{h}_q{q}_s{sub}_{'prog' if prog else 'base'}{'_grey' if grey else ''}", pillow_jpeg(im, **kw)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--heldout", metavar="DIR", help="write a larger held-out corpus here instead")
    args = ap.parse_args()
    here = os.path.dirname(os.path.abspath(__file__))
    if args.heldout:
        out, items = args.heldout, list(cases(seed_base=1000, scale=7)) + list(big_cases())
    else:
        out, items = os.path.join(here, "jpeg"), list(cases())
    if os.path.isdir(out):
        shutil.rmtree(out)
    os.makedirs(out)
    lines = [f"# Pillow {PIL.__version__}, libjpeg-turbo {features.version('libjpeg_turbo')}; "
             "name, width, height, expectation"]
    for name, data in items:
        with open(os.path.join(out, name + ".jpg"), "wb") as f:
            f.write(data)
        try:
            im = Image.open(io.BytesIO(data))
            rgb = np.asarray(im.convert("RGB"))
        except Exception as e:  # noqa: BLE001 - record what Pillow says
            msg = re.sub(r" at 0x[0-9a-f]+", "", str(e)).replace("\t", " ").replace("\n", " ")
            kind = "truncated" if "truncated" in msg else "other"
            lines.append(f"{name}\t0\t0\terror:{kind}:{type(e).__name__}: {msg}")
            continue
        with open(os.path.join(out, name + ".rgb"), "wb") as f:
            f.write(rgb.tobytes())
        lines.append(f"{name}\t{rgb.shape[1]}\t{rgb.shape[0]}\tpixels")
    with open(os.path.join(out, "manifest.tsv"), "w") as f:
        f.write("\n".join(lines) + "\n")
    total = sum(os.path.getsize(os.path.join(out, n)) for n in os.listdir(out))
    print(f"{len(items)} cases, {total} bytes in {out}", file=sys.stderr)


if __name__ == "__main__":
    main()
