import Foundation
import SafeTensors
import TRIM
import TRIMImage
import TRIMJSON

let reduceCommand = Command(
    name: "reduce",
    summary: "run TRIM: image + prompt → the kept image tokens (and projected LLM tokens)",
    usage: """
        usage: trim reduce --model DIR --image FILE --prompt TEXT [options]

        Scores every image patch against the prompt in CLIP's joint space, keeps the IQR outliers
        (or a fixed ratio) in spatial order, appends the mean of the rest, and projects them with
        LLaVA's projector when one is given.

          --model DIR            Hugging Face CLIP checkpoint directory (config.json + safetensors)
          --image FILE           JPEG or PNG
          --prompt TEXT          the user's question
          --projector PATH       LLaVA projector: llava-hf checkpoint dir / index, original LLaVA, or a file
          --scoring paper|authors  cosine (paper, default) or negated raw dot product (released code)
          --iqr-multiplier M     IQR rule: keep scores > Q3 + M·(Q3 − Q1) (default 1.5)
          --keep-ratio R         keep the top int(N·R) patches instead of the IQR outliers
          --no-mean-token        do not append the mean of the unselected patches
          --select-layer K       hidden state fed to the LLM, Python-style (default -2)
          --weights checkpoint|float32  keep F16 / BF16 weight matrices 16-bit in memory (default) or
                                 convert them to Floats at load; the results are the same bit for bit
          --no-pad               skip LLaVA's pad-to-square
          --json                 print one JSON object instead of the report
          --dump FILE.safetensors  write every intermediate (SPEC names) for numpy
          --heatmap FILE.png     draw the scores over the preprocessed image, kept patches outlined
        """,
    run: { args in
        let a = try Arguments(
            args, options: ["model", "image", "prompt", "projector", "scoring", "keep-ratio", "iqr-multiplier",
                            "select-layer", "dump", "heatmap", "weights"],
            flags: ["no-mean-token", "json", "no-pad"])
        try a.noPositional()
        let options = try reductionOptions(a)
        let model = try existingPath(try a.required("model"), what: "model directory")
        let imageURL = try existingPath(try a.required("image"), what: "image")
        let prompt = try a.required("prompt")
        let projector = try a.value("projector").map { try existingPath($0, what: "projector") }
        let pipeline = try TRIMPipeline(modelDirectory: model, projector: projector, selectLayer: options.selectLayer,
                                        weightPrecision: try weightPrecision(a))
        let decodeStart = DispatchTime.now().uptimeNanoseconds
        let image = try ImageDecoder.decode(contentsOf: imageURL)
        let decodeSeconds = Double(DispatchTime.now().uptimeNanoseconds - decodeStart) / 1e9
        var result = try pipeline.run(image: image, prompt: prompt, options: options, padToSquare: !a.flag("no-pad"))
        result.timings.insert(("decode", decodeSeconds), at: 0)
        try writeOutputs(result, a, pipeline: pipeline, prompt: prompt, options: options)
        if a.flag("json") {
            printJSON(reductionJSON(result, options: options))
        } else {
            print(report(result, pipeline: pipeline, imageName: imageURL.path, imageSize: (image.width, image.height),
                         prompt: prompt, options: options))
        }
    })

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
func writeOutputs(_ r: TRIMResult, _ a: Arguments, pipeline: TRIMPipeline, prompt: String, options: ReductionOptions) throws {
    if let path = a.value("dump") {
        let w = r.dump(metadata: ["producer": "trim reduce", "prompt": prompt, "options": describe(options)])
        do { try w.write(to: URL(fileURLWithPath: path)) } catch { throw CLIError.cannotWrite(path: path, reason: "\(error)") }
    }
    if let path = a.value("heatmap") {
        let png = renderHeatmapPNG(r, pipeline: pipeline, prompt: prompt, options: options)
        try write(png, to: path)
    }
}

