import Foundation
import XCTest

@testable import TRIMImage

/// Goldens: Tests/Goldens/jpeg/, written by Tests/Goldens/jpeg_goldens.py with Pillow 13.0.0 /
/// libjpeg-turbo 3.2.0 (`Image.open(f).convert("RGB")`).
final class JPEGDecoderTests: XCTestCase {
    static let goldenDirectory = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("Goldens/jpeg")

    struct GoldenCase {
        let name: String
        let width: Int
        let height: Int
        let expectation: String
    }

    static func manifest() throws -> [GoldenCase] {
        let text = try String(
            contentsOf: goldenDirectory.appendingPathComponent("manifest.tsv"), encoding: .utf8)
        return text.split(separator: "\n").compactMap { line in
            if line.hasPrefix("#") { return nil }
            let f = line.split(separator: "\t", omittingEmptySubsequences: false).map(String.init)
            guard f.count == 4, let w = Int(f[1]), let h = Int(f[2]) else { return nil }
            return GoldenCase(name: f[0], width: w, height: h, expectation: f[3])
        }
    }

    static func bytes(_ name: String, _ ext: String) throws -> [UInt8] {
        [UInt8](try Data(contentsOf: goldenDirectory.appendingPathComponent(name + "." + ext)))
    }

    func testEveryStoredJPEGDecodesBitExactlyLikePillow() throws {
        let cases = try Self.manifest()
        XCTAssertGreaterThan(cases.count, 90)
        var exact = 0
        for c in cases where c.expectation == "pixels" && c.name != "arithmetic" {
            let jpeg = try Self.bytes(c.name, "jpg")
            let expected = try Self.bytes(c.name, "rgb")
            do {
                let image = try JPEGDecoder.decode(jpeg)
                XCTAssertEqual(image.width, c.width, c.name)
                XCTAssertEqual(image.height, c.height, c.name)
                if image.pixels == expected {
                    exact += 1
                } else {
                    let diffs = zip(image.pixels, expected).filter { $0 != $1 }.count
                    XCTFail("\(c.name): \(diffs) of \(expected.count) values differ from Pillow")
                }
            } catch {
                XCTFail("\(c.name): \(error)")
            }
        }
        XCTAssertGreaterThan(exact, 90)
    }

    /// Progressive files cut short at or inside a scan, or whose scans leave low AC coefficients
    /// unrefined: libjpeg-turbo smooths them from neighbouring DC values, and so must we.
    func testIncompleteProgressiveFilesGetLibjpegTurboBlockSmoothing() throws {
        let cases = try Self.manifest().filter { $0.name.hasPrefix("smooth_") }
        XCTAssertGreaterThanOrEqual(cases.count, 10)
        for c in cases {
            let image = try JPEGDecoder.decode(try Self.bytes(c.name, "jpg"))
            XCTAssertEqual(image.pixels, try Self.bytes(c.name, "rgb"), c.name)
        }
    }

    /// Upsampling choices of libjpeg-turbo: fancy 2:1 filters only when the component is wider than
    /// 2 samples; 1:2 always fancy; other ratios replicate.
    func testUpsamplingMethodFollowsLibjpegTurboSelection() {
        func method(h: Int, v: Int, maxH: Int, maxV: Int, width: Int) -> JPEGUpsampling {
            var c = JPEGComponent(id: 2, h: h, v: v, quantSelector: 0)
            c.sampleWidth = width
            return JPEGUpsampling(component: c, maxH: maxH, maxV: maxV)
        }
        XCTAssertEqual(method(h: 1, v: 1, maxH: 2, maxV: 2, width: 10), .h2v2Fancy)
        XCTAssertEqual(method(h: 1, v: 1, maxH: 2, maxV: 2, width: 2), .replicate(x: 2, y: 2))
        XCTAssertEqual(method(h: 1, v: 1, maxH: 2, maxV: 1, width: 3), .h2v1Fancy)
        XCTAssertEqual(method(h: 1, v: 1, maxH: 1, maxV: 2, width: 1), .h1v2Fancy)
        XCTAssertEqual(method(h: 2, v: 1, maxH: 4, maxV: 1, width: 9), .h2v1Fancy)
        XCTAssertEqual(method(h: 1, v: 1, maxH: 4, maxV: 1, width: 9), .replicate(x: 4, y: 1))
        XCTAssertEqual(method(h: 2, v: 2, maxH: 2, maxV: 2, width: 9), .full)
    }

    func testFilesPillowCallsTruncatedThrowTruncated() throws {
        let cases = try Self.manifest().filter { $0.expectation.hasPrefix("error:truncated") }
        XCTAssertEqual(cases.count, 3)
        for c in cases {
            XCTAssertThrowsError(try JPEGDecoder.decode(try Self.bytes(c.name, "jpg")), c.name) { error in
                guard case JPEGError.truncated = error else { return XCTFail("\(c.name): \(error)") }
            }
        }
    }

