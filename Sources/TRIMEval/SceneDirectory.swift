import Foundation
import TRIMImage
import TRIMJSON

/// A directory of scenes: `scenes.jsonl`, one scene per line, beside its images and masks.
///
///     {"image": "scene-7.png",
///      "objects": [{"colour": "red", "shape": "ball", "mask": "scene-7-mask-0.png"}, …],
///      "prompts": [{"text": "Where is the red ball?", "object": 0}, …]}
///
/// Paths are relative to the directory. A mask is a PNG or JPEG of the image's size whose first channel is
/// the object's coverage of each pixel (0 outside … 255 inside). `colour` and `shape` are optional; without
/// `prompts`, each object that names both gets "Where is the <colour> <shape>?".
public enum SceneDirectory {
    /// The manifest's file name.
    public static let manifest = "scenes.jsonl"

    /// Reads every scene of `directory`. A bad line or file throws `SceneError` naming it.
    public static func read(_ directory: URL) throws -> [Scene] {
        let url = directory.appendingPathComponent(manifest)
        guard let data = FileManager.default.contents(atPath: url.path) else {
            throw SceneError.unreadable(path: url.path, reason: "no such file (a scene directory holds \(manifest))")
        }
        var scenes: [Scene] = []
        for (n, line) in String(decoding: data, as: UTF8.self).split(separator: "\n", omittingEmptySubsequences: false)
            .enumerated()
        {
            let text = line.trimmingCharacters(in: .whitespaces)
            if text.isEmpty { continue }
            do {
                scenes.append(try scene(from: text, directory: directory))
            } catch let e as SceneError {
                throw SceneError.badLine(file: url.path, line: n + 1, reason: e.description)
            }
        }
        return scenes
    }

    static func scene(from line: String, directory: URL) throws -> Scene {
        let json: JSONValue
        do { json = try JSON.parse(line) } catch { throw SceneError.invalid("not JSON: \(error)") }
        guard let imageName = json["image"]?.stringValue else { throw SceneError.invalid("no \"image\" string") }
        let image = try decode(directory.appendingPathComponent(imageName))
        var objects: [SceneObject] = []
        for (i, o) in (json["objects"]?.arrayValue ?? []).enumerated() {
            guard let maskName = o["mask"]?.stringValue else { throw SceneError.invalid("object \(i) has no \"mask\"") }
            let colour = try o["colour"]?.stringValue.map { s -> SceneColour in
                guard let c = SceneColour(rawValue: s) else { throw SceneError.invalid("object \(i): unknown colour '\(s)'") }
                return c
            }
            let shape = try o["shape"]?.stringValue.map { s -> SceneShape in
                guard let c = SceneShape(rawValue: s) else { throw SceneError.invalid("object \(i): unknown shape '\(s)'") }
                return c
            }
            let m = try decode(directory.appendingPathComponent(maskName))
            guard m.width == image.width && m.height == image.height else {
                throw SceneError.invalid("mask \(maskName) is \(m.width)×\(m.height), the image \(image.width)×\(image.height)")
            }
            let mask = stride(from: 0, to: m.pixels.count, by: 3).map { m.pixels[$0] }
            objects.append(SceneObject(colour: colour, shape: shape, mask: mask))
        }
        var prompts: [ScenePrompt] = []
        if let list = json["prompts"]?.arrayValue {
            for (i, p) in list.enumerated() {
                guard let text = p["text"]?.stringValue, let object = p["object"]?.intValue else {
                    throw SceneError.invalid("prompt \(i) needs \"text\" and \"object\"")
                }
                guard objects.indices.contains(object) else {
                    throw SceneError.invalid("prompt \(i) names object \(object); the scene has \(objects.count)")
                }
                prompts.append(ScenePrompt(text: text, object: object))
            }
        } else {
            for (i, o) in objects.enumerated() {
                if let c = o.colour, let s = o.shape {
                    prompts.append(ScenePrompt(text: "Where is the \(c.rawValue) \(s.rawValue)?", object: i))
                }
            }
        }
        let stem = (imageName as NSString).deletingPathExtension
        return Scene(name: stem, image: image, objects: objects, prompts: prompts)
    }

