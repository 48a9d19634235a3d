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

extension Pinpoint {
    /// The pinpoint with its sides swapped: how original LLaVA reads a `[a, b]` pair that Hugging Face reads
    /// as height a, width b (original LLaVA: width a, height b).
    public var transposed: Pinpoint { Pinpoint(height: width, width: height) }
}

/// How a method's code cuts an image into views (Docs/SEMANTICS.md §5b, §5c). They differ in the canvas
/// chosen and, for HiRED, in the padding; all then cut row-major S×S tiles and put the base view first.
public enum ViewGeometry: String, Sendable, CaseIterable {
    /// Hugging Face's `LlavaNextImageProcessorPil`: pinpoints as (height, width), the best fit (§5.2).
    case huggingFace = "hf"
    /// Original LLaVA's `process_anyres_image`: the same rule on pinpoints read as (width, height), so ties
    /// between a pinpoint and its transpose go the other way.
    case original
    /// FasterVLM's own rule (`fasterVLMResolution`): pinpoints as original LLaVA reads them, the highest
    /// share of the canvas the fitted image fills.
    case fasterVLM = "fastervlm"
    /// VisPruner's and CDPruner's fixed 2S×2S canvas (the release's 672×672 at S = 336): 2×2 tiles for any
    /// image, the pinpoints ignored.
    case fixedCanvas = "fixed"
    /// HiRED's (transformers 4.42): Hugging Face's canvas, but the padding split `(H* − h′) // 2` on both
    /// sides, so an odd remainder leaves the last tile row or column S − 1 pixels, which CLIP
    /// preprocessing then resizes and centre-crops.
    case hired
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
    /// A grid of `canvasHeight × canvasWidth` pixels cut into `viewSize`-pixel tiles.
    public init(canvasHeight: Int, canvasWidth: Int, viewSize: Int) {
        self.canvasHeight = canvasHeight
        self.canvasWidth = canvasWidth
        self.viewSize = viewSize
    }

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
    /// FasterVLM's grid rule finds no canvas the image fills any of (an aspect beyond about 1000 : 1).
    case degenerateAspect(width: Int, height: Int)

