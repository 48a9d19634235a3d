import Foundation
import SafeTensors
import TRIMJSON
import TorchCheckpoint
import XCTest

/// Hostile and broken archives (Tests/Goldens/torch/malformed/, made by torch_goldens.py): each must fail
/// at open with a typed, one-line error naming the file and the fault — never crash, hang, run anything, or
/// allocate beyond the file's size.
final class TorchMalformedTests: XCTestCase {
    static let dir = TorchGoldenTests.goldens.appendingPathComponent("malformed")

    /// cases.json: file → a phrase its error must contain ("" for the one archive that must load).
    func cases() throws -> [(String, String)] {
        let data = try Data(contentsOf: Self.dir.appendingPathComponent("cases.json"))
        let json = try data.withUnsafeBytes { raw in try JSON.parse(raw) }
        guard case .object(let o) = json else { XCTFail("cases.json is not an object"); return [] }
        return o.map { ($0.key, $0.value.stringValue ?? "?") }.sorted { $0.0 < $1.0 }
    }

    func testEveryMalformedArchiveFailsWithATypedOneLineError() throws {
        let all = try cases()
        XCTAssertGreaterThan(all.count, 40)
        for (file, phrase) in all {
            let url = Self.dir.appendingPathComponent(file)
            if phrase.isEmpty {
                let ok = try TorchCheckpointFile(url: url)
                XCTAssertEqual(try ok.tensor("w").scalars, [1, 2, 3, 4], file)
                continue
            }
            do {
                let source = try TorchCheckpointFile(url: url)
                // Faults that only show when the data is read (a deflated storage) must surface there.
                for name in source.tensorNames { _ = try source.tensor(name) }
                XCTFail("\(file): loaded, expected an error containing \"\(phrase)\"")
            } catch let e as TorchCheckpointError {
                let message = e.description
                XCTAssertTrue(message.hasPrefix(file + ": "), "\(file): \(message)")
                XCTAssertTrue(message.lowercased().contains(phrase.lowercased()), "\(file): expected \"\(phrase)\" in: \(message)")
                XCTAssertFalse(message.contains("\n"), "\(file): \(message)")
            } catch {
                XCTFail("\(file): untyped error \(error)")
            }
        }
    }

    func testForbiddenGlobalsNameModuleAndName() throws {
        for (file, global) in [("global_os_system.bin", ("os", "system")), ("global_builtins_eval.bin", ("builtins", "eval")),
                               ("global_subprocess_popen.bin", ("subprocess", "Popen")),
                               ("global_builtins_getattr.bin", ("builtins", "getattr")),
                               ("global_posix_system.bin", ("posix", "system"))] {
            XCTAssertThrowsError(try TorchCheckpointFile(url: Self.dir.appendingPathComponent(file))) { e in
                guard case .forbiddenGlobal(let f, _, _, let module, let name)? = e as? TorchCheckpointError else {
                    return XCTFail("\(file): \(e)")
                }
                XCTAssertEqual(f, file)
                XCTAssertEqual(module, global.0)
                XCTAssertEqual(name, global.1)
            }
        }
    }

    /// Every truncation and many single-byte corruptions of a real torch.save file fail cleanly or load.
    func testTruncationsAndByteFlipsOfARealArchiveNeverCrash() throws {
        let bytes = [UInt8](try Data(contentsOf: TorchGoldenTests.goldens.appendingPathComponent("views.bin")))
        func exercise(_ b: [UInt8]) {
            guard let f = try? TorchCheckpointFile(bytes: b, name: "x.bin") else { return }
            for name in f.tensorNames { _ = try? f.tensor(name); _ = try? f.int64s(name) }
        }
        for n in stride(from: 0, to: bytes.count, by: 7) { exercise(Array(bytes[..<n])) }
        var rng = SystemRandomNumberGenerator()
        for _ in 0..<2000 {
            var b = bytes
            b[Int.random(in: 0..<b.count, using: &rng)] = UInt8.random(in: 0...255, using: &rng)
            exercise(b)
        }
        // The deflated variant too, where a flip lands in a compressed stream.
        let deflated = [UInt8](try Data(contentsOf: TorchGoldenTests.goldens.appendingPathComponent("views_deflated.bin")))
        for _ in 0..<1000 {
            var b = deflated
            b[Int.random(in: 0..<b.count, using: &rng)] ^= UInt8.random(in: 1...255, using: &rng)
            exercise(b)
        }
    }

