// swift-tools-version:6.0
// TRIM in pure Swift: no package dependencies, only the toolchain.
//
// The targets follow the pipeline, each depending only on what comes before it:
//   TRIMTensor (kernels) → TRIMJSON, SafeTensors, Inflate → TorchCheckpoint (weight files) → TRIMImage, CLIPTokenizer
//   → CLIP (vision + text transformers) → TRIM (token reduction, projector, pipeline)
//   → TRIMEval (scenes with object masks, precision / recall of what reducers keep) → trim (command line).
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
                "TRIM", "TRIMEval", "CLIP", "CLIPTokenizer", "TRIMImage", "Inflate", "TorchCheckpoint", "SafeTensors",
                "TRIMJSON", "TRIMTensor",
            ]),
        .executable(name: "trim", targets: ["trim"]),
    ],
    targets: [
        // Kernels: row-major Float32 tensors, SIMD + Dispatch. Knows nothing of CLIP.
        .target(name: "TRIMTensor"),
        // A small, bounded JSON reader/writer for config.json and safetensors headers.
        .target(name: "TRIMJSON"),
        // Locates the bundled files under Weights/ from any working directory.
        .target(name: "TRIMResources"),
        // safetensors reading (mmap, F32/F16/BF16/I64/I32, sharded indexes) and writing.
        .target(name: "SafeTensors", dependencies: ["TRIMJSON", "TRIMTensor"]),
        // inflate / zlib / gzip (RFC 1950–1952), shared by the tokenizer vocabulary and PNG.
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
        // TRIM: scoring, IQR selection, mean token, LLaVA projector, the end-to-end pipeline.
        .target(
            name: "TRIM",
            dependencies: [
                "CLIP", "CLIPTokenizer", "TRIMImage", "Inflate", "SafeTensors", "TorchCheckpoint", "TRIMTensor",
                "TRIMJSON", "TRIMResources",
            ]),
        // The demo world (scenes with object masks) and the metrics of `trim eval`.
        .target(name: "TRIMEval", dependencies: ["TRIM", "TRIMImage", "TRIMJSON"]),
        // The `trim` command line: wiring only.
        .executableTarget(name: "trim", dependencies: ["TRIM", "TRIMEval"]),

        .testTarget(name: "TRIMTensorTests", dependencies: ["TRIMTensor"]),
        .testTarget(name: "TRIMJSONTests", dependencies: ["TRIMJSON"]),
        .testTarget(name: "SafeTensorsTests", dependencies: ["SafeTensors", "TRIMJSON", "TRIMTensor"]),
        .testTarget(name: "InflateTests", dependencies: ["Inflate"]),
        .testTarget(name: "TorchCheckpointTests", dependencies: ["TorchCheckpoint", "SafeTensors", "TRIMJSON", "TRIMTensor"]),
        .testTarget(name: "TRIMImageTests", dependencies: ["TRIMImage", "SafeTensors", "TRIMTensor"]),
        .testTarget(name: "CLIPTokenizerTests", dependencies: ["CLIPTokenizer", "TRIMJSON"]),
        .testTarget(name: "CLIPTests", dependencies: ["CLIP", "SafeTensors", "TRIMTensor"]),
        .testTarget(name: "TRIMTests", dependencies: ["TRIM", "Inflate", "SafeTensors", "TRIMResources", "TRIMTensor"]),
        .testTarget(name: "TRIMEvalTests", dependencies: ["TRIMEval", "TRIM", "TRIMImage"]),
    ]
)