    static func decode(_ url: URL) throws -> RGBImage {
        do { return try ImageDecoder.decode(contentsOf: url) } catch {
            throw SceneError.unreadable(path: url.path, reason: "\(error)")
        }
    }

    /// Writes scenes as PNG images and masks plus `scenes.jsonl` into `directory` (created if needed).
    public static func write(_ scenes: [Scene], to directory: URL) throws {
        let writer = try Writer(directory)
        for s in scenes { try writer.add(s) }
        try writer.finish()
    }

    /// Writes scenes one at a time (so that only one needs to be in memory): each scene's image and masks
    /// when added, `scenes.jsonl` at `finish()`.
    public final class Writer {
        let directory: URL
        var lines: [String] = []

        /// A writer into `directory` (created if needed).
        public init(_ directory: URL) throws {
            self.directory = directory
            do { try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true) } catch {
                throw SceneError.unwritable(path: directory.path, reason: error.localizedDescription)
            }
        }

        /// Writes the scene's image and masks, and remembers its manifest line.
        public func add(_ s: Scene) throws {
            let imageName = "\(s.name).png"
            try save(PNGEncoder.encode(s.image), directory.appendingPathComponent(imageName))
            var objects: [JSONValue] = []
            for (i, o) in s.objects.enumerated() {
                let maskName = "\(s.name)-mask-\(i).png"
                var rgb = [UInt8](repeating: 0, count: o.mask.count * 3)
                for (j, v) in o.mask.enumerated() { rgb[3 * j] = v; rgb[3 * j + 1] = v; rgb[3 * j + 2] = v }
                try save(PNGEncoder.encode(RGBImage(width: s.image.width, height: s.image.height, pixels: rgb)),
                         directory.appendingPathComponent(maskName))
                var pairs: [(String, JSONValue)] = []
                if let c = o.colour { pairs.append(("colour", .string(c.rawValue))) }
                if let sh = o.shape { pairs.append(("shape", .string(sh.rawValue))) }
                pairs.append(("mask", .string(maskName)))
                objects.append(.object(JSONObject(pairs)))
            }
            let prompts: [JSONValue] = s.prompts.map {
                .object(JSONObject([("text", .string($0.text)), ("object", .int($0.object))]))
            }
            lines.append(JSON.serialize(.object(JSONObject([
                ("image", .string(imageName)), ("objects", .array(objects)), ("prompts", .array(prompts)),
            ]))))
        }

        /// Writes `scenes.jsonl`, one line per scene added.
        public func finish() throws {
            try save(Array((lines.joined(separator: "\n") + "\n").utf8), directory.appendingPathComponent(manifest))
        }
    }

    static func save(_ bytes: [UInt8], _ url: URL) throws {
        do { try Data(bytes).write(to: url) } catch {
            throw SceneError.unwritable(path: url.path, reason: error.localizedDescription)
        }
    }
}

/// Why scenes could not be read or written.
public enum SceneError: Error, CustomStringConvertible {
    /// A file is missing or not a decodable image.
    case unreadable(path: String, reason: String)
    /// A manifest line is malformed.
    case invalid(String)
    /// Line `line` of `file` is bad.
    case badLine(file: String, line: Int, reason: String)
    /// A file could not be written.
    case unwritable(path: String, reason: String)

    /// One line: what, where, what was expected.
    public var description: String {
        switch self {
        case .unreadable(let p, let r): return "cannot read '\(p)': \(r)"
        case .invalid(let r): return r
        case .badLine(let f, let l, let r): return "\(f) line \(l): \(r)"
        case .unwritable(let p, let r): return "cannot write '\(p)': \(r)"
        }
    }
}
