import Foundation
import XCTest

@testable import CLIPTokenizer

/// Behaviour that needs no reference ids: truncation rules, decoding options, loading errors, long and
/// concurrent input.
final class CLIPTokenizerBehaviorTests: XCTestCase {
    var tokenizer: CLIPTokenizer!

    override func setUpWithError() throws {
        tokenizer = try CLIPTokenizer.bundled()
    }

    func testBundledVocabularyHasCLIPShapeAndKnownIds() throws {
        XCTAssertEqual(tokenizer.vocabularySize, 49408)
        XCTAssertEqual(tokenizer.startOfTextID, CLIPTokenizer.startOfText)
        XCTAssertEqual(tokenizer.endOfTextID, CLIPTokenizer.endOfText)
        XCTAssertEqual(tokenizer.token(for: 320), "a</w>")
        XCTAssertEqual(tokenizer.token(for: 49407), "<|endoftext|>")
        XCTAssertNil(tokenizer.token(for: 49408))
        XCTAssertNil(tokenizer.token(for: -1))
        XCTAssertEqual(tokenizer.encode(""), [49406, 49407])
    }

    func testTruncationKeepsEndTokenAndRespectsEveryLimit() {
        let text = Array(repeating: "cat", count: 100).joined(separator: " ")
        let full = tokenizer.encode(text, truncateTo: nil)
        XCTAssertEqual(full.count, 102)
        let cut = tokenizer.encode(text)
        XCTAssertEqual(cut.count, 77)
        XCTAssertEqual(cut.last, 49407)
        XCTAssertEqual(Array(cut.dropLast()), Array(full.prefix(76)))
        for limit in [-5, 0, 1, 2, 3, 10, 101, 102, 103] {
            let ids = tokenizer.encode(text, truncateTo: limit)
            XCTAssertEqual(ids.count, min(102, max(2, limit)), "limit \(limit)")
            XCTAssertEqual(ids.first, 49406)
            XCTAssertEqual(ids.last, 49407)
        }
    }

    func testDecodeSkipsSpecialTokensAndUnknownIdsOnRequest() {
        let ids = tokenizer.encode("A photo of a cat.")
        XCTAssertEqual(tokenizer.decode(ids), "<|startoftext|>a photo of a cat . <|endoftext|>")
        XCTAssertEqual(tokenizer.decode(ids, skipSpecialTokens: true), "a photo of a cat .")
        XCTAssertEqual(tokenizer.decode([320, -3, 999_999, 1125]), "a photo")
        // A cut inside a multi-byte character decodes to U+FFFD, like Python's errors="replace".
        let e = tokenizer.encode("\u{13000}", truncateTo: nil)  // a rare 4-byte character: one token per byte
        XCTAssertGreaterThan(e.count, 3)
        XCTAssertEqual(tokenizer.decode([e[1]]), "\u{FFFD}")
        XCTAssertEqual(tokenizer.decode(e, skipSpecialTokens: true), "\u{13000}")
    }

    func testVeryLongInputsStayLinearAndDoNotCrash() {
        let word = String(repeating: "ab", count: 200_000)  // one 400 kB "word"
        var start = Date()
        let ids = tokenizer.encode(word, truncateTo: nil)
        XCTAssertGreaterThan(ids.count, 1000)
        XCTAssertLessThan(Date().timeIntervalSince(start), 30)
        XCTAssertEqual(tokenizer.decode(ids, skipSpecialTokens: true), word)
        let many = String(repeating: "the quick brown fox 😀 東京 ", count: 20_000)
        start = Date()
        XCTAssertEqual(tokenizer.encode(many).count, 77)
        XCTAssertLessThan(Date().timeIntervalSince(start), 30)
    }

    func testConcurrentEncodingGivesTheSameIdsAsSerial() {
        let texts = (0..<400).map { "prompt \($0): a Ünïcödé cat № \($0 * 7) on 東京 \u{1F600} it's" }
        let serial = texts.map { tokenizer.encode($0) }
        let fresh = try! CLIPTokenizer.bundled()
        let results = ResultsBox(count: texts.count)
        DispatchQueue.concurrentPerform(iterations: texts.count) { i in
            results.set(i, fresh.encode(texts[i]))
        }
        XCTAssertEqual(results.values, serial)
    }

    func testBadVocabularyFilesGiveOneLineErrors() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("clip-bad-\(getpid())")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        func write(_ name: String, _ bytes: [UInt8]) -> URL {
            let url = dir.appendingPathComponent(name)
            try! Data(bytes).write(to: url)
            return url
        }
        func error(_ body: () throws -> CLIPTokenizer) -> CLIPTokenizerError? {
            do { _ = try body(); return nil } catch { return error as? CLIPTokenizerError }
        }
        let missing = dir.appendingPathComponent("nope.txt.gz")
        var e = error { try CLIPTokenizer(vocabularyGzipURL: missing) }
        guard case .unreadableFile = e else { return XCTFail("missing file: \(String(describing: e))") }

