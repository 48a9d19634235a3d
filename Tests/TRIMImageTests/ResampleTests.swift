import XCTest

@testable import TRIMImage

final class ResampleTests: XCTestCase {
    /// Every case of resize.safetensors: Pillow's `Image.resize((w, h), BICUBIC|BILINEAR)` output, byte for byte.
    func testResizeMatchesPillowBitExactOnGoldens() throws {
        let goldens = try ImageGoldens("resize.safetensors")
        XCTAssertGreaterThanOrEqual(goldens.cases.count, 19)
        for name in goldens.cases where goldens.entries[name + ".src"] != nil {
            let meta = try goldens.json(name)
            let filter: Resample.Filter = ["bilinear": .bilinear, "nearest": .nearest][meta["filter"] as! String] ?? .bicubic
            let src = try goldens.image(name + ".src")
            let expected = try goldens.image(name + ".out")
            let got = Resample.resize(src, width: meta["width"] as! Int, height: meta["height"] as! Int, filter: filter)
            XCTAssertTrue(got == expected, "\(name): \(firstDifference(got, expected))")
        }
    }

    /// A window of the resize equals the same window cut from the full resize, in both pass orders and
    /// when one axis keeps its size.
    func testWindowedResizeEqualsCropOfFullResize() throws {
        let goldens = try ImageGoldens("resize.safetensors")
        let src = try goldens.image("odd_ratio.src")  // 101×103
        for filter in [Resample.Filter.bicubic, .nearest] {
            for (w, h) in [(67, 29), (40, 90), (101, 30), (50, 103), (150, 20)] {
                let full = Resample.resize(src, width: w, height: h, filter: filter)
                let columns = (w / 3)..<(w - w / 4)
                let rows = (h / 5)..<(h - h / 3)
                let window = Resample.resize(src, width: w, height: h, filter: filter, columns: columns, rows: rows)
                XCTAssertEqual(window, Resample.crop(full, columns: columns, rows: rows), "\(filter) \(w)×\(h)")
            }
        }
    }

    func testResizeToSameSizeReturnsInputUnchanged() {
        let image = RGBImage(width: 3, height: 2, pixels: (0..<18).map { UInt8($0 * 13) })
        XCTAssertEqual(Resample.resize(image, width: 3, height: 2), image)
    }

    func testResizeOfFlatColourStaysFlat() {
        let image = RGBImage(width: 17, height: 11, fill: (200, 3, 77))
        for (w, h) in [(5, 4), (40, 23), (17, 30), (1, 1)] {
            XCTAssertEqual(Resample.resize(image, width: w, height: h), RGBImage(width: w, height: h, fill: (200, 3, 77)))
        }
    }

    /// Fixed-point weights of each output row sum to about 1.0 (2^22), as Pillow's normalisation guarantees.
    func testKernelWeightsAreNormalised() {
        for (inSize, outSize) in [(100, 7), (7, 100), (336, 335), (1, 5)] {
            let k = Resample.Kernel(inSize: inSize, outSize: outSize, filter: .bicubic)
            for i in 0..<outSize {
                let sum = (0..<k.count[i]).reduce(0) { $0 + Int(k.weights[i * k.taps + $1]) }
                XCTAssertLessThanOrEqual(abs(sum - (1 << 22)), k.count[i], "in \(inSize) out \(outSize) row \(i)")
            }
        }
    }
}
