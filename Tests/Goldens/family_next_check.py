#!/usr/bin/env python3
"""Held-out check of the reducer family on any-resolution input (Docs/SEMANTICS.md §5b, §5c) through the `trim`
binary, against PyTorch ports of each method's released LLaVA-1.6 code (family_next_ports.py). Usage (from the
repository root, reference venv of Docs/SEMANTICS.md §4):

    .venv-ref/bin/python Tests/Goldens/family_next_check.py --self-test [--shapes a,b]      (no trim binary)
    .venv-ref/bin/python Tests/Goldens/family_next_check.py [--trim .build/release/trim] [--work DIR]
        [--shapes a,b] [--layouts hf,orig] [--methods m1,m2] [--modes released,hf] [--newlines all,nonempty,none]
        [--tolerance 1e-5] [--hf-base-order ascending|own] [--cdpruner-stop relative|initial-max]

Everything is made in --work (default: family-next-check under the system temp dir; kept afterwards, so a failing
call can be rerun by hand). Deterministic (fixed seeds). Without the binary (not built yet) the check says so and
exits 2; --self-test needs none.

Models: next_cli_check.py's two shapes (next_goldens.py's builders: one random LLaVA-NeXT per shape in the
llava-hf layout and as original LLaVA-1.6 `.bin` shards, plus a CLIP `--model`): a (view 84 px, 6 × 6 patches,
2 layers, 6 heads, projector 288 → 64 → 64, CLIP text context 77) and b (view 70 px, patch 10, 7 × 7 patches,
4 layers, 5 heads, projector 40 → 72 → 72, text context 52, pinpoints [[70,280],[140,140],[280,70],[140,210]] —
not symmetric, so original LLaVA's (width, height) reading picks other canvases than HF's). The ports load the
NeXT model with eager attention. Prompts: next_cli_check.py's two (the second well over 77 tokens: CDPruner's
untruncated segments); prompt-blind methods get the first.
Images (per shape, ten from next_cli_check.py's lists, each asserted to have the properties it is there for):
both sides below S, the grid-choice tie zone, 1:6 and 1:7 extremes, fitted sizes hit by the float rounding of
get_patch_output_size, unpad bounds changed by `round(x, 7)` (original LLaVA's `int()` unpad differs there), odd
padding remainders (HiRED's S−1 tiles), camera sizes, an RGBA PNG; plus two degenerate images (1×1200 and
1200×1) for FasterVLM's refusal.
Cases per image (budgets scaled to N): fastervlm --keep N//4, max(1, N//10); vispruner --keep N//4 and the first
T above it with an odd residual; cdpruner --keep N//4 and N × --scoring authors|paper, both prompts in one call;
visionzip --dominant D --contextual C for T = N//4, N//2 (D = round(27T/32)); divprune --keep-ratio 0.098, 0.25
and --keep 20; hired --keep-ratio/--alpha 0.2/0.5, 0.35/0.3, 0.3/1.0; globalcom2 --keep-ratio 0.25, 0.5;
prumerge, prumerge+. Each in --views released and --views hf (hf: once per --newlines value; HiRED has no
newline rows and gets none).
Per case, `trim reduce --model CLIP --projector NEXT --anyres --method M --views V [budget] [--newlines P]
--image IMG --prompt P… --dump OUT --json` against the port:
  - exit 0 (FasterVLM released on the degenerate images: exit 1 with exactly one stderr line `error: …`);
  - JSON `grid` [nph, npw] (the views' grid, also for HiRED), `views`, `rows` (= the port's L);
  - dump `pixel_values` bit-exact (max|Δ| must be 0: the method's own canvas and padding), `image_sizes`,
    `features` within the tolerance;
  - `token_map` [L,2] and `kept_indices` [K,2] identical; then `reduced`, `projected` and the method's signal
    (`cls_attention`, `relevance`, `cls_attention_layer0`) within max|Δ|/max|ref| ≤ tolerance. A map that
    differs while the case's smallest relative margin of a discrete choice (top-k boundary, argmax, drop round,
    DPP step or stop, IQR bound, GlobalCom2's int(N_t·scale_t)) is below 1e-6 is a tie (Docs/SEMANTICS.md §4):
    printed and counted apart, never a pass; ties alone do not fail.
Two choices Docs/SEMANTICS.md leaves open are options of the ports (family_next_ports.py): --hf-base-order
(where the base view's kept patches go in the HF packing: "ascending" [default], their order among the base
view's N packed rows; "own", the method's row order — only PruMerge/PruMerge+ (top-k order) and GlobalCom2's
thumbnail (descending score) differ) and --cdpruner-stop (when a view's DPP judges that T exceeds the rank of
its rows and fills the rest by relevance: "relative" [default], every unpicked j has d²_j ≤ 1e-4·K_jj; "initial-max", the largest remaining d²
≤ 1e-4 × the view's largest initial d², the 1.5 rule). --layouts: the NeXT checkpoint as --projector in the
llava-hf layout, the original LLaVA-1.6 `.bin` layout, or both [default].
Prints a geometry line per image (the grids each view rule picks, and which release paths it exercises), one
line per image and method (and one per failing or tied case, with its command), then a summary per shape ×
layout × method × mode; exits 1 on any failure.

--self-test (the ports alone, on shapes a and b, three images each plus the degenerate one):
  - views: the port's HF views equal LlavaNextImageProcessorPil's bit for bit, and for every other canvas the
    port's views equal that processor's with that canvas as its only pinpoint (original LLaVA's views = HF's
    for the same canvas); HiRED's odd padding gives an S−1 tile that is resized and cropped;
  - packing: the HF packer keeping every patch (newlines all) rebuilds LlavaNextModel.get_image_features'
    packed output (≤ 1e-6 relative) and its length; DivPrune's worked example (656×205 at S = 336, default
    pinpoints: original L = 1262, HF L = 1360); FasterVLM refuses both degenerate images;
  - every port × mode × setting: len(token_map) = rows of projected; newline rows = image_newline exactly;
    reduced = the non-newline rows; kept_indices = the token_map rows that name a patch, in order, no repeat;
    budgets (FasterVLM/VisPruner/CDPruner released V·T rows, CDPruner fewer only where a view stopped;
    VisionZip released V·(D+C) rows; DivPrune T rows, in hf over HF's packed length; HiRED ≤ its total
    budget, the base view its base budget; GlobalCom2 int(N·r) thumbnail rows and R newlines released / H′ hf;
    PruMerge K_v + 1 rows per view; hf: emitted + dropped_in_padding = the views' selections); determinism;
  - released layouts against statement-by-statement transcriptions of the released tensor code, run on the
    port's selections with (view, patch) ids riding along as extra feature columns: FasterVLM's 'spatial'
    branch, VisionZip's restore_image_features_sorted (N and g for 576 and 24), DivPrune's 'spatial_unpad'
    packing + DivPrune(), HiRED's pack_HiRED_image_features with its vendored unpad_image (int64 image_sizes),
    GlobalCom2's compress_thumbnail + compress_crops (the slot defect) — rows and maps identical.
"""
import argparse
import json
import math
import os
import shlex
import subprocess
import sys
import tempfile
import time

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image
from safetensors.numpy import load_file as load_np
from transformers import LlavaNextForConditionalGeneration, LlavaNextImageProcessorPil

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.abspath(os.path.join(HERE, "..", ".."))
sys.path.insert(0, HERE)
import family_next_ports as fp  # noqa: E402
import next_cli_check as nc  # noqa: E402
import next_goldens as ng  # noqa: E402
import reducers_goldens as rg  # noqa: E402

