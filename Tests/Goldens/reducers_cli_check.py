#!/usr/bin/env python3
"""Compares `trim reduce --method fastervlm|visionzip|vispruner|divprune|cdpruner --dump … --json` with a goldens
file from `reducers_goldens.py --model-dir … --out FILE` (for full-size models, where the debug-built
ReducerGoldenTests are too slow). Usage (from the repository root):

    .venv-ref/bin/python Tests/Goldens/reducers_cli_check.py GOLDENS [GOLDENS …] [--trim .build/release/trim]
        [--tolerance 1e-5]                (Docs/SEMANTICS.md §4: 1e-5 on small models, 1e-3 at full ViT-L/14-336 size)

The model, projector, images and prompts come from each file's manifest (paths relative to the repository
root). One `trim reduce` call per (image, method settings, projector or not); the CDPruner cases that differ
only in the prompt share it (`--prompt` given once per prompt: one vision pass, numbered dumps). Per case:
  - kept_indices identical, order included — or a tie in the sense of Docs/SEMANTICS.md §4, as ReducerGoldenTests decides it: the manifest's
    `gap` (smallest relative margin of any choice the case made), and for CDPruner's rank-exhaustion stop
    min(|ratio − 1e-4|, |last_ratio − 1e-4|), below 1e-6; a tie skips the tensor comparison;
  - `reduced`, `projected` (cases with the projector) and the method's signal (dump `cls_attention` or
    `relevance`; DivPrune has none) within max|Δ|/max|ref| ≤ tolerance; CDPruner also `input_ids` identical
    and `text_embeds` within the tolerance;
  - the --json line's kept_indices equal to the dump's.
The call is: trim reduce --model M [--projector P] --image IMG --prompt TEXT … --method X [--keep T]
(VisionZip: --keep T, so the CLI's own D/C split is checked too, or --dominant D --contextual C when the case
has no keep; VisPruner: --important-ratio R; CDPruner: --scoring S; DivPrune: no --keep when keep is null).
Prints one line per case and a per-method summary; exits 1 on any failure.
"""
import argparse
import json
import os
import subprocess
import sys
import tempfile

import numpy as np
from safetensors import safe_open
from safetensors.numpy import load_file

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
SIGNAL_DUMP = {"cls_attention": "cls_attention", "relevance": "relevance"}


def rel_err(a, ref):
    return float(np.abs(a.astype(np.float64) - ref.astype(np.float64)).max() / max(np.abs(ref).max(), 1e-30))


def tie_gap(case):
    gap = case.get("gap")
    gap = 1.0 if gap is None else gap
    stop = case.get("dpp_stop")
    if stop and stop.get("ratio") is not None:
        last = stop.get("last_ratio")
        gap = min(gap, abs(stop["ratio"] - 1e-4), abs((1.0 if last is None else last) - 1e-4))
    return gap


def group_key(k):
    return (k["image"], k["method"], k["keep"], k["dominant"] if k["keep"] is None else None,
            k["contextual"] if k["keep"] is None else None, k["important_ratio"], k["scoring"], bool(k["projector"]))


