import Foundation

/// Decodes image files to 8-bit RGB, choosing the decoder from the file's magic bytes (not its name).
public enum ImageDecoder {
    /// The formats recognised by their leading bytes.
    public enum Format: String, Sendable, Equatable {
        /// `89 50 4E 47 0D 0A 1A 0A`.
        case png = "PNG"
        /// `FF D8 FF` (start-of-image marker followed by another marker).
        case jpeg = "JPEG"
    }

    /// The format `data` starts with, or nil.
    public static func sniff(_ data: [UInt8]) -> Format? {
        if PNGDecoder.hasSignature(data) { return .png }
        if data.count >= 3 && data[0] == 0xFF && data[1] == 0xD8 && data[2] == 0xFF { return .jpeg }
        return nil
    }

    /// Decodes a PNG or JPEG file's bytes as Pillow's `Image.open(f).convert("RGB")` would. `[height, width, 3]`
    /// - Throws: `ImageError.unknownFormat` for other data, or the decoder's own typed error
    ///   (`PNGError`, the JPEG decoder's error).
    public static func decode(_ data: [UInt8]) throws -> RGBImage {
        switch sniff(data) {
        case .png:
            return try PNGDecoder.decode(data)
        case .jpeg:
            return try JPEGDecoder.decode(data)
        case nil:
            throw ImageError.unknownFormat(leadingBytes: Array(data.prefix(8)))
        }
    }

    /// Reads and decodes the image file at `url`. The file must be no larger than `maxFileBytes`.
    public static func decode(contentsOf url: URL) throws -> RGBImage {
        let data: Data
        var isDirectory: ObjCBool = false
        if FileManager.default.fileExists(atPath: url.path, isDirectory: &isDirectory), isDirectory.boolValue {
            throw ImageError.unreadable(path: url.path, reason: "it is a directory, expected a PNG or JPEG file")
        }
        do {
            // attributesOfItem describes a symlink itself; look at what it points to.
            let attributes = try FileManager.default.attributesOfItem(atPath: url.resolvingSymlinksInPath().path)
            if let type = attributes[.type] as? FileAttributeType, type != .typeRegular {
                throw ImageError.unreadable(path: url.path, reason: "not a regular file, expected a PNG or JPEG file")
            }
            let size = attributes[.size] as? Int ?? 0
            guard size <= maxFileBytes else {
                throw ImageError.unreadable(path: url.path, reason: "file is \(size) bytes, more than the limit of \(maxFileBytes)")
            }
            data = try Data(contentsOf: url)
        } catch let error as ImageError {
            throw error
        } catch {
            throw ImageError.unreadable(path: url.path, reason: error.localizedDescription)
        }
        do {
            return try decode([UInt8](data))
        } catch ImageError.unknownFormat(let leading) {
            throw ImageError.unknownFormatInFile(path: url.path, leadingBytes: leading)
        } catch {  // every decoder error (truncated data, a decompression bomb, …) names the file
            throw ImageError.undecodable(path: url.path, reason: "\(error)")
        }
    }

    /// The largest image file `decode(contentsOf:)` reads: 1 GiB.
    public static let maxFileBytes = 1 << 30
}

/// Why an image file could not be turned into pixels (before a format decoder got to it).
public enum ImageError: Error, CustomStringConvertible, Equatable {
    /// The bytes are neither PNG nor JPEG.
    case unknownFormat(leadingBytes: [UInt8])
    /// As `unknownFormat`, for a file.
    case unknownFormatInFile(path: String, leadingBytes: [UInt8])
    /// The format was recognised but this build cannot decode it.
    case unsupportedFormat(format: String, reason: String)
    /// The file could not be read.
    case unreadable(path: String, reason: String)
    /// The file's PNG or JPEG data cannot be decoded (the decoder's reason, with its byte offset).
    case undecodable(path: String, reason: String)

    /// One line saying what was wrong, where, and what was expected.
    public var description: String {
        switch self {
        case .unknownFormat(let leading):
            return "unrecognised image format (first bytes \(hexBytes(leading))); expected a PNG or JPEG file"
        case .unknownFormatInFile(let path, let leading):
            return "\(path): unrecognised image format (first bytes \(hexBytes(leading))); expected a PNG or JPEG file"
        case .unsupportedFormat(let format, let reason):
            return "cannot decode \(format) image: \(reason)"
        case .unreadable(let path, let reason):
            return "cannot read image file \(path): \(reason)"
        case .undecodable(let path, let reason):
            return "\(path): \(reason)"
        }
    }
}

private func hexBytes(_ bytes: [UInt8]) -> String {
    bytes.isEmpty ? "none, the file is empty"
        : bytes.map { b in let s = String(b, radix: 16, uppercase: true); return s.count == 1 ? "0" + s : s }
        .joined(separator: " ")
}
