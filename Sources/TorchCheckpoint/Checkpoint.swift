import Foundation
import SafeTensors

/// Opens whatever a user points at as a checkpoint, safetensors or PyTorch `.bin`.
public enum Checkpoint {
    /// The files a checkpoint directory is searched for, in order of preference.
    public static let directoryFiles = [
        "model.safetensors", "model.safetensors.index.json", "pytorch_model.bin", "pytorch_model.bin.index.json",
        "mm_projector.bin",
    ]

    /// - A directory → the first of `directoryFiles` it holds, opened as below;
    /// - a `*.bin.index.json` → `ShardedCheckpoint`; any other `.json` → `ShardedSafeTensors`;
    /// - a `.safetensors` file → `SafeTensorsFile`;
    /// - a `.bin` / `.pt` / `.pth` file, or any file starting like a zip archive or a legacy torch.save file
    ///   → `TorchCheckpointFile`; anything else → `SafeTensorsFile`.
    public static func open(_ url: URL) throws -> any TensorSource {
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: url.path, isDirectory: &isDirectory) else {
            throw TorchCheckpointError.notACheckpoint(path: url.path, reason: "no such file or directory")
        }
        if isDirectory.boolValue {
            for name in directoryFiles {
                let candidate = url.appendingPathComponent(name)
                if FileManager.default.fileExists(atPath: candidate.path) { return try open(candidate) }
            }
            throw TorchCheckpointError.notACheckpoint(
                path: url.path, reason: "directory holds none of \(directoryFiles.joined(separator: ", "))")
        }
        let name = url.lastPathComponent.lowercased()
        if name.hasSuffix(".bin.index.json") { return try ShardedCheckpoint(indexURL: url) }
        if url.pathExtension.lowercased() == "json" { return try ShardedSafeTensors(indexURL: url) }
        if url.pathExtension.lowercased() == "safetensors" { return try SafeTensorsFile(url: url) }
        if ["bin", "pt", "pth"].contains(url.pathExtension.lowercased()) || looksLikeTorch(url) {
            return try TorchCheckpointFile(url: url)
        }
        return try SafeTensorsFile(url: url)
    }

    /// Whether the file starts with a zip local header or the legacy torch.save magic.
    private static func looksLikeTorch(_ url: URL) -> Bool {
        guard let handle = try? FileHandle(forReadingFrom: url) else { return false }
        defer { try? handle.close() }
        let head = [UInt8]((try? handle.read(upToCount: 14)) ?? Data())
        return head.starts(with: [0x50, 0x4B, 0x03, 0x04]) || head.starts(with: TorchCheckpointFile.legacyMagic)
    }
}
