import Foundation
import TRIM
import TRIMEval
import TRIMImage
import TRIMJSON
import TRIMResources

/// The bundled demo: a small CLIP trained by the project on its own world of coloured shapes
/// (Tests/Training/train_demo_clip.py), a scene from that world with its objects' masks, and a small
/// LLaVA-style projector (random: there is no language model here to train it for).
enum Demo {
    static let model = "clip-demo"
    static let projector = "projector-demo.safetensors"
    static let scene = "demo"
    static let prompt = "Where is the red ball?"
    /// `trim bench`'s default image (640×480 JPEG; the benchmarks in Docs/PERFORMANCE.md use it).
    static let benchImage = "demo-image.jpg"
    /// `trim demo --anyres`: the image side of a LLaVA-NeXT checkpoint built from the demo CLIP
    /// (Tests/Training/make_demo_next.py), and a wide scene with small objects, `scene.png` (its own directory).
    static let nextModel = "llava-next-demo"
    static let hiresScene = "demo-hires"
    static let hiresImage = "scene.png"
}

let demoCommand = Command(
    name: "demo",
    summary: "run TRIM end to end on the bundled model and scene (no flags needed)",
    synopsis: "[--prompt TEXT] [--method M|all] [--anyres] [--heatmap FILE.png] [--json] [options]",
    description: """
        Runs the whole pipeline — JPEG decode, LLaVA pad + CLIP preprocessing, the vision tower up to
        hidden_states[-2], the text tower, patch scoring, IQR selection, mean token, LLaVA projector —
        on the bundled scene (a red ball, a red star, a blue ball and a yellow square; 640×400) with the
        bundled demo CLIP, reports how many kept patches lie on the object the prompt names (from the
        scene's masks), and writes a heat map. With --method all, every reducer of `trim reduce` runs on
        the one vision pass (the fixed-budget ones at TRIM's row count, or --keep N), each with its
        on-target line, and the heat map shows all of them side by side.

        With --anyres: the bundled high-resolution scene (Weights/demo-hires: a wide picture with small
        objects) through the bundled image side of a LLaVA-NeXT checkpoint (Weights/llava-next-demo, built
        from the demo CLIP; no language model), so any-resolution input is on: TRIM on the base view and
        every tile, the on-target line over all views, what each view hands on, which objects the kept
        patches reach (and what LLaVA-1.5's one padded view reaches), and the heat map of the views.

        The demo CLIP (Weights/clip-demo) was trained by Tests/Training/train_demo_clip.py on generated
        scenes of coloured shapes, so TRIM's choice is meaningful on such pictures (try --prompt "Where is
        the blue ball?" or "the red star"); the projector is random. For real results download
        openai/clip-vit-large-patch14-336 and llava-hf/llava-1.5-7b-hf on a connected machine and run
          trim reduce --model clip-vit-large-patch14-336 --projector llava-1.5-7b-hf \\
                      --image photo.jpg --prompt "What is the man holding?" --heatmap heat.png
        """,
    options: [
        OptionSpec("prompt", .text, placeholder: "TEXT", default: "\"\(Demo.prompt)\"", help: "the question about the scene"),
        Common.method,
    ] + ReducerCatalog.allOptions + [
        OptionSpec("projector", .text, placeholder: "PATH", default: "the bundled projector-demo.safetensors",
                   help: "LLaVA projector (as for `trim reduce`)"),
        Common.selectLayer, Common.weights, Common.noPad,
        OptionSpec("anyres", .flag,
                   help: "the bundled high-resolution scene with the bundled LLaVA-NeXT image side (llava-next-demo as "
                       + "the default --projector): any-resolution input, TRIM on every view"),
        Common.noAnyres, Common.pinpoints, Common.newlines, Common.views,
        OptionSpec("json", .flag, help: "print JSON (JSON Lines with --method all) instead of the report"),
        Common.dump,
        OptionSpec("heatmap", .text, placeholder: "FILE.png", default: "trim-demo-heatmap.png",
                   help: "the heat map (every method side by side with --method all)"),
    ],
    run: { a in
        try a.noPositional()
        let options = try Common.reductionOptions(a)
        let all = try Common.methodName(a) == "all"
        let reducer = try usage { try all ? TRIMReducer(options: options) : ReducerCatalog.make(a.value("method") ?? "trim", a.given) }
        let needs = try all ? usage { try ReducerCatalog.needs(of: ReducerCatalog.comparedAnyResolution, a.given) } : reducer.needs
        guard let model = BundledResources.url(for: Demo.model) else { throw CLIError.missingBundledFile(Demo.model) }
        let hires = a.flag("anyres")
        let projector: URL
        if let p = a.value("projector") { projector = try existingPath(p, what: "projector") } else {
            let name = hires ? Demo.nextModel : Demo.projector
            guard let u = BundledResources.url(for: name) else { throw CLIError.missingBundledFile(name) }
            projector = u
        }
        let sceneName = hires ? Demo.hiresScene : Demo.scene
        guard let sceneDir = BundledResources.url(for: sceneName) else { throw CLIError.missingBundledFile(sceneName) }
        let scene = try SceneDirectory.read(sceneDir)[0]
        let imageURL = sceneDir.appendingPathComponent(hires ? Demo.hiresImage : "scene.jpg")
        let prompt = a.value("prompt") ?? Demo.prompt
        let heatmap = a.value("heatmap") ?? "trim-demo-heatmap.png"

        let pipeline = try TRIMPipeline(modelDirectory: model, projector: projector, selectLayer: options.selectLayer,
                                        weightPrecision: Common.weightPrecision(a), needs: needs)
        let image = try ImageDecoder.decode(contentsOf: imageURL)
        let layout = try Common.layout(a, pipeline: pipeline)
        if layout.isAnyResolution && all {  // every method on the views its release cuts
            let encodings = EncodingsByRule(pipeline: pipeline, image: image, layout: layout, selectLayer: options.selectLayer, needs: needs)
            try runAllAnyResolution(a, encodings: encodings, prompt: prompt, options: options, number: nil,
                                    image: ImageSource(name: imageURL.path, width: image.width, height: image.height),
                                    separator: false, heatmap: heatmap)
            if !a.flag("json") { print("heat map   \(heatmap)") }
            return
        }
        if layout.isAnyResolution {  // --anyres, or a LLaVA-NeXT checkpoint as --projector
            try Common.checkLayout(layout, method: a.value("method") ?? "trim", reducer: all ? nil : reducer)
            return try demoAnyResolution(a, pipeline: pipeline, layout: layout, scene: scene, image: image, imageURL: imageURL,
                                         prompt: prompt, options: options, reducer: reducer, needs: needs, heatmap: heatmap)
        }
        let oneViewNeeds = try all ? usage { try ReducerCatalog.needs(of: ReducerCatalog.compared, a.given) } : needs
        let encoded = try pipeline.encode(image: image, layout: layout, selectLayer: options.selectLayer, needs: oneViewNeeds)
        // The object the prompt names, if it names one of the scene's (colour and shape, synonyms allowed).
        let target = demoTarget(prompt, scene)
        let coverage = target.map { t in
            patchCoverage(mask: scene.objects[t].mask, width: image.width, height: image.height,
                          config: pipeline.preprocessor, layout: layout, grid: pipeline.clip.config.vision.gridSize)
        }
        if all {
            try demoAll(a, pipeline: pipeline, encoded: encoded, prompt: prompt, options: options, heatmap: heatmap,
                        targetName: target.map { scene.objects[$0].name }, coverage: coverage,
                        objects: scene.objects.map(\.name))
            return
        }
        let result = try pipeline.reduce(encoded, prompt: prompt, reducer: reducer)
        try writeOutputs(result, a, pipeline: pipeline, prompt: prompt, options: options)
        try write(renderHeatmapPNG(result, pipeline: pipeline, prompt: prompt, options: options), to: heatmap)
        let score = coverage.map { SelectionScore(kept: result.reduction.keptIndices, coverage: $0) }
        if a.flag("json") {
            var pairs = reductionJSON(result, options: options) + [("heatmap", .string(heatmap))]
            if let t = target, let s = score {
                pairs += [("target", .string(scene.objects[t].name)),
                          ("precision", s.precision.map { .double($0) } ?? .null),
                          ("recall", s.recall.map { .double($0) } ?? .null)]
            }
            printJSON(pairs)
            return
        }
        print(report(result, pipeline: pipeline, image: ImageSource(name: imageURL.path, width: image.width, height: image.height),
                     prompt: prompt, options: options))
        if let t = target, let s = score {
            print("on target  \(s.touching) of \(s.kept) kept patches touch the \(scene.objects[t].name) "
                  + "(precision \(fmt(s.precision))); \(s.halfCoveredKept) of the \(s.halfCovered) patches it covers "
                  + "by half are kept (recall \(fmt(s.recall)))")
        } else {
            print("on target  the prompt names none of the scene's objects (\(scene.objects.map(\.name).joined(separator: ", ")))")
        }
        print("heat map   \(heatmap)")
        print("""

            note: the demo CLIP was trained by this project on generated scenes of coloured shapes (see
            Docs/DEMO_MODEL.md); the projector is random, as there is no language model here. For real
            results run `trim reduce` on openai/clip-vit-large-patch14-336 and llava-hf/llava-1.5-7b-hf
            downloaded on a connected machine (see README.md).
            """)
    })

