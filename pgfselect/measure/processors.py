"""Image-only processor classes: a VLM family's own processor without its video sub-processor.

No torch or transformers at import (they load inside the functions).
"""

from __future__ import annotations

import inspect
from functools import lru_cache

from ..errors import PGFSelectError

# Prefix of the image-only processor classes made here (saved in processor_config.json).
IMAGE_ONLY = "ImageOnly"


def image_only_class(cls):
    """``cls`` without its video sub-processor (that one needs torchvision; only images are used),
    or ``cls`` itself when it has none. Its callers register it (:func:`register_processor`): without
    the registration, AutoProcessor on a saved model silently returns only the tokenizer."""
    return _image_only_class(cls)


@lru_cache(maxsize=None)
def _image_only_class(cls):

    attributes = cls.get_attributes()
    kept = [a for a in attributes if a != "video_processor"]
    if set(kept) != {"image_processor", "tokenizer"}:
        raise PGFSelectError(f"processor class {cls.__name__!r} has sub-processors {', '.join(attributes)}; "
                             "supported: an image processor and a tokenizer (and a video processor, left out)")
    if len(kept) == len(attributes):
        return cls
    parent_init = cls.__init__

    def __init__(self, image_processor=None, tokenizer=None, chat_template=None, **kwargs):
        kwargs.pop("video_processor", None)
        parent_init(self, image_processor=image_processor, tokenizer=tokenizer, video_processor=None,
                    chat_template=chat_template, **kwargs)

    # the parent's own settings (image_seq_len, num_image_tokens, ...) stay in the signature
    extra = [p for n, p in inspect.signature(parent_init).parameters.items()
             if n not in ("self", "image_processor", "tokenizer", "video_processor", "chat_template")
             and p.kind is p.POSITIONAL_OR_KEYWORD]
    __init__.__signature__ = inspect.Signature(
        [inspect.Parameter("self", inspect.Parameter.POSITIONAL_OR_KEYWORD)]
        + [inspect.Parameter(n, inspect.Parameter.POSITIONAL_OR_KEYWORD, default=None)
           for n in ("image_processor", "tokenizer", "chat_template")]
        + [p.replace(kind=inspect.Parameter.KEYWORD_ONLY) for p in extra]
        + [inspect.Parameter("kwargs", inspect.Parameter.VAR_KEYWORD)])
    body = {"__init__": __init__, "__module__": __name__,
            "__doc__": f"{cls.__name__} without the video sub-processor."}
    try:
        own_template = "video_processor" in inspect.getsource(cls.apply_chat_template)
    except (OSError, TypeError):
        own_template = False
    if own_template:  # SmolVLM's reads video defaults from its video processor: images need none
        from transformers.processing_utils import ProcessorMixin

        def apply_chat_template(self, conversation, chat_template=None, **kwargs):
            return ProcessorMixin.apply_chat_template(self, conversation, chat_template, **kwargs)

        body["apply_chat_template"] = apply_chat_template
    return type(IMAGE_ONLY + cls.__name__, (cls,), body)


def register_processor(model_type: str, cls) -> None:
    """Register ``cls`` with AutoProcessor for ``model_type``'s config class (where transformers knows it)."""
    from transformers import AutoProcessor
    from transformers.models.auto.configuration_auto import CONFIG_MAPPING

    try:
        AutoProcessor.register(CONFIG_MAPPING[model_type], cls, exist_ok=True)
    except (KeyError, ValueError):
        pass
