import Inflate

/// A minimal PNG encoder: 8-bit RGB (colour type 2), not interlaced, one IDAT chunk compressed with the
/// project's own deflate. Used to write heat maps; readable by any PNG reader.
public enum PNGEncoder {
    /// The PNG file bytes for `image`. Each scanline uses the Sub filter (difference to the pixel on the
    /// left), which suits smooth images such as heat maps better than no filter at no real cost.
    /// - Precondition: the image is at least 1×1.
    public static func encode(_ image: RGBImage) -> [UInt8] {
        precondition(image.width >= 1 && image.height >= 1, "PNGEncoder: cannot encode an empty image")
        let rowBytes = image.width * 3
        var raw = [UInt8](repeating: 0, count: image.height * (1 + rowBytes))
        for y in 0..<image.height {
            let dst = y * (1 + rowBytes)
            let src = y * rowBytes
            raw[dst] = 1  // filter type: Sub
            for i in 0..<rowBytes {
                raw[dst + 1 + i] = image.pixels[src + i] &- (i >= 3 ? image.pixels[src + i - 3] : 0)
            }
        }

        var out = PNGDecoder.signature
        var header = [UInt8]()
        header += bigEndian(UInt32(image.width))
        header += bigEndian(UInt32(image.height))
        header += [8, 2, 0, 0, 0]  // bit depth 8, colour type RGB, deflate, filter method 0, no interlace
        appendChunk("IHDR", header, to: &out)
        appendChunk("IDAT", Deflate.zlibCompress(raw), to: &out)
        appendChunk("IEND", [], to: &out)
        return out
    }

    /// Appends length, type, data and CRC-32 (over type and data).
    static func appendChunk(_ type: String, _ data: [UInt8], to out: inout [UInt8]) {
        let typeBytes = Array(type.utf8)
        out += bigEndian(UInt32(data.count))
        out += typeBytes
        out += data
        out += bigEndian(Checksum.crc32(data, initial: Checksum.crc32(typeBytes)))
    }

    static func bigEndian(_ v: UInt32) -> [UInt8] {
        [UInt8(v >> 24), UInt8(v >> 16 & 0xFF), UInt8(v >> 8 & 0xFF), UInt8(v & 0xFF)]
    }
}
