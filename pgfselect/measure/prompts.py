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


def letter_token_ids(processor, n: int, item) -> list[int]:
    """Token id of each of the first ``n`` option letters as training teaches it: the first token
    of the completion when the chat template renders ``item``'s prompt plus an assistant turn
    holding the letter, tokenized as TRL's collator does (no special tokens added). A template
    that writes ``Assistant: C`` trains ``ĠC``, not the bare ``C``."""
    ids = []
    tokenizer = processor.tokenizer
    for letter in letters(n):
        row = {"images": list(item.images), "prompt": [user_message(item)],
               "completion": [{"role": "assistant", "content": [{"type": "text", "text": letter}]}]}
        completion = chat_texts(processor, row)[1]
        toks = tokenizer(completion, add_special_tokens=False)["input_ids"]
        first = tokenizer.decode(toks[:1]) if toks else ""
        if first.strip() != letter:
            raise PGFSelectError(f"the chat template renders answer {letter!r} as completion {completion!r}, whose "
                                 f"first token {first!r} is not the letter; letter-logit scoring needs the "
                                 "letter as the first token of the assistant turn")
        ids.append(toks[0])
    if len(set(ids)) != len(ids):
        raise PGFSelectError(f"option letters {', '.join(letters(n))} share a token; letter-logit scoring "
                             "needs one token per letter")
    return ids


def check_trained_letter_token(processor, item, letter_ids: list[int]) -> None:
    """Collate one training row of ``item`` with TRL's collator and require that its first
    trained (label) token is the token scored for its answer letter: otherwise training would
    teach one token and scoring read another, a silently wrong matrix."""
    from trl.trainer.sft_trainer import DataCollatorForVisionLanguageModeling

    collator = DataCollatorForVisionLanguageModeling(processor, completion_only_loss=True)
    labels = collator([training_row(item)])["labels"][0].tolist()
    trained = [t for t in labels if t != -100]
    expected = letter_ids[int(item.answer)]
    if not trained or trained[0] != expected:
        tok = processor.tokenizer
        got = tok.convert_ids_to_tokens(trained[0]) if trained else None
        raise PGFSelectError(f"letter-token self-check failed: training teaches answer {answer_text(item)!r} as "
                             f"token {got!r} but scoring reads {tok.convert_ids_to_tokens(expected)!r}; "
                             "the chat template and the scorer disagree")
