import Foundation
import XCTest

import TRIMTensor

/// `VectorMath.exp` and the kernels built on it against Foundation's libm, on dense sweeps.
final class VectorMathTests: XCTestCase {
    /// Distance from `y` to the exact `ref`, in units in the last place of `Float(ref)`.
    static func ulps(_ y: Float, _ ref: Double) -> Double {
        abs(Double(y) - ref) / Double(Float(ref).ulp)
    }

    func testExpIsWithinTwoUlpOfFoundationOnADenseSweepOfTheNormalRange() {
        // 160 000 points over [-87.3, 88.7] (every normal-float result), plus a fine sweep of [-1, 1].
        var worst = 0.0, worstX: Float = 0
        func check(_ xs: [Float]) {
            var i = 0
            while i + 16 <= xs.count {
                var v = SIMD16<Float>()
                for j in 0..<16 { v[j] = xs[i + j] }
                let y = VectorMath.exp(v)
                for j in 0..<16 {
                    let e = Self.ulps(y[j], Foundation.exp(Double(xs[i + j])))
                    if e > worst { worst = e; worstX = xs[i + j] }
                }
                i += 16
            }
        }
        check((0..<144_000).map { Float(-87.3 + 176.0 * Double($0) / 144_000) })
        check((0..<16_000).map { Float(-1 + 2 * Double($0) / 16_000) })
        // Measured: ≈ 1.5 ulp worst case (stated as "within 2 ulp" in VectorMath.exp's documentation).
        XCTAssertLessThanOrEqual(worst, 2, "worst \(worst) ulp at x = \(worstX)")
    }

    func testExpNonPositiveIsExpOnItsRangeAndTinyBelowIt() {
        // Bit-identical to `exp` on a dense sweep of [-87.33654, 0] (both ends included, the float just
        // below 0, and -0), then no larger than the smallest normal float's neighbourhood below it.
        var xs = (0...200_000).map { Float(-87.33654 * Double($0) / 200_000) }
        xs += [-0.0, -Float.leastNonzeroMagnitude, -Float.ulpOfOne, -87.33654, Float(-87.33654).nextDown]
        while xs.count % 16 != 0 { xs.append(-1) }
        for i in stride(from: 0, to: xs.count, by: 16) {
            var v = SIMD16<Float>()
            for j in 0..<16 { v[j] = xs[i + j] }
            let fast = VectorMath.expNonPositive(v), full = VectorMath.exp(v)
            for j in 0..<16 where xs[i + j] >= -87.33654 {
                XCTAssertEqual(fast[j].bitPattern, full[j].bitPattern, "x = \(xs[i + j])")
            }
        }
        let below: [Float] = [-87.34, -88, -100, -1000, -Float.greatestFiniteMagnitude, -.infinity, -90, -87.5,
                              -95, -120, -200, -500, -1e10, -1e30, -88.5, -89]
        var v = SIMD16<Float>()
        for (j, x) in below.enumerated() { v[j] = x }
        let y = VectorMath.expNonPositive(v)
        for j in 0..<16 {
            XCTAssertGreaterThanOrEqual(y[j], 0, "x = \(below[j])")
            XCTAssertLessThanOrEqual(y[j], 1.2e-38, "x = \(below[j])")
        }
        XCTAssertEqual(VectorMath.expNonPositive(SIMD16(repeating: 0)), SIMD16(repeating: 1))
    }

    func testExpSpecialValues() {
        var v = SIMD16<Float>(repeating: 0)
        let xs: [Float] = [-.infinity, -1000, -87.4, 0, 1, 88.72, 88.8, .infinity, -0.0, 1e-8]
        for (j, x) in xs.enumerated() { v[j] = x }
        let y = VectorMath.exp(v)
        XCTAssertEqual(y[0], 0); XCTAssertEqual(y[1], 0); XCTAssertEqual(y[2], 0)
        XCTAssertEqual(y[3], 1); XCTAssertEqual(y[4], Float(M_E), accuracy: 2 * Float(M_E).ulp)
        XCTAssertTrue(y[5].isFinite && y[5] > 3e38, "exp(88.72) = \(y[5])")
        XCTAssertEqual(y[6], .infinity); XCTAssertEqual(y[7], .infinity)
        XCTAssertEqual(y[8], 1); XCTAssertEqual(y[9], 1)
    }

    /// Applies a 16-lane function to every element of `xs` (length a multiple of 16).
    static func apply(_ f: (SIMD16<Float>) -> SIMD16<Float>, _ xs: [Float]) -> [Float] {
        var out = [Float]()
        var i = 0
        while i + 16 <= xs.count {
            var v = SIMD16<Float>()
            for j in 0..<16 { v[j] = xs[i + j] }
            let y = f(v)
            for j in 0..<16 { out.append(y[j]) }
            i += 16
        }
        return out
    }