    func testEveryFilePillowRejectsIsRejectedWithATypedError() throws {
        let cases = try Self.manifest().filter { $0.expectation.hasPrefix("error:") }
        XCTAssertGreaterThanOrEqual(cases.count, 5)
        for c in cases {
            XCTAssertThrowsError(try JPEGDecoder.decode(try Self.bytes(c.name, "jpg")), c.name) { error in
                XCTAssertTrue(error is JPEGError, "\(c.name): \(error)")
            }
        }
    }

    func testArithmeticCodingAndTwelveBitAreRefusedAsUnsupported() throws {
        // Pillow decodes arithmetic-coded files (libjpeg-turbo supports them); this decoder does not.
        for name in ["arithmetic", "precision12_patched"] {
            XCTAssertThrowsError(try JPEGDecoder.decode(try Self.bytes(name, "jpg")), name) { error in
                guard case JPEGError.unsupported = error else { return XCTFail("\(name): \(error)") }
                XCTAssertFalse(String(describing: error).contains("\n"))
            }
        }
    }

    func testReadHeaderReportsSizeComponentsAndProgressiveWithoutDecoding() throws {
        let base = try JPEGDecoder.readHeader(try Self.bytes("base_q75_420", "jpg"))
        XCTAssertEqual(base.width, 40)
        XCTAssertEqual(base.height, 32)
        XCTAssertEqual(base.components, 3)
        XCTAssertFalse(base.progressive)
        let grey = try JPEGDecoder.readHeader(try Self.bytes("grey_prog_q90", "jpg"))
        XCTAssertEqual(grey.components, 1)
        XCTAssertTrue(grey.progressive)
        let cmyk = try JPEGDecoder.readHeader(try Self.bytes("cmyk_base", "jpg"))
        XCTAssertEqual(cmyk.components, 4)
        // The header of a file cut right after its frame header is still readable.
        let whole = try Self.bytes("prog_q75_420", "jpg")
        guard
            let sof = (0..<whole.count - 1).first(where: { whole[$0] == 0xFF && whole[$0 + 1] == 0xC2 })
        else {
            return XCTFail("no SOF2")
        }
        let head = try JPEGDecoder.readHeader(Array(whole[..<(sof + 2 + 17)]))
        XCTAssertEqual(head.width, 40)
        XCTAssertTrue(head.progressive)
    }

    func testEveryPrefixOfAFileThrowsInsteadOfCrashing() throws {
        for name in ["base_q75_420", "prog_q95_422", "restart_blocks3_444"] {
            let whole = try Self.bytes(name, "jpg")
            for length in stride(from: 0, to: whole.count - 1, by: 5) {
                XCTAssertThrowsError(
                    try JPEGDecoder.decode(Array(whole[..<length])), "\(name) cut at \(length)")
            }
        }
    }

    func testCorruptedBytesGiveAnImageOrATypedErrorNeverACrash() throws {
        var seed: UInt64 = 0x9E37_79B9_7F4A_7C15
        func next() -> Int {
            seed = seed &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
            return Int(truncatingIfNeeded: seed >> 33)
        }
        for name in [
            "base_q95_420", "prog_q75_444", "cjpeg_scans_progressive", "cmyk_prog",
            "cjpeg_mixed_21_12_11",
        ] {
            let whole = try Self.bytes(name, "jpg")
            for _ in 0..<60 {
                var data = whole
                for _ in 0..<(1 + next() % 4) {
                    data[next() % data.count] = UInt8(truncatingIfNeeded: next())
                }
                do {
                    let image = try JPEGDecoder.decode(data)
                    XCTAssertEqual(image.pixels.count, image.width * image.height * 3)
                } catch {
                    XCTAssertTrue(error is JPEGError, "\(name): \(error)")
                }
            }
        }
    }

    func testNonJPEGAndOversizedFramesAreRejectedBeforeDecoding() throws {
        XCTAssertThrowsError(try JPEGDecoder.decode([0x89, 0x50, 0x4E, 0x47])) { error in
            XCTAssertEqual(error as? JPEGError, .notJPEG)
        }
        // A valid file whose frame header claims 65000 × 65000 pixels.
        var big = try Self.bytes("base_q75_420", "jpg")
        guard let sof = (0..<big.count - 1).first(where: { big[$0] == 0xFF && big[$0 + 1] == 0xC0 })
        else {
            return XCTFail("no SOF0")
        }
        big[sof + 5] = 0xFD
        big[sof + 6] = 0xE8
        big[sof + 7] = 0xFD
        big[sof + 8] = 0xE8
        XCTAssertThrowsError(try JPEGDecoder.decode(big)) { error in
            XCTAssertEqual(
                error as? JPEGError, .tooLarge(width: 65000, height: 65000, limit: ImageLimits.maxPixels))
        }
    }

