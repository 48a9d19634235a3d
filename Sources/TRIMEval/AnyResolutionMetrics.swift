import Foundation
import TRIM
import TRIMImage

// What an object covers in each view of LLaVA-NeXT's any-resolution layout (Docs/SEMANTICS.md §5), and how a
// selection over several views is scored against it (Docs/EVAL.md, "High resolution").

/// How much of each patch of every any-resolution view an object covers, after the geometry the pixels of
/// that view go through (Docs/SEMANTICS.md §5.3):
///
/// - view 0, the base view: the whole image squashed to S×S (aspect not kept, no padding);
/// - views 1…T, the tiles: the image fitted into the canvas (`AnyResolution.fittedSize`), centred with black
///   padding, the canvas cut row-major into S×S tiles (`grid`);
///
/// then each view through `config`'s resize and centre crop (nothing at S×S with LLaVA-NeXT's processors).
///
/// As in `patchCoverage`, every pixel counts for the patch its centre lands in, and a patch's coverage is the
/// mean mask value (0…1) over the pixels it holds. The tiles' padding is added after the resize, so it is
/// counted in image pixels too: the canvas is extended past the image's edges with padding pixels of the same
/// size, each counting 0. A patch wholly in the padding covers nothing; a patch the unpadding cuts away still
/// has its coverage here (it is the caller's business that nothing there is handed on).
///
/// - Parameters:
///   - mask: `[height · width]` coverage 0…255 of the original image's pixels.
///   - grid: the canvas and tiles chosen for the image (`EncodedImage.grid`, `AnyResolution.grid`).
///   - side: patches per view side (g = S / patch size; 24 for ViT-L/14-336).
/// - Returns: `[1 + T][g · g]` coverage fractions: the base view's, then each tile's, row-major.
public func anyResolutionCoverage(mask: [UInt8], width: Int, height: Int, grid: AnyResolutionGrid,
                                  config: PreprocessorConfig, side: Int) -> [[Float]]
{
    precondition(mask.count == width * height, "anyResolutionCoverage: mask has \(mask.count) values for \(width)×\(height)")
    precondition(side >= 1, "anyResolutionCoverage: \(side) patches per side")
    let s = grid.viewSize
    let fit = AnyResolution.fittedSize(height: height, width: width, canvasHeight: grid.canvasHeight,
                                       canvasWidth: grid.canvasWidth)
    let view = ViewGeometry(viewSize: s, config: config, side: side)
    // The base view: the image drawn over the whole S×S view.
    let baseCols = view.axis(pixels: width, drawn: s, offset: 0, canvas: s)
    let baseRows = view.axis(pixels: height, drawn: s, offset: 0, canvas: s)
    let base = coverageCells(mask, width: width, height: height, rows: baseRows, columns: baseCols)
    // The tiles: the fitted image centred on the canvas (the odd pixel of slack below / right).
    let cols = view.axis(pixels: width, drawn: fit.width, offset: (grid.canvasWidth - fit.width) / 2, canvas: grid.canvasWidth)
    let rows = view.axis(pixels: height, drawn: fit.height, offset: (grid.canvasHeight - fit.height) / 2, canvas: grid.canvasHeight)
    let cells = coverageCells(mask, width: width, height: height, rows: rows, columns: cols)
    let columnsTotal = grid.columns * side
    var tiles = [[Float]](repeating: [Float](repeating: 0, count: side * side), count: grid.tileCount)
    for r in 0..<(grid.rows * side) {
        for c in 0..<columnsTotal {
            tiles[(r / side) * grid.columns + c / side][(r % side) * side + c % side] = cells[r * columnsTotal + c]
        }
    }
    return [base] + tiles
}

/// One view's pixel geometry: an S×S view through the preprocessor's resize and centre crop, cut into
/// `side × side` patches.
private struct ViewGeometry {
    let viewSize: Int, resized: Int, offset: Int, crop: Int, side: Int