        let gz = try Data(contentsOf: XCTUnwrap(URL(fileURLWithPath: #filePath).deletingLastPathComponent()
            .deletingLastPathComponent().deletingLastPathComponent().appendingPathComponent("Weights/bpe_simple_vocab_16e6.txt.gz")))
        let truncated = write("truncated.gz", Array(gz.prefix(5000)))
        e = error { try CLIPTokenizer(vocabularyGzipURL: truncated) }
        guard case .badVocabularyArchive = e else { return XCTFail("truncated gzip: \(String(describing: e))") }

        let short = write("short.gz", gzip(Array("#version: 0.2\ni n\nt h\n".utf8)))
        e = error { try CLIPTokenizer(vocabularyGzipURL: short) }
        guard case .badVocabulary = e else { return XCTFail("short vocabulary: \(String(describing: e))") }

        let badLine = write("badline.gz", gzip(Array("#version: 0.2\ni n\nthree parts here\n".utf8)))
        XCTAssertEqual(error { try CLIPTokenizer(vocabularyGzipURL: badLine) },
                       .badMerge(path: badLine.path, line: 3, reason: "not two tokens"))

        let merges = write("merges.txt", Array("#version: 0.2\ni n\n".utf8))
        let notObject = write("vocab.json", Array("[1, 2]".utf8))
        e = error { try CLIPTokenizer(vocabJSON: notObject, merges: merges) }
        guard case .badVocabulary = e else { return XCTFail("vocab.json array: \(String(describing: e))") }

        let noSpecials = write("vocab2.json", Array(#"{"i": 0, "n": 1, "in": 2}"#.utf8))
        e = error { try CLIPTokenizer(vocabJSON: noSpecials, merges: merges) }
        guard case .badVocabulary = e else { return XCTFail("no specials: \(String(describing: e))") }

        let unknown = write("vocab3.json", Array(#"{"i": 0, "n": 1, "<|startoftext|>": 2, "<|endoftext|>": 3}"#.utf8))
        XCTAssertEqual(error { try CLIPTokenizer(vocabJSON: unknown, merges: merges) },
                       .badMerge(path: merges.path, line: 2, reason: "\"in\" is not in vocab.json"))

        let hugeID = write("vocab4.json", Array(#"{"i": 99999999, "<|startoftext|>": 2, "<|endoftext|>": 3}"#.utf8))
        e = error { try CLIPTokenizer(vocabJSON: hugeID, merges: merges) }
        guard case .badVocabulary = e else { return XCTFail("huge id: \(String(describing: e))") }

        for err in [CLIPTokenizerError.bundledVocabularyNotFound(searched: ["/a", "/b"]),
                    .unreadableFile(path: "/x", reason: "gone"), .badVocabularyArchive(path: "/x", reason: "crc"),
                    .badVocabulary(path: "/x", reason: "odd"), .badMerge(path: "/x", line: 3, reason: "odd")] {
            XCTAssertFalse(err.description.contains("\n"))
        }
    }

    /// A one-member gzip file holding `bytes` (< 64 KiB) in one stored deflate block.
    private func gzip(_ bytes: [UInt8]) -> [UInt8] {
        var crc: UInt32 = 0xFFFF_FFFF  // bitwise CRC-32, polynomial 0xEDB88320
        for b in bytes {
            crc ^= UInt32(b)
            for _ in 0..<8 { crc = crc & 1 != 0 ? 0xEDB8_8320 ^ (crc >> 1) : crc >> 1 }
        }
        crc = ~crc
        let n = UInt32(bytes.count)
        func le(_ v: UInt32) -> [UInt8] { [UInt8(v & 0xFF), UInt8(v >> 8 & 0xFF), UInt8(v >> 16 & 0xFF), UInt8(v >> 24)] }
        return [0x1F, 0x8B, 8, 0, 0, 0, 0, 0, 0, 255, 1, UInt8(n & 0xFF), UInt8(n >> 8), UInt8(~n & 0xFF), UInt8(~n >> 8 & 0xFF)]
            + bytes + le(crc) + le(n)
    }
}

/// Per-index results written from concurrent iterations.
private final class ResultsBox: @unchecked Sendable {
    private var storage: [[Int]]
    private let lock = NSLock()
    init(count: Int) { storage = Array(repeating: [], count: count) }
    func set(_ i: Int, _ v: [Int]) {
        lock.lock()
        storage[i] = v
        lock.unlock()
    }
    var values: [[Int]] { storage }
}
