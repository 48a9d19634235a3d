import TRIMTensor

/// Pillow-exact resampling of 8-bit RGB images.
///
/// Reproduces `PIL.Image.resize((width, height), resample)` for mode `"RGB"` with the default
/// `box` (whole image) and `reducing_gap=None`, bit for bit, as implemented in Pillow's
/// `libImaging/Resample.c` (checked against Pillow 13.0):
///
/// 1. For each axis whose size changes, one filter weight row per output pixel is computed in
///    `Double`: the filter is centred at `(i + 0.5) * scale` in input coordinates, and when
///    shrinking (`scale > 1`) it is stretched by `scale` (antialiasing). Each row is divided by its
///    sum, then converted to fixed point with 22 fractional bits (`32 - 8 - 2`), rounding half away
///    from zero.
/// 2. Two passes, each rounded and clipped to `UInt8`. A pass whose size does not change is skipped;
///    if neither changes the image is returned unchanged. Normally the horizontal pass runs first
///    (only over the input rows the vertical pass will read). Since Pillow 13, when the height shrinks
///    by more than twice as many pixels as the width does (`h - H > 2·(w - W)`), the vertical pass
///    runs first (python-pillow/Pillow#9549; confirmed against Pillow 13.0.0 on 1,457 random sizes).
///    The order changes the result by up to a few levels, so it must match.
/// 3. Every output sample is `clip8((2^21 + Σ pixel·weight) >> 22)` in 32-bit integers.
public enum Resample {
    /// A resampling filter, as Pillow names them.
    public enum Filter: Sendable, Equatable {
        /// `Image.NEAREST`: each output pixel copies one input pixel (Pillow's affine scale path, not the
        /// convolution below; see `nearest`).
        case nearest
        /// `Image.BILINEAR`: triangle filter, support 1.
        case bilinear
        /// `Image.BICUBIC`: Keys cubic convolution with `a = -0.5`, support 2.
        case bicubic

        /// Half-width of the filter in input pixels at scale 1.
        var support: Double {
            switch self {
            case .nearest: return 0
            case .bilinear: return 1
            case .bicubic: return 2
            }
        }

        /// The filter's value at distance `x` (in output-pixel units), evaluated in the same
        /// order of operations as Pillow so the rounded weights agree bit for bit.
        func weight(_ x: Double) -> Double {
            let x = x < 0 ? -x : x
            switch self {
            case .nearest:
                return 0
            case .bilinear:
                return x < 1 ? 1 - x : 0
            case .bicubic:
                let a = -0.5
                if x < 1 { return ((a + 2) * x - (a + 3)) * x * x + 1 }
                if x < 2 { return (((x - 5) * x + 8) * x - 4) * a }
                return 0
            }
        }
    }

    /// `image` resized to `width × height` as Pillow's `Image.resize((width, height), filter)` does.
    /// - Precondition: `width ≥ 1`, `height ≥ 1` and the input is non-empty.
    public static func resize(_ image: RGBImage, width: Int, height: Int, filter: Filter = .bicubic) -> RGBImage {
        resize(image, width: width, height: height, filter: filter, columns: 0..<width, rows: 0..<height)
    }

