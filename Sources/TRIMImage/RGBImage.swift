/// An 8-bit RGB image, the common currency between decoders, resampling and preprocessing.
///
/// Pixels are interleaved and row-major: the pixel at column `x`, row `y` starts at
/// `pixels[(y * width + x) * 3]` and holds R, G, B. This is the layout of Pillow's `"RGB"` mode
/// (`numpy.asarray(image)` has shape `[height, width, 3]`).
public struct RGBImage: Sendable, Equatable {
    /// Width in pixels (≥ 1 for decoded images).
    public let width: Int
    /// Height in pixels (≥ 1 for decoded images).
    public let height: Int
    /// `[height, width, 3]` interleaved RGB bytes.
    public var pixels: [UInt8]

    /// An image from interleaved RGB bytes.
    /// - Precondition: `pixels.count == width * height * 3`.
    public init(width: Int, height: Int, pixels: [UInt8]) {
        precondition(width >= 0 && height >= 0 && pixels.count == width * height * 3,
                     "RGBImage: \(pixels.count) bytes do not fill \(width)×\(height)×3")
        self.width = width
        self.height = height
        self.pixels = pixels
    }

    /// A `width × height` image filled with one colour.
    public init(width: Int, height: Int, fill: (r: UInt8, g: UInt8, b: UInt8)) {
        precondition(width >= 0 && height >= 0, "RGBImage: negative size \(width)×\(height)")
        var p = [UInt8](repeating: 0, count: width * height * 3)
        for i in stride(from: 0, to: p.count, by: 3) { p[i] = fill.r; p[i + 1] = fill.g; p[i + 2] = fill.b }
        self.init(width: width, height: height, pixels: p)
    }
}

/// Bounds applied by every decoder before it allocates pixel memory.
public enum ImageLimits {
    /// The largest image (width × height) any decoder accepts: 178,956,970 pixels, the point at which
    /// Pillow raises `DecompressionBombError` (twice its `MAX_IMAGE_PIXELS` warning threshold of 89,478,485).
    public static let maxPixels = 2 * 89_478_485
}
