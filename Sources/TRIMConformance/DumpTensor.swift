import SafeTensors

/// One tensor of a dump, read for comparison: floats as Float32, integers and BOOL as Int64, anything else
/// (F8) as its raw bytes.
struct DumpTensor {
    /// The values, by kind.
    enum Values {
        case float([Float])
        case integer([Int64])
        case raw([UInt8])
    }

    let info: TensorInfo
    let values: Values

    /// `float`, `integer` or the dtype's name: tensors of different kinds are never comparable.
    var kind: String {
        switch values {
        case .float: "float"
        case .integer: "integer"
        case .raw: info.dtype.rawValue
        }
    }

    /// `F32 [49, 60]`.
    var summary: String { Self.summary(info) }

    /// `F32 [49, 60]` for a header entry.
    static func summary(_ info: TensorInfo) -> String {
        "\(info.dtype.rawValue) [" + info.shape.map(String.init).joined(separator: ",") + "]"
    }

    /// Reads `name` from `file` (opened from `path`, which errors name).
    static func load(_ file: SafeTensorsFile, _ name: String, path: String) throws(DumpDiffError) -> DumpTensor {
        guard let info = file.info(name) else {
            throw .unreadableTensor(path: path, tensor: name, reason: "not in the file")
        }
        do {
            if info.dtype.isConvertibleToFloat { return DumpTensor(info: info, values: .float(try file.tensor(name).scalars)) }
            if info.dtype.isConvertibleToInt64 { return DumpTensor(info: info, values: .integer(try file.int64s(name))) }
            let bytes = try file.withUnsafeBytes(of: name) { Array($0) }
            return DumpTensor(info: info, values: .raw(bytes))
        } catch {
            throw .unreadableTensor(path: path, tensor: name, reason: "\(error)")
        }
    }

    /// The values as Doubles (floats and integers alike), or nil for raw bytes.
    var doubles: [Double]? {
        switch values {
        case .float(let v): v.map(Double.init)
        case .integer(let v): v.map(Double.init)
        case .raw: nil
        }
    }

    /// The integer values, or nil for another kind.
    var integers: [Int64]? {
        if case .integer(let v) = values { return v }
        return nil
    }
}

/// The largest element-wise difference between two equally long runs of values, and the largest expected
/// magnitude it is measured against.
struct Deviation: Equatable {
    /// `max |actual − expected|`; infinite when one side has a NaN or infinity the other lacks.
    var maxAbs: Double = 0
    /// `max |expected|` over the expected side's finite values.
    var maxExpected: Double = 0

    /// `maxAbs / maxExpected` (the conformance measure; 0 when both are 0, infinite on an all-zero expected
    /// side with a difference).
    var maxRel: Double { relative(to: maxExpected) }

    /// `maxAbs / scale`, with the same conventions as `maxRel`.
    func relative(to scale: Double) -> Double {
        scale > 0 ? maxAbs / scale : (maxAbs == 0 ? 0 : .infinity)
    }

    /// The deviation of `actual` from `expected` (same length).
    init(_ expected: ArraySlice<Double>, _ actual: ArraySlice<Double>) {
        for (e, a) in zip(expected, actual) {
            if e.isFinite { maxExpected = max(maxExpected, abs(e)) }
            maxAbs = max(maxAbs, Self.difference(e, a))
        }
    }

    /// No difference yet.
    init() {}

    /// Both deviations at once: the larger of each.
    mutating func merge(_ other: Deviation) {
        maxAbs = max(maxAbs, other.maxAbs)
        maxExpected = max(maxExpected, other.maxExpected)
    }

    /// `|a − e|`, with NaN = NaN and an infinity equal to itself; any other NaN or infinity is infinitely far.
    static func difference(_ e: Double, _ a: Double) -> Double {
        if e.isNaN || a.isNaN { return e.isNaN && a.isNaN ? 0 : .infinity }
        if e.isInfinite || a.isInfinite { return e == a ? 0 : .infinity }
        return abs(a - e)
    }
}
