import Foundation
import SafeTensors
import TRIMTensor
import CLIP
import XCTest

/// A CLIP model loaded from PyTorch `.bin` shards (Tests/Goldens/torch/clip-odd, Weights/clip-odd re-saved
/// by torch_goldens.py) computes exactly what the same weights in safetensors compute.
final class TorchCheckpointModelTests: XCTestCase {
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent()

    func testBinShardsGiveTheSameOutputsBitForBit() throws {
        let fromBin = try CLIPModel(directory: Self.root.appendingPathComponent("Tests/Goldens/torch/clip-odd"))
        let fromSafetensors = try CLIPModel(directory: Self.root.appendingPathComponent("Weights/clip-odd"))
        let ref = try SafeTensorsFile(url: Self.root.appendingPathComponent("Tests/Goldens/clip/clip-odd.safetensors"))
        let px = try ref.tensor("pixel_values_0"), ids = try ref.int64s("input_ids_0").map { Int($0) }
        XCTAssertEqual(try fromBin.vision_model.hiddenStates(px, upTo: 2), try fromSafetensors.vision_model.hiddenStates(px, upTo: 2))
        XCTAssertEqual(try fromBin.imageEmbeds(px), try fromSafetensors.imageEmbeds(px))
        XCTAssertEqual(try fromBin.textEmbeds(ids), try fromSafetensors.textEmbeds(ids))
        XCTAssertEqual(fromBin.logit_scale, fromSafetensors.logit_scale)
    }
}
