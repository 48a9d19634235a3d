/// The per-character facts the tokenizer asks about, with the Unicode versions of Hugging Face's Rust code
/// applied, looked up from one byte per character for the Basic Multilingual Plane.
///
/// Swift's `Unicode.Scalar.Properties` lookups cost tens of nanoseconds each and the pipeline asks several
/// per character, so the BMP answers are computed once per process into a table (65,536 characters, about
/// 20 ms of CPU, on the first non-ASCII text); ASCII has its own small table and characters above U+FFFF
/// are answered directly.
enum CharacterTable {
    /// `\p{L}`, `\p{N}`, `\s` (White_Space) or none of them, as the CLIP regex sees a character.
    enum Class: UInt8 { case letter = 0, number = 1, whitespace = 2, other = 3 }

    private static let classMask: UInt8 = 0b11
    private static let unicode9Bit: UInt8 = 1 << 2
    private static let lowercaseBit: UInt8 = 1 << 3
    private static let combiningBit: UInt8 = 1 << 4

    /// `[65536]` flag bytes: class (bits 0–1), in Unicode 9.0 (bit 2), changes when lowercased (bit 3),
    /// non-zero combining class in Unicode 9.0 (bit 4).
    private static let bmp: [UInt8] = (0..<0x10000).map { v -> UInt8 in
        guard let s = Unicode.Scalar(UInt32(v)) else { return Class.other.rawValue }  // surrogate code points
        return computeFlags(s)
    }

    private static func computeFlags(_ s: Unicode.Scalar) -> UInt8 {
        let p = s.properties
        var flags = computeClass(s).rawValue
        let inUnicode9 = UnicodeData.isInUnicode9(s)
        if inUnicode9 { flags |= unicode9Bit }
        if p.changesWhenLowercased { flags |= lowercaseBit }
        if inUnicode9 && p.canonicalCombiningClass.rawValue != 0 { flags |= combiningBit }
        return flags
    }

    /// The class per the Oniguruma regex engine of `tokenizers`, whose property tables are Unicode 16.0:
    /// characters assigned later count as unassigned (`other`).
    private static func computeClass(_ s: Unicode.Scalar) -> Class {
        let p = s.properties
        if p.isWhitespace { return .whitespace }
        guard let age = p.age, age.major <= 16 else { return .other }
        switch p.generalCategory {
        case .uppercaseLetter, .lowercaseLetter, .titlecaseLetter, .modifierLetter, .otherLetter: return .letter
        case .decimalNumber, .letterNumber, .otherNumber: return .number
        default: return .other
        }
    }

    /// `[128]`: the flags of ASCII, so that ASCII-only text never builds the BMP table.
    private static let ascii: [UInt8] = (0..<0x80).map { computeFlags(Unicode.Scalar(UInt8($0))) }

    @inline(__always)
    private static func flags(_ s: Unicode.Scalar) -> UInt8 {
        let v = s.value
        if v < 0x80 { return ascii[Int(v)] }
        return v < 0x10000 ? bmp[Int(v)] : computeFlags(s)
    }

    /// The regex class of `s`.
    @inline(__always)
    static func characterClass(_ s: Unicode.Scalar) -> Class {
        Class(rawValue: flags(s) & classMask) ?? .other
    }

    /// Whether `s` has the White_Space property.
    @inline(__always)
    static func isWhitespace(_ s: Unicode.Scalar) -> Bool { flags(s) & classMask == Class.whitespace.rawValue }

    /// Whether lowercasing changes `s`.
    @inline(__always)
    static func changesWhenLowercased(_ s: Unicode.Scalar) -> Bool { flags(s) & lowercaseBit != 0 }

    /// Whether `s` was assigned in Unicode 9.0 or earlier.
    @inline(__always)
    static func isInUnicode9(_ s: Unicode.Scalar) -> Bool { flags(s) & unicode9Bit != 0 }

    /// The canonical combining class of `s` in Unicode 9.0 (0 for characters assigned later).
    @inline(__always)
    static func combiningClass(_ s: Unicode.Scalar) -> UInt8 {
        flags(s) & combiningBit == 0 ? 0 : s.properties.canonicalCombiningClass.rawValue
    }
}