    /// The integer IDCT agrees with a direct floating-point evaluation of the inverse DCT formula to
    /// within 1 level (what IEEE 1180 accuracy implies for libjpeg's islow).
    func testIntegerIDCTMatchesNaiveFloatingPointIDCT() {
        var seed: UInt64 = 12345
        func next() -> Int {
            seed = seed &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
            return Int(truncatingIfNeeded: seed >> 33)
        }
        var coefficients = [Int16](repeating: 0, count: 64)
        var quant = [Int32](repeating: 1, count: 64)
        var output = [UInt8](repeating: 0, count: 64)
        var worst = 0.0
        for trial in 0..<300 {
            for i in 0..<64 {
                // Sparse, decaying coefficients like real images; some trials DC-only.
                let magnitude = max(1, 300 / (1 + i))
                coefficients[i] =
                    (trial % 5 == 0 && i > 0) ? 0 : Int16(next() % (2 * magnitude + 1) - magnitude)
                quant[i] = Int32(1 + next() % 3)
            }
            coefficients.withUnsafeBufferPointer { c in
                quant.withUnsafeBufferPointer { q in
                    output.withUnsafeMutableBufferPointer { o in
                        JPEGIDCT.rangeLimit.withUnsafeBufferPointer { r in
                            JPEGIDCT.islowSIMD(
                                c.baseAddress!, q.baseAddress!, o.baseAddress!, stride: 8, rangeLimit: r.baseAddress!)
                        }
                    }
                }
            }
            for y in 0..<8 {
                for x in 0..<8 {
                    var sum = 0.0
                    for v in 0..<8 {
                        for u in 0..<8 {
                            let cu = u == 0 ? 1 / 2.0.squareRoot() : 1
                            let cv = v == 0 ? 1 / 2.0.squareRoot() : 1
                            let f = Double(Int(coefficients[v * 8 + u]) * Int(quant[v * 8 + u]))
                            sum +=
                                cu * cv * f * cos(Double(2 * x + 1) * Double(u) * .pi / 16)
                                * cos(Double(2 * y + 1) * Double(v) * .pi / 16)
                        }
                    }
                    let reference = min(255, max(0, (sum / 4 + 128).rounded()))
                    worst = max(worst, abs(reference - Double(output[y * 8 + x])))
                }
            }
        }
        XCTAssertLessThanOrEqual(worst, 1)
    }

    /// The vectorised YCbCr→RGB row conversion equals libjpeg's table formula exactly (both the 8-lane
    /// body and the scalar tail) and stays within one level of the JFIF formula.
    func testYCbCrConversionEqualsTablesAndJFIFFormulaWithinOneLevel() {
        var ys: [UInt8] = []
        var cbs: [UInt8] = []
        var crs: [UInt8] = []
        for y in stride(from: 0, through: 255, by: 15) {
            for cb in stride(from: 0, through: 255, by: 5) {
                for cr in stride(from: 0, through: 255, by: 5) {
                    ys.append(UInt8(y))
                    cbs.append(UInt8(cb))
                    crs.append(UInt8(cr))
                }
            }
        }
        let width = ys.count - 3  // not a multiple of 8: exercises the tail
        var out = [UInt8](repeating: 0, count: width * 3)
        ys.withUnsafeBufferPointer { yp in
            cbs.withUnsafeBufferPointer { cbp in
                crs.withUnsafeBufferPointer { crp in
                    out.withUnsafeMutableBufferPointer { o in
                        JPEGColorConverter.convertRow(
                            .yCbCr, rows: [yp.baseAddress!, cbp.baseAddress!, crp.baseAddress!], width: width,
                            out: o.baseAddress!)
                    }
                }
            }
        }
        var worst = 0.0
        for i in 0..<width {
            let y = Int32(ys[i])
            let cb = Int(cbs[i])
            let cr = Int(crs[i])
            let table: [UInt8] = [
                JPEGColorConverter.clamp8(y + JPEGColorConverter.crToR[cr]),
                JPEGColorConverter.clamp8(y + ((JPEGColorConverter.cbToG[cb] + JPEGColorConverter.crToG[cr]) >> 16)),
                JPEGColorConverter.clamp8(y + JPEGColorConverter.cbToB[cb]),
            ]
            XCTAssertEqual(Array(out[(3 * i)..<(3 * i + 3)]), table, "Y=\(y) Cb=\(cb) Cr=\(cr)")
            let (fy, fb, fr) = (Double(y), Double(cb) - 128, Double(cr) - 128)
            let reference = [fy + 1.402 * fr, fy - 0.344136 * fb - 0.714136 * fr, fy + 1.772 * fb]
            for c in 0..<3 {
                worst = max(worst, abs(min(255, max(0, reference[c])) - Double(out[3 * i + c])))
            }
        }
        XCTAssertLessThanOrEqual(worst, 1)
    }

