import Foundation
import TRIMTensor

// LLaVA-NeXT's any-resolution views (Docs/SEMANTICS.md §5), as Hugging Face's `LlavaNextImageProcessorPil`
// computes them: the grid from the pinpoints (`select_best_resolution`, float64), the aspect-keeping resize
// (`get_patch_output_size`) with black padding to the canvas, row-major tiles, and the base view — the
// whole image squashed to S×S — first. Every view then goes through CLIP's preprocessing.

/// A canvas size LLaVA-NeXT may cut an image into (one of the checkpoint's `image_grid_pinpoints`),
/// in pixels, height first as Hugging Face lists them.
public struct Pinpoint: Sendable, Hashable {
    /// Canvas height and width in pixels.
    public var height: Int, width: Int
    /// A pinpoint.
    public init(height: Int, width: Int) {
        self.height = height
        self.width = width
    }
}

/// The canvas and tile grid chosen for one image.
public struct AnyResolutionGrid: Sendable, Equatable {
    /// The chosen pinpoint: canvas height and width in pixels (H*, W*).
    public var canvasHeight: Int, canvasWidth: Int
    /// The view side S: tiles and the base view are S×S.
    public var viewSize: Int
    /// Tile rows and columns (nph = H*/S, npw = W*/S).
    public var rows: Int { canvasHeight / viewSize }
    public var columns: Int { canvasWidth / viewSize }
    /// Number of tiles T and of views V = 1 + T (the base view first).
    public var tileCount: Int { rows * columns }
    public var viewCount: Int { 1 + tileCount }
}

/// Why an image or a set of pinpoints cannot be cut into views.
public enum AnyResolutionError: Error, CustomStringConvertible, Equatable {
    /// No pinpoints, or one that is not a positive multiple of the view size.
    case invalidPinpoints(String)
    /// The canvas or the resized image would exceed `ImageLimits.maxPixels`.
    case imageTooLarge(width: Int, height: Int)

    public var description: String {
        switch self {
        case .invalidPinpoints(let why): return "invalid any-resolution pinpoints: \(why)"
        case .imageTooLarge(let w, let h):
            return "any-resolution canvas \(w)×\(h) exceeds the \(ImageLimits.maxPixels)-pixel limit"
        }
    }
}

/// The steps of LLaVA-NeXT's any-resolution preprocessing, each as Hugging Face computes it.
public enum AnyResolution {
    /// Hugging Face's default pinpoints at view size `s`, (height, width): S×2S, 2S×S, 2S×2S, 3S×S, S×3S.
    public static func defaultPinpoints(viewSize s: Int) -> [Pinpoint] {
        [(s, 2 * s), (2 * s, s), (2 * s, 2 * s), (3 * s, s), (s, 3 * s)].map { Pinpoint(height: $0.0, width: $0.1) }
    }

    /// `select_best_resolution`: the pinpoint that keeps the most of the image's pixels after an
    /// aspect-keeping fit (`int` truncation, capped at the image's own area), then wastes the least canvas;
    /// the first in list order wins a tie. Float64 throughout, in Hugging Face's order of operations.
    public static func bestResolution(height h: Int, width w: Int, pinpoints: [Pinpoint])
        -> Pinpoint?
    {
        var best: Pinpoint?
        var bestEffective = 0, bestWaste = Int.max
        for p in pinpoints {
            let scale = min(Double(p.width) / Double(w), Double(p.height) / Double(h))
            let fitW = Int((Double(w) * scale).rounded(.towardZero)), fitH = Int((Double(h) * scale).rounded(.towardZero))
            let effective = min(fitW * fitH, w * h)
            let waste = p.width * p.height - effective
            if effective > bestEffective || (effective == bestEffective && waste < bestWaste) {
                (best, bestEffective, bestWaste) = (p, effective, waste)
            }
        }
        return best
    }

    /// `get_patch_output_size`: the aspect-keeping size of the image inside the canvas, the ratio computed
    /// first and the other side rounded up (`ceil(h · (W*/w))`, capped at the canvas).
    public static func fittedSize(height h: Int, width w: Int, canvasHeight H: Int, canvasWidth W: Int)
        -> (height: Int, width: Int)
    {
        let scaleW = Double(W) / Double(w), scaleH = Double(H) / Double(h)
        if scaleW < scaleH { return (min(Int((Double(h) * scaleW).rounded(.up)), H), W) }
        return (H, min(Int((Double(w) * scaleH).rounded(.up)), W))
    }

