import Foundation

/// Finds the files the project ships under `Weights/` (the CLIP vocabulary, the demo model, the sample
/// image) from any working directory, with no flags.
///
/// Search order, first hit wins:
/// 1. `$TRIM_WEIGHTS/<path>` when the environment variable is set (for installed binaries);
/// 2. `<directory of the executable>/Weights/<path>` and `<directory of the executable>/../share/trim/<path>`;
/// 3. `<package root>/Weights/<path>`, where the package root is derived from this source file's path at
///    compile time — this is what makes `swift run trim …` and a SwiftPM dependency checkout work anywhere.
public enum BundledResources {
    /// The candidate `Weights/` directories, in search order.
    public static var searchDirectories: [URL] {
        var dirs: [URL] = []
        if let env = ProcessInfo.processInfo.environment["TRIM_WEIGHTS"], !env.isEmpty {
            dirs.append(URL(fileURLWithPath: env, isDirectory: true))
        }
        let exe = URL(fileURLWithPath: CommandLine.arguments.first ?? "").resolvingSymlinksInPath()
        let exeDir = exe.deletingLastPathComponent()
        dirs.append(exeDir.appendingPathComponent("Weights", isDirectory: true))
        dirs.append(exeDir.deletingLastPathComponent().appendingPathComponent("share/trim", isDirectory: true))
        // Sources/TRIMResources/BundledResources.swift → package root.
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent()
        dirs.append(root.appendingPathComponent("Weights", isDirectory: true))
        return dirs
    }

    /// The URL of a bundled file or directory, e.g. `url(for: "bpe_simple_vocab_16e6.txt.gz")`,
    /// or `nil` when none of `searchDirectories` holds it.
    public static func url(for relativePath: String) -> URL? {
        for dir in searchDirectories {
            let candidate = dir.appendingPathComponent(relativePath)
            if FileManager.default.fileExists(atPath: candidate.path) { return candidate }
        }
        return nil
    }
}