    /// The vectorised IDCT gives exactly the samples of the scalar transcription of jidctint.c,
    /// including its zero-AC shortcuts, over sparse, dense, DC-only and large-magnitude blocks.
    func testVectorisedIDCTEqualsScalarIDCT() {
        var seed: UInt64 = 777
        func next() -> Int {
            seed = seed &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
            return Int(truncatingIfNeeded: seed >> 33)
        }
        var coefficients = [Int16](repeating: 0, count: 64)
        var quant = [Int32](repeating: 1, count: 64)
        var scalar = [UInt8](repeating: 0, count: 8 * 11)
        var vector = [UInt8](repeating: 0, count: 8 * 11)
        var workspace = [Int32](repeating: 0, count: 64)
        for trial in 0..<2000 {
            let kind = trial % 4
            for i in 0..<64 {
                let magnitude = kind == 3 ? 1023 : max(1, 400 / (1 + i))
                var v = next() % (2 * magnitude + 1) - magnitude
                if (kind == 0 && i > 0) || (kind == 1 && next() % 3 != 0) { v = 0 }
                coefficients[i] = Int16(v)
                quant[i] = Int32(1 + next() % (kind == 3 ? 4 : 60))
            }
            coefficients.withUnsafeBufferPointer { c in
                quant.withUnsafeBufferPointer { q in
                    workspace.withUnsafeMutableBufferPointer { w in
                        JPEGIDCT.rangeLimit.withUnsafeBufferPointer { r in
                            scalar.withUnsafeMutableBufferPointer { o in
                                ScalarIDCT.islow(
                                    c.baseAddress!, q.baseAddress!, o.baseAddress!, stride: 11,
                                    workspace: w.baseAddress!, rangeLimit: r.baseAddress!)
                            }
                            vector.withUnsafeMutableBufferPointer { o in
                                JPEGIDCT.islowSIMD(
                                    c.baseAddress!, q.baseAddress!, o.baseAddress!, stride: 11,
                                    rangeLimit: r.baseAddress!)
                            }
                        }
                    }
                }
            }
            for r in 0..<8 {
                XCTAssertEqual(vector[(r * 11)..<(r * 11 + 8)], scalar[(r * 11)..<(r * 11 + 8)], "trial \(trial)")
            }
        }
    }

    /// Code-length counts that overflow their length, or use the all-ones code, are invalid tables
    /// (libjpeg's JERR_BAD_HUFF_TABLE); found by fuzzing, once an out-of-bounds write.
    func testHuffmanTablesThatOverflowOrUseAllOnesCodesAreRejected() {
        func counts(_ prefix: [Int]) -> [Int] { prefix + [Int](repeating: 0, count: 16 - prefix.count) }
        XCTAssertNil(JPEGHuffmanTable(counts: counts([3]), values: [0, 1, 2]))
        XCTAssertNil(JPEGHuffmanTable(counts: counts([2]), values: [0, 1]))
        XCTAssertNil(JPEGHuffmanTable(counts: counts([0, 0, 0, 16]), values: [UInt8](repeating: 1, count: 16)))
        XCTAssertNotNil(JPEGHuffmanTable(counts: counts([0, 0, 0, 15]), values: [UInt8](repeating: 1, count: 15)))
        XCTAssertNotNil(JPEGHuffmanTable(counts: counts([1, 1]), values: [0, 1]))
        XCTAssertNil(JPEGHuffmanTable(counts: counts([1]), values: [0, 1]))
    }

    func testErrorDescriptionsAreOneLineAndNameTheOffset() {
        let errors: [JPEGError] = [
            .notJPEG, .truncated(offset: 10, context: "entropy-coded scan data"),
            .badSegment(marker: jpegMarkerName(0xC4), offset: 20, reason: "bad table"),
            .unsupported(marker: jpegMarkerName(0xC9), offset: 30, feature: "arithmetic coding"),
            .corruptData(offset: 40, reason: "bit pattern matches no Huffman code"),
            .tooLarge(width: 1, height: 2, limit: 3),
        ]
        for e in errors {
            XCTAssertFalse(e.description.contains("\n"))
        }
        XCTAssertTrue(errors[2].description.contains("DHT (FFC4)"))
        XCTAssertTrue(errors[2].description.contains("byte 20"))
    }
}
