import Foundation
import XCTest

/// Every malformed input the `trim` binary is handed ends in exit 1 and exactly one stderr line
/// `error: …` naming the problem — never a signal, never a hang. The corpus is
/// `Tests/Goldens/malformed/` with its manifest `cases.json`, both written by
/// `Tests/Goldens/malformed_inputs.py` (see that script for the manifest's format).
final class MalformedInputTests: XCTestCase {
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent()
    static let corpus = root.appendingPathComponent("Tests/Goldens/malformed")
    /// Each run must finish within this many seconds (debug build; release is far faster).
    static let timeLimit: TimeInterval = 10

    static var binary: URL { TrimBinary.url }
    typealias Outcome = TrimBinary.Outcome

    func run(_ executable: URL, _ arguments: [String], in directory: URL) throws -> Outcome {
        try TrimBinary.run(executable, arguments, in: directory, timeLimit: Self.timeLimit)
    }

    /// Checks the contract for one run: allowed exit code, no signal, no timeout, and for failures one
    /// line `error: …` containing `expect`.
    func check(_ name: String, _ o: Outcome, exits: [Int32], expect: String,
               file: StaticString = #filePath, line: UInt = #line) {
        XCTAssertFalse(o.timedOut, "\(name): still running after \(Self.timeLimit) s", file: file, line: line)
        XCTAssertFalse(o.signalled, "\(name): killed by signal \(o.code): \(o.stderr.prefix(500))", file: file, line: line)
        XCTAssertTrue(exits.contains(o.code), "\(name): exit \(o.code), expected \(exits): \(o.stderr.prefix(500))",
                      file: file, line: line)
        guard o.code != 0, !o.signalled else { return }
        let lines = o.stderr.split(separator: "\n", omittingEmptySubsequences: false).dropLast()  // trailing "\n"
        XCTAssertEqual(lines.count, 1, "\(name): stderr is not one line: \(o.stderr.prefix(500))", file: file, line: line)
        XCTAssertTrue(o.stderr.hasPrefix("error: "), "\(name): stderr does not start with 'error: ': \(o.stderr.prefix(300))",
                      file: file, line: line)
        if !expect.isEmpty {
            XCTAssertTrue(o.stderr.contains(expect), "\(name): '\(expect)' not in: \(o.stderr.prefix(300))",
                          file: file, line: line)
        }
    }

    func makeTemporaryDirectory() throws -> URL { try TrimBinary.makeTemporaryDirectory("malformed") }

    func requireBinary() throws { _ = try TrimBinary.require() }

    struct Case: Decodable {
        let name: String
        let args: [String]
        let setup: [String: String]
        let expect: String
        let exit: [Int32]
    }

    func testEveryMalformedFileExitsOneWithOneErrorLineAndNoSignalOrHang() throws {
        try requireBinary()
        let manifest = try Data(contentsOf: Self.corpus.appendingPathComponent("cases.json"))
        let cases = try JSONDecoder().decode([Case].self, from: manifest)
        XCTAssertGreaterThan(cases.count, 80)
        var slowest = (name: "", seconds: 0.0)
        for c in cases {
            let tmp = try makeTemporaryDirectory()
            defer { try? FileManager.default.removeItem(at: tmp) }
            func expand(_ s: String) -> String {
                s.replacingOccurrences(of: "$ROOT", with: Self.root.path)
                    .replacingOccurrences(of: "$M", with: Self.corpus.path)
                    .replacingOccurrences(of: "$TMP", with: tmp.path)
            }
            for (destination, source) in c.setup {
                let src = source.hasPrefix("$") ? URL(fileURLWithPath: expand(source))
                                                : Self.corpus.appendingPathComponent(source)
                let dst = tmp.appendingPathComponent(destination)
                try FileManager.default.createDirectory(at: dst.deletingLastPathComponent(), withIntermediateDirectories: true)
                try FileManager.default.copyItem(at: src, to: dst)
            }
            let outcome = try run(Self.binary, c.args.map(expand), in: tmp)
            check(c.name, outcome, exits: c.exit, expect: c.expect)
            if outcome.seconds > slowest.seconds { slowest = (c.name, outcome.seconds) }
        }
        print("MalformedInputTests: \(cases.count) cases, slowest \(slowest.name) in \(String(format: "%.2f", slowest.seconds)) s")
    }

    var odd: String { Self.root.appendingPathComponent("Weights/clip-odd").path }
    var image: String { Self.root.appendingPathComponent("Tests/Goldens/trim/images/tiny.png").path }

    /// Linux caps one argument at 128 KiB, so ~120 kB is the largest prompt a shell can pass; it is
    /// truncated to CLIP's 77 tokens and must stay fast.
    func testHugePromptIsTruncatedQuickly() throws {
        try requireBinary()
        let tmp = try makeTemporaryDirectory()
        defer { try? FileManager.default.removeItem(at: tmp) }
        let prompt = String(repeating: "where is the red ball? ", count: 5_000)  // 115 kB
        let o = try run(Self.binary, ["reduce", "--model", odd, "--image", image, "--prompt", prompt, "--json"], in: tmp)
        check("120 kB prompt", o, exits: [0], expect: "")
        let t = try run(Self.binary, ["tokenize", String(repeating: "x", count: 120_000)], in: tmp)
        check("120 kB single word", t, exits: [0], expect: "")
        let e = try run(Self.binary, ["reduce", "--model", odd, "--image", image, "--prompt", "", "--json"], in: tmp)
        check("empty prompt", e, exits: [0], expect: "")
    }

