import Foundation
import SafeTensors
import TRIM
import TRIMImage
import TRIMJSON
import TRIMRender

let reduceCommand = Command(
    name: "reduce",
    summary: "reduce an image's tokens for a prompt (TRIM and seven other CLIP-side reducers, random control)",
    synopsis: "--model DIR --image FILE --prompt TEXT [--method M] [options]",
    description: """
        TRIM (default) scores every image patch against the prompt in CLIP's joint space, keeps the IQR
        outliers (or a fixed ratio) in spatial order, appends the mean of the rest, and projects them with
        LLaVA's projector when one is given. --method picks another reducer of the family on the same
        features (one vision pass; each computes only what it needs), each as its authors' released code
        computes it (Docs/REDUCERS.md):
        \(methodList)
          all          every method on one vision pass: a table (JSON Lines with --json), a dump per method
                       (FILE-<method>.safetensors), one heat map with every method side by side; fixed budgets
                       = --keep N or TRIM's row count
        Options a method does not take are refused (with all, they apply where they can).
        """,
    options: [
        Common.model, Common.image,
        OptionSpec("prompt", .text, placeholder: "TEXT", repeatable: true,
                   help: "the user's question (the text-agnostic methods ignore it); give it several times to reduce "
                       + "one vision pass against each prompt in turn (JSON Lines with --json; --dump / --heatmap files "
                       + "get -1, -2, … before the extension). LLaVA's \"<image>\" placeholder is replaced by a space."),
        Common.method,
    ] + ReducerCatalog.allOptions + [
        Common.projector, Common.selectLayer, Common.weights, Common.noPad,
    ] + Common.layoutOptions + [
        OptionSpec("json", .flag, help: "print one JSON object instead of the report"),
        Common.dump, Common.heatmap,
    ],
    run: { a in
        try a.noPositional()
        let options = try Common.reductionOptions(a)
        let method = try Common.methodName(a)
        // With `all`, the methods are built per prompt: their budget defaults to TRIM's row count.
        let reducer = method == "all" ? nil : try usage { try ReducerCatalog.make(method, a.given) }
        let needs = try reducer?.needs ?? usage { try ReducerCatalog.needs(of: ReducerCatalog.comparedAnyResolution, a.given) }
        let model = try existingPath(try a.required("model"), what: "model directory")
        let imageURL = try existingPath(try a.required("image"), what: "image")
        let prompts = a.all("prompt")
        guard !prompts.isEmpty else { throw UsageError("--prompt is required") }
        let projector = try a.value("projector").map { try existingPath($0, what: "projector") }
        let pipeline = try TRIMPipeline(modelDirectory: model, projector: projector, selectLayer: options.selectLayer,
                                        weightPrecision: Common.weightPrecision(a), needs: needs)
        let decodeStart = DispatchTime.now().uptimeNanoseconds
        let image = try ImageDecoder.decode(contentsOf: imageURL)
        let decodeSeconds = Double(DispatchTime.now().uptimeNanoseconds - decodeStart) / 1e9
        let layout = try Common.layout(a, pipeline: pipeline)
        try Common.checkLayout(layout, method: method, reducer: reducer)
        let source = ImageSource(name: imageURL.path, width: image.width, height: image.height)
        if reducer == nil && layout.isAnyResolution {  // every method on the views its release cuts
            let encodings = EncodingsByRule(pipeline: pipeline, image: image, layout: layout, selectLayer: options.selectLayer, needs: needs)
            for (i, prompt) in prompts.enumerated() {
                try runAllAnyResolution(a, encodings: encodings, prompt: prompt, options: options,
                                        number: prompts.count > 1 ? i + 1 : nil, image: source, separator: i > 0)
            }
            return
        }
        let oneViewNeeds = try reducer?.needs ?? usage { try ReducerCatalog.needs(of: ReducerCatalog.compared, a.given) }
        let encoded = try pipeline.encode(image: image, layout: reducer.map { Common.layout(layout, for: $0, a) } ?? layout,
                                          selectLayer: options.selectLayer, needs: oneViewNeeds)
        // One vision pass, then one reduction per prompt (in order); several prompts print JSON Lines and
        // number the --dump / --heatmap files (name-1.ext, name-2.ext, …).
        for (i, prompt) in prompts.enumerated() {
            let number = prompts.count > 1 ? i + 1 : nil
            guard let reducer else {  // --method all
                try runAll(a, pipeline: pipeline, encoded: encoded, prompt: prompt, options: options, number: number,
                           image: source, decodeSeconds: i == 0 ? decodeSeconds : nil, separator: i > 0)
                continue
            }
            var result = try pipeline.reduce(encoded, prompt: prompt, reducer: reducer, newlines: Common.newlinePolicy(a),
                                             views: Common.viewsMode(a))
            if i == 0 { result.timings.insert(("decode", decodeSeconds), at: 0) } else { result.timings = result.promptTimings }
            try writeOutputs(result, a, pipeline: pipeline, prompt: prompt, options: options, number: number)
            if a.flag("json") {
                printJSON((prompts.count > 1 ? [("prompt", .string(prompt))] : []) + reductionJSON(result, options: options))
            } else {
                if i > 0 { print("") }
                print(report(result, pipeline: pipeline, image: source, prompt: prompt, options: options))
            }
        }
    })

