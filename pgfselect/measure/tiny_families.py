"""Tiny random VLMs of other families than Qwen2.5-VL, built locally in seconds (no hub).

Each is its family's own model class, processor class, image processor (PIL backend) and chat
template (the shape of the released one: where images go, how the assistant turn starts, BOS),
with a small BPE tokenizer carrying the family's special tokens. Hidden size 32-64, one or two
layers, images of 28-56 pixels: they exist to test that measure, train and scoring work for the
family, not to learn much. ``tiny:t64``/``tiny:t128`` (Qwen2.5-VL) stay in :mod:`.models`.
"""

from __future__ import annotations

from pathlib import Path

from .processors import image_only_class, register_processor

FAMILIES = ("qwen3-vl", "gemma3", "smolvlm", "llava-onevision", "internvl")
VOCAB = 512
H = 64  # hidden size of the language model

# ------------------------------------------------------------------ chat templates
QWEN3_VL_TEMPLATE = (
    "{%- for message in messages %}<|im_start|>{{ message['role'] }}\n"
    "{%- if message['content'] is string %}{{ message['content'] }}{%- else %}"
    "{%- for c in message['content'] %}{%- if c['type'] == 'image' %}<|vision_start|><|image_pad|><|vision_end|>"
    "{%- elif c['type'] == 'text' %}{{ c['text'] }}{%- endif %}{%- endfor %}{%- endif %}<|im_end|>\n"
    "{%- endfor %}{%- if add_generation_prompt %}<|im_start|>assistant\n{%- endif %}")
# Gemma 3: the template writes <bos> itself (so tokenizing with special tokens would add a second);
# the assistant role is "model"; images are <start_of_image>.
GEMMA3_TEMPLATE = (
    "{{ bos_token }}{%- for message in messages %}"
    "{%- set role = 'model' if message['role'] == 'assistant' else message['role'] %}"
    "<start_of_turn>{{ role }}\n"
    "{%- if message['content'] is string %}{{ message['content'] | trim }}{%- else %}"
    "{%- for c in message['content'] %}{%- if c['type'] == 'image' %}<start_of_image>"
    "{%- elif c['type'] == 'text' %}{{ c['text'] | trim }}{%- endif %}{%- endfor %}{%- endif %}"
    "<end_of_turn>\n{%- endfor %}{%- if add_generation_prompt %}<start_of_turn>model\n{%- endif %}")
# SmolVLM / Idefics3: "User:<image>question<end_of_utterance>\nAssistant: C<end_of_utterance>\n",
# the generation prompt "Assistant:", so the answer trained is " C".
SMOLVLM_TEMPLATE = (
    "<|im_start|>{%- for message in messages %}{{ message['role'] | capitalize }}"
    "{%- if message['content'][0]['type'] == 'image' %}{{ ':' }}{%- else %}{{ ': ' }}{%- endif %}"
    "{%- for c in message['content'] %}{%- if c['type'] == 'text' %}{{ c['text'] }}"
    "{%- elif c['type'] == 'image' %}{{ '<image>' }}{%- endif %}{%- endfor %}<end_of_utterance>\n"
    "{%- endfor %}{%- if add_generation_prompt %}{{ 'Assistant:' }}{%- endif %}")
LLAVA_ONEVISION_TEMPLATE = (
    "{%- for message in messages %}<|im_start|>{{ message['role'] + ' ' }}"
    "{%- for c in message['content'] %}{%- if c['type'] == 'image' %}{{ '<image>\n' }}{%- endif %}{%- endfor %}"
    "{%- for c in message['content'] %}{%- if c['type'] == 'text' %}{{ '\n' + c['text'] }}{%- endif %}{%- endfor %}"
    "<|im_end|>{%- endfor %}{%- if add_generation_prompt %}<|im_start|>assistant\n{%- endif %}")
