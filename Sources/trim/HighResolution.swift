import Foundation
import TRIM
import TRIMEval
import TRIMImage
import TRIMJSON
import TRIMResources

// High-resolution input in the demo and the evaluation: `trim demo --anyres` (the bundled wide scene through the
// bundled LLaVA-NeXT image side) and `trim eval --anyres` (TRIM on one padded view against TRIM on every view).

// MARK: trim eval --anyres

/// `trim eval --anyres`: high-resolution scenes, TRIM and the random control on one view and on every view.
func evalAnyResolution(_ a: Arguments) throws {
    let options = try anyResolutionOptions(a)
    let (modelURL, projectorURL) = try anyResolutionCheckpoints(a)
    if a.value("method") == "all" { return try evalFamilyAnyResolution(a, options: options, model: modelURL, projector: projectorURL) }
    let reducer = TRIMReducer(options: options)
    let pipeline = try TRIMPipeline(modelDirectory: modelURL, projector: projectorURL, needs: reducer.needs)
    let s = pipeline.preprocessor.cropHeight
    let pinpoints = try a.value(Common.pinpoints.name).map(Common.parsePinpoints) ?? pipeline.next?.pinpoints ?? []
    let evaluation = AnyResolutionEvaluation(pipeline: pipeline, options: options, pinpoints: pinpoints,
                                             newlines: Common.newlinePolicy(a))
    let scenes = try AnyResolutionScenes(a)
    let report = try runAnyResolution(evaluation, scenes: scenes, a)
    let header = AnyResolutionHeader(
        model: modelURL, projector: projectorURL, source: scenes.source,
        pinpoints: pinpoints.isEmpty ? AnyResolution.defaultPinpoints(viewSize: s) : pinpoints,
        rule: trimRule(options), newlines: Common.newlinePolicy(a))
    if a.flag("json") {
        printAnyResolutionJSON(report, header)
    } else {
        printAnyResolutionText(report, header)
    }
}

/// TRIM's settings for `trim eval --anyres`, after refusing the options it has no use for.
private func anyResolutionOptions(_ a: Arguments) throws -> ReductionOptions {
    if let m = a.value("method"), m != "trim", m != "all" {
        throw UsageError("trim eval --anyres compares TRIM on one view and on every view, or every method (--method all); not --method \(m) alone")
    }
    if a.value("budgets") != nil { throw UsageError("--budgets applies to the fixed-budget reducers, not to --anyres") }
    if a.value("scoring") == "both" { throw UsageError("--anyres evaluates one scoring: --scoring paper (the default) or authors") }
    var options = ReductionOptions()
    options.scoring = a.value("scoring").flatMap(Scoring.init(rawValue:)) ?? .paper
    if let r = a.double("keep-ratio") {
        if a.value("iqr-multiplier") != nil { throw UsageError("--keep-ratio and --iqr-multiplier exclude each other") }
        options.selection = .keepRatio(r)
    } else {
        options.selection = .iqr(multiplier: Float(a.double("iqr-multiplier") ?? 1.5))
    }
    return options
}

/// The model directory and the LLaVA-NeXT projector checkpoint: `--model` and `--projector`, or the bundled demo
/// model with the bundled LLaVA-NeXT image side when `--model` is not given.
private func anyResolutionCheckpoints(_ a: Arguments) throws -> (model: URL, projector: URL?) {
    let modelURL: URL
    var projectorURL: URL?
    if let m = a.value("model") { modelURL = try existingPath(m, what: "model directory") } else {
        guard let u = BundledResources.url(for: Demo.model) else { throw CLIError.missingBundledFile(Demo.model) }
        modelURL = u
        guard let n = BundledResources.url(for: Demo.nextModel) else { throw CLIError.missingBundledFile(Demo.nextModel) }
        projectorURL = n
    }
    if let p = a.value("projector") {
        let url = try existingPath(p, what: "projector")
        guard LlavaNext.isNext(url) else {
            throw UsageError("--anyres takes a LLaVA-NeXT checkpoint as --projector (its tower, pinpoints and image_newline), or none")
        }
        projectorURL = url
    }
    return (modelURL, projectorURL)
}

