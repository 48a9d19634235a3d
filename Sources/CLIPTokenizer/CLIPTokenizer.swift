import Foundation
import Inflate
import TRIMJSON
import TRIMResources

/// CLIP's byte-level BPE tokenizer, giving the same ids as Hugging Face's `CLIPTokenizerFast` for the
/// `openai/clip-vit-*` checkpoints (`tokenizer(text, truncation=True, max_length=77).input_ids`).
///
/// The pipeline, one step per function:
/// 1. `normalize` — NFC, whitespace runs → one space, lowercase (`Normalizer`);
/// 2. pre-tokenize — special tokens out, then the CLIP regex (`PreTokenizer`);
/// 3. BPE — each piece's UTF-8 bytes merged by rank, `</w>` on the last (`BytePairEncoding`);
/// 4. ids — `<|startoftext|>` + pieces' ids + `<|endoftext|>`, truncated to the context length.
///
/// A value type holding an immutable vocabulary plus a shared, thread-safe cache of encoded pieces: copies
/// are cheap and it may be used from any thread.
public struct CLIPTokenizer: Sendable {
    /// `<|startoftext|>` in the OpenAI vocabulary.
    public static let startOfText = 49406
    /// `<|endoftext|>` in the OpenAI vocabulary (also the unknown and padding token).
    public static let endOfText = 49407
    /// CLIP's text context: 77 positions including the two special tokens.
    public static let contextLength = 77
    /// The file name of the bundled OpenAI vocabulary under `Weights/`.
    public static let bundledVocabularyName = "bpe_simple_vocab_16e6.txt.gz"

    /// The id of `<|startoftext|>` in this tokenizer's vocabulary.
    public let startOfTextID: Int
    /// The id of `<|endoftext|>` in this tokenizer's vocabulary.
    public let endOfTextID: Int
    /// Number of tokens in the vocabulary (49,408 for CLIP).
    public let vocabularySize: Int
    private let bpe: BytePairEncoding
    private let specials: PreTokenizer.SpecialTokens

    // MARK: - Loading

    /// The tokenizer for the vocabulary bundled under `Weights/` (found with `BundledResources`), loaded
    /// once per process.
    public static func bundled() throws(CLIPTokenizerError) -> CLIPTokenizer {
        try bundledResult.get()
    }

    private static let bundledResult: Result<CLIPTokenizer, CLIPTokenizerError> = {
        guard let url = BundledResources.url(for: bundledVocabularyName) else {
            return .failure(.bundledVocabularyNotFound(searched: BundledResources.searchDirectories.map(\.path)))
        }
        return Result { () throws(CLIPTokenizerError) in try CLIPTokenizer(vocabularyGzipURL: url) }
    }()

    /// A tokenizer from OpenAI's `bpe_simple_vocab_16e6.txt.gz`: Hugging Face's vocabulary is derived from
    /// it (merges = lines 1…48,894; vocab = the 256 byte characters, the same with `</w>`, each merge
    /// joined, `<|startoftext|>`, `<|endoftext|>`).
    public init(vocabularyGzipURL url: URL) throws(CLIPTokenizerError) {
        let compressed = try Self.read(url, limit: 64 << 20)
        let text: [UInt8]
        do {
            text = try Inflate.gzipDecompress(compressed, maxOutputBytes: 64 << 20)
        } catch {
            throw .badVocabularyArchive(path: url.path, reason: error.description)
        }
        try self.init(openAIVocabulary: text, path: url.path)
    }

    /// A tokenizer from the decompressed text of OpenAI's BPE vocabulary file (`path` is for messages).
    init(openAIVocabulary text: [UInt8], path: String) throws(CLIPTokenizerError) {
        let mergeCount = 49152 - 256 - 2
        // Ids: the 256 byte characters, the same with </w>, one per merge (in order), then the specials.
        var tokens = ByteLevel.bytesInVocabularyOrder.map { String(ByteLevel.characterForByte[Int($0)]) }
        tokens += tokens.map { $0 + "</w>" }
        tokens.reserveCapacity(49408)
        var idOf: [String: Int] = [:]
        idOf.reserveCapacity(49408)
        for (id, t) in tokens.enumerated() { idOf[t] = id }
        var merges: [(left: Int, right: Int, merged: Int)] = []
        merges.reserveCapacity(mergeCount)
        var lineStart = 0
        var line = 0  // 0-based; line 0 is the "#version" header
        while merges.count < mergeCount {
            guard lineStart < text.count else {
                throw .badVocabulary(path: path, reason: "only \(merges.count) merges, expected \(mergeCount) after the header line")
            }
            let lineEnd = text[lineStart...].firstIndex(of: 10) ?? text.count
            if line > 0 {
                let parts = text[lineStart..<lineEnd].split(separator: 32, omittingEmptySubsequences: false)
                guard parts.count == 2, !parts[0].isEmpty, !parts[1].isEmpty else {
                    throw .badMerge(path: path, line: line + 1, reason: "not two tokens")
                }
                let a = String(decoding: parts[0], as: UTF8.self), b = String(decoding: parts[1], as: UTF8.self)
                guard let left = idOf[a], let right = idOf[b] else {
                    throw .badMerge(path: path, line: line + 1, reason: "a token is not made by an earlier line")
                }
                let merged = a + b
                guard idOf[merged] == nil else {
                    throw .badMerge(path: path, line: line + 1, reason: "\"\(merged)\" is made twice")
                }
                idOf[merged] = tokens.count
                merges.append((left, right, tokens.count))
                tokens.append(merged)
            }
            lineStart = lineEnd + 1
            line += 1
        }
        tokens += ["<|startoftext|>", "<|endoftext|>"]
        self.init(tokens: tokens, merges: merges, startOfText: tokens.count - 2, endOfText: tokens.count - 1)
    }

