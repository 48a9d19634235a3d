#!/usr/bin/env python3
"""Malformed-input corpus for the `trim` command line: one small broken file per error class.

Regenerate (deterministic, no randomness; needs only Pillow for the one valid JPEG it patches):

    .venv-ref/bin/python Tests/Goldens/malformed_inputs.py

Writes Tests/Goldens/malformed/*.{safetensors,json,png,jpg} and Tests/Goldens/malformed/cases.json, the
manifest that Tests/TRIMTests/MalformedInputTests.swift runs. Each case is

    {"name": …, "args": [...], "setup": {"relative/path": "source"}, "expect": "substring", "exit": [1]}

`args` may use $M (this directory), $ROOT (the repository), $TMP (a fresh per-case directory).
`setup` copies files into $TMP before the run: a source is a file name in $M or "$ROOT/…".
`expect` must appear in the single `error: …` line on stderr. `exit` lists the accepted exit codes
(1 for bad input; cases that are merely odd but valid may also accept 0).
"""

import io
import json
import os
import struct
import zlib

HERE = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.join(HERE, "malformed")
ODD = "$ROOT/Weights/clip-odd"
TINY_PNG = "$ROOT/Tests/Goldens/trim/images/tiny.png"

cases = []
os.makedirs(OUT, exist_ok=True)
for old in os.listdir(OUT):
    os.remove(os.path.join(OUT, old))


def write(name, data):
    with open(os.path.join(OUT, name), "wb") as f:
        f.write(data)


def case(name, args, expect, setup=None, exit_codes=(1,)):
    cases.append({"name": name, "args": args, "setup": setup or {}, "expect": expect, "exit": list(exit_codes)})


# ---------------------------------------------------------------- safetensors (trim inspect FILE)

def safetensors(header, data=b"", length=None):
    h = json.dumps(header, separators=(",", ":")).encode() if not isinstance(header, bytes) else header
    n = len(h) if length is None else length
    return struct.pack("<Q", n) + h + data


def st_case(name, blob, expect):
    write(name + ".safetensors", blob)
    case(name, ["inspect", "$M/" + name + ".safetensors"], expect)


f32 = {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]}
st_case("st_too_small", b"\x10\x00\x00", "expected at least 8")
st_case("st_header_beyond_file", safetensors({"a": f32}, b"\0" * 8, length=10_000), "header length 10000")
st_case("st_header_over_100MB", safetensors({"a": f32}, b"\0" * 8, length=200_000_000), "header length 200000000")
st_case("st_header_not_json", safetensors(b'{"a": {"dtype": "F32", "shape": [2],'), "not valid JSON")
st_case("st_header_not_object", safetensors([1, 2, 3]), "expected a JSON object")
st_case("st_header_deep_nesting", safetensors(b"[" * 5000 + b"]" * 5000), "not valid JSON")
st_case("st_header_invalid_utf8", safetensors(b'{"\xff\xfe": {"dtype": "F32", "shape": [0], "data_offsets": [0, 0]}}'),
        "not valid JSON")
st_case("st_unknown_dtype", safetensors({"a": {"dtype": "F33", "shape": [2], "data_offsets": [0, 8]}}, b"\0" * 8),
        "unknown dtype")
st_case("st_dtype_not_string", safetensors({"a": {"dtype": 7, "shape": [2], "data_offsets": [0, 8]}}, b"\0" * 8),
        "dtype")
st_case("st_offsets_beyond_data", safetensors({"a": {"dtype": "F32", "shape": [4], "data_offsets": [0, 16]}}, b"\0" * 8),
        "outside the data buffer")
st_case("st_offsets_reversed", safetensors({"a": {"dtype": "F32", "shape": [0], "data_offsets": [8, 0]}}, b"\0" * 8),
        "outside the data buffer")
st_case("st_offsets_negative", safetensors({"a": {"dtype": "F32", "shape": [2], "data_offsets": [-8, 0]}}, b"\0" * 8),
        "outside the data buffer")
st_case("st_offsets_huge", safetensors({"a": {"dtype": "F32", "shape": [2],
                                               "data_offsets": [9223372036854775800, 9223372036854775807]}}, b"\0" * 8),
        "outside the data buffer")
st_case("st_offsets_not_shape_times_dtype",
        safetensors({"a": {"dtype": "F32", "shape": [2, 2], "data_offsets": [0, 8]}}, b"\0" * 8), "expected 16")
