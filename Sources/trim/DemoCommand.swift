import Foundation
import TRIM
import TRIMImage
import TRIMResources

/// The bundled demo: a small CLIP in Hugging Face layout, a small LLaVA-style projector and a sample
/// image, all made by the project's own scripts (Tests/Goldens/*.py). Their weights are random.
enum Demo {
    static let model = "clip-tiny"
    static let projector = "projector-tiny.safetensors"
    static let image = "demo-image.jpg"
    static let prompt = "Where is the red ball?"
}

let demoCommand = Command(
    name: "demo",
    summary: "run TRIM end to end on the bundled model and image (no flags needed)",
    usage: """
        usage: trim demo [--prompt TEXT] [--heatmap FILE.png] [--json] [TRIM options of `trim reduce`]

        Runs the whole pipeline — JPEG decode, LLaVA pad + CLIP preprocessing, the vision tower up to
        hidden_states[-2], the text tower, patch scoring, IQR selection, mean token, LLaVA projector —
        on the bundled sample image and a small bundled model, and writes a heat map
        (default ./trim-demo-heatmap.png).

        The bundled weights are RANDOM (a trained demo model will follow): the pipeline and the numbers'
        plumbing are real, the choice of patches is not meaningful. For real results download
        openai/clip-vit-large-patch14-336 and llava-hf/llava-1.5-7b-hf on a connected machine and run
          trim reduce --model clip-vit-large-patch14-336 --projector llava-1.5-7b-hf \\
                      --image photo.jpg --prompt "What is the man holding?" --heatmap heat.png
        """,
    run: { args in
        let a = try Arguments(
            args, options: ["prompt", "heatmap", "scoring", "keep-ratio", "iqr-multiplier", "select-layer", "dump"],
            flags: ["json", "no-mean-token"])
        try a.noPositional()
        let options = try reductionOptions(a)
        guard let model = BundledResources.url(for: Demo.model) else { throw CLIError.missingBundledFile(Demo.model) }
        guard let projector = BundledResources.url(for: Demo.projector) else { throw CLIError.missingBundledFile(Demo.projector) }
        guard let imageURL = BundledResources.url(for: Demo.image) else { throw CLIError.missingBundledFile(Demo.image) }
        let prompt = a.value("prompt") ?? Demo.prompt
        let heatmap = a.value("heatmap") ?? "trim-demo-heatmap.png"

        let pipeline = try TRIMPipeline(modelDirectory: model, projector: projector, selectLayer: options.selectLayer)
        let image = try ImageDecoder.decode(contentsOf: imageURL)
        let result = try pipeline.run(image: image, prompt: prompt, options: options)
        try writeOutputs(result, a, pipeline: pipeline, prompt: prompt, options: options)
        try write(renderHeatmapPNG(result, pipeline: pipeline, prompt: prompt, options: options), to: heatmap)
        if a.flag("json") {
            printJSON(reductionJSON(result, options: options) + [("heatmap", .string(heatmap))])
            return
        }
        print(report(result, pipeline: pipeline, imageName: imageURL.path, imageSize: (image.width, image.height),
                     prompt: prompt, options: options))
        print("heat map   \(heatmap)")
        print("""

            note: the bundled model and projector have RANDOM weights (made by Tests/Goldens/*.py; a trained
            demo model will follow), so which patches are kept carries no meaning here — every stage is the
            real computation. For real results run `trim reduce` on openai/clip-vit-large-patch14-336 and
            llava-hf/llava-1.5-7b-hf downloaded on a connected machine (see README.md).
            """)
    })