TIE = 1e-6
PROMPTS = nc.PROMPTS
# Ten per shape from next_cli_check.py's lists (name → its asserted properties there).
IMAGE_NAMES = {
    "a": ["below-411", "tie-60x60", "wide-1x6-unpad", "tall-6x1", "tall-unpad", "fit-round-odd", "fit-round-2",
          "camera-640x427", "camera-900x1600", "rgba-90x120"],
    "b": ["below-cmyk", "tie-60x60", "wide-1x7-unpad", "tall-7x1-unpad", "tall-6x1", "square-unpad",
          "fit-round-odd", "camera-480x640", "camera-640x427", "rgba-90x120"],
}
SELF_TEST_NAMES = {"a": ["wide-1x6-unpad", "tall-unpad", "camera-640x427"],
                   "b": ["tall-6x1", "fit-round-odd", "camera-480x640"]}
DEGENERATE = [("degenerate-1x1200", 1, 1200), ("degenerate-1200x1", 1200, 1)]
NEWLINE_METHODS = {"fastervlm", "vispruner", "cdpruner", "visionzip", "divprune", "globalcom2", "prumerge",
                   "prumerge+"}
SIGNALS = {"fastervlm": ["cls_attention"], "vispruner": ["cls_attention"], "visionzip": ["cls_attention"],
           "cdpruner": ["relevance"], "divprune": [], "hired": ["cls_attention", "cls_attention_layer0"],
           "globalcom2": ["cls_attention"], "prumerge": ["cls_attention"], "prumerge+": ["cls_attention"]}


