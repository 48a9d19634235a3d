/// Step 2 of the pipeline: cutting normalized text into the pieces BPE encodes one by one.
///
/// Hugging Face's pipeline first takes out the special tokens (`<|startoftext|>`, `<|endoftext|>`; in the
/// CLIP checkpoints they are "normalized" added tokens, so they are found in the normalized — lowercased —
/// text), then splits the rest with the CLIP regex
/// `'s|'t|'re|'ve|'m|'ll|'d|[\p{L}]+|[\p{N}]|[^\s\p{L}\p{N}]+` (whitespace is dropped), then applies the
/// ByteLevel pre-tokenizer, whose GPT-2 regex never splits these pieces further.
/// The regex's leading `<\|startoftext\|>|<\|endoftext\|>` alternatives can never match once the special
/// tokens are out, so they are not implemented.
enum PreTokenizer {
    /// A pre-tokenized piece: a special token's id, or a range of the normalized scalars for BPE.
    enum Piece: Equatable {
        case special(Int)
        case word(Range<Int>)
    }

    /// The special tokens' spellings and ids, matched leftmost-first in the normalized text.
    struct SpecialTokens: Sendable {
        var tokens: [(scalars: [Unicode.Scalar], id: Int)]
    }

    /// Splits `scalars` (normalized text) into pieces, in order.
    static func split(_ scalars: [Unicode.Scalar], specials: SpecialTokens) -> [Piece] {
        var pieces: [Piece] = []
        var start = 0
        var i = 0
        let n = scalars.count
        while i < n {
            if scalars[i] == "<", let (length, id) = matchSpecial(scalars, at: i, specials) {
                splitWords(scalars, start..<i, into: &pieces)
                pieces.append(.special(id))
                i += length
                start = i
            } else {
                i += 1
            }
        }
        splitWords(scalars, start..<n, into: &pieces)
        return pieces
    }

    /// The special token starting at `i`, if any (the longest one when several match).
    private static func matchSpecial(_ scalars: [Unicode.Scalar], at i: Int, _ specials: SpecialTokens)
        -> (Int, Int)?
    {
        var best: (Int, Int)? = nil
        for (spelling, id) in specials.tokens where i + spelling.count <= scalars.count {
            if spelling.count > (best?.0 ?? 0) && scalars[i..<(i + spelling.count)].elementsEqual(spelling) {
                best = (spelling.count, id)
            }
        }
        return best
    }

    /// The CLIP regex on `range`: contractions, letter runs, single digits, runs of other non-space
    /// characters. Appends one `.word` piece per match.
    static func splitWords(_ s: [Unicode.Scalar], _ range: Range<Int>, into pieces: inout [Piece]) {
        var i = range.lowerBound
        let end = range.upperBound
        while i < end {
            if s[i] == "'", let length = contractionLength(s, i, end) {
                pieces.append(.word(i..<(i + length)))
                i += length
                continue
            }
            let c = CharacterTable.characterClass(s[i])
            switch c {
            case .whitespace:
                i += 1
            case .number:
                pieces.append(.word(i..<(i + 1)))
                i += 1
            case .letter, .other:
                var j = i + 1
                while j < end && CharacterTable.characterClass(s[j]) == c { j += 1 }
                pieces.append(.word(i..<j))
                i = j
            }
        }
    }

    /// 2 or 3 when `'s 't 'm 'd` or `'re 've 'll` starts at `i` (the text is already lowercase).
    @inline(__always)
    private static func contractionLength(_ s: [Unicode.Scalar], _ i: Int, _ end: Int) -> Int? {
        guard i + 1 < end else { return nil }
        switch s[i + 1] {
        case "s", "t", "m", "d": return 2
        case "r", "v": return i + 2 < end && s[i + 2] == "e" ? 3 : nil
        case "l": return i + 2 < end && s[i + 2] == "l" ? 3 : nil
        default: return nil
        }
    }
}
