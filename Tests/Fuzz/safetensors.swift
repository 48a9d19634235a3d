// libFuzzer harness: arbitrary bytes → a whole safetensors file (header validation), then every tensor
// read as Float32 or Int64 as its dtype allows, and the summary `trim inspect` prints.
// Run with Tests/Fuzz/run.sh safetensors.
import SafeTensors

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzOne(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
  let bytes = Array(UnsafeBufferPointer(start: data, count: size))
  guard let file = try? SafeTensorsFile(bytes: bytes, name: "fuzz.safetensors") else { return 0 }
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
