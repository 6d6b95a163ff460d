"""Models and processors: tiny local models, local checkpoints of any VLM family, device and dtype, QLoRA.

``tiny:t64`` / ``tiny:t128`` is a randomly initialised Qwen2.5-VL (0.35 M / 1.5 M parameters)
built here in about a second, with a BPE tokenizer trained on the tasks' prompts: it needs no
hub and runs on CPU. A random base cannot be taught by LoRA alone (its tied embeddings keep all
logits near zero), so :func:`prepare_base` gives it a short full finetune on the mixed tasks
first, the stand-in for pretraining, and caches the result on disk under a hash of everything
that built it.

``tiny:qwen3-vl``, ``tiny:gemma3``, ``tiny:smolvlm``, ``tiny:llava-onevision`` and
``tiny:internvl`` are tiny random models of those families (:mod:`.tiny_families`).

Many stock processors (Qwen2/2.5/3-VL, SmolVLM, LLaVA-OneVision, InternVL) need a video
processor, which needs torchvision, and the pinned transformers rejects the older
``Qwen2_5_VLImageProcessor`` preprocessor form; :func:`load_processor` builds the checkpoint's own
processor class without its video sub-processor (:func:`image_only_class`) from the folder's files.
:func:`.checkpoints.build_random_checkpoint` makes a random model with a real checkpoint's processor files.
"""

from __future__ import annotations

import gc
import json
import logging
import os
import warnings
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources
from pathlib import Path

from ..errors import PGFSelectError
from .config import ModelConfig
from .processors import IMAGE_ONLY, image_only_class, register_processor

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
# The older image_processor_type of Qwen2.5-VL checkpoints (early official snapshots, most
# AWQ/unsloth/finetuned copies) that the pinned transformers no longer knows: it is the same
# processor as Qwen2VLImageProcessor.
IMAGE_PROCESSOR_ALIASES = {"Qwen2_5_VLImageProcessor": "Qwen2VLImageProcessor"}
# Qwen-style image processors: resolution bounded by pixels per image (size shortest/longest edge).
PIXEL_BOUND_IMAGE_PROCESSORS = ("Qwen2VLImageProcessor",)
# Module-name pattern of the vision tower of Qwen2-VL-family models, kept for the callers that
# have no model at hand; :func:`vision_module_pattern` finds the pattern from the model itself.
VISION_MODULES = r"(.*\.)?visual"


def vision_module_names(model) -> list[str]:
    """Names of the vision side of a VLM (its tower, projector/merger/connector and any loose
    vision parameters such as LLaVA-OneVision's ``image_newline``), found from the model: every
    child of the base model other than the language model. E.g. ``visual`` (Qwen2-VL family),
    ``vision_tower`` + ``multi_modal_projector`` (Gemma 3, LLaVA-OneVision, InternVL),
    ``vision_model`` + ``connector`` (SmolVLM)."""
    base = getattr(model, "model", None)
    language = None
    if base is not None:
        language = getattr(base, "language_model", None) or getattr(base, "text_model", None)
        if language is None and hasattr(base, "get_decoder"):
            language = base.get_decoder()
    if base is None or language is None or language is base:
        raise PGFSelectError(f"{type(model).__name__}: no language model under .model (language_model, "
                             "text_model); cannot tell its vision tower from its language model")
    names = [n for n, m in base.named_children() if m is not language]
    names += [n for n, _ in base.named_parameters(recurse=False)]
    if not names:
        raise PGFSelectError(f"{type(model).__name__}: no vision modules found beside its language model")
    return sorted(names)


def vision_module_pattern(model) -> str:
    """Regex of the vision modules' names (matched from the start of a full module name)."""
    import re

    return rf"(.*\.)?({'|'.join(re.escape(n) for n in vision_module_names(model))})"


def _vision_pattern_for(path: str) -> str:
    """:func:`vision_module_pattern` of the checkpoint at ``path``, from an empty (meta) model."""
    import torch
    from transformers import AutoConfig, AutoModelForImageTextToText

    with torch.device("meta"):
        skeleton = AutoModelForImageTextToText.from_config(AutoConfig.from_pretrained(path))
    return vision_module_pattern(skeleton)