/// The scenes of `trim eval --anyres`, handed out one at a time: a high-resolution scene and its masks take megabytes.
private struct AnyResolutionScenes {
    /// How many scenes there are.
    let count: Int
    /// Where they come from, for the report.
    let source: String
    /// The `i`th scene, read from `--input` or generated.
    let scene: (Int) throws -> Scene

    /// The scenes of `--input`, or `--scenes` generated high-resolution scenes from `--seed`.
    init(_ a: Arguments) throws {
        if let input = a.value("input") {
            let scenes = try SceneDirectory.read(try existingPath(input, what: "scene directory"))
            (count, source, scene) = (scenes.count, input, { scenes[$0] })
        } else {
            let n = a.int("scenes") ?? 100, seed = a.int("seed") ?? SceneGenerator.highResolutionSeed
            (count, source) = (n, "\(n) generated high-resolution scenes, seeds \(seed)…\(seed + n - 1)")
            scene = { SceneGenerator.highResolutionScene(seed: UInt64(seed + $0)) }
        }
    }
}

/// Runs `evaluation` on `scenes` with a progress line, writing each scene to `--write-scenes` if given, and warns
/// on stderr about the first 20 failures.
private func runAnyResolution(_ evaluation: AnyResolutionEvaluation, scenes: AnyResolutionScenes,
                              _ a: Arguments) throws -> AnyResolutionEvaluation.Report {
    let writer = try a.value("write-scenes").map { try SceneDirectory.Writer(URL(fileURLWithPath: $0)) }
    let progress = Progress(label: "eval", quiet: a.flag("quiet"))
    let report = evaluation.run(count: scenes.count, scene: { i in
        let s = try scenes.scene(i)
        try writer?.add(s)
        return s
    }) { done, total in progress.update(done: done, total: total, unit: "scenes") }
    progress.finish()
    try writer?.finish()
    for (scene, message) in report.failures.prefix(20) {
        FileHandle.standardError.write(Data("warning: \(scene): \(message)\n".utf8))
    }
    return report
}

/// What `trim eval --anyres` reports besides the measurements: the checkpoints, the scenes and the settings.
private struct AnyResolutionHeader {
    /// The model directory and the LLaVA-NeXT checkpoint, if any.
    let model: URL, projector: URL?
    /// Where the scenes come from.
    let source: String
    /// The canvases in use (Hugging Face's default set when none were given).
    let pinpoints: [Pinpoint]
    /// TRIM's rule, as `trimRule` labels it.
    let rule: String
    /// Which grid rows get an `image_newline`.
    let newlines: NewlinePolicy
}

/// `trim eval --anyres --json`.
private func printAnyResolutionJSON(_ report: AnyResolutionEvaluation.Report, _ h: AnyResolutionHeader) {
    printJSON([
        ("model", .string(h.model.path)), ("projector", h.projector.map { .string($0.path) } ?? .null),
        ("source", .string(h.source)), ("scenes", .int(report.scenes)), ("prompts", .int(report.prompts)),
        ("pinpoints", .array(h.pinpoints.map { jsonInts([$0.height, $0.width]) })),
        ("newlines", .string(h.newlines.rawValue)), ("views_mean", .double(report.viewsMean)),
        ("grids", .object(JSONObject(report.grids.map { ($0.grid, .int($0.scenes)) }))),
        ("vision_ms_per_scene", .object(JSONObject([("one_view", .double(report.visionSeconds.oneView * 1000)),
                                                    ("every_view", .double(report.visionSeconds.everyView * 1000))]))),
        ("methods", .array(report.rows.map { anyResolutionRowJSON($0, rule: h.rule) })),
        ("by_size", .array(report.bySize.map(anyResolutionSizeJSON))),
        ("failures", .array(report.failures.map { .string("\($0.0): \($0.1)") })),
    ])
}

