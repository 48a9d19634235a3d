"""Goldens for the TorchCheckpoint module: PyTorch `.bin` files written by the real `torch.save`.

Regenerate (from the repository root):
    .venv-ref/bin/python Tests/Goldens/torch_goldens.py

Outputs, under Tests/Goldens/torch/ (each `.bin` beside the same tensors as safetensors, which the Swift
tests compare bit for bit):
- dtypes.bin / dtypes.safetensors    F32, F16, BF16, F64, I64, I32, I16, I8, U8, BOOL, a 0-d and an empty
                                     tensor, written as `save_pretrained(..., safe_serialization=False)` did:
                                     `torch.save(state_dict, f)` (zip format, pickle protocol 2).
- views.bin / views.safetensors      tied tensors (one tensor under two names), several views sharing one
                                     storage at different storage offsets, a transposed (non-contiguous)
                                     weight, a strided slice and an expanded (stride 0) tensor; the
                                     safetensors file holds each view made contiguous.
- views_deflated.bin                 views.bin re-zipped with every entry deflated (read through Inflate).
- views_zip64.bin                     views.bin re-zipped by Python's zipfile with force_zip64 (ZIP64 extra
                                     fields, 0xFFFFFFFF sizes in the local headers, no 64-byte alignment).
- module_state_dict.bin / .safetensors  `nn.Module.state_dict()` of a LLaVA-style module (`model.mm_projector`
                                     = Linear, GELU, Linear in F16) saved as is: an OrderedDict carrying
                                     `_metadata` (pickled with BUILD), as every real checkpoint is.
- views_protocol4.bin                views.bin's state dict saved with pickle protocol 4 (FRAME, MEMOIZE,
                                     SHORT_BINUNICODE, STACK_GLOBAL).
- llava/                             a LLaVA-1.5 checkpoint layout: pytorch_model-0000{1,2}-of-00002.bin +
                                     pytorch_model.bin.index.json (the projector alone in shard 2, original
                                     LLaVA names `model.mm_projector.{0,2}.*`, F16), and mm_projector.bin
                                     as LLaVA's trainer saves it (BF16); llava.safetensors and
                                     mm_projector.safetensors hold the same tensors.
- clip-odd/                          Weights/clip-odd re-saved as two `.bin` shards + index, with its config.
- projector-odd/mm_projector.bin     Tests/Goldens/trim/projector-odd.safetensors re-saved as LLaVA's trainer
                                     would (F32, `model.mm_projector.{0,2}.*`), for `trim reduce --projector`.
- legacy.bin                         a pre-1.6 (non-zip) torch.save file, which the reader refuses by name.
- malformed/                         hostile and broken archives; malformed/cases.json maps each file to a
                                     phrase its one-line error must contain.
Fixed seeds and pinned zip timestamps: a rerun reproduces every file byte for byte except legacy.bin (the
legacy format keys its storages by memory address).
"""

import collections
import io
import json
import os
import pickle
import shutil
import struct
import sys
import zipfile

import torch
from safetensors.torch import save_file, load_file

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
OUT = os.path.join(HERE, "torch")
MAL = os.path.join(OUT, "malformed")


def save_bin(state, path, **kw):
    # What `save_pretrained(safe_serialization=False)` and LLaVA's trainer call.
    torch.save(state, path, **kw)


def save_st(state, path):
    save_file({k: v.contiguous().clone() for k, v in state.items()}, path)


# ---------------------------------------------------------------- hand-made archives


def zip_entries(path):
    with zipfile.ZipFile(path) as z:
        return [(i.filename, z.read(i.filename)) for i in z.infolist()]


def write_zip(path, entries, method=zipfile.ZIP_STORED):
    with zipfile.ZipFile(path, "w", compression=method) as z:
        for name, data in entries:
            info = zipfile.ZipInfo(name, date_time=(2020, 1, 1, 0, 0, 0))
            info.compress_type = method
            z.writestr(info, data)


def torch_like(path, pkl, storages=None, byteorder=b"little", prefix="archive"):
    entries = [(f"{prefix}/data.pkl", pkl), (f"{prefix}/byteorder", byteorder)]
    for key, data in (storages or {}).items():
        entries.append((f"{prefix}/data/{key}", data))
    entries.append((f"{prefix}/version", b"3\n"))
    write_zip(path, entries)


