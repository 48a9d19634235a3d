import Foundation
import XCTest

@testable import TRIMImage

/// LLaVA-NeXT's any-resolution views against Hugging Face's `LlavaNextImageProcessorPil`
/// (`Tests/Goldens/anyres_goldens.py`): the grid, the fitted size and every view byte for byte, the
/// normalised `pixel_values` within 1e-6.
final class AnyResolutionTests: XCTestCase {
    func testViewsMatchLlavaNextImageProcessorPil() throws {
        let goldens = try ImageGoldens("views.safetensors", folder: "anyres")
        let cases = try JSONSerialization.jsonObject(with: Data(goldens.metadata["cases"]!.utf8)) as! [String]
        XCTAssertGreaterThanOrEqual(cases.count, 8)
        for name in cases {
            let meta = try goldens.json(name)
            let s = meta["view_size"] as! Int
            let pinpoints = (meta["pinpoints"] as! [[Int]]).map { Pinpoint(height: $0[0], width: $0[1]) }
            let url = ImageGoldens.goldens.appendingPathComponent("anyres").appendingPathComponent(meta["image"] as! String)
            let image = try ImageDecoder.decode(contentsOf: url)
            let grid = try AnyResolution.grid(height: image.height, width: image.width, viewSize: s, pinpoints: pinpoints)
            XCTAssertEqual([grid.canvasHeight, grid.canvasWidth], meta["canvas"] as! [Int], name)
            XCTAssertEqual([grid.rows, grid.columns], meta["grid"] as! [Int], name)
            let fit = AnyResolution.fittedSize(height: image.height, width: image.width,
                                               canvasHeight: grid.canvasHeight, canvasWidth: grid.canvasWidth)
            XCTAssertEqual([fit.height, fit.width], meta["fitted"] as! [Int], name)

            let views = AnyResolution.views(of: image, grid: grid)
            let expected = try XCTUnwrap(goldens.entries[name + ".views"])
            XCTAssertEqual(expected.shape, [grid.viewCount, s, s, 3], name)
            for (v, view) in views.enumerated() {
                let bytes = [UInt8](expected.bytes[(v * s * s * 3)..<((v + 1) * s * s * 3)])
                let reference = RGBImage(width: s, height: s, pixels: bytes)
                XCTAssertTrue(view == reference, "\(name) view \(v): \(firstDifference(view, reference))")
            }
            var config = PreprocessorConfig(size: s)
            config.cropHeight = s
            config.cropWidth = s
            let (_, pixels) = try AnyResolution.pixelValues(for: image, config: config, pinpoints: pinpoints)
            XCTAssertEqual(pixels.count, grid.viewCount, name)
            if goldens.entries[name + ".pixel_values"] != nil {
                let reference = try goldens.floats(name + ".pixel_values").values
                let got = pixels.flatMap(\.scalars)
                XCTAssertEqual(got.count, reference.count, name)
                XCTAssertLessThanOrEqual(zip(got, reference).map { abs($0 - $1) }.max() ?? 0, 1e-6, name)
            }
        }
    }

    func testGridChoiceKeepsListOrderOnTiesAndRefusesBadPinpoints() throws {
        // A 90×90 image fits whole in 2S×2S (and in 3S×S, S×3S with less of it): the largest kept area wins.
        let g = try AnyResolution.grid(height: 90, width: 90, viewSize: 56, pinpoints: AnyResolution.defaultPinpoints(viewSize: 56))
        XCTAssertEqual([g.rows, g.columns], [2, 2])
        // Two pinpoints that keep the same area and waste the same canvas: the first listed wins.
        XCTAssertEqual(AnyResolution.bestResolution(height: 10, width: 10, pinpoints: [Pinpoint(height: 20, width: 40), Pinpoint(height: 40, width: 20)]).map { [$0.height, $0.width] },
                       [20, 40])
        XCTAssertThrowsError(try AnyResolution.grid(height: 9, width: 9, viewSize: 56, pinpoints: [Pinpoint(height: 56, width: 100)]))
        XCTAssertThrowsError(try AnyResolution.grid(height: 9, width: 9, viewSize: 56, pinpoints: []))
        XCTAssertThrowsError(try AnyResolution.grid(height: 9, width: 9, viewSize: 56, pinpoints: [Pinpoint(height: 56 * 100_000, width: 56 * 100_000)]))
        // The float rounding of the fitted size: 19·(672/76) = 168.00000000000003 rounds up to 169.
        XCTAssertEqual(AnyResolution.fittedSize(height: 76, width: 19, canvasHeight: 672, canvasWidth: 672).width, 169)
    }
}

/// A file that does not decode is reported with its name, whatever the decoder's reason.
final class ImageFileErrorTests: XCTestCase {
    func testDecoderErrorsNameTheFile() throws {
        let jpeg = try Data(contentsOf: ImageGoldens.goldens.appendingPathComponent("jpeg").appendingPathComponent(
            try XCTUnwrap(FileManager.default.contentsOfDirectory(atPath: ImageGoldens.goldens.appendingPathComponent("jpeg").path)
                .sorted().first { $0.hasSuffix(".jpg") })))
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("truncated-\(getpid()).jpg")
        defer { try? FileManager.default.removeItem(at: url) }
        try jpeg.prefix(jpeg.count / 2).write(to: url)
        XCTAssertThrowsError(try ImageDecoder.decode(contentsOf: url)) { error in
            XCTAssertTrue("\(error)".hasPrefix(url.path + ": "), "\(error)")
        }
    }
}
