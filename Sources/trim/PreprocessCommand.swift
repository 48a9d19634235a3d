import Foundation
import SafeTensors
import TRIM
import TRIMImage
import TRIMTensor

let preprocessCommand = Command(
    name: "preprocess",
    summary: "decode and preprocess an image exactly as LLaVA + CLIPImageProcessor (or LLaVA-NeXT's processor) do",
    synopsis: "--model DIR --image FILE --output FILE.safetensors [--no-pad | --anyres [--pinpoints HxW,…]]",
    description: """
        Writes `pixel_values [3, H, W]` (float32) as the vision tower receives it: LLaVA's pad to square,
        Pillow-exact bicubic resize of the short side, center crop, rescale, normalize. The settings
        come from DIR/preprocessor_config.json, else CLIP's defaults at DIR's image size.
        With --anyres: LLaVA-NeXT's views as Hugging Face's LlavaNextImageProcessorPil makes them —
        `pixel_values [V, 3, S, S]` (the base view, then the tiles row by row) and `image_sizes [2]` (int64).
        """,
    options: [
        Common.model, Common.image,
        OptionSpec("output", .text, placeholder: "FILE.safetensors", help: "where pixel_values is written"), Common.noPad,
        Common.anyres, Common.pinpoints,
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
        var w = SafeTensorsWriter(metadata: ["producer": "trim preprocess"])
        let px: Tensor
        switch try Common.layout(a, pipeline: nil, checkpointPinpoints: next ? try LlavaNext.pinpoints(of: model) : nil) {
        case .singleView(let pad):
            px = try pixelValues(for: image, config: config, padToSquare: pad)
        case .anyResolution(let pinpoints, let geometry):
            let s = config.cropHeight
            let (grid, views) = try AnyResolution.pixelValues(
                for: image, config: config, pinpoints: pinpoints.isEmpty ? AnyResolution.defaultPinpoints(viewSize: s) : pinpoints,
                geometry: geometry)
            px = Tensor(shape: [views.count] + views[0].shape, scalars: views.flatMap(\.scalars))
            w.add("image_sizes", int64s: [Int64(image.height), Int64(image.width)], shape: [2])
            print("grid \(grid.rows)×\(grid.columns) of the \(grid.canvasHeight)×\(grid.canvasWidth) canvas: \(grid.viewCount) views")
        }
        w.add("pixel_values", px)
        try w.write(to: URL(fileURLWithPath: output))
        print("pixel_values \(px.shape) → \(output)")
    })