class Storage:
    def __init__(self, storage_type, key, numel):
        self.pid = ("storage", storage_type, key, "cpu", numel)


class FakeTensor:
    """Pickles exactly like a tensor: `_rebuild_tensor_v2(storage, offset, size, stride, False, OrderedDict())`."""

    def __init__(self, storage, offset, size, stride):
        self.args = (storage, offset, tuple(size), tuple(stride), False, collections.OrderedDict())

    def __reduce__(self):
        return (torch._utils._rebuild_tensor_v2, self.args)


class TorchPickler(pickle.Pickler):
    def persistent_id(self, obj):
        return obj.pid if isinstance(obj, Storage) else None


def craft(obj, protocol=2):
    buf = io.BytesIO()
    TorchPickler(buf, protocol=protocol).dump(obj)
    return buf.getvalue()


def u16(b, off, v):
    b[off : off + 2] = struct.pack("<H", v)


def u32(b, off, v):
    b[off : off + 4] = struct.pack("<I", v)


def find_central(b, name):
    off = b.find(b"PK\x01\x02" + b"", 0)
    while off >= 0:
        n = struct.unpack_from("<H", b, off + 28)[0]
        if b[off + 46 : off + 46 + n] == name.encode():
            return off
        off = b.find(b"PK\x01\x02", off + 4)
    raise KeyError(name)


def local_of(b, central):
    return struct.unpack_from("<I", b, central + 42)[0]


