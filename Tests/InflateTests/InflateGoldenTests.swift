import Foundation
import XCTest

@testable import Inflate

/// Checks `Inflate` against streams made by Python's zlib/gzip (Tests/Goldens/inflate_goldens.py): every
/// stream zlib accepts decodes to the same bytes, every stream zlib rejects throws.
final class InflateGoldenTests: XCTestCase {
    struct Case {
        let name: String
        let format: String
        let stream: [UInt8]
        let expectError: String?
        let size: Int
        let crc32: UInt32
        let plain: [UInt8]?
    }

    /// Reads Tests/Goldens/inflate/cases.json, applying corrupt-variant edits to their base streams and
    /// regenerating large plaintexts.
    static func loadCases() throws -> [Case] {
        let url = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("Goldens/inflate/cases.json")
        let json = try JSONSerialization.jsonObject(with: Data(contentsOf: url)) as! [[String: Any]]
        var streams: [String: [UInt8]] = [:]
        var cases: [Case] = []
        for c in json {
            let name = c["name"] as! String
            var stream: [UInt8]
            if let b64 = c["stream"] as? String {
                stream = [UInt8](Data(base64Encoded: b64)!)
                streams[name] = stream
            } else {
                stream = streams[c["base"] as! String]!
                let edit = c["edit"] as! [String: Any]
                if let n = edit["truncate"] as? Int { stream = Array(stream[..<n]) }
                if let x = edit["xor"] as? [Int] { stream[x[0]] ^= UInt8(x[1]) }
                if let b = edit["append"] as? Int { stream.append(UInt8(b)) }
            }
            let expect = c["expect"] as! [String: Any]
            var plain = (c["plain"] as? String).map { [UInt8](Data(base64Encoded: $0)!) }
            if let g = c["generator"] as? [String: Any] {
                let seed = UInt32(g["seed"] as! Int), size = g["size"] as! Int
                plain = g["kind"] as! String == "words"
                    ? lcgWords(seed: seed, size: size, vocabulary: g["vocabulary"] as! Int)
                    : lcgBytes(seed: seed, size: size)
            }
            cases.append(Case(name: name, format: c["format"] as! String, stream: stream,
                              expectError: expect["error"] as? String, size: expect["size"] as? Int ?? 0,
                              crc32: UInt32(expect["crc32"] as? Int ?? 0), plain: plain))
        }
        return cases
    }

    /// The golden script's LCG: x ← x·1664525 + 1013904223 (mod 2³²).
    static func lcg(_ x: inout UInt32) -> UInt32 {
        x = x &* 1_664_525 &+ 1_013_904_223
        return x
    }

    static let words = ["the", "cat", "sat", "on", "a", "mat", "while", "dogs", "bark", "loudly", "in", "zurich",
                        "under", "grey", "skies", "1234"].map { Array($0.utf8) }

    static func lcgWords(seed: UInt32, size: Int, vocabulary: Int) -> [UInt8] {
        var x = seed
        var out: [UInt8] = []
        while out.count < size {
            let v = lcg(&x)
            out += words[Int(v >> 16) % vocabulary]
            out.append((v >> 8) & 7 == 0 ? 10 : 32)
        }
        return Array(out[..<size])
    }

    static func lcgBytes(seed: UInt32, size: Int) -> [UInt8] {
        var x = seed
        return (0..<size).map { _ in UInt8(lcg(&x) >> 24) }
    }

    static func decode(_ c: Case) throws -> [UInt8] {
        switch c.format {
        case "raw": return try Inflate.inflate(c.stream, maxOutputBytes: 1 << 24)
        case "zlib": return try Inflate.zlibDecompress(c.stream, maxOutputBytes: 1 << 24)
        default: return try Inflate.gzipDecompress(c.stream, maxOutputBytes: 1 << 24)
        }
    }

    func testEveryPythonZlibStreamDecodesOrFailsExactlyAsZlibDoes() throws {
        let cases = try Self.loadCases()
        XCTAssertGreaterThan(cases.count, 200)
        var checked = 0
        for c in cases {
            do {
                let out = try Self.decode(c)
                if let err = c.expectError {
                    XCTFail("\(c.name): zlib says \"\(err)\" but Swift decoded \(out.count) bytes")
                    continue
                }
                XCTAssertEqual(out.count, c.size, c.name)
                XCTAssertEqual(Checksum.crc32(out), c.crc32, c.name)
                if let plain = c.plain { XCTAssertTrue(out == plain, "\(c.name): bytes differ from the plaintext") }
                checked += 1
            } catch {
                if c.expectError == nil { XCTFail("\(c.name): zlib decodes it but Swift threw \(error)") }
                XCTAssertFalse("\(error)".contains("\n"))
            }
        }
        XCTAssertGreaterThan(checked, 90)
    }

    func testErrorsNameTheProblemZlibNames() throws {
        let byName = Dictionary(uniqueKeysWithValues: try Self.loadCases().map { ($0.name, $0) })
        func error(_ name: String) -> InflateError? {
            do { _ = try Self.decode(byName[name]!); return nil } catch { return error as? InflateError }
        }
        XCTAssertEqual(error("raw reserved block type 3"), .badBlockType(offset: 0))
        XCTAssertEqual(error("raw stored block LEN/NLEN mismatch"), .badStoredLength(offset: 1, length: 5, complement: 0xFEFA))
        XCTAssertEqual(error("raw stored block truncated"), .truncatedInput(offset: 8))
        XCTAssertEqual(error("raw distance too far back"), .distanceTooFarBack(offset: 0, distance: 1, available: 0))
        XCTAssertEqual(error("raw empty input"), .truncatedInput(offset: 0))
        guard case .checksumMismatch(kind: "Adler-32", _, _, _) = error("zlib Adler-32 mismatch") else {
            return XCTFail("expected an Adler-32 mismatch")
        }
        guard case .checksumMismatch(kind: "ISIZE", _, _, _) = error("gzip ISIZE mismatch") else {
            return XCTFail("expected an ISIZE mismatch")
        }
        let member = byName["gzip by Python's gzip module (FNAME)"]!.stream.count
        XCTAssertEqual(error("gzip trailing garbage"),
                       .badHeader(offset: member, detail: "not a gzip member (expected magic bytes 1f 8b)"))
    }
}