/// A number, or `null` when there is none.
/// One row of `methods` in `trim eval --anyres --json`.
private func anyResolutionRowJSON(_ r: AnyResolutionEvaluation.Row, rule: String) -> JSONValue {
    .object(JSONObject([
        ("method", .string(r.method.name)), ("layout", .string(layoutKey(r.method))),
        ("rule", .string(r.method.name == "trim" ? rule : "TRIM's count per view")),
        ("prompts", .int(r.prompts)), ("empty", .int(r.empty)),
        ("precision_median", jsonNumber(r.precision.median)), ("precision_mean", jsonNumber(r.precision.mean)),
        ("recall_median", jsonNumber(r.recall.median)), ("recall_mean", jsonNumber(r.recall.mean)),
        ("recall_prompts", .int(r.recallPrompts)),
        ("kept_median", jsonNumber(r.keptMedian)), ("tokens_mean", jsonNumber(r.tokensMean)),
        ("dropped_in_padding_mean", jsonNumber(r.droppedMean)), ("kept_in_views_without_object", jsonNumber(r.keptAwayShare)),
        ("found", .int(r.found)), ("found_only", .int(r.foundOnly)),
        ("versus", .string("\(r.method.versus.name) \(layoutKey(r.method.versus))")),
        ("ms_per_prompt", jsonNumber(r.secondsPerPrompt.map { $0 * 1000 })),
    ]))
}

/// One size bin of `by_size` in `trim eval --anyres --json`.
private func anyResolutionSizeJSON(_ b: AnyResolutionEvaluation.SizeRow) -> JSONValue {
    .object(JSONObject([
        ("patches_across_from", .double(b.from)), ("patches_across_to", b.to.map { .double($0) } ?? .null),
        ("prompts", .int(b.prompts)),
    ] + [AnyResolutionEvaluation.Method.trimOneView, .trimEveryView, .randomEveryView].flatMap { m in
        [("\(m.name)_\(layoutKey(m))_found", JSONValue.int(b.found[m] ?? 0)),
         ("\(m.name)_\(layoutKey(m))_precision_mean", jsonNumber(b.precisionMean[m] ?? nil))]
    }))
}

/// `trim eval --anyres` as text: the settings, the method table and the size table with their legends.
private func printAnyResolutionText(_ report: AnyResolutionEvaluation.Report, _ h: AnyResolutionHeader) {
    print("trim eval --anyres: \(h.model.path)")
    print("projector: " + (h.projector.map { "\($0.path) (LLaVA-NeXT: its vision tower serves both layouts)" }
                           ?? "none: --model's vision tower serves both layouts"))
    print("scenes:    \(h.source); \(report.prompts) prompts")
    print("layout:    pinpoints " + h.pinpoints.map { "\($0.height)×\($0.width)" }.joined(separator: ", ")
          + String(format: "; %.1f views per scene (", report.viewsMean)
          + report.grids.map { "\($0.grid) tiles ×\($0.scenes)" }.joined(separator: ", ") + "); newlines \(h.newlines.rawValue)")
    print("vision:    one view \(formatSeconds(report.visionSeconds.oneView)) per scene · every view "
          + "\(formatSeconds(report.visionSeconds.everyView)) per scene (one batched pass)")
    print("TRIM:      \(h.rule); the random rows keep as many patches as TRIM in each view")
    print(anyResolutionTable(report.rows))
    print("recall: median (mean) over the n prompts whose object covers some patch of the row's views by half")
    print("found: prompts whose object some kept patch touches; only: found here, missed by the row compared (one view")
    print("and every view against each other; base view and tiles against one view; random against random)")
    print("")
    print(sizeTable(report.bySize))
    print("1 view, every view: TRIM; random: the random control on every view; size: the diameter of a disc of the")
    print("object's area at the canvas fit's scale, in patches")
    if !report.failures.isEmpty { print("failures:  \(report.failures.count) (see stderr)") }
}

/// `paper · IQR ×1.5`, as `trim eval` labels TRIM's rule.
private func trimRule(_ o: ReductionOptions) -> String {
    switch o.selection {
    case .iqr(let m): return "\(o.scoring.rawValue) · IQR ×\(m)"
    case .keepRatio(let r): return "\(o.scoring.rawValue) · ratio \(r)"
    }
}

/// The JSON name of a row's layout.
private func layoutKey(_ m: AnyResolutionEvaluation.Method) -> String {
    switch m {
    case .trimOneView, .randomOneView: "one_view"
    case .trimEveryView, .randomEveryView: "every_view"
    case .trimBaseView: "base_view"
    case .trimTiles: "tiles"
    }
}

