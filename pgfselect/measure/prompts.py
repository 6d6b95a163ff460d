"""Chat messages built from task items: the one prompt format for training rows and scoring."""

from __future__ import annotations

from ..errors import PGFSelectError
from ..tasks.schema import answer_text, format_prompt, letters


def user_message(item) -> dict:
    """Images first, then the question with its lettered options (Qwen2.5-VL's usual order)."""
    return {"role": "user", "content": [{"type": "image"} for _ in item.images]
            + [{"type": "text", "text": format_prompt(item)}]}


def assistant_message(item) -> dict:
    return {"role": "assistant", "content": [{"type": "text", "text": answer_text(item)}]}


def training_row(item) -> dict:
    """A TRL prompt/completion row: the loss covers only the answer letter (completion-only)."""
    return {"images": list(item.images), "prompt": [user_message(item)], "completion": [assistant_message(item)]}


def prompt_text_for_tokenizer(item) -> str:
    """Text a tiny model's tokenizer is trained on."""
    return format_prompt(item) + "\n" + answer_text(item)


def letter_token_ids(tokenizer, n: int) -> list[int]:
    """Token id of each of the first ``n`` option letters as the model would emit it first."""
    ids = []
    for letter in letters(n):
        toks = tokenizer.encode(letter, add_special_tokens=False)
        if len(toks) != 1:
            raise PGFSelectError(f"the tokenizer splits option letter {letter!r} into {len(toks)} tokens; "
                                 "letter-logit scoring needs one token per letter")
        ids.append(toks[0])
    return ids