    /// A tokenizer from Hugging Face files: `vocab.json` (token → id) and `merges.txt` (one merge per line,
    /// `#version` lines skipped, rank = order). Both special tokens must be in `vocab.json`.
    public init(vocabJSON: URL, merges mergesURL: URL) throws(CLIPTokenizerError) {
        let json: JSONValue
        do {
            json = try JSON.parse(try Self.read(vocabJSON, limit: 64 << 20))
        } catch let error as CLIPTokenizerError {
            throw error
        } catch {
            throw .badVocabulary(path: vocabJSON.path, reason: "\(error)")
        }
        guard let object = json.objectValue else {
            throw .badVocabulary(path: vocabJSON.path, reason: "expected a JSON object of token → id, found \(json.kindName)")
        }
        var vocabulary: [String: Int] = [:]
        vocabulary.reserveCapacity(object.count)
        var maxID = -1
        for (token, value) in object {
            guard let id = value.intValue, id >= 0, id < 2 * object.count + 1024 else {
                throw .badVocabulary(path: vocabJSON.path,
                                     reason: "the id of \"\(token)\" is not an integer in 0..<\(2 * object.count + 1024)")
            }
            vocabulary[token] = id
            maxID = max(maxID, id)
        }
        var tokens = [String?](repeating: nil, count: maxID + 1)
        for (token, id) in vocabulary { tokens[id] = token }
        guard let bos = vocabulary["<|startoftext|>"], let eos = vocabulary["<|endoftext|>"] else {
            throw .badVocabulary(path: vocabJSON.path, reason: "missing <|startoftext|> or <|endoftext|>")
        }
        let text = try Self.read(mergesURL, limit: 64 << 20)
        var merges: [(left: Int, right: Int, merged: Int)] = []
        for (index, rawLine) in text.split(separator: 10, omittingEmptySubsequences: false).enumerated() {
            var bytes = rawLine
            if bytes.last == 13 { bytes = bytes.dropLast() }  // CRLF files
            if bytes.isEmpty || bytes.starts(with: Array("#version".utf8)) { continue }
            let parts = bytes.split(separator: 32, omittingEmptySubsequences: false)
            guard parts.count == 2, !parts[0].isEmpty, !parts[1].isEmpty else {
                throw .badMerge(path: mergesURL.path, line: index + 1, reason: "not two tokens")
            }
            let a = String(decoding: parts[0], as: UTF8.self), b = String(decoding: parts[1], as: UTF8.self)
            var ids: [Int] = []
            for t in [a, b, a + b] {
                guard let id = vocabulary[t] else {
                    throw .badMerge(path: mergesURL.path, line: index + 1, reason: "\"\(t)\" is not in vocab.json")
                }
                ids.append(id)
            }
            merges.append((ids[0], ids[1], ids[2]))
        }
        self.init(tokens: tokens, merges: merges, startOfText: bos, endOfText: eos)
    }

    private init(tokens: [String?], merges: [(left: Int, right: Int, merged: Int)], startOfText: Int, endOfText: Int) {
        startOfTextID = startOfText
        endOfTextID = endOfText
        vocabularySize = tokens.reduce(0) { $0 + ($1 == nil ? 0 : 1) }
        bpe = BytePairEncoding(tokens: tokens, merges: merges, unknownID: endOfText)
        specials = PreTokenizer.SpecialTokens(tokens: [
            (Array("<|startoftext|>".unicodeScalars), startOfText), (Array("<|endoftext|>".unicodeScalars), endOfText),
        ])
    }

    /// The tokenizer for a CLIP model directory: its own `vocab.json` + `merges.txt` when both are present,
    /// else the bundled vocabulary.
    public static func forModelDirectory(_ directory: URL) throws(CLIPTokenizerError) -> CLIPTokenizer {
        let vocab = directory.appendingPathComponent("vocab.json")
        let merges = directory.appendingPathComponent("merges.txt")
        let fm = FileManager.default
        if fm.fileExists(atPath: vocab.path) && fm.fileExists(atPath: merges.path) {
            return try CLIPTokenizer(vocabJSON: vocab, merges: merges)
        }
        return try bundled()
    }

