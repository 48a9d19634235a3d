import Foundation
import SafeTensors
import TRIM
import TRIMImage
import TRIMJSON

let reduceCommand = Command(
    name: "reduce",
    summary: "reduce an image's tokens for a prompt (TRIM, PruMerge, PruMerge+, random control)",
    usage: """
        usage: trim reduce --model DIR --image FILE --prompt TEXT [--method M] [options]

        TRIM (default) scores every image patch against the prompt in CLIP's joint space, keeps the IQR
        outliers (or a fixed ratio) in spatial order, appends the mean of the rest, and projects them with
        LLaVA's projector when one is given. --method picks another reducer of the family on the same
        features (one vision pass): prumerge / prumerge+ rank patches by the class token's attention in
        the last layer and merge the rest into the kept ones (the released LLaVA-PruMerge code); random
        keeps patches at random (the control).

          --model DIR            Hugging Face CLIP checkpoint directory (config.json + safetensors)
          --image FILE           JPEG or PNG
          --prompt TEXT          the user's question (PruMerge and random ignore it); give it several
                                 times to reduce one vision pass against each prompt in turn (JSON
                                 Lines with --json; --dump / --heatmap files get -1, -2, … before the
                                 extension). LLaVA's "<image>" placeholder is replaced by a space.
          --method M             trim (default) | prumerge | prumerge+ | random
          --projector PATH       LLaVA projector: llava-hf checkpoint dir / index, original LLaVA, or a file
          --scoring paper|authors  TRIM: cosine (paper, default) or negated raw dot product (released code)
          --iqr-multiplier M     TRIM: keep scores > Q3 + M·(Q3 − Q1) (default 1.5)
          --keep-ratio R         TRIM: keep the top int(N·R) patches instead of the IQR outliers;
                                 PruMerge / PruMerge+: a fixed ratio instead of the adaptive one;
                                 random: keep int(N·R) patches
          --keep N               random: keep N patches
          --seed S               random: the generator's seed (default 0)
          --no-mean-token        TRIM / random: do not append the mean of the unselected patches
          --select-layer K       hidden state fed to the LLM, Python-style (default -2)
          --weights checkpoint|float32  keep F16 / BF16 weight matrices 16-bit in memory (default) or
                                 convert them to Floats at load; the results are the same bit for bit
          --no-pad               skip LLaVA's pad-to-square
          --json                 print one JSON object instead of the report
          --dump FILE.safetensors  write every intermediate (SPEC names; PruMerge adds cls_attention)
          --heatmap FILE.png     draw the method's ranking signal over the preprocessed image, kept patches
                                 outlined
        """,
    run: { args in
        let a = try Arguments(
            args, options: ["model", "image", "prompt", "projector", "scoring", "keep-ratio", "iqr-multiplier",
                            "select-layer", "dump", "heatmap", "weights", "method", "keep", "seed"],
            flags: ["no-mean-token", "json", "no-pad"], repeatable: ["prompt"])
        try a.noPositional()
        let options = try reductionOptions(a)
        let reducer = try makeReducer(a, options: options)
        let model = try existingPath(try a.required("model"), what: "model directory")
        let imageURL = try existingPath(try a.required("image"), what: "image")
        let prompts = a.all("prompt")
        guard !prompts.isEmpty else { throw UsageError("--prompt is required") }
        let projector = try a.value("projector").map { try existingPath($0, what: "projector") }
        let pipeline = try TRIMPipeline(modelDirectory: model, projector: projector, selectLayer: options.selectLayer,
                                        weightPrecision: try weightPrecision(a), needs: reducer.needs)
        let decodeStart = DispatchTime.now().uptimeNanoseconds
        let image = try ImageDecoder.decode(contentsOf: imageURL)
        let decodeSeconds = Double(DispatchTime.now().uptimeNanoseconds - decodeStart) / 1e9
        let encoded = try pipeline.encode(image: image, selectLayer: options.selectLayer, padToSquare: !a.flag("no-pad"),
                                          needs: reducer.needs)
        // One vision pass, then one reduction per prompt (in order); several prompts print JSON Lines and
        // number the --dump / --heatmap files (name-1.ext, name-2.ext, …).
        for (i, prompt) in prompts.enumerated() {
            var result = try pipeline.reduce(encoded, prompt: prompt, reducer: reducer)
            if i == 0 { result.timings.insert(("decode", decodeSeconds), at: 0) } else { result.timings = result.promptTimings }
            try writeOutputs(result, a, pipeline: pipeline, prompt: prompt, options: options,
                             number: prompts.count > 1 ? i + 1 : nil)
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

/// `name.ext` → `name-n.ext` (n given), else unchanged.
func numbered(_ path: String, _ n: Int?) -> String {
    guard let n else { return path }
    let ext = (path as NSString).pathExtension
    let stem = ext.isEmpty ? path : String(path.dropLast(ext.count + 1))
    return ext.isEmpty ? "\(stem)-\(n)" : "\(stem)-\(n).\(ext)"
}

/// The reducer `--method` names, with its options (`reduce` and `demo`).
func makeReducer(_ a: Arguments, options: ReductionOptions) throws -> any TokenReducer {
    let method = a.value("method") ?? "trim"
    let ratio = try a.double("keep-ratio", in: 0...1)
    let keep = try a.int("keep", in: 0...1_000_000)
    func refuse(_ option: String) throws {
        if a.value(option) != nil { throw UsageError("--\(option) does not apply to --method \(method)") }
    }
    switch method {
    case "trim":
        try refuse("keep")
        try refuse("seed")
        return TRIMReducer(options: options)
    case "prumerge", "prumerge+":
        for o in ["keep", "seed", "scoring", "iqr-multiplier"] { try refuse(o) }
        if a.flag("no-mean-token") { throw UsageError("--no-mean-token does not apply to --method \(method)") }
        return PruMerge(plus: method == "prumerge+", keepRatio: ratio)
    case "random":
        for o in ["scoring", "iqr-multiplier"] { try refuse(o) }
        guard (keep == nil) != (ratio == nil) else { throw UsageError("--method random needs one of --keep N or --keep-ratio R") }
        // With a ratio, the count is int(N·R); N is known once the model is, so it is resolved lazily.
        return RandomSelection(keep: keep ?? -1, seed: UInt64(try a.int("seed", in: 0...Int(Int32.max)) ?? 0),
                               meanToken: !a.flag("no-mean-token"), ratio: ratio)
    default:
        throw UsageError("--method must be trim, prumerge, prumerge+ or random, got '\(method)'")
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
        threshold: r.reduction.upper, title: prompt, subtitle: "\(describe(r, options)) · \(keptSummary(r))")
    return PNGEncoder.encode(Heatmap.render(input))
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
    lines.append("timings    " + r.timings.map { "\($0.stage) \(formatSeconds($0.seconds))" }.joined(separator: " · "))
    return lines.joined(separator: "\n")
}
