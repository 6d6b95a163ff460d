"""Random checkpoints with a real checkpoint's processor files (tests, the GPU check)."""

from __future__ import annotations

import shutil
from pathlib import Path

from ..errors import PGFSelectError


def build_random_checkpoint(files_dir: str | Path, config: dict, out_dir: str | Path, *,
                            preprocessor: str = "preprocessor_config.json", seed: int = 0,
                            dtype: str = "float32", device: str = "cpu") -> Path:
    """A randomly initialised Qwen2.5-VL checkpoint folder with real processor files.

    ``files_dir`` holds a real checkpoint's tokenizer files, chat template and preprocessor
    config(s) (e.g. ``../shared/fixtures/qwen2.5-vl-processor``); ``config`` is a
    ``Qwen2_5_VLConfig`` as a dict (a tiny one for tests, the real 3B/7B sizes for the GPU check);
    ``preprocessor`` is the file saved as ``preprocessor_config.json`` (either form). It tokenizes
    and preprocesses exactly as the real checkpoint; only the weights are random. ``device``
    "cuda" initialises a billions-of-parameters model in seconds rather than CPU-minutes.
    """
    import torch
    from transformers import Qwen2_5_VLConfig, Qwen2_5_VLForConditionalGeneration

    files_dir, out_dir = Path(files_dir), Path(out_dir)
    if not (files_dir / preprocessor).is_file():
        raise PGFSelectError(f"{str(files_dir / preprocessor)!r} not found")
    out_dir.mkdir(parents=True, exist_ok=True)
    for name in ("vocab.json", "merges.txt", "tokenizer.json", "tokenizer_config.json", "chat_template.json",
                 "chat_template.jinja", "special_tokens_map.json"):
        if (files_dir / name).is_file():
            shutil.copyfile(files_dir / name, out_dir / name)
    shutil.copyfile(files_dir / preprocessor, out_dir / "preprocessor_config.json")
    cfg = {k: v for k, v in config.items() if k not in ("architectures", "dtype", "transformers_version", "model_type")}
    torch.manual_seed(seed)
    torch_dtype = getattr(torch, dtype)
    previous = torch.get_default_dtype()
    torch.set_default_dtype(torch_dtype)  # built in its dtype: no float32 copy of a 7B model
    try:
        with torch.device(device):
            model = Qwen2_5_VLForConditionalGeneration(Qwen2_5_VLConfig(**cfg))
    finally:
        torch.set_default_dtype(previous)
    model.save_pretrained(out_dir)
    del model
    return out_dir
