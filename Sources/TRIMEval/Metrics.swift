import Foundation
import TRIM
import TRIMImage

/// How much of each patch of the vision tower's grid an object covers, after the same geometry the
/// pixels of a single-view layout go through (LLaVA's pad to a square when the layout pads, the resize, the
/// center crop) — or, for an any-resolution layout, of its base view (the whole image resized to S×S).
///
/// Each pixel of the (padded) canvas is assigned to the patch its centre lands in after the resize and
/// crop; a patch's coverage is the mean mask value (0…1) of the canvas pixels assigned to it (padding
/// counts as 0). Pixels cropped away count for no patch.
///
/// - Parameters:
///   - mask: `[height · width]` coverage 0…255 of the original image's pixels.
///   - grid: patches per side (24 for ViT-L/14-336); the crop must be `grid · patch` square.
/// - Returns: `[grid · grid]` coverage fractions, row-major.
public func patchCoverage(mask: [UInt8], width: Int, height: Int, config: PreprocessorConfig,
                          layout: ImageLayout = .llava15, grid: Int) -> [Float]
{
    precondition(mask.count == width * height, "patchCoverage: mask has \(mask.count) values for \(width)×\(height)")
    // The canvas (the image, pasted on a square when padded), its resized size and the crop window.
    let padToSquare: Bool, resized: (height: Int, width: Int), cropH: Int, cropW: Int
    switch layout {
    case .singleView(let pad):
        padToSquare = pad
        let side = max(width, height)
        let (h, w) = pad ? (side, side) : (height, width)
        resized = config.doResize ? config.resizedSize(height: h, width: w) : (h, w)
        (cropH, cropW) = config.doCenterCrop ? (config.cropHeight, config.cropWidth) : resized
    case .anyResolution:  // the base view: the whole image squashed to S×S, nothing cropped
        padToSquare = false
        resized = (config.cropHeight, config.cropWidth)
        (cropH, cropW) = resized
    }
    let canvasW = padToSquare ? max(width, height) : width
    let canvasH = padToSquare ? max(width, height) : height
    let offX = padToSquare && height > width ? (height - width) / 2 : 0
    let offY = padToSquare && width > height ? (width - height) / 2 : 0
    let top = (resized.height - cropH) / 2, left = (resized.width - cropW) / 2
    let patchH = Double(cropH) / Double(grid), patchW = Double(cropW) / Double(grid)

    // Canvas column / row → patch column / row (−1 when cropped away).
    func bins(_ n: Int, scaled: Int, offset: Int, patch: Double) -> [Int] {
        (0..<n).map { u in
            let v = (Double(u) + 0.5) * Double(scaled) / Double(n) - Double(offset)
            let b = Int((v / patch).rounded(.down))
            return v >= 0 && b < grid ? b : -1
        }
    }
    let colBin = bins(canvasW, scaled: resized.width, offset: left, patch: patchW)
    let rowBin = bins(canvasH, scaled: resized.height, offset: top, patch: patchH)
    var colCount = [Int](repeating: 0, count: grid), rowCount = [Int](repeating: 0, count: grid)
    for b in colBin where b >= 0 { colCount[b] += 1 }
    for b in rowBin where b >= 0 { rowCount[b] += 1 }
    var sums = [Double](repeating: 0, count: grid * grid)
    for y in 0..<height {
        let r = rowBin[y + offY]
        guard r >= 0 else { continue }
        for x in 0..<width where mask[y * width + x] > 0 {
            let c = colBin[x + offX]
            if c >= 0 { sums[r * grid + c] += Double(mask[y * width + x]) / 255 }
        }
    }
    return (0..<(grid * grid)).map { i in
        let n = rowCount[i / grid] * colCount[i % grid]
        return n == 0 ? 0 : Float(sums[i] / Double(n))
    }
}

/// How well one selection of patches matches one object (the definitions of Docs/EVAL.md).
public struct SelectionScore: Sendable, Equatable {
    /// Number of kept patches.
    public var kept: Int
    /// Kept patches touching the object (coverage > 0).
    public var touching: Int
    /// Patches the object covers at least by half, and how many of them were kept.
    public var halfCovered: Int, halfCoveredKept: Int

    /// Scores `kept` (patch indices) against `coverage` (`[N]` fractions).
    public init(kept: [Int], coverage: [Float]) {
        self.kept = kept.count
        touching = kept.filter { coverage[$0] > 0 }.count
        let half = coverage.indices.filter { coverage[$0] >= 0.5 }
        let keptSet = Set(kept)
        halfCovered = half.count
        halfCoveredKept = half.filter { keptSet.contains($0) }.count
    }

    /// `touching / kept`; `nil` when nothing was kept.
    public var precision: Double? { kept == 0 ? nil : Double(touching) / Double(kept) }
    /// `halfCoveredKept / halfCovered`; `nil` when the object covers no patch by half.
    public var recall: Double? { halfCovered == 0 ? nil : Double(halfCoveredKept) / Double(halfCovered) }
}

/// |A ∩ B| / |A ∪ B| of two kept sets: how much two prompts keep in common. Two empty sets are the same
/// set (1): a method that keeps nothing for either prompt has not told them apart.
public func jaccard(_ a: [Int], _ b: [Int]) -> Double {
    let sa = Set(a), sb = Set(b)
    let union = sa.union(sb).count
    return union == 0 ? 1 : Double(sa.intersection(sb).count) / Double(union)
}

/// The median of the values (the mean of the two middle ones for an even count); `nil` when empty.
public func median(_ xs: [Double]) -> Double? {
    guard !xs.isEmpty else { return nil }
    let s = xs.sorted(), n = s.count
    return n % 2 == 1 ? s[n / 2] : (s[n / 2 - 1] + s[n / 2]) / 2
}

/// The mean of the values; `nil` when empty.
public func mean(_ xs: [Double]) -> Double? { xs.isEmpty ? nil : xs.reduce(0, +) / Double(xs.count) }
