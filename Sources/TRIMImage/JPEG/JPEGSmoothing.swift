/// libjpeg-turbo's inter-block smoothing for progressive JPEGs whose low-frequency AC coefficients are
/// not all known exactly (jdcoefct.c `smoothing_ok` / `decompress_smooth_data`, on by default as
/// `do_block_smoothing`, hence applied by Pillow).
///
/// It happens when a progressive file ends before all scans (an early end-of-image marker) or an
/// encoder never sends or never fully refines some of the first 9 AC coefficients (zig-zag 1…9).
/// Each such coefficient that is still zero is then estimated from the DC values of the 5×5
/// neighbouring blocks; when no AC data at all arrived, the DC value is re-estimated too.
/// Complete files (all that Pillow, libjpeg and common encoders write) are never smoothed.
struct JPEGSmoothing {
    /// Progression status per component, libjpeg's `coef_bits`: for zig-zag positions 0…9, the Al of
    /// the last scan that sent it, or −1 if none did. `previous` is the state before the last scan
    /// that touched each position; it applies to iMCU rows after `lastGoodIMCURow`.
    let current: [[Int]]
    let previous: [[Int]]
    let lastGoodIMCURow: Int

    /// One estimated coefficient: its zig-zag index (into the status), its natural position, and the
    /// 5×5 DC weights (rows: two above … two below; columns: two left … two right) for the case with
    /// some AC data (`partial`, nil: not estimated then) and with none (`dcOnly`).
    struct Estimate {
        let zigzag: Int
        let position: Int
        let partial: [[Int]]?
        let dcOnly: [[Int]]
    }

    /// The estimates, with the kernels of jdcoefct.c written as weight grids.
    static let estimates: [Estimate] = [
        Estimate(
            zigzag: 1, position: 1,
            partial: [[0, 0, 0, 0, 0], [0, 0, 0, 0, 0], [-7, 50, 0, -50, 7], [0, 0, 0, 0, 0], [0, 0, 0, 0, 0]],
            dcOnly: [
                [-1, -1, 0, 1, 1], [-3, 13, 0, -13, 3], [-3, 38, 0, -38, 3], [-3, 13, 0, -13, 3], [-1, -1, 0, 1, 1],
            ]
        ),
        Estimate(
            zigzag: 2, position: 8,
            partial: [[0, 0, -7, 0, 0], [0, 0, 50, 0, 0], [0, 0, 0, 0, 0], [0, 0, -50, 0, 0], [0, 0, 7, 0, 0]],
            dcOnly: [
                [-1, -3, -3, -3, -1], [-1, 13, 38, 13, -1], [0, 0, 0, 0, 0], [1, -13, -38, -13, 1], [1, 3, 3, 3, 1],
            ]),
        Estimate(
            zigzag: 3, position: 16,
            partial: [[0, 0, -1, 0, 0], [0, 0, 13, 0, 0], [0, 0, -24, 0, 0], [0, 0, 13, 0, 0], [0, 0, -1, 0, 0]],
            dcOnly: [[0, 0, 1, 0, 0], [0, 2, 7, 2, 0], [0, -5, -14, -5, 0], [0, 2, 7, 2, 0], [0, 0, 1, 0, 0]]),
        Estimate(
            zigzag: 4, position: 9,
            partial: [
                [0, -1, 0, 1, 0], [-1, 10, 0, -10, 1], [0, 0, 0, 0, 0], [1, -10, 0, 10, -1], [0, 1, 0, -1, 0],
            ],
            dcOnly: [[-1, 0, 0, 0, 1], [0, 9, 0, -9, 0], [0, 0, 0, 0, 0], [0, -9, 0, 9, 0], [1, 0, 0, 0, -1]]),
        Estimate(
            zigzag: 5, position: 2,
            partial: [[0, 0, 0, 0, 0], [0, 0, 0, 0, 0], [-1, 13, -24, 13, -1], [0, 0, 0, 0, 0], [0, 0, 0, 0, 0]],
            dcOnly: [[0, 0, 0, 0, 0], [0, 2, -5, 2, 0], [1, 7, -14, 7, 1], [0, 2, -5, 2, 0], [0, 0, 0, 0, 0]]),
        Estimate(
            zigzag: 6, position: 3, partial: nil,
            dcOnly: [[0, 0, 0, 0, 0], [0, 1, 0, -1, 0], [0, 2, 0, -2, 0], [0, 1, 0, -1, 0], [0, 0, 0, 0, 0]]),
        Estimate(
            zigzag: 7, position: 10, partial: nil,
            dcOnly: [[0, 0, 0, 0, 0], [0, 1, -3, 1, 0], [0, 0, 0, 0, 0], [0, -1, 3, -1, 0], [0, 0, 0, 0, 0]]),
        Estimate(
            zigzag: 8, position: 17, partial: nil,
            dcOnly: [[0, 0, 0, 0, 0], [0, 1, 0, -1, 0], [0, -3, 0, 3, 0], [0, 1, 0, -1, 0], [0, 0, 0, 0, 0]]),
        Estimate(
            zigzag: 9, position: 24, partial: nil,
            dcOnly: [[0, 0, 0, 0, 0], [0, 1, 2, 1, 0], [0, 0, 0, 0, 0], [0, -1, -2, -1, 0], [0, 0, 0, 0, 0]]),
    ]
    /// The DC re-estimate (only when no AC data arrived); its weights sum to 256, keeping the mean.
    static let dcWeights: [[Int]] = [
        [-2, -6, -8, -6, -2], [-6, 6, 42, 6, -6], [-8, 42, 152, 42, -8], [-6, 6, 42, 6, -6], [-2, -6, -8, -6, -2],
    ]