    /// Only the `rows × columns` window of `image` resized to `width × height`: byte for byte the same
    /// as cropping the full result, but only the window's pixels are computed (each output pixel depends
    /// only on its own weights), so a center crop of a large resize costs only the crop.
    /// - Precondition: `width, height ≥ 1`, the input is non-empty, and the window is a non-empty part
    ///   of `0..<width × 0..<height`.
    public static func resize(
        _ image: RGBImage, width: Int, height: Int, filter: Filter = .bicubic, columns: Range<Int>, rows: Range<Int>
    ) -> RGBImage {
        precondition(width >= 1 && height >= 1, "Resample.resize: target size \(width)×\(height) must be ≥ 1×1")
        precondition(image.width >= 1 && image.height >= 1, "Resample.resize: empty input image")
        precondition(
            !columns.isEmpty && !rows.isEmpty && columns.lowerBound >= 0 && columns.upperBound <= width
                && rows.lowerBound >= 0 && rows.upperBound <= height,
            "Resample.resize: window \(columns) × \(rows) outside \(width)×\(height)")
        let resizeX = width != image.width
        let resizeY = height != image.height
        if filter == .nearest {
            return resizeX || resizeY ? nearest(image, width: width, height: height, columns: columns, rows: rows)
                : crop(image, columns: columns, rows: rows)
        }

        // Along an axis that keeps its size there is no pass: the window is a plain crop of the input,
        // taken first (the other pass treats each row / column independently).
        var source = image
        if (!resizeX && columns != 0..<width) || (!resizeY && rows != 0..<height) {
            source = crop(image, columns: resizeX ? 0..<image.width : columns, rows: resizeY ? 0..<image.height : rows)
        }
        let horizontal = resizeX ? Kernel(inSize: image.width, outSize: width, outputs: columns, filter: filter) : nil
        let vertical = resizeY ? Kernel(inSize: image.height, outSize: height, outputs: rows, filter: filter) : nil

        if let horizontal, let vertical, height < image.height, image.height - height > 2 * (image.width - width) {
            let shrunk = verticalPass(source, firstRow: 0, kernel: vertical)
            return horizontalPass(shrunk, rows: 0..<shrunk.height, kernel: horizontal)
        }
        var current = source
        var firstRow = 0
        if let horizontal {
            // The vertical pass reads only these input rows; the horizontal pass need produce no others.
            let needed = vertical?.inputRange ?? 0..<source.height
            current = horizontalPass(source, rows: needed, kernel: horizontal)
            firstRow = needed.lowerBound
        }
        if let vertical {
            current = verticalPass(current, firstRow: firstRow, kernel: vertical)
        }
        return current
    }

    /// Pillow's NEAREST resize (`ImagingScaleAffine`): the source coordinate of output column `x` is
    /// `floor(s/2 + s + … + s)` with `s = w / W` accumulated in Float64 (not multiplied, so rounding
    /// drifts exactly as Pillow's does); likewise for rows. A coordinate that drifts to `w` (or `h`)
    /// leaves the pixel black, as in Pillow.
    static func nearest(_ image: RGBImage, width: Int, height: Int, columns: Range<Int>, rows: Range<Int>) -> RGBImage {
        func sources(_ inSize: Int, _ outSize: Int) -> [Int] {
            let step = Double(Float(inSize)) / Double(outSize)
            var position = step * 0.5
            var table = [Int](repeating: -1, count: outSize)
            for i in 0..<outSize {
                let s = position < 0 ? -1 : Int(position)
                if s >= 0 && s < inSize { table[i] = s }
                position += step
            }
            return table
        }
        let xs = sources(image.width, width)
        let ys = sources(image.height, height)
        var out = [UInt8](repeating: 0, count: columns.count * rows.count * 3)
        for (r, y) in rows.enumerated() where ys[y] >= 0 {
            let inRow = ys[y] * image.width
            for (c, x) in columns.enumerated() where xs[x] >= 0 {
                let s = (inRow + xs[x]) * 3
                let o = (r * columns.count + c) * 3
                out[o] = image.pixels[s]
                out[o + 1] = image.pixels[s + 1]
                out[o + 2] = image.pixels[s + 2]
            }
        }
        return RGBImage(width: columns.count, height: rows.count, pixels: out)
    }

    /// The `rows × columns` part of `image`.
    static func crop(_ image: RGBImage, columns: Range<Int>, rows: Range<Int>) -> RGBImage {
        var out = [UInt8]()
        out.reserveCapacity(columns.count * rows.count * 3)
        for y in rows {
            let start = (y * image.width + columns.lowerBound) * 3
            out.append(contentsOf: image.pixels[start..<(start + columns.count * 3)])
        }
        return RGBImage(width: columns.count, height: rows.count, pixels: out)
    }