st_case("st_overlapping", safetensors({"a": f32, "b": {"dtype": "F32", "shape": [2], "data_offsets": [4, 12]}}, b"\0" * 12),
        "overlaps")
st_case("st_shape_overflow",
        safetensors({"a": {"dtype": "F32", "shape": [1 << 40, 1 << 40], "data_offsets": [0, 0]}}), "more elements than fit")
st_case("st_shape_bytes_overflow",
        safetensors({"a": {"dtype": "F64", "shape": [1 << 61], "data_offsets": [0, 0]}}), "more elements than fit")
st_case("st_shape_negative", safetensors({"a": {"dtype": "F32", "shape": [-2], "data_offsets": [0, 8]}}, b"\0" * 8),
        "non-negative integers")
st_case("st_shape_fraction", safetensors({"a": {"dtype": "F32", "shape": [2.5], "data_offsets": [0, 8]}}, b"\0" * 8),
        "non-negative integers")
st_case("st_shape_beyond_int64", safetensors(b'{"a":{"dtype":"F32","shape":[99999999999999999999],"data_offsets":[0,8]}}'
                                             + b"\0" * 8), "error")
st_case("st_missing_offsets", safetensors({"a": {"dtype": "F32", "shape": [2]}}, b"\0" * 8), "data_offsets")
st_case("st_metadata_not_strings", safetensors({"__metadata__": {"format": 1}, "a": f32}, b"\0" * 8),
        "expected a string")
# Valid headers whose shapes are odd enough to trip the inspector's inference (regressions).
st_case("st_inspect_empty_position_table", safetensors({
    "vision_model.embeddings.patch_embedding.weight": {"dtype": "F32", "shape": [0, 3, 1 << 62, 2], "data_offsets": [0, 0]},
    "vision_model.embeddings.position_embedding.weight": {"dtype": "F32", "shape": [0, 4], "data_offsets": [0, 0]},
}), "")
cases[-1]["exit"] = [0]
st_case("st_inspect_rank0_projection", safetensors({
    "visual_projection.weight": {"dtype": "F32", "shape": [], "data_offsets": [0, 4]}}, b"\0" * 4), "")
cases[-1]["exit"] = [0]

# Sharded index
write("index_not_json.json", b'{"weight_map": {')
case("index_not_json", ["inspect", "$M/index_not_json.json"], "index_not_json.json")
write("index_path_traversal.json", json.dumps({"weight_map": {"a": "../../../etc/passwd"}}).encode())
case("index_path_traversal", ["inspect", "$M/index_path_traversal.json"], "plain file name")
write("index_missing_shard.json", json.dumps({"weight_map": {"a": "absent-00001.safetensors"}}).encode())
case("index_missing_shard", ["inspect", "$M/index_missing_shard.json"], "absent-00001.safetensors")

# ---------------------------------------------------------------- CLIP config.json (trim preprocess / reduce)

with open(os.path.join(HERE, "..", "..", "Weights", "clip-odd", "config.json")) as f:
    odd_config = json.load(f)


def config_case(name, mutate, expect, weights=ODD + "/model.safetensors", command="reduce"):
    cfg = json.loads(json.dumps(odd_config))
    mutate(cfg)
    write(name + ".json", json.dumps(cfg, indent=1).encode())
    setup = {"model/config.json": name + ".json", "model/model.safetensors": weights}
    args = ["reduce", "--model", "$TMP/model", "--image", TINY_PNG, "--prompt", "a ball"]
    case(name, args, expect, setup)


def setv(section, key, value):
    def m(cfg):
        if section:
            cfg[section][key] = value
        else:
            cfg[key] = value
    return m