    /// libjpeg-turbo's `smoothing_ok`: nil when smoothing does not apply (sequential file, a component
    /// never coded or without DC, a zero quantiser among the first ten, or every one of the first 9 AC
    /// coefficients of every component fully known).
    init?(frame: JPEGFrame, coefBits: [[Int]], previousCoefBits: [[Int]], scanCount: Int, lastGoodIMCURow: Int) {
        guard frame.progressive else { return nil }
        var useful = false
        var previous: [[Int]] = []
        for (ci, c) in frame.components.enumerated() {
            guard c.quantLatched else { return nil }
            for p in [0, 1, 8, 16, 9, 2, 3, 10, 17, 24] where c.quant[p] == 0 { return nil }
            guard coefBits[ci][0] >= 0 else { return nil }
            var prev = [Int](repeating: -1, count: 10)
            for k in 1..<10 {
                prev[k] = scanCount > 1 ? previousCoefBits[ci][k] : -1
                if coefBits[ci][k] != 0 { useful = true }
            }
            previous.append(prev)
        }
        guard useful else { return nil }
        current = coefBits.map { Array($0[0..<10]) }
        self.previous = previous
        self.lastGoodIMCURow = lastGoodIMCURow
    }

    /// Copies block `(row, col)` of component `ci` into `block` `[64]` with the estimates applied.
    ///
    /// The 5×5 neighbourhood follows libjpeg exactly: columns clamp to the component's real blocks;
    /// rows clamp as `decompress_smooth_data` computes them (its row bounds count the padded block
    /// rows except in the last iMCU row, so a padding row can be a neighbour).
    func smoothedBlock(
        frame: JPEGFrame, component ci: Int, row: Int, col: Int,
        coefficients: UnsafePointer<Int16>, into block: UnsafeMutablePointer<Int16>
    ) {
        let c = frame.components[ci]
        let base = coefficients + c.coefficientOffset
        block.update(from: base + (row * c.blocksPerRow + col) * 64, count: 64)
        let iMCU = row / c.v
        let heightInBlocks = (c.sampleHeight + 7) / 8
        let widthInBlocks = (c.sampleWidth + 7) / 8
        let lastIMCU = frame.mcuRows - 1
        let rowsHere = iMCU < lastIMCU ? c.v : (heightInBlocks % c.v == 0 ? c.v : heightInBlocks % c.v)
        let imageRow = iMCU * rowsHere + row % c.v
        let imageRows = rowsHere * frame.mcuRows
        let prev = imageRow > 0 ? row - 1 : row
        let prevPrev = imageRow > 1 ? row - 2 : prev
        let next = imageRow < imageRows - 1 ? row + 1 : row
        let nextNext = imageRow < imageRows - 2 ? row + 2 : next
        let rows = [prevPrev, prev, row, next, nextNext].map { min(max($0, 0), c.blockRows - 1) }
        var dc = [[Int]](repeating: [Int](repeating: 0, count: 5), count: 5)
        for (i, r) in rows.enumerated() {
            for j in 0..<5 {
                let x = min(max(col + j - 2, 0), widthInBlocks - 1)
                dc[i][j] = Int(base[(r * c.blocksPerRow + x) * 64])
            }
        }
        let bits = iMCU > lastGoodIMCURow ? previous[ci] : current[ci]
        let dcOnly = (1..<10).allSatisfy { bits[$0] == -1 }
        let q00 = Int(c.quant[0])
        func weighted(_ w: [[Int]]) -> Int {
            var s = 0
            for i in 0..<5 { for j in 0..<5 { s += w[i][j] * dc[i][j] } }
            return q00 * s
        }
        // Rounded quotient num / (q·256), clamped below 2^Al when the coefficient is partly known.
        func estimate(_ num: Int, _ q: Int, _ al: Int) -> Int16 {
            var pred = ((q << 7) + abs(num)) / (q << 8)
            if al > 0 && pred >= 1 << al { pred = (1 << al) - 1 }
            return Int16(truncatingIfNeeded: num >= 0 ? pred : -pred)
        }
        for e in Self.estimates {
            let al = bits[e.zigzag]
            guard al != 0, block[e.position] == 0 else { continue }
            guard let weights = dcOnly ? e.dcOnly : e.partial else { continue }
            block[e.position] = estimate(weighted(weights), Int(c.quant[e.position]), al)
        }
        if dcOnly {
            block[0] = estimate(weighted(Self.dcWeights), q00, 0)
        }
    }
}
