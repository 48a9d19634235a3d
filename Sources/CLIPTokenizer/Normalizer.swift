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

    /// Canonical composition (NFC) as a Unicode 9.0 normalizer computes it, by the algorithm of UAX #15:
    /// full canonical decomposition, canonical ordering of combining marks, then canonical composition.
    ///
    /// Characters assigned after Unicode 9.0 are inert, as in such a normalizer: no decomposition,
    /// combining class 0, never composed (see `UnicodeData` for where the data comes from).
    static func nfc(_ scalars: [Unicode.Scalar]) -> [Unicode.Scalar] {
        // Nothing below U+0300 decomposes or combines: the common case costs one pass.
        if scalars.allSatisfy({ $0.value < 0x300 }) { return scalars }
        // 1. Decompose.
        var chars: [UInt32] = []
        chars.reserveCapacity(scalars.count + 8)
        let data = UnicodeData.shared
        for s in scalars { data.appendDecomposition(of: s, to: &chars) }
        // 2. Reorder each run of non-starters by combining class (stable insertion sort; runs are short).
        let classes = chars.map { CharacterTable.combiningClass(Unicode.Scalar($0) ?? "\u{FFFD}") }
        var order = Array(chars.indices)
        var i = 0
        while i < chars.count {
            guard classes[i] != 0 else {
                i += 1
                continue
            }
            var j = i
            while j < chars.count && classes[j] != 0 { j += 1 }
            for k in (i + 1)..<max(i + 1, j) {
                let item = order[k]
                var m = k
                while m > i && classes[order[m - 1]] > classes[item] {
                    order[m] = order[m - 1]
                    m -= 1
                }
                order[m] = item
            }
            i = j
        }
        // 3. Compose: each character joins the last starter when a primary composite exists and no
        // character of equal or higher class stands between them.
        var out: [UInt32] = []
        out.reserveCapacity(chars.count)
        var starter = -1  // index in `out`
        var lastClass: Int = 256
        for index in order {
            let c = chars[index]
            let cls = Int(classes[index])
            if starter >= 0, lastClass < cls || lastClass == 0,
                let composite = data.compose(out[starter], c)
            {
                out[starter] = composite
                continue
            }
            if cls == 0 {
                starter = out.count
            }
            lastClass = cls
            out.append(c)
        }
        return out.map { Unicode.Scalar($0) ?? "\u{FFFD}" }  // never nil: scalars and table values
    }

    // MARK: Whitespace

    /// Replaces each run of `White_Space` characters with one U+0020.
    static func collapseWhitespace(_ scalars: [Unicode.Scalar]) -> [Unicode.Scalar] {
        var out: [Unicode.Scalar] = []
        out.reserveCapacity(scalars.count)
        var inRun = false
        for s in scalars {
            if CharacterTable.isWhitespace(s) {
                if !inRun { out.append(" ") }
                inRun = true
            } else {
                out.append(s)
                inRun = false
            }
        }
        return out
    }

    // MARK: Lowercase

    /// Each character replaced by its full lowercase mapping, without context.
    static func lowercase(_ scalars: [Unicode.Scalar]) -> [Unicode.Scalar] {
        var out: [Unicode.Scalar] = []
        out.reserveCapacity(scalars.count)
        for s in scalars {
            if s.value < 0x80 {
                out.append((0x41...0x5A).contains(s.value) ? Unicode.Scalar(UInt8(s.value + 32)) : s)
            } else if CharacterTable.changesWhenLowercased(s) {
                out += s.properties.lowercaseMapping.unicodeScalars
            } else {
                out.append(s)
            }
        }
        return out
    }
}