    /// Bytes that are not UTF-8 reach `CommandLine.arguments` repaired (U+FFFD); nothing may crash on them.
    /// Foundation's `Process` takes `String`s, so the raw bytes go through `/bin/sh` and `printf`.
    func testInvalidUTF8ArgumentsAreRepairedNotFatal() throws {
        try requireBinary()
        let tmp = try makeTemporaryDirectory()
        defer { try? FileManager.default.removeItem(at: tmp) }
        let sh = URL(fileURLWithPath: "/bin/sh")
        let bad = #"$(printf 'a\377\376b\355\240\200c\300\257')"#
        let tokenize = try run(sh, ["-c", #"exec "$0" tokenize --json "# + "\"\(bad)\"", Self.binary.path], in: tmp)
        check("tokenize invalid UTF-8", tokenize, exits: [0], expect: "")
        let reduce = try run(sh, ["-c", #"exec "$0" reduce --model "$1" --image "$2" --prompt "# + "\"\(bad)\" --json",
                                  Self.binary.path, odd, image], in: tmp)
        check("reduce invalid UTF-8 prompt", reduce, exits: [0], expect: "")
        let path = try run(sh, ["-c", #"exec "$0" inspect "# + "\"/nonexistent/\(bad).safetensors\"", Self.binary.path], in: tmp)
        check("inspect invalid UTF-8 path", path, exits: [1], expect: "")
    }

    /// Bad option values are usage errors: exit 2, first line `error: …`, no signal.
    func testBadArgumentValuesAreUsageErrors() throws {
        try requireBinary()
        let tmp = try makeTemporaryDirectory()
        defer { try? FileManager.default.removeItem(at: tmp) }
        let base = ["reduce", "--model", odd, "--image", image, "--prompt", "x"]
        let cases: [[String]] = [
            base + ["--keep-ratio", "nan"], base + ["--keep-ratio", "-0.5"], base + ["--iqr-multiplier", "inf"],
            base + ["--select-layer", "-9223372036854775808"], base + ["--select-layer", "99999999999999999999"],
            ["bench", "--model", odd, "--runs", "0"], ["reduce", "--prompt"], ["inspect"], ["no-such-command"],
        ]
        for args in cases {
            let o = try run(Self.binary, args, in: tmp)
            XCTAssertFalse(o.signalled || o.timedOut, "\(args): \(o.stderr)")
            XCTAssertEqual(o.code, 2, "\(args): \(o.stderr)")
            XCTAssertTrue(o.stderr.hasPrefix("error: "), "\(args): \(o.stderr)")
        }
    }

    /// A FIFO named like a checkpoint or an image is refused at once instead of blocking on open/read; a
    /// symlink to a real image still works.
    func testFIFOsAreRefusedAndSymlinksFollowed() throws {
        try requireBinary()
        let tmp = try makeTemporaryDirectory()
        defer { try? FileManager.default.removeItem(at: tmp) }
        let fifoWeights = tmp.appendingPathComponent("w.safetensors"), fifoImage = tmp.appendingPathComponent("i.png")
        XCTAssertEqual(mkfifo(fifoWeights.path, 0o600), 0)
        XCTAssertEqual(mkfifo(fifoImage.path, 0o600), 0)
        check("FIFO weights", try run(Self.binary, ["inspect", fifoWeights.path], in: tmp), exits: [1], expect: "not a regular file")
        check("FIFO image", try run(Self.binary, ["preprocess", "--model", odd, "--image", fifoImage.path, "--output",
                                                  tmp.appendingPathComponent("o.safetensors").path], in: tmp),
              exits: [1], expect: "not a regular file")
        let link = tmp.appendingPathComponent("link.png")
        try FileManager.default.createSymbolicLink(atPath: link.path, withDestinationPath: image)
        check("symlinked image", try run(Self.binary, ["preprocess", "--model", odd, "--image", link.path, "--output",
                                                       tmp.appendingPathComponent("o.safetensors").path], in: tmp),
              exits: [0], expect: "")
    }

    /// The corpus's sources are still accepted: the checks refuse only what is broken.
    func testValidInputsStillWork() throws {
        try requireBinary()
        let tmp = try makeTemporaryDirectory()
        defer { try? FileManager.default.removeItem(at: tmp) }
        let jpeg = Self.root.appendingPathComponent("Tests/Goldens/trim/images/square-progressive.jpg").path
        for args in [
            ["inspect", odd],
            ["preprocess", "--model", odd, "--image", image, "--output", tmp.appendingPathComponent("a.safetensors").path],
            ["preprocess", "--model", odd, "--image", jpeg, "--output", tmp.appendingPathComponent("b.safetensors").path],
            ["reduce", "--model", odd, "--image", jpeg, "--prompt", "a red ball", "--json"],
        ] {
            check(args.joined(separator: " "), try run(Self.binary, args, in: tmp), exits: [0], expect: "")
        }
    }
}
