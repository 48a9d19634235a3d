import Foundation
import TRIMImage
import TRIMTensor
import XCTest

@testable import TRIM

/// The pipeline's design: every output row says where it came from, the catalog builds each method by name
/// from declared options, the vision pass computes exactly the declared needs, and a new need reaches a
/// reducer without any change to the pipeline.
final class PipelineDesignTests: XCTestCase {
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent()
    static let odd = root.appendingPathComponent("Weights/clip-odd")
    static let projector = root.appendingPathComponent("Tests/Goldens/trim/projector-odd.safetensors")
    static let image = root.appendingPathComponent("Tests/Goldens/trim/images/tiny.png")

    func testEveryRowOfEveryMethodSaysWhereItCameFrom() throws {
        let oneView = ReducerCatalog.entries.filter { !$0.anyResolutionOnly }.map(\.name)
        let needs = try ReducerCatalog.needs(of: oneView)
        let pipeline = try TRIMPipeline(modelDirectory: Self.odd, projector: Self.projector, needs: needs)
        let encoded = try pipeline.encode(image: try ImageDecoder.decode(contentsOf: Self.image), needs: needs)
        let n = encoded.patchCount
        // The methods built for any-resolution input refuse one view.
        for name in ReducerCatalog.entries.filter(\.anyResolutionOnly).map(\.name) {
            XCTAssertThrowsError(try pipeline.reduce(encoded, prompt: "Where is the red ball?", reducer: try ReducerCatalog.make(name)), name)
        }
        XCTAssertEqual(Set(ReducerCatalog.names).subtracting(oneView), ["hired", "globalcom2"])
        for name in oneView {
            let reducer = try ReducerCatalog.make(name, OptionValues(), budget: 12)
            let r = try pipeline.reduce(encoded, prompt: "Where is the red ball?", reducer: reducer).reduction
            XCTAssertEqual(r.rows.count, r.reduced.rows, name)
            let patches = r.rows.compactMap(\.patch)
            XCTAssertEqual(patches.map(\.index), r.keptIndices, name)
            XCTAssertTrue(patches.allSatisfy { $0.view == 0 && $0.index >= 0 && $0.index < n }, name)
            // Each patch row is that patch's feature row, except where the method merges into it.
            if !["prumerge", "prumerge+"].contains(name) {
                for (row, source) in r.rows.enumerated() {
                    guard let p = source.patch else { continue }
                    XCTAssertEqual(r.reduced.row(row).scalars, encoded.views[0].features.row(p.index).scalars, "\(name) row \(row)")
                }
            }
            switch name {
            case "trim", "random": XCTAssertEqual(r.rows.last, .mean(view: 0), name)
            case "prumerge", "prumerge+": XCTAssertEqual(r.rows.last, .merged(view: 0), name)
            case "visionzip":
                XCTAssertEqual(r.rows.first, .classToken(view: 0))
                XCTAssertEqual(r.reduced.row(0).scalars, encoded.views[0].classToken)
                XCTAssertEqual(r.rows.filter { $0 == .contextual(view: 0) }.count, 12 - VisionZip(keep: 12).dominant)
            default: XCTAssertTrue(r.otherRows.isEmpty, name)
            }
        }
        XCTAssertEqual(RowSource.newline.tokenMapEntry.view, -1)
        XCTAssertEqual(RowSource.mean(view: 2).tokenMapEntry.patch, -1)
        XCTAssertEqual(RowSource.patch(view: 1, index: 7).tokenMapEntry.patch, 7)
    }

    func testTheCatalogBuildsEachMethodByNameFromDeclaredOptions() throws {
        let zip = try XCTUnwrap(try ReducerCatalog.make("visionzip", OptionValues(["keep": "64"])) as? VisionZip)
        XCTAssertEqual([zip.dominant, zip.contextual], [54, 10])
        let cd = try XCTUnwrap(try ReducerCatalog.make("cdpruner", OptionValues(["keep": "5", "scoring": "paper"])) as? CDPruner)
        XCTAssertEqual(cd.scoring, .paper)
        XCTAssertEqual((try ReducerCatalog.make("cdpruner", OptionValues(["keep": "5"])) as? CDPruner)?.scoring, .authors)
        let trim = try XCTUnwrap(try ReducerCatalog.make("trim", OptionValues(["keep-ratio": "0.25"], flags: ["no-mean-token"])) as? TRIMReducer)
        XCTAssertEqual(trim.options.selection, .keepRatio(0.25))
        XCTAssertFalse(trim.options.meanToken)
        func refusal(_ name: String, _ values: OptionValues) -> String {
            do { _ = try ReducerCatalog.make(name, values) } catch { return "\(error)" }
            return "accepted"
        }
        XCTAssertEqual(refusal("fastervlm", OptionValues(["keep": "3", "scoring": "paper"])), "--scoring does not apply to --method fastervlm")
        XCTAssertEqual(refusal("fastervlm", OptionValues()), "--method fastervlm needs --keep N (rows handed to the LLM)")
        XCTAssertEqual(refusal("trim", OptionValues(["keep-ratio": "2"])), "--keep-ratio must be a number in 0.0…1.0, got '2'")
        XCTAssertEqual(refusal("cdpruner", OptionValues(["keep": "3", "scoring": "cos"])), "--scoring must be 'paper' or 'authors', got 'cos'")
        XCTAssertTrue(refusal("bogus", OptionValues()).hasPrefix("--method must be trim, prumerge"))
        // Every option a method takes is declared once, and each method's needs come from its type.
        let declared = Set(ReducerCatalog.allOptions.map(\.name))
        XCTAssertEqual(declared.count, ReducerCatalog.allOptions.count)
        for e in ReducerCatalog.entries { XCTAssertTrue(Set(e.options.map(\.name)).isSubset(of: declared), e.name) }
        XCTAssertEqual(try ReducerCatalog.needs(of: ["fastervlm", "prumerge"]), [.classAttention, .nextLayerQueriesKeys])
    }

