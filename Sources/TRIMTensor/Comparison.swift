/// The conformance measure of SEMANTICS.md §4: `max|a − reference| / max|reference|`, accumulated in Double
/// (the plain `max|a − reference|` when the reference is all zeros). Shapes must match exactly,
/// otherwise the error is `.infinity`. Used by the golden tests; handy for any port's own checks.
public func maxRelativeError(_ a: Tensor, reference: Tensor) -> Double {
    guard a.shape == reference.shape else { return .infinity }
    var num = 0.0, den = 0.0
    for i in 0..<a.count {
        num = max(num, abs(Double(a.scalars[i]) - Double(reference.scalars[i])))
        den = max(den, abs(Double(reference.scalars[i])))
    }
    return den == 0 ? num : num / den
}
