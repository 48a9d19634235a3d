import Foundation

/// Step 1 of the pipeline: Hugging Face's CLIP normalizer, `Sequence[NFC, Replace(\s+ → " "), Lowercase]`.
///
/// Each step reproduces the Rust implementation inside `tokenizers` (0.23), including the Unicode versions
/// its tables were built from, which are older than Swift's:
/// - NFC comes from the `unicode-normalization-alignments` crate, whose data is Unicode 9.0: characters
///   assigned later are left alone (no decomposition, combining class 0, never composed).
/// - `\s` is the Oniguruma regex engine's, i.e. the Unicode `White_Space` property (25 characters, including
///   U+0085 and U+00A0 but not U+180E, U+200B or the ASCII separators U+001C…U+001F). Runs are replaced
///   by one space; nothing is stripped.
/// - Lowercase is Rust's `char::to_lowercase` applied to each character on its own: the full (one-to-many)
///   mapping without context, so `İ` → `i̇` and a final `Σ` → `σ` (never `ς`).
enum Normalizer {
    /// The normalized text as scalars.
    static func normalize(_ text: String) -> [Unicode.Scalar] {
        lowercase(collapseWhitespace(nfc(Array(text.unicodeScalars))))
    }

    // MARK: NFC (Unicode 9.0)

    /// Canonical composition (NFC) as a Unicode 9.0 normalizer computes it.
    ///
    /// Text is cut into segments at characters newer than Unicode 9.0 (which such a normalizer treats as
    /// inert starters, so nothing reorders or composes across them) and around Hangul, which is composed
    /// here by the algorithm of Unicode §3.12 (Foundation's composition mishandles an LV syllable followed
    /// by a trailing jamo, and U+11A7). The other segments go through Foundation's NFC, which for text made
    /// only of Unicode 9.0 characters gives the Unicode 9.0 result (normalization stability).
    static func nfc(_ scalars: [Unicode.Scalar]) -> [Unicode.Scalar] {
        // Nothing below U+0300 decomposes or combines: the common case costs one pass.
        if scalars.allSatisfy({ $0.value < 0x300 }) { return scalars }
        var out: [Unicode.Scalar] = []
        out.reserveCapacity(scalars.count)
        var segment: [Unicode.Scalar] = []
        var segmentIsHangul = false
        func flush() {
            guard !segment.isEmpty else { return }
            if segmentIsHangul {
                out += composeHangul(segment)
            } else {
                var view = String.UnicodeScalarView()
                view.append(contentsOf: segment)
                out += String(view).precomposedStringWithCanonicalMapping.unicodeScalars
            }
            segment.removeAll(keepingCapacity: true)
        }
        for s in scalars {
            guard isInUnicode9(s) else {
                flush()
                out.append(s)
                continue
            }
            let hangul = isHangul(s)
            if hangul != segmentIsHangul {
                flush()
                segmentIsHangul = hangul
            }
            segment.append(s)
        }
        flush()
        return out
    }

    /// Whether `s` was assigned in Unicode 9.0 or earlier.
    @inline(__always)
    static func isInUnicode9(_ s: Unicode.Scalar) -> Bool {
        if s.value < 0x300 { return true }
        guard let age = s.properties.age else { return false }
        return age.major < 9 || (age.major == 9 && age.minor == 0)
    }

    /// Conjoining jamo (U+1100…U+11FF) and precomposed syllables (U+AC00…U+D7A3).
    @inline(__always)
    static func isHangul(_ s: Unicode.Scalar) -> Bool {
        (0x1100...0x11FF).contains(s.value) || (0xAC00...0xD7A3).contains(s.value)
    }

    /// Composes leading + vowel jamo into LV syllables and LV syllables + trailing jamo into LVT syllables
    /// (Unicode §3.12). All jamo are starters, so no reordering is involved.
    static func composeHangul(_ scalars: [Unicode.Scalar]) -> [Unicode.Scalar] {
        let sBase: UInt32 = 0xAC00, lBase: UInt32 = 0x1100, vBase: UInt32 = 0x1161, tBase: UInt32 = 0x11A7
        var out: [UInt32] = []
        for s in scalars {
            let c = s.value
            if let last = out.last {
                if (lBase..<lBase + 19).contains(last) && (vBase..<vBase + 21).contains(c) {
                    out[out.count - 1] = sBase + ((last - lBase) * 21 + (c - vBase)) * 28
                    continue
                }
                if (sBase..<sBase + 11172).contains(last) && (last - sBase) % 28 == 0
                    && (tBase + 1..<tBase + 28).contains(c)
                {
                    out[out.count - 1] = last + (c - tBase)
                    continue
                }
            }
            out.append(c)
        }
        return out.map { Unicode.Scalar($0)! }
    }

    // MARK: Whitespace

    /// Replaces each run of `White_Space` characters with one U+0020.
    static func collapseWhitespace(_ scalars: [Unicode.Scalar]) -> [Unicode.Scalar] {
        var out: [Unicode.Scalar] = []
        out.reserveCapacity(scalars.count)
        var inRun = false
        for s in scalars {
            if isWhitespace(s) {
                if !inRun { out.append(" ") }
                inRun = true
            } else {
                out.append(s)
                inRun = false
            }
        }
        return out
    }

    /// The `White_Space` property (Oniguruma's `\s`).
    @inline(__always)
    static func isWhitespace(_ s: Unicode.Scalar) -> Bool {
        switch s.value {
        case 0x20, 0x09...0x0D: return true
        case 0..<0x80: return false
        default: return s.properties.isWhitespace
        }
    }

    // MARK: Lowercase

    /// Each character replaced by its full lowercase mapping, without context.
    static func lowercase(_ scalars: [Unicode.Scalar]) -> [Unicode.Scalar] {
        var out: [Unicode.Scalar] = []
        out.reserveCapacity(scalars.count)
        for s in scalars {
            if s.value < 0x80 {
                out.append((0x41...0x5A).contains(s.value) ? Unicode.Scalar(s.value + 32)! : s)
            } else if s.properties.changesWhenLowercased {
                out += s.properties.lowercaseMapping.unicodeScalars
            } else {
                out.append(s)
            }
        }
        return out
    }
}