/// The `trim eval --anyres` table.
func anyResolutionTable(_ rows: [AnyResolutionEvaluation.Row]) -> String {
    func f(_ x: Double?, _ digits: Int = 2) -> String { x.map { String(format: "%.\(digits)f", $0) } ?? "—" }
    var lines = ["method  runs on             prompts  precision (mean)  recall (mean)    n  kept  tokens  found  only  empty  ms/prompt"]
    for r in rows {
        lines.append(
            r.method.name.padding(toLength: 8, withPad: " ", startingAt: 0)
                + r.method.layout.padding(toLength: 18, withPad: " ", startingAt: 0)
                + String(format: "%8d", r.prompts)
                + "  " + "\(f(r.precision.median)) (\(f(r.precision.mean)))".padding(toLength: 16, withPad: " ", startingAt: 0)
                + "  " + "\(f(r.recall.median)) (\(f(r.recall.mean)))".padding(toLength: 13, withPad: " ", startingAt: 0)
                + right("\(r.recallPrompts)", 5) + "  " + right(f(r.keptMedian, 0), 4) + "  " + right(f(r.tokensMean, 1), 6)
                + "  " + right("\(r.found)", 5) + "  " + right("\(r.foundOnly)", 4) + String(format: "  %5d", r.empty)
                + "  " + right(f(r.secondsPerPrompt.map { $0 * 1000 }), 9))
    }
    return lines.joined(separator: "\n")
}

/// Found and precision by the object's size on the tiles.
func sizeTable(_ bins: [AnyResolutionEvaluation.SizeRow]) -> String {
    let methods: [AnyResolutionEvaluation.Method] = [.trimOneView, .trimEveryView, .randomEveryView]
    func f(_ x: Double?) -> String { x.map { String(format: "%.2f", $0) } ?? "—" }
    func g(_ x: Double) -> String { x == x.rounded() ? String(Int(x)) : String(format: "%.1f", x) }
    var lines = ["object on the tiles   prompts   found 1 view  every view  random   precision 1 view  every view  random"]
    for b in bins {
        let size = b.to.map { "\(g(b.from))–\(g($0)) patches" } ?? "≥ \(g(b.from)) patches"
        lines.append(size.padding(toLength: 20, withPad: " ", startingAt: 0) + String(format: "%9d", b.prompts) + "   "
                     + zip(methods, [12, 12, 8]).map { right("\(b.found[$0.0] ?? 0)", $0.1) }.joined() + "   "
                     + zip(methods, [16, 12, 8]).map { right(f(b.precisionMean[$0.0] ?? nil), $0.1) }.joined())
    }
    return lines.joined(separator: "\n")
}

// MARK: trim demo --anyres

/// The object of `scene` the prompt names (its colour and one of its shape's words), if any.
func demoTarget(_ prompt: String, _ scene: Scene) -> Int? {
    scene.objects.firstIndex { o in
        guard let c = o.colour, let s = o.shape else { return false }
        let words = Set(prompt.lowercased().split { !$0.isLetter }.map(String.init))
        return words.contains(c.rawValue) && !words.isDisjoint(with: SceneGenerator.words(for: s))
    }
}

/// `trim demo` at any resolution: TRIM on every view of the scene, an on-target line over all views, what each
/// view handed on, which objects the kept patches reach (and what one padded view reaches), the heat map.
func demoAnyResolution(_ a: Arguments, pipeline: TRIMPipeline, layout: ImageLayout, scene: Scene, image: RGBImage,
                       imageURL: URL, prompt: String, options: ReductionOptions, reducer: any TokenReducer,
                       needs: ReducerNeeds, heatmap: String) throws {
    let encoded = try pipeline.encode(image: image, layout: Common.layout(layout, for: reducer, a), selectLayer: options.selectLayer,
                                      needs: needs)
    let result = try pipeline.reduce(encoded, prompt: prompt, reducer: reducer, newlines: Common.newlinePolicy(a),
                                     views: Common.viewsMode(a))
    try writeOutputs(result, a, pipeline: pipeline, prompt: prompt, options: options)
    try write(renderHeatmapPNG(result, pipeline: pipeline, prompt: prompt, options: options), to: heatmap)
    guard let grid = encoded.grid else { return }
    let reach = try AnyResolutionDemoReach(encoded, result, grid: grid, pipeline: pipeline, scene: scene, image: image,
                                           prompt: prompt, options: options, reducer: reducer, needs: needs)
    if a.flag("json") {
        printDemoAnyResolutionJSON(reach, result: result, options: options, imageURL: imageURL, heatmap: heatmap)
        return
    }
    print(report(result, pipeline: pipeline, image: ImageSource(name: imageURL.path, width: image.width, height: image.height),
                 prompt: prompt, options: options))
    printDemoAnyResolutionText(reach, heatmap: heatmap)
}

