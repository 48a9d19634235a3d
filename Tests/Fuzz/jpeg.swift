// libFuzzer harness: arbitrary bytes → JPEG header reader and decoder.
// Run with Tests/Fuzz/run.sh jpeg.
import TRIMImage

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzOne(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
  let bytes = Array(UnsafeBufferPointer(start: data, count: size))
  _ = try? JPEGDecoder.readHeader(bytes)
  if let image = try? JPEGDecoder.decode(bytes) {
    precondition(image.pixels.count == image.width * image.height * 3)
  }
  return 0
}
