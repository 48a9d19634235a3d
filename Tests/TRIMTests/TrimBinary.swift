import Foundation

/// The `trim` executable that `swift test` builds next to the test bundle, and a way to run it (or any
/// executable) with a time limit — shared by the CLI contract tests and the malformed-input tests.
enum TrimBinary {
    /// `.build/<config>/trim`.
    static var url: URL {
        var dir = Bundle.main.bundleURL
        if dir.pathExtension == "xctest" { dir = dir.deletingLastPathComponent() }
        return dir.appendingPathComponent("trim")
    }

    struct Missing: Error, CustomStringConvertible {
        var description: String { "trim binary not found at \(TrimBinary.url.path); build it with `swift build`" }
    }

    /// `url`, or a thrown error (the test fails) when the binary was not built.
    static func require() throws -> URL {
        guard FileManager.default.isExecutableFile(atPath: url.path) else { throw Missing() }
        return url
    }

    struct Outcome {
        /// Exit status, or the signal number when `signalled`.
        var code: Int32
        var signalled: Bool
        var timedOut: Bool
        var stdout: String
        var stderr: String
        var seconds: TimeInterval
    }

    /// Runs `executable` with `arguments` in `directory`, killing it after `timeLimit` seconds. Output goes
    /// through files in `directory` (no pipe that a chatty child could fill and block on).
    static func run(_ executable: URL, _ arguments: [String], in directory: URL, timeLimit: TimeInterval) throws -> Outcome {
        let outURL = directory.appendingPathComponent("stdout.txt"), errURL = directory.appendingPathComponent("stderr.txt")
        // A failure here surfaces as the FileHandle error on the next line.
        _ = FileManager.default.createFile(atPath: outURL.path, contents: nil)
        _ = FileManager.default.createFile(atPath: errURL.path, contents: nil)
        let outHandle = try FileHandle(forWritingTo: outURL), errHandle = try FileHandle(forWritingTo: errURL)
        defer {
            try? outHandle.close()
            try? errHandle.close()
        }
        let p = Process()
        p.executableURL = executable
        p.arguments = arguments
        p.currentDirectoryURL = directory
        p.standardOutput = outHandle
        p.standardError = errHandle
        let start = Date()
        try p.run()
        var timedOut = false
        while p.isRunning {
            if Date().timeIntervalSince(start) > timeLimit {
                timedOut = true
                p.terminate()
                break
            }
            usleep(5_000)
        }
        p.waitUntilExit()
        let seconds = Date().timeIntervalSince(start)
        func read(_ u: URL) -> String { String(decoding: (try? Data(contentsOf: u)) ?? Data(), as: UTF8.self) }
        return Outcome(code: p.terminationStatus, signalled: p.terminationReason == .uncaughtSignal,
                       timedOut: timedOut, stdout: read(outURL), stderr: read(errURL), seconds: seconds)
    }

    /// A fresh, empty temporary directory.
    static func makeTemporaryDirectory(_ label: String) throws -> URL {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("trim-\(label)-\(getpid())-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        return dir
    }
}