/// What TRIM's selection over every view of the demo scene reaches, and what TRIM on LLaVA-1.5's one padded view
/// of the same image reaches.
private struct AnyResolutionDemoReach {
    /// The scene's object names.
    let names: [String]
    /// The object the prompt names, if any, and the every-view selection's score on it.
    let target: Int?, score: SelectionScore?
    /// Per view: patches handed on, and how many touch the target.
    let perView: [(kept: Int, onTarget: Int?)]
    /// Per object: the views whose kept patches touch it.
    let reached: [[Int]]
    /// The same image as LLaVA-1.5 sees it: TRIM's result on one padded view, its score on the target, and the
    /// objects its kept patches touch.
    let one: ReductionResult, oneScore: SelectionScore?, oneReached: [Int]

    /// `result`'s kept patches against the objects' coverage in every view of `grid`, then the one-view run.
    init(_ encoded: EncodedImage, _ result: ReductionResult, grid: AnyResolutionGrid, pipeline: TRIMPipeline,
         scene: Scene, image: RGBImage, prompt: String, options: ReductionOptions, reducer: any TokenReducer,
         needs: ReducerNeeds) throws {
        let side = pipeline.visionTower.config.gridSize
        let coverage = scene.objects.map {
            anyResolutionCoverage(mask: $0.mask, width: image.width, height: image.height, grid: grid,
                                  config: pipeline.preprocessor, side: side)
        }
        let kept = handedOnPatches(result)
        let target = demoTarget(prompt, scene)
        names = scene.objects.map(\.name)
        self.target = target
        score = target.map { SelectionScore(kept: kept, coverage: coverage[$0]) }
        perView = (0..<encoded.views.count).map { v in
            let mine = kept.filter { $0.view == v }
            return (kept: mine.count, onTarget: target.map { t in mine.filter { coverage[t][v][$0.patch] > 0 }.count })
        }
        reached = scene.objects.indices.map { o in
            (0..<encoded.views.count).filter { v in kept.contains { $0.view == v && coverage[o][v][$0.patch] > 0 } }
        }
        (one, oneScore, oneReached) = try Self.oneView(pipeline: pipeline, scene: scene, image: image, prompt: prompt,
                                                       target: target, options: options, reducer: reducer, needs: needs)
    }

    /// TRIM on LLaVA-1.5's one padded view of the same image, scored against the same objects.
    private static func oneView(pipeline: TRIMPipeline, scene: Scene, image: RGBImage, prompt: String, target: Int?,
                                options: ReductionOptions, reducer: any TokenReducer,
                                needs: ReducerNeeds) throws -> (ReductionResult, SelectionScore?, [Int]) {
        let one = try pipeline.reduce(
            try pipeline.encode(image: image, layout: .llava15, selectLayer: options.selectLayer, needs: needs),
            prompt: prompt, reducer: reducer)
        let oneCoverage = scene.objects.map {
            patchCoverage(mask: $0.mask, width: image.width, height: image.height, config: pipeline.preprocessor,
                          layout: .llava15, grid: pipeline.visionTower.config.gridSize)
        }
        let oneKept = one.reduction.keptIndices
        return (one, target.map { SelectionScore(kept: oneKept, coverage: oneCoverage[$0]) },
                scene.objects.indices.filter { o in oneKept.contains { oneCoverage[o][$0] > 0 } })
    }
}

/// A view's name in the demo's lines: the base view, or a tile by number.
private func demoViewName(_ v: Int) -> String { v == 0 ? "base" : "tile \(v)" }