config_case("cfg_layers_1e6", setv("vision_config", "num_hidden_layers", 1_000_000), "missing tensor")
config_case("cfg_layers_1e12", setv("vision_config", "num_hidden_layers", 10 ** 12), "num_hidden_layers")
config_case("cfg_hidden_huge", setv("vision_config", "hidden_size", 1_000_000), "expected")
config_case("cfg_vocab_huge", setv("text_config", "vocab_size", 1 << 20), "token_embedding")
config_case("cfg_hidden_negative", setv("text_config", "hidden_size", -36), "hidden_size")
config_case("cfg_hidden_string", setv("text_config", "hidden_size", "36"), "must be an integer")
config_case("cfg_hidden_fraction", setv("text_config", "hidden_size", 36.5), "must be an integer")
config_case("cfg_heads_not_dividing", setv("vision_config", "num_attention_heads", 7), "not divisible")
config_case("cfg_heads_zero", setv("vision_config", "num_attention_heads", 0), "num_attention_heads")
config_case("cfg_bad_activation", setv("vision_config", "hidden_act", "swish"), "hidden_act")
config_case("cfg_eps_zero", setv("text_config", "layer_norm_eps", 0), "layer_norm_eps")
config_case("cfg_patch_over_image", setv("vision_config", "patch_size", 76), "patch_size")
config_case("cfg_image_size_huge", setv("vision_config", "image_size", 1 << 20), "position_embedding")
config_case("cfg_intermediate_contradicts_weights", setv("vision_config", "intermediate_size", 101), "fc1")
config_case("cfg_projection_contradicts_weights", setv(None, "projection_dim", 25), "projection")
config_case("cfg_vision_not_object", setv(None, "vision_config", [1, 2]), "vision_config")
config_case("cfg_missing_text_keys", lambda c: c.pop("text_config"), "expected")
config_case("cfg_extra_layers_in_weights", setv("text_config", "num_hidden_layers", 1), "text_model.encoder.layers.1")
write("cfg_not_json.json", b'{"projection_dim": 24,')
case("cfg_not_json", ["reduce", "--model", "$TMP/model", "--image", TINY_PNG, "--prompt", "x"], "not valid JSON",
     {"model/config.json": "cfg_not_json.json", "model/model.safetensors": ODD + "/model.safetensors"})
write("cfg_top_level_array.json", b"[1, 2, 3]")
case("cfg_top_level_array", ["reduce", "--model", "$TMP/model", "--image", TINY_PNG, "--prompt", "x"], "not an object",
     {"model/config.json": "cfg_top_level_array.json", "model/model.safetensors": ODD + "/model.safetensors"})

# Weights whose header is fine but which do not fit the config (tiny stand-in file).
write("model_wrong_dtype.safetensors", safetensors({
    "vision_model.embeddings.patch_embedding.weight": {"dtype": "I8", "shape": [60, 3, 10, 10],
                                                       "data_offsets": [0, 18000]}}, b"\0" * 18000))
case("model_wrong_dtype", ["reduce", "--model", "$TMP/model", "--image", TINY_PNG, "--prompt", "x"], "dtype I8",
     {"model/config.json": ODD + "/config.json", "model/model.safetensors": "model_wrong_dtype.safetensors"})
write("model_truncated.safetensors", safetensors({
    "vision_model.embeddings.class_embedding": {"dtype": "F32", "shape": [60], "data_offsets": [0, 240]}}, b"\0" * 100))
case("model_truncated", ["reduce", "--model", "$TMP/model", "--image", TINY_PNG, "--prompt", "x"], "outside the data buffer",
     {"model/config.json": ODD + "/config.json", "model/model.safetensors": "model_truncated.safetensors"})

# ---------------------------------------------------------------- the model directory's vocab.json + merges.txt


def vocab_case(name, vocab, merges, expect):
    write(name + "_vocab.json", vocab)
    write(name + "_merges.txt", merges)
    case(name, ["reduce", "--model", "$TMP/model", "--image", TINY_PNG, "--prompt", "a ball"], expect,
         {"model/config.json": ODD + "/config.json", "model/model.safetensors": ODD + "/model.safetensors",
          "model/vocab.json": name + "_vocab.json", "model/merges.txt": name + "_merges.txt"})


specials = {"<|startoftext|>": 998, "<|endoftext|>": 999}
vocab_case("vocab_not_json", b'{"a</w>": 1,', b"#version: 0.2\n", "vocab.json")
vocab_case("vocab_not_object", b"[1, 2]", b"#version: 0.2\n", "vocab.json")
vocab_case("vocab_missing_specials", json.dumps({"a": 0, "a</w>": 1}).encode(), b"#version: 0.2\n", "<|startoftext|>")
vocab_case("vocab_id_huge", json.dumps(dict(specials, a=10 ** 15)).encode(), b"#version: 0.2\n", "vocab.json")
vocab_case("vocab_id_negative", json.dumps(dict(specials, a=-1)).encode(), b"#version: 0.2\n", "vocab.json")
vocab_case("vocab_id_string", json.dumps(dict(specials, a="1")).encode(), b"#version: 0.2\n", "vocab.json")
vocab_case("merges_three_tokens", json.dumps(dict(specials, a=0, b=1, ab=2)).encode(), b"#version: 0.2\na b c\n",
           "merges.txt")