    // MARK: - Fixed-point filter weights

    /// Fractional bits of the fixed-point weights: 32 bits minus 8 for the sample, minus 2 of headroom
    /// for negative lobes and sums above 1 (Pillow's `PRECISION_BITS`).
    static let precisionBits: Int32 = 22

    /// The weights of one axis for the output indices `outputs` (of `0..<outSize`): the `j`-th of them is
    /// made from input samples `start[j] ..< start[j] + count[j]` with weights
    /// `weights[j * taps ..< j * taps + count[j]]` (fixed point, 22 fractional bits).
    struct Kernel {
        /// Row stride of `weights`: `2 · ceil(support) + 1`.
        let taps: Int
        /// First input index used by each output index. `[outputs.count]`
        var start: [Int]
        /// Number of input indices used by each output index. `[outputs.count]`
        var count: [Int]
        /// Fixed-point weights. `[outputs.count, taps]`
        var weights: [Int32]

        init(inSize: Int, outSize: Int, outputs: Range<Int>? = nil, filter: Filter) {
            let outputs = outputs ?? 0..<outSize
            // Pillow passes the box edges as Float, so the input extent goes through Float first.
            let scale = Double(Float(inSize)) / Double(outSize)
            let filterScale = max(scale, 1)
            let support = filter.support * filterScale
            let taps = Int(support.rounded(.up)) * 2 + 1
            let inverseFilterScale = 1 / filterScale

            self.taps = taps
            start = [Int](repeating: 0, count: outputs.count)
            count = [Int](repeating: 0, count: outputs.count)
            weights = [Int32](repeating: 0, count: outputs.count * taps)
            var row = [Double](repeating: 0, count: taps)
            for (j, i) in outputs.enumerated() {
                let center = (Double(i) + 0.5) * scale
                // `Int(_:)` truncates toward zero like C's `(int)` cast.
                let lo = max(Int(center - support + 0.5), 0)
                let hi = min(Int(center + support + 0.5), inSize)
                let n = hi - lo
                var sum = 0.0
                for t in 0..<n {
                    let w = filter.weight((Double(t + lo) - center + 0.5) * inverseFilterScale)
                    row[t] = w
                    sum += w
                }
                if sum != 0 {
                    for t in 0..<n { row[t] /= sum }
                }
                let one = Double(1 << Resample.precisionBits)
                for t in 0..<n {
                    let w = row[t]
                    // Round half away from zero, then truncate, as Pillow's normalize_coeffs_8bpc.
                    weights[j * taps + t] = Int32(w < 0 ? -0.5 + w * one : 0.5 + w * one)
                }
                start[j] = lo
                count[j] = n
            }
        }

        /// The input indices read by any output index.
        var inputRange: Range<Int> {
            guard let last = start.indices.last else { return 0..<0 }
            return start[0]..<(start[last] + count[last])
        }
    }

    /// Rounds a fixed-point accumulator (which already holds the +0.5 bias) to a clipped byte.
    @inline(__always)
    static func clip8(_ accumulator: Int32) -> UInt8 {
        let v = accumulator >> precisionBits
        return v < 0 ? 0 : v > 255 ? 255 : UInt8(truncatingIfNeeded: v)
    }

    // MARK: - Passes

