import Foundation
import Inflate
import XCTest

@testable import TRIMImage

final class PNGTests: XCTestCase {
    private func goldenPNG(_ name: String) throws -> [UInt8] {
        [UInt8](try Data(contentsOf: ImageGoldens.directory.appendingPathComponent("png/\(name).png")))
    }

    /// Every PNG of the corpus decodes to exactly Pillow's `Image.open(f).convert("RGB")` pixels:
    /// all colour types × bit depths, Adam7, all filters, palette + tRNS, split IDAT, odd sizes.
    func testDecodedPixelsMatchPillowConvertRGBOnWholeCorpus() throws {
        let goldens = try ImageGoldens("png_decoded.safetensors")
        XCTAssertGreaterThanOrEqual(goldens.entries.count, 90)
        for name in goldens.entries.keys.sorted() {
            let expected = try goldens.image(name)
            do {
                let got = try PNGDecoder.decode(goldenPNG(name))
                XCTAssertTrue(got == expected, "\(name): \(firstDifference(got, expected))")
            } catch {
                XCTFail("\(name): \(error)")
            }
        }
    }

    func testEncoderRoundTripsThroughDecoder() throws {
        for (w, h) in [(1, 1), (7, 13), (64, 3), (33, 40)] {
            var image = RGBImage(width: w, height: h, fill: (0, 0, 0))
            for i in image.pixels.indices { image.pixels[i] = UInt8(truncatingIfNeeded: i &* 2654435761 >> 7) }
            let file = PNGEncoder.encode(image)
            XCTAssertEqual(try PNGDecoder.decode(file), image, "\(w)×\(h)")
            XCTAssertEqual(try ImageDecoder.decode(file), image)
        }
    }

    func testCorruptCRCIsATypedErrorNamingTheChunk() throws {
        var file = try goldenPNG("ct2_d8_plain_37x23")
        file[20] ^= 0x01  // inside IHDR's data (width high bytes are 0 → 1 flips width)
        XCTAssertThrowsError(try PNGDecoder.decode(file)) { error in
            guard case .badCRC(let type, let offset, _, _) = error as? PNGError else { return XCTFail("\(error)") }
            XCTAssertEqual(type, "IHDR")
            XCTAssertEqual(offset, 8)
        }
        // Damage inside IDAT: also caught by its CRC.
        var idat = try goldenPNG("ct6_d16_plain_37x23")
        let at = try XCTUnwrap((8..<idat.count).first { Array(idat[$0..<($0 + 4)]) == Array("IDAT".utf8) })
        idat[at + 10] ^= 0xFF
        XCTAssertThrowsError(try PNGDecoder.decode(idat)) { error in
            guard case .badCRC = error as? PNGError else { return XCTFail("\(error)") }
        }
    }

    func testTruncatedFilesThrowAtEveryLength() throws {
        let file = try goldenPNG("ct3_d4_adam7_7x13")
        let image = try PNGDecoder.decode(file)
        for n in 0..<file.count {
            let prefix = Array(file.prefix(n))
            // Only a prefix that keeps all image data (missing trailing chunks / IEND) may decode, and then correctly.
            if let got = try? PNGDecoder.decode(prefix) { XCTAssertEqual(got, image, "prefix \(n)") }
        }
        XCTAssertThrowsError(try PNGDecoder.decode(Array(file.prefix(30)))) { error in
            XCTAssertNotNil(error as? PNGError)
        }
    }

    func testHeaderLimitsAreCheckedBeforeAllocating() {
        func png(width: UInt32, height: UInt32, depth: UInt8 = 8, colorType: UInt8 = 2) -> [UInt8] {
            var out = PNGDecoder.signature
            PNGEncoder.appendChunk(
                "IHDR", PNGEncoder.bigEndian(width) + PNGEncoder.bigEndian(height) + [depth, colorType, 0, 0, 0], to: &out)
            PNGEncoder.appendChunk("IDAT", Deflate.zlibCompress([0, 0, 0, 0]), to: &out)
            PNGEncoder.appendChunk("IEND", [], to: &out)
            return out
        }
        XCTAssertThrowsError(try PNGDecoder.decode(png(width: 100_000, height: 100_000))) { error in
            guard case .tooLarge = error as? PNGError else { return XCTFail("\(error)") }
        }
        XCTAssertThrowsError(try PNGDecoder.decode(png(width: 0, height: 5))) { error in
            guard case .badHeader = error as? PNGError else { return XCTFail("\(error)") }
        }
        XCTAssertThrowsError(try PNGDecoder.decode(png(width: 4, height: 4, depth: 4, colorType: 2))) { error in
            guard case .badHeader = error as? PNGError else { return XCTFail("\(error)") }
        }
        // Header says 40×40 but the stream holds 4 bytes.
        XCTAssertThrowsError(try PNGDecoder.decode(png(width: 40, height: 40))) { error in
            guard case .truncatedImageData = error as? PNGError else { return XCTFail("\(error)") }
        }
    }

