import Foundation
import TRIMJSON
import TRIMTensor

// `kernel-bench`: the tensor kernels alone, apart from the `trim` command line — GFLOP/s of `linear` on the
// ViT-L/14-336 shapes and this CPU's FMA ceiling (Docs/PERFORMANCE.md; Tests/Benchmarks/bench.py runs it).
//
//   swift run -c release -Xswiftc -target-cpu -Xswiftc native kernel-bench [--runs N] [--rows M] [--json]
//   (--rows 2885: the five views of a LLaVA-NeXT request in one pass)

let arguments = Array(CommandLine.arguments.dropFirst())
var runs = 5
var json = false
var rows = 577
var i = 0
while i < arguments.count {
    switch arguments[i] {
    case "--json": json = true
    case "--rows" where i + 1 < arguments.count:
        rows = integerArgument("--rows", arguments[i + 1], in: 1...100_000)
        i += 1
    case "--runs" where i + 1 < arguments.count:
        runs = integerArgument("--runs", arguments[i + 1], in: 1...1000)
        i += 1
    case "--help", "-h":
        print("usage: kernel-bench [--runs N] [--rows M] [--json]   GEMM GFLOP/s on the ViT-L/14-336 shapes and the FMA ceiling")
        exit(0)
    default:
        FileHandle.standardError.write(Data("error: unknown argument '\(arguments[i])'\nusage: kernel-bench [--runs N] [--rows M] [--json]\n".utf8))
        exit(2)
    }
    i += 1
}
gemmBench(runs: runs, rowCount: rows, json: json)

/// The value of an integer option, or a one-line usage error (exit 2).
func integerArgument(_ name: String, _ text: String, in range: ClosedRange<Int>) -> Int {
    guard let n = Int(text), range.contains(n) else {
        FileHandle.standardError.write(
            Data("error: \(name) must be an integer in \(range.lowerBound)…\(range.upperBound)\n".utf8))
        exit(2)
    }
    return n
}

/// Prints a JSON object built in insertion order.
func printJSON(_ pairs: [(String, JSONValue)]) {
    print(JSON.serialize(.object(JSONObject(pairs))))
}

/// GFLOP/s of
/// `linear` on the ViT-L/14-336 shapes, `[577, k] · W[n, k]ᵀ`, median of `runs` after one warm-up, with
/// `Parallelism.threads` threads (set `TRIM_THREADS` to compare 1 and 2). With one thread the CPU time
/// of the calling thread is also reported: on a shared machine it is immune to time slices lost to
/// other processes, so single-thread GFLOP/s per CPU-second compare kernels more reliably. The same
/// shapes with F16-stored weights (`WeightStorage.float16`) are timed in alternation with the F32 ones,
/// so that both see the same machine.
func gemmBench(runs: Int, rowCount: Int, json: Bool) {
    let shapes = [(rowCount, 1024, 1024), (rowCount, 1024, 3072), (rowCount, 1024, 4096), (rowCount, 4096, 1024)]
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
        print(String(format: "  FMA peak         %7.1f GFLOP/s (%d threads; best of %d; %d independent %d-lane chains, no memory)",
                     peak, Parallelism.threads, max(3, runs), fmaChainShape().chains, fmaChainShape().lanes))
        #if arch(x86_64)
        print("  micro-kernel     \(GEMM.kernel.rawValue) (TRIM_GEMM_KERNEL=avx512|avx2 forces one; see GEMM.kernel)")
        #endif
    }
}

