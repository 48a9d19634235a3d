/// How one tensor present in both dumps compares.
public struct TensorDiff: Sendable, Equatable {
    /// The dump name.
    public var name: String
    /// The expected side's dtype and shape, e.g. `F32 [49,60]`.
    public var expected: String
    /// The actual side's dtype and shape.
    public var actual: String
    /// The verdict.
    public var verdict: DiffVerdict
    /// `max |actual − expected|` over the compared values (nil when nothing could be compared: another shape
    /// or kind); for `reduced` and `projected`, over the rows matched by their source token.
    public var maxAbs: Double?
    /// `maxAbs / max |expected|`, the conformance measure (nil as `maxAbs`).
    public var maxRel: Double?
    /// Why the verdict is what it is, when that needs saying (one line each).
    public var notes: [String]

    /// A comparison from its parts.
    public init(name: String, expected: String, actual: String, verdict: DiffVerdict, maxAbs: Double?, maxRel: Double?,
                notes: [String] = []) {
        self.name = name
        self.expected = expected
        self.actual = actual
        self.verdict = verdict
        self.maxAbs = maxAbs
        self.maxRel = maxRel
        self.notes = notes
    }
}

/// A tensor present in one dump only.
public struct MissingTensor: Sendable, Equatable {
    /// The dump name.
    public var name: String
    /// Whether the expected dump holds it (else the actual one does).
    public var inExpected: Bool
    /// Its dtype and shape on the side that holds it.
    public var summary: String
}

extension TensorDiff {
    /// A tensor with the same values shape for shape: kinds must agree, shapes must agree, integers and raw
    /// bytes must be identical, `pixel_values` within the absolute bound, other floats within the relative one.
    static func whole(_ name: String, _ e: DumpTensor, _ a: DumpTensor, _ tolerance: DiffTolerance) -> TensorDiff {
        var diff = TensorDiff(name: name, expected: e.summary, actual: a.summary, verdict: .out, maxAbs: nil, maxRel: nil)
        guard e.kind == a.kind else {
            diff.notes = ["\(e.kind) vs \(a.kind) values"]
            return diff
        }
        guard e.info.shape == a.info.shape else {
            diff.notes = ["shape \(e.info.shape) vs \(a.info.shape)"]
            return diff
        }
        guard let ev = e.doubles, let av = a.doubles else {  // raw bytes: identical or not
            if case .raw(let eb) = e.values, case .raw(let ab) = a.values { diff.verdict = eb == ab ? .identical : .out }
            return diff
        }
        let d = Deviation(ev[...], av[...])
        (diff.maxAbs, diff.maxRel) = (d.maxAbs, d.maxRel)
        diff.verdict = verdict(name, kind: e.kind, d, tolerance)
        return diff
    }

    /// The verdict on a deviation: 0 is identical; integers must be; `pixel_values` is held to the absolute
    /// bound, other floats to the relative one.
    static func verdict(_ name: String, kind: String, _ d: Deviation, _ tolerance: DiffTolerance,
                        scale: Double? = nil) -> DiffVerdict {
        if d.maxAbs == 0 { return .identical }
        if kind != "float" { return .out }
        if name == "pixel_values" { return d.maxAbs <= tolerance.pixelAbsolute ? .within : .out }
        return d.relative(to: scale ?? d.maxExpected) <= tolerance.relative ? .within : .out
    }
}
