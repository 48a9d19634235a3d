import Foundation
import TRIMJSON
import XCTest

@testable import CLIPTokenizer

/// Ids, normalized text, pieces and decoded text from Hugging Face's CLIPTokenizerFast (transformers 5,
/// tokenizers 0.23), written by Tests/Goldens/tokenizer_goldens.py.
final class CLIPTokenizerGoldenTests: XCTestCase {
    static let goldens = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("Goldens/tokenizer")

    static func load(_ name: String) throws -> [JSONValue] {
        let bytes = [UInt8](try Data(contentsOf: goldens.appendingPathComponent(name)))
        return try XCTUnwrap(JSON.parse(bytes).arrayValue)
    }

    static func ints(_ v: JSONValue?) -> [Int]? { v?.arrayValue?.compactMap(\.intValue) }

    /// Checks `ids` (truncation to 77) and `ids_full` (no truncation) for every case of a corpus file.
    func checkIDs(_ file: String, minimumCases: Int) throws {
        let tokenizer = try CLIPTokenizer.bundled()
        let cases = try Self.load(file)
        XCTAssertGreaterThanOrEqual(cases.count, minimumCases)
        var failures = 0
        for c in cases {
            let text = try XCTUnwrap(c["text"]?.stringValue)
            let ids = try XCTUnwrap(Self.ints(c["ids"]))
            let full = Self.ints(c["ids_full"]) ?? ids
            let got = tokenizer.encode(text)
            let gotFull = tokenizer.encode(text, truncateTo: nil)
            if got != ids || gotFull != full {
                failures += 1
                if failures <= 15 {
                    let scalars = text.unicodeScalars.map { String($0.value, radix: 16) }.joined(separator: " ")
                    XCTFail("\(file): \(text.debugDescription) [\(scalars)]\n  HF:    \(full)\n  Swift: \(gotFull)")
                }
            }
        }
        XCTAssertEqual(failures, 0, "\(failures) of \(cases.count) texts in \(file) differ from CLIPTokenizerFast")
    }

    func testHandWrittenCorpusIdsMatchCLIPTokenizerFast() throws {
        try checkIDs("corpus.json", minimumCases: 250)
    }

    func testRandomizedCorpusIdsMatchCLIPTokenizerFast() throws {
        try checkIDs("random.json", minimumCases: 1500)
    }

    func testHeldOutRandomizedCorpusIdsMatchCLIPTokenizerFast() throws {
        try checkIDs("heldout.json", minimumCases: 1000)
    }

    func testNormalizerPiecesAndDecodeMatchCLIPTokenizerFast() throws {
        let tokenizer = try CLIPTokenizer.bundled()
        for c in try Self.load("corpus.json") {
            let text = try XCTUnwrap(c["text"]?.stringValue)
            let normalized = try XCTUnwrap(c["normalized"]?.stringValue)
            XCTAssertEqual(Array(CLIPTokenizer.normalize(text).unicodeScalars), Array(normalized.unicodeScalars),
                           "normalize(\(text.debugDescription))")
            // HF's pre_tokenize_str does not take special tokens out; compare where there are none.
            let bytes = Array(normalized.utf8)
            let hasSpecial = ["<|startoftext|>", "<|endoftext|>"].contains { special in
                let pattern = Array(special.utf8)
                return bytes.indices.contains { bytes[$0...].starts(with: pattern) }
            }
            if !hasSpecial {
                let pieces = try XCTUnwrap(c["pieces"]?.arrayValue?.compactMap(\.stringValue))
                XCTAssertEqual(tokenizer.preTokenize(text), pieces, "pieces of \(text.debugDescription)")
            }
            let full = Self.ints(c["ids_full"]) ?? Self.ints(c["ids"]) ?? []
            let decoded = try XCTUnwrap(c["decoded"]?.stringValue)
            XCTAssertEqual(Array(tokenizer.decode(full).unicodeScalars), Array(decoded.unicodeScalars),
                           "decode of \(text.debugDescription)")
        }
    }

    func testModelDirectoryVocabularyTakesPrecedenceOverBundled() throws {
        let fixture = Self.goldens.appendingPathComponent("fixture")
        let tokenizer = try CLIPTokenizer.forModelDirectory(fixture)
        XCTAssertEqual(tokenizer.vocabularySize, 256 * 2 + 300 + 2)
        XCTAssertEqual(tokenizer.startOfTextID, 812)
        for c in try Self.load("fixture/expected.json") {
            let text = try XCTUnwrap(c["text"]?.stringValue)
            XCTAssertEqual(tokenizer.encode(text), Self.ints(c["ids"]), text)
        }
        // A directory without vocab.json + merges.txt falls back to the bundled vocabulary.
        let empty = FileManager.default.temporaryDirectory.appendingPathComponent("clip-empty-\(getpid())")
        try FileManager.default.createDirectory(at: empty, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: empty) }
        XCTAssertEqual(try CLIPTokenizer.forModelDirectory(empty).encode("a photo of a cat"),
                       [49406, 320, 1125, 539, 320, 2368, 49407])
    }
}

/// Large corpora kept out of the repository: set `CLIP_TOKENIZER_EXTRA` to a JSON-lines file of
/// `[text, ids (max_length 77), ids (untruncated)]` rows made with CLIPTokenizerFast to check them too.
final class CLIPTokenizerExtraCorpusTests: XCTestCase {
    func testExtraCorpusFromEnvironmentMatchesCLIPTokenizerFast() throws {
        guard let path = ProcessInfo.processInfo.environment["CLIP_TOKENIZER_EXTRA"] else {
            throw XCTSkip("CLIP_TOKENIZER_EXTRA not set")
        }
        let tokenizer = try CLIPTokenizer.bundled()
        let data = [UInt8](try Data(contentsOf: URL(fileURLWithPath: path)))
        var failures = 0, count = 0
        for line in data.split(separator: 10) {
            let row = try XCTUnwrap(JSON.parse(Array(line)).arrayValue)
            let text = try XCTUnwrap(row[0].stringValue)
            let ids = try XCTUnwrap(CLIPTokenizerGoldenTests.ints(row[1]))
            let full = try XCTUnwrap(CLIPTokenizerGoldenTests.ints(row[2]))
            count += 1
            if tokenizer.encode(text) != ids || tokenizer.encode(text, truncateTo: nil) != full {
                failures += 1
                if failures <= 20 {
                    let scalars = text.unicodeScalars.map { String($0.value, radix: 16) }.joined(separator: " ")
                    XCTFail("\(text.debugDescription) [\(scalars)]\n  HF:    \(full)\n  Swift: \(tokenizer.encode(text, truncateTo: nil))")
                }
            }
        }
        print("extra corpus: \(count - failures) of \(count) texts identical")
        XCTAssertEqual(failures, 0)
    }
}
