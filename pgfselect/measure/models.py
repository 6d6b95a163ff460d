"""Models and processors: the tiny local Qwen2.5-VL, local checkpoints, device and dtype, QLoRA.

``tiny:t64`` / ``tiny:t128`` is a randomly initialised Qwen2.5-VL (0.35 M / 1.5 M parameters)
built here in about a second, with a BPE tokenizer trained on the tasks' prompts: it needs no
hub and runs on CPU. A random base cannot be taught by LoRA alone (its tied embeddings keep all
logits near zero), so :func:`prepare_base` gives it a short full finetune on the mixed tasks
first, the stand-in for pretraining, and caches the result on disk under a hash of everything
that built it.

The stock Qwen2.5-VL processor needs a video processor, which needs torchvision, and the pinned
transformers rejects the older ``Qwen2_5_VLImageProcessor`` preprocessor form; :func:`load_processor`
builds an image-only processor (:func:`processor_class`) from the folder's files for both.
:func:`build_random_checkpoint` makes a random model with a real checkpoint's processor files.
"""

from __future__ import annotations

import gc
import json
import logging
import os
import shutil
import warnings
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources
from pathlib import Path

from ..errors import PGFSelectError
from .config import ModelConfig

SPECIAL_TOKENS = ["<|endoftext|>", "<|im_start|>", "<|im_end|>", "<|vision_start|>", "<|vision_end|>",
                  "<|vision_pad|>", "<|image_pad|>", "<|video_pad|>"]

# hidden size, text layers, attention heads, vision depth; mrope_section sums to head_dim / 2
TINY_SPECS = {
    "t64": dict(hidden=64, layers=2, heads=4, vision_depth=2, mrope=[4, 2, 2]),
    "t128": dict(hidden=128, layers=4, heads=4, vision_depth=2, mrope=[8, 4, 4]),
}
TINY_VOCAB = 512
# Small images keep the tiny model fast: at most 112 x 112 pixels = 16 visual tokens per image.
TINY_MIN_PIXELS, TINY_MAX_PIXELS = 56 * 56, 112 * 112


@lru_cache(maxsize=None)
def processor_class():
    """Qwen2.5-VL processor without the video sub-processor (that one needs torchvision),
    registered with AutoProcessor (without the registration, loading a saved tiny model silently
    returns only the tokenizer)."""
    from transformers import AutoProcessor, Qwen2_5_VLConfig, Qwen2_5_VLProcessor

    class ImageOnlyQwen2_5_VLProcessor(Qwen2_5_VLProcessor):
        def __init__(self, image_processor=None, tokenizer=None, chat_template=None, **kwargs):
            kwargs.pop("video_processor", None)
            super().__init__(image_processor, tokenizer, None, chat_template=chat_template, **kwargs)

    AutoProcessor.register(Qwen2_5_VLConfig, ImageOnlyQwen2_5_VLProcessor, exist_ok=True)
    return ImageOnlyQwen2_5_VLProcessor


def chat_template() -> str:
    """TRL's Qwen2.5-VL template, byte for byte, so TRL recognises it for completion-only loss."""
    return resources.files("trl").joinpath("chat_templates/qwen2_5_vl.jinja").read_text()


# ------------------------------------------------------------------ device and dtype
@dataclass(frozen=True)
class Runtime:
    device: str  # "cpu" or "cuda"
    dtype: str  # "float32", "bfloat16", "float16"

    @property
    def torch_dtype(self):
        import torch

        return getattr(torch, self.dtype)


def detect_runtime(cfg: ModelConfig) -> Runtime:
    """cuda when present (bf16 where supported), else CPU in float32."""
    import torch

    device = cfg.device
    if device == "auto":
        device = "cuda" if torch.cuda.is_available() else "cpu"
    elif device == "cuda" and not torch.cuda.is_available():
        raise PGFSelectError("model.device is 'cuda' but no CUDA device is visible; use 'auto' or 'cpu'")
    if device == "cpu" and cfg.cpu_threads:
        torch.set_num_threads(cfg.cpu_threads)
    dtype = cfg.dtype
    if dtype == "auto":
        dtype = "bfloat16" if device == "cuda" and torch.cuda.is_bf16_supported() else "float32"
    return Runtime(device, dtype)


