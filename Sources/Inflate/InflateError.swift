/// Why a deflate, zlib or gzip stream could not be decoded.
///
/// Every case names the byte offset into the compressed input at which the problem was found, so a
/// user can locate the damage with a hex dump. `description` is one line.
public enum InflateError: Error, CustomStringConvertible, Equatable {
    /// The input ended before the stream did (at `offset`, the input length).
    case truncatedInput(offset: Int)
    /// A block header named the reserved block type 3.
    case badBlockType(offset: Int)
    /// A stored block's LEN and NLEN fields are not one's complements of each other.
    case badStoredLength(offset: Int, length: Int, complement: Int)
    /// A dynamic block's code-length description is invalid (`detail` says how).
    case badCodeLengths(offset: Int, detail: String)
    /// The bits at `offset` are not a code of the current Huffman table, or decode to a reserved symbol.
    case badHuffmanCode(offset: Int)
    /// A back-reference points before the start of the output.
    case distanceTooFarBack(offset: Int, distance: Int, available: Int)
    /// Decoding would produce more than `limit` bytes (the caller's `maxOutputBytes`).
    case outputTooLarge(limit: Int)
    /// A stored checksum or length does not match the decoded data (`kind`: "Adler-32", "CRC-32", "ISIZE",
    /// "header CRC-16").
    case checksumMismatch(kind: String, offset: Int, stored: UInt32, computed: UInt32)
    /// A zlib or gzip header is not valid (`detail` says which field).
    case badHeader(offset: Int, detail: String)

    /// One line: what is wrong, where (byte offset or file), what was expected.
    public var description: String {
        switch self {
        case .truncatedInput(let offset):
            return "compressed data truncated: input ends at byte \(offset) before the end of the stream"
        case .badBlockType(let offset):
            return "deflate: invalid block type 3 (reserved) at byte \(offset); expected 0 (stored), 1 (fixed) or 2 (dynamic)"
        case .badStoredLength(let offset, let length, let complement):
            return "deflate: stored block at byte \(offset) has LEN \(length) and NLEN \(complement), which are not complements"
        case .badCodeLengths(let offset, let detail):
            return "deflate: invalid Huffman code lengths at byte \(offset): \(detail)"
        case .badHuffmanCode(let offset):
            return "deflate: invalid Huffman code or reserved symbol at byte \(offset)"
        case .distanceTooFarBack(let offset, let distance, let available):
            return "deflate: back-reference at byte \(offset) reaches \(distance) bytes back but only \(available) bytes were produced"
        case .outputTooLarge(let limit):
            return "decompressed data exceeds the limit of \(limit) bytes"
        case .checksumMismatch(let kind, let offset, let stored, let computed):
            return "\(kind) mismatch at byte \(offset): stored \(hex(stored)), computed \(hex(computed)); the data is corrupt"
        case .badHeader(let offset, let detail):
            return "bad compressed-stream header at byte \(offset): \(detail)"
        }
    }
}

/// `0x` followed by 8 hex digits.
private func hex(_ v: UInt32) -> String {
    let s = String(v, radix: 16)
    return "0x" + String(repeating: "0", count: max(0, 8 - s.count)) + s
}
