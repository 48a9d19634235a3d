import CLIP
import Foundation
import SafeTensors
import TorchCheckpoint
import TRIM

let inspectCommand = Command(
    name: "inspect",
    summary: "list a checkpoint's tensors, dtypes and shapes, and the CLIP config they imply",
    synopsis: "PATH",
    description: """
        PATH is a .safetensors or PyTorch .bin file, a model.safetensors.index.json or
        pytorch_model.bin.index.json, or a checkpoint directory.
        Prints every tensor (name, dtype, shape), the totals, the directory's config.json when present,
        and the CLIP / projector configuration inferred from the tensor shapes alone.
        """,
    options: [

    ],
    run: { a in
        guard a.positional.count == 1 else { throw UsageError("give exactly one PATH") }
        let url = try existingPath(a.positional[0], what: "path")
        let source = try Checkpoint.open(url)
        let summary = try source.summary()
        print("\(url.path)")
        for (k, v) in summary.metadata.sorted(by: { $0.key < $1.key }) { print("  metadata \(k) = \(v)") }
        let width = min(summary.tensors.map(\.name.count).max() ?? 0, 80)
        for t in summary.tensors {
            print("  \(t.name.padding(toLength: max(width, t.name.count), withPad: " ", startingAt: 0))  \(t.dtype.rawValue.padding(toLength: 4, withPad: " ", startingAt: 0))  \(t.shape)")
        }
        let dtypes = summary.dtypeCounts.sorted { $0.key < $1.key }.map { "\($0.value) \($0.key.rawValue)" }.joined(separator: ", ")
        print(String(format: "%d tensors (%@), %d parameters, %.1f MB", summary.tensors.count, dtypes, summary.totalElements,
                     Double(summary.totalBytes) / 1e6))
        var isDir: ObjCBool = false
        _ = FileManager.default.fileExists(atPath: url.path, isDirectory: &isDir)
        let configURL = (isDir.boolValue ? url : url.deletingLastPathComponent()).appendingPathComponent("config.json")
        if FileManager.default.fileExists(atPath: configURL.path), let c = try? CLIPConfig(contentsOf: configURL) {
            print("config.json: \(describe(c))")
        }
        let inferred = try inferCheckpointContents(source)
        if inferred.isEmpty {
            print("inferred: no CLIP or projector tensors recognised")
        }
        for line in inferred { print("inferred: \(line)") }
    })

func describe(_ c: CLIPConfig) -> String {
    let v = c.vision, t = c.text
    return "vision \(v.layers)×\(v.hiddenSize) (\(v.attentionHeads) heads, mlp \(v.intermediateSize), \(v.imageSize) px / \(v.patchSize), \(v.activation.rawValue)); "
        + "text \(t.layers)×\(t.hiddenSize) (\(t.attentionHeads) heads, vocab \(t.vocabSize), context \(t.maxPositions)); projection \(c.projectionDim)"
}

/// What the tensor shapes alone say: the CLIP towers' sizes (head counts cannot be inferred) and any projector.
func inferCheckpointContents(_ s: any TensorSource) throws -> [String] {
    var out: [String] = []
    let names = s.tensorNames
    func shape(_ n: String) throws -> [Int]? { try s.info(n)?.shape }
    func layerCount(_ prefix: String) -> Int {
        var n = 0
        while names.contains("\(prefix).encoder.layers.\(n).layer_norm1.weight") { n += 1 }
        return n
    }
    for prefix in names.compactMap({ n -> String? in
        n.hasSuffix("vision_model.embeddings.patch_embedding.weight") ? String(n.dropLast(".embeddings.patch_embedding.weight".count)) : nil
    }) {
        // Shapes come from the file: a position table may be empty and extents may be huge (a zero
        // extent elsewhere keeps the byte count at 0), so nothing here may trap on them.
        if let p = try shape(prefix + ".embeddings.patch_embedding.weight"), p.count == 4,
           let pos = try shape(prefix + ".embeddings.position_embedding.weight"), pos.count == 2, pos[0] >= 1 {
            let grid = Int(Double(pos[0] - 1).squareRoot())
            let (side, overflow) = grid.multipliedReportingOverflow(by: p[2])
            let mlp = try shape(prefix + ".encoder.layers.0.mlp.fc1.weight")?.first ?? 0
            out.append("\(prefix): CLIP vision tower, \(layerCount(prefix)) layers × \(p[0]) wide, mlp \(mlp), patch \(p[2]), \(pos[0] - 1) patches (\(overflow ? "?" : String(side)) px)")
        } else if names.contains(prefix + ".embeddings.position_embedding.weight") {
            out.append("\(prefix): vision tower with an unusable patch_embedding / position_embedding shape")
        }
    }
    for prefix in names.compactMap({ n -> String? in
        n.hasSuffix("text_model.embeddings.token_embedding.weight") ? String(n.dropLast(".embeddings.token_embedding.weight".count)) : nil
    }) {
        if let tok = try shape(prefix + ".embeddings.token_embedding.weight"), tok.count == 2,
           let pos = try shape(prefix + ".embeddings.position_embedding.weight"), pos.count == 2 {
            out.append("\(prefix): CLIP text tower, \(layerCount(prefix)) layers × \(tok[1]) wide, vocab \(tok[0]), context \(pos[0])")
        }
    }
    if let vp = try names.first(where: { $0.hasSuffix("visual_projection.weight") }).flatMap(shape) {
        out.append(vp.count == 2 ? "projection: \(vp[1]) → \(vp[0]) (joint space)"
                                 : "visual_projection.weight has shape \(vp), expected [projection, width]")
    }
    if let p = try? Projector(source: s, sourceName: "") {
        out.append("LLaVA projector: \(p.kind.rawValue), \(p.inputWidth) → \(p.outputWidth)")
    }
    return out
}
