import Foundation
import SafeTensors
import TRIM
import TRIMImage
import TRIMJSON

let reduceCommand = Command(
    name: "reduce",
    summary: "reduce an image's tokens for a prompt (TRIM and seven other CLIP-side reducers, random control)",
    usage: """
        usage: trim reduce --model DIR --image FILE --prompt TEXT [--method M] [options]

        TRIM (default) scores every image patch against the prompt in CLIP's joint space, keeps the IQR
        outliers (or a fixed ratio) in spatial order, appends the mean of the rest, and projects them with
        LLaVA's projector when one is given. --method picks another reducer of the family on the same
        features (one vision pass; each computes only what it needs), each as its authors' released code
        computes it (Docs/REDUCERS.md):
          prumerge / prumerge+   [CLS] attention of the last layer, IQR outliers, merged neighbours
          fastervlm              top N by [CLS] attention of the selected layer
          visionzip              dominant tokens by [CLS] attention + contextual tokens merged by keys
          vispruner              important tokens by [CLS] attention + diverse ones
          divprune               max–min diversity of the projector's rows (ignores the prompt)
          cdpruner               conditional DPP: diversity weighted by relevance to the prompt
          random                 the control: random patches + mean token
          all                    every method on one vision pass: a table (JSON Lines with --json), a
                                 dump per method (FILE-<method>.safetensors), one heat map with every
                                 method side by side; fixed budgets = --keep N or TRIM's row count

          --model DIR            Hugging Face CLIP checkpoint directory (config.json + safetensors)
          --image FILE           JPEG or PNG
          --prompt TEXT          the user's question (the text-agnostic methods ignore it); give it several
                                 times to reduce one vision pass against each prompt in turn (JSON
                                 Lines with --json; --dump / --heatmap files get -1, -2, … before the
                                 extension). LLaVA's "<image>" placeholder is replaced by a space.
          --method M             trim (default) | prumerge | prumerge+ | fastervlm | visionzip |
                                 vispruner | divprune | cdpruner | random | all
          --keep N               rows handed to the LLM: fastervlm, visionzip, vispruner, cdpruner (required),
                                 divprune (default int(round(0.098·N))), random (patches), all
          --dominant D --contextual C  visionzip: D rows by attention ([CLS] included) + C merged rows
                                 (with --keep alone: D = round(27·N/32), the released 54+10, 108+20, 162+30)
          --important-ratio R    vispruner: share of the budget chosen by attention (default 0.5)
          --projector PATH       LLaVA projector: llava-hf checkpoint dir / index, original LLaVA, or a file.
                                 divprune / cdpruner choose among its rows (without one: the features,
                                 a convention of this project, said in the output)
          --scoring paper|authors  TRIM: cosine (paper, default) or negated raw dot product (released code);
                                 cdpruner: relevance −cos (authors, the released default) or +cos (paper)
          --iqr-multiplier M     TRIM: keep scores > Q3 + M·(Q3 − Q1) (default 1.5)
          --keep-ratio R         TRIM: keep the top int(N·R) patches instead of the IQR outliers;
                                 PruMerge / PruMerge+: a fixed ratio instead of the adaptive one;
                                 random: keep int(N·R) patches
          --seed S               random: the generator's seed (default 0)
          --no-mean-token        TRIM / random: do not append the mean of the unselected patches
          --select-layer K       hidden state fed to the LLM, Python-style (default -2)
          --weights checkpoint|float32  keep F16 / BF16 weight matrices 16-bit in memory (default) or
                                 convert them to Floats at load; the results are the same bit for bit
          --no-pad               skip LLaVA's pad-to-square
          --json                 print one JSON object instead of the report
          --dump FILE.safetensors  write every intermediate (SPEC names, plus each method's signal:
                                 cls_attention, relevance, pick_order, …)
          --heatmap FILE.png     draw the method's ranking signal over the preprocessed image, kept patches
                                 outlined
        """,
    run: { args in
        let a = try Arguments(
            args, options: ["model", "image", "prompt", "projector", "scoring", "keep-ratio", "iqr-multiplier",
                            "select-layer", "dump", "heatmap", "weights", "method", "keep", "seed", "dominant",
                            "contextual", "important-ratio"],
            flags: ["no-mean-token", "json", "no-pad"], repeatable: ["prompt"])
        try a.noPositional()
        let options = try reductionOptions(a)
        // With `all` (no single reducer), the methods are built per prompt: their budget defaults to TRIM's row count.
        let reducer: (any TokenReducer)? = a.value("method") == "all" ? nil : try makeReducer(a, options: options)
        let needs = try reducer?.needs ?? needsOfEveryMethod(a, options: options)
        let model = try existingPath(try a.required("model"), what: "model directory")
        let imageURL = try existingPath(try a.required("image"), what: "image")
        let prompts = a.all("prompt")
        guard !prompts.isEmpty else { throw UsageError("--prompt is required") }
        let projector = try a.value("projector").map { try existingPath($0, what: "projector") }
        let pipeline = try TRIMPipeline(modelDirectory: model, projector: projector, selectLayer: options.selectLayer,
                                        weightPrecision: try weightPrecision(a), needs: needs)
        let decodeStart = DispatchTime.now().uptimeNanoseconds
        let image = try ImageDecoder.decode(contentsOf: imageURL)
        let decodeSeconds = Double(DispatchTime.now().uptimeNanoseconds - decodeStart) / 1e9
        let encoded = try pipeline.encode(image: image, selectLayer: options.selectLayer, padToSquare: !a.flag("no-pad"),
                                          needs: needs)
        // One vision pass, then one reduction per prompt (in order); several prompts print JSON Lines and
        // number the --dump / --heatmap files (name-1.ext, name-2.ext, …).
        for (i, prompt) in prompts.enumerated() {
            let number = prompts.count > 1 ? i + 1 : nil
            guard let reducer else {  // --method all
                try runAll(a, pipeline: pipeline, encoded: encoded, prompt: prompt, options: options, number: number,
                           imageName: imageURL.path, imageSize: (image.width, image.height),
                           decodeSeconds: i == 0 ? decodeSeconds : nil, separator: i > 0)
                continue
            }
            var result = try pipeline.reduce(encoded, prompt: prompt, reducer: reducer)
            if i == 0 { result.timings.insert(("decode", decodeSeconds), at: 0) } else { result.timings = result.promptTimings }
            try writeOutputs(result, a, pipeline: pipeline, prompt: prompt, options: options, number: number)
            if a.flag("json") {
                printJSON((prompts.count > 1 ? [("prompt", .string(prompt))] : [])
                          + reductionJSON(result, reducer: reducer, options: options))
            } else {
                if i > 0 { print("") }
                print(report(result, pipeline: pipeline, imageName: imageURL.path, imageSize: (image.width, image.height),
                             prompt: prompt, options: options))
            }
        }
    })

