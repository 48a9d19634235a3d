import Foundation
import XCTest

@testable import TRIMImage

/// Reads the goldens written by `Tests/Goldens/image_goldens.py` (Pillow + transformers) from
/// `Tests/Goldens/images/`. A minimal safetensors reader (U8 and F32 only) so these tests depend on
/// nothing but Foundation: 8-byte little-endian header length, JSON header, raw row-major data.
struct ImageGoldens {
    struct Entry {
        let dtype: String
        let shape: [Int]
        let bytes: Data
    }

    let entries: [String: Entry]
    /// The header's `__metadata__` (string → string).
    let metadata: [String: String]

    static let goldens = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("Goldens")
    static let directory = goldens.appendingPathComponent("images")

    /// The goldens file `name` of `Tests/Goldens/<folder>/`.
    init(_ name: String, folder: String = "images") throws {
        let data = try Data(contentsOf: Self.goldens.appendingPathComponent(folder).appendingPathComponent(name))
        let n = data.prefix(8).enumerated().reduce(0) { $0 | Int($1.element) << (8 * $1.offset) }
        let header = try JSONSerialization.jsonObject(with: data.subdata(in: 8..<(8 + n))) as! [String: Any]
        var entries = [String: Entry]()
        var metadata = [String: String]()
        for (key, value) in header {
            let object = value as! [String: Any]
            if key == "__metadata__" {
                metadata = object as! [String: String]
                continue
            }
            let offsets = object["data_offsets"] as! [Int]
            entries[key] = Entry(
                dtype: object["dtype"] as! String, shape: object["shape"] as! [Int],
                bytes: data.subdata(in: (8 + n + offsets[0])..<(8 + n + offsets[1])))
        }
        self.entries = entries
        self.metadata = metadata
    }

    /// A `U8 [h, w, 3]` array as an image.
    func image(_ key: String) throws -> RGBImage {
        let e = try XCTUnwrap(entries[key], "golden \(key) missing")
        XCTAssertEqual(e.dtype, "U8")
        XCTAssertEqual(e.shape.count, 3)
        return RGBImage(width: e.shape[1], height: e.shape[0], pixels: [UInt8](e.bytes))
    }

    /// An `F32` array's elements and shape.
    func floats(_ key: String) throws -> (shape: [Int], values: [Float]) {
        let e = try XCTUnwrap(entries[key], "golden \(key) missing")
        XCTAssertEqual(e.dtype, "F32")
        let values = e.bytes.withUnsafeBytes { raw in
            (0..<(raw.count / 4)).map { Float(bitPattern: raw.loadUnaligned(fromByteOffset: $0 * 4, as: UInt32.self)) }
        }
        return (e.shape, values)
    }

    /// `__metadata__[key]` parsed as a JSON object.
    func json(_ key: String) throws -> [String: Any] {
        let s = try XCTUnwrap(metadata[key], "metadata \(key) missing")
        return try JSONSerialization.jsonObject(with: Data(s.utf8)) as! [String: Any]
    }

    /// Case names: the distinct prefixes before the first "." of the tensor names.
    var cases: [String] {
        Set(entries.keys.compactMap { $0.split(separator: ".").first.map(String.init) }).sorted()
    }
}

/// The first pixel where two images differ, for a readable failure message.
func firstDifference(_ a: RGBImage, _ b: RGBImage) -> String {
    guard a.width == b.width && a.height == b.height else {
        return "size \(a.width)×\(a.height) vs \(b.width)×\(b.height)"
    }
    for i in 0..<a.pixels.count where a.pixels[i] != b.pixels[i] {
        let p = i / 3
        return "first at x=\(p % a.width) y=\(p / a.width) channel \(i % 3): \(a.pixels[i]) vs \(b.pixels[i])"
    }
    return "none"
}
