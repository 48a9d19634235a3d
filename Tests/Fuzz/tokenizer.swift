// libFuzzer harness: arbitrary bytes → String(decoding:as: UTF8.self) (what a shell argument becomes after
// repair) → the bundled CLIP tokenizer's encode (with and without truncation) and decode.
// Run with Tests/Fuzz/run.sh tokenizer.
import CLIPTokenizer

let tokenizer: CLIPTokenizer = {
  do { return try CLIPTokenizer.bundled() } catch { fatalError("fuzz harness: cannot load the bundled vocabulary: \(error)") }
}()

/// Loads the vocabulary before the first input, so its one-time cost does not count against `-timeout`.
@_cdecl("LLVMFuzzerInitialize")
public func fuzzInitialize(
  _ argc: UnsafeMutablePointer<CInt>, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?>
) -> CInt {
  _ = tokenizer.encode("warm up")
  return 0
}

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzOne(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
  let text = String(decoding: UnsafeBufferPointer(start: data, count: size), as: UTF8.self)
  let ids = tokenizer.encode(text)
  precondition(ids.count <= CLIPTokenizer.contextLength)
  let all = tokenizer.encode(text, truncateTo: nil)
  _ = tokenizer.decode(all)
  _ = tokenizer.decode(ids, skipSpecialTokens: true)
  return 0
}
