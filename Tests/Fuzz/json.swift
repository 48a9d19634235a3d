// libFuzzer harness: arbitrary bytes → TRIMJSON's parser (default limits and the safetensors header's),
// then a serialize → parse round trip of whatever parsed. Run with Tests/Fuzz/run.sh json.
import TRIMJSON

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzOne(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
  let bytes = Array(UnsafeBufferPointer(start: data, count: size))
  guard let value = try? JSON.parse(bytes) else { return 0 }
  let text = JSON.serialize(value)
  _ = try? JSON.parse(text)
  _ = JSON.serialize(value, pretty: true)
  return 0
}
