import Foundation
import TRIM
import TRIMJSON

/// A file or directory argument that must exist: a clear error instead of a failure deep in a loader.
func existingPath(_ path: String, what: String) throws -> URL {
    var isDir: ObjCBool = false
    guard FileManager.default.fileExists(atPath: path, isDirectory: &isDir) else {
        throw CLIError.noSuchFile(path: path, what: what)
    }
    return URL(fileURLWithPath: path, isDirectory: isDir.boolValue)
}

/// Errors the command line itself detects (everything else comes typed from the library).
enum CLIError: Error, CustomStringConvertible {
    case noSuchFile(path: String, what: String)
    case cannotWrite(path: String, reason: String)
    case missingBundledFile(String)
    case unusable(path: String, reason: String)

    var description: String {
        switch self {
        case .noSuchFile(let path, let what): return "\(what) '\(path)' does not exist"
        case .cannotWrite(let path, let reason): return "cannot write '\(path)': \(reason)"
        case .unusable(let path, let reason): return "\(path): \(reason)"
        case .missingBundledFile(let name):
            return "bundled file '\(name)' not found; set TRIM_WEIGHTS to the repository's Weights/ directory"
        }
    }
}

/// Writes bytes to `path`, turning I/O failures into a one-line error.
func write(_ bytes: [UInt8], to path: String) throws {
    do { try Data(bytes).write(to: URL(fileURLWithPath: path)) } catch {
        throw CLIError.cannotWrite(path: path, reason: error.localizedDescription)
    }
}

/// `12.3 ms` / `1.23 s`.
func formatSeconds(_ s: Double) -> String {
    s < 1 ? String(format: "%.1f ms", s * 1000) : String(format: "%.2f s", s)
}

/// A `JSONValue` array of integers.
func jsonInts(_ xs: [Int]) -> JSONValue { .array(xs.map { .int($0) }) }

/// A `JSONValue` array of floats (printed in shortest round-trip form).
func jsonFloats(_ xs: [Float]) -> JSONValue { .array(xs.map { .double(Double($0)) }) }

/// Prints a JSON object built in insertion order.
func printJSON(_ pairs: [(String, JSONValue)]) {
    print(JSON.serialize(.object(JSONObject(pairs))))
}
