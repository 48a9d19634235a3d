// libFuzzer harness: arbitrary bytes → JPEG header reader and decoder.
// Headers are free to declare up to `ImageLimits.maxPixels`; decoding those is correct but takes seconds
// under ASan, which would only slow the search. Inputs declaring more than 1 Mi pixels therefore stop
// after the header (the header checks and the size limit are still exercised; the CLI corpus in
// Tests/Goldens/malformed covers large declared sizes end to end). Run with Tests/Fuzz/run.sh jpeg.
import TRIMImage

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzOne(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
  let bytes = Array(UnsafeBufferPointer(start: data, count: size))
  if let header = try? JPEGDecoder.readHeader(bytes), header.width * header.height > 1 << 20 { return 0 }
  if let image = try? JPEGDecoder.decode(bytes) {
    precondition(image.pixels.count == image.width * image.height * 3)
  }
  return 0
}
