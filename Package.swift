// swift-tools-version:6.0
// TRIM in pure Swift: no package dependencies, only the toolchain.
//
// The targets follow the pipeline, each depending only on what comes before it (and declaring every module
// it imports; CI builds with `--explicit-target-dependency-import-check error`):
//   TRIMTensor (kernels) → TRIMJSON, SafeTensors, Inflate → TorchCheckpoint (weight files) → TRIMImage, CLIPTokenizer
//   → CLIP (vision + text transformers) → TRIM (token reduction, projector, pipeline)
//   → TRIMRender (heat maps), TRIMEval (scenes with object masks, precision / recall of what reducers keep),
//     TRIMConformance (two pipeline dumps compared stage by stage: `trim diff`)
//   → trim (command line); kernel-bench (GEMM and FMA micro-benchmarks of TRIMTensor).
//
// For speed, build with the host's vector ISA: `swift build -c release -Xswiftc -target-cpu -Xswiftc native`.
// The manifest itself carries no unsafe flags, so the package stays usable as a versioned dependency.
import PackageDescription

let package = Package(
    name: "TRIM",
    products: [
        .library(
            name: "TRIM",
            targets: [
                "TRIM", "TRIMRender", "TRIMEval", "CLIP", "CLIPTokenizer", "TRIMImage", "Inflate", "TorchCheckpoint",
                "SafeTensors", "TRIMJSON", "TRIMTensor", "TRIMResources",
            ]),
        .executable(name: "trim", targets: ["trim"]),
        .executable(name: "kernel-bench", targets: ["kernel-bench"]),
    ],
    targets: [
        // Kernels: row-major Float32 tensors, SIMD + Dispatch. Knows nothing of CLIP.
        .target(name: "TRIMTensor"),
        // A small, bounded JSON reader/writer for config.json and safetensors headers.
        .target(name: "TRIMJSON"),
        // Locates the bundled files under Weights/ from any working directory.
        .target(name: "TRIMResources"),
        // safetensors reading (mmap; every dtype of the format: F64/F32/F16/BF16 to Float32, integers and BOOL to
        // Int64, F8 listed but not converted; sharded indexes) and writing.
        .target(name: "SafeTensors", dependencies: ["TRIMJSON", "TRIMTensor"]),
        // inflate / zlib / gzip (RFC 1950–1952), shared by the tokenizer vocabulary, PNG and the font.
        .target(name: "Inflate"),
        // PyTorch `.bin` checkpoints (torch.save zip archives, an allow-listed pickle reader), their sharded
        // indexes, and `Checkpoint.open`, which resolves safetensors and `.bin` files and directories alike.
        .target(name: "TorchCheckpoint", dependencies: ["Inflate", "TRIMJSON", "TRIMTensor", "SafeTensors"]),
        // JPEG and PNG decoding, PNG encoding, Pillow-exact resampling, LLaVA/CLIP preprocessing.
        .target(name: "TRIMImage", dependencies: ["Inflate", "TRIMTensor", "TRIMJSON"]),
        // CLIP's byte-level BPE tokenizer, identical to Hugging Face's CLIPTokenizerFast.
        .target(name: "CLIPTokenizer", dependencies: ["Inflate", "TRIMJSON", "TRIMResources"]),
        // CLIP vision and text transformers with Hugging Face weight names.
        .target(name: "CLIP", dependencies: ["TRIMTensor", "SafeTensors", "TorchCheckpoint", "TRIMJSON"]),
        // TRIM and the reducer family: needs, encoded images (layout + views), reducers, their catalog, the
        // projector, the pipeline, batches.
        .target(
            name: "TRIM",
            dependencies: ["CLIP", "CLIPTokenizer", "TRIMImage", "SafeTensors", "TorchCheckpoint", "TRIMTensor", "TRIMJSON"]),
        // Pictures: heat maps, side-by-side panels, the bitmap and Unifont fonts, colour maps, drawing.
        .target(name: "TRIMRender", dependencies: ["TRIMImage", "TRIMTensor", "Inflate", "TRIMResources"]),
        // The demo world (scenes with object masks) and the metrics of `trim eval`.
        .target(name: "TRIMEval", dependencies: ["TRIM", "TRIMImage", "TRIMJSON"]),
        // `trim diff`: two dumps compared stage by stage under the conformance rules, selections explained.
        .target(name: "TRIMConformance", dependencies: ["SafeTensors", "TRIMJSON", "TRIMTensor"]),
        // The `trim` command line: wiring only.
        .executableTarget(
            name: "trim",
            dependencies: [
                "TRIM", "TRIMRender", "TRIMEval", "CLIP", "CLIPTokenizer", "TRIMImage", "TRIMJSON", "TRIMResources",
                "SafeTensors", "TorchCheckpoint", "TRIMTensor", "TRIMConformance",
            ]),
        // GEMM GFLOP/s on the ViT-L/14-336 shapes and the FMA ceiling (Docs/PERFORMANCE.md).
        .executableTarget(name: "kernel-bench", dependencies: ["TRIMTensor", "TRIMJSON"]),

        .testTarget(name: "TRIMTensorTests", dependencies: ["TRIMTensor"]),
        .testTarget(name: "TRIMJSONTests", dependencies: ["TRIMJSON"]),
        .testTarget(name: "SafeTensorsTests", dependencies: ["SafeTensors", "TRIMJSON", "TRIMTensor"]),
        .testTarget(name: "InflateTests", dependencies: ["Inflate"]),
        .testTarget(name: "TorchCheckpointTests", dependencies: ["TorchCheckpoint", "SafeTensors", "TRIMJSON", "TRIMTensor"]),
        .testTarget(name: "TRIMImageTests", dependencies: ["TRIMImage", "Inflate"]),
        .testTarget(name: "CLIPTokenizerTests", dependencies: ["CLIPTokenizer", "TRIMJSON"]),
        .testTarget(name: "CLIPTests", dependencies: ["CLIP", "SafeTensors", "TRIMJSON", "TRIMTensor"]),
        .testTarget(
            name: "TRIMTests",
            dependencies: ["TRIM", "CLIP", "CLIPTokenizer", "TRIMImage", "TRIMJSON", "SafeTensors", "TRIMTensor"]),
        .testTarget(name: "TRIMRenderTests", dependencies: ["TRIMRender", "TRIMImage", "Inflate", "TRIMResources"]),
        .testTarget(name: "TRIMEvalTests", dependencies: ["TRIMEval", "TRIM", "TRIMImage"]),
        .testTarget(name: "TRIMConformanceTests", dependencies: ["TRIMConformance", "SafeTensors", "TRIMJSON", "TRIMTensor"]),
    ]
)
