import Foundation
import SafeTensors
import TRIM
import TRIMImage
import TRIMEval
import TRIMJSON
import TRIMResources
import TRIMTensor

let benchCommand = Command(
    name: "bench",
    summary: "per-stage timings of a TRIM run (median of N runs), or of each reducer beyond the shared pass",
    synopsis: "--model DIR [--image FILE] [--prompt TEXT] [--projector PATH] [--runs N] [--method M|all [--keep N]] [--json]",
    description: """
        Loads the model once (timed as `load`), then runs decode, preprocess, vision, text, scores and
        projector N times and prints the median of each stage; `total` is one full reduce with the model
        already loaded. Defaults: the bundled demo image and prompt. Build with
        `swift build -c release -Xswiftc -target-cpu -Xswiftc native` for meaningful numbers.
        --json prints {"runs":N,"median_s":{"load":…,"decode":…,"preprocess":…,"vision":…,"text":…,
        "scores":…,"projector":…,"total":…},"vision_layers":…,"vision_gflops":…}.

        --method M|all instead times the reducers beyond the shared vision pass. Each run encodes the image
        twice in alternating order — once plain, once capturing everything the methods need (the class
        token's attention row and head-mean keys, the next layer's q/k, the projector on every row) — then
        runs each method on that encoding; prints the median of each method's own time (text, scoring,
        selection, projector on its rows) and its ratio to the plain vision pass.
        The kernels alone (GEMM GFLOP/s, the FMA ceiling): the package's `kernel-bench` executable.
        """,
    options: [
        Common.model, OptionSpec("image", .text, placeholder: "FILE", default: "the bundled demo-image.jpg", help: "JPEG or PNG"),
        OptionSpec("prompt", .text, placeholder: "TEXT", default: "\"\(Demo.prompt)\"", help: "the question"),
        Common.projector, Common.runs, Common.selectLayer, Common.weights, Common.method,
        OptionSpec("keep", .int(1...1_000_000), placeholder: "N", default: "64", help: "with --method: the fixed-budget methods' rows"),
        Common.anyres, Common.noAnyres, Common.pinpoints, Common.newlines, Common.views,
        OptionSpec("json", .flag, help: "print one JSON object"),
    ],
    run: { a in
        try a.noPositional()
        let model = try existingPath(try a.required("model"), what: "model directory")
        let imageURL: URL
        if let p = a.value("image") {
            imageURL = try existingPath(p, what: "image")
        } else {
            guard let u = BundledResources.url(for: Demo.benchImage) else { throw CLIError.missingBundledFile(Demo.benchImage) }
            imageURL = u
        }
        let prompt = a.value("prompt") ?? Demo.prompt
        let runs = a.int("runs") ?? 5
        var options = ReductionOptions()
        if let k = a.int("select-layer") { options.selectLayer = k }
        let projector = try a.value("projector").map { try existingPath($0, what: "projector") }
        let precision = Common.weightPrecision(a)

        func seconds(_ body: () throws -> Void) rethrows -> Double {
            let t0 = DispatchTime.now().uptimeNanoseconds
            try body()
            return Double(DispatchTime.now().uptimeNanoseconds - t0) / 1e9
        }
        if let method = a.value("method") {
            let anyres = a.flag("anyres") || (projector.map(LlavaNext.isNext) ?? false) && !a.flag("no-anyres")
            let all = try Common.methodName(a) == "all"
            let names = all ? (anyres ? ReducerCatalog.comparedAnyResolution : ReducerCatalog.compared) : [method]
            let keep = a.int("keep") ?? 64
            let reducers = try usage { try names.map { try ReducerCatalog.make($0, a.given, budget: keep) } }
            if !anyres, let r = reducers.first(where: { (try? ReducerCatalog.entry($0.name))?.anyResolutionOnly == true }) {
                throw UsageError("--method \(r.name) is built for any-resolution input: give --anyres")
            }
            try methodBench(model: model, projector: projector, imageURL: imageURL, prompt: prompt, runs: runs,
                            options: options, precision: precision, reducers: reducers, keep: keep, json: a.flag("json"),
                            layout: { try Common.layout(a, pipeline: $0) }, mode: Common.viewsMode(a), newlines: Common.newlinePolicy(a))
            return
        }
        var pipeline: TRIMPipeline?
        let load = try seconds { pipeline = try TRIMPipeline(modelDirectory: model, projector: projector, selectLayer: options.selectLayer,
                                                             weightPrecision: precision) }
        let p = pipeline!
        let layout = try Common.layout(a, pipeline: p)
        let bytes = try [UInt8](Data(contentsOf: imageURL))
        var views = 1
        var samples: [String: [Double]] = [:]
        for _ in 0..<runs {
            // One full reduce from the file's bytes: decode, then the pipeline's own stages.
            var image: RGBImage?
            let decode = try seconds { image = try ImageDecoder.decode(bytes) }
            var result: ReductionResult?
            p.clearPromptCaches()  // every run pays for the text tower, as a first question about it would
            let rest = try seconds { result = try p.run(image: image!, prompt: prompt, options: options, layout: layout) }
            views = result!.encoded.views.count
            samples["decode", default: []].append(decode)
            for (stage, s) in result!.timings { samples[stage, default: []].append(s) }
            samples["total", default: []].append(decode + rest)
        }
        let order = ["load", "decode", "preprocess", "vision", "text", "scores", "projector", "total"]
        var medians: [(String, Double)] = [("load", load)]
        for stage in order.dropFirst() { if let xs = samples[stage], let m = median(xs) { medians.append((stage, m)) } }
        let v = p.visionTower.config
        let k = try TRIMPipeline.hiddenStateIndex(options.selectLayer, layers: v.layers)
        let t = Double(v.tokenCount), d = Double(v.hiddenSize), i = Double(v.intermediateSize)
        let perLayer = 2 * t * (4 * d * d + 2 * d * i) + 4 * t * t * d
        let flops = Double(views) * (Double(k) * perLayer + 2 * Double(v.patchCount) * Double(3 * v.patchSize * v.patchSize) * d)
        let visionSeconds = medians.first { $0.0 == "vision" }?.1 ?? .nan
        let gflops = flops / visionSeconds / 1e9
        if a.flag("json") {
            printJSON([("runs", .int(runs)), ("median_s", .object(JSONObject(medians.map { ($0.0, .double($0.1)) }))),
                       ("vision_layers", .int(k)), ("views", .int(views)), ("vision_gflops", .double(gflops)),
                       ("peak_rss_bytes", .int(peakResidentBytes())), ("gemm_kernel", .string(gemmKernelName))])
            return
        }
        print("trim bench: \(model.path), \(runs) runs, \(Parallelism.threads) threads, GEMM kernel \(gemmKernelName)")
        for (stage, s) in medians { print("  \(stage.padding(toLength: 11, withPad: " ", startingAt: 0)) \(formatSeconds(s))") }
        print(String(format: "  vision: %d view(s) × %d layers, %.1f GFLOP → %.1f GFLOP/s; peak memory %.0f MB", views, k,
                     flops / 1e9, gflops, Double(peakResidentBytes()) / 1e6))
    })

