import Foundation
import SafeTensors
import TRIMTensor

/// A dump as the tests build it: named tensors in file order, written with `SafeTensorsWriter`.
struct Dump {
    enum Entry {
        case floats([Float], [Int])
        case ints([Int64], [Int])
    }

    var entries: [(name: String, entry: Entry)] = []
    var metadata: [String: String] = [:]

    subscript(name: String) -> Entry? {
        get { entries.first { $0.name == name }?.entry }
        set {
            let i = entries.firstIndex { $0.name == name }
            switch (i, newValue) {
            case (let i?, let v?): entries[i].entry = v
            case (let i?, nil): entries.remove(at: i)
            case (nil, let v?): entries.append((name, v))
            case (nil, nil): break
            }
        }
    }

    /// The float values of `name` (which must be a float entry).
    func floats(_ name: String) -> [Float] {
        guard case .floats(let v, _)? = self[name] else { fatalError("\(name) is not a float entry") }
        return v
    }

    /// Changes the float values of `name`, keeping its shape.
    mutating func edit(_ name: String, _ body: (inout [Float]) -> Void) {
        guard case .floats(var v, let shape)? = self[name] else { fatalError("\(name) is not a float entry") }
        body(&v)
        self[name] = .floats(v, shape)
    }

    /// The safetensors bytes.
    func bytes() throws -> [UInt8] {
        var w = SafeTensorsWriter(metadata: metadata)
        for (name, entry) in entries {
            switch entry {
            case .floats(let v, let shape): w.add(name, Tensor(shape: shape, scalars: v))
            case .ints(let v, let shape): w.add(name, int64s: v, shape: shape)
            }
        }
        return try w.serialized()
    }

    /// The dump, read back.
    func file(_ name: String = "dump") throws -> SafeTensorsFile { try SafeTensorsFile(bytes: bytes(), name: name) }
}

/// A small run of the pipeline whose later stages follow from its earlier ones: 32 patches, `reduced` = the
/// kept feature rows then their mean-of-the-rest row (TRIM), or VisionZip's [CLS], patches and two
/// contextual rows; `projected` = `reduced · W + b`.
struct SyntheticRun {
    static let n = 32, d = 4, p = 3, h = 5

    var pixelValues = values(3 * 4 * 4, seed: 1)
    var features = values(n * d, seed: 2)
    var imageTokens = values(n * p, seed: 3)
    var inputIDs: [Int64] = [49406, 320, 1400, 49407]
    var textEmbeds = values(p, seed: 4)
    /// Around 0.02, with three clear outliers: 3, 7 and 12 (kept by the IQR rule).
    var scores: [Float] = (0..<n).map { i in [3: 0.09, 7: 0.1, 12: 0.095][i] ?? Float(0.02 + 0.001 * sin(Double(i))) }
    var kept = [3, 7, 12]
    var signalName = "scores"
    var visionZip = false

    /// Deterministic values in (−1, 1).
    static func values(_ count: Int, seed: UInt64) -> [Float] {
        var s = seed &* 0x9E37_79B9_7F4A_7C15
        return (0..<count).map { _ in
            s = s &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
            return Float(Double(s >> 11) / Double(1 << 53) * 2 - 1)
        }
    }

    func row(_ i: Int) -> [Float] { Array(features[i * Self.d..<(i + 1) * Self.d]) }

    /// The mean of `rows` (zeros when empty).
    func mean(_ rows: [Int]) -> [Float] {
        guard !rows.isEmpty else { return [Float](repeating: 0, count: Self.d) }
        return (0..<Self.d).map { j in rows.map { features[$0 * Self.d + j] }.reduce(0, +) / Float(rows.count) }
    }

    /// `reduced`: TRIM's rows, or VisionZip's (a [CLS] row, the patches ascending, the means of the rest by parity).
    var reduced: [[Float]] {
        let rest = (0..<Self.n).filter { !kept.contains($0) }
        if !visionZip { return kept.map(row) + [mean(rest)] }
        return [Self.values(Self.d, seed: 9)] + kept.sorted().map(row) + [mean(rest.filter { $0 % 2 == 0 }), mean(rest.filter { $0 % 2 == 1 })]
    }

    /// `reduced · W + b` with a fixed W and b.
    static func project(_ rows: [[Float]]) -> [Float] {
        let w = values(d * h, seed: 5), b = values(h, seed: 6)
        return rows.flatMap { r in (0..<h).map { k in (0..<d).reduce(b[k]) { $0 + r[$1] * w[$1 * h + k] } } }
    }

    var dump: Dump {
        let rows = reduced
        var d = Dump()
        d["pixel_values"] = .floats(pixelValues, [3, 4, 4])
        d["features"] = .floats(features, [Self.n, Self.d])
        d["image_tokens"] = .floats(imageTokens, [Self.n, Self.p])
        d["input_ids"] = .ints(inputIDs, [inputIDs.count])
        d["text_embeds"] = .floats(textEmbeds, [Self.p])
        d[signalName] = .floats(scores, [Self.n])
        if visionZip {
            d["contextual_assignment"] = .floats((0..<Self.n).map { kept.contains($0) ? -1 : Float($0 % 2) }, [Self.n])
        }
        d["kept_indices"] = .ints((visionZip ? kept.sorted() : kept).map(Int64.init), [kept.count])
        d["reduced"] = .floats(rows.flatMap { $0 }, [rows.count, Self.d])
        d["projected"] = .floats(Self.project(rows), [rows.count, Self.h])
        return d
    }
}
