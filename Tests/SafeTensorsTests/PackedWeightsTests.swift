import Foundation
import SafeTensors
import TRIMTensor
import XCTest

/// `TensorSource.packedMatrix`: weights packed straight from a checkpoint, with typed errors for tensors
/// that are missing or of the wrong size (it is public API, so it must not trap on a caller's mistake).
final class PackedWeightsTests: XCTestCase {
    func testStackedWeightsPackAndWrongRequestsAreTypedErrors() throws {
        var w = SafeTensorsWriter()
        w.add("a", Tensor(shape: [3, 2], scalars: [1, 2, 3, 4, 5, 6]))
        w.add("b", Tensor(shape: [3, 2], scalars: [-1, -2, -3, -4, -5, -6]))
        w.add("ids", int64s: [1, 2, 3, 4, 5, 6], shape: [3, 2])
        let f = try SafeTensorsFile(bytes: try w.serialized(fileName: "w.safetensors"), name: "w.safetensors")
        let stacked = try f.packedMatrix(stacking: ["a", "b"], rows: 3, inputs: 2, precision: .checkpoint)
        XCTAssertEqual(stacked.outputs, 6)
        XCTAssertEqual(stacked.storage, .float32)
        XCTAssertEqual(linear(Tensor(shape: [1, 2], scalars: [1, 10]), stacked).scalars, [21, 43, 65, -21, -43, -65])
        XCTAssertThrowsError(try f.packedMatrix(stacking: ["a"], rows: 2, inputs: 2, precision: .checkpoint)) { e in
            XCTAssertTrue("\(e)".contains("where a [2, 2] weight was expected"), "\(e)")
        }
        XCTAssertThrowsError(try f.packedMatrix(stacking: ["a", "missing"], rows: 3, inputs: 2, precision: .float32)) { e in
            XCTAssertTrue("\(e)".contains("missing"), "\(e)")
        }
        XCTAssertThrowsError(try f.packedMatrix(stacking: ["ids"], rows: 3, inputs: 2, precision: .checkpoint))
    }
}