    func testTheVisionPassComputesExactlyTheDeclaredNeeds() throws {
        let image = try ImageDecoder.decode(contentsOf: Self.image)
        let bare = try TRIMPipeline(modelDirectory: Self.odd)
        let plain = try bare.encode(image: image, needs: [])
        XCTAssertTrue(plain.views[0].values.isEmpty)
        XCTAssertEqual(plain.timings.map(\.stage), ["preprocess", "vision"])
        // No projector: projected rows cannot exist, and no stage is reported for them.
        let noProjector = try bare.encode(image: image, needs: [.projectedRows, .classAttention, .imageTokens])
        XCTAssertEqual(Set(noProjector.views[0].values.keys), [.classAttention, .imageTokens])
        XCTAssertEqual(noProjector.timings.map(\.stage), ["preprocess", "vision", "attention capture"])
        XCTAssertNotNil(noProjector.chargedSeconds[.imageTokens])  // counted in the scores stage of each user
        let withProjector = try TRIMPipeline(modelDirectory: Self.odd, projector: Self.projector)
            .encode(image: image, needs: [.projectedRows])
        XCTAssertEqual(withProjector.timings.map(\.stage), ["preprocess", "vision", "projector (all rows)"])
        XCTAssertEqual(withProjector.views[0][.projectedRows]?.rows, withProjector.views[0].features.rows)
        // The layout is carried and decides the pixels.
        let unpadded = try bare.encode(image: image, layout: .singleView(padToSquare: false), needs: [])
        XCTAssertEqual(unpadded.layout, .singleView(padToSquare: false))
        XCTAssertEqual(unpadded.views[0].pixelValues,
                       try pixelValues(for: image, config: bare.preprocessor, padToSquare: false))
    }

    /// A need declared outside the pipeline (here, in the test) is computed and handed over like the built-in ones.
    func testANewNeedReachesItsReducerWithoutChangingThePipeline() throws {
        let norms = Need("patch_norms", "the features' row norms", .afterPass(stage: "patch norms") { pass in
            let f = pass.features
            return Tensor(shape: [f.rows], scalars: (0..<f.rows).map { i in
                f.row(i).scalars.reduce(0) { $0 + $1 * $1 }.squareRoot()
            })
        })
        struct LargestNorms: TokenReducer {
            let norms: Need
            var name: String { "largest-norms" }
            var settings: String { "the 3 patches of largest norm" }
            var needs: ReducerNeeds { [norms] }
            func reduce(_ input: ReducerInput) throws -> Reduction {
                let s = try input.required(norms, by: name).scalars
                let kept = topK(s, 3).sorted()
                return Reduction(reduced: input.features.gatherRows(kept), rows: input.patchRows(kept), signal: ("patch_norms", s))
            }
        }
        let reducer = LargestNorms(norms: norms)
        let pipeline = try TRIMPipeline(modelDirectory: Self.odd, needs: reducer.needs)
        let encoded = try pipeline.encode(image: try ImageDecoder.decode(contentsOf: Self.image), needs: reducer.needs)
        XCTAssertEqual(encoded.timings.map(\.stage), ["preprocess", "vision", "patch norms"])
        let r = try pipeline.reduce(encoded, prompt: nil, reducer: reducer)
        XCTAssertEqual(r.kept, 3)
        XCTAssertEqual(r.timings.map(\.stage).suffix(1), ["reduce"])
        XCTAssertThrowsError(try reducer.reduce(ReducerInput(features: encoded.views[0].features, classToken: []))) { e in
            XCTAssertTrue("\(e)".contains("row norms"), "\(e)")
        }
    }
}