    init(viewSize s: Int, config: PreprocessorConfig, side: Int) {
        viewSize = s
        let r = config.doResize ? config.resizedSize(height: s, width: s) : (height: s, width: s)
        let c = config.doCenterCrop ? min(config.cropHeight, r.height) : r.height
        resized = r.height
        offset = (r.height - c) / 2
        crop = c
        self.side = side
    }

    /// Along one axis: the image's `pixels` drawn over canvas positions `[offset, offset + drawn)` of a canvas
    /// `canvas` long, cut into views of `viewSize`. Returns each image pixel's patch line (view · side + patch,
    /// −1 when cropped away) and how many pixels — the image's and the padding's, of the image's pixel size —
    /// each patch line holds.
    func axis(pixels n: Int, drawn: Int, offset drawOffset: Int, canvas: Int) -> (bin: [Int], count: [Int]) {
        let scale = Double(drawn) / Double(n)  // canvas pixels per image pixel
        let lines = canvas / viewSize * side
        var count = [Int](repeating: 0, count: lines)
        var bin = [Int](repeating: -1, count: n)
        // Image pixel k (k < 0 or k ≥ n: padding) has its centre at canvas position drawOffset + (k + ½)·scale.
        let first = Int((-Double(drawOffset) / scale - 0.5).rounded(.down)) - 1
        let last = Int((Double(canvas - drawOffset) / scale).rounded(.up)) + 1
        for k in first...last {
            let x = Double(drawOffset) + (Double(k) + 0.5) * scale
            guard x >= 0 && x < Double(canvas) else { continue }
            let b = line(x)
            if b >= 0 { count[b] += 1 }
            if k >= 0 && k < n { bin[k] = b }
        }
        return (bin, count)
    }

    /// The patch line of canvas position `x`: its view, then the view's resize and crop; −1 when cropped away.
    private func line(_ x: Double) -> Int {
        let v = Int((x / Double(viewSize)).rounded(.down))
        let u = (x - Double(v * viewSize)) * Double(resized) / Double(viewSize) - Double(offset)
        guard u >= 0 && u < Double(crop) else { return -1 }
        return v * side + min(Int((u / (Double(crop) / Double(side))).rounded(.down)), side - 1)
    }
}

/// Mean mask value per cell of the `rows.count × columns.count` lines.
private func coverageCells(_ mask: [UInt8], width: Int, height: Int, rows: (bin: [Int], count: [Int]),
                           columns: (bin: [Int], count: [Int])) -> [Float] {
    let nc = columns.count.count
    var sums = [Double](repeating: 0, count: rows.count.count * nc)
    for y in 0..<height {
        let r = rows.bin[y]
        guard r >= 0 else { continue }
        for x in 0..<width where mask[y * width + x] > 0 {
            let c = columns.bin[x]
            if c >= 0 { sums[r * nc + c] += Double(mask[y * width + x]) / 255 }
        }
    }
    return sums.indices.map { i in
        let n = rows.count[i / nc] * columns.count[i % nc]
        return n == 0 ? 0 : Float(sums[i] / Double(n))
    }
}

extension SelectionScore {
    /// Scores kept `(view, patch)` pairs against per-view coverage (`anyResolutionCoverage`): precision over
    /// the kept pairs, recall over every view's patches.
    public init(kept: [(view: Int, patch: Int)], coverage: [[Float]]) {
        var offsets = [0]
        for c in coverage { offsets.append(offsets.last! + c.count) }
        self.init(kept: kept.map { offsets[$0.view] + $0.patch }, coverage: coverage.flatMap { $0 })
    }

    /// Whether some kept patch touches the object (coverage > 0): the object was *found*.
    public var found: Bool { touching > 0 }
}

/// The `(view, patch)` pairs an any-resolution result hands on, in packed order: its `.patch` rows. A kept
/// tile cell the unpadding cut away is not among them. For a one-view result: view 0's kept patches.
public func handedOnPatches(_ r: ReductionResult) -> [(view: Int, patch: Int)] {
    r.rows.compactMap(\.patch).map { ($0.view, $0.index) }
}