# ------------------------------------------------------------------ tiny model
def build_tiny(size: str, texts: list[str], out_dir: str | Path, seed: int = 0,
               initializer_range: float | None = None) -> Path:
    """Build a random tiny Qwen2.5-VL with a BPE tokenizer trained on ``texts``; save to ``out_dir``.
    ``initializer_range``: weight-init std (None: transformers' default, 0.02)."""
    import torch
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast, Qwen2_5_VLConfig, Qwen2_5_VLForConditionalGeneration
    from transformers.models.qwen2_vl.image_processing_pil_qwen2_vl import Qwen2VLImageProcessorPil

    spec = TINY_SPECS[size]
    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    tok.train_from_iterator(sorted(set(texts)), trainers.BpeTrainer(
        vocab_size=TINY_VOCAB, special_tokens=SPECIAL_TOKENS, show_progress=False,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet()))
    template = chat_template()
    tokenizer = PreTrainedTokenizerFast(tokenizer_object=tok, eos_token="<|im_end|>", pad_token="<|endoftext|>")
    tokenizer.chat_template = template
    image_processor = Qwen2VLImageProcessorPil(
        size={"shortest_edge": TINY_MIN_PIXELS, "longest_edge": TINY_MAX_PIXELS})
    processor = processor_class()(image_processor, tokenizer, chat_template=template)

    ids = {t: tokenizer.convert_tokens_to_ids(t) for t in SPECIAL_TOKENS}
    h, heads = spec["hidden"], spec["heads"]
    init = {} if initializer_range is None else {"initializer_range": initializer_range}
    cfg = Qwen2_5_VLConfig(
        text_config=dict(vocab_size=len(tokenizer), hidden_size=h, intermediate_size=2 * h,
                         num_hidden_layers=spec["layers"], num_attention_heads=heads, num_key_value_heads=heads,
                         max_position_embeddings=4096,
                         rope_parameters={"rope_type": "default", "rope_theta": 1e4, "mrope_section": spec["mrope"]},
                         bos_token_id=ids["<|endoftext|>"], eos_token_id=ids["<|im_end|>"],
                         pad_token_id=ids["<|endoftext|>"], **init),
        vision_config=dict(depth=spec["vision_depth"], hidden_size=h, intermediate_size=2 * h, num_heads=heads,
                           out_hidden_size=h, patch_size=14, spatial_merge_size=2, temporal_patch_size=2,
                           window_size=112, fullatt_block_indexes=[spec["vision_depth"] - 1], **init),
        image_token_id=ids["<|image_pad|>"], video_token_id=ids["<|video_pad|>"],
        vision_start_token_id=ids["<|vision_start|>"], vision_end_token_id=ids["<|vision_end|>"],
        tie_word_embeddings=True, **init)
    torch.manual_seed(seed)
    model = Qwen2_5_VLForConditionalGeneration(cfg)
    model.generation_config.eos_token_id = ids["<|im_end|>"]
    model.generation_config.pad_token_id = ids["<|endoftext|>"]
    out_dir = Path(out_dir)
    model.save_pretrained(out_dir)
    processor.save_pretrained(out_dir)
    return out_dir


# ------------------------------------------------------------------ loading
# image_processor_type values of Qwen2-VL-family checkpoints. Qwen2_5_VLImageProcessor is the
# older form (early official Qwen2.5-VL snapshots, most AWQ/unsloth/finetuned copies) that the
# pinned transformers no longer knows: it is the same processor as Qwen2VLImageProcessor.
QWEN_VL_IMAGE_PROCESSORS = ("Qwen2VLImageProcessor", "Qwen2VLImageProcessorFast", "Qwen2VLImageProcessorPil",
                            "Qwen2_5_VLImageProcessor")
QWEN_VL_MODEL_TYPES = ("qwen2_vl", "qwen2_5_vl")
# Module-name pattern of the vision tower (its blocks and the merger), for the bitsandbytes skip
# list (matched from the start of a name) and PEFT's exclude_modules (a full match).
VISION_MODULES = r"(.*\.)?visual"


def _read_json(path: Path) -> dict:
    try:
        doc = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as exc:
        raise PGFSelectError(f"cannot read {str(path)!r}: {str(exc).splitlines()[0]}") from None
    if not isinstance(doc, dict):
        raise PGFSelectError(f"{str(path)!r} is not a JSON object")
    return doc


