import Foundation
import TRIM
import TRIMEval
import TRIMImage
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
}

let demoCommand = Command(
    name: "demo",
    summary: "run TRIM end to end on the bundled model and scene (no flags needed)",
    usage: """
        usage: trim demo [--prompt TEXT] [--method M] [--heatmap FILE.png] [--json] [options of `trim reduce`]

        Runs the whole pipeline — JPEG decode, LLaVA pad + CLIP preprocessing, the vision tower up to
        hidden_states[-2], the text tower, patch scoring, IQR selection, mean token, LLaVA projector —
        on the bundled scene (a red ball, a red star, a blue ball and a yellow square; 640×400) with the
        bundled demo CLIP, reports how many kept patches lie on the object the prompt names (from the
        scene's masks), and writes a heat map (default ./trim-demo-heatmap.png).

        The demo CLIP (Weights/clip-demo) was trained by Tests/Training/train_demo_clip.py on generated
        scenes of coloured shapes, so TRIM's choice is meaningful on such pictures (try --prompt "Where is
        the blue ball?" or "the red star"); the projector is random. For real results download
        openai/clip-vit-large-patch14-336 and llava-hf/llava-1.5-7b-hf on a connected machine and run
          trim reduce --model clip-vit-large-patch14-336 --projector llava-1.5-7b-hf \\
                      --image photo.jpg --prompt "What is the man holding?" --heatmap heat.png
        """,
    run: { args in
        let a = try Arguments(
            args, options: ["prompt", "heatmap", "scoring", "keep-ratio", "iqr-multiplier", "select-layer", "dump",
                            "method", "keep", "seed"],
            flags: ["json", "no-mean-token"])
        try a.noPositional()
        let options = try reductionOptions(a)
        let reducer = try makeReducer(a, options: options)
        guard let model = BundledResources.url(for: Demo.model) else { throw CLIError.missingBundledFile(Demo.model) }
        guard let projector = BundledResources.url(for: Demo.projector) else { throw CLIError.missingBundledFile(Demo.projector) }
        guard let sceneDir = BundledResources.url(for: Demo.scene) else { throw CLIError.missingBundledFile(Demo.scene) }
        let scene = try SceneDirectory.read(sceneDir)[0]
        let imageURL = sceneDir.appendingPathComponent("scene.jpg")
        let prompt = a.value("prompt") ?? Demo.prompt
        let heatmap = a.value("heatmap") ?? "trim-demo-heatmap.png"

        let pipeline = try TRIMPipeline(modelDirectory: model, projector: projector, selectLayer: options.selectLayer,
                                        needs: reducer.needs)
        let image = try ImageDecoder.decode(contentsOf: imageURL)
        let encoded = try pipeline.encode(image: image, selectLayer: options.selectLayer, needs: reducer.needs)
        let result = try pipeline.reduce(encoded, prompt: prompt, reducer: reducer)
        try writeOutputs(result, a, pipeline: pipeline, prompt: prompt, options: options)
        try write(renderHeatmapPNG(result, pipeline: pipeline, prompt: prompt, options: options), to: heatmap)
        // The object the prompt names, if it names one of the scene's (colour and shape, synonyms allowed).
        let target = scene.objects.firstIndex { o in
            guard let c = o.colour, let s = o.shape else { return false }
            let words = Set(prompt.lowercased().split { !$0.isLetter }.map(String.init))
            return words.contains(c.rawValue) && !words.isDisjoint(with: SceneGenerator.words(for: s))
        }
        let score = target.map { t in
            SelectionScore(kept: result.reduction.keptIndices,
                           coverage: patchCoverage(mask: scene.objects[t].mask, width: image.width, height: image.height,
                                                   config: pipeline.preprocessor, grid: pipeline.clip.config.vision.gridSize))
        }
        if a.flag("json") {
            var pairs = reductionJSON(result, reducer: reducer, options: options) + [("heatmap", .string(heatmap))]
            if let t = target, let s = score {
                pairs += [("target", .string(scene.objects[t].name)),
                          ("precision", s.precision.map { .double($0) } ?? .null),
                          ("recall", s.recall.map { .double($0) } ?? .null)]
            }
            printJSON(pairs)
            return
        }
        print(report(result, pipeline: pipeline, imageName: imageURL.path, imageSize: (image.width, image.height),
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

private func fmt(_ x: Double?) -> String { x.map { String(format: "%.2f", $0) } ?? "—" }