    /// The bytes of `url`, at most `limit` of them.
    private static func read(_ url: URL, limit: Int) throws(CLIPTokenizerError) -> [UInt8] {
        let attributes = try? FileManager.default.attributesOfItem(atPath: url.path)
        if let size = attributes?[.size] as? Int, size > limit {
            throw .unreadableFile(path: url.path, reason: "\(size) bytes is over the \(limit)-byte limit")
        }
        do {
            let data = try Data(contentsOf: url)
            guard data.count <= limit else {
                throw CLIPTokenizerError.unreadableFile(path: url.path, reason: "over the \(limit)-byte limit")
            }
            return [UInt8](data)
        } catch let error as CLIPTokenizerError {
            throw error
        } catch {
            throw .unreadableFile(path: url.path, reason: (error as NSError).localizedDescription)
        }
    }

    // MARK: - Encoding

    /// The ids of `text`: `<|startoftext|>`, the text's tokens, `<|endoftext|>`.
    ///
    /// - Parameter truncateTo: the most ids returned (default 77, CLIP's context length); longer results
    ///   keep their first `truncateTo - 1` ids and end with `<|endoftext|>`, like Hugging Face's
    ///   `truncation=True, max_length=77`. Values below 2 count as 2. `nil` returns every id.
    public func encode(_ text: String, truncateTo: Int? = CLIPTokenizer.contextLength) -> [Int] {
        let normalized = Normalizer.normalize(text)
        var ids = [startOfTextID]
        ids.reserveCapacity(normalized.count / 3 + 2)
        var bytes: [UInt8] = []
        for piece in PreTokenizer.split(normalized, specials: specials) {
            switch piece {
            case .special(let id):
                ids.append(id)
            case .word(let range):
                bytes.removeAll(keepingCapacity: true)
                for s in normalized[range] { ByteLevel.appendUTF8(s, to: &bytes) }
                bpe.encode(bytes, into: &ids)
            }
        }
        if let limit = truncateTo, ids.count + 1 > limit {
            ids.removeLast(ids.count + 1 - max(2, limit))
        }
        ids.append(endOfTextID)
        return ids
    }

    /// `text` after step 1 (NFC, whitespace runs → " ", lowercase), as Hugging Face's
    /// `backend_tokenizer.normalizer.normalize_str` returns it.
    public static func normalize(_ text: String) -> String {
        var view = String.UnicodeScalarView()
        view.append(contentsOf: Normalizer.normalize(text))
        return String(view)
    }

    /// The pieces BPE sees for `text` (after normalization), in byte-level spelling (e.g. `"Ã©"` for "é"),
    /// with special tokens written out; for inspection and tests.
    public func preTokenize(_ text: String) -> [String] {
        let normalized = Normalizer.normalize(text)
        return PreTokenizer.split(normalized, specials: specials).map { piece in
            switch piece {
            case .special(let id): return bpe.token(id) ?? ""
            case .word(let range):
                var bytes: [UInt8] = []
                for s in normalized[range] { ByteLevel.appendUTF8(s, to: &bytes) }
                return ByteLevel.encode(bytes)
            }
        }
    }

    // MARK: - Decoding

    /// The text of `ids`, as Hugging Face's `CLIPTokenizerFast.decode` gives it: the tokens' bytes
    /// concatenated and read as UTF-8 (invalid sequences become U+FFFD), each `</w>` turned into a space,
    /// surrounding whitespace stripped. Special tokens are written out unless `skipSpecialTokens`;
    /// unknown ids are skipped.
    public func decode(_ ids: [Int], skipSpecialTokens: Bool = false) -> String {
        var bytes: [UInt8] = []
        for id in ids {
            if skipSpecialTokens && (id == startOfTextID || id == endOfTextID) { continue }
            guard let token = bpe.token(id) else { continue }
            bytes += ByteLevel.decode(token)
        }
        // "</w>" → " " on the bytes: the same as on the decoded text (ASCII never joins an invalid UTF-8
        // sequence), and unlike String.replacingOccurrences it cannot miss a "</w>" whose ">" forms one
        // grapheme with a following combining mark.
        var spaced: [UInt8] = []
        spaced.reserveCapacity(bytes.count)
        var i = 0
        while i < bytes.count {
            if bytes[i] == 0x3C, i + 3 < bytes.count, bytes[i + 1] == 0x2F, bytes[i + 2] == 0x77, bytes[i + 3] == 0x3E {
                spaced.append(0x20)
                i += 4
            } else {
                spaced.append(bytes[i])
                i += 1
            }
        }
        return Self.stripPythonWhitespace(String(decoding: spaced, as: UTF8.self))
    }

    /// The spelling of token `id` in the vocabulary (byte-level characters), or nil.
    public func token(for id: Int) -> String? { bpe.token(id) }

    /// `text` without leading and trailing characters that Python's `str.strip()` removes: `White_Space`
    /// plus the ASCII separators U+001C…U+001F.
    static func stripPythonWhitespace(_ text: String) -> String {
        func isSpace(_ s: Unicode.Scalar) -> Bool { (0x1C...0x1F).contains(s.value) || s.properties.isWhitespace }
        let scalars = Array(text.unicodeScalars)
        guard let first = scalars.firstIndex(where: { !isSpace($0) }),
              let last = scalars.lastIndex(where: { !isSpace($0) })
        else { return "" }
        var view = String.UnicodeScalarView()
        view.append(contentsOf: scalars[first...last])
        return String(view)
    }
}
