/// GPT-2's byte-level alphabet: every byte 0…255 is written as one printable character, so that byte
/// strings can be stored in text vocabularies.
///
/// Printable bytes (`!`…`~`, `¡`…`¬`, `®`…`ÿ`) stand for themselves; the other 68 bytes, in increasing
/// order, become U+0100, U+0101, …. The order of this table is also the order of the first 256 ids of the
/// OpenAI vocabulary.
enum ByteLevel {
    /// The 256 bytes in vocabulary order: the 188 printable ones, then the rest.
    static let bytesInVocabularyOrder: [UInt8] = {
        let printable = Array(33...126) + Array(161...172) + Array(174...255)
        let rest = (0...255).filter { !printable.contains($0) }
        return (printable + rest).map { UInt8($0) }
    }()

    /// `[256]`: the character that stands for each byte.
    static let characterForByte: [Unicode.Scalar] = {
        var table = [Unicode.Scalar](repeating: "\0", count: 256)
        var extra: UInt32 = 256
        for b in 0..<256 {
            let printable = (33...126).contains(b) || (161...172).contains(b) || (174...255).contains(b)
            if printable {
                table[b] = Unicode.Scalar(UInt32(b))!
            } else {
                table[b] = Unicode.Scalar(extra)!
                extra += 1
            }
        }
        return table
    }()

    /// The inverse of `characterForByte`.
    static let byteForCharacter: [Unicode.Scalar: UInt8] = {
        var map: [Unicode.Scalar: UInt8] = [:]
        for (b, c) in characterForByte.enumerated() { map[c] = UInt8(b) }
        return map
    }()

    /// Appends the UTF-8 encoding of `s` (1–4 bytes) to `bytes`.
    @inline(__always)
    static func appendUTF8(_ s: Unicode.Scalar, to bytes: inout [UInt8]) {
        let v = s.value
        switch v {
        case 0..<0x80:
            bytes.append(UInt8(v))
        case 0x80..<0x800:
            bytes.append(UInt8(0xC0 | v >> 6))
            bytes.append(UInt8(0x80 | v & 0x3F))
        case 0x800..<0x10000:
            bytes.append(UInt8(0xE0 | v >> 12))
            bytes.append(UInt8(0x80 | v >> 6 & 0x3F))
            bytes.append(UInt8(0x80 | v & 0x3F))
        default:
            bytes.append(UInt8(0xF0 | v >> 18))
            bytes.append(UInt8(0x80 | v >> 12 & 0x3F))
            bytes.append(UInt8(0x80 | v >> 6 & 0x3F))
            bytes.append(UInt8(0x80 | v & 0x3F))
        }
    }

    /// The byte-level spelling of `bytes`, e.g. `"é"` (C3 A9) → `"Ã©"`.
    static func encode<S: Sequence>(_ bytes: S) -> String where S.Element == UInt8 {
        var s = String.UnicodeScalarView()
        for b in bytes { s.append(characterForByte[Int(b)]) }
        return String(s)
    }

    /// The bytes a vocabulary token stands for; a token with a character outside the alphabet (such as
    /// `<|endoftext|>` in some vocabularies) stands for its own UTF-8, as in Hugging Face's ByteLevel decoder.
    static func decode(_ token: String) -> [UInt8] {
        var out: [UInt8] = []
        for c in token.unicodeScalars {
            guard let b = byteForCharacter[c] else { return Array(token.utf8) }
            out.append(b)
        }
        return out
    }
}
