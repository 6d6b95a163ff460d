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


def chat_texts(processor, row: dict) -> tuple[str, str]:
    """(prompt, completion) texts of a training row exactly as TRL's collator renders them: the
    prompt with the generation prompt, the completion as the rest of prompt + assistant turn."""
    from trl.data_utils import apply_chat_template, prepare_multimodal_messages

    example = {"prompt": prepare_multimodal_messages([dict(m) for m in row["prompt"]], images=row["images"]),
               "completion": prepare_multimodal_messages([dict(m) for m in row.get("completion") or []])}
    if not example["completion"]:
        del example["completion"]
    out = apply_chat_template(example, processor)
    return out["prompt"], out.get("completion", "")


def prompt_text(processor, item) -> str:
    """The scoring prompt of ``item``: the training collator's prompt text."""
    return chat_texts(processor, {"images": list(item.images), "prompt": [user_message(item)]})[0]


def answer_tokens(processor, n: int, item) -> tuple[list[int], list[int]]:
    """(prefix ids, letter ids): how training teaches each of the first ``n`` option letters.

    The chat template renders ``item``'s prompt plus an assistant turn holding the letter, and
    the completion is tokenized as TRL's collator does (no special tokens added). The letter's
    token is taken as it appears there: a template that writes ``Assistant: C`` trains ``ĠC``,
    not the bare ``C``. Blank tokens the template puts before the letter (LLaVA-OneVision's
    ``<|im_start|>assistant \n``) are the prefix: scoring appends them to the prompt."""
    letter_ids, prefixes = [], []
    tokenizer = processor.tokenizer
    for letter in letters(n):
        row = {"images": list(item.images), "prompt": [user_message(item)],
               "completion": [{"role": "assistant", "content": [{"type": "text", "text": letter}]}]}
        completion = chat_texts(processor, row)[1]
        toks = tokenizer(completion, add_special_tokens=False)["input_ids"]
        k = 0
        while k < len(toks) and not tokenizer.decode(toks[k:k + 1]).strip():
            k += 1
        first = tokenizer.decode(toks[k:k + 1]) if k < len(toks) else ""
        if first.strip() != letter:
            raise PGFSelectError(f"the chat template renders answer {letter!r} as completion {completion!r}, whose "
                                 f"first non-blank token {first!r} is not the letter; letter-logit scoring needs the "
                                 "letter as a token of its own at the start of the assistant turn")
        letter_ids.append(toks[k])
        prefixes.append(toks[:k])
    if any(p != prefixes[0] for p in prefixes):
        raise PGFSelectError("the chat template starts the assistant turn differently for different answer letters; "
                             "letter-logit scoring needs one answer position")
    if len(set(letter_ids)) != len(letter_ids):
        raise PGFSelectError(f"option letters {', '.join(letters(n))} share a token; letter-logit scoring "
                             "needs one token per letter")
    return prefixes[0], letter_ids


def letter_token_ids(processor, n: int, item) -> list[int]:
    """The token of each of the first ``n`` option letters as training teaches it (:func:`answer_tokens`)."""
    return answer_tokens(processor, n, item)[1]


def check_trained_letter_token(processor, item, letter_ids: list[int], prefix: list[int] = ()) -> None:
    """Collate one training row of ``item`` with TRL's collator and require that its first
    trained (label) tokens are the answer ``prefix`` and then the token scored for its answer
    letter: otherwise training would teach one token and scoring read another, a silently
    wrong matrix."""
    from trl.trainer.sft_trainer import DataCollatorForVisionLanguageModeling

    collator = DataCollatorForVisionLanguageModeling(processor, completion_only_loss=True)
    labels = collator([training_row(item)])["labels"][0].tolist()
    trained = [t for t in labels if t != -100]
    expected = letter_ids[int(item.answer)]
    k = len(prefix)
    if trained[:k] != list(prefix) or len(trained) <= k or trained[k] != expected:
        tok = processor.tokenizer
        got = tok.convert_ids_to_tokens(trained[k]) if len(trained) > k else None
        raise PGFSelectError(f"letter-token self-check failed: training teaches answer {answer_text(item)!r} as "
                             f"token {got!r} but scoring reads {tok.convert_ids_to_tokens(expected)!r}; "
                             "the chat template and the scorer disagree")
