/// Why a JPEG file could not be decoded.
///
/// Every case carries the byte offset where the problem was found and, where it applies, the marker
/// segment involved; `description` is one line a user can act on.
public enum JPEGError: Error, CustomStringConvertible, Equatable {
    /// The data does not start with the start-of-image marker `FF D8`.
    case notJPEG
    /// The file ends (at `offset`, the file length) before the image is complete: inside a marker
    /// segment, inside entropy-coded data, or before the end-of-image marker. Pillow raises
    /// `OSError("image file is truncated")` for the same files (its default `LOAD_TRUNCATED_IMAGES=False`).
    case truncated(offset: Int, context: String)
    /// A marker segment violates the JPEG syntax (bad length, bad table, bad component, …).
    case badSegment(marker: String, offset: Int, reason: String)
    /// A valid JPEG feature this decoder does not implement (arithmetic coding, lossless,
    /// hierarchical, 12-bit samples, …).
    case unsupported(marker: String, offset: Int, feature: String)
    /// The entropy-coded data of a scan cannot be decoded (no Huffman code matches).
    case corruptData(offset: Int, reason: String)
    /// The image has more than `limit` pixels (`ImageLimits.maxPixels`); refused before allocating.
    case tooLarge(width: Int, height: Int, limit: Int)

    /// One line: what was wrong, where, what was expected.
    public var description: String {
        switch self {
        case .notJPEG:
            return "not a JPEG file: expected the start-of-image marker FF D8 at byte 0"
        case .truncated(let offset, let context):
            return "JPEG file is truncated: data ends at byte \(offset) while reading \(context)"
        case .badSegment(let marker, let offset, let reason):
            return "malformed JPEG \(marker) segment at byte \(offset): \(reason)"
        case .unsupported(let marker, let offset, let feature):
            return "unsupported JPEG feature in \(marker) at byte \(offset): \(feature)"
        case .corruptData(let offset, let reason):
            return "corrupt JPEG entropy-coded data near byte \(offset): \(reason)"
        case .tooLarge(let width, let height, let limit):
            return
                "JPEG image \(width)×\(height) has \(width * height) pixels, more than the limit of \(limit)"
        }
    }
}

/// A readable name for marker byte `m` (the byte after `FF`), e.g. `"SOF2 (FFC2)"`.
func jpegMarkerName(_ m: UInt8) -> String {
    let hex = String(m, radix: 16, uppercase: true)
    let code = "FF" + (hex.count < 2 ? "0" + hex : hex)
    let name: String
    switch m {
    case 0xC4: name = "DHT"
    case 0xC8: name = "JPG"
    case 0xCC: name = "DAC"
    case 0xC0...0xCF: name = "SOF\(m - 0xC0)"
    case 0xD0...0xD7: name = "RST\(m - 0xD0)"
    case 0xD8: name = "SOI"
    case 0xD9: name = "EOI"
    case 0xDA: name = "SOS"
    case 0xDB: name = "DQT"
    case 0xDC: name = "DNL"
    case 0xDD: name = "DRI"
    case 0xE0...0xEF: name = "APP\(m - 0xE0)"
    case 0xFE: name = "COM"
    default: name = "marker"
    }
    return "\(name) (\(code))"
}
