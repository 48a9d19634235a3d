import Foundation

/// Canonical decompositions and compositions of Unicode 9.0, for `Normalizer.nfc`.
///
/// Built once per process (about 17,000 lookups, a few tens of milliseconds, on the first text that needs
/// it) from Swift's and Foundation's Unicode data, restricted to characters assigned in Unicode 9.0 or
/// earlier. Foundation is asked only for the canonical decomposition of single characters; the
/// composition pairs are derived from those decompositions here, because Foundation's string-level NFC
/// is unreliable (it does not compose U+0CCA + U+0CD5 → U+0CCB, misorders marks after U+0F73, and
/// mishandles Hangul LV + T). Hangul syllables are computed (Unicode §3.12), not tabulated.
struct UnicodeData: Sendable {
    static let shared = UnicodeData()

    /// Full canonical decompositions of the characters that have one.
    private let decompositions: [UInt32: [UInt32]]
    /// `(first << 32 | second)` → primary composite.
    private let compositions: [UInt64: UInt32]

    private static let sBase: UInt32 = 0xAC00, lBase: UInt32 = 0x1100, vBase: UInt32 = 0x1161
    private static let tBase: UInt32 = 0x11A7, syllableCount: UInt32 = 11172

    /// The blocks holding every canonical decomposition of Unicode 9.0 except Hangul syllables.
    private static let decomposableRanges: [Range<UInt32>] = [
        0xC0..<0x3100, 0xF900..<0xFC00, 0x11000..<0x11A00, 0x1D100..<0x1D200, 0x2F800..<0x2FB00,
    ]

    private init() {
        var decompositions: [UInt32: [UInt32]] = [:]
        var primaryByDecomposition: [[UInt32]: UInt32] = [:]
        var primaries: [UInt32] = []
        for range in Self.decomposableRanges {
            for c in range {
                guard let s = Unicode.Scalar(c), Self.isInUnicode9(s) else { continue }
                let d = String(s).decomposedStringWithCanonicalMapping.unicodeScalars.map(\.value)
                guard d != [c] else { continue }
                decompositions[c] = d
                if !s.properties.isFullCompositionExclusion {
                    primaryByDecomposition[d] = c
                    primaries.append(c)
                }
            }
        }
        // A primary composite's own mapping is <X, Y>: Y is the last character of its full decomposition
        // and X is the character (itself, if not decomposable further) whose full decomposition is the rest.
        var compositions: [UInt64: UInt32] = [:]
        for z in primaries {
            guard let d = decompositions[z], d.count >= 2 else { continue }
            let prefix = Array(d.dropLast())
            guard let x = prefix.count == 1 ? prefix[0] : primaryByDecomposition[prefix] else { continue }
            compositions[UInt64(x) << 32 | UInt64(d[d.count - 1])] = z
        }
        self.decompositions = decompositions
        self.compositions = compositions
    }

    /// Whether `s` was assigned in Unicode 9.0 or earlier.
    @inline(__always)
    static func isInUnicode9(_ s: Unicode.Scalar) -> Bool {
        if s.value < 0x300 { return true }
        guard let age = s.properties.age else { return false }
        return age.major < 9 || (age.major == 9 && age.minor == 0)
    }

    /// Appends the full canonical decomposition of `s` (itself if it has none) to `out`.
    @inline(__always)
    func appendDecomposition(of s: Unicode.Scalar, to out: inout [UInt32]) {
        let c = s.value
        if c < 0xC0 || !CharacterTable.isInUnicode9(s) {
            out.append(c)
        } else if (Self.sBase..<Self.sBase + Self.syllableCount).contains(c) {
            let index = c - Self.sBase
            out.append(Self.lBase + index / (21 * 28))
            out.append(Self.vBase + index % (21 * 28) / 28)
            if index % 28 != 0 { out.append(Self.tBase + index % 28) }
        } else if let d = decompositions[c] {
            out += d
        } else {
            out.append(c)
        }
    }

    /// The primary composite of `first` + `second`, if any.
    @inline(__always)
    func compose(_ first: UInt32, _ second: UInt32) -> UInt32? {
        // Hangul: L + V → LV, LV + T → LVT (T excludes U+11A7, which stands for "no trailing consonant").
        if (Self.lBase..<Self.lBase + 19).contains(first) {
            return (Self.vBase..<Self.vBase + 21).contains(second)
                ? Self.sBase + ((first - Self.lBase) * 21 + (second - Self.vBase)) * 28 : nil
        }
        if (Self.sBase..<Self.sBase + Self.syllableCount).contains(first) {
            return (first - Self.sBase) % 28 == 0 && (Self.tBase + 1..<Self.tBase + 28).contains(second)
                ? first + (second - Self.tBase) : nil
        }
        return compositions[UInt64(first) << 32 | UInt64(second)]
    }
}