def _read_json(path: Path) -> dict:
    try:
        doc = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as exc:
        raise PGFSelectError(f"cannot read {str(path)!r}: {str(exc).splitlines()[0]}") from None
    if not isinstance(doc, dict):
        raise PGFSelectError(f"{str(path)!r} is not a JSON object")
    return doc


def _processor_files(folder: Path) -> tuple[dict, dict, Path]:
    """(processor settings, image processor settings, the file they came from).

    transformers 5 saves both in processor_config.json (the image processor under
    ``image_processor``); older checkpoints keep the image processor in preprocessor_config.json."""
    proc_path, pre_path = folder / "processor_config.json", folder / "preprocessor_config.json"
    proc = _read_json(proc_path) if proc_path.is_file() else {}
    if isinstance(proc.get("image_processor"), dict):
        return proc, proc["image_processor"], proc_path
    if pre_path.is_file():
        return proc, _read_json(pre_path), pre_path
    raise PGFSelectError(f"{str(pre_path)!r} not found: a vision-language checkpoint folder carries its "
                         "image processor settings there (or in processor_config.json)")


def resolve_processor_class(folder: Path, model_type: str, settings: dict, image_settings: dict):
    """The checkpoint's own processor class: the ``processor_class`` its files name, else the one
    transformers maps its ``model_type`` to. Never another family's class."""
    from transformers.models.auto.processing_auto import PROCESSOR_MAPPING_NAMES, processor_class_from_name

    tok_path = folder / "tokenizer_config.json"
    tok = _read_json(tok_path) if tok_path.is_file() else {}
    name = settings.get("processor_class") or image_settings.get("processor_class") or tok.get("processor_class")
    if name and name.startswith(IMAGE_ONLY):
        name = name[len(IMAGE_ONLY):]
    name = name or PROCESSOR_MAPPING_NAMES.get(model_type)
    if not name:
        raise PGFSelectError(f"checkpoint {str(folder)!r}: model_type {model_type!r} has no processor class in "
                             "transformers and its files name none (processor_class)")
    cls = processor_class_from_name(name)
    if cls is None or getattr(cls, "is_dummy", False) or not hasattr(cls, "get_attributes"):
        raise PGFSelectError(f"checkpoint {str(folder)!r}: processor class {name!r} is not available in the "
                             "installed transformers")
    return cls


@lru_cache(maxsize=None)
def processor_class():
    """The image-only Qwen2.5-VL processor (kept for callers that build one by hand)."""
    from transformers import Qwen2_5_VLProcessor

    cls = image_only_class(Qwen2_5_VLProcessor)
    register_processor("qwen2_5_vl", cls)
    return cls


def _base_name(name: str) -> str:
    name = IMAGE_PROCESSOR_ALIASES.get(name, name)
    for suffix in ("Fast", "Pil"):
        if name.endswith(suffix):
            return name[:-len(suffix)]
    return name


def _image_processor(settings: dict, where: Path, model_type: str):
    """The image processor the settings name, always its PIL backend (no torchvision needed);
    it must be the one transformers pairs with ``model_type`` where it pairs one."""
    import transformers
    from transformers.models.auto.image_processing_auto import IMAGE_PROCESSOR_MAPPING_NAMES

    kind = settings.get("image_processor_type")
    if not kind:
        raise PGFSelectError(f"{str(where)!r}: no image_processor_type")
    base = _base_name(kind)
    expected = {_base_name(n) for n in (IMAGE_PROCESSOR_MAPPING_NAMES.get(model_type) or {}).values() if n}
    if expected and base not in expected:
        raise PGFSelectError(f"{str(where)!r}: image_processor_type {kind!r} is not the image processor of "
                             f"model_type {model_type!r}; valid: {', '.join(sorted(expected))}")
    cls = None
    for name in (base + "Pil", base):
        candidate = getattr(transformers, name, None)
        if candidate is not None and not getattr(candidate, "is_dummy", False):
            cls = candidate
            break
    if cls is None:
        raise PGFSelectError(f"{str(where)!r}: image_processor_type {kind!r} has no PIL image processor in the "
                             "installed transformers")
    return cls.from_dict({k: v for k, v in settings.items() if k not in ("image_processor_type", "processor_class")})