/// The catalog's methods, one line each, for a usage text.
let methodList = ReducerCatalog.entries.map { "  " + $0.name.padding(toLength: 12, withPad: " ", startingAt: 0) + " " + $0.summary }
    .joined(separator: "\n")

/// The image a report names.
struct ImageSource {
    var name: String, width: Int, height: Int
}

/// `--method all` for one prompt: TRIM first, then every other method at the same number of rows (`--keep N`,
/// else TRIM's own), on the one encoding; a table (or JSON Lines, one object per method), a dump per
/// method (`name-<method>.safetensors`) and one side-by-side heat map.
func runAll(_ a: Arguments, pipeline: TRIMPipeline, encoded: EncodedImage, prompt: String, options: ReductionOptions,
            number: Int?, image: ImageSource, decodeSeconds: Double?, separator: Bool) throws {
    let (results, budget) = try allResults(a, pipeline: pipeline, encoded: encoded, prompt: prompt, options: options)
    try writeAllDumps(results, a, prompt: prompt, options: options, number: number, producer: "trim reduce --method all")
    if let path = a.value("heatmap").map({ numbered($0, number) }) {
        let picture = sideBySideHeatmap(results, pipeline: pipeline, prompt: prompt, budget: budget,
                                        budgetFromTRIM: a.value("keep") == nil)
        try write(PNGEncoder.encode(picture), to: path)
    }
    if a.flag("json") { return printAllJSON(results, prompt: prompt, options: options) }
    if separator { print("") }
    let v = pipeline.clip.config.vision
    print("model      \(pipeline.modelDirectory.path)  (\(v.patchCount) patches)")
    print("image      \(image.name)  (\(image.width)×\(image.height))" + (decodeSeconds.map { "  decode \(formatSeconds($0))" } ?? ""))
    print("prompt     \"\(prompt)\"")
    print("budget     \(budget) rows for the fixed-budget methods" + (a.value("keep") == nil ? " (TRIM's own count)" : ""))
    let shared = encoded.timings.map { "\($0.stage) \(formatSeconds($0.seconds))" }.joined(separator: " · ")
    print("shared     \(shared)")
    for r in results {
        let own = r.promptTimings.reduce(0) { $0 + $1.seconds }
        let shown = r.reduction.keptIndices.prefix(16).map(String.init).joined(separator: " ")
        print("\(r.method.padding(toLength: 10, withPad: " ", startingAt: 0)) \(String(format: "%4d", r.tokens)) rows · "
              + "\(keptSummary(r)) · \(formatSeconds(own)) · [\(shown)\(r.kept > 16 ? " …" : "")]")
        if let note = r.reduction.note { print("           note: \(note)") }
    }
}

/// `--dump` for `--method all`: one file per method, `name-<method>.safetensors` (`+` written `-plus`).
func writeAllDumps(_ results: [ReductionResult], _ a: Arguments, prompt: String, options: ReductionOptions, number: Int?,
                   producer: String) throws {
    guard let path = a.value("dump").map({ numbered($0, number) }) else { return }
    for r in results {
        let file = suffixed(path, r.method.replacingOccurrences(of: "+", with: "-plus"))
        let w = r.dump(metadata: ["producer": producer, "prompt": prompt, "method": r.method, "options": describe(r, options)])
        do { try w.write(to: URL(fileURLWithPath: file)) } catch { throw CLIError.cannotWrite(path: file, reason: "\(error)") }
    }
}

