import Foundation
import SafeTensors
import TRIM
import TRIMImage

let preprocessCommand = Command(
    name: "preprocess",
    summary: "decode and preprocess an image exactly as LLaVA + CLIPImageProcessor do",
    synopsis: "--model DIR --image FILE --output FILE.safetensors [--no-pad]",
    description: """
        Writes `pixel_values [3, H, W]` (float32) as the vision tower receives it: LLaVA's pad to square,
        Pillow-exact bicubic resize of the short side, center crop, rescale, normalize. The settings
        come from DIR/preprocessor_config.json, else CLIP's defaults at DIR's image size.
        """,
    options: [
        Common.model, Common.image,
        OptionSpec("output", .text, placeholder: "FILE.safetensors", help: "where pixel_values is written"), Common.noPad,
    ],
    run: { a in
        try a.noPositional()
        let model = try existingPath(try a.required("model"), what: "model directory")
        let imageURL = try existingPath(try a.required("image"), what: "image")
        let output = try a.required("output")
        let config = try PreprocessorConfig.forModel(directory: model)
        let image = try ImageDecoder.decode(contentsOf: imageURL)
        let px = try pixelValues(for: image, config: config, padToSquare: !a.flag("no-pad"))
        var w = SafeTensorsWriter(metadata: ["producer": "trim preprocess"])
        w.add("pixel_values", px)
        try w.write(to: URL(fileURLWithPath: output))
        print("pixel_values \(px.shape) → \(output)")
    })
