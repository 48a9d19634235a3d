// How close two runs of the pipeline must be, stage by stage: the conformance rules of Docs/SEMANTICS.md §4.

/// The tolerances a dump comparison applies (Docs/SEMANTICS.md §4).
///
/// `pixel_values` is held to an absolute bound; every other float tensor to `max|Δ| / max|expected|`;
/// integer tensors (ids, indices) must be identical. A selection decided by a relative margin of at most
/// `nearTie` is a near-tie, which either side may break.
public struct DiffTolerance: Sendable, Equatable {
    /// Largest `|Δ|` allowed anywhere in `pixel_values` [1e-6].
    public var pixelAbsolute: Double
    /// Largest `max|Δ| / max|expected|` allowed on the other float tensors [1e-5; 1e-3 at full size].
    public var relative: Double
    /// Largest relative score margin at which a selection decision counts as a near-tie [1e-6].
    public var nearTie: Double

    /// Tolerances from their parts; the defaults are the small-golden rules of Docs/SEMANTICS.md §4.
    public init(pixelAbsolute: Double = 1e-6, relative: Double = 1e-5, nearTie: Double = 1e-6) {
        self.pixelAbsolute = pixelAbsolute
        self.relative = relative
        self.nearTie = nearTie
    }

    /// The rules for the small goldens: pixels 1e-6 absolute, tensors 1e-5 relative, near-ties 1e-6.
    public static let conformance = DiffTolerance()

    /// The rules at full ViT-L/14-336 size: tensors 1e-3 relative, the rest as `conformance`.
    public static let fullSize = DiffTolerance(relative: 1e-3)
}

/// How one tensor, one selection or a whole dump compares, from best to worst.
public enum DiffVerdict: String, Sendable, CaseIterable, Comparable {
    /// The same values (max |Δ| = 0), the same shape.
    case identical
    /// Different values within the tolerance.
    case within
    /// Different only where a near-tie decided the selection (and in what follows from those decisions).
    case nearTie = "near-tie"
    /// Out of tolerance, another shape, or another kind of value (float vs integer).
    case out

    private var rank: Int { Self.allCases.firstIndex(of: self)! }

    /// Orders by severity: `identical < within < near-tie < out`.
    public static func < (lhs: DiffVerdict, rhs: DiffVerdict) -> Bool { lhs.rank < rhs.rank }
}

/// `|a − b| / max(|a|, |b|)`: the relative margin between two scores (0 when both are 0).
func relativeMargin(_ a: Double, _ b: Double) -> Double {
    let scale = max(abs(a), abs(b))
    return scale == 0 ? 0 : abs(a - b) / scale
}