/// `--json` for `--method all`: one object per method (JSON Lines), the prompt and method first.
func printAllJSON(_ results: [ReductionResult], prompt: String, options: ReductionOptions) {
    for r in results {
        printJSON([("prompt", .string(prompt)), ("method", .string(r.method))]
                  + reductionJSON(r, options: options).filter { $0.0 != "method" })
    }
}

/// Every method on one encoding: TRIM first, then the others at `--keep N` rows or TRIM's own count.
func allResults(_ a: Arguments, pipeline: TRIMPipeline, encoded: EncodedImage, prompt: String, options: ReductionOptions)
    throws -> (results: [ReductionResult], budget: Int)
{
    let trim = try pipeline.reduce(encoded, prompt: prompt, reducer: TRIMReducer(options: options))
    let budget = a.int("keep") ?? trim.tokens
    var results = [trim]
    for method in ReducerCatalog.compared.dropFirst() {
        let reducer = try usage { try ReducerCatalog.make(method, a.given, budget: budget) }
        results.append(try pipeline.reduce(encoded, prompt: prompt, reducer: reducer))
    }
    return (results, budget)
}

/// `name.ext` → `name-suffix.ext`.
func suffixed(_ path: String, _ suffix: String) -> String {
    let ext = (path as NSString).pathExtension
    let stem = ext.isEmpty ? path : String(path.dropLast(ext.count + 1))
    return ext.isEmpty ? "\(stem)-\(suffix)" : "\(stem)-\(suffix).\(ext)"
}

/// `name.ext` → `name-n.ext` (n given), else unchanged.
func numbered(_ path: String, _ n: Int?) -> String { n.map { suffixed(path, String($0)) } ?? path }

/// `--dump` and `--heatmap`.
func writeOutputs(_ r: ReductionResult, _ a: Arguments, pipeline: TRIMPipeline, prompt: String, options: ReductionOptions,
                  number: Int? = nil) throws {
    if let path = a.value("dump").map({ numbered($0, number) }) {
        let w = r.dump(metadata: ["producer": "trim reduce", "prompt": prompt, "method": r.method, "options": describe(r, options)])
        do { try w.write(to: URL(fileURLWithPath: path)) } catch { throw CLIError.cannotWrite(path: path, reason: "\(error)") }
    }
    if let path = a.value("heatmap").map({ numbered($0, number) }) {
        let png = renderHeatmapPNG(r, pipeline: pipeline, prompt: prompt, options: options)
        try write(png, to: path)
    }
}

/// One line: the method, its settings and the layer.
func describe(_ r: ReductionResult, _ o: ReductionOptions) -> String {
    "\(r.method) · \(r.settings) · layer \(o.selectLayer)"
}

/// `kept K of N (P%)` and what the other rows are, read from the rows' sources.
func keptSummary(_ r: ReductionResult) -> String {
    let pct = r.total == 0 ? 0 : 100 * Double(r.kept) / Double(r.total)
    let others = r.reduction.otherRows
    let extra: String
    switch (others.count, others.first) {
    case (0, _): extra = ""
    case (1, .mean?): extra = " + mean token"
    case (1, .merged?): extra = " + 1 merged token"
    case (1, .classToken?): extra = " + [CLS] row"
    case (1, _): extra = " + 1 contextual row"
    default: extra = " + \(others.count) other rows"
    }
    return "kept \(r.kept) of \(r.total) (\(String(format: "%.1f", pct))%)" + extra
}