vocab_case("merges_unknown_token", json.dumps(dict(specials, a=0, b=1)).encode(), b"#version: 0.2\na b\n", "merges.txt")
# Valid but useless: no byte tokens at all, so every byte maps to <|endoftext|>; must still run.
vocab_case("vocab_without_bytes", json.dumps(specials).encode(), b"#version: 0.2\n", "")
cases[-1]["exit"] = [0]

# ---------------------------------------------------------------- projectors (trim reduce --projector FILE)


def projector_case(name, header, data, expect):
    write(name + ".safetensors", safetensors(header, data))
    case(name, ["reduce", "--model", ODD, "--image", TINY_PNG, "--prompt", "x", "--projector", "$M/" + name + ".safetensors"],
         expect)


projector_case("proj_none", {"other.weight": {"dtype": "F32", "shape": [1], "data_offsets": [0, 4]}}, b"\0" * 4,
               "no projector tensors")
projector_case("proj_rank1", {"mm_projector.weight": {"dtype": "F32", "shape": [4], "data_offsets": [0, 16]}}, b"\0" * 16,
               "expected [out, in]")
projector_case("proj_zero_width", {
    "multi_modal_projector.linear_1.weight": {"dtype": "F32", "shape": [0, 60], "data_offsets": [0, 0]},
    "multi_modal_projector.linear_2.weight": {"dtype": "F32", "shape": [0, 0], "data_offsets": [0, 0]}}, b"",
    "expected [out, in]")
projector_case("proj_bias_mismatch", {
    "mm_projector.weight": {"dtype": "F32", "shape": [2, 60], "data_offsets": [0, 480]},
    "mm_projector.bias": {"dtype": "F32", "shape": [3], "data_offsets": [480, 492]}}, b"\0" * 492, "expected [2]")
projector_case("proj_layers_disagree", {
    "mm_projector.0.weight": {"dtype": "F32", "shape": [2, 60], "data_offsets": [0, 480]},
    "mm_projector.2.weight": {"dtype": "F32", "shape": [2, 3], "data_offsets": [480, 504]}}, b"\0" * 504,
    "second layer takes 3")
projector_case("proj_wrong_input_width", {"mm_projector.weight": {"dtype": "F32", "shape": [2, 7], "data_offsets": [0, 56]}},
               b"\0" * 56, "60-wide")
projector_case("proj_int_dtype", {"mm_projector.weight": {"dtype": "I32", "shape": [2, 60], "data_offsets": [0, 480]}},
               b"\0" * 480, "I32")

# ---------------------------------------------------------------- preprocessor_config.json


def pre_case(name, content, expect):
    write(name + ".json", content)
    case(name, ["preprocess", "--model", "$TMP/model", "--image", TINY_PNG, "--output", "$TMP/out.safetensors"], expect,
         {"model/config.json": ODD + "/config.json", "model/model.safetensors": ODD + "/model.safetensors",
          "model/preprocessor_config.json": name + ".json"})


pre_case("pre_crop_huge", json.dumps({"crop_size": 10 ** 9, "size": 75}).encode(), "crop_size")
pre_case("pre_size_huge", json.dumps({"crop_size": 75, "size": {"shortest_edge": 10 ** 7}}).encode(), "size")
pre_case("pre_size_zero", json.dumps({"crop_size": 75, "size": 0}).encode(), "size")
pre_case("pre_mean_wrong_length", json.dumps({"image_mean": [0.5, 0.5]}).encode(), "image_mean")
pre_case("pre_std_zero", json.dumps({"image_std": [0.5, 0, 0.5]}).encode(), "image_std")
pre_case("pre_resample_unknown", json.dumps({"resample": 9}).encode(), "resample")
pre_case("pre_not_json", b"{crop_size: 75}", "preprocessor_config.json")

# ---------------------------------------------------------------- images (trim preprocess --image FILE)


