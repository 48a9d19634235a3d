// libFuzzer harness: arbitrary bytes → PNG decoder (and the sniffing front end).
// Run with Tests/Fuzz/run.sh png.
import TRIMImage

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzOne(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
  let bytes = Array(UnsafeBufferPointer(start: data, count: size))
  if let image = try? PNGDecoder.decode(bytes) {
    precondition(image.pixels.count == image.width * image.height * 3)
  }
  return 0
}