/// `trim demo --anyres --json`: the reduction's fields, then the target's score, the views, the objects reached and
/// the one-view comparison.
private func printDemoAnyResolutionJSON(_ d: AnyResolutionDemoReach, result: ReductionResult, options: ReductionOptions,
                                        imageURL: URL, heatmap: String) {
    let names = d.names
    var pairs = reductionJSON(result, options: options) + [("scene", .string(imageURL.deletingLastPathComponent().lastPathComponent)),
                                                           ("heatmap", .string(heatmap))]
    if let t = d.target, let s = d.score {
        pairs += [("target", .string(names[t])), ("precision", s.precision.map { .double($0) } ?? .null),
                  ("recall", s.recall.map { .double($0) } ?? .null)]
    }
    pairs.append(("per_view", .array(d.perView.enumerated().map { v, p in
        .object(JSONObject([("view", .int(v)), ("kept", .int(p.kept))] + (p.onTarget.map { [("on_target", .int($0))] } ?? [])))
    })))
    pairs.append(("reached", .array(names.indices.map { o in
        .object(JSONObject([("object", .string(names[o])), ("views", jsonInts(d.reached[o]))]))
    })))
    var onePairs: [(String, JSONValue)] = [("kept", .int(d.one.kept)), ("tokens", .int(d.one.tokens))]
    if let s = d.oneScore {
        onePairs += [("precision", s.precision.map { .double($0) } ?? .null), ("recall", s.recall.map { .double($0) } ?? .null)]
    }
    onePairs.append(("reached", .array(d.oneReached.map { .string(names[$0]) })))
    pairs.append(("one_view", .object(JSONObject(onePairs))))
    printJSON(pairs)
}

/// `trim demo --anyres` as text, after the reduction's report: on target, per view, reached, one view, the heat
/// map and the note on the demo model.
private func printDemoAnyResolutionText(_ d: AnyResolutionDemoReach, heatmap: String) {
    let names = d.names
    if let t = d.target, let s = d.score {
        print("on target  \(s.touching) of \(s.kept) kept patches touch the \(names[t]) (precision \(fmt2(s.precision))); "
              + "\(s.halfCoveredKept) of the \(s.halfCovered) patches it covers by half are kept (recall \(fmt2(s.recall))), "
              + "over all views")
    } else {
        print("on target  the prompt names none of the scene's objects (\(names.joined(separator: ", ")))")
    }
    print("per view   " + d.perView.enumerated().map { v, p in
        "\(demoViewName(v)): \(p.kept) kept" + (p.onTarget.map { ", \($0) on target" } ?? "")
    }.joined(separator: " · "))
    let touched = names.indices.filter { !d.reached[$0].isEmpty }
    let missed = names.indices.filter { d.reached[$0].isEmpty }
    print("reached    " + (touched.isEmpty ? "no object" : touched.map { "\(names[$0]) (\(d.reached[$0].map(demoViewName).joined(separator: ", ")))" }
                            .joined(separator: " · "))
          + (missed.isEmpty ? "" : "; not reached: " + missed.map { names[$0] }.joined(separator: ", ")))
    print("one view   TRIM on LLaVA-1.5's one padded view of the same image keeps \(d.one.kept) of \(d.one.total)"
          + (d.oneScore.map { " (precision \(fmt2($0.precision)), recall \(fmt2($0.recall)))" } ?? "")
          + "; reaches " + (d.oneReached.isEmpty ? "no object" : d.oneReached.map { names[$0] }.joined(separator: ", ")))
    print("heat map   \(heatmap) (the base view beside the tiles, the packed order under them)")
    print("""

        note: the demo CLIP was trained by this project on generated scenes of coloured shapes, and
        Weights/llava-next-demo is only the image side of a LLaVA-NeXT checkpoint built from it (its tower,
        the random demo projector, a random image_newline; no language model): see Docs/DEMO_MODEL.md.
        For real results run `trim reduce` with a LLaVA-NeXT checkpoint such as
        llava-hf/llava-v1.6-vicuna-7b-hf as --projector (see README.md).
        """)
}

