"""Goldens for the SafeTensors module, written by the real `safetensors` / `huggingface_hub` libraries.

Regenerate (from the repository root):
    .venv-ref/bin/python Tests/Goldens/safetensors_goldens.py

Outputs, under Tests/Goldens/safetensors/:
- dtypes.safetensors   tensors of every dtype the reader converts (F32, F16, BF16, F64, I64, I32, I16, I8, U8,
                       BOOL), F16 special values (subnormals, ±inf, -0, nan, max), a 0-d tensor, an empty
                       tensor, and a one-key `__metadata__`; written with `safetensors.torch.save_file`.
- expected.safetensors for each tensor `x` of dtypes.safetensors, `x` converted by torch: floating dtypes via
                       `.float()` (F32), integer and bool dtypes via `.long()` (I64). The Swift reader must
                       reproduce these exactly.
- sharded/             a 2-shard checkpoint (model-0000{1,2}-of-00002.safetensors + model.safetensors.index.json)
                       written by `huggingface_hub.save_torch_state_dict(max_shard_size=...)`, with LLaVA-style
                       names; the projector tensors sit alone in the second shard.
- sharded_expected.safetensors  the same state dict in one file, to compare the sharded reader against.
Deterministic: fixed seed, no timestamps in the files.
"""

import os
import shutil

import torch
from huggingface_hub import save_torch_state_dict
from safetensors.torch import save_file

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "safetensors")


def f16_specials():
    # Bit patterns chosen to hit every branch of a half → float conversion.
    bits = [
        0x0000,  # +0
        0x8000,  # -0
        0x0001,  # smallest subnormal 2^-24
        0x8001,  # -2^-24
        0x03FF,  # largest subnormal
        0x0200,  # mid subnormal
        0x0400,  # smallest normal 2^-14
        0x3C00,  # 1
        0xBC00,  # -1
        0x3555,  # ~1/3
        0x7BFF,  # max 65504
        0xFBFF,  # -65504
        0x7C00,  # +inf
        0xFC00,  # -inf
        0x7E00,  # quiet nan
        0x7C01,  # signalling nan payload
        0xFE00,  # negative nan
    ]
    return torch.tensor(bits, dtype=torch.int32).to(torch.int16).view(torch.float16)


def main():
    torch.manual_seed(0)
    if os.path.isdir(OUT):
        shutil.rmtree(OUT)
    os.makedirs(OUT)

    t = {}
    t["f32"] = torch.randn(3, 4, dtype=torch.float32)
    t["f32_specials"] = torch.tensor(
        [0.0, -0.0, float("inf"), float("-inf"), float("nan"), 1e-45, 3.4028235e38, -1.5], dtype=torch.float32
    )
    t["f16"] = (torch.randn(2, 3, 5) * 100).to(torch.float16)
    t["f16_specials"] = f16_specials()
    t["f16_all"] = torch.arange(0, 65536, dtype=torch.int32).to(torch.int16).view(torch.float16)
    t["bf16"] = (torch.randn(4, 6) * 10).to(torch.bfloat16)
    t["bf16_specials"] = torch.tensor(
        [0.0, -0.0, float("inf"), float("-inf"), float("nan"), 1e-40, 3.0e38, 1.0 / 3.0], dtype=torch.float32
    ).to(torch.bfloat16)
    t["f64"] = torch.tensor([[0.1, -2.5e-10], [1e300, 1.0 / 3.0], [1e-50, -7.0]], dtype=torch.float64)
    t["i64"] = torch.tensor([0, 1, -1, 2**62, -(2**63), 2**63 - 1], dtype=torch.int64)
    t["i32"] = torch.tensor([[1, -2], [2**31 - 1, -(2**31)]], dtype=torch.int32)
    t["i16"] = torch.tensor([-32768, 32767, 5], dtype=torch.int16)
    t["i8"] = torch.tensor([-128, 127, 0], dtype=torch.int8)
    t["u8"] = torch.tensor([0, 255, 17], dtype=torch.uint8)
    t["bool"] = torch.tensor([True, False, True], dtype=torch.bool)
    t["scalar"] = torch.tensor(2.5, dtype=torch.float32)  # 0-d
    t["empty"] = torch.zeros(0, 3, dtype=torch.float32)
    t["logit_scale"] = torch.tensor(4.6052, dtype=torch.float16)  # 0-d half

    # One metadata key only: the Rust writer's HashMap would order several keys differently on each run.
    save_file(t, os.path.join(OUT, "dtypes.safetensors"), metadata={"note": "héllo \"goldens\""})

    expected = {}
    for name, v in t.items():
        if v.dtype.is_floating_point:
            expected[name] = v.float().contiguous()
        else:
            expected[name] = v.long().contiguous()
    save_file(expected, os.path.join(OUT, "expected.safetensors"))

    # A LLaVA-like checkpoint split in two shards; the projector lands alone in the second one.
    state = {
        "language_model.model.embed_tokens.weight": torch.randn(64, 16).to(torch.bfloat16),
        "language_model.lm_head.weight": torch.randn(64, 16).to(torch.bfloat16),
        "multi_modal_projector.linear_1.weight": torch.randn(8, 6).to(torch.float16),
        "multi_modal_projector.linear_1.bias": torch.randn(8).to(torch.float16),
        "multi_modal_projector.linear_2.weight": torch.randn(16, 8).to(torch.float16),
        "multi_modal_projector.linear_2.bias": torch.randn(16).to(torch.float16),
    }
    shard_dir = os.path.join(OUT, "sharded")
    os.makedirs(shard_dir)
    save_torch_state_dict(state, shard_dir, max_shard_size=4100, metadata={"format": "pt"})
    save_file({k: v.float() for k, v in state.items()}, os.path.join(OUT, "sharded_expected.safetensors"))

    for root, _, files in sorted(os.walk(OUT)):
        for f in sorted(files):
            p = os.path.join(root, f)
            print(os.path.relpath(p, OUT), os.path.getsize(p))


if __name__ == "__main__":
    main()