    /// Resamples each row in `rows` of `image` along x. Output: `[rows.count, kernel outputs, 3]`.
    static func horizontalPass(_ image: RGBImage, rows: Range<Int>, kernel: Kernel) -> RGBImage {
        let inWidth = image.width
        let outWidth = kernel.start.count
        let taps = kernel.taps
        var out = [UInt8](repeating: 0, count: rows.count * outWidth * 3)
        let half = SIMD4<Int32>(repeating: 1 << (precisionBits - 1))
        let lastRow = image.height - 1
        image.pixels.withUnsafeBufferPointer { src in
            kernel.weights.withUnsafeBufferPointer { w in
                kernel.start.withUnsafeBufferPointer { start in
                    kernel.count.withUnsafeBufferPointer { count in
                        out.withUnsafeMutableBufferPointer { dst in
                            let base = UnsafeRawPointer(src.baseAddress!)
                            // Rows are independent: split them over threads, each writing its own output rows.
                            let chunks = Parallelism.split(rows.count)
                            Parallelism.parallelFor(chunks.count) { chunk in
                                for r in chunks[chunk] {
                                    let y = rows.lowerBound + r
                                    let inRow = y * inWidth * 3
                                    let outRow = r * outWidth * 3
                                    for x in 0..<outWidth {
                                        let lo = start[x]
                                        var n = count[x]
                                        let k = x * taps
                                        // Hot loop: the dot product of this output pixel's weight row with `n`
                                        // input pixels, all three channels at once in one SIMD4 lane set (the 4th
                                        // lane reads the next pixel's red byte and is ignored). The last pixel of
                                        // the buffer has no 4th byte, so it is added separately below.
                                        let tail = y == lastRow && lo + n == inWidth
                                        if tail { n -= 1 }
                                        var acc = half
                                        var p = inRow + lo * 3
                                        for t in 0..<n {
                                            let bytes = base.loadUnaligned(fromByteOffset: p, as: SIMD4<UInt8>.self)
                                            acc &+= SIMD4<Int32>(truncatingIfNeeded: bytes) &* SIMD4<Int32>(repeating: w[k + t])
                                            p += 3
                                        }
                                        if tail {
                                            let last = SIMD4<Int32>(Int32(src[p]), Int32(src[p + 1]), Int32(src[p + 2]), 0)
                                            acc &+= last &* SIMD4<Int32>(repeating: w[k + n])
                                        }
                                        let o = outRow + x * 3
                                        dst[o] = clip8(acc[0])
                                        dst[o + 1] = clip8(acc[1])
                                        dst[o + 2] = clip8(acc[2])
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
        return RGBImage(width: outWidth, height: rows.count, pixels: out)
    }

    /// Resamples `image` along y; input row `r` of `image` is row `firstRow + r` of the original, which
    /// is what the kernel's `start` indices refer to. Output: `[kernel outputs, width, 3]`.
    static func verticalPass(_ image: RGBImage, firstRow: Int, kernel: Kernel) -> RGBImage {
        let rowLength = image.width * 3
        let outHeight = kernel.start.count
        var out = [UInt8](repeating: 0, count: outHeight * rowLength)
        let half: Int32 = 1 << (precisionBits - 1)
        image.pixels.withUnsafeBufferPointer { src in
            kernel.weights.withUnsafeBufferPointer { w in
                out.withUnsafeMutableBufferPointer { dst in
                    let chunks = Parallelism.split(outHeight)
                    Parallelism.parallelFor(chunks.count) { chunk in
                        var accumulator = [Int32](repeating: 0, count: rowLength)
                        accumulator.withUnsafeMutableBufferPointer { acc in
                            // Hot loop: each output row is a weighted sum of `count` whole input rows. Summing
                            // row by row (instead of Pillow's pixel-by-pixel order) keeps the inner loop
                            // contiguous so it vectorises; integer sums are order-independent, so the result
                            // is identical.
                            for y in chunks[chunk] {
                                for i in 0..<rowLength { acc[i] = half }
                                let lo = kernel.start[y] - firstRow
                                for t in 0..<kernel.count[y] {
                                    let weight = w[y * kernel.taps + t]
                                    let inRow = (lo + t) * rowLength
                                    for i in 0..<rowLength {
                                        acc[i] &+= Int32(src[inRow + i]) &* weight
                                    }
                                }
                                let outRow = y * rowLength
                                for i in 0..<rowLength { dst[outRow + i] = clip8(acc[i]) }
                            }
                        }
                    }
                }
            }
        }
        return RGBImage(width: image.width, height: outHeight, pixels: out)
    }
}
