// libFuzzer harness: arbitrary bytes → the two config readers a model directory feeds: CLIP's
// `config.json` (`CLIPConfig(json:)`, bounds and relations) and `preprocessor_config.json`
// (`PreprocessorConfig(json:)`). Run with Tests/Fuzz/run.sh config.
import CLIP
import TRIMImage
import TRIMJSON

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzOne(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
  let bytes = Array(UnsafeBufferPointer(start: data, count: size))
  if let json = try? JSON.parse(bytes), let config = try? CLIPConfig(json: json) {
    // What the model code derives from an accepted config must not trap either.
    _ = (config.vision.tokenCount, config.vision.headDim, config.text.headDim)
  }
  _ = try? PreprocessorConfig(json: bytes)
  return 0
}
