import Foundation
import SafeTensors
import TRIM
import TRIMImage
import TRIMTensor

let preprocessCommand = Command(
    name: "preprocess",
    summary: "decode and preprocess an image exactly as LLaVA + CLIPImageProcessor (or LLaVA-NeXT's processor) do",
    synopsis: "--model DIR --image FILE --output FILE.safetensors [--no-pad | --anyres [--pinpoints HxW,…] [--method M [--views released|hf]]]",
    description: """
        Writes `pixel_values [3, H, W]` (float32) as the vision tower receives it: LLaVA's pad to square,
        Pillow-exact bicubic resize of the short side, center crop, rescale, normalize. The settings
        come from DIR/preprocessor_config.json, else CLIP's defaults at DIR's image size.
        With --anyres: LLaVA-NeXT's views as Hugging Face's LlavaNextImageProcessorPil makes them —
        `pixel_values [V, 3, S, S]` (the base view, then the tiles row by row) and `image_sizes [2]` (int64).
        With --method M as well: the views M's released LLaVA-1.6 code cuts (FasterVLM's own grid rule,
        VisPruner's and CDPruner's fixed 2S×2S canvas, HiRED's padded tiles, …; Hugging Face's with --views
        hf), the rule named in the file's metadata (`view_rule`).
        """,
    options: [
        Common.model, Common.image,
        OptionSpec("output", .text, placeholder: "FILE.safetensors", help: "where pixel_values is written"), Common.noPad,
        Common.anyres, Common.pinpoints,
        OptionSpec("method", .text, placeholder: "M",
                   help: "any resolution: the views method M's release cuts (default Hugging Face's, as TRIM's)"),
        Common.views,
    ],
    run: { a in
        try a.noPositional()
        let model = try existingPath(try a.required("model"), what: "model directory")
        let imageURL = try existingPath(try a.required("image"), what: "image")
        let output = try a.required("output")
        // A LLaVA-NeXT checkpoint as --model brings its pinpoints (and turns any resolution on); an original
        // LLaVA-1.6 one carries no preprocessing of its own.
        let next = LlavaNext.isNext(model)
        if next && LlavaNext.isOriginal(model) {
            throw CLIError.unusable(path: model.path, reason: "an original LLaVA-1.6 checkpoint carries no preprocessing; give its CLIP as --model and the checkpoint's pinpoints as --pinpoints")
        }
        let config = try PreprocessorConfig.forModel(directory: model)
        let image = try ImageDecoder.decode(contentsOf: imageURL)
        var layout = try Common.layout(a, pipeline: nil, checkpointPinpoints: next ? try LlavaNext.pinpoints(of: model) : nil)
        if a.value("method") != nil {
            guard layout.isAnyResolution else { throw UsageError("--method applies to --anyres input (one view is the same for every method)") }
            let method = try Common.methodName(a, allowAll: false)
            // The views depend on the method alone, not on its budget.
            layout = Common.layout(layout, for: try usage { try ReducerCatalog.make(method, a.given, budget: 1) }, a)
        }
        var w = SafeTensorsWriter(metadata: ["producer": "trim preprocess"])
        let px: Tensor
        switch layout {
        case .singleView(let pad):
            px = try pixelValues(for: image, config: config, padToSquare: pad)
        case .anyResolution(let pinpoints, let geometry):
            let s = config.cropHeight
            let (grid, views) = try AnyResolution.pixelValues(
                for: image, config: config, pinpoints: pinpoints.isEmpty ? AnyResolution.defaultPinpoints(viewSize: s) : pinpoints,
                geometry: geometry)
            px = Tensor(shape: [views.count] + views[0].shape, scalars: views.flatMap(\.scalars))
            w.add("image_sizes", int64s: [Int64(image.height), Int64(image.width)], shape: [2])
            let rule = geometry.rawValue
            w.metadata["view_rule"] = rule
            print("grid \(grid.rows)×\(grid.columns) of the \(grid.canvasHeight)×\(grid.canvasWidth) canvas: \(grid.viewCount) views (view rule \(rule))")
        }
        w.add("pixel_values", px)
        try w.write(to: URL(fileURLWithPath: output))
        print("pixel_values \(px.shape) → \(output)")
    })
