// numpy's percentile, shared by TRIM's IQR rule and the conformance checker that judges near-ties at it.

/// `numpy.percentile(x, q)` with the default linear method, on float32 data, bit for bit: numpy ≥ 2
/// interpolates `a + (b − a)·γ` in float32 (or `b − (b − a)·(1 − γ)` when γ ≥ 0.5), with the virtual
/// index `(n − 1)·q/100` and γ computed in float64.
/// - Parameter sorted: the data in increasing order (non-empty).
public func numpyPercentile(sorted: [Float], _ q: Double) -> Float {
    precondition(!sorted.isEmpty, "numpyPercentile: empty input")
    let n = sorted.count
    let virtual = Double(n - 1) * (q / 100)
    let previous = min(max(Int(virtual.rounded(.down)), 0), n - 1)
    let next = min(previous + 1, n - 1)
    let gamma = virtual - Double(previous)
    let a = sorted[previous], b = sorted[next]
    let diff = b - a
    if gamma >= 0.5 { return b - diff * Float(1 - gamma) }
    return a + diff * Float(gamma)
}
