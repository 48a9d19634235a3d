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
    if let m = a.value("method"), m != "trim" {
        throw UsageError("--anyres compares TRIM on one view and on every view; --method \(m) has no any-resolution form yet")
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
    let reducer = TRIMReducer(options: options)
    let pipeline = try TRIMPipeline(modelDirectory: modelURL, projector: projectorURL, needs: reducer.needs)
    let s = pipeline.preprocessor.cropHeight
    let pinpoints = try a.value(Common.pinpoints.name).map(Common.parsePinpoints) ?? pipeline.next?.pinpoints ?? []
    let evaluation = AnyResolutionEvaluation(pipeline: pipeline, options: options, pinpoints: pinpoints,
                                             newlines: Common.newlinePolicy(a))

    // Scenes one at a time: a high-resolution scene and its masks take megabytes.
    let count: Int, source: String, scene: (Int) throws -> Scene
    if let input = a.value("input") {
        let scenes = try SceneDirectory.read(try existingPath(input, what: "scene directory"))
        (count, source, scene) = (scenes.count, input, { scenes[$0] })
    } else {
        let n = a.int("scenes") ?? 100, seed = a.int("seed") ?? SceneGenerator.highResolutionSeed
        (count, source) = (n, "\(n) generated high-resolution scenes, seeds \(seed)…\(seed + n - 1)")
        scene = { SceneGenerator.highResolutionScene(seed: UInt64(seed + $0)) }
    }
    let writer = try a.value("write-scenes").map { try SceneDirectory.Writer(URL(fileURLWithPath: $0)) }
    let progress = Progress(label: "eval", quiet: a.flag("quiet"))
    let report = evaluation.run(count: count, scene: { i in
        let s = try scene(i)
        try writer?.add(s)
        return s
    }) { done, total in progress.update(done: done, total: total, unit: "scenes") }
    progress.finish()
    try writer?.finish()
    for (scene, message) in report.failures.prefix(20) {
        FileHandle.standardError.write(Data("warning: \(scene): \(message)\n".utf8))
    }
    let shown = pinpoints.isEmpty ? AnyResolution.defaultPinpoints(viewSize: s) : pinpoints
    let rule = trimRule(options)
    if a.flag("json") {
        func num(_ x: Double?) -> JSONValue { x.map { .double($0) } ?? .null }
        let rows: [JSONValue] = report.rows.map { r in
            .object(JSONObject([
                ("method", .string(r.method.name)), ("layout", .string(layoutKey(r.method))),
                ("rule", .string(r.method.name == "trim" ? rule : "TRIM's count per view")),
                ("prompts", .int(r.prompts)), ("empty", .int(r.empty)),
                ("precision_median", num(r.precision.median)), ("precision_mean", num(r.precision.mean)),
                ("recall_median", num(r.recall.median)), ("recall_mean", num(r.recall.mean)),
                ("recall_prompts", .int(r.recallPrompts)),
                ("kept_median", num(r.keptMedian)), ("tokens_mean", num(r.tokensMean)),
                ("dropped_in_padding_mean", num(r.droppedMean)), ("kept_in_views_without_object", num(r.keptAwayShare)),
                ("found", .int(r.found)), ("found_only", .int(r.foundOnly)),
                ("versus", .string("\(r.method.versus.name) \(layoutKey(r.method.versus))")),
                ("ms_per_prompt", num(r.secondsPerPrompt.map { $0 * 1000 })),
            ]))
        }
        printJSON([
            ("model", .string(modelURL.path)), ("projector", projectorURL.map { .string($0.path) } ?? .null),
            ("source", .string(source)), ("scenes", .int(report.scenes)), ("prompts", .int(report.prompts)),
            ("pinpoints", .array(shown.map { jsonInts([$0.height, $0.width]) })),
            ("newlines", .string(Common.newlinePolicy(a).rawValue)), ("views_mean", .double(report.viewsMean)),
            ("grids", .object(JSONObject(report.grids.map { ($0.grid, .int($0.scenes)) }))),
            ("vision_ms_per_scene", .object(JSONObject([("one_view", .double(report.visionSeconds.oneView * 1000)),
                                                        ("every_view", .double(report.visionSeconds.everyView * 1000))]))),
            ("methods", .array(rows)),
            ("by_size", .array(report.bySize.map { b in
                .object(JSONObject([
                    ("patches_across_from", .double(b.from)), ("patches_across_to", b.to.map { .double($0) } ?? .null),
                    ("prompts", .int(b.prompts)),
                ] + [AnyResolutionEvaluation.Method.trimOneView, .trimEveryView, .randomEveryView].flatMap { m in
                    [("\(m.name)_\(layoutKey(m))_found", JSONValue.int(b.found[m] ?? 0)),
                     ("\(m.name)_\(layoutKey(m))_precision_mean", num(b.precisionMean[m] ?? nil))]
                }))
            })),
            ("failures", .array(report.failures.map { .string("\($0.0): \($0.1)") })),
        ])
        return
    }
    print("trim eval --anyres: \(modelURL.path)")
    print("projector: " + (projectorURL.map { "\($0.path) (LLaVA-NeXT: its vision tower serves both layouts)" }
                           ?? "none: --model's vision tower serves both layouts"))
    print("scenes:    \(source); \(report.prompts) prompts")
    print("layout:    pinpoints " + shown.map { "\($0.height)×\($0.width)" }.joined(separator: ", ")
          + String(format: "; %.1f views per scene (", report.viewsMean)
          + report.grids.map { "\($0.grid) tiles ×\($0.scenes)" }.joined(separator: ", ") + "); newlines \(Common.newlinePolicy(a).rawValue)")
    print("vision:    one view \(formatSeconds(report.visionSeconds.oneView)) per scene · every view "
          + "\(formatSeconds(report.visionSeconds.everyView)) per scene (one batched pass)")
    print("TRIM:      \(rule); the random rows keep as many patches as TRIM in each view")
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
    let encoded = try pipeline.encode(image: image, layout: layout, selectLayer: options.selectLayer, needs: needs)
    let result = try pipeline.reduce(encoded, prompt: prompt, reducer: reducer, newlines: Common.newlinePolicy(a))
    try writeOutputs(result, a, pipeline: pipeline, prompt: prompt, options: options)
    try write(renderHeatmapPNG(result, pipeline: pipeline, prompt: prompt, options: options), to: heatmap)
    guard let grid = encoded.grid else { return }
    let side = pipeline.visionTower.config.gridSize
    let coverage = scene.objects.map {
        anyResolutionCoverage(mask: $0.mask, width: image.width, height: image.height, grid: grid,
                              config: pipeline.preprocessor, side: side)
    }
    let kept = handedOnPatches(result)
    let target = demoTarget(prompt, scene)
    let score = target.map { SelectionScore(kept: kept, coverage: coverage[$0]) }
    // Per view: patches handed on, and how many touch the target.
    let perView = (0..<encoded.views.count).map { v in
        let mine = kept.filter { $0.view == v }
        return (kept: mine.count, onTarget: target.map { t in mine.filter { coverage[t][v][$0.patch] > 0 }.count })
    }
    // Per object: the views whose kept patches touch it.
    let reached = scene.objects.indices.map { o in
        (0..<encoded.views.count).filter { v in kept.contains { $0.view == v && coverage[o][v][$0.patch] > 0 } }
    }
    // The same image as LLaVA-1.5 sees it: one padded view.
    let one = try pipeline.reduce(
        try pipeline.encode(image: image, layout: .llava15, selectLayer: options.selectLayer, needs: needs),
        prompt: prompt, reducer: reducer)
    let oneCoverage = scene.objects.map {
        patchCoverage(mask: $0.mask, width: image.width, height: image.height, config: pipeline.preprocessor,
                      layout: .llava15, grid: side)
    }
    let oneKept = one.reduction.keptIndices
    let oneScore = target.map { SelectionScore(kept: oneKept, coverage: oneCoverage[$0]) }
    let oneReached = scene.objects.indices.filter { o in oneKept.contains { oneCoverage[o][$0] > 0 } }

    func viewName(_ v: Int) -> String { v == 0 ? "base" : "tile \(v)" }
    let names = scene.objects.map(\.name)
    if a.flag("json") {
        var pairs = reductionJSON(result, options: options) + [("scene", .string(imageURL.deletingLastPathComponent().lastPathComponent)),
                                                               ("heatmap", .string(heatmap))]
        if let t = target, let s = score {
            pairs += [("target", .string(names[t])), ("precision", s.precision.map { .double($0) } ?? .null),
                      ("recall", s.recall.map { .double($0) } ?? .null)]
        }
        pairs.append(("per_view", .array(perView.enumerated().map { v, p in
            .object(JSONObject([("view", .int(v)), ("kept", .int(p.kept))] + (p.onTarget.map { [("on_target", .int($0))] } ?? [])))
        })))
        pairs.append(("reached", .array(scene.objects.indices.map { o in
            .object(JSONObject([("object", .string(names[o])), ("views", jsonInts(reached[o]))]))
        })))
        var onePairs: [(String, JSONValue)] = [("kept", .int(one.kept)), ("tokens", .int(one.tokens))]
        if let s = oneScore {
            onePairs += [("precision", s.precision.map { .double($0) } ?? .null), ("recall", s.recall.map { .double($0) } ?? .null)]
        }
        onePairs.append(("reached", .array(oneReached.map { .string(names[$0]) })))
        pairs.append(("one_view", .object(JSONObject(onePairs))))
        printJSON(pairs)
        return
    }
    print(report(result, pipeline: pipeline, image: ImageSource(name: imageURL.path, width: image.width, height: image.height),
                 prompt: prompt, options: options))
    if let t = target, let s = score {
        print("on target  \(s.touching) of \(s.kept) kept patches touch the \(names[t]) (precision \(fmt2(s.precision))); "
              + "\(s.halfCoveredKept) of the \(s.halfCovered) patches it covers by half are kept (recall \(fmt2(s.recall))), "
              + "over all views")
    } else {
        print("on target  the prompt names none of the scene's objects (\(names.joined(separator: ", ")))")
    }
    print("per view   " + perView.enumerated().map { v, p in
        "\(viewName(v)): \(p.kept) kept" + (p.onTarget.map { ", \($0) on target" } ?? "")
    }.joined(separator: " · "))
    let touched = scene.objects.indices.filter { !reached[$0].isEmpty }
    let missed = scene.objects.indices.filter { reached[$0].isEmpty }
    print("reached    " + (touched.isEmpty ? "no object" : touched.map { "\(names[$0]) (\(reached[$0].map(viewName).joined(separator: ", ")))" }
                            .joined(separator: " · "))
          + (missed.isEmpty ? "" : "; not reached: " + missed.map { names[$0] }.joined(separator: ", ")))
    print("one view   TRIM on LLaVA-1.5's one padded view of the same image keeps \(one.kept) of \(one.total)"
          + (oneScore.map { " (precision \(fmt2($0.precision)), recall \(fmt2($0.recall)))" } ?? "")
          + "; reaches " + (oneReached.isEmpty ? "no object" : oneReached.map { names[$0] }.joined(separator: ", ")))
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
