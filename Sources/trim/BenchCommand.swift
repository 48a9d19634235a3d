import Foundation
import TRIM
import TRIMImage
import TRIMJSON
import TRIMResources
import TRIMTensor

let benchCommand = Command(
    name: "bench",
    summary: "per-stage timings of a TRIM run (median of N runs)",
    usage: """
        usage: trim bench --model DIR [--image FILE] [--prompt TEXT] [--projector PATH] [--runs N] [--json]

        Loads the model once (timed as `load`), then runs decode, preprocess, vision, text, scores and
        projector N times (default 5) and prints the median of each stage; `total` is one full reduce
        with the model already loaded. Defaults: the bundled demo image and prompt. Build with
        `swift build -c release -Xswiftc -target-cpu -Xswiftc native` for meaningful numbers.

          --json   {"runs":N,"median_s":{"load":…,"decode":…,"preprocess":…,"vision":…,"text":…,
                   "scores":…,"projector":…,"total":…},"vision_gflops":…}
        """,
    run: { args in
        let a = try Arguments(args, options: ["model", "image", "prompt", "projector", "runs", "select-layer"],
                              flags: ["json", "gemm"])
        try a.noPositional()
        if a.flag("gemm") { return gemmBench(runs: try a.int("runs", in: 1...1000) ?? 5, json: a.flag("json")) }
        let model = try existingPath(try a.required("model"), what: "model directory")
        let imageURL: URL
        if let p = a.value("image") {
            imageURL = try existingPath(p, what: "image")
        } else {
            guard let u = BundledResources.url(for: Demo.image) else { throw CLIError.missingBundledFile(Demo.image) }
            imageURL = u
        }
        let prompt = a.value("prompt") ?? Demo.prompt
        let runs = try a.int("runs", in: 1...1000) ?? 5
        var options = ReductionOptions()
        if let k = try a.int("select-layer", in: -1000...1000) { options.selectLayer = k }
        let projector = try a.value("projector").map { try existingPath($0, what: "projector") }

        func seconds(_ body: () throws -> Void) rethrows -> Double {
            let t0 = DispatchTime.now().uptimeNanoseconds
            try body()
            return Double(DispatchTime.now().uptimeNanoseconds - t0) / 1e9
        }
        var pipeline: TRIMPipeline?
        let load = try seconds { pipeline = try TRIMPipeline(modelDirectory: model, projector: projector, selectLayer: options.selectLayer) }
        let p = pipeline!
        let bytes = try [UInt8](Data(contentsOf: imageURL))
        var samples: [String: [Double]] = [:]
        for _ in 0..<runs {
            // One full reduce from the file's bytes: decode, then the pipeline's own stages.
            var image: RGBImage?
            let decode = try seconds { image = try ImageDecoder.decode(bytes) }
            var result: TRIMResult?
            let rest = try seconds { result = try p.run(image: image!, prompt: prompt, options: options) }
            samples["decode", default: []].append(decode)
            for (stage, s) in result!.timings { samples[stage, default: []].append(s) }
            samples["total", default: []].append(decode + rest)
        }
        func median(_ xs: [Double]) -> Double {
            let s = xs.sorted()
            return s.count % 2 == 1 ? s[s.count / 2] : (s[s.count / 2 - 1] + s[s.count / 2]) / 2
        }
        let order = ["load", "decode", "preprocess", "vision", "text", "scores", "projector", "total"]
        var medians: [(String, Double)] = [("load", load)]
        for stage in order.dropFirst() { if let xs = samples[stage] { medians.append((stage, median(xs))) } }
        let v = p.clip.config.vision
        let k = try TRIMPipeline.hiddenStateIndex(options.selectLayer, layers: v.layers)
        let t = Double(v.tokenCount), d = Double(v.hiddenSize), i = Double(v.intermediateSize)
        let perLayer = 2 * t * (4 * d * d + 2 * d * i) + 4 * t * t * d
        let flops = Double(k) * perLayer + 2 * Double(v.patchCount) * Double(3 * v.patchSize * v.patchSize) * d
        let visionSeconds = medians.first { $0.0 == "vision" }?.1 ?? .nan
        let gflops = flops / visionSeconds / 1e9
        if a.flag("json") {
            printJSON([("runs", .int(runs)), ("median_s", .object(JSONObject(medians.map { ($0.0, .double($0.1)) }))),
                       ("vision_layers", .int(k)), ("vision_gflops", .double(gflops))])
            return
        }
        print("trim bench: \(model.path), \(runs) runs, \(Parallelism.threads) threads")
        for (stage, s) in medians { print("  \(stage.padding(toLength: 11, withPad: " ", startingAt: 0)) \(formatSeconds(s))") }
        print(String(format: "  vision: %d layers, %.1f GFLOP → %.1f GFLOP/s", k, flops / 1e9, gflops))
    })

/// `trim bench --gemm` (undocumented in the usage text; used by Tests/Benchmarks/bench.py): GFLOP/s of
/// `linear` on the ViT-L/14-336 shapes, `[577, k] · W[n, k]ᵀ`, median of `runs` after one warm-up, with
/// `Parallelism.threads` threads (set `TRIM_THREADS` to compare 1 and 2). With one thread the CPU time
/// of the calling thread is also reported: on a shared machine it is immune to time slices lost to
/// other processes, so single-thread GFLOP/s per CPU-second compare kernels more reliably.
func gemmBench(runs: Int, json: Bool) {
    let shapes = [(577, 1024, 1024), (577, 1024, 3072), (577, 1024, 4096), (577, 4096, 1024)]
    var rows: [(String, JSONValue)] = [], cpuRows: [(String, JSONValue)] = []
    for (m, k, n) in shapes {
        var seed: UInt32 = 12345
        func next() -> Float { seed = seed &* 1_664_525 &+ 1_013_904_223; return Float(seed >> 8) / Float(1 << 24) - 0.5 }
        let x = Tensor(shape: [m, k], scalars: (0..<(m * k)).map { _ in next() })
        let w = PackedMatrix(weight: Tensor(shape: [n, k], scalars: (0..<(n * k)).map { _ in next() }))
        var times: [Double] = [], cpuTimes: [Double] = []
        for r in 0...runs {
            let t0 = DispatchTime.now().uptimeNanoseconds, c0 = threadCPUSeconds()
            let y = linear(x, w)
            let dt = Double(DispatchTime.now().uptimeNanoseconds - t0) / 1e9, dc = threadCPUSeconds() - c0
            precondition(y.count == m * n)
            if r > 0 { times.append(dt); cpuTimes.append(dc) }
        }
        times.sort()
        cpuTimes.sort()
        let gflops = 2 * Double(m * n * k) / times[times.count / 2] / 1e9
        let cpuGflops = 2 * Double(m * n * k) / cpuTimes[cpuTimes.count / 2] / 1e9
        let name = "\(m)x\(k)x\(n)"
        rows.append((name, .double(gflops)))
        cpuRows.append((name, .double(cpuGflops)))
        if !json {
            print(String(format: "  %-16@ %7.1f GFLOP/s (%d threads); per CPU-second of the calling thread: %.1f",
                         name as NSString, gflops, Parallelism.threads, cpuGflops))
        }
    }
    if json {
        printJSON([("threads", .int(Parallelism.threads)), ("gemm_gflops", .object(JSONObject(rows))),
                   ("gemm_gflops_per_thread_cpu_s", .object(JSONObject(cpuRows)))])
    }
}

/// CPU seconds consumed by the calling thread so far.
func threadCPUSeconds() -> Double {
    var ts = timespec()
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts)
    return Double(ts.tv_sec) + Double(ts.tv_nsec) / 1e9
}