    /// The grid for an image of `height × width` at view size `viewSize`.
    public static func grid(height: Int, width: Int, viewSize: Int, pinpoints: [Pinpoint])
        throws(AnyResolutionError) -> AnyResolutionGrid
    {
        guard viewSize >= 1 else { throw .invalidPinpoints("view size \(viewSize)") }
        for p in pinpoints where p.height < viewSize || p.width < viewSize || p.height % viewSize != 0 || p.width % viewSize != 0 {
            throw .invalidPinpoints("\(p.height)×\(p.width) is not a positive multiple of the view size \(viewSize) in both sides")
        }
        for p in pinpoints where p.height.multipliedReportingOverflow(by: p.width).partialValue > ImageLimits.maxPixels
            || p.height > ImageLimits.maxPixels || p.width > ImageLimits.maxPixels {
            throw .imageTooLarge(width: p.width, height: p.height)
        }
        guard let best = bestResolution(height: height, width: width, pinpoints: pinpoints) else {
            throw .invalidPinpoints("none given")
        }
        return AnyResolutionGrid(canvasHeight: best.height, canvasWidth: best.width, viewSize: viewSize)
    }

    /// The views as 8-bit images: the base view (the image resized straight to S×S), then the tiles of the
    /// fitted, black-padded canvas in row-major order (tile `i·npw + j` covers rows `[S·i, S·i+S)`, columns
    /// `[S·j, S·j+S)`).
    public static func views(of image: RGBImage, grid g: AnyResolutionGrid, filter: Resample.Filter = .bicubic) -> [RGBImage] {
        let s = g.viewSize
        let fit = fittedSize(height: image.height, width: image.width, canvasHeight: g.canvasHeight, canvasWidth: g.canvasWidth)
        let resized = Resample.resize(image, width: fit.width, height: fit.height, filter: filter)
        let top = (g.canvasHeight - fit.height) / 2, left = (g.canvasWidth - fit.width) / 2  // the odd pixel bottom / right
        var tiles: [RGBImage] = []
        for i in 0..<g.rows {
            for j in 0..<g.columns {
                var pixels = [UInt8](repeating: 0, count: s * s * 3)
                for y in 0..<s {
                    let sy = s * i + y - top
                    guard sy >= 0 && sy < fit.height else { continue }
                    let x0 = max(s * j, left), x1 = min(s * j + s, left + fit.width)  // canvas columns with image
                    guard x0 < x1 else { continue }
                    let src = (sy * fit.width + (x0 - left)) * 3, dst = (y * s + (x0 - s * j)) * 3
                    pixels.replaceSubrange(dst..<(dst + (x1 - x0) * 3), with: resized.pixels[src..<(src + (x1 - x0) * 3)])
                }
                tiles.append(RGBImage(width: s, height: s, pixels: pixels))
            }
        }
        return [Resample.resize(image, width: s, height: s, filter: filter)] + tiles
    }

    /// `pixel_values [V, 3, S, S]` of an image (every view through `config`'s CLIP preprocessing, no pad to a
    /// square) and its grid; the view size is `config`'s crop size.
    public static func pixelValues(for image: RGBImage, config: PreprocessorConfig,
                                   pinpoints: [Pinpoint]) throws -> (grid: AnyResolutionGrid, views: [Tensor])
    {
        let s = config.cropHeight
        guard config.cropWidth == s else { throw AnyResolutionError.invalidPinpoints("the crop \(config.cropHeight)×\(config.cropWidth) is not square") }
        let g = try grid(height: image.height, width: image.width, viewSize: s, pinpoints: pinpoints)
        let fit = fittedSize(height: image.height, width: image.width, canvasHeight: g.canvasHeight, canvasWidth: g.canvasWidth)
        guard fit.width.multipliedReportingOverflow(by: fit.height).partialValue <= ImageLimits.maxPixels else {
            throw AnyResolutionError.imageTooLarge(width: fit.width, height: fit.height)
        }
        // An S×S view that the config would resize to S×S and crop to S×S is only rescaled and normalised
        // (Pillow's resize to the same size is a copy); any other config runs its whole preprocessing.
        let target = config.doResize ? config.resizedSize(height: s, width: s) : (height: s, width: s)
        let unchanged = target == (s, s) && (!config.doCenterCrop || (config.cropHeight == s && config.cropWidth == s))
        let views = try views(of: image, grid: g, filter: config.resample).map { view in
            unchanged ? normalizedPixelValues(view, config: config) : try TRIMImage.pixelValues(for: view, config: config, padToSquare: false)
        }
        return (g, views)
    }
}