/// `trim demo --method all`: every reducer on the demo scene, one on-target line each, one side-by-side picture.
private func demoAll(_ a: Arguments, pipeline: TRIMPipeline, encoded: EncodedImage, prompt: String, options: ReductionOptions,
                     heatmap: String, targetName: String?, coverage: [Float]?, objects: [String]) throws {
    let (results, budget) = try allResults(a, pipeline: pipeline, encoded: encoded, prompt: prompt, options: options)
    let picture = sideBySideHeatmap(results, pipeline: pipeline, prompt: prompt, budget: budget, budgetFromTRIM: a.value("keep") == nil)
    try write(PNGEncoder.encode(picture), to: heatmap)
    let scores = results.map { r in coverage.map { SelectionScore(kept: r.reduction.keptIndices, coverage: $0) } }
    if a.flag("json") {
        for (r, s) in zip(results, scores) {
            var pairs: [(String, JSONValue)] = [("method", .string(r.method)), ("settings", .string(r.settings)),
                                                ("tokens", .int(r.tokens)), ("kept_indices", jsonInts(r.reduction.keptIndices))]
            if let s, let t = targetName {
                pairs += [("target", .string(t)), ("precision", s.precision.map { .double($0) } ?? .null),
                          ("recall", s.recall.map { .double($0) } ?? .null)]
            }
            printJSON(pairs + [("heatmap", .string(heatmap))])
        }
        return
    }
    print("prompt     \"\(prompt)\" on \(pipeline.modelDirectory.lastPathComponent), one vision pass for every method")
    print("budget     \(budget) rows for the fixed-budget methods" + (a.value("keep") == nil ? " (TRIM's own count)" : ""))
    if let t = targetName, let first = scores.first ?? nil {
        print("target     the \(t): \(first.halfCovered) patches it covers by half")
        for (r, s) in zip(results, scores) {
            guard let s else { continue }
            print("\(r.method.padding(toLength: 10, withPad: " ", startingAt: 0)) \(String(format: "%4d", r.tokens)) rows · "
                  + "\(s.touching) of \(s.kept) kept patches on target (precision \(fmt(s.precision))) · "
                  + "\(s.halfCoveredKept) of \(s.halfCovered) covered (recall \(fmt(s.recall)))")
        }
    } else {
        print("on target  the prompt names none of the scene's objects (\(objects.joined(separator: ", ")))")
        for r in results { print("\(r.method.padding(toLength: 10, withPad: " ", startingAt: 0)) \(String(format: "%4d", r.tokens)) rows · \(keptSummary(r))") }
    }
    print("heat map   \(heatmap) (every method side by side)")
}

private func fmt(_ x: Double?) -> String { x.map { String(format: "%.2f", $0) } ?? "—" }