def check_file(path, trim, tol, tmp, stats):
    ref = load_file(path)
    with safe_open(path, "np") as f:
        man = json.loads(f.metadata()["manifest"])
    model = os.path.normpath(os.path.join(ROOT, man["model"]))
    projector = man["projector"] and os.path.normpath(os.path.join(ROOT, man["projector"]))
    images = [os.path.normpath(os.path.join(ROOT, p)) for p in man["images"]]
    prompts = man["prompts"]
    groups = {}
    for c, k in enumerate(man["cases"]):
        groups.setdefault(group_key(k), []).append(c)
    print(f"{path}: {len(man['cases'])} cases in {len(groups)} trim calls; model {model}, projector {projector}")
    for key, cases in groups.items():
        k0 = man["cases"][cases[0]]
        m = k0["method"]
        case_prompts = [man["cases"][c]["prompt"] for c in cases]
        texts = [prompts[j] for j in case_prompts] if m == "cdpruner" else ["x"]
        dump = os.path.join(tmp, "r.safetensors")
        args = [trim, "reduce", "--model", model, "--image", images[k0["image"]], "--method", m,
                "--dump", dump, "--json"]
        for t in texts:
            args += ["--prompt", t]
        if k0["projector"]:
            args += ["--projector", projector]
        if m == "visionzip" and k0["keep"] is None:
            args += ["--dominant", str(k0["dominant"]), "--contextual", str(k0["contextual"])]
        elif k0["keep"] is not None:
            args += ["--keep", str(k0["keep"])]
        if m == "vispruner":
            args += ["--important-ratio", repr(k0["important_ratio"])]
        if m == "cdpruner":
            args += ["--scoring", k0["scoring"]]
        r = subprocess.run(args, capture_output=True, text=True)
        if r.returncode:
            print(f"  trim failed ({' '.join(args[1:])}): {r.stderr.strip()}")
            for c in cases:
                stats.setdefault(m, dict(n=0, same=0, ties=0, fail=0, worst=0.0))["fail"] += 1
                stats[m]["n"] += 1
            continue
        lines = [json.loads(l) for l in r.stdout.splitlines() if l.strip()]
        for n, c in enumerate(cases):
            k = man["cases"][c]
            st = stats.setdefault(m, dict(n=0, same=0, ties=0, fail=0, worst=0.0))
            st["n"] += 1
            d = load_file(os.path.join(tmp, f"r-{n + 1}.safetensors") if len(texts) > 1 else dump)
            kept, ref_kept = d["kept_indices"], ref[f"case{c}.kept_indices"]
            label = (f"image {k['image']} case {c:3d} {m:9s} keep {str(k['keep']):4s}"
                     + (f" D {k['dominant']} C {k['contextual']}" if m == "visionzip" else "")
                     + (f" r {k['important_ratio']}" if m == "vispruner" else "")
                     + (f" {k['scoring']:7s} prompt {k['prompt']}" if m == "cdpruner" else "")
                     + (" proj" if k["projector"] else "     "))
            problems = []
            if lines[n]["kept_indices"] != kept.tolist():
                problems.append("--json kept_indices differ from the dump's")
            if kept.shape == ref_kept.shape and np.array_equal(kept, ref_kept):
                st["same"] += 1
                names = [("reduced", "reduced")]
                if k["projector"]:
                    names.append(("projected", "projected"))
                if k["signal"]:
                    names.append((SIGNAL_DUMP[k["signal"]], "signal"))
                if m == "cdpruner":
                    names.append(("text_embeds", f"prompt{k['prompt']}.text_embeds"))
                    if not np.array_equal(d["input_ids"], ref[f"prompt{k['prompt']}.input_ids"]):
                        problems.append("input_ids differ")
                errs = {}
                for dn, rn in names:
                    rt = ref[rn if rn.startswith("prompt") else f"case{c}.{rn}"]
                    if dn not in d or d[dn].shape != rt.shape:
                        problems.append(f"{dn}: shape {d[dn].shape if dn in d else 'missing'} vs {rt.shape}")
                        continue
                    errs[dn] = rel_err(d[dn], rt)
                    if errs[dn] > tol:
                        problems.append(f"{dn} {errs[dn]:.2e} > {tol:g}")
                e = max(errs.values()) if errs else 0.0
                st["worst"] = max(st["worst"], e)
                detail = " ".join(f"{n_}={v:.1e}" for n_, v in errs.items())
                print(f"  {label} kept {len(kept):4d} identical  max rel err {e:.2e} ({detail})"
                      + (f"  FAIL: {'; '.join(problems)}" if problems else ""))
            else:
                gap = tie_gap(k)
                diff = len(set(kept.tolist()) ^ set(ref_kept.tolist())) // 2
                if gap < 1e-6 and kept.shape == ref_kept.shape:
                    st["ties"] += 1
                    print(f"  {label} kept {len(kept):4d} TIE (gap {gap:.1e}, fp64_agrees {k.get('fp64_agrees')}): "
                          f"{diff} of {len(ref_kept)} differ"
                          + (f"  FAIL: {'; '.join(problems)}" if problems else ""))
                else:
                    problems.append(f"kept indices differ (gap {gap:.1e}, fp64_agrees {k.get('fp64_agrees')}, "
                                    f"{diff} of {len(ref_kept)} differ; "
                                    f"swift {kept.tolist()[:12]}… ref {ref_kept.tolist()[:12]}…)")
                    print(f"  {label} kept {len(kept):4d} FAIL: {'; '.join(problems)}")
            if problems:
                st["fail"] += 1


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("goldens", nargs="+")
    ap.add_argument("--trim", default=os.path.join(ROOT, ".build", "release", "trim"))
    ap.add_argument("--tolerance", type=float, default=1e-5)
    a = ap.parse_args()
    stats = {}
    with tempfile.TemporaryDirectory() as tmp:
        for g in a.goldens:
            check_file(g, a.trim, a.tolerance, tmp, stats)
    total = dict(n=0, same=0, ties=0, fail=0, worst=0.0)
    print(f"summary (tolerance {a.tolerance:g}):")
    for m, st in stats.items():
        print(f"  {m:9s} {st['n']:4d} cases: {st['same']} identical, {st['ties']} ties, {st['fail']} failures, "
              f"worst {st['worst']:.2e}")
        for x in ("n", "same", "ties", "fail"):
            total[x] += st[x]
        total["worst"] = max(total["worst"], st["worst"])
    print(f"  all       {total['n']:4d} cases: {total['same']} identical, {total['ties']} ties, {total['fail']} failures, "
          f"worst {total['worst']:.2e}")
    sys.exit(1 if total["fail"] else 0)


if __name__ == "__main__":
    main()