def image_case(name, data, expect, ext):
    write(name + "." + ext, data)
    case(name, ["preprocess", "--model", ODD, "--image", "$M/" + name + "." + ext, "--output", "$TMP/out.safetensors"],
         expect)


def chunk(kind, payload, crc=None):
    c = zlib.crc32(kind + payload) & 0xFFFFFFFF if crc is None else crc
    return struct.pack(">I", len(payload)) + kind + payload + struct.pack(">I", c)


def png(width, height, depth=8, color=2, interlace=0, idat=None, raw=None, crc=None, end=True, filter_method=0):
    sig = b"\x89PNG\r\n\x1a\n"
    ihdr = chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, depth, color, 0, filter_method, interlace))
    if idat is None:
        if raw is None:
            channels = {0: 1, 2: 3, 3: 1, 4: 2, 6: 4}.get(color, 3)
            row = 1 + (width * channels * depth + 7) // 8
            raw = b"".join(bytes([0]) + bytes(row - 1) for _ in range(height))
        idat = zlib.compress(raw, 9)
    body = chunk(b"IDAT", idat, crc)
    return sig + ihdr + body + (chunk(b"IEND", b"") if end else b"")


good_png = png(5, 4)
image_case("png_truncated", good_png[: len(good_png) - 30], "PNG", "png")
image_case("png_bad_crc", png(5, 4, crc=0x12345678), "CRC", "png")
bad_zlib = bytearray(zlib.compress(bytes(4 * 16), 9))
bad_zlib[2] ^= 0xFF
bad_zlib[3] ^= 0x5A
image_case("png_corrupt_zlib", png(5, 4, idat=bytes(bad_zlib)), "PNG", "png")
image_case("png_bad_zlib_header", png(5, 4, idat=b"\x78\x9d" + zlib.compress(bytes(64))[2:]), "PNG", "png")
image_case("png_zero_width", png(0, 4, raw=b"\0" * 4), "PNG", "png")
image_case("png_zero_height", png(4, 0, raw=b""), "PNG", "png")
image_case("png_huge_dims", png(1_000_000, 1_000_000, idat=zlib.compress(b"\0" * 64)), "limit", "png")
image_case("png_huge_width_one_row", png(0x7FFFFFFF, 1, idat=zlib.compress(b"\0" * 64)), "limit", "png")
# 12000 × 12000 RGB zero rows: 432 MB of pixels from ~420 KB of zlib would be a bomb; just over the limit, so the
# decoder must refuse before inflating. Stored as a tiny IDAT (the size check comes first).
image_case("png_bomb_dims", png(14_000, 14_000, idat=zlib.compress(b"\0" * 1024)), "limit", "png")
# A real bomb within the pixel limit: 4000 × 4000 grey, rows of zeros → ~16 MB inflated from ~16 KB, but the
# stream ends early (truncated), so it must fail fast with an error rather than allocate past the image size.
image_case("png_bomb_truncated", png(4000, 4000, depth=8, color=0,
                                     idat=zlib.compress(b"\0" * (4001 * 4000), 9)[:4000]), "PNG", "png")
image_case("png_bit_depth_3", png(5, 4, depth=3, color=0), "PNG", "png")
image_case("png_color_type_5", png(5, 4, color=5), "PNG", "png")
image_case("png_interlace_2", png(5, 4, interlace=2), "PNG", "png")
image_case("png_filter_method_1", png(5, 4, filter_method=1), "PNG", "png")
image_case("png_bad_filter_type", png(5, 4, raw=b"".join(bytes([7]) + bytes(15) for _ in range(4))), "PNG", "png")
image_case("png_no_idat", b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", 5, 4, 8, 2, 0, 0, 0))
           + chunk(b"IEND", b""), "PNG", "png")
image_case("png_palette_missing_plte", png(5, 4, color=3), "", "png")  # Pillow decodes it (grey palette)
cases[-1]["exit"] = [0]
image_case("png_chunk_length_huge", b"\x89PNG\r\n\x1a\n" + struct.pack(">I", 0x7FFFFFF0) + b"IHDR" + b"\0" * 20,
           "PNG", "png")
# 1 × 100000 grey: padding to a 100000² square would pass the pixel limit; refused before allocating.
image_case("png_extreme_aspect_padded", png(1, 100_000, depth=8, color=0, raw=b"\0\x80" * 100_000), "limit", "png")
image_case("not_an_image", b"hello, this is text and not an image\n" * 3, "", "png")
image_case("empty_image", b"", "", "jpg")