/// The heat map of a result as PNG bytes.
func renderHeatmapPNG(_ r: TRIMResult, pipeline: TRIMPipeline, prompt: String, options: ReductionOptions) -> [UInt8] {
    let image = denormalizedImage(r.pixelValues, config: pipeline.preprocessor)
    let grid = pipeline.clip.config.vision.gridSize
    let input = HeatmapInput(
        image: image, gridSize: grid, scores: r.patchScores.scores, kept: r.selection.keptIndices,
        threshold: r.selection.upper, title: prompt, subtitle: "\(describe(options)) · \(keptSummary(r))")
    return PNGEncoder.encode(Heatmap.render(input))
}

func describe(_ o: ReductionOptions) -> String {
    let sel: String
    switch o.selection {
    case .iqr(let m): sel = "IQR ×\(m)"
    case .keepRatio(let r): sel = "keep ratio \(r)"
    }
    return "scoring \(o.scoring.rawValue) · \(sel) · layer \(o.selectLayer)\(o.meanToken ? " · mean token" : "")"
}

func keptSummary(_ r: TRIMResult) -> String {
    let pct = r.total == 0 ? 0 : 100 * Double(r.kept) / Double(r.total)
    return "kept \(r.kept) of \(r.total) (\(String(format: "%.1f", pct))%)" + (r.tokens > r.kept ? " + mean token" : "")
}

/// SPEC §3's `reduce --json` object.
func reductionJSON(_ r: TRIMResult, options o: ReductionOptions) -> [(String, JSONValue)] {
    var sel: [(String, JSONValue)]
    switch o.selection {
    case .iqr(let m): sel = [("selection", "iqr"), ("iqr_multiplier", .double(Double(m)))]
    case .keepRatio(let x): sel = [("selection", "ratio"), ("keep_ratio", .double(x))]
    }
    var pairs: [(String, JSONValue)] = [
        ("total", .int(r.total)), ("kept", .int(r.kept)), ("tokens", .int(r.tokens)),
        ("kept_indices", jsonInts(r.selection.keptIndices)),
        ("upper", r.selection.upper.map { .double(Double($0)) } ?? .null),
        ("q1", r.selection.q1.map { .double(Double($0)) } ?? .null),
        ("q3", r.selection.q3.map { .double(Double($0)) } ?? .null),
        ("scoring", .string(o.scoring.rawValue)),
    ]
    pairs += sel
    pairs += [
        ("mean_token", .bool(o.meanToken)), ("select_layer", .int(o.selectLayer)),
        ("input_ids", jsonInts(r.inputIDs)),
        ("reduced_shape", jsonInts(r.reduced.shape)),
        ("projected_shape", r.projected.map { jsonInts($0.shape) } ?? .null),
        ("timings_s", .object(JSONObject(r.timings.map { ($0.stage, .double($0.seconds)) }))),
    ]
    return pairs
}

/// The human-readable report of `reduce` and `demo`.
func report(_ r: TRIMResult, pipeline: TRIMPipeline, imageName: String, imageSize: (Int, Int), prompt: String,
            options: ReductionOptions) -> String {
    let v = pipeline.clip.config.vision
    var lines = [
        "model      \(pipeline.modelDirectory.path)  (vision \(v.layers) layers, \(v.hiddenSize) wide, \(v.imageSize) px / \(v.patchSize) px patches → \(v.patchCount) tokens)",
        "image      \(imageName)  (\(imageSize.0)×\(imageSize.1))",
        "prompt     \"\(prompt)\"  (\(r.inputIDs.count) tokens)",
        "options    \(describe(options))",
        "result     \(keptSummary(r)) → \(r.tokens) image tokens for the LLM instead of \(r.total)",
    ]
    if let u = r.selection.upper, let q1 = r.selection.q1, let q3 = r.selection.q3 {
        lines.append("threshold  score > \(u)  (Q1 \(q1), Q3 \(q3))")
    }
    let shown = r.selection.keptIndices.prefix(40).map(String.init).joined(separator: " ")
    lines.append("kept       [\(shown)\(r.kept > 40 ? " …" : "")]")
    if let p = r.projected { lines.append("projected  \(p.shape) via \(pipeline.projector!.kind.rawValue) projector") }
    lines.append("timings    " + r.timings.map { "\($0.stage) \(formatSeconds($0.seconds))" }.joined(separator: " · "))
    return lines.joined(separator: "\n")
}
