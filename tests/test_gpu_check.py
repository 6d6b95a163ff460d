"""benchmarks/gpu_check.py builds random models with the real Qwen2.5-VL sizes: check its
architecture tables against the published parameter counts (built on the meta device: no memory)."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def gpu_check():
    spec = importlib.util.spec_from_file_location("gpu_check", ROOT / "benchmarks" / "gpu_check.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


# Parameter counts of the official checkpoints (model cards: 3.75B and 8.29B).
@pytest.mark.parametrize("size, params", [("3b", 3_754_622_976), ("7b", 8_292_166_656)])
def test_architecture_tables_match_the_published_sizes(size, params):
    import torch
    from transformers import Qwen2_5_VLConfig, Qwen2_5_VLForConditionalGeneration

    with torch.device("meta"):
        model = Qwen2_5_VLForConditionalGeneration(Qwen2_5_VLConfig(**gpu_check().ARCH[size]))
    assert sum(p.numel() for p in model.parameters()) == params
