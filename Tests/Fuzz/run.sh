#!/bin/sh
# Builds and runs one libFuzzer harness over the package's parser sources.
#
#   Tests/Fuzz/run.sh TARGET [SECONDS] [extra libFuzzer flags…]
#   TARGET: safetensors | json | inflate | png | jpeg | tokenizer | config | torchzip | unpickle
#
# Each dependency module is compiled straight from Sources/<Module>/ with swiftc (whole-module, -O,
# -sanitize=fuzzer,address), then linked with Tests/Fuzz/<TARGET>.swift. Build products go to
# .build/fuzz/; the working corpus (seeds + whatever libFuzzer finds) to .build/fuzz/corpus-<TARGET>/,
# so the committed seeds in Tests/Fuzz/corpus/<TARGET>/ stay small. Crash files land in .build/fuzz/.
# FUZZ_BUILD_ONLY=1 only builds. Runs under `nice -n 10` on one process (-workers=0 -jobs=0).
set -eu
cd "$(dirname "$0")/../.."
target=${1:?usage: Tests/Fuzz/run.sh TARGET [SECONDS] [libFuzzer flags…]}
seconds=${2:-60}
[ $# -ge 2 ] && shift 2 || shift 1
out=.build/fuzz
mkdir -p "$out"

case "$target" in
  safetensors) modules="TRIMTensor TRIMJSON SafeTensors" ;;
  json) modules="TRIMJSON" ;;
  inflate) modules="Inflate" ;;
  png|jpeg) modules="TRIMTensor TRIMJSON Inflate TRIMImage" ;;
  tokenizer) modules="TRIMJSON Inflate TRIMResources CLIPTokenizer" ;;
  config) modules="TRIMTensor TRIMJSON SafeTensors Inflate TRIMImage CLIP" ;;
  torchzip|unpickle) modules="TRIMTensor TRIMJSON SafeTensors Inflate TorchCheckpoint" ;;
  *) echo "unknown target $target" >&2; exit 2 ;;
esac

flags="-O -g -sanitize=fuzzer,address -parse-as-library -I $out"
objects=""
rebuilt=0  # modules are listed in dependency order: once one is recompiled, recompile all after it
for m in $modules; do
  obj="$out/$m.o"
  newest=$(find "Sources/$m" -name '*.swift' -newer "$obj" 2>/dev/null | head -1)
  if [ ! -f "$obj" ] || [ -n "$newest" ] || [ "$rebuilt" = 1 ]; then
    rebuilt=1
    echo "compiling $m" >&2
    # shellcheck disable=SC2046
    nice -n 10 swiftc $flags -wmo -module-name "$m" -emit-module -emit-module-path "$out/$m.swiftmodule" \
      -c $(find "Sources/$m" -name '*.swift' | sort) -o "$obj"
  fi
  objects="$objects $obj"
done
echo "linking fuzz-$target" >&2
# shellcheck disable=SC2086
# (ld.gold warns about every ASan helper symbol; the log is shown only on failure.)
nice -n 10 swiftc $flags "Tests/Fuzz/$target.swift" $objects -o "$out/fuzz-$target" 2>"$out/link-$target.log" ||
  { cat "$out/link-$target.log" >&2; exit 1; }

[ "${FUZZ_BUILD_ONLY:-0}" = 1 ] && exit 0
work="$out/corpus-$target"
mkdir -p "$work"
# SWIFT_BACKTRACE=enable=no: let ASan/libFuzzer report a trap, not the Swift backtracer (whose memory
# reader trips ASan and hides the real stack).
SWIFT_BACKTRACE=enable=no exec nice -n 10 "$out/fuzz-$target" "$work" "Tests/Fuzz/corpus/$target" \
  -max_total_time="$seconds" -rss_limit_mb=2048 -timeout=30 -max_len=65536 \
  -artifact_prefix="$out/crash-$target-" -print_final_stats=1 "$@"