private func fmt2(_ x: Double?) -> String { x.map { String(format: "%.2f", $0) } ?? "—" }

// MARK: trim eval --anyres --method all

/// `trim eval --anyres --method all`: every method on Hugging Face's views and packing at matched total budgets.
private func evalFamilyAnyResolution(_ a: Arguments, options: ReductionOptions, model: URL, projector: URL?) throws {
    if let v = a.value(Common.views.name), v != ViewsMode.hf.rawValue {
        throw UsageError("trim eval --anyres --method all compares the methods on Hugging Face's views and packing (--views hf)")
    }
    let needs = try usage { try ReducerCatalog.needs(of: FamilyAnyResolutionEvaluation.methods) }
    let pipeline = try TRIMPipeline(modelDirectory: model, projector: projector, needs: needs)
    let pinpoints = try a.value(Common.pinpoints.name).map(Common.parsePinpoints) ?? pipeline.next?.pinpoints ?? []
    let evaluation = FamilyAnyResolutionEvaluation(pipeline: pipeline, options: options, pinpoints: pinpoints,
                                                   newlines: Common.newlinePolicy(a), keep: a.int("keep"))
    let scenes = try AnyResolutionScenes(a)
    let progress = Progress(label: "eval", quiet: a.flag("quiet"))
    let report = evaluation.run(count: scenes.count, scene: scenes.scene) { done, total in progress.update(done: done, total: total, unit: "scenes") }
    progress.finish()
    for (scene, message) in report.failures.prefix(20) { FileHandle.standardError.write(Data("warning: \(scene): \(message)\n".utf8)) }
    if a.flag("json") {
        for r in report.rows {
            printJSON([("method", .string(r.method)), ("prompts", .int(r.prompts)), ("empty", .int(r.empty)),
                       ("precision_median", jsonNumber(r.precision.median)), ("precision_mean", jsonNumber(r.precision.mean)),
                       ("recall_median", jsonNumber(r.recall.median)), ("recall_mean", jsonNumber(r.recall.mean)),
                       ("rows_mean", jsonNumber(r.rowsMean)), ("kept_median", jsonNumber(r.keptMedian)),
                       ("found", .int(r.found)), ("small_found", .int(r.smallFound)), ("small_prompts", .int(report.smallPrompts)),
                       ("seconds_per_prompt", jsonNumber(r.secondsPerPrompt))])
        }
        return
    }
    print("trim eval --anyres --method all: \(model.path)" + (projector.map { " with \($0.path)" } ?? ""))
    print("scenes:    \(scenes.source); \(report.prompts) prompts, \(report.smallPrompts) about objects under "
          + "\(FamilyAnyResolutionEvaluation.smallBelow) patches across on the tiles")
    print("views:     Hugging Face's views and packing for every method (--views hf), newlines \(Common.newlinePolicy(a).rawValue); "
          + "one vision pass per scene, \(formatSeconds(report.visionSeconds))")
    print("budget:    " + (a.int("keep").map { "\($0) rows in all" } ?? "TRIM's own row count per prompt")
          + ": per view for fastervlm, visionzip, vispruner, cdpruner, random; whole for divprune; the rate for hired, globalcom2")
    print("method       prec med (mean)   recall med (mean)   rows   kept  found  small   ms/prompt")
    for r in report.rows {
        print(r.method.padding(toLength: 12, withPad: " ", startingAt: 0) + " "
              + "\(fmt2(r.precision.median)) (\(fmt2(r.precision.mean)))     \(fmt2(r.recall.median)) (\(fmt2(r.recall.mean)))      "
              + String(format: "%5.0f  %5.0f  %5d  %5d   %9.1f", r.rowsMean ?? 0, r.keptMedian ?? 0, r.found, r.smallFound,
                       1000 * (r.secondsPerPrompt ?? 0)))
    }
    print("found: prompts whose object some handed-on patch touches; small: of those, objects under "
          + "\(FamilyAnyResolutionEvaluation.smallBelow) patches across on the tiles")
    if !report.failures.isEmpty { print("failures:  \(report.failures.count) (see stderr)") }
}

private func jsonNumber(_ x: Double?) -> JSONValue { x.map { .double($0) } ?? .null }