/// The `reduce --json` object of Docs/SEMANTICS.md §3 (TRIM's settings fields; other methods' `method` and
/// `settings`).
func reductionJSON(_ r: ReductionResult, options o: ReductionOptions) -> [(String, JSONValue)] {
    let red = r.reduction
    var pairs: [(String, JSONValue)] = [
        ("total", .int(r.total)), ("kept", .int(r.kept)), ("tokens", .int(r.tokens)),
        ("kept_indices", keptIndicesJSON(r)),
        ("upper", red.iqr.map { .double(Double($0.upper)) } ?? .null),
        ("q1", red.iqr.map { .double(Double($0.q1)) } ?? .null),
        ("q3", red.iqr.map { .double(Double($0.q3)) } ?? .null),
    ]
    pairs += r.settingsFields
    if let packing = r.packing, let grid = r.encoded.grid {
        pairs += [
            ("views", .int(r.encoded.views.count)), ("grid", jsonInts([grid.rows, grid.columns])),
            ("canvas", jsonInts([grid.canvasHeight, grid.canvasWidth])), ("rows", .int(packing.rows.count)),
            ("views_mode", .string(r.viewsMode?.rawValue ?? "hf")),
            ("view_rule", .string(r.encoded.layout.geometry?.rawValue ?? "hf")),
            ("image_size", jsonInts([r.encoded.imageHeight, r.encoded.imageWidth])),
            ("unpadded", jsonInts([packing.grid.unpadded.height, packing.grid.unpadded.width])),
            ("newlines", .int(packing.newlines)), ("dropped_in_padding", .int(packing.droppedInPadding)),
        ]
    }
    if let note = red.note { pairs.append(("note", .string(note))) }
    pairs += [
        ("select_layer", .int(o.selectLayer)),
        ("input_ids", r.inputIDs.map(jsonInts) ?? .null),
        ("reduced_shape", jsonInts(red.reduced.shape)),
        ("projected_shape", r.projected.map { jsonInts($0.shape) } ?? .null),
        ("timings_s", .object(JSONObject(r.timings.map { ($0.stage, .double($0.seconds)) }))),
    ]
    return pairs
}

/// `kept_indices` as JSON: patch indices for one view, `[view, patch]` pairs for an any-resolution image.
func keptIndicesJSON(_ r: ReductionResult) -> JSONValue {
    r.packing == nil ? jsonInts(r.reduction.keptIndices)
        : .array(r.reduction.rows.compactMap(\.patch).map { jsonInts([$0.view, $0.index]) })
}

/// The human-readable report of `reduce` and `demo`.
func report(_ r: ReductionResult, pipeline: TRIMPipeline, image: ImageSource, prompt: String, options: ReductionOptions) -> String {
    let v = pipeline.clip.config.vision
    var lines = [
        "model      \(pipeline.modelDirectory.path)  (vision \(v.layers) layers, \(v.hiddenSize) wide, \(v.imageSize) px / \(v.patchSize) px patches → \(v.patchCount) tokens)",
        "image      \(image.name)  (\(image.width)×\(image.height))",
        "prompt     \"\(prompt)\"" + (r.inputIDs.map { "  (\($0.count) tokens)" } ?? "  (not used by \(r.method))"),
        "method     \(describe(r, options))",
        "result     \(keptSummary(r)) → \(r.tokens) image tokens for the LLM instead of \(r.total)",
    ]
    if let packing = r.packing, let grid = r.encoded.grid {
        let u = packing.grid.unpadded
        let rule = r.encoded.layout.geometry.map { " by the \($0.rawValue) rule" } ?? ""
        lines.insert("views      base + \(grid.tileCount) tiles (\(grid.rows)×\(grid.columns) of the \(grid.canvasHeight)×\(grid.canvasWidth) canvas\(rule), "
                     + "--views \(r.viewsMode?.rawValue ?? "hf")); "
                     + "grid unpadded to \(u.height)×\(u.width) cells, \(packing.newlines) newline rows, "
                     + "\(packing.droppedInPadding) kept cells cut by the unpadding", at: 2)
    }
    if let s = r.reduction.iqr {
        lines.append("threshold  \(r.reduction.signal.name) > \(s.upper)  (Q1 \(s.q1), Q3 \(s.q3))")
    }
    let shown = (r.packing == nil ? r.reduction.keptIndices.prefix(40).map(String.init)
        : r.reduction.rows.compactMap(\.patch).prefix(40).map { "\($0.view):\($0.index)" }).joined(separator: " ")
    lines.append("kept       [\(shown)\(r.kept > 40 ? " …" : "")]")
    if let p = r.projected { lines.append("projected  \(p.shape) via \(pipeline.projector!.kind.rawValue) projector") }
    if let note = r.reduction.note { lines.append("note       \(note)") }
    lines.append("timings    " + r.timings.map { "\($0.stage) \(formatSeconds($0.seconds))" }.joined(separator: " · "))
    return lines.joined(separator: "\n")
}