/// The GEMM micro-kernel family this process uses (`GEMM.kernel` on x86-64; the 4 × 32 kernel elsewhere).
var gemmKernelName: String {
    #if arch(x86_64)
    return GEMM.kernel.rawValue
    #else
    return "4x32"
    #endif
}

/// `trim bench --method`: what each reducer costs beyond the vision pass every method shares, and what
/// capturing their inputs costs the pass. Rounds interleave (plain and capturing encodes alternate in
/// order; methods follow in turn), since the host's speed drifts. At any resolution (`layout`) each method runs
/// on the views its release cuts (`mode`): one plain and one capturing pass per view rule, each method's time
/// set against its own rule's plain pass.
func methodBench(model: URL, projector: URL?, imageURL: URL, prompt: String, runs: Int, options: ReductionOptions,
                 precision: WeightPrecision, reducers: [any TokenReducer], keep: Int, json: Bool,
                 layout layoutFor: (TRIMPipeline) throws -> ImageLayout = { _ in .llava15 }, mode: ViewsMode = .released,
                 newlines: NewlinePolicy = .all) throws {
    let needs = reducers.reduce(ReducerNeeds()) { $0.union($1.needs) }
    let pipeline = try TRIMPipeline(modelDirectory: model, projector: projector, selectLayer: options.selectLayer,
                                    weightPrecision: precision, needs: needs)
    let image = try ImageDecoder.decode(contentsOf: imageURL)
    let layout = try layoutFor(pipeline)
    // The view rules in first-use order, each prepared once.
    var rules: [ViewGeometry?] = []
    for r in reducers where !rules.contains(layout.isAnyResolution ? r.viewGeometry(mode) : nil) {
        rules.append(layout.isAnyResolution ? r.viewGeometry(mode) : nil)
    }
    let prepared = try rules.map { try pipeline.preprocess(image, layout: $0.map { layout.with(geometry: $0) } ?? layout) }
    let label = { (rule: ViewGeometry?) in rules.count > 1 ? " [\(rule?.rawValue ?? "")]" : "" }
    var samples: [String: [Double]] = [:]
    func stage(_ timings: [(stage: String, seconds: Double)], _ name: String) -> Double {
        timings.filter { $0.stage == name }.reduce(0) { $0 + $1.seconds }
    }
    let extras = ["attention capture", "next-layer q/k", "next-layer logits", "projector (all rows)"]
    for run in 0...runs {  // run 0 warms up
        for (rule, pixels) in zip(rules, prepared) {
            let group = reducers.filter { !layout.isAnyResolution || $0.viewGeometry(mode) == rule }
            let groupNeeds = group.reduce(ReducerNeeds()) { $0.union($1.needs) }
            var plain: EncodedImage?, full: EncodedImage?
            for capture in run % 2 == 0 ? [false, true] : [true, false] {
                let e = try pipeline.encode(pixels, selectLayer: options.selectLayer, needs: capture ? groupNeeds : ReducerNeeds())
                if capture { full = e } else { plain = e }
            }
            guard run > 0 else { continue }
            samples["vision" + label(rule), default: []].append(stage(plain!.timings, "vision"))
            samples["vision (capturing)" + label(rule), default: []].append(stage(full!.timings, "vision"))
            for extra in extras where full!.timings.contains(where: { $0.stage == extra }) {
                samples[extra + label(rule), default: []].append(stage(full!.timings, extra))
            }
            for reducer in group {
                pipeline.clearPromptCaches()  // the text tower is timed, not a cache hit
                let r = try pipeline.reduce(full!, prompt: prompt, reducer: reducer, newlines: newlines, views: mode)
                // The method's own work: its text, scoring / selection, and the projector on its rows,
                var own = r.promptTimings.reduce(0) { $0 + $1.seconds }
                // and what the pass computed for it alone (LLaVA projects every row anyway: not the projector's).
                for name in Set(reducer.needs.subtracting([.projectedRows]).compactMap(\.stage)) { own += stage(full!.timings, name) }
                samples[reducer.name, default: []].append(own)
                samples[reducer.name + " vision", default: []].append(stage(plain!.timings, "vision"))
            }
        }
    }
    func median(_ xs: [Double]) -> Double { TRIMEval.median(xs) ?? .nan }
    let shared = rules.flatMap { rule in (["vision", "vision (capturing)"] + extras).map { $0 + label(rule) } }.filter { samples[$0] != nil }
    let ratio = { (name: String) in median(samples[name]!) / median(samples[name + " vision"]!) }
    if json {
        printJSON([("runs", .int(runs)), ("keep", .int(keep)), ("views", .int(prepared[0].pixelValues.count)),
                   ("shared_median_s", .object(JSONObject(shared.map { ($0, .double(median(samples[$0]!))) }))),
                   ("method_median_s", .object(JSONObject(reducers.map { ($0.name, .double(median(samples[$0.name]!))) }))),
                   ("method_over_vision", .object(JSONObject(reducers.map { ($0.name, .double(ratio($0.name))) })))])
        return
    }
    print("trim bench --method: \(model.path), \(runs) runs, budget \(keep) rows, \(Parallelism.threads) threads"
          + (layout.isAnyResolution ? ", any resolution (--views \(mode.rawValue)): \(prepared.map { "\($0.pixelValues.count)" }.joined(separator: "/")) views" : ""))
    for name in shared { print("  \(name.padding(toLength: 36, withPad: " ", startingAt: 0)) \(formatSeconds(median(samples[name]!)))") }
    print("  method's own time (beyond the shared pass; projector on its rows included)   ÷ its vision pass")
    for reducer in reducers {
        let m = median(samples[reducer.name]!)
        print("  \(reducer.name.padding(toLength: 36, withPad: " ", startingAt: 0)) \(formatSeconds(m).padding(toLength: 12, withPad: " ", startingAt: 0)) "
              + String(format: "%6.2f %%", 100 * ratio(reducer.name)))
    }
}

/// The process's peak resident memory so far (`getrusage`'s `ru_maxrss`, in KiB on Linux).
func peakResidentBytes() -> Int {
    var usage = rusage()
    getrusage(RUSAGE_SELF.rawValue, &usage)
    return usage.ru_maxrss * 1024
}