def apply_resolution(image_processor, cfg: ModelConfig) -> None:
    """``model.min_pixels``/``max_pixels`` for Qwen-style (pixel-bounded) image processors,
    ``model.image_size`` (the processor's own ``size`` keys) for any; a setting that does not
    apply is a one-line error."""
    name = type(image_processor).__name__
    base = name[:-3] if name.endswith("Pil") else name
    size = dict(getattr(image_processor, "size", None) or {})
    if cfg.min_pixels or cfg.max_pixels:
        if base not in PIXEL_BOUND_IMAGE_PROCESSORS:
            raise PGFSelectError(f"model.min_pixels/max_pixels apply to Qwen-style image processors only; {name} "
                                 f"sizes images by {', '.join(sorted(size)) or 'fixed settings'}: "
                                 "use model.image_size with those keys")
        if cfg.min_pixels:
            size["shortest_edge"] = cfg.min_pixels
        if cfg.max_pixels:
            size["longest_edge"] = cfg.max_pixels
    if cfg.image_size:
        unknown = sorted(set(cfg.image_size) - set(size))
        if unknown:
            raise PGFSelectError(f"model.image_size key {unknown[0]!r} does not apply to {name}; "
                                 f"valid: {', '.join(sorted(size)) or 'none'}")
        size.update(cfg.image_size)
    if size:
        image_processor.size = size
        if base in PIXEL_BOUND_IMAGE_PROCESSORS:  # its pixel bounds mirror size
            for attr, key in (("min_pixels", "shortest_edge"), ("max_pixels", "longest_edge")):
                if hasattr(image_processor, attr) and key in size:
                    setattr(image_processor, attr, size[key])


def load_processor(path: str, cfg: ModelConfig):
    """The checkpoint's own processor (its ``processor_class``, else the class transformers maps
    its ``model_type`` to), image-only: the video sub-processor, which needs torchvision, is left
    out. Built from the folder's tokenizer, its image processor settings (any form of
    ``image_processor_type``; always the PIL backend), the processor's own settings
    (``image_seq_len``, ``num_image_tokens``, ...) and the checkpoint's chat template (Qwen2-VL
    family only: TRL's Qwen2.5-VL template when the folder has none).
    """
    import inspect

    from transformers import AutoTokenizer

    folder = Path(path)
    model_type = _read_json(folder / "config.json").get("model_type")
    settings, image_settings, where = _processor_files(folder)
    cls = resolve_processor_class(folder, model_type, settings, image_settings)
    sub = image_only_class(cls)
    if sub is not cls:
        register_processor(model_type, sub)
    image_processor = _image_processor(image_settings, where, model_type)
    try:
        tokenizer = AutoTokenizer.from_pretrained(path)
    except (OSError, ValueError) as exc:
        raise PGFSelectError(f"cannot load the tokenizer from {path!r}: {str(exc).splitlines()[0]}") from None
    template = _folder_chat_template(folder) or getattr(tokenizer, "chat_template", None)
    if not template and cls.__name__ in ("Qwen2VLProcessor", "Qwen2_5_VLProcessor"):
        template = chat_template()
    if not template:
        raise PGFSelectError(f"checkpoint {path!r} has no chat template (chat_template.jinja/.json or in "
                             "tokenizer_config.json)")
    params = inspect.signature(sub.__init__).parameters
    own = {k: v for k, v in settings.items()
           if k in params and k not in ("self", "image_processor", "tokenizer", "video_processor", "chat_template")}
    try:
        proc = sub(image_processor=image_processor, tokenizer=tokenizer, chat_template=template, **own)
    except (AttributeError, TypeError, ValueError, ImportError) as exc:
        raise PGFSelectError(f"checkpoint {path!r}: cannot build {cls.__name__}: "
                             f"{str(exc).splitlines()[0]}") from None
    apply_resolution(proc.image_processor, cfg)
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
    """The checkpoint's image-text-to-text model for training or scoring, on the runtime's device and dtype.

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
        skip = ["lm_head"] + ([] if quantize_vision else [_vision_pattern_for(path)])
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
