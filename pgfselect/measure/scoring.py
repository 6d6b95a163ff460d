"""Multiple-choice scoring by the option letters' logits at the answer position.

One forward pass per batch (left padding, so the last position is every row's answer position)
and an argmax over the first ``n_choices`` letters: a model that never learned the answer format
still gets a fair score. Greedy generation is only an optional format check.

An :class:`EvalSet` runs the processor (image resizing, normalisation, tokenisation) once; the
same tensors then score the base model and every adapter, where the processor would otherwise
take about 40% of the scoring time.
"""

from __future__ import annotations

import re

from ..errors import PGFSelectError
from ..tasks.schema import letters
from .generation import open_fields, score_open
from .prompts import answer_tokens, check_trained_letter_token, letter_token_ids, prompt_text, user_message
from .results import ScoreResult

_LETTER = re.compile(r"[A-Z]")


class EvalSet:
    """Preprocessed evaluation items of one task, in batches of ``batch_size``."""

    def __init__(self, task_id: str, items, processor, batch_size: int = 16, dtype=None):
        if not items:
            raise PGFSelectError(f"task {task_id}: no evaluation items")
        self.task_id = task_id
        self.item_ids = [it.id for it in items]
        self.answers = [int(it.answer) for it in items]
        self.n_choices = [len(it.choices) for it in items]
        # number/text tasks are generated and judged instead (pgfselect.measure.generation)
        self.open = open_fields(task_id, items)
        self.letter_ids, self.answer_prefix = [], []
        if self.open is None:
            widest = max(items, key=lambda it: len(it.choices))
            self.answer_prefix, self.letter_ids = answer_tokens(processor, len(widest.choices), widest)
            check_trained_letter_token(processor, widest, self.letter_ids, self.answer_prefix)
        self.batch_size = batch_size
        self.batches = []
        for start in range(0, len(items), batch_size):
            chunk = items[start:start + batch_size]
            # exactly as TRL's collator tokenizes the prompt (no second BOS, same image placement)
            texts = [prompt_text(processor, it) for it in chunk]
            batch = processor(images=[list(it.images) for it in chunk], text=texts, return_tensors="pt",
                              padding=True, padding_side="left", add_special_tokens=False)
            if self.answer_prefix:
                _append_prefix(batch, self.answer_prefix)
            if dtype is not None and "pixel_values" in batch:
                batch["pixel_values"] = batch["pixel_values"].to(dtype)
            self.batches.append(batch)

    def __len__(self) -> int:
        return len(self.item_ids)

    def batch_slices(self):
        for k, batch in enumerate(self.batches):
            start = k * self.batch_size
            yield slice(start, start + batch["input_ids"].shape[0]), batch


def _append_prefix(batch, prefix: list[int]) -> None:
    """Append the tokens the template puts before the answer letter to every (left-padded) row:
    the collator trains them as the completion's start, so the letter follows them."""
    import torch

    ids = batch["input_ids"]
    extra = torch.tensor(prefix, dtype=ids.dtype).expand(ids.shape[0], -1)
    for key in list(batch.keys()):
        value = batch[key]
        if key == "input_ids":
            batch[key] = torch.cat([value, extra], dim=1)
        elif key == "attention_mask":
            batch[key] = torch.cat([value, torch.ones_like(extra, dtype=value.dtype)], dim=1)
        elif torch.is_tensor(value) and value.shape == ids.shape:  # token_type_ids, mm_token_type_ids
            batch[key] = torch.cat([value, torch.zeros_like(extra, dtype=value.dtype)], dim=1)


def letter_logits(model, evalset: EvalSet, device: str):
    """[n_items, n_letters] logits of the option letters at the answer position (float32, CPU)."""
    import torch

    out = []
    with torch.inference_mode():
        for _, batch in evalset.batch_slices():
            batch = batch.to(device)
            logits = model(**batch, logits_to_keep=1, use_cache=False).logits[:, -1, evalset.letter_ids]
            out.append(logits.float().cpu())
    return torch.cat(out)


def score(model, evalset: EvalSet, device: str = "cpu", format_check: int = 0, processor=None) -> ScoreResult:
    """Accuracy of ``model`` on ``evalset`` by letter logits; per-item predictions kept.

    ``format_check`` > 0 also answers that many items by greedy generation (needs ``processor``)
    and reports the share whose output starts with a valid option letter.
    """
    if getattr(evalset, "open", None) is not None:  # open-ended answers: greedy generation, judged
        return score_open(model, evalset, processor, device)
    import torch

    was_training = model.training
    model.eval()
    logits = letter_logits(model, evalset, device)
    n_letters = logits.shape[1]
    mask = torch.arange(n_letters)[None, :] >= torch.tensor(evalset.n_choices)[:, None]
    logits = logits.masked_fill(mask, float("-inf"))  # only the item's own letters compete
    probs = torch.softmax(logits, dim=-1)
    preds = logits.argmax(-1).tolist()
    predictions = [{"id": i, "answer": a, "pred": p, "correct": int(a == p),
                    "p": [round(float(x), 4) for x in row[:n]]}
                   for i, a, p, row, n in zip(evalset.item_ids, evalset.answers, preds, probs, evalset.n_choices)]
    fmt = format_rate(model, evalset, processor, device, format_check) if format_check else None
    if was_training:
        model.train()
    return ScoreResult(evalset.task_id, sum(p["correct"] for p in predictions), len(predictions), predictions, fmt)


def generate_letters(model, evalset: EvalSet, processor, device: str, limit: int | None = None) -> list[str | None]:
    """Greedy answers (first capital letter of up to 3 new tokens; None when there is none)."""
    import torch

    out = []
    with torch.inference_mode():
        for sl, batch in evalset.batch_slices():
            if limit is not None and sl.start >= limit:
                break
            batch = batch.to(device)
            gen = model.generate(**batch, max_new_tokens=3, do_sample=False)
            texts = processor.batch_decode(gen[:, batch["input_ids"].shape[1]:], skip_special_tokens=True)
            out.extend(m.group(0) if (m := _LETTER.search(t.strip()[:1] or " ")) else None for t in texts)
    return out[:limit] if limit is not None else out


def format_rate(model, evalset: EvalSet, processor, device: str, limit: int) -> float:
    if processor is None:
        raise ValueError("format_check needs the processor")
    answers = generate_letters(model, evalset, processor, device, limit)
    ok = [a is not None and a in letters(n) for a, n in zip(answers, evalset.n_choices)]
    return sum(ok) / len(ok)