INTERNVL_TEMPLATE = (
    "{%- for message in messages %}<|im_start|>{{ message['role'] }}\n"
    "{%- if message['content'] is string %}{{ message['content'] }}{%- else %}"
    "{%- for c in message['content'] %}{%- if c['type'] == 'image' %}<IMG_CONTEXT>\n"
    "{%- elif c['type'] == 'text' %}{{ c['text'] }}{%- endif %}{%- endfor %}{%- endif %}<|im_end|>\n"
    "{%- endfor %}{%- if add_generation_prompt %}<|im_start|>assistant\n{%- endif %}")


def _tokenizer(texts, specials, *, bos=None, eos, pad, extra=None, add_bos=False):
    """A byte-level BPE tokenizer trained on ``texts`` (and the option letters after a space, as
    templates such as SmolVLM's train them) with the family's special tokens."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors, trainers
    from transformers import PreTrainedTokenizerFast

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    corpus = sorted(set(texts)) + [" A B C D E F", "User: Assistant: user model assistant"]
    tok.train_from_iterator(corpus, trainers.BpeTrainer(
        vocab_size=VOCAB, special_tokens=specials, show_progress=False,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet()))
    if add_bos:  # the tokenizer adds <bos> itself, as Gemma's does
        tok.post_processor = processors.TemplateProcessing(single=f"{bos} $A", pair=f"{bos} $A $B",
                                                           special_tokens=[(bos, tok.token_to_id(bos))])
    kw = {"bos_token": bos} if bos else {}
    return PreTrainedTokenizerFast(tokenizer_object=tok, eos_token=eos, pad_token=pad,
                                   extra_special_tokens=extra or {}, **kw)


def _ids(tokenizer, *tokens):
    return [tokenizer.convert_tokens_to_ids(t) for t in tokens]


def _text(tokenizer, **extra):
    """A tiny decoder config (the language model of every family here)."""
    return dict(vocab_size=len(tokenizer), hidden_size=H, intermediate_size=2 * H, num_hidden_layers=2,
                num_attention_heads=4, num_key_value_heads=2, head_dim=H // 4, max_position_embeddings=4096,
                pad_token_id=tokenizer.pad_token_id, eos_token_id=tokenizer.eos_token_id,
                bos_token_id=tokenizer.bos_token_id, **extra)


def _siglip(image_size, patch_size):
    return dict(hidden_size=32, intermediate_size=64, num_hidden_layers=1, num_attention_heads=2,
                image_size=image_size, patch_size=patch_size)


# ------------------------------------------------------------------ families
def _qwen3_vl(texts):
    from transformers import Qwen3VLConfig, Qwen3VLForConditionalGeneration, Qwen3VLProcessor
    from transformers.models.qwen2_vl.image_processing_pil_qwen2_vl import Qwen2VLImageProcessorPil

    specials = ["<|endoftext|>", "<|im_start|>", "<|im_end|>", "<|vision_start|>", "<|vision_end|>",
                "<|image_pad|>", "<|video_pad|>"]
    tok = _tokenizer(texts, specials, eos="<|im_end|>", pad="<|endoftext|>")
    image, video, vs, ve = _ids(tok, "<|image_pad|>", "<|video_pad|>", "<|vision_start|>", "<|vision_end|>")
    # 16 px patches, 2x2 merge: at most 64 x 64 px = 4 tokens... 16 visual tokens at 128 x 128
    ip = Qwen2VLImageProcessorPil(patch_size=16, merge_size=2, temporal_patch_size=2,
                                  size={"shortest_edge": 32 * 32, "longest_edge": 64 * 64})
    cfg = Qwen3VLConfig(
        text_config=_text(tok, rope_parameters={"rope_type": "default", "rope_theta": 1e4,
                                                "mrope_section": [4, 2, 2], "mrope_interleaved": True}),
        vision_config=dict(depth=2, hidden_size=32, intermediate_size=64, num_heads=2, out_hidden_size=H,
                           patch_size=16, spatial_merge_size=2, temporal_patch_size=2, num_position_embeddings=64,
                           deepstack_visual_indexes=[0]),
        image_token_id=image, video_token_id=video, vision_start_token_id=vs, vision_end_token_id=ve,
        tie_word_embeddings=True)
    return Qwen3VLForConditionalGeneration, cfg, Qwen3VLProcessor, ip, tok, QWEN3_VL_TEMPLATE, {}


def _gemma3(texts):
    from transformers import Gemma3Config, Gemma3ForConditionalGeneration, Gemma3Processor
    from transformers.models.gemma3.image_processing_pil_gemma3 import Gemma3ImageProcessorPil

    specials = ["<pad>", "<eos>", "<bos>", "<start_of_turn>", "<end_of_turn>", "<start_of_image>",
                "<end_of_image>", "<image_soft_token>"]
    tok = _tokenizer(texts, specials, bos="<bos>", eos="<eos>", pad="<pad>", add_bos=True,
                     extra={"boi_token": "<start_of_image>", "eoi_token": "<end_of_image>",
                            "image_token": "<image_soft_token>"})
    boi, eoi, image = _ids(tok, "<start_of_image>", "<end_of_image>", "<image_soft_token>")
    # 56 px images, 14 px patches: 4 x 4 patches pooled to 2 x 2 = 4 image tokens
    ip = Gemma3ImageProcessorPil(size={"height": 56, "width": 56}, do_pan_and_scan=False)
    cfg = Gemma3Config(
        text_config=_text(tok, sliding_window=64, rope_parameters=None, query_pre_attn_scalar=16),
        vision_config=_siglip(56, 14), mm_tokens_per_image=4,
        boi_token_index=boi, eoi_token_index=eoi, image_token_index=image, tie_word_embeddings=True)
    return Gemma3ForConditionalGeneration, cfg, Gemma3Processor, ip, tok, GEMMA3_TEMPLATE, {"image_seq_length": 4}


def _smolvlm(texts):
    from transformers import SmolVLMConfig, SmolVLMForConditionalGeneration, SmolVLMProcessor
    from transformers.models.smolvlm.image_processing_pil_smolvlm import SmolVLMImageProcessorPil

    specials = ["<|endoftext|>", "<|im_start|>", "<end_of_utterance>", "<image>", "<fake_token_around_image>",
                "<global-img>", "<video>"] + [f"<row_{r}_col_{c}>" for r in (1, 2) for c in (1, 2)]
    tok = _tokenizer(texts, specials, bos="<|im_start|>", eos="<end_of_utterance>", pad="<|endoftext|>",
                     extra={"image_token": "<image>", "fake_image_token": "<fake_token_around_image>",
                            "global_image_token": "<global-img>", "end_of_utterance_token": "<end_of_utterance>"})
    (image,) = _ids(tok, "<image>")
    # one global 32 px image (no splitting), 8 px patches, pixel shuffle 2: 4 image tokens
    ip = SmolVLMImageProcessorPil(size={"longest_edge": 32}, max_image_size={"longest_edge": 32},
                                  do_image_splitting=False)
    cfg = SmolVLMConfig(text_config=dict(_text(tok), model_type="llama"), vision_config=_siglip(32, 8),
                        scale_factor=2, image_token_id=image, tie_word_embeddings=True)
    return SmolVLMForConditionalGeneration, cfg, SmolVLMProcessor, ip, tok, SMOLVLM_TEMPLATE, {"image_seq_len": 4}


def _llava_onevision(texts):
    from transformers import (LlavaOnevisionConfig, LlavaOnevisionForConditionalGeneration,
                              LlavaOnevisionProcessor)
    from transformers.models.llava_onevision.image_processing_pil_llava_onevision import (
        LlavaOnevisionImageProcessorPil)

    specials = ["<|endoftext|>", "<|im_start|>", "<|im_end|>", "<image>", "<video>"]
    tok = _tokenizer(texts, specials, eos="<|im_end|>", pad="<|endoftext|>")
    image, video = _ids(tok, "<image>", "<video>")
    # 28 px base image + one 28 px tile, 14 px patches: 2 x 2 tokens each, plus newline tokens
    ip = LlavaOnevisionImageProcessorPil(size={"height": 28, "width": 28}, crop_size={"height": 28, "width": 28},
                                         image_grid_pinpoints=[[28, 28]])
    cfg = LlavaOnevisionConfig(text_config=dict(_text(tok), model_type="qwen2"), vision_config=dict(
        _siglip(28, 14), model_type="siglip_vision_model"), image_token_id=image, video_token_id=video,
        vision_feature_select_strategy="full", vision_feature_layer=-1, image_grid_pinpoints=[[28, 28]],
        vision_aspect_ratio="anyres_max_9", tie_word_embeddings=True)
    own = {"num_image_tokens": 4, "vision_feature_select_strategy": "full"}
    return LlavaOnevisionForConditionalGeneration, cfg, LlavaOnevisionProcessor, ip, tok, LLAVA_ONEVISION_TEMPLATE, own


def _internvl(texts):
    from transformers import InternVLConfig, InternVLForConditionalGeneration, InternVLProcessor
    from transformers.models.got_ocr2.image_processing_pil_got_ocr2 import GotOcr2ImageProcessorPil

    specials = ["<|endoftext|>", "<|im_start|>", "<|im_end|>", "<img>", "</img>", "<IMG_CONTEXT>", "<video>"]
    tok = _tokenizer(texts, specials, eos="<|im_end|>", pad="<|endoftext|>",
                     extra={"start_image_token": "<img>", "end_image_token": "</img>",
                            "context_image_token": "<IMG_CONTEXT>", "video_token": "<video>"})
    (image,) = _ids(tok, "<IMG_CONTEXT>")
    # one 56 px image (no tiling), 14 px patches, pixel shuffle 0.5: 4 image tokens
    ip = GotOcr2ImageProcessorPil(size={"height": 56, "width": 56}, crop_to_patches=False)
    cfg = InternVLConfig(
        text_config=dict(_text(tok), model_type="qwen2"),
        vision_config=dict(hidden_size=32, intermediate_size=64, num_hidden_layers=1, num_attention_heads=2,
                           image_size=[56, 56], patch_size=[14, 14]),
        downsample_ratio=0.5, image_token_id=image, projector_hidden_act="gelu", tie_word_embeddings=True)
    return InternVLForConditionalGeneration, cfg, InternVLProcessor, ip, tok, INTERNVL_TEMPLATE, {"image_seq_length": 4}


BUILDERS = {"qwen3-vl": _qwen3_vl, "gemma3": _gemma3, "smolvlm": _smolvlm, "llava-onevision": _llava_onevision,
            "internvl": _internvl}


def build_family(family: str, texts: list[str], out_dir: str | Path, seed: int = 0,
                 initializer_range: float | None = None) -> Path:
    """Build the tiny random ``family`` model with its processor; save both to ``out_dir``."""
    import torch

    model_cls, cfg, proc_cls, image_processor, tokenizer, template, own = BUILDERS[family](texts)
    if initializer_range is not None:
        cfg.initializer_range = initializer_range
        for sub in ("text_config", "vision_config"):
            if getattr(cfg, sub, None) is not None:
                getattr(cfg, sub).initializer_range = initializer_range
    tokenizer.chat_template = template
    sub = image_only_class(proc_cls)
    register_processor(cfg.model_type, sub)
    processor = sub(image_processor=image_processor, tokenizer=tokenizer, chat_template=template, **own)
    torch.manual_seed(seed)
    model = model_cls(cfg)
    model.generation_config.eos_token_id = tokenizer.eos_token_id
    model.generation_config.pad_token_id = tokenizer.pad_token_id
    out_dir = Path(out_dir)
    model.save_pretrained(out_dir)
    processor.save_pretrained(out_dir)
    return out_dir