    /// Found by the torchzip fuzzer: a ZIP64 locator 26 bytes into a 68-byte file made the reader convert a
    /// negative offset to UInt64 (a trap) instead of refusing the archive.
    func testZIP64LocatorNearTheFileStartIsRefused() throws {
        let bytes = [UInt8](Data(base64Encoded: "UEsDBAAACAhoAAAAUEv//gAFAAAAAAAAAABQSwYHAAAAAFsMAAAAAAAAAQAAAFBLBQYAAAAADAAMAOMCAAB4CQAAAAA=")!)
        XCTAssertThrowsError(try TorchCheckpointFile(bytes: bytes, name: "fuzz.bin")) { e in
            XCTAssertTrue("\(e)".hasPrefix("fuzz.bin: not a valid torch.save zip archive: ZIP64 locator"), "\(e)")
        }
    }

    /// Found by the unpickle fuzzer: a dict stored into itself (SETITEM with the memoized dict as value)
    /// tripped Swift's exclusivity check while the reader updated its nesting depth. Lists appended to
    /// themselves take the same path. Both must now load or fail cleanly, and tear down without recursion.
    func testContainersHoldingThemselvesAreHarmless() throws {
        let crash = [UInt8](Data(base64Encoded: "gAJjY29sbGVjdGlvbnMKT3JkZXJlZERpY3QKcQApUnEBKFgMAAAAZW15MgpxAygoWAAAfX19fX19fX19MjIyMnMyOzIyMjIyMjIyMjIyfTJ0Mg==")!)
        let selfDict: [UInt8] = [0x80, 0x02, 0x7D, 0x71, 0x00, 0x58, 0x01, 0, 0, 0, 0x78, 0x68, 0x00, 0x73, 0x2E]  // d = {}; d['x'] = d
        let selfList: [UInt8] = [0x80, 0x02, 0x7D, 0x5D, 0x71, 0x01, 0x68, 0x01, 0x61, 0x30, 0x2E]  // l = []; l.append(l); {}
        for pickle in [crash, selfDict, selfList] {
            let archive = try Self.archive(dataPkl: pickle)
            do {
                let f = try TorchCheckpointFile(bytes: archive, name: "self.bin")
                XCTAssertEqual(f.tensorNames, [])
            } catch let e as TorchCheckpointError {
                XCTAssertTrue(e.description.hasPrefix("self.bin: archive/data.pkl at byte"), e.description)
            }
        }
    }

    /// A stored zip archive holding `archive/data.pkl` (CRCs 0: only deflated entries are checked).
    static func archive(dataPkl: [UInt8]) throws -> [UInt8] {
        // The hand-made baseline's layout, with data.pkl replaced.
        var out: [UInt8] = [], central: [UInt8] = []
        func le(_ v: Int, _ n: Int, _ into: inout [UInt8]) { for i in 0..<n { into.append(UInt8(truncatingIfNeeded: v >> (8 * i))) } }
        let name = Array("archive/data.pkl".utf8)
        le(0x0403_4b50, 4, &out); le(20, 2, &out); le(0, 2, &out); le(0, 2, &out); le(0, 4, &out); le(0, 4, &out)
        le(dataPkl.count, 4, &out); le(dataPkl.count, 4, &out); le(name.count, 2, &out); le(0, 2, &out)
        out += name + dataPkl
        le(0x0201_4b50, 4, &central); le(20, 2, &central); le(20, 2, &central); le(0, 2, &central); le(0, 2, &central)
        le(0, 4, &central); le(0, 4, &central); le(dataPkl.count, 4, &central); le(dataPkl.count, 4, &central)
        le(name.count, 2, &central); le(0, 2, &central); le(0, 2, &central); le(0, 2, &central); le(0, 2, &central)
        le(0, 4, &central); le(0, 4, &central)
        central += name
        let cdOffset = out.count
        out += central
        le(0x0605_4b50, 4, &out); le(0, 2, &out); le(0, 2, &out); le(1, 2, &out); le(1, 2, &out)
        le(central.count, 4, &out); le(cdOffset, 4, &out); le(0, 2, &out)
        return out
    }

    func testIndexWithPathTraversalIsRefused() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("torch-index-\(UUID())")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let index = dir.appendingPathComponent("pytorch_model.bin.index.json")
        try Data(#"{"weight_map": {"w": "../../etc/passwd"}}"#.utf8).write(to: index)
        XCTAssertThrowsError(try Checkpoint.open(index)) { e in
            XCTAssertTrue("\(e)".contains("plain file name"), "\(e)")
        }
        try Data(#"{"weight_map": {"w": "pytorch_model-00001-of-00001.bin"}}"#.utf8).write(to: index)
        let sharded = try Checkpoint.open(index)
        XCTAssertThrowsError(try sharded.tensor("w")) { e in
            XCTAssertTrue("\(e)".contains("pytorch_model-00001-of-00001.bin"), "\(e)")
        }
    }
}
