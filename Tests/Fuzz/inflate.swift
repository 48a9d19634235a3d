// libFuzzer harness: arbitrary bytes → raw inflate, zlib and gzip decompression with a 4 MiB output cap.
// Run with Tests/Fuzz/run.sh inflate.
import Inflate

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzOne(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
  let bytes = Array(UnsafeBufferPointer(start: data, count: size))
  let cap = 1 << 22
  _ = try? Inflate.inflate(bytes, maxOutputBytes: cap)
  _ = try? Inflate.zlibDecompress(bytes, maxOutputBytes: cap)
  _ = try? Inflate.gzipDecompress(bytes, maxOutputBytes: cap)
  return 0
}
