import Foundation
import TRIM
import SafeTensors
import TorchCheckpoint

let convertCommand = Command(
    name: "convert",
    summary: "rewrite a checkpoint (PyTorch .bin, sharded, or safetensors) as one .safetensors file",
    synopsis: "IN OUT.safetensors",
    description: """
        IN is a .bin file (torch.save zip archive, e.g. pytorch_model.bin or mm_projector.bin), a
        pytorch_model.bin.index.json, a .safetensors file or index, or a checkpoint directory (searched for
        model.safetensors, its index, pytorch_model.bin, its index, mm_projector.bin, in that order).
        Writes every tensor with its dtype, shape and bytes unchanged (strided views made contiguous,
        tied tensors written once per name), readable by safetensors' Python library. The whole output is
        built in memory before it is written. The file's metadata is {"format": "pt"}, as transformers expects.
        """,
    options: [

    ],
    run: { a in
        guard a.positional.count == 2 else { throw UsageError("give IN and OUT.safetensors") }
        let source = try Checkpoint.open(try existingPath(a.positional[0], what: "input checkpoint"))
        // `format: pt` is what transformers expects in a safetensors file it loads.
        var writer = SafeTensorsWriter(metadata: ["format": "pt"])
        for name in source.tensorNames {
            guard let info = try source.info(name) else { continue }
            if let raw = try source.rawBytes(of: name) {
                writer.add(
                    name, dtype: info.dtype, shape: info.shape,
                    bytes: withExtendedLifetime(raw.owner) { Array(raw.bytes) })
            } else if info.dtype.isConvertibleToInt64 {
                writer.add(name, int64s: try source.int64s(name), shape: info.shape)
            } else {
                writer.add(name, try source.tensor(name))
            }
        }
        try writer.write(to: URL(fileURLWithPath: a.positional[1]))
        print("wrote \(source.tensorNames.count) tensors to \(a.positional[1])")
    })