    func testErfIsWithinThreeUlpOfFoundationOnADenseSweep() {
        // 320 000 points over [-5, 5] (both polynomial ranges, their boundaries at ±1 and ±4, the
        // saturated tails), plus a fine sweep near 0 where erf(x) ≈ 1.128 x.
        let wide: [Float] = (0..<320_000).map { (i: Int) -> Float in Float(-5 + 10 * Double(i) / 320_000) }
        let nearZero: [Float] = (0..<16_000).map { (i: Int) -> Float in Float(1e-4 * Double(i - 8_000) / 8_000) }
        let xs = wide + nearZero
        let ys = Self.apply(VectorMath.erf, xs)
        var worst = 0.0, worstX: Float = 0
        for (x, y) in zip(xs, ys) {
            let e = Self.ulps(y, Foundation.erf(Double(x)))
            if e > worst { worst = e; worstX = x }
        }
        // Measured: 2.39 ulp worst case, in the |x| < 1 range (the float64 fit predicted 2.4).
        XCTAssertLessThanOrEqual(worst, 3, "worst \(worst) ulp at x = \(worstX)")
        var v = SIMD16<Float>(repeating: 0)
        let special: [Float] = [0, -0.0, .infinity, -.infinity, 4, -4, 1, -1, 10, -10]
        for (j, x) in special.enumerated() { v[j] = x }
        v[10] = .nan
        let y = VectorMath.erf(v)
        XCTAssertEqual(y[0], 0); XCTAssertEqual(y[1].sign, .minus)
        XCTAssertEqual(y[2], 1); XCTAssertEqual(y[3], -1); XCTAssertEqual(y[4], 1); XCTAssertEqual(y[5], -1)
        XCTAssertEqual(y[6], Float(Foundation.erf(1.0)), accuracy: 2 * Float(0.8427).ulp)
        XCTAssertEqual(y[7], -y[6]); XCTAssertEqual(y[8], 1); XCTAssertEqual(y[9], -1)
        XCTAssertTrue(y[10].isNaN)
    }

    func testSigmoidIsWithinThreeAndAHalfUlpOfTheDoubleFormula() {
        // Measured: 3.01 ulp worst case (exp's error, then an add and a division).
        let xs = (0..<160_000).map { Float(-80 + 160 * Double($0) / 160_000) }
        let ys = Self.apply(VectorMath.sigmoid, xs)
        var worst = 0.0
        for (x, y) in zip(xs, ys) { worst = max(worst, Self.ulps(y, 1 / (1 + Foundation.exp(-Double(x))))) }
        XCTAssertLessThanOrEqual(worst, 3.5, "worst \(worst) ulp")
    }

    func testGELUMatchesTheDoubleFormulaOnVectorAndTailElements() {
        // 1000 = 62 vectors + a tail of 8, over [-8, 8].
        let x = Tensor(shape: [1000], scalars: (0..<1000).map { Float(-8 + 16 * Double($0) / 999) })
        let y = geluErf(x)
        for i in 0..<1000 {
            let v = Double(x.scalars[i])
            let ref = 0.5 * v * (1 + Foundation.erf(v / 2.0.squareRoot()))
            XCTAssertEqual(Double(y.scalars[i]), ref, accuracy: 3e-7 * max(1, abs(ref)), "x = \(v)")
        }
    }

    func testQuickGELUMatchesItsDefinitionOnVectorAndTailElements() {
        // 1000 = 62 vectors + a tail of 8; range includes the overflow side (x < −51).
        let x = Tensor(shape: [1000], scalars: (0..<1000).map { Float(-60 + 80 * Double($0) / 999) })
        let y = quickGELU(x)
        for i in 0..<1000 {
            let v = Double(x.scalars[i])
            let ref = v / (1 + Foundation.exp(-1.702 * v))
            XCTAssertEqual(Double(y.scalars[i]), ref, accuracy: 2e-7 * max(1, abs(ref)), "x = \(v)")
        }
    }

    func testSoftmaxRowMatchesNaiveOnLongRowsWithLargeRange() {
        // Two rows of 577 (36 vectors + a tail of 1) spanning −80 … 20, like attention scores.
        let n = 577
        let original = (0..<(2 * n)).map { i in Float(-80 + 100 * Double((i * 7919) % n) / Double(n)) }
        var x = original
        x.withUnsafeMutableBufferPointer { p in
            softmaxRow(p.baseAddress!, n)
            softmaxRow(p.baseAddress! + n, n)
        }
        for r in 0..<2 {
            let row = original[(r * n)..<(r * n + n)].map(Double.init)
            let m = row.max()!
            let e = row.map { Foundation.exp($0 - m) }
            let s = e.reduce(0, +)
            for i in 0..<n {
                XCTAssertEqual(Double(x[r * n + i]), e[i] / s, accuracy: 1e-6 * max(e[i] / s, 1e-6), "row \(r) col \(i)")
            }
        }
    }
}