def load_processor(path: str, cfg: ModelConfig):
    """An image-only Qwen2-VL-family processor for the checkpoint folder ``path``.

    Built from its tokenizer, its ``preprocessor_config.json`` (either form of
    ``image_processor_type``; always the PIL backend, which needs no torchvision) and its chat
    template (``chat_template.json``/``.jinja``, else TRL's Qwen2.5-VL template). The stock
    AutoProcessor is not used: it needs a video processor (torchvision) and rejects the older form.
    """
    from transformers import AutoTokenizer
    from transformers.models.qwen2_vl.image_processing_pil_qwen2_vl import Qwen2VLImageProcessorPil

    folder = Path(path)
    model_type = _read_json(folder / "config.json").get("model_type")
    if model_type not in QWEN_VL_MODEL_TYPES:
        raise PGFSelectError(f"{str(folder / 'config.json')!r}: model_type {model_type!r} is not supported; "
                             f"valid: {', '.join(QWEN_VL_MODEL_TYPES)} (Qwen2-VL / Qwen2.5-VL checkpoints)")
    # Checkpoints keep the image processor settings in preprocessor_config.json; transformers 5
    # saves them inside processor_config.json (our tiny models).
    pre_path = folder / "preprocessor_config.json"
    if pre_path.is_file():
        pre = _read_json(pre_path)
        field = "image_processor_type"
    elif (folder / "processor_config.json").is_file():
        pre_path = folder / "processor_config.json"
        pre = _read_json(pre_path).get("image_processor") or {}
        field = "image_processor.image_processor_type"
    else:
        raise PGFSelectError(f"{str(pre_path)!r} not found: a Qwen2-VL-family checkpoint folder carries its "
                             "image processor settings there")
    kind = pre.get("image_processor_type")
    if kind not in QWEN_VL_IMAGE_PROCESSORS:
        raise PGFSelectError(f"{str(pre_path)!r}: {field} {kind!r} is not a Qwen2-VL-family image "
                             f"processor; valid: {', '.join(QWEN_VL_IMAGE_PROCESSORS)}")
    # This class whatever the file names (the older name is the same processor).
    image_processor = Qwen2VLImageProcessorPil.from_dict(
        {k: v for k, v in pre.items() if k not in ("image_processor_type", "processor_class")})
    try:
        tokenizer = AutoTokenizer.from_pretrained(path)
    except (OSError, ValueError) as exc:
        raise PGFSelectError(f"cannot load the tokenizer from {path!r}: {str(exc).splitlines()[0]}") from None
    template = _folder_chat_template(folder) or getattr(tokenizer, "chat_template", None) or chat_template()
    proc = processor_class()(image_processor, tokenizer, chat_template=template)
    if cfg.min_pixels or cfg.max_pixels:
        size = dict(proc.image_processor.size or {})
        if cfg.min_pixels:
            size["shortest_edge"] = cfg.min_pixels
        if cfg.max_pixels:
            size["longest_edge"] = cfg.max_pixels
        proc.image_processor.size = size
    return proc


def _folder_chat_template(folder: Path) -> str | None:
    """The checkpoint's own chat template (transformers 5 keeps it beside the tokenizer files)."""
    if (folder / "chat_template.jinja").is_file():
        return (folder / "chat_template.jinja").read_text()
    if (folder / "chat_template.json").is_file():
        return _read_json(folder / "chat_template.json").get("chat_template")
    return None


def load_model(path: str, cfg: ModelConfig, runtime: Runtime, quantize_4bit: bool = False,
               quantize_vision: bool = False):
    """A Qwen2.5-VL / Qwen2-VL model for training or scoring, on the runtime's device and dtype.

    ``quantize_4bit``: bitsandbytes NF4 (GPU or CPU). The vision tower stays unquantized unless
    ``quantize_vision`` (it is small, and 4-bit rounding of its features hurts every answer).
    ``cfg.device_map == "auto"`` spreads the model over the visible GPUs (accelerate).
    """
    from transformers import AutoModelForImageTextToText

    kwargs = dict(dtype=runtime.torch_dtype)
    if cfg.attn_implementation:
        kwargs["attn_implementation"] = cfg.attn_implementation
    if quantize_4bit:
        try:
            import bitsandbytes  # noqa: F401
        except ImportError:
            raise PGFSelectError("training.method 'qlora' needs bitsandbytes: pip install 'pgfselect[qlora]'") from None
        from transformers import BitsAndBytesConfig

        # An explicit skip list replaces transformers' default one, so lm_head is named again.
        skip = ["lm_head"] + ([] if quantize_vision else [VISION_MODULES])
        kwargs["quantization_config"] = BitsAndBytesConfig(
            load_in_4bit=True, bnb_4bit_quant_type="nf4", bnb_4bit_use_double_quant=True,
            bnb_4bit_compute_dtype=runtime.torch_dtype, llm_int8_skip_modules=skip)
    if cfg.device_map == "auto":
        kwargs["device_map"] = "auto"
    elif quantize_4bit:  # bitsandbytes places the weights while it loads them
        kwargs["device_map"] = {"": 0} if runtime.device == "cuda" else "cpu"
    try:
        model = AutoModelForImageTextToText.from_pretrained(path, **kwargs)
    except (OSError, ValueError) as exc:
        raise PGFSelectError(f"cannot load model from {path!r}: {str(exc).splitlines()[0]}") from None
    if "device_map" not in kwargs:
        model.to(runtime.device)
    return model


def release_memory() -> None:
    """Free what the last cell left: unreachable models and optimizer state (reference cycles in
    the trainer keep them alive until a collection) and PyTorch's cached CUDA blocks."""
    import torch

    gc.collect()
    if torch.cuda.is_available():
        torch.cuda.empty_cache()


# ------------------------------------------------------------------ random checkpoints
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


def quiet_libraries() -> None:
    """Keep library chatter (progress bars, deprecation notes, bitsandbytes' note about an optional
    CPU kernel) out of the measure progress display. Call before importing transformers."""
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    for name in ("bitsandbytes", "trl", "peft", "accelerate", "datasets", "transformers"):
        logging.getLogger(name).setLevel(logging.ERROR)
    warnings.filterwarnings("ignore", module=r"(transformers|trl|peft|accelerate|torch)\b")
    from transformers.utils import logging as hf_logging

    hf_logging.set_verbosity_error()
    hf_logging.disable_progress_bar()
