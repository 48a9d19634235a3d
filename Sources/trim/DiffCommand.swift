import Foundation
import TRIM
import TRIMConformance
import TRIMJSON

let diffCommand = Command(
    name: "diff",
    summary: "compare two dumps stage by stage and name the first stage out of tolerance (for ports; no model needed)",
    synopsis: "EXPECTED.safetensors ACTUAL.safetensors [--full-size | --tolerance R] [--json]",
    description: """
        Compares every tensor of two --dump files (Docs/SEMANTICS.md §3) in pipeline order: pixel_values,
        image_sizes, features, image_tokens, input_ids, text_embeds, scores and each method's signal,
        kept_indices, token_map, reduced, projected. One line each: dtypes and shapes, max |Δ|,
        max |Δ| / max |expected| and a verdict (identical, within, near-tie, out), then the first stage out
        of tolerance: everything after it follows from it. Tolerances are Docs/SEMANTICS.md §4's:
        pixel_values |Δ| ≤ 1e-6, integer tensors identical, other floats max|Δ|/max|expected| ≤ 1e-5.
        Indices chosen by one side only are judged on the expected side's signal: within 1e-6 relative of
        the selection threshold or of the score of an index they displaced, they are near-ties, and a
        selection differing only by near-ties is not out. Rows of reduced and projected are matched by the
        token they come from. A tensor in one file only is listed as missing, not out.
        Exit status: 0 nothing out, 3 something out, 1 bad input, 2 usage error.
        """,
    options: [
        OptionSpec("full-size", .flag, help: "the full ViT-L/14-336 rule: other floats within 1e-3 relative"),
        OptionSpec("tolerance", .number(0...1), placeholder: "R", default: "1e-5",
                   help: "the relative tolerance max|Δ|/max|expected| for float tensors other than pixel_values"),
        OptionSpec("json", .flag, help: "print one JSON object (verdict, first_out, tensors, missing, selection) instead of the report"),
    ],
    run: { a in
        guard a.positional.count == 2 else { throw UsageError("give two dumps: EXPECTED.safetensors ACTUAL.safetensors") }
        if a.flag("full-size") && a.value("tolerance") != nil {
            throw UsageError("--full-size and --tolerance both set the relative tolerance; give one")
        }
        var tolerance = a.flag("full-size") ? DiffTolerance.fullSize : .conformance
        if let r = a.double("tolerance") { tolerance.relative = r }
        let expected = try existingPath(a.positional[0], what: "expected dump").path
        let actual = try existingPath(a.positional[1], what: "actual dump").path
        let diff = try DumpDiff.compare(expectedPath: expected, actualPath: actual, tolerance: tolerance)
        print(a.flag("json") ? JSON.serialize(diff.json) : diff.report(expectedName: a.positional[0], actualName: a.positional[1]))
        if diff.verdict == .out { exit(3) }
    })