def malformed(cases):
    os.makedirs(MAL)
    f4 = struct.pack("<4f", 1.0, 2.0, 3.0, 4.0)
    good_pkl = craft(collections.OrderedDict(w=FakeTensor(Storage(torch.FloatStorage, "0", 4), 0, [2, 2], [2, 1])))

    def case(name, expect, data=None):
        if data is not None:
            with open(os.path.join(MAL, name), "wb") as f:
                f.write(data)
        cases[name] = expect

    def archive_bytes(pkl, storages=None, **kw):
        p = os.path.join(MAL, "_tmp.bin")
        torch_like(p, pkl, storages, **kw)
        with open(p, "rb") as f:
            data = f.read()
        os.remove(p)
        return bytearray(data)

    base = archive_bytes(good_pkl, {"0": f4})
    case("ok_handmade.bin", "", bytes(base))  # the baseline the others break: must load

    # --- forbidden globals (each would run code in Python's unpickler)
    def reduce_call(module, name, arg):
        return b"\x80\x02c" + module + b"\n" + name + b"\nq\x00X" + struct.pack("<I", len(arg)) + arg + b"\x85R."

    case("global_os_system.bin", "os.system", archive_bytes(reduce_call(b"os", b"system", b"echo pwned")))
    case("global_posix_system.bin", "posix.system", archive_bytes(reduce_call(b"posix", b"system", b"echo pwned")))
    case("global_builtins_eval.bin", "builtins.eval", archive_bytes(reduce_call(b"builtins", b"eval", b"1+1")))
    case("global_subprocess_popen.bin", "subprocess.Popen",
         archive_bytes(reduce_call(b"subprocess", b"Popen", b"ls")))
    getattr_pkl = b"\x80\x04\x8c\x08builtins\x8c\x07getattr\x93\x8c\x02os\x8c\x06system\x86R."
    case("global_builtins_getattr.bin", "builtins.getattr", archive_bytes(getattr_pkl))
    # A forbidden global inside an otherwise valid state dict value.
    nested = b"\x80\x02}X\x01\x00\x00\x00xcos\nsystem\nX\x02\x00\x00\x00id\x85Rs."
    case("global_nested_in_dict.bin", "os.system", archive_bytes(nested))
    case("global_torch_load.bin", "torch.load", archive_bytes(reduce_call(b"torch", b"load", b"x.pt")))

    # --- pickle machine misuse
    case("pickle_unknown_opcode.bin", "opcode 0xff", archive_bytes(b"\x80\x02}\xff."))
    case("pickle_inst_opcode.bin", "opcode 0x69", archive_bytes(b"\x80\x02(ios\nsystem\nS'id'\n."))
    case("pickle_memo_missing.bin", "memo", archive_bytes(b"\x80\x02h\x05."))
    case("pickle_stack_underflow.bin", "stack", archive_bytes(b"\x80\x02\x86."))
    case("pickle_no_mark.bin", "mark", archive_bytes(b"\x80\x02]K\x01e."))
    case("pickle_setitem_on_list.bin", "SETITEM", archive_bytes(b"\x80\x02]K\x01K\x02s."))
    case("pickle_deep_nesting.bin", "nest", archive_bytes(b"\x80\x02)" + b"\x85" * 5000 + b"."))
    case("pickle_deep_lists.bin", "nest", archive_bytes(b"\x80\x02" + b"]" * 5000 + b"a" * 4999 + b"."))
    case("pickle_huge_unicode.bin", "length", archive_bytes(b"\x80\x02X\xf0\xff\xff\xffab."))
    case("pickle_huge_unicode8.bin", "length", archive_bytes(b"\x80\x04\x8d" + struct.pack("<Q", 1 << 62) + b"ab."))
    case("pickle_huge_frame.bin", "frame", archive_bytes(b"\x80\x04\x95" + struct.pack("<Q", 1 << 60) + b"}."))
    case("pickle_no_stop.bin", "end", archive_bytes(b"\x80\x02}q\x00"))
    case("pickle_not_a_dict.bin", "dict", archive_bytes(b"\x80\x02]q\x00."))
    case("pickle_long_too_big.bin", "integer", archive_bytes(b"\x80\x02\x8a\x09" + b"\xff" * 9 + b"."))
    case("pickle_protocol_99.bin", "protocol", archive_bytes(b"\x80\x63}."))
    case("pickle_invalid_utf8.bin", "UTF-8", archive_bytes(b"\x80\x02}X\x02\x00\x00\x00\xc3\x28K\x01s."))

    # --- tensors and storages that lie
    def tensor_archive(numel, offset, size, stride, data=f4, storage=torch.FloatStorage):
        pkl = craft({"w": FakeTensor(Storage(storage, "0", numel), offset, size, stride)})
        return archive_bytes(pkl, {"0": data} if data is not None else {})

    case("storage_beyond_record.bin", "storage", tensor_archive(100, 0, [2, 2], [2, 1]))
    case("storage_record_missing.bin", "data/0", tensor_archive(4, 0, [2, 2], [2, 1], data=None))
    case("view_beyond_storage.bin", "beyond", tensor_archive(4, 1, [2, 2], [2, 1]))
    case("view_stride_beyond_storage.bin", "beyond", tensor_archive(4, 0, [2, 2], [3, 1]))
    case("view_negative_offset.bin", "offset", tensor_archive(4, -1, [2], [1]))
    case("view_negative_size.bin", "size", tensor_archive(4, 0, [-2, 2], [2, 1]))
    case("view_huge_size.bin", "size", tensor_archive(4, 0, [1 << 40, 1 << 40], [0, 0]))
    case("view_rank_mismatch.bin", "stride", tensor_archive(4, 0, [2, 2], [1]))
    case("storage_unknown_type.bin", "torch.ComplexFloatStorage",
         tensor_archive(4, 0, [2, 2], [2, 1], storage=torch.ComplexFloatStorage))
    case("byteorder_big.bin", "big", archive_bytes(good_pkl, {"0": f4}, byteorder=b"big"))
    case("data_pkl_missing.bin", "data.pkl", bytes(archive_bytes(good_pkl, {"0": f4}, prefix="a/b")))

    # --- zip container lies
    b = bytearray(base)
    c = find_central(b, "archive/data.pkl")
    lo = local_of(b, c)
    b[lo + 30] ^= 0x20  # 'a' → 'A' in the local header's name only
    case("zip_local_name_mismatch.bin", "local header", bytes(b))

    b = bytearray(base)
    c = find_central(b, "archive/data.pkl")
    u32(b, c + 42, len(b) + 100)
    case("zip_local_offset_beyond_file.bin", "beyond", bytes(b))

    b = bytearray(base)
    c = find_central(b, "archive/data.pkl")
    lo = local_of(b, c)
    u32(b, lo + 18, 5)  # local compressed size differs from the central one
    case("zip_local_size_mismatch.bin", "local header", bytes(b))

    b = bytearray(base)
    c = find_central(b, "archive/data.pkl")
    lo = local_of(b, c)
    grown = struct.unpack_from("<I", b, c + 20)[0] + 40  # runs into the next entry's local header
    for off in (c + 20, c + 24, lo + 18, lo + 22):
        u32(b, off, grown)
    case("zip_overlapping_entries.bin", "overlap", bytes(b))

    b = bytearray(base)
    c0 = find_central(b, "archive/data.pkl")
    c1 = find_central(b, "archive/byteorder")
    u32(b, c1 + 42, local_of(b, c0))  # two central entries share one local header
    case("zip_shared_local_header.bin", "local header", bytes(b))

    for name, field, value, expect in [
        ("zip_encrypted.bin", 8, 0x0001, "encrypted"),
        ("zip_method_bzip2.bin", 10, 12, "method 12"),
    ]:
        b = bytearray(base)
        c = find_central(b, "archive/data.pkl")
        lo = local_of(b, c)
        u16(b, c + field, value)
        u16(b, lo + field - 2, value)
        case(name, expect, bytes(b))

    b = bytearray(base)
    eocd = b.rfind(b"PK\x05\x06")
    u16(b, eocd + 8, 0xFFFE)
    u16(b, eocd + 10, 0xFFFE)
    case("zip_entry_count_lies.bin", "central directory", bytes(b))

    b = bytearray(base)
    eocd = b.rfind(b"PK\x05\x06")
    u32(b, eocd + 16, len(b) * 4)
    case("zip_central_offset_beyond_file.bin", "central directory", bytes(b))

    case("zip_truncated.bin", "end of central directory", bytes(base[: len(base) // 2]))
    case("zip_empty.bin", "end of central directory", b"")
    case("not_a_zip.bin", "end of central directory", b"hello, this is no checkpoint\n" * 3)

    # Duplicate entry names.
    p = os.path.join(MAL, "_dup.bin")
    with zipfile.ZipFile(p, "w") as z:
        import warnings

        warnings.simplefilter("ignore")
        for n, d in [("archive/data.pkl", good_pkl), ("archive/data/0", f4), ("archive/data/0", f4)]:
            z.writestr(zipfile.ZipInfo(n, date_time=(2020, 1, 1, 0, 0, 0)), d)
    with open(p, "rb") as f:
        dup = f.read()
    os.remove(p)
    case("zip_duplicate_entry.bin", "twice", dup)

    # Zip bombs: a deflated data.pkl declaring 4 GB, and a storage that inflates far beyond its declared size.
    p = os.path.join(MAL, "_bomb.bin")
    write_zip(p, [("archive/data.pkl", good_pkl), ("archive/data/0", f4)], method=zipfile.ZIP_DEFLATED)
    with open(p, "rb") as f:
        b = bytearray(f.read())
    os.remove(p)
    bomb_base = bytes(b)
    c = find_central(b, "archive/data.pkl")
    lo = local_of(b, c)
    u32(b, c + 24, 0xFFFFFFF0)
    u32(b, lo + 22, 0xFFFFFFF0)
    case("zip_bomb_declared_4GB.bin", "declares", bytes(b))

    bomb_pkl = craft({"w": FakeTensor(Storage(torch.FloatStorage, "0", 4), 0, [4], [1])})
    zeros = b"\0" * (1 << 20)
    p = os.path.join(MAL, "_bomb2.bin")
    with zipfile.ZipFile(p, "w") as z:
        z.writestr(zipfile.ZipInfo("archive/data.pkl", date_time=(2020, 1, 1, 0, 0, 0)), bomb_pkl)
        i = zipfile.ZipInfo("archive/data/0", date_time=(2020, 1, 1, 0, 0, 0))
        i.compress_type = zipfile.ZIP_DEFLATED
        z.writestr(i, zeros)
    with open(p, "rb") as f:
        b = bytearray(f.read())
    os.remove(p)
    c = find_central(b, "archive/data/0")
    lo = local_of(b, c)
    u32(b, c + 24, 16)  # claims 16 bytes (what the pickle needs); inflates to 1 MiB
    u32(b, lo + 22, 16)
    case("zip_bomb_lying_size.bin", "inflate", bytes(b))

    b = bytearray(bomb_base)
    c = find_central(b, "archive/data/0")
    lo = local_of(b, c)
    u32(b, c + 16, 0x12345678)  # CRC-32 of the deflated storage
    u32(b, lo + 14, 0x12345678)
    case("zip_bad_crc.bin", "CRC", bytes(b))

    with open(os.path.join(MAL, "cases.json"), "w") as f:
        json.dump(cases, f, indent=1, sort_keys=True)
        f.write("\n")


def zip64_variant():
    with zipfile.ZipFile(os.path.join(OUT, "views_zip64.bin"), "w") as z:
        for name, data in zip_entries(os.path.join(OUT, "views.bin")):
            info = zipfile.ZipInfo(name, date_time=(2020, 1, 1, 0, 0, 0))
            with z.open(info, "w", force_zip64=True) as f:
                f.write(data)


def module_state_dict():
    torch.manual_seed(1)
    outer = torch.nn.Module()
    outer.model = torch.nn.Module()
    outer.model.mm_projector = torch.nn.Sequential(torch.nn.Linear(6, 16), torch.nn.GELU(), torch.nn.Linear(16, 16))
    outer.half()
    state = outer.state_dict()
    assert hasattr(state, "_metadata")
    save_bin(state, os.path.join(OUT, "module_state_dict.bin"))
    save_st(state, os.path.join(OUT, "module_state_dict.safetensors"))


def projector_odd():
    out = os.path.join(OUT, "projector-odd")
    os.makedirs(out, exist_ok=True)
    state = load_file(os.path.join(HERE, "trim", "projector-odd.safetensors"))
    save_bin({k: state[k] for k in sorted(state)}, os.path.join(out, "mm_projector.bin"))


def main():
    torch.manual_seed(0)
    if os.path.isdir(OUT):
        shutil.rmtree(OUT)
    os.makedirs(OUT)

    # ---------------------------------------------------------------- dtypes
    t = collections.OrderedDict()
    t["f32"] = torch.randn(3, 4, dtype=torch.float32)
    t["f32_specials"] = torch.tensor([0.0, -0.0, float("inf"), float("-inf"), float("nan"), 1e-45, -1.5])
    t["f16"] = (torch.randn(2, 3, 5) * 100).to(torch.float16)
    t["bf16"] = (torch.randn(4, 6) * 10).to(torch.bfloat16)
    t["f64"] = torch.tensor([[0.1, -2.5e-10], [1e300, 1.0 / 3.0]], dtype=torch.float64)
    t["i64"] = torch.tensor([0, 1, -1, 2**62, -(2**63), 2**63 - 1], dtype=torch.int64)
    t["i32"] = torch.tensor([[1, -2], [2**31 - 1, -(2**31)]], dtype=torch.int32)
    t["i16"] = torch.tensor([-32768, 32767, 5], dtype=torch.int16)
    t["i8"] = torch.tensor([-128, 127, 0], dtype=torch.int8)
    t["u8"] = torch.tensor([0, 255, 17], dtype=torch.uint8)
    t["bool"] = torch.tensor([True, False, True])
    t["scalar"] = torch.tensor(2.5)
    t["empty"] = torch.zeros(0, 3)
    t["position_ids"] = torch.arange(7).unsqueeze(0)  # the int64 buffer HF CLIP checkpoints carry
    save_bin(t, os.path.join(OUT, "dtypes.bin"))
    save_st(t, os.path.join(OUT, "dtypes.safetensors"))

    # ---------------------------------------------------------------- views
    big = torch.randn(6, 5)
    w = torch.randn(4, 3)
    v = collections.OrderedDict()
    v["embed.weight"] = torch.randn(5, 4)
    v["lm_head.weight"] = v["embed.weight"]  # tied: the same tensor twice
    v["rows_2_5"] = big[2:5]  # storage offset 10
    v["row_1"] = big[1]  # storage offset 5, shares big's storage
    v["big"] = big
    v["col_3"] = big[:, 3]  # stride (5,)
    v["every_other"] = big[1:, ::2]  # offset 5, stride (5, 2)
    v["w_t"] = w.t()  # transposed: stride (1, 3)
    v["expanded"] = torch.randn(1, 3).expand(4, 3)  # stride (0, 1)
    v["half_t"] = torch.randn(3, 2).to(torch.float16).t()
    v["bf16_slice"] = torch.randn(8).to(torch.bfloat16)[3:7]
    save_bin(v, os.path.join(OUT, "views.bin"))
    save_st(v, os.path.join(OUT, "views.safetensors"))
    entries = zip_entries(os.path.join(OUT, "views.bin"))
    write_zip(os.path.join(OUT, "views_deflated.bin"), entries, method=zipfile.ZIP_DEFLATED)
    zip64_variant()
    module_state_dict()
    save_bin(v, os.path.join(OUT, "views_protocol4.bin"), pickle_protocol=4)

    # ---------------------------------------------------------------- LLaVA layout
    llava = os.path.join(OUT, "llava")
    os.makedirs(llava)
    shard1 = collections.OrderedDict()
    shard1["model.embed_tokens.weight"] = torch.randn(32, 16).to(torch.float16)
    shard1["lm_head.weight"] = torch.randn(32, 16).to(torch.float16)
    shard1["model.vision_tower.vision_tower.vision_model.post_layernorm.weight"] = torch.randn(6).to(torch.float16)
    shard2 = collections.OrderedDict()
    shard2["model.mm_projector.0.weight"] = torch.randn(16, 6).to(torch.float16)
    shard2["model.mm_projector.0.bias"] = torch.randn(16).to(torch.float16)
    shard2["model.mm_projector.2.weight"] = torch.randn(16, 16).to(torch.float16)
    shard2["model.mm_projector.2.bias"] = torch.randn(16).to(torch.float16)
    names = ["pytorch_model-00001-of-00002.bin", "pytorch_model-00002-of-00002.bin"]
    weight_map = {}
    total = 0
    for name, shard in zip(names, [shard1, shard2]):
        save_bin(shard, os.path.join(llava, name))
        for k, x in shard.items():
            weight_map[k] = name
            total += x.numel() * x.element_size()
    with open(os.path.join(llava, "pytorch_model.bin.index.json"), "w") as f:
        # As transformers' save_pretrained writes it.
        json.dump({"metadata": {"total_size": total}, "weight_map": dict(sorted(weight_map.items()))}, f,
                  indent=2, sort_keys=True)
        f.write("\n")
    save_st({**shard1, **shard2}, os.path.join(OUT, "llava.safetensors"))
    # LLaVA's pretraining stage saves only the projector, `{k: v.detach().cpu().clone()}`, as mm_projector.bin.
    # A plain dict, as LLaVA's `{k: v for …}` comprehension builds it (EMPTY_DICT rather than OrderedDict).
    proj = {k: x.to(torch.bfloat16).detach().cpu().clone() for k, x in shard2.items()}
    save_bin(proj, os.path.join(llava, "mm_projector.bin"))
    save_st(proj, os.path.join(OUT, "mm_projector.safetensors"))

    # ---------------------------------------------------------------- clip-odd as .bin shards
    odd = os.path.join(OUT, "clip-odd")
    os.makedirs(odd)
    shutil.copy(os.path.join(ROOT, "Weights/clip-odd/config.json"), odd)
    state = load_file(os.path.join(ROOT, "Weights/clip-odd/model.safetensors"))
    keys = sorted(state)
    half = [k for k in keys if k.startswith("text_model")], [k for k in keys if not k.startswith("text_model")]
    weight_map = {}
    for i, part in enumerate(half):
        name = f"pytorch_model-0000{i + 1}-of-00002.bin"
        save_bin(collections.OrderedDict((k, state[k]) for k in part), os.path.join(odd, name))
        weight_map.update({k: name for k in part})
    with open(os.path.join(odd, "pytorch_model.bin.index.json"), "w") as f:
        json.dump({"metadata": {"total_size": sum(x.numel() * 4 for x in state.values())},
                   "weight_map": weight_map}, f, indent=2, sort_keys=True)
        f.write("\n")

    projector_odd()

    # ---------------------------------------------------------------- legacy
    save_bin(collections.OrderedDict(w=torch.ones(2)), os.path.join(OUT, "legacy.bin"),
             _use_new_zipfile_serialization=False)

    malformed({})

    # Every hand-made archive that should load must load in torch too (with weights_only, its safe mode).
    ok = torch.load(os.path.join(MAL, "ok_handmade.bin"), weights_only=True)
    assert ok["w"].tolist() == [[1.0, 2.0], [3.0, 4.0]], ok
    for f in ["dtypes.bin", "views.bin", "views_deflated.bin", "llava/mm_projector.bin"]:
        torch.load(os.path.join(OUT, f), weights_only=True)
    torch.load(os.path.join(OUT, "views_protocol4.bin"), weights_only=False)  # FRAME: not in torch's safe mode

    for root, _, files in sorted(os.walk(OUT)):
        for f in sorted(files):
            p = os.path.join(root, f)
            print(os.path.relpath(p, OUT), os.path.getsize(p))


if __name__ == "__main__":
    main()