# ============================================================================================== settings
def settings(method, n):
    """[(label, port kwargs, CLI flags)] for one method on N patches per view."""
    if method == "fastervlm":
        return [(f"keep {t}", dict(keep=t), ["--keep", str(t)]) for t in (n // 4, max(1, n // 10))]
    if method == "vispruner":
        ts = [n // 4, rg.odd_residual_budget(n, n // 4 + 1)]
        return [(f"keep {t}", dict(keep=t, important_ratio=0.5), ["--keep", str(t)]) for t in ts]
    if method == "cdpruner":
        return [(f"keep {t} {s}", dict(keep=t, scoring=s), ["--keep", str(t), "--scoring", s])
                for t in (n // 4, n) for s in ("authors", "paper")]
    if method == "visionzip":
        out = []
        for t in (n // 4, n // 2):
            d, c = rg.vz_split(t)
            out.append((f"D {d} C {c}", dict(dominant=d, contextual=c), ["--dominant", str(d), "--contextual", str(c)]))
        return out
    if method == "divprune":
        return [("ratio 0.098", dict(keep_ratio=0.098), ["--keep-ratio", "0.098"]),
                ("ratio 0.25", dict(keep_ratio=0.25), ["--keep-ratio", "0.25"]),
                ("keep 20", dict(keep=20), ["--keep", "20"])]
    if method == "hired":
        return [(f"rate {r} alpha {a}", dict(keep_ratio=r, alpha=a), ["--keep-ratio", repr(r), "--alpha", repr(a)])
                for r, a in ((0.2, 0.5), (0.35, 0.3), (0.3, 1.0))]
    if method == "globalcom2":
        return [(f"r {r}", dict(keep_ratio=r), ["--keep-ratio", repr(r)]) for r in (0.25, 0.5)]
    return [("adaptive", {}, [])]


def variants(method, modes, newlines):
    """[(mode, newlines or None)]: released as the method lays out; hf once per --newlines value."""
    out = []
    for mode in modes:
        if mode == "released":
            out.append((mode, None))
        elif method in NEWLINE_METHODS:
            out += [(mode, nl) for nl in newlines]
        else:
            out.append((mode, None))
    return out


# ================================================================================================ models
def load_shape(sname, work):
    """next_cli_check.py's models for one shape, the eager NeXT model and the ports' context."""
    spec = nc.SHAPES[sname]
    hf, clip, tok = nc.build_models(spec, work)
    nxt = LlavaNextForConditionalGeneration.from_pretrained(ng.HF_DIR, dtype=torch.float32,
                                                            attn_implementation="eager").eval()
    ctx = fp.Context(nxt, clip, tok)
    assert ctx.pinpoints == spec["pinpoints"] and ctx.S == spec["view"]
    return ctx, nxt, hf


def image_paths(sname, names, img_dir):
    """Write the named images of next_cli_check.py (asserting their properties) and the degenerate ones."""
    os.makedirs(img_dir, exist_ok=True)
    spec = nc.SHAPES[sname]
    s, g = spec["view"], spec["view"] // spec["patch"]
    table = {name: (src, props) for name, src, props in nc.IMAGES[sname]}
    out = []
    for name in names:
        src, props = table[name]
        ext = os.path.splitext(src[1])[1] if src[0] == "file" else (".png" if src[0] == "rgba" else "." + src[4])
        path = os.path.join(img_dir, name + ext)
        nc.make_image(src, path)
        w, h = Image.open(path).size
        geo = nc.geometry(h, w, s, g, spec["pinpoints"])
        missing = [p for p in props if not geo[p]]
        assert not missing, f"{sname}/{name} ({h}×{w}) lacks {missing}"
        out.append((name, path, props))
    return out


def degenerate_paths(img_dir):
    out = []
    for name, h, w in DEGENERATE:
        path = os.path.join(img_dir, name + ".png")
        rng = np.random.default_rng(h * 7 + w)
        Image.fromarray(rng.integers(0, 256, (h, w, 3), dtype=np.uint8)).save(path)
        out.append((name, path))
    return out


def geometry_line(ctx, h, w):
    """The canvases and unpads the methods use for an image (what it exercises)."""
    S, g = ctx.S, ctx.g
    grids = {}
    for kind, c in (("hf", fp.hf_canvas(h, w, ctx.pinpoints)), ("original", fp.original_canvas(h, w, ctx.pinpoints)),
                    ("fastervlm", fp.fastervlm_canvas(h, w, ctx.pinpoints))):
        grids[kind] = "refused" if c is None else f"{c[0] // S}×{c[1] // S}"
    H, W = fp.hf_canvas(h, w, ctx.pinpoints)
    nh, nw = fp.fitted_size(h, w, H, W)
    R, C = H // S * g, W // S * g
    O = fp.original_canvas(h, w, ctx.pinpoints)
    flags = []
    if (H - nh) % 2 or (W - nw) % 2:
        flags.append("HiRED S−1 tile")
    if fp.unpad_original(h, w, O[0] // S * g, O[1] // S * g) != fp.unpad_hf(h, w, O[0] // S * g, O[1] // S * g):
        flags.append("original unpad ≠ HF's")
    if fp.unpad_hired(h, w, C, R) != fp.unpad_original(h, w, C, R):
        flags.append("HiRED float32 unpad ≠ float64")
    if H != W:
        flags.append("HiRED swap")
    return (f"grids hf {grids['hf']}, original {grids['original']}, fastervlm {grids['fastervlm']}"
            + (f" [{', '.join(flags)}]" if flags else ""))


# ============================================================================================== compare
def rel(a, ref):
    a = np.asarray(a, dtype=np.float64)
    ref = np.asarray(ref, dtype=np.float64)
    if a.shape != ref.shape:
        return math.inf
    return float(np.abs(a - ref).max() / max(np.abs(ref).max(), 1e-30)) if ref.size else 0.0


def port_arrays(o):
    return dict(token_map=np.array(o.token_map, dtype=np.int64).reshape(-1, 2),
                kept=np.array(o.kept, dtype=np.int64).reshape(-1, 2),
                reduced=o.reduced.numpy(), projected=o.projected.numpy(), pv=o.pixel_values.numpy(),
                features=o.features.numpy(), signals={k: v.numpy() for k, v in o.signals.items()})


def compare(d, line, o, tol, st):
    """Problems (list) and whether the maps differ only within a tie."""
    ref = port_arrays(o)
    problems = []
    if line is not None:
        for key, want in (("grid", list(o.grid)), ("views", o.views), ("rows", len(o.token_map))):
            if line.get(key) != want:
                problems.append(f"--json {key} {line.get(key)} vs {want}")
    if d["pixel_values"].shape != ref["pv"].shape:
        problems.append(f"pixel_values shape {d['pixel_values'].shape} vs {ref['pv'].shape}")
    else:
        e = float(np.abs(d["pixel_values"].astype(np.float64) - ref["pv"]).max())
        st.err("pixel_values", e)
        if e != 0:
            problems.append(f"pixel_values max|Δ| {e:.3g} (must be 0)")
    if not np.array_equal(d.get("image_sizes"), np.array(o.image_sizes, dtype=np.int64)):
        problems.append(f"image_sizes {d.get('image_sizes')} vs {list(o.image_sizes)}")
    e = rel(d["features"], ref["features"])
    st.err("features", e)
    if e > tol:
        problems.append(f"features {e:.2e} > {tol:g}")
    same = (np.array_equal(d["token_map"], ref["token_map"]) and np.array_equal(d["kept_indices"], ref["kept"]))
    for name in SIGNALS[o.method]:
        if name not in d:
            problems.append(f"{name} missing from the dump")
            continue
        e = rel(d[name], ref["signals"][name])
        st.err(name, e)
        if e > tol:
            problems.append(f"{name} {e:.2e} > {tol:g}")
    tie = None
    if same:
        for name, rn in (("reduced", "reduced"), ("projected", "projected")):
            e = rel(d[name], ref[rn])
            st.err(name, e)
            if e > tol:
                problems.append(f"{name} {e:.2e} > {tol:g}" if e != math.inf else
                                f"{name} shape {d[name].shape} vs {ref[rn].shape}")
    elif o.gap is not None and o.gap < TIE:
        mine, theirs = {tuple(r) for r in d["kept_indices"].tolist()}, {tuple(r) for r in ref["kept"].tolist()}
        tie = (f"maps differ at a tie (margin {o.gap:.1e}): {len(mine ^ theirs)} (view, patch) differ, "
               f"L {len(d['token_map'])} vs {len(ref['token_map'])}")
    else:
        tm, rt = d["token_map"].tolist(), ref["token_map"].tolist()
        first = next((i for i, (a, b) in enumerate(zip(tm, rt)) if a != b), min(len(tm), len(rt)))
        problems.append(f"token_map/kept_indices differ (margin {o.gap if o.gap is None else f'{o.gap:.1e}'}): "
                        f"L {len(tm)} vs {len(rt)}, first difference at row {first}: trim {tm[first:first + 4]} "
                        f"port {rt[first:first + 4]}")
    return problems, tie


class Stats:
    def __init__(self):
        self.cases = self.same = self.ties = self.fail = 0
        self.worst = {}
        self.min_gap = math.inf

    def err(self, key, value):
        if value != math.inf:
            self.worst[key] = max(self.worst.get(key, 0.0), value)


def run_trim(args):
    r = subprocess.run(args, capture_output=True, text=True)
    return r.returncode, r.stdout, r.stderr


# ================================================================================================ check
def check_shape(sname, a, trim, table):
    t0 = time.time()
    work = os.path.join(os.path.abspath(a.work), f"shape-{sname}")
    os.makedirs(work, exist_ok=True)
    ctx, _, _ = load_shape(sname, work)
    images = image_paths(sname, IMAGE_NAMES[sname], os.path.join(work, "images"))
    degenerate = degenerate_paths(os.path.join(work, "images"))
    print(f"shape {sname}: S {ctx.S}, N {ctx.N}, {ctx.layers} layers, {ctx.heads} heads, pinpoints {ctx.pinpoints}; "
          f"models in {time.time() - t0:.1f} s")
    out = os.path.join(work, "out")
    os.makedirs(out, exist_ok=True)
    nextdirs = {"hf": ng.HF_DIR, "orig": ng.ORIG_DIR}
    methods = a.methods.split(",")
    modes = a.modes.split(",")
    newlines = a.newlines.split(",")
    stats = {}
    for layout in a.layouts.split(","):
        nextdir = nextdirs[layout]
        # FasterVLM's refusal.
        if "fastervlm" in methods and "released" in modes:
            for name, path in degenerate:
                st = stats.setdefault((layout, "fastervlm", "released"), Stats())
                st.cases += 1
                args = [trim, "reduce", "--model", ng.CLIP_DIR, "--projector", nextdir, "--anyres", "--method",
                        "fastervlm", "--views", "released", "--keep", "4", "--image", path, "--prompt", PROMPTS[0],
                        "--json"]
                try:
                    fp.run(ctx, "fastervlm", Image.open(path), "released", keep=4)
                    port_refused = False
                except fp.Refused:
                    port_refused = True
                code, _, err = run_trim(args)
                lines = err.strip().splitlines()
                ok = port_refused and code == 1 and len(lines) == 1 and lines[0].startswith("error:")
                if ok:
                    st.same += 1
                else:
                    st.fail += 1
                print(f"  {sname}/{layout} {name}: fastervlm released refusal {'ok' if ok else 'FAIL'} "
                      f"(exit {code}, {len(lines)} stderr line(s){': ' + lines[0][:100] if lines else ''})"
                      + ("" if ok else f"\n      command: {shlex.join(args)}"))
        for name, path, props in images:
            image = Image.open(path)
            w, h = image.size
            print(f"  {sname}/{layout} {name}: {h}×{w}, {geometry_line(ctx, h, w)}")
            for method in methods:
                counts = {"same": 0, "tie": 0, "fail": 0}
                lines_out = []
                for label, kw, flags in settings(method, ctx.N):
                    for mode, nl in variants(method, modes, newlines):
                        st = stats.setdefault((layout, method, mode), Stats())
                        prompts = PROMPTS if method == "cdpruner" else PROMPTS[:1]
                        tag = f"{sname}-{layout}-{name}-{method}-{mode}-{nl}-{label}".replace(" ", "_")
                        dump = os.path.join(out, tag + ".safetensors")
                        args = [trim, "reduce", "--model", ng.CLIP_DIR, "--projector", nextdir, "--anyres",
                                "--method", method, "--views", mode] + flags
                        if nl is not None:
                            args += ["--newlines", nl]
                        args += ["--image", path, "--dump", dump, "--json"]
                        for p in prompts:
                            args += ["--prompt", p]
                        code, stdout, err = run_trim(args)
                        jl = [json.loads(x) for x in stdout.splitlines() if x.strip()] if code == 0 else []
                        for j, p in enumerate(prompts):
                            st.cases += 1
                            case = f"{label} {mode}" + (f" {nl}" if nl else "") + (f" prompt {j}" if len(prompts) > 1 else "")
                            try:
                                o = fp.run(ctx, method, image, mode, prompt=p, newlines=nl or "all", **kw)
                            except fp.Refused as exc:
                                o = None
                                why = str(exc)
                            if o is not None and o.gap is not None:
                                st.min_gap = min(st.min_gap, o.gap)
                            problems, tie = [], None
                            if o is None:
                                if code != 1:
                                    problems.append(f"the port refuses ({why}) but trim exits {code}")
                            elif code != 0:
                                problems.append(f"exit {code}: {err.strip()[:300]}")
                            else:
                                try:
                                    dn = dump if len(prompts) == 1 else dump.replace(".safetensors", f"-{j + 1}.safetensors")
                                    problems, tie = compare(load_np(dn), jl[j] if j < len(jl) else None, o, a.tolerance, st)
                                except (KeyError, IndexError, ValueError, FileNotFoundError) as exc:
                                    problems.append(f"{type(exc).__name__}: {exc}")
                            if problems:
                                st.fail += 1
                                counts["fail"] += 1
                                lines_out.append(f"    {case} FAIL: {'; '.join(problems)}\n      command: {shlex.join(args)}")
                            elif tie:
                                st.ties += 1
                                counts["tie"] += 1
                                lines_out.append(f"    {case} TIE: {tie}")
                            else:
                                st.same += 1
                                counts["same"] += 1
                print(f"  {sname}/{layout} {name:16s} {h:4d}×{w:<4d} {method:10s}: {counts['same']} identical / "
                      f"{counts['tie']} ties / {counts['fail']} failures" + (f" [{' '.join(props)}]" if props else ""))
                for line in lines_out:
                    print(line)
    for (layout, method, mode), st in stats.items():
        table.append((sname, layout, method, mode, st))
    print(f"shape {sname}: {time.time() - t0:.0f} s")


def summary(table, tol):
    print(f"\nsummary (tolerance {tol:g}; a tie = maps differing where the case's smallest margin is below {TIE:g}):")
    hdr = ("| shape | layout | method | views | cases | identical | ties | failures | features | reduced "
           "| projected | signal | smallest margin |")
    print(hdr)
    print("|" + "---|" * (hdr.count("|") - 1))
    total = 0
    for sname, layout, method, mode, st in table:
        wv = st.worst
        sig = max([wv.get(n, 0.0) for n in SIGNALS[method]] or [0.0])
        print(f"| {sname} | {layout} | {method} | {mode} | {st.cases} | {st.same} | {st.ties} | {st.fail} "
              f"| {wv.get('features', 0):.1e} | {wv.get('reduced', 0):.1e} | {wv.get('projected', 0):.1e} "
              f"| {sig:.1e} | {st.min_gap:.1e} |")
        total += st.fail
    return total


# ============================================================================================ self-test
def literal_spatial(feats, masks, nph, npw, g):
    """FasterVLM / VisPruner / CDPruner llava_arch.py, the 'spatial' branch (no unpad), transcribed."""
    base_image_feature, base_index_mask = feats[0], masks[0]
    image_feature, index_mask = feats[1:], masks[1:]
    image_feature = image_feature.view(nph, npw, g, g, -1)
    index_mask = index_mask.view(nph, npw, g, g)
    image_feature = image_feature.permute(0, 2, 1, 3, 4).contiguous().flatten(0, 3)
    index_mask = index_mask.permute(0, 2, 1, 3).contiguous().flatten(0, 3)
    image_feature = image_feature[index_mask]
    base_image_feature = base_image_feature[base_index_mask]
    return torch.cat((base_image_feature, image_feature), dim=0)


def literal_visionzip_restore(image_feature, cur_keep_idx, width, height, g, n):
    """VisionZip llava_arch.py restore_image_features_sorted, transcribed with N and g for 576 and 24."""
    num_img, total_patches, feature_dim = image_feature.shape
    num_keep = cur_keep_idx.shape[1]
    num_extra = total_patches - num_keep
    cur_keep_idx_sorted, _ = cur_keep_idx.sort(dim=1)
    cur_keep_idx_sorted_restore = cur_keep_idx_sorted[:, 1:] - 1
    restored_features = torch.zeros((num_img, n, feature_dim), dtype=image_feature.dtype)
    mask = torch.zeros(num_img, n, dtype=torch.bool)
    mask.scatter_(1, cur_keep_idx_sorted_restore, True)
    kept_features = image_feature[:, 1:num_keep, :]
    restored_features[mask] = kept_features.reshape(-1, feature_dim)
    restored_features = restored_features.view(height, width, g, g, feature_dim)
    restored_features = restored_features.permute(0, 2, 1, 3, 4).contiguous()
    restored_features = restored_features.view(height, g, width * g, feature_dim)
    restored_features = restored_features.view(height * g, width * g, feature_dim)
    mask = mask.view(height, width, g, g).permute(0, 2, 1, 3).contiguous().view(height * g, width * g)
    image_feature_select = restored_features[mask]
    raw_img_feature_merge = image_feature[:, -num_extra:, ].reshape(-1, feature_dim)
    cls_img_feature_merge = image_feature[:, 0, ]
    return torch.cat([image_feature_select, cls_img_feature_merge, raw_img_feature_merge])


def literal_unpad_original(tensor, original_size):
    """llava_arch.py unpad_image (original LLaVA), transcribed; original_size = (width, height)."""
    original_width, original_height = original_size
    current_height, current_width = tensor.shape[1:]
    if original_width / original_height > current_width / current_height:
        new_height = int(original_height * (current_width / original_width))
        padding = (current_height - new_height) // 2
        return tensor[:, padding:current_height - padding, :]
    new_width = int(original_width * (current_height / original_height))
    padding = (current_width - new_width) // 2
    return tensor[:, :, padding:current_width - padding]


def literal_divprune_packed(feats, newline, nph, npw, g, size_wh):
    """divprune llava_arch.py prepare_inputs_labels_for_multimodal, 'spatial_unpad' branch, transcribed."""
    base_image_feature = feats[0]
    image_feature = feats[1:].view(nph, npw, g, g, -1)
    image_feature = image_feature.permute(4, 0, 2, 1, 3).contiguous()
    image_feature = image_feature.flatten(1, 2).flatten(2, 3)
    image_feature = literal_unpad_original(image_feature, size_wh)
    image_feature = torch.cat((image_feature, newline[:, None, None].expand(*image_feature.shape[:-1], 1)), dim=-1)
    image_feature = image_feature.flatten(1, 2).transpose(0, 1)
    return torch.cat((base_image_feature, image_feature), dim=0)


def literal_divprune(visual_feature_vectors, threshold_terms):
    """divprune llava_arch.py DivPrune, transcribed (with the count given)."""
    norm = visual_feature_vectors / visual_feature_vectors.norm(dim=1, keepdim=True)
    cosine_matrix = 1.0 - torch.mm(norm, norm.t())
    s = torch.empty(threshold_terms, dtype=torch.long)
    for i in range(threshold_terms):
        m2 = cosine_matrix if i == 0 else torch.index_select(cosine_matrix, 0, s[:i])
        scores = torch.topk(m2, 2, dim=0, largest=False).values[1, :] if i == 0 else torch.min(m2, dim=0).values
        s[i] = torch.argmax(scores)
    return s


def literal_hired_unpad(tensor, original_size):
    """HiRED's vendored unpad_image, transcribed (masks or C×H×W); original_size = an int64 tensor (h, w)."""
    original_height, original_width = original_size
    current_height, current_width = tensor.shape[1:] if tensor.ndim == 3 else tensor.shape
    if original_width / original_height > current_width / current_height:
        scale_factor = current_width / original_width
        new_height = int(original_height * scale_factor)
        padding = (current_height - new_height) // 2
        return tensor[:, padding:current_height - padding, :] if tensor.ndim == 3 else tensor[padding:current_height - padding, :]
    scale_factor = current_height / original_height
    new_width = int(original_width * scale_factor)
    padding = (current_width - new_width) // 2
    return tensor[:, :, padding:current_width - padding] if tensor.ndim == 3 else tensor[:, padding:current_width - padding]


def literal_hired_pack(image_feature, image_features_mask, image_size, grid_hw, g):
    """HiRED pack_HiRED_image_features (image_newline None), transcribed; get_anyres_image_grid_shape returns
    (height // S, width // S) and the caller names them (num_patch_width, num_patch_height)."""
    base_image_feature = image_feature[0]
    base_image_mask = image_features_mask[0]
    reduced_base_image_feature = base_image_feature[base_image_mask.bool()]
    image_feature = image_feature[1:]
    other_images_mask = image_features_mask[1:]
    height = width = g
    num_patch_width, num_patch_height = grid_hw
    image_feature = image_feature.view(num_patch_height, num_patch_width, height, width, -1)
    other_images_mask = other_images_mask.view(num_patch_height, num_patch_width, height, width)
    image_feature = image_feature.permute(4, 0, 2, 1, 3).contiguous()
    other_images_mask = other_images_mask.permute(0, 2, 1, 3).contiguous()
    image_feature = image_feature.flatten(1, 2).flatten(2, 3)
    other_images_mask = other_images_mask.flatten(0, 1).flatten(1, 2)
    image_feature = literal_hired_unpad(image_feature, image_size)
    other_images_mask = literal_hired_unpad(other_images_mask, image_size)
    image_feature = image_feature.flatten(1, 2)
    other_images_mask = other_images_mask.flatten()
    reduced_image_feature = image_feature[:, other_images_mask.bool()].transpose(0, 1)
    return torch.cat((reduced_base_image_feature, reduced_image_feature), dim=0)


def literal_globalcom2(feats, cls_attn_scores, newline, npw, nph, g, original_size, ratio):
    """GlobalCom2 llava_arch.py compress_thumbnail + generate_scale_for_crop_features + compress_crops (and the
    helpers they call), transcribed; the interpolated map kept 2-D; original_size = (width, height)."""
    base_image_feature, base_cls = feats[0], cls_attn_scores[0]
    top_k = int(base_image_feature.shape[0] * ratio)
    sorted_indices = torch.sort(base_cls, descending=True, stable=True).indices   # ties to the lower index
    thumb = base_image_feature[sorted_indices[:top_k]]
    scales, _ = fp.globalcom2_scales(base_cls, npw, nph, ratio)
    image_feature, cls = feats[1:], cls_attn_scores[1:]
    num_img, num_tokens, feature_dim = image_feature.shape
    original_width, original_height = original_size
    height = width = g
    current_height, current_width = nph * height, npw * width
    mask = torch.zeros((num_img, num_tokens), dtype=torch.bool)
    mask = mask.view(nph, npw, height, width).permute(0, 2, 1, 3).contiguous().flatten(0, 1).flatten(1, 2)
    if original_width / original_height > current_width / current_height:
        new_height = int(original_height * (current_width / original_width))
        padding = (current_height - new_height) // 2
        mask[padding:current_height - padding, :] = True
    else:
        new_width = int(original_width * (current_height / original_height))
        padding = (current_width - new_width) // 2
        mask[:, padding:current_width - padding] = True
    rows = torch.any(mask, dim=1).nonzero(as_tuple=True)[0]
    cols = torch.any(mask, dim=0).nonzero(as_tuple=True)[0]
    cur_width, cur_height = int(cols[-1] - cols[0] + 1), int(rows[-1] - rows[0] + 1)
    mask = mask.view(nph, height, npw, width).permute(0, 2, 1, 3).contiguous()
    crop_dimensions = []
    for i in range(nph):
        for j in range(npw):
            nz = torch.nonzero(mask[i, j], as_tuple=True)
            if len(nz[0]) == 0:
                crop_dimensions.append((0, 0))
            else:
                crop_dimensions.append((nz[1].max().item() + 1 - nz[1].min().item(),
                                        nz[0].max().item() + 1 - nz[0].min().item()))
    mask = mask.view(num_img, num_tokens)
    unpad_feats = [image_feature[i][mask[i]] for i in range(num_img)]
    unpad_cls = [cls[i][mask[i]] for i in range(num_img)]
    side = int(base_cls.shape[0] ** 0.5)
    interp = F.interpolate(base_cls.view(1, 1, side, side), size=(cur_height, cur_width), mode="bilinear",
                           align_corners=False)[0, 0]
    crops, current_h = [], 0
    for i in range(nph):
        current_w = 0
        for j in range(npw):
            cw, ch = crop_dimensions[i * npw + j]
            crops.append(interp[current_h:current_h + ch, current_w:current_w + cw].flatten())
            current_w += cw
        current_h += crop_dimensions[i * npw][1]
    final = torch.zeros((num_img, num_tokens, feature_dim))
    valid = torch.zeros((num_img, num_tokens), dtype=torch.bool)
    for i in range(num_img):
        n_i = unpad_feats[i].shape[0]
        k = int(n_i * scales[i])
        if n_i == 0 or k == 0:
            continue
        combined = F.normalize(unpad_cls[i].unsqueeze(0), p=2, dim=-1).squeeze(0) + \
            F.normalize(crops[i].unsqueeze(0), p=2, dim=-1).squeeze(0)
        top = torch.sort(combined, descending=True, stable=True).indices[:k]
        for feat_idx, idx in enumerate(torch.arange(n_i)[top]):
            final[i, idx] = unpad_feats[i][top][feat_idx]
            valid[i, idx] = True
    final = final.view(nph, npw, height, width, -1).permute(4, 0, 2, 1, 3).contiguous().flatten(1, 2).flatten(2, 3)
    valid = valid.view(nph, npw, height, width, -1).permute(4, 0, 2, 1, 3).contiguous().flatten(1, 2).flatten(2, 3)
    final = torch.cat((final, newline[:, None, None].expand(*final.shape[:-1], 1)), dim=-1).flatten(1, 2).transpose(0, 1)
    valid = torch.cat((valid, torch.ones((1, nph * height, 1), dtype=torch.bool)), dim=-1).flatten(1, 2).squeeze(0)
    return torch.cat((thumb, final[valid]), dim=0)


def with_ids(x):
    """Features [V, N, D] with two extra columns (view, patch)."""
    V, N, _ = x.shape
    v = torch.arange(V, dtype=x.dtype)[:, None].expand(V, N)
    p = torch.arange(N, dtype=x.dtype)[None, :].expand(V, N)
    return torch.cat([x, v[..., None], p[..., None]], dim=-1)


def split_ids(rows, D):
    """(values [R, D], [(view, patch)]) of rows with id columns; a newline row carries (−1, −1)."""
    return rows[:, :D], [(int(a), int(b)) for a, b in rows[:, D:D + 2].tolist()]


def expect(cond, what, fails):
    if not cond:
        fails.append(what)


@torch.no_grad()
def self_test(a):
    fails = []
    t0 = time.time()
    # Pure geometry: DivPrune's worked example at S = 336 with the default pinpoints.
    S = 336
    pins = [[S, 2 * S], [2 * S, S], [2 * S, 2 * S], [3 * S, S], [S, 3 * S]]
    g = S // 14
    found = []
    for h, w in ((205, 656), (656, 205)):
        lengths = []
        for canvas, unpad in ((fp.original_canvas(h, w, pins), fp.unpad_original), (fp.hf_canvas(h, w, pins), fp.unpad_hf)):
            (r0, r1), (c0, c1) = unpad(h, w, canvas[0] // S * g, canvas[1] // S * g)
            lengths.append(g * g + (r1 - r0) * (c1 - c0 + 1))
        found.append(((h, w), lengths))
    expect(any(l == [1262, 1360] for _, l in found), f"DivPrune's 656×205 example: {found}", fails)
    print(f"geometry: 656×205 packed lengths (original, HF) = {found}")

    base = os.path.join(os.path.abspath(a.work), "self-test")
    n_cases = 0
    for sname in a.shapes.split(","):
        work = os.path.join(base, f"shape-{sname}")
        os.makedirs(work, exist_ok=True)
        ctx, nxt, hf = load_shape(sname, work)
        g, N, S = ctx.g, ctx.N, ctx.S
        proc = LlavaNextImageProcessorPil.from_pretrained(ng.HF_DIR)
        images = image_paths(sname, SELF_TEST_NAMES[sname], os.path.join(work, "images"))
        for name, path in degenerate_paths(os.path.join(work, "images")):
            try:
                fp.run(ctx, "fastervlm", Image.open(path), "released", keep=4)
                fails.append(f"{sname}: FasterVLM does not refuse {name}")
            except fp.Refused:
                pass
        for name, path, _ in images:
            image = Image.open(path).convert("RGB")
            w, h = image.size
            # Views.
            ref = proc(images=image, return_tensors="pt")
            pv, grid = fp.build_views(ctx, image, fp.hf_canvas(h, w, ctx.pinpoints), "hf")
            expect(torch.equal(pv, ref["pixel_values"][0]), f"{sname}/{name}: HF views differ from the processor", fails)
            canvases = {"hf": fp.hf_canvas(h, w, ctx.pinpoints), "original": fp.original_canvas(h, w, ctx.pinpoints),
                        "fastervlm": fp.fastervlm_canvas(h, w, ctx.pinpoints), "fixed": (2 * S, 2 * S)}
            for kind, canvas in canvases.items():
                one = LlavaNextImageProcessorPil(size={"shortest_edge": S}, crop_size={"height": S, "width": S},
                                                 image_grid_pinpoints=[list(canvas)])
                mine, _ = fp.build_views(ctx, image, canvas, "hf")
                expect(torch.equal(mine, one(images=image, return_tensors="pt")["pixel_values"][0]),
                       f"{sname}/{name}: {kind} views ≠ HF's on canvas {canvas}", fails)
            H, W = canvases["hf"]
            nh, nw = fp.fitted_size(h, w, H, W)
            hired_pv, _ = fp.build_views(ctx, image, (H, W), "hired")
            odd = (H - nh) % 2 == 1 or (W - nw) % 2 == 1
            expect(hired_pv.shape == pv.shape and (torch.equal(hired_pv, pv) != odd),
                   f"{sname}/{name}: HiRED views {'equal' if torch.equal(hired_pv, pv) else 'differ from'} HF's "
                   f"with {'an odd' if odd else 'no odd'} remainder", fails)
            # HF packing of every patch = get_image_features.
            enc = fp.encode(ctx, pv)
            packed = hf.model.get_image_features(pixel_values=pv[None], image_sizes=torch.tensor([[h, w]])).pooler_output[0]
            every = [fp.ViewRows([(p, enc["features"][v, p]) for p in range(N)]) for v in range(pv.shape[0])]
            entries, dropped = fp.pack_grid(ctx, every, grid, fp.unpad_hf(h, w, grid[0] * g, grid[1] * g), "all", "ascending")
            o = fp.finish(ctx, "none", "hf", entries, pv=pv, grid=grid, canvas=(H, W), hw=(h, w), enc=enc, signals={},
                          gap=None, notes=[], dropped=dropped)
            expect(o.projected.shape == packed.shape and rel(o.projected, packed) <= 1e-6,
                   f"{sname}/{name}: the HF packer does not rebuild get_image_features ({o.projected.shape} vs "
                   f"{tuple(packed.shape)})", fails)
            hf_length = packed.shape[0]
            # Every port.
            for method in fp.METHODS:
                for label, kw, _ in settings(method, N):
                    for mode, nl in variants(method, fp.MODES, ["all", "nonempty", "none"]):
                        prompt = PROMPTS[1] if method == "cdpruner" else PROMPTS[0]
                        where = f"{sname}/{name} {method} {label} {mode} {nl}"
                        o = fp.run(ctx, method, image, mode, prompt=prompt, newlines=nl or "all", **kw)
                        n_cases += 1
                        fails += [f"{where}: {x}" for x in invariants(ctx, o, kw, nl, hf_length)]
                        again = fp.run(ctx, method, image, mode, prompt=prompt, newlines=nl or "all", **kw)
                        expect(again.token_map == o.token_map and torch.equal(again.reduced, o.reduced),
                               f"{where}: not deterministic", fails)
                        if mode == "released":
                            fails += [f"{where}: {x}" for x in literal_check(ctx, o, image, kw)]
        print(f"self-test shape {sname}: {len(images)} images, {time.time() - t0:.0f} s so far")
    print(f"self-test: {n_cases} port cases, {len(fails)} failures")
    for f in fails[:60]:
        print("  FAIL", f)
    return 1 if fails else 0


def invariants(ctx, o, kw, nl, hf_length):
    out = []
    L = len(o.token_map)
    nlrows = [i for i, t in enumerate(o.token_map) if t == fp.NEWLINE]
    if o.projected.shape[0] != L:
        out.append(f"projected {o.projected.shape[0]} rows, token_map {L}")
    if o.reduced.shape[0] != L - len(nlrows):
        out.append(f"reduced {o.reduced.shape[0]} rows, {L - len(nlrows)} non-newline rows")
    if any(not torch.equal(o.projected[i], ctx.newline) for i in nlrows):
        out.append("a newline row is not image_newline")
    if o.kept != [t for t in o.token_map if t[1] >= 0] or len(set(o.kept)) != len(o.kept):
        out.append("kept_indices are not the token_map's patch rows (or repeat)")
    if any(not (0 <= v < o.views and 0 <= p < ctx.N) for v, p in o.kept):
        out.append("a (view, patch) out of range")
    if any(not ((v, p) == fp.NEWLINE or (v >= 0 and p >= -1)) for v, p in o.token_map):
        out.append("a malformed token_map row")
    V, N = o.views, ctx.N
    per_view = [sum(1 for v, p in o.kept if v == x) for x in range(V)]
    m = o.method
    if m in ("fastervlm", "vispruner", "cdpruner"):
        t = min(kw["keep"], N)
        want = [t] * V  # CDPruner included: a view whose rank runs out fills its picks by relevance
        if o.mode == "released" and (per_view != want or L != sum(want) or nlrows):
            out.append(f"per-view rows {per_view} ≠ {want} (released: V·T rows, no newline)")
        if o.mode == "hf" and sum(per_view) + o.dropped != sum(want):
            out.append(f"emitted {sum(per_view)} + dropped {o.dropped} ≠ selected {sum(want)}")
    if m == "visionzip" and o.mode == "released":
        d, c = kw["dominant"], kw["contextual"]
        if L != V * (d + c) or sum(1 for t in o.token_map if t[1] == -1) != V * (1 + c):
            out.append(f"released VisionZip {L} rows, want V·(D+C) = {V * (d + c)}")
    if m == "divprune":
        T = kw.get("keep") if kw.get("keep") is not None else int(round(kw["keep_ratio"] * o.info["packed_length"]))
        if L != min(T, o.info["packed_length"]):
            out.append(f"DivPrune {L} rows, budget {T}")
        if o.mode == "hf" and nl == "all" and o.info["packed_length"] != hf_length:
            out.append(f"hf DivPrune selects over {o.info['packed_length']} rows, HF packs {hf_length}")
    if m == "hired":
        if L > o.info["total"] or per_view[0] != o.info["base"]:
            out.append(f"HiRED {L} rows (budget {o.info['total']}), base {per_view[0]} (budget {o.info['base']})")
        if nlrows:
            out.append("HiRED emits newline rows")
    if m == "globalcom2":
        k0 = int(N * kw["keep_ratio"])
        if per_view[0] != k0:
            out.append(f"GlobalCom2 thumbnail {per_view[0]} rows, want {k0}")
        want_nl = o.grid[0] * ctx.g if o.mode == "released" else None
        if want_nl is not None and len(nlrows) != want_nl:
            out.append(f"released GlobalCom2 {len(nlrows)} newlines, want R = {want_nl}")
        if sum(per_view[1:]) != sum(o.info["per_tile"]):
            out.append(f"GlobalCom2 tiles emit {sum(per_view[1:])}, selected {sum(o.info['per_tile'])}")
    if m in ("prumerge", "prumerge+"):
        extras = [sum(1 for v, p in o.token_map if v == x and p == -1) for x in range(V)]
        if extras != [1] * V:
            out.append(f"PruMerge extra rows per view {extras}")
    return out


def literal_check(ctx, o, image, kw):
    """Released layouts rebuilt by the transcribed release code from the port's own selections."""
    out = []
    g, N = ctx.g, ctx.N
    nph, npw = o.grid
    w, h = image.size
    enc = fp.encode(ctx, o.pixel_values)
    x = enc["features"]
    D = x.shape[-1]
    xi = with_ids(x)
    V = o.views
    if o.method in ("fastervlm", "vispruner", "cdpruner"):
        masks = torch.zeros(V, N, dtype=torch.bool)
        for v, ps in enumerate(o.info["selected"]):
            masks[v, ps] = True
        vals, ids = split_ids(literal_spatial(xi, masks, nph, npw, g), D)
        if ids != o.token_map or not torch.equal(vals, o.reduced):
            out.append("the 'spatial' transcription packs otherwise")
    elif o.method == "visionzip":
        rows = []
        keep_idx = []
        for v in range(V):
            res, kept, _, _ = rg.visionzip(enc["hidden"][v:v + 1], enc["A_sel"][v:v + 1], enc["metric"][v:v + 1],
                                           kw["dominant"], kw["contextual"])
            ids = torch.tensor([[v, -1]] + [[v, int(p)] for p in kept] + [[v, -1]] * (res.shape[0] - 1 - len(kept)),
                               dtype=res.dtype)
            rows.append(torch.cat([res, ids], dim=1))
            keep_idx.append(torch.cat([torch.zeros(1, dtype=torch.long), kept.to(torch.long) + 1]))
        feats = torch.stack(rows)
        restored = literal_visionzip_restore(feats[1:], torch.stack(keep_idx[1:]), npw, nph, g, N)
        vals, ids = split_ids(torch.cat([feats[0], restored]), D)
        if ids != o.token_map or not torch.equal(vals, o.reduced):
            out.append("restore_image_features_sorted's transcription packs otherwise")
    elif o.method == "divprune":
        P = enc["projected"]
        Hd = P.shape[-1]
        Pi = with_ids(P)
        nl = torch.cat([ctx.newline, torch.tensor([-1.0, -1.0])])
        packed = literal_divprune_packed(Pi, nl, nph, npw, g, (w, h))
        T = min(o.info["budget"], packed.shape[0])
        picks = literal_divprune(packed[:, :Hd], T).sort().values
        ids = [(int(a), int(b)) for a, b in packed[picks, Hd:].tolist()]
        if packed.shape[0] != o.info["packed_length"]:
            out.append(f"the 'spatial_unpad' transcription packs {packed.shape[0]} rows, the port {o.info['packed_length']}")
        elif ids != o.token_map:
            out.append(f"DivPrune's transcription picks otherwise (margin {o.gap})")
    elif o.method == "hired":
        # The selections before packing (the cells the unpad cuts are not in o.kept).
        kept, _, _, _, _ = fp.hired_select(ctx, enc, V, kw["keep_ratio"], kw["alpha"])
        masks = torch.zeros(V, N, dtype=torch.bool)
        for v, ps in enumerate(kept):
            masks[v, ps] = True
        sizes = torch.tensor([h, w], dtype=torch.int64)
        vals, ids = split_ids(literal_hired_pack(xi, masks, sizes, (nph, npw), g), D)
        if ids != o.token_map or not torch.equal(vals, o.reduced):
            out.append("pack_HiRED_image_features' transcription packs otherwise")
    elif o.method == "globalcom2":
        nl = torch.cat([torch.zeros(D), torch.tensor([-1.0, -1.0])])
        seq = literal_globalcom2(xi, enc["logits"], nl, npw, nph, g, (w, h), kw["keep_ratio"])
        vals, ids = seq[:, :D], [(int(a), int(b)) for a, b in seq[:, D:].tolist()]
        keep = [i for i, t in enumerate(ids) if t != fp.NEWLINE]
        if ids != o.token_map or not torch.equal(vals[keep], o.reduced):
            out.append("compress_crops' transcription packs otherwise")
    return out


# ================================================================================================= main
def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--self-test", action="store_true")
    ap.add_argument("--work", default=os.path.join(tempfile.gettempdir(), "family-next-check"))
    ap.add_argument("--trim", default=os.path.join(ROOT, ".build", "release", "trim"))
    ap.add_argument("--shapes", default="a,b")
    ap.add_argument("--layouts", default="hf,orig")
    ap.add_argument("--methods", default=",".join(fp.METHODS))
    ap.add_argument("--modes", default="released,hf")
    ap.add_argument("--newlines", default="all,nonempty,none")
    ap.add_argument("--tolerance", type=float, default=1e-5)
    ap.add_argument("--hf-base-order", choices=["ascending", "own"], default=fp.HF_BASE_ORDER)
    ap.add_argument("--cdpruner-stop", choices=["relative", "initial-max"], default=fp.CDPRUNER_STOP_RULE)
    a = ap.parse_args()
    torch.set_num_threads(os.cpu_count() or 1)
    fp.HF_BASE_ORDER = a.hf_base_order
    fp.CDPRUNER_STOP_RULE = a.cdpruner_stop
    if a.self_test:
        sys.exit(self_test(a))
    trim = os.path.abspath(a.trim)
    if not (os.path.isfile(trim) and os.access(trim, os.X_OK)):
        print(f"no trim binary at {trim}: build it (swift build -c release) or pass --trim; "
              f"--self-test checks the ports without it")
        sys.exit(2)
    assert set(a.methods.split(",")) <= set(fp.METHODS), a.methods
    assert set(a.layouts.split(",")) <= {"hf", "orig"}, a.layouts
    table = []
    t0 = time.time()
    for sname in a.shapes.split(","):
        check_shape(sname, a, trim, table)
    failures = summary(table, a.tolerance)
    print(f"{time.time() - t0:.0f} s; {failures} failures")
    sys.exit(1 if failures else 0)


if __name__ == "__main__":
    main()