/// The machine's fp32 FMA throughput as this build reaches it: every thread runs independent fused
/// multiply-add chains (enough to cover the FMA latency on two ports) for ~50 ms, no loads or stores —
/// 16 chains of 16 lanes (16 zmm registers) when the GEMM uses the AVX-512-sized kernel, 12 of 8 lanes (12
/// ymm registers) with the AVX2-sized one, where 16-lane chains are two ymm registers each. The GEMM's
/// GFLOP/s are best read as a fraction of this.
///
/// The AVX2 form once ran 6 chains of 16 lanes beside 10 unused ones that were still summed at the end:
/// the compiler kept those in stack slots inside the loop, and the ceiling read about 0.72 of the true one
/// (PERFORMANCE.md, item 27).
func fmaPeakGFLOPs() -> Double {
    let threads = Parallelism.threads
    let (chains, lanes) = fmaChainShape(), narrow = lanes == 8
    let iterations = narrow ? 8_000_000 : 4_000_000
    let t0 = DispatchTime.now().uptimeNanoseconds
    let sink = UnsafeMutablePointer<Float>.allocate(capacity: threads)
    defer { sink.deallocate() }
    Parallelism.parallelFor(threads) { t in
        if narrow {
            sink[t] = fmaChains8(iterations, start: Float(t))
            return
        }
        let m = SIMD16<Float>(repeating: 0.9999), b = SIMD16<Float>(repeating: 1e-4)
        var a0 = SIMD16<Float>(repeating: Float(t)), a1 = a0, a2 = a0, a3 = a0, a4 = a0, a5 = a0, a6 = a0, a7 = a0
        var a8 = a0, a9 = a0, a10 = a0, a11 = a0, a12 = a0, a13 = a0, a14 = a0, a15 = a0
        for _ in 0..<iterations {
            a0 = a0.addingProduct(m, b); a1 = a1.addingProduct(m, b); a2 = a2.addingProduct(m, b); a3 = a3.addingProduct(m, b)
            a4 = a4.addingProduct(m, b); a5 = a5.addingProduct(m, b); a6 = a6.addingProduct(m, b); a7 = a7.addingProduct(m, b)
            a8 = a8.addingProduct(m, b); a9 = a9.addingProduct(m, b); a10 = a10.addingProduct(m, b); a11 = a11.addingProduct(m, b)
            a12 = a12.addingProduct(m, b); a13 = a13.addingProduct(m, b); a14 = a14.addingProduct(m, b); a15 = a15.addingProduct(m, b)
        }
        sink[t] = (a0 + a1 + a2 + a3 + a4 + a5 + a6 + a7 + a8 + a9 + a10 + a11 + a12 + a13 + a14 + a15).sum()
    }
    let seconds = Double(DispatchTime.now().uptimeNanoseconds - t0) / 1e9
    precondition(sink[0].isFinite)
    return Double(iterations) * Double(chains * lanes) * 2 * Double(threads) / seconds / 1e9
}

/// The chains `fmaPeakGFLOPs` runs for this process's kernel family: 12 of 8 lanes with the AVX2-sized
/// kernel, 16 of 16 otherwise.
func fmaChainShape() -> (chains: Int, lanes: Int) { GEMM.kernel == .avx2 ? (12, 8) : (16, 16) }

/// 12 independent 8-lane multiply-add chains (`fmaPeakGFLOPs`' AVX2 form): 12 ymm accumulators and 2
/// operands, 14 of 16 registers. Returns their sum, so that none is dead.
@inline(never)
func fmaChains8(_ iterations: Int, start: Float) -> Float {
    let m = SIMD8<Float>(repeating: 0.9999), b = SIMD8<Float>(repeating: 1e-4)
    var a0 = SIMD8<Float>(repeating: start), a1 = a0, a2 = a0, a3 = a0, a4 = a0, a5 = a0
    var a6 = a0, a7 = a0, a8 = a0, a9 = a0, a10 = a0, a11 = a0
    for _ in 0..<iterations {
        a0 = a0.addingProduct(m, b); a1 = a1.addingProduct(m, b); a2 = a2.addingProduct(m, b); a3 = a3.addingProduct(m, b)
        a4 = a4.addingProduct(m, b); a5 = a5.addingProduct(m, b); a6 = a6.addingProduct(m, b); a7 = a7.addingProduct(m, b)
        a8 = a8.addingProduct(m, b); a9 = a9.addingProduct(m, b); a10 = a10.addingProduct(m, b); a11 = a11.addingProduct(m, b)
    }
    return (a0 + a1 + a2 + a3 + a4 + a5 + a6 + a7 + a8 + a9 + a10 + a11).sum()
}

/// CPU seconds consumed by the calling thread so far.
func threadCPUSeconds() -> Double {
    var ts = timespec()
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts)
    return Double(ts.tv_sec) + Double(ts.tv_nsec) / 1e9
}
