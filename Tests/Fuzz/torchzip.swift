// libFuzzer harness: arbitrary bytes → a whole PyTorch `.bin` file (zip directory, local headers, the
// pickle, every view against its storage), then every tensor read as Float32 or Int64 as its dtype allows
// (gathering strided views, inflating deflated storages), and the summary `trim inspect` prints.
// Run with Tests/Fuzz/run.sh torchzip.
import SafeTensors
import TorchCheckpoint

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzOne(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
  let bytes = Array(UnsafeBufferPointer(start: data, count: size))
  guard let file = try? TorchCheckpointFile(bytes: bytes, name: "fuzz.bin") else { return 0 }
  for name in file.tensorNames {
    guard let info = file.info(name) else { continue }
    if info.dtype.isConvertibleToFloat {
      _ = try? file.tensor(name)
    } else if info.dtype.isConvertibleToInt64 {
      _ = try? file.int64s(name)
    }
  }
  _ = try? file.summary()
  return 0
}
