import XCTest

@testable import Inflate

/// Properties that need no Python: limits, checksums, round trips through `Deflate`, random damage.
final class InflateRobustnessTests: XCTestCase {
    func testChecksumsMatchKnownValues() {
        // Python: zlib.crc32(b"123456789") == 0xCBF43926, zlib.adler32(b"Wikipedia") == 0x11E60398.
        XCTAssertEqual(Checksum.crc32(Array("123456789".utf8)), 0xCBF4_3926)
        XCTAssertEqual(Checksum.adler32(Array("Wikipedia".utf8)), 0x11E6_0398)
        XCTAssertEqual(Checksum.crc32([UInt8]()), 0)
        XCTAssertEqual(Checksum.adler32([UInt8]()), 1)
        // Running values chain like zlib's.
        let a = Array("hello ".utf8), b = Array("world".utf8)
        XCTAssertEqual(Checksum.crc32(b, initial: Checksum.crc32(a)), Checksum.crc32(a + b))
        XCTAssertEqual(Checksum.adler32(b, initial: Checksum.adler32(a)), Checksum.adler32(a + b))
        // Adler-32 stays exact past the 5552-byte reduction interval.
        let big = [UInt8](repeating: 0xFF, count: 100_000)
        var s1: UInt64 = 1, s2: UInt64 = 0
        for x in big { s1 = (s1 + UInt64(x)) % 65521; s2 = (s2 + s1) % 65521 }
        XCTAssertEqual(Checksum.adler32(big), UInt32(s2 << 16 | s1))
    }

    func testOutputLimitStopsADecompressionBomb() throws {
        let zeros = [UInt8](repeating: 0, count: 1 << 20)
        let stream = Deflate.zlibCompress(zeros)
        XCTAssertLessThan(stream.count, 10_000)
        XCTAssertThrowsError(try Inflate.zlibDecompress(stream, maxOutputBytes: 1000)) {
            XCTAssertEqual($0 as? InflateError, .outputTooLarge(limit: 1000))
        }
        XCTAssertEqual(try Inflate.zlibDecompress(stream, maxOutputBytes: 1 << 20).count, 1 << 20)
    }

    func testDeflateRoundTripsTextRunsAndRandomBytes() throws {
        var x: UInt32 = 5
        let random = (0..<50_000).map { _ in InflateGoldenTests.lcg(&x) >> 24 }.map { UInt8($0) }
        let inputs: [[UInt8]] = [
            [], [42], Array("abcabcabcabcabc".utf8), InflateGoldenTests.lcgWords(seed: 3, size: 200_000, vocabulary: 16),
            random, [UInt8](repeating: 7, count: 70_000), (0..<300_000).map { UInt8(truncatingIfNeeded: $0 % 251) },
        ]
        for input in inputs {
            let z = Deflate.zlibCompress(input)
            XCTAssertEqual(try Inflate.zlibDecompress(z, maxOutputBytes: input.count), input)
            // Never more than stored blocks would take.
            XCTAssertLessThanOrEqual(z.count, input.count + 5 * (input.count / 65535 + 1) + 6)
        }
        let words = InflateGoldenTests.lcgWords(seed: 3, size: 200_000, vocabulary: 16)
        XCTAssertLessThan(Deflate.zlibCompress(words).count, words.count / 3)
    }

    func testRandomDamageNeverCrashesOrHangs() {
        let plain = InflateGoldenTests.lcgWords(seed: 8, size: 20_000, vocabulary: 16)
        let streams = [Deflate.zlibCompress(plain), Deflate.zlibCompress(Array(plain[..<300]))]
        var x: UInt32 = 1
        var outcomes = [0, 0]
        for round in 0..<3000 {
            var s = streams[round % 2]
            for _ in 0..<(1 + Int(InflateGoldenTests.lcg(&x) >> 30)) {
                let pos = Int(InflateGoldenTests.lcg(&x) >> 8) % s.count
                s[pos] ^= UInt8(truncatingIfNeeded: InflateGoldenTests.lcg(&x) >> 24) | 1
            }
            if InflateGoldenTests.lcg(&x) >> 31 == 1 { s = Array(s[..<(Int(x >> 8) % s.count)]) }
            do {
                _ = try Inflate.zlibDecompress(s, maxOutputBytes: 100_000)
                outcomes[0] += 1
            } catch {
                outcomes[1] += 1
            }
            _ = try? Inflate.inflate(Array(s.dropFirst(2)), maxOutputBytes: 100_000)
        }
        XCTAssertGreaterThan(outcomes[1], 2900)  // the Adler-32 catches nearly everything
    }

    func testErrorDescriptionsAreOneLine() {
        let errors: [InflateError] = [
            .truncatedInput(offset: 3), .badBlockType(offset: 1), .badStoredLength(offset: 2, length: 5, complement: 7),
            .badCodeLengths(offset: 4, detail: "x"), .badHuffmanCode(offset: 9),
            .distanceTooFarBack(offset: 0, distance: 1, available: 0), .outputTooLarge(limit: 10),
            .checksumMismatch(kind: "CRC-32", offset: 8, stored: 1, computed: 0xDEAD_BEEF),
            .badHeader(offset: 0, detail: "magic"),
        ]
        for e in errors {
            XCTAssertFalse(e.description.contains("\n"))
            XCTAssertFalse(e.description.isEmpty)
        }
        XCTAssertTrue(InflateError.checksumMismatch(kind: "CRC-32", offset: 8, stored: 1, computed: 0xDEAD_BEEF)
            .description.contains("0xdeadbeef"))
    }
}
