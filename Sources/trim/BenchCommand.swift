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
    summary: "per-stage timings of a TRIM run (median of N runs)",
    usage: """
        usage: trim bench --model DIR [--image FILE] [--prompt TEXT] [--projector PATH] [--runs N]
                          [--weights checkpoint|float32] [--json]

        Loads the model once (timed as `load`), then runs decode, preprocess, vision, text, scores and
        projector N times (default 5) and prints the median of each stage; `total` is one full reduce
        with the model already loaded. Defaults: the bundled demo image and prompt. Build with
        `swift build -c release -Xswiftc -target-cpu -Xswiftc native` for meaningful numbers.
        `--weights` as for `reduce` (F16 / BF16 weights kept 16-bit, the default, or made Floats).

          --json   {"runs":N,"median_s":{"load":…,"decode":…,"preprocess":…,"vision":…,"text":…,
                   "scores":…,"projector":…,"total":…},"vision_gflops":…}
          --method M|all  instead: the cost of reducers beyond the shared vision pass. Each run encodes
                   the image twice in alternating order — once plain, once capturing everything the
                   methods need (the class token's attention row and head-mean keys, the next layer's
                   q/k, the projector on every row) — then runs each method on that encoding; prints
                   the median of each method's own time (text, scoring, selection, projector on its
                   rows) and its ratio to the plain vision pass. --keep N sets the budget of the
                   fixed-budget methods (default 64).
        """,
    run: { args in
        let a = try Arguments(args, options: ["model", "image", "prompt", "projector", "runs", "select-layer", "weights",
                                              "method", "keep"],
                              flags: ["json", "gemm"])
        try a.noPositional()
        if a.flag("gemm") { return gemmBench(runs: try a.int("runs", in: 1...1000) ?? 5, json: a.flag("json")) }
        let model = try existingPath(try a.required("model"), what: "model directory")
        let imageURL: URL
        if let p = a.value("image") {
            imageURL = try existingPath(p, what: "image")
        } else {
            guard let u = BundledResources.url(for: Demo.benchImage) else { throw CLIError.missingBundledFile(Demo.benchImage) }
            imageURL = u
        }
        let prompt = a.value("prompt") ?? Demo.prompt
        let runs = try a.int("runs", in: 1...1000) ?? 5
        var options = ReductionOptions()
        if let k = try a.int("select-layer", in: -1000...1000) { options.selectLayer = k }
        let projector = try a.value("projector").map { try existingPath($0, what: "projector") }
        let precision = try weightPrecision(a)

        func seconds(_ body: () throws -> Void) rethrows -> Double {
            let t0 = DispatchTime.now().uptimeNanoseconds
            try body()
            return Double(DispatchTime.now().uptimeNanoseconds - t0) / 1e9
        }
        if let method = a.value("method") {
            let names = method == "all" ? reducerMethods : [method]
            let keep = try a.int("keep", in: 1...1_000_000) ?? 64
            let reducers = try names.map { try makeReducer(a, options: options, method: $0, budget: keep) }
            try methodBench(model: model, projector: projector, imageURL: imageURL, prompt: prompt, runs: runs,
                            options: options, precision: precision, reducers: reducers, keep: keep, json: a.flag("json"))
            return
        }
        var pipeline: TRIMPipeline?
        let load = try seconds { pipeline = try TRIMPipeline(modelDirectory: model, projector: projector, selectLayer: options.selectLayer,
                                                             weightPrecision: precision) }
        let p = pipeline!
        let bytes = try [UInt8](Data(contentsOf: imageURL))
        var samples: [String: [Double]] = [:]
        for _ in 0..<runs {
            // One full reduce from the file's bytes: decode, then the pipeline's own stages.
            var image: RGBImage?
            let decode = try seconds { image = try ImageDecoder.decode(bytes) }
            var result: TRIMResult?
            p.clearPromptCaches()  // every run pays for the text tower, as a first question about it would
            let rest = try seconds { result = try p.run(image: image!, prompt: prompt, options: options) }
            samples["decode", default: []].append(decode)
            for (stage, s) in result!.timings { samples[stage, default: []].append(s) }
            samples["total", default: []].append(decode + rest)
        }
        let order = ["load", "decode", "preprocess", "vision", "text", "scores", "projector", "total"]
        var medians: [(String, Double)] = [("load", load)]
        for stage in order.dropFirst() { if let xs = samples[stage], let m = median(xs) { medians.append((stage, m)) } }
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

/// `trim bench --method`: what each reducer costs beyond the vision pass every method shares, and what
/// capturing their inputs costs the pass. Rounds interleave (plain and capturing encodes alternate in
/// order; methods follow in turn), since the host's speed drifts.
func methodBench(model: URL, projector: URL?, imageURL: URL, prompt: String, runs: Int, options: ReductionOptions,
                 precision: WeightPrecision, reducers: [any TokenReducer], keep: Int, json: Bool) throws {
    let needs = reducers.reduce(ReducerNeeds()) { $0.union($1.needs) }
    let pipeline = try TRIMPipeline(modelDirectory: model, projector: projector, selectLayer: options.selectLayer,
                                    weightPrecision: precision, needs: needs)
    let image = try ImageDecoder.decode(contentsOf: imageURL)
    let pixels = try pipeline.preprocess(image)
    var samples: [String: [Double]] = [:]
    func stage(_ timings: [(stage: String, seconds: Double)], _ name: String) -> Double {
        timings.filter { $0.stage == name }.reduce(0) { $0 + $1.seconds }
    }
    for run in 0...runs {  // run 0 warms up
        var plain: EncodedImage?, full: EncodedImage?
        for capture in run % 2 == 0 ? [false, true] : [true, false] {
            let e = try pipeline.encode(pixelValues: pixels, selectLayer: options.selectLayer, needs: capture ? needs : ReducerNeeds())
            if capture { full = e } else { plain = e }
        }
        guard run > 0 else { continue }
        samples["vision", default: []].append(stage(plain!.timings, "vision"))
        samples["vision (capturing)", default: []].append(stage(full!.timings, "vision"))
        for extra in ["attention capture", "next-layer q/k", "projector (all rows)"] where full!.timings.contains(where: { $0.stage == extra }) {
            samples[extra, default: []].append(stage(full!.timings, extra))
        }
        for reducer in reducers {
            pipeline.clearPromptCaches()  // the text tower is timed, not a cache hit
            let r = try pipeline.reduce(full!, prompt: prompt, reducer: reducer)
            // The method's own work: its text, scoring / selection, and the projector on its rows.
            var own = r.promptTimings.reduce(0) { $0 + $1.seconds }
            if reducer.needs.contains(.classAttention) || reducer.needs.contains(.headMeanKeys) { own += stage(full!.timings, "attention capture") }
            if reducer.needs.contains(.nextLayerQueriesKeys) { own += stage(full!.timings, "next-layer q/k") }
            samples[reducer.name, default: []].append(own)
        }
    }
    func median(_ xs: [Double]) -> Double { TRIMEval.median(xs) ?? .nan }
    let vision = median(samples["vision"]!)
    let shared = ["vision", "vision (capturing)", "attention capture", "next-layer q/k", "projector (all rows)"].filter { samples[$0] != nil }
    if json {
        printJSON([("runs", .int(runs)), ("keep", .int(keep)),
                   ("shared_median_s", .object(JSONObject(shared.map { ($0, .double(median(samples[$0]!))) }))),
                   ("method_median_s", .object(JSONObject(reducers.map { ($0.name, .double(median(samples[$0.name]!))) }))),
                   ("method_over_vision", .object(JSONObject(reducers.map { ($0.name, .double(median(samples[$0.name]!) / vision)) })))])
        return
    }
    print("trim bench --method: \(model.path), \(runs) runs, budget \(keep) rows, \(Parallelism.threads) threads")
    for name in shared { print("  \(name.padding(toLength: 22, withPad: " ", startingAt: 0)) \(formatSeconds(median(samples[name]!)))") }
    print("  method's own time (beyond the shared pass; projector on its rows included)   ÷ vision")
    for reducer in reducers {
        let m = median(samples[reducer.name]!)
        print("  \(reducer.name.padding(toLength: 22, withPad: " ", startingAt: 0)) \(formatSeconds(m).padding(toLength: 12, withPad: " ", startingAt: 0)) "
              + String(format: "%6.2f %%", 100 * m / vision))
    }
}

/// `trim bench --gemm` (undocumented in the usage text; used by Tests/Benchmarks/bench.py): GFLOP/s of
/// `linear` on the ViT-L/14-336 shapes, `[577, k] · W[n, k]ᵀ`, median of `runs` after one warm-up, with
/// `Parallelism.threads` threads (set `TRIM_THREADS` to compare 1 and 2). With one thread the CPU time
/// of the calling thread is also reported: on a shared machine it is immune to time slices lost to
/// other processes, so single-thread GFLOP/s per CPU-second compare kernels more reliably. The same
/// shapes with F16-stored weights (`WeightStorage.float16`) are timed in alternation with the F32 ones,
/// so that both see the same machine.
func gemmBench(runs: Int, json: Bool) {
    let shapes = [(577, 1024, 1024), (577, 1024, 3072), (577, 1024, 4096), (577, 4096, 1024)]
    var rows: [(String, JSONValue)] = [], cpuRows: [(String, JSONValue)] = [], halfRows: [(String, JSONValue)] = []
    for (m, k, n) in shapes {
        var seed: UInt32 = 12345
        func next() -> Float { seed = seed &* 1_664_525 &+ 1_013_904_223; return Float(seed >> 8) / Float(1 << 24) - 0.5 }
        let x = Tensor(shape: [m, k], scalars: (0..<(m * k)).map { _ in next() })
        let w = PackedMatrix(weight: Tensor(shape: [n, k], scalars: (0..<(n * k)).map { _ in next() }))
        // Random F16 values of magnitude below 1 (exponent field ≤ 14).
        let halves = (0..<(n * k)).map { _ in UInt16(truncatingIfNeeded: Int(next() * 65536)) & 0xBBFF }
        let w16 = halves.withUnsafeBufferPointer {
            PackedMatrix(stacking: [($0.baseAddress!, n)], inputs: k, storage: .float16)
        }
        var times: [Double] = [], cpuTimes: [Double] = [], halfTimes: [Double] = []
        for r in 0...runs {
            for half in r % 2 == 0 ? [false, true] : [true, false] {
                let t0 = DispatchTime.now().uptimeNanoseconds, c0 = threadCPUSeconds()
                let y = linear(x, half ? w16 : w)
                let dt = Double(DispatchTime.now().uptimeNanoseconds - t0) / 1e9, dc = threadCPUSeconds() - c0
                precondition(y.count == m * n)
                if r == 0 { continue }
                if half { halfTimes.append(dt) } else { times.append(dt); cpuTimes.append(dc) }
            }
        }
        func gflops(_ ts: [Double]) -> Double { 2 * Double(m * n * k) / ts.sorted()[ts.count / 2] / 1e9 }
        let name = "\(m)x\(k)x\(n)"
        rows.append((name, .double(gflops(times))))
        cpuRows.append((name, .double(gflops(cpuTimes))))
        halfRows.append((name, .double(gflops(halfTimes))))
        if !json {
            print(String(format: "  %-16@ %7.1f GFLOP/s (%d threads); per CPU-second of the calling thread: %.1f; F16 weights: %.1f",
                         name as NSString, gflops(times), Parallelism.threads, gflops(cpuTimes), gflops(halfTimes)))
        }
    }
    // The ceiling all of these are measured against: fused multiply-adds with no memory traffic at all.
    let peak = (0..<max(3, runs)).map { _ in fmaPeakGFLOPs() }.max()!
    if json {
        printJSON([("threads", .int(Parallelism.threads)), ("kernel", .string(GEMM.kernel.rawValue)),
                   ("gemm_gflops", .object(JSONObject(rows))),
                   ("gemm_gflops_per_thread_cpu_s", .object(JSONObject(cpuRows))),
                   ("gemm_gflops_f16_weights", .object(JSONObject(halfRows))),
                   ("fma_peak_gflops", .double(peak))])
    } else {
        print(String(format: "  FMA peak         %7.1f GFLOP/s (%d threads; best of %d; %d independent 16-lane chains, no memory)",
                     peak, Parallelism.threads, max(3, runs), GEMM.kernel == .avx2 ? 6 : 16))
        #if arch(x86_64)
        print("  micro-kernel     \(GEMM.kernel.rawValue) (measured at first use; TRIM_GEMM_KERNEL=avx512|avx2 forces one)")
        #endif
    }
}

/// The machine's fp32 FMA throughput as this build reaches it: every thread runs independent 16-lane
/// fused multiply-add chains (enough to cover the FMA latency on two ports) for ~50 ms, no loads or
/// stores — 16 chains (16 zmm registers) when the GEMM uses the AVX-512-sized kernel, 6 (12 ymm
/// registers) with the AVX2-sized one, where 16 chains would need 32 ymm registers and spill. The GEMM's
/// GFLOP/s are best read as a fraction of this.
func fmaPeakGFLOPs() -> Double {
    let threads = Parallelism.threads
    let narrow = GEMM.kernel == .avx2
    let chains = narrow ? 6 : 16, iterations = narrow ? 8_000_000 : 4_000_000
    let t0 = DispatchTime.now().uptimeNanoseconds
    let sink = UnsafeMutablePointer<Float>.allocate(capacity: threads)
    defer { sink.deallocate() }
    Parallelism.parallelFor(threads) { t in
        let m = SIMD16<Float>(repeating: 0.9999), b = SIMD16<Float>(repeating: 1e-4)
        var a0 = SIMD16<Float>(repeating: Float(t)), a1 = a0, a2 = a0, a3 = a0, a4 = a0, a5 = a0, a6 = a0, a7 = a0
        var a8 = a0, a9 = a0, a10 = a0, a11 = a0, a12 = a0, a13 = a0, a14 = a0, a15 = a0
        if narrow {
            for _ in 0..<iterations {
                a0 = a0.addingProduct(m, b); a1 = a1.addingProduct(m, b); a2 = a2.addingProduct(m, b)
                a3 = a3.addingProduct(m, b); a4 = a4.addingProduct(m, b); a5 = a5.addingProduct(m, b)
            }
        } else {
            for _ in 0..<iterations {
                a0 = a0.addingProduct(m, b); a1 = a1.addingProduct(m, b); a2 = a2.addingProduct(m, b); a3 = a3.addingProduct(m, b)
                a4 = a4.addingProduct(m, b); a5 = a5.addingProduct(m, b); a6 = a6.addingProduct(m, b); a7 = a7.addingProduct(m, b)
                a8 = a8.addingProduct(m, b); a9 = a9.addingProduct(m, b); a10 = a10.addingProduct(m, b); a11 = a11.addingProduct(m, b)
                a12 = a12.addingProduct(m, b); a13 = a13.addingProduct(m, b); a14 = a14.addingProduct(m, b); a15 = a15.addingProduct(m, b)
            }
        }
        sink[t] = (a0 + a1 + a2 + a3 + a4 + a5 + a6 + a7 + a8 + a9 + a10 + a11 + a12 + a13 + a14 + a15).sum()
    }
    let seconds = Double(DispatchTime.now().uptimeNanoseconds - t0) / 1e9
    precondition(sink[0].isFinite)
    return Double(iterations) * Double(chains) * 16 * 2 * Double(threads) / seconds / 1e9
}

/// CPU seconds consumed by the calling thread so far.
func threadCPUSeconds() -> Double {
    var ts = timespec()
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts)
    return Double(ts.tv_sec) + Double(ts.tv_nsec) / 1e9
}