    public var description: String {
        switch self {
        case .invalidPinpoints(let why): return "invalid any-resolution pinpoints: \(why)"
        case .imageTooLarge(let w, let h):
            return "any-resolution canvas \(w)×\(h) exceeds the \(ImageLimits.maxPixels)-pixel limit"
        case .degenerateAspect(let w, let h):
            return "a \(w)×\(h) image fills none of the pinpoint canvases by FasterVLM's grid rule (its release divides by zero): the aspect is too extreme"
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

    /// FasterVLM's own grid rule (its `mm_utils.py`): pinpoints read as (width, height) like original LLaVA;
    /// for each in list order `s = min(W/w, H/h)` and `ratio = int(w·s)·int(h·s) / (W·H)` (float64, no cap at
    /// the image's area); the first strict maximum wins. `nil` when no ratio is above 0 (an aspect beyond
    /// about 1000 : 1, where the release divides by zero).
    public static func fasterVLMResolution(height h: Int, width w: Int, pinpoints: [Pinpoint]) -> Pinpoint? {
        var best: Pinpoint?
        var bestRatio = 0.0
        for p in pinpoints.map(\.transposed) {
            let scale = min(Double(p.width) / Double(w), Double(p.height) / Double(h))
            let fit = Double(Int((Double(w) * scale).rounded(.towardZero)) * Int((Double(h) * scale).rounded(.towardZero)))
            let ratio = fit / Double(p.width * p.height)
            if ratio > bestRatio { (best, bestRatio) = (p, ratio) }
        }
        return best
    }

    /// The canvas `geometry` chooses for an image (Docs/SEMANTICS.md §5.2 and §5b).
    public static func canvas(height: Int, width: Int, viewSize s: Int, pinpoints: [Pinpoint], geometry: ViewGeometry)
        throws(AnyResolutionError) -> Pinpoint
    {
        let chosen: Pinpoint?
        switch geometry {
        case .huggingFace, .hired: chosen = bestResolution(height: height, width: width, pinpoints: pinpoints)
        case .original: chosen = bestResolution(height: height, width: width, pinpoints: pinpoints.map(\.transposed))
        case .fixedCanvas: return Pinpoint(height: 2 * s, width: 2 * s)
        case .fasterVLM:
            guard !pinpoints.isEmpty else { throw .invalidPinpoints("none given") }
            guard let p = fasterVLMResolution(height: height, width: width, pinpoints: pinpoints) else {
                throw .degenerateAspect(width: width, height: height)
            }
            chosen = p
        }
        guard let chosen else { throw .invalidPinpoints("none given") }
        return chosen
    }

    /// The grid for an image of `height × width` at view size `viewSize`, chosen as `geometry` says.
    public static func grid(height: Int, width: Int, viewSize: Int, pinpoints: [Pinpoint],
                            geometry: ViewGeometry = .huggingFace) throws(AnyResolutionError) -> AnyResolutionGrid
    {
        guard viewSize >= 1 else { throw .invalidPinpoints("view size \(viewSize)") }
        for p in pinpoints where p.height < viewSize || p.width < viewSize || p.height % viewSize != 0 || p.width % viewSize != 0 {
            throw .invalidPinpoints("\(p.height)×\(p.width) is not a positive multiple of the view size \(viewSize) in both sides")
        }
        for p in pinpoints where p.height.multipliedReportingOverflow(by: p.width).partialValue > ImageLimits.maxPixels
            || p.height > ImageLimits.maxPixels || p.width > ImageLimits.maxPixels {
            throw .imageTooLarge(width: p.width, height: p.height)
        }
        let best = try canvas(height: height, width: width, viewSize: viewSize, pinpoints: pinpoints, geometry: geometry)
        return AnyResolutionGrid(canvasHeight: best.height, canvasWidth: best.width, viewSize: viewSize)
    }

    /// The views as 8-bit images: the base view (the image resized straight to S×S), then the tiles of the
    /// fitted, black-padded canvas in row-major order (tile `i·npw + j` covers rows `[S·i, S·i+S)`, columns
    /// `[S·j, S·j+S)`). `hired`: the padding is `(H* − h′) // 2` on both sides, so with an odd remainder
    /// the canvas is one pixel short and the last tile row (column) is S − 1 pixels tall (wide).
    public static func views(of image: RGBImage, grid g: AnyResolutionGrid, filter: Resample.Filter = .bicubic,
                             hired: Bool = false) -> [RGBImage] {
        let s = g.viewSize
        let fit = fittedSize(height: image.height, width: image.width, canvasHeight: g.canvasHeight, canvasWidth: g.canvasWidth)
        let resized = Resample.resize(image, width: fit.width, height: fit.height, filter: filter)
        let top = (g.canvasHeight - fit.height) / 2, left = (g.canvasWidth - fit.width) / 2  // the odd pixel bottom / right
        let canvasHeight = hired ? fit.height + 2 * top : g.canvasHeight, canvasWidth = hired ? fit.width + 2 * left : g.canvasWidth
        var tiles: [RGBImage] = []
        for i in 0..<g.rows {
            for j in 0..<g.columns {
                let th = min(s, canvasHeight - s * i), tw = min(s, canvasWidth - s * j)
                var pixels = [UInt8](repeating: 0, count: th * tw * 3)
                for y in 0..<th {
                    let sy = s * i + y - top
                    guard sy >= 0 && sy < fit.height else { continue }
                    let x0 = max(s * j, left), x1 = min(s * j + tw, left + fit.width)  // canvas columns with image
                    guard x0 < x1 else { continue }
                    let src = (sy * fit.width + (x0 - left)) * 3, dst = (y * tw + (x0 - s * j)) * 3
                    pixels.replaceSubrange(dst..<(dst + (x1 - x0) * 3), with: resized.pixels[src..<(src + (x1 - x0) * 3)])
                }
                tiles.append(RGBImage(width: tw, height: th, pixels: pixels))
            }
        }
        return [Resample.resize(image, width: s, height: s, filter: filter)] + tiles
    }

    /// `pixel_values [V, 3, S, S]` of an image (every view through `config`'s CLIP preprocessing, no pad to a
    /// square) and its grid; the view size is `config`'s crop size.
    public static func pixelValues(for image: RGBImage, config: PreprocessorConfig, pinpoints: [Pinpoint],
                                   geometry: ViewGeometry = .huggingFace) throws -> (grid: AnyResolutionGrid, views: [Tensor])
    {
        let s = config.cropHeight
        guard config.cropWidth == s else { throw AnyResolutionError.invalidPinpoints("the crop \(config.cropHeight)×\(config.cropWidth) is not square") }
        let g = try grid(height: image.height, width: image.width, viewSize: s, pinpoints: pinpoints, geometry: geometry)
        let fit = fittedSize(height: image.height, width: image.width, canvasHeight: g.canvasHeight, canvasWidth: g.canvasWidth)
        guard fit.width.multipliedReportingOverflow(by: fit.height).partialValue <= ImageLimits.maxPixels else {
            throw AnyResolutionError.imageTooLarge(width: fit.width, height: fit.height)
        }
        // An S×S view that the config would resize to S×S and crop to S×S is only rescaled and normalised
        // (Pillow's resize to the same size is a copy); any other config runs its whole preprocessing.
        let target = config.doResize ? config.resizedSize(height: s, width: s) : (height: s, width: s)
        let unchanged = target == (s, s) && (!config.doCenterCrop || (config.cropHeight == s && config.cropWidth == s))
        let views = try views(of: image, grid: g, filter: config.resample, hired: geometry == .hired).map { view in
            unchanged && view.width == s && view.height == s ? normalizedPixelValues(view, config: config) : try TRIMImage.pixelValues(for: view, config: config, padToSquare: false)
        }
        return (g, views)
    }
}