    /// Random damage inside chunk data, with the CRC recomputed so the damage reaches the decoder proper:
    /// every result is either a typed error or an image of the header's size — never a crash.
    func testDamagedChunksWithValidCRCsNeverCrash() throws {
        var seed: UInt64 = 0x9E37_79B9_7F4A_7C15
        func next() -> Int {
            seed = seed &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
            return Int(truncatingIfNeeded: seed >> 33)
        }
        for name in ["ct0_d1_adam7_7x13", "ct3_d2_plain_37x23", "ct6_d16_adam7_37x23", "ct2_d8_plain_7x13", "grey2_5x2_adam7"] {
            let original = try goldenPNG(name)
            // Chunk boundaries: (offset of length field, data length).
            var chunks = [(Int, Int)]()
            var p = 8
            while p + 12 <= original.count {
                let n = original[p..<(p + 4)].reduce(0) { $0 << 8 | Int($1) }
                chunks.append((p, n))
                p += 12 + n
            }
            for _ in 0..<150 {
                var file = original
                let (at, n) = chunks[next() % chunks.count]
                guard n > 0 else { continue }
                for _ in 0..<(1 + next() % 4) { file[at + 8 + next() % n] = UInt8(truncatingIfNeeded: next()) }
                let crc = Checksum.crc32(file[(at + 4)..<(at + 8 + n)])
                file.replaceSubrange((at + 8 + n)..<(at + 12 + n), with: PNGEncoder.bigEndian(crc))
                do {
                    let image = try PNGDecoder.decode(file)
                    XCTAssertEqual(image.pixels.count, image.width * image.height * 3)
                } catch {
                    // The type is guaranteed by `throws(PNGError)`; what a user sees must be one non-empty line.
                    XCTAssertFalse(error.description.isEmpty || error.description.contains("\n"), "\(error)")
                }
            }
        }
    }

    func testBadFilterTypeIsRejected() {
        var out = PNGDecoder.signature
        PNGEncoder.appendChunk("IHDR", PNGEncoder.bigEndian(1) + PNGEncoder.bigEndian(1) + [8, 0, 0, 0, 0], to: &out)
        PNGEncoder.appendChunk("IDAT", Deflate.zlibCompress([7, 42]), to: &out)
        PNGEncoder.appendChunk("IEND", [], to: &out)
        XCTAssertThrowsError(try PNGDecoder.decode(out)) { error in
            XCTAssertEqual(error as? PNGError, .badFilter(type: 7, row: 0, pass: 0))
        }
    }

    func testImageDecoderSniffsFormatsAndRejectsUnknownBytes() throws {
        XCTAssertEqual(ImageDecoder.sniff(PNGDecoder.signature), .png)
        XCTAssertEqual(ImageDecoder.sniff([0xFF, 0xD8, 0xFF, 0xE0]), .jpeg)
        XCTAssertThrowsError(try ImageDecoder.decode(Array("GIF89a".utf8))) { error in
            guard case .unknownFormat = error as? ImageError else { return XCTFail("\(error)") }
        }
        XCTAssertThrowsError(try ImageDecoder.decode(contentsOf: URL(fileURLWithPath: "/nonexistent/x.png"))) { error in
            guard case .unreadable = error as? ImageError else { return XCTFail("\(error)") }
        }
        let url = ImageGoldens.directory.appendingPathComponent("png/ct0_d16_adam7_7x13.png")
        XCTAssertEqual(try ImageDecoder.decode(contentsOf: url), try PNGDecoder.decode(goldenPNG("ct0_d16_adam7_7x13")))
    }
}