def make_jpeg():
    from PIL import Image
    img = Image.new("RGB", (16, 16))
    px = img.load()
    for y in range(16):
        for x in range(16):
            px[x, y] = ((x * 16) & 255, (y * 16) & 255, ((x + y) * 8) & 255)
    buf = io.BytesIO()
    img.save(buf, format="JPEG", quality=90, subsampling=2)
    return buf.getvalue()


jpg = make_jpeg()


def find_marker(data, marker):
    i = data.index(bytes([0xFF, marker]))
    return i


sof = find_marker(jpg, 0xC0)
sos = find_marker(jpg, 0xDA)
dht = find_marker(jpg, 0xC4)


def patched(data, offset, new):
    b = bytearray(data)
    b[offset:offset + len(new)] = new
    return bytes(b)


image_case("jpeg_truncated_header", jpg[: sof + 6], "JPEG", "jpg")
image_case("jpeg_truncated_scan", jpg[: sos + 30], "truncated", "jpg")
image_case("jpeg_zero_height", patched(jpg, sof + 5, b"\x00\x00"), "JPEG", "jpg")
image_case("jpeg_zero_width", patched(jpg, sof + 7, b"\x00\x00"), "JPEG", "jpg")
image_case("jpeg_huge_dims", patched(jpg, sof + 5, b"\xff\xff\xff\xff"), "65500", "jpg")
image_case("jpeg_too_many_pixels", patched(jpg, sof + 5, b"\xff\x00\xff\x00"), "limit", "jpg")
image_case("jpeg_precision_12", patched(jpg, sof + 4, b"\x0c"), "JPEG", "jpg")
image_case("jpeg_precision_16", patched(jpg, sof + 4, b"\x10"), "JPEG", "jpg")
image_case("jpeg_arithmetic", patched(jpg, sof + 1, b"\xc9"), "JPEG", "jpg")
image_case("jpeg_lossless", patched(jpg, sof + 1, b"\xc3"), "JPEG", "jpg")
image_case("jpeg_components_zero", patched(jpg, sof + 9, b"\x00"), "JPEG", "jpg")
image_case("jpeg_sampling_zero", patched(jpg, sof + 11, b"\x00"), "JPEG", "jpg")
image_case("jpeg_quant_table_missing", patched(jpg, sof + 12, b"\x03"), "JPEG", "jpg")
# Huffman table whose 16 code-length counts claim more codes than fit (over-subscribed).
image_case("jpeg_huffman_oversubscribed", patched(jpg, dht + 5, bytes([4, 200])), "JPEG", "jpg")
# Scan data replaced by a run of 1-bits: no valid Huffman code.
image_case("jpeg_huffman_bad_code", jpg[: sos + 14] + b"\xff\x00" * 40 + b"\xff\xd9", "JPEG", "jpg")
image_case("jpeg_no_frame", b"\xff\xd8\xff\xd9", "JPEG", "jpg")
image_case("jpeg_segment_length_short", patched(jpg, sof + 2, b"\x00\x01"), "JPEG", "jpg")
image_case("jpeg_only_soi", b"\xff\xd8", "JPEG", "jpg")

# ---------------------------------------------------------------- prompts and arguments

case("prompt_empty", ["reduce", "--model", ODD, "--image", TINY_PNG, "--prompt", "", "--json"], "", exit_codes=(0, 1))
# Huge prompts and invalid UTF-8 arguments are built by MalformedInputTests.swift itself.
case("image_is_directory", ["preprocess", "--model", ODD, "--image", "$ROOT/Weights", "--output", "$TMP/o.safetensors"],
     "Weights", exit_codes=(1,))
case("model_is_file", ["reduce", "--model", TINY_PNG, "--image", TINY_PNG, "--prompt", "x"], "tiny.png", exit_codes=(1,))

with open(os.path.join(OUT, "cases.json"), "w") as f:
    json.dump(cases, f, indent=1)
    f.write("\n")
total = sum(os.path.getsize(os.path.join(OUT, n)) for n in os.listdir(OUT))
print(f"{len(cases)} cases, {len(os.listdir(OUT))} files, {total} bytes in {OUT}")
