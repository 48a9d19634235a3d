import CLIP
import CLIPTokenizer
import Foundation
import TRIM
import TRIMImage
import TRIMJSON
import TRIMTensor

let embedCommand = Command(
    name: "embed",
    summary: "plain CLIP: normalised image and text embeddings, their cosine and logit",
    synopsis: "--model DIR [--image FILE] [--text TEXT] [--no-pad] [--json]",
    description: """
        Computes CLIP's image_embeds (all vision layers, post_layernorm, visual_projection) and/or
        text_embeds (text tower, eot pooling, text_projection), L2-normalised. With both, prints
        their cosine similarity and CLIP's logit exp(logit_scale)·cos.
        """,
    options: [
        Common.model, Common.image, OptionSpec("text", .text, placeholder: "TEXT", help: "the text to embed"),
        OptionSpec("no-pad", .flag, help: "plain CLIP preprocessing (the default pads to square like LLaVA)"),
        OptionSpec("json", .flag, help: "{\"image_embeds\": [...], \"text_embeds\": [...], \"cosine\": c, \"logit\": l}"),
    ],
    run: { a in
        try a.noPositional()
        let dir = try existingPath(try a.required("model"), what: "model directory")
        let imagePath = try a.value("image").map { try existingPath($0, what: "image") }
        let text = a.value("text")
        guard imagePath != nil || text != nil else { throw UsageError("give --image, --text or both") }
        let model = try CLIPModel(directory: dir, loadText: text != nil)
        var pairs: [(String, JSONValue)] = []
        var image: [Float]?, textEmb: [Float]?
        if let imagePath {
            let config = try PreprocessorConfig.forModel(directory: dir, imageSize: model.config.vision.imageSize)
            let px = try pixelValues(for: try ImageDecoder.decode(contentsOf: imagePath), config: config, padToSquare: !a.flag("no-pad"))
            image = normalized(try model.imageEmbeds(px).scalars)
            pairs.append(("image_embeds", jsonFloats(image!)))
        }
        if let text {
            let tokenizer = try CLIPTokenizer.forModelDirectory(dir)
            let ids = tokenizer.encode(text, truncateTo: min(CLIPTokenizer.contextLength, model.config.text.maxPositions))
            textEmb = normalized(try model.textEmbeds(ids).scalars)
            pairs.append(("input_ids", jsonInts(ids)))
            pairs.append(("text_embeds", jsonFloats(textEmb!)))
        }
        var cosine: Float?
        if let image, let textEmb {
            cosine = zip(image, textEmb).reduce(0) { $0 + $1.0 * $1.1 }
            pairs.append(("cosine", .double(Double(cosine!))))
            pairs.append(("logit", .double(Double(exp(model.logit_scale) * cosine!))))
        }
        if a.flag("json") {
            printJSON(pairs)
            return
        }
        func preview(_ v: [Float]) -> String {
            "[" + v.prefix(6).map { String(format: "%+.4f", $0) }.joined(separator: ", ") + (v.count > 6 ? ", …]" : "]")
        }
        if let image { print("image_embeds [\(image.count)] \(preview(image))  (normalised)") }
        if let textEmb { print("text_embeds  [\(textEmb.count)] \(preview(textEmb))  (normalised)") }
        if let cosine {
            print(String(format: "cosine %.6f   logit exp(%.4f)·cos = %.4f", cosine, model.logit_scale, exp(model.logit_scale) * cosine))
        }
    })

/// `v / ‖v‖` (unchanged when ‖v‖ = 0).
func normalized(_ v: [Float]) -> [Float] {
    let n = v.reduce(0) { $0 + $1 * $1 }.squareRoot()
    return n > 0 ? v.map { $0 / n } : v
}