/// `--method all` for one prompt: TRIM first, then every other method at the same number of rows (`--keep N`,
/// else TRIM's own), on the one encoding; a table (or JSON Lines, one object per method), a dump per
/// method (`name-<method>.safetensors`) and one side-by-side heat map.
func runAll(_ a: Arguments, pipeline: TRIMPipeline, encoded: EncodedImage, prompt: String, options: ReductionOptions,
            number: Int?, imageName: String, imageSize: (Int, Int), decodeSeconds: Double?, separator: Bool) throws {
    let (results, budget) = try allResults(a, pipeline: pipeline, encoded: encoded, prompt: prompt, options: options)
    if let path = a.value("dump").map({ numbered($0, number) }) {
        for r in results {
            let file = suffixed(path, r.method.replacingOccurrences(of: "+", with: "-plus"))
            let w = r.dump(metadata: ["producer": "trim reduce --method all", "prompt": prompt, "method": r.method,
                                      "options": describe(r, options)])
            do { try w.write(to: URL(fileURLWithPath: file)) } catch { throw CLIError.cannotWrite(path: file, reason: "\(error)") }
        }
    }
    if let path = a.value("heatmap").map({ numbered($0, number) }) {
        let picture = sideBySideHeatmap(results, pipeline: pipeline, prompt: prompt, budget: budget,
                                        budgetFromTRIM: a.value("keep") == nil)
        try write(PNGEncoder.encode(picture), to: path)
    }
    if a.flag("json") {
        for r in results {
            let reducer = try r.method == "trim" ? TRIMReducer(options: options) as any TokenReducer
                : makeReducer(a, options: options, method: r.method, budget: budget)
            printJSON([("prompt", .string(prompt)), ("method", .string(r.method))]
                      + reductionJSON(r, reducer: reducer, options: options).filter { $0.0 != "method" })
        }
        return
    }
    if separator { print("") }
    let v = pipeline.clip.config.vision
    print("model      \(pipeline.modelDirectory.path)  (\(v.patchCount) patches)")
    print("image      \(imageName)  (\(imageSize.0)×\(imageSize.1))" + (decodeSeconds.map { "  decode \(formatSeconds($0))" } ?? ""))
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

/// What the one vision pass must compute for `--method all` (each method's needs do not depend on its budget).
func needsOfEveryMethod(_ a: Arguments, options: ReductionOptions) throws -> ReducerNeeds {
    try reducerMethods.reduce(ReducerNeeds()) { $0.union(try makeReducer(a, options: options, method: $1, budget: 1).needs) }
}

/// Every method on one encoding: TRIM first, then the others at `--keep N` rows or TRIM's own count.
func allResults(_ a: Arguments, pipeline: TRIMPipeline, encoded: EncodedImage, prompt: String, options: ReductionOptions)
    throws -> (results: [ReductionResult], budget: Int)
{
    let trim = try pipeline.reduce(encoded, prompt: prompt, reducer: TRIMReducer(options: options))
    let budget = try a.int("keep", in: 0...1_000_000) ?? trim.tokens
    var results = [trim]
    for method in reducerMethods.dropFirst() {
        results.append(try pipeline.reduce(encoded, prompt: prompt, reducer: try makeReducer(a, options: options, method: method, budget: budget)))
    }
    return (results, budget)
}

/// `name.ext` → `name-suffix.ext`.
func suffixed(_ path: String, _ suffix: String) -> String {
    let ext = (path as NSString).pathExtension
    let stem = ext.isEmpty ? path : String(path.dropLast(ext.count + 1))
    return ext.isEmpty ? "\(stem)-\(suffix)" : "\(stem)-\(suffix).\(ext)"
}

/// Every method's choice on the same image: one panel per result, each drawing that method's signal with
/// its kept patches outlined.
func sideBySideHeatmap(_ results: [ReductionResult], pipeline: TRIMPipeline, prompt: String, budget: Int,
                       budgetFromTRIM: Bool) -> RGBImage {
    let image = denormalizedImage(results[0].encoded.pixelValues, config: pipeline.preprocessor)
    let grid = pipeline.clip.config.vision.gridSize
    let panels = results.map { r in
        HeatmapInput(image: image, gridSize: grid, scores: r.reduction.signal.values, kept: r.reduction.keptIndices,
                     threshold: r.reduction.upper, title: "\(r.method): \(r.tokens) rows, \(keptSummary(r))",
                     subtitle: r.settings, caption: signalCaption(r))
    }
    let title = "\"\(prompt)\" · \(budget) rows for the fixed-budget methods" + (budgetFromTRIM ? " (TRIM's count)" : "")
    return Heatmap.sideBySide(panels, title: title, columns: 3)
}

/// `name.ext` → `name-n.ext` (n given), else unchanged.
func numbered(_ path: String, _ n: Int?) -> String {
    guard let n else { return path }
    let ext = (path as NSString).pathExtension
    let stem = ext.isEmpty ? path : String(path.dropLast(ext.count + 1))
    return ext.isEmpty ? "\(stem)-\(n)" : "\(stem)-\(n).\(ext)"
}

/// Every `--method` of `reduce` except `all`, in the order `--method all` runs and draws them.
let reducerMethods = ["trim", "prumerge", "prumerge+", "fastervlm", "visionzip", "vispruner", "divprune", "cdpruner", "random"]

/// The options each method accepts beyond the shared ones (model, image, prompt, projector, output).
let methodOptions: [String: Set<String>] = [
    "trim": ["scoring", "iqr-multiplier", "keep-ratio", "no-mean-token"],
    "prumerge": ["keep-ratio"], "prumerge+": ["keep-ratio"],
    "fastervlm": ["keep"], "visionzip": ["keep", "dominant", "contextual"], "vispruner": ["keep", "important-ratio"],
    "divprune": ["keep"], "cdpruner": ["keep", "scoring"],
    "random": ["keep", "keep-ratio", "seed", "no-mean-token"],
]

/// The reducer `--method` names, with its options (`reduce` and `demo`). `budget` is the row count for
/// the fixed-budget methods when `--keep` is absent (`--method all` passes TRIM's own count).
func makeReducer(_ a: Arguments, options: ReductionOptions, method: String? = nil, budget: Int? = nil) throws -> any TokenReducer {
    let method = method ?? a.value("method") ?? "trim"
    guard let accepted = methodOptions[method] else {
        throw UsageError("--method must be \(reducerMethods.joined(separator: ", ")) or all, got '\(method)'")
    }
    if budget == nil {  // one method: refuse what does not apply to it (with `all`, options apply where they can)
        for o in methodOptions.values.reduce(into: Set<String>(), { $0.formUnion($1) }).subtracting(accepted).sorted()
        where a.value(o) != nil || a.flag(o) {
            throw UsageError("--\(o) does not apply to --method \(method)")
        }
    }
    let ratio = try a.double("keep-ratio", in: 0...1)
    let keep = try budget ?? a.int("keep", in: 0...1_000_000)
    func needKeep() throws -> Int {
        guard let keep else { throw UsageError("--method \(method) needs --keep N (rows handed to the LLM)") }
        return keep
    }
    switch method {
    case "trim":
        return TRIMReducer(options: options)
    case "prumerge", "prumerge+":
        return PruMerge(plus: method == "prumerge+", keepRatio: budget == nil ? ratio : nil)
    case "fastervlm":
        return FasterVLM(keep: try needKeep())
    case "visionzip":
        let d = try a.int("dominant", in: 1...1_000_000), c = try a.int("contextual", in: 0...1_000_000)
        if d != nil || c != nil {
            guard let d, let c else { throw UsageError("--dominant and --contextual go together") }
            if a.value("keep") != nil && d + c != keep { throw UsageError("--keep \(keep!) is not --dominant \(d) + --contextual \(c)") }
            return VisionZip(dominant: d, contextual: c)
        }
        let k = try needKeep()
        guard k >= 1 else { throw UsageError("--method visionzip needs --keep of at least 1 (the [CLS] row)") }
        return VisionZip(keep: k)
    case "vispruner":
        return VisPruner(keep: try needKeep(), importantRatio: try a.double("important-ratio", in: 0...1) ?? 0.5)
    case "divprune":
        return DivPrune(keep: keep)
    case "cdpruner":
        let scoring = try a.value("scoring").map { s in
            guard let sc = Scoring(rawValue: s) else { throw UsageError("--scoring must be 'paper' or 'authors', got '\(s)'") }
            return sc
        } ?? .authors
        return CDPruner(keep: try needKeep(), scoring: scoring)
    default:  // random
        let seed = UInt64(try a.int("seed", in: 0...Int(Int32.max)) ?? 0), meanToken = !a.flag("no-mean-token")
        if let budget {  // --method all: as many rows as the others, the mean token counting as one
            return RandomSelection(keep: max(budget - (meanToken ? 1 : 0), 0), seed: seed, meanToken: meanToken)
        }
        guard (keep == nil) != (ratio == nil) else { throw UsageError("--method random needs one of --keep N or --keep-ratio R") }
        // With a ratio, the count is int(N·R); N is known once the model is, so it is resolved lazily.
        return RandomSelection(keep: keep ?? -1, seed: seed, meanToken: meanToken, ratio: ratio)
    }
}

/// Parses the TRIM options shared by `reduce`, `demo` and `bench`.
func reductionOptions(_ a: Arguments) throws -> ReductionOptions {
    var o = ReductionOptions()
    if let s = a.value("scoring") {
        guard let sc = Scoring(rawValue: s) else { throw UsageError("--scoring must be 'paper' or 'authors', got '\(s)'") }
        o.scoring = sc
    }
    if a.value("keep-ratio") != nil && a.value("iqr-multiplier") != nil {
        throw UsageError("--keep-ratio and --iqr-multiplier exclude each other")
    }
    if let r = try a.double("keep-ratio", in: 0...1) { o.selection = .keepRatio(r) }
    if let m = try a.double("iqr-multiplier", in: 0...1000) { o.selection = .iqr(multiplier: Float(m)) }
    o.meanToken = !a.flag("no-mean-token")
    if let k = try a.int("select-layer", in: -1000...1000) { o.selectLayer = k }
    return o
}

/// `--weights checkpoint|float32` (default `checkpoint`), shared by `reduce` and `bench`.
func weightPrecision(_ a: Arguments) throws -> WeightPrecision {
    guard let s = a.value("weights") else { return .checkpoint }
    guard let w = WeightPrecision(rawValue: s) else {
        throw UsageError("--weights must be 'checkpoint' or 'float32', got '\(s)'")
    }
    return w
}

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

/// The heat map of a result as PNG bytes: the method's ranking signal, the kept patches outlined.
func renderHeatmapPNG(_ r: ReductionResult, pipeline: TRIMPipeline, prompt: String, options: ReductionOptions) -> [UInt8] {
    let image = denormalizedImage(r.encoded.pixelValues, config: pipeline.preprocessor)
    let grid = pipeline.clip.config.vision.gridSize
    let input = HeatmapInput(
        image: image, gridSize: grid, scores: r.reduction.signal.values, kept: r.reduction.keptIndices,
        threshold: r.reduction.upper, title: prompt, subtitle: "\(describe(r, options)) · \(keptSummary(r))",
        caption: signalCaption(r))
    return PNGEncoder.encode(Heatmap.render(input))
}

/// What a heat map's colours mean: TRIM's softmax score, else the method's signal (log scale).
func signalCaption(_ r: ReductionResult) -> String {
    r.reduction.signal.name == "scores" ? "softmax score (log)" : "\(r.reduction.signal.name) (log)"
}

/// One line: the method, its settings and the layer.
func describe(_ r: ReductionResult, _ o: ReductionOptions) -> String {
    "\(r.method) · \(r.settings) · layer \(o.selectLayer)"
}

func keptSummary(_ r: ReductionResult) -> String {
    let pct = r.total == 0 ? 0 : 100 * Double(r.kept) / Double(r.total)
    let extra = r.tokens - r.kept
    return "kept \(r.kept) of \(r.total) (\(String(format: "%.1f", pct))%)"
        + (extra == 1 ? (r.method == "trim" || r.method == "random" ? " + mean token" : " + 1 merged token")
            : extra > 1 ? " + \(extra) other rows" : "")
}

/// SPEC §3's `reduce --json` object (TRIM's fields unchanged; other methods add `method` and `settings`).
func reductionJSON(_ r: ReductionResult, reducer: any TokenReducer, options o: ReductionOptions) -> [(String, JSONValue)] {
    let red = r.reduction
    var pairs: [(String, JSONValue)] = [
        ("total", .int(r.total)), ("kept", .int(r.kept)), ("tokens", .int(r.tokens)),
        ("kept_indices", jsonInts(red.keptIndices)),
        ("upper", red.upper.map { .double(Double($0)) } ?? .null),
        ("q1", red.q1.map { .double(Double($0)) } ?? .null),
        ("q3", red.q3.map { .double(Double($0)) } ?? .null),
    ]
    if let t = reducer as? TRIMReducer {
        pairs.append(("scoring", .string(t.options.scoring.rawValue)))
        switch t.options.selection {
        case .iqr(let m): pairs += [("selection", "iqr"), ("iqr_multiplier", .double(Double(m)))]
        case .keepRatio(let x): pairs += [("selection", "ratio"), ("keep_ratio", .double(x))]
        }
        pairs.append(("mean_token", .bool(t.options.meanToken)))
    } else {
        pairs += [("method", .string(r.method)), ("settings", .string(r.settings))]
    }
    if let note = r.reduction.note { pairs.append(("note", .string(note))) }
    pairs += [
        ("select_layer", .int(o.selectLayer)),
        ("input_ids", r.inputIDs.map(jsonInts) ?? .null),
        ("reduced_shape", jsonInts(red.reduced.shape)),
        ("projected_shape", r.projected.map { jsonInts($0.shape) } ?? .null),
        ("timings_s", .object(JSONObject(r.timings.map { ($0.stage, .double($0.seconds)) }))),
    ]
    return pairs
}

/// The human-readable report of `reduce` and `demo`.
func report(_ r: ReductionResult, pipeline: TRIMPipeline, imageName: String, imageSize: (Int, Int), prompt: String,
            options: ReductionOptions) -> String {
    let v = pipeline.clip.config.vision
    var lines = [
        "model      \(pipeline.modelDirectory.path)  (vision \(v.layers) layers, \(v.hiddenSize) wide, \(v.imageSize) px / \(v.patchSize) px patches → \(v.patchCount) tokens)",
        "image      \(imageName)  (\(imageSize.0)×\(imageSize.1))",
        "prompt     \"\(prompt)\"" + (r.inputIDs.map { "  (\($0.count) tokens)" } ?? "  (not used by \(r.method))"),
        "method     \(describe(r, options))",
        "result     \(keptSummary(r)) → \(r.tokens) image tokens for the LLM instead of \(r.total)",
    ]
    if let u = r.reduction.upper, let q1 = r.reduction.q1, let q3 = r.reduction.q3 {
        lines.append("threshold  \(r.reduction.signal.name) > \(u)  (Q1 \(q1), Q3 \(q3))")
    }
    let shown = r.reduction.keptIndices.prefix(40).map(String.init).joined(separator: " ")
    lines.append("kept       [\(shown)\(r.kept > 40 ? " …" : "")]")
    if let p = r.projected { lines.append("projected  \(p.shape) via \(pipeline.projector!.kind.rawValue) projector") }
    if let note = r.reduction.note { lines.append("note       \(note)") }
    lines.append("timings    " + r.timings.map { "\($0.stage) \(formatSeconds($0.seconds))" }.joined(separator: " · "))
    return lines.joined(separator: "\n")
}
