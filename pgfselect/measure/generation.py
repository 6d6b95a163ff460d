"""Open-ended scoring (answer types ``number`` and ``text``) by greedy generation.

Letter logits need options; an open answer (a count, a colour word) is generated instead:
batched, greedy (``do_sample=False``: the same model and items give the same text), then judged:

- ``number``: the first number in the output (digits, "1,200", "3.5", or a number word up to
  twenty). Integer answers must match exactly; decimal ones within the task's relative
  ``tolerance``; with ``metric: mra`` the item scores VSI-Bench's mean relative accuracy,
  the share of thresholds θ ∈ {0.50, 0.55, …, 0.95} with |pred − answer| / |answer| < 1 − θ.
- ``text``: normalised exact match (case, punctuation, articles a/an/the, spaces) against the
  answer or any of its aliases.

Per item the prediction keeps the generated text, the parsed value and the score; a task's
``correct`` is the sum of item scores (whole numbers except with MRA), so PGF and everything
downstream read it unchanged. The judges are pure functions: tests check them on known outputs.
"""

from __future__ import annotations

import re
import string

from ..errors import PGFSelectError
from ..tasks.schema import parse_number
from .results import ScoreResult

MAX_NEW_TOKENS = {"number": 8, "text": 16}
MRA_THRESHOLDS = tuple(0.50 + 0.05 * k for k in range(10))
_NUMBER = re.compile(r"[-+]?\d+(?:,\d{3})*(?:\.\d+)?|[-+]?\.\d+")
_WORDS = {w: float(i) for i, w in enumerate(
    "zero one two three four five six seven eight nine ten eleven twelve thirteen fourteen fifteen sixteen "
    "seventeen eighteen nineteen twenty".split())}
_ARTICLES = re.compile(r"\b(a|an|the)\b")
_PUNCT = str.maketrans({c: " " for c in string.punctuation})


# ------------------------------------------------------------------ judges (pure)
def normalize_text(text: str) -> str:
    """``"The  Red."`` -> ``"red"``: lower case, punctuation and articles removed, spaces collapsed."""
    text = str(text).lower().translate(_PUNCT)
    return " ".join(_ARTICLES.sub(" ", text).split())


def parse_generated_number(text: str) -> float | None:
    """The first number written in ``text`` (digits or a word up to twenty); None if there is none."""
    text = str(text)
    match = _NUMBER.search(text)
    word = next((w for w in re.findall(r"[a-z]+", text.lower()) if w in _WORDS), None)
    if match and (word is None or match.start() <= text.lower().find(word)):
        return parse_number(match.group(0))
    return _WORDS[word] if word is not None else None


def mean_relative_accuracy(pred: float, answer: float) -> float:
    if answer == 0:
        return float(pred == 0)
    rel = abs(pred - answer) / abs(answer)
    return sum(rel < 1 - t for t in MRA_THRESHOLDS) / len(MRA_THRESHOLDS)


def judge_number(generated: str, answer: str, tolerance: float = 0.0, metric: str = "exact") -> tuple[float | None, float]:
    """(parsed prediction, score in [0, 1])."""
    pred, target = parse_generated_number(generated), parse_number(answer)
    if pred is None or target is None:
        return pred, 0.0
    if metric == "mra":
        return pred, mean_relative_accuracy(pred, target)
    if "." not in str(answer) or tolerance == 0:  # integer answers (a count): exact
        return pred, float(pred == target)
    return pred, float(abs(pred - target) <= tolerance * abs(target))


def judge_text(generated: str, answer: str, aliases=()) -> tuple[str, float]:
    """(normalised first line of the output, 1.0 on a match with the answer or an alias)."""
    first = str(generated).strip().splitlines()[0] if str(generated).strip() else ""
    pred = normalize_text(first)
    return pred, float(pred != "" and pred in {normalize_text(a) for a in [answer, *aliases]})


# ------------------------------------------------------------------ evaluation sets
class OpenFields:
    """What an evaluation set needs to judge open answers: per item type, answer, aliases, options."""

    def __init__(self, task_id: str, items):
        kinds = {it.answer_type for it in items}
        if len(kinds) != 1:
            raise PGFSelectError(f"task {task_id}: items mix answer types {', '.join(sorted(kinds))}; a task has one")
        self.answer_type = kinds.pop()
        self.targets = [it.target for it in items]
        self.aliases = [list(it.aliases) for it in items]
        self.scoring = dict(items[0].meta.get("scoring") or {})

    def judge(self, k: int, generated: str) -> tuple[object, float]:
        if self.answer_type == "number":
            return judge_number(generated, self.targets[k], self.scoring.get("tolerance", 0.0),
                                self.scoring.get("metric", "exact"))
        return judge_text(generated, self.targets[k], self.aliases[k])


def open_fields(task_id: str, items) -> OpenFields | None:
    """None for a multiple-choice set (scored by letter logits)."""
    if all(it.answer_type == "choice" for it in items):
        return None
    return OpenFields(task_id, items)


def generate_texts(model, evalset, processor, device: str, max_new_tokens: int) -> list[str]:
    """Greedy continuations of every item's prompt, batch by batch, decoded without special tokens."""
    import torch

    out = []
    with torch.inference_mode():
        for _, batch in evalset.batch_slices():
            batch = batch.to(device)
            gen = model.generate(**batch, max_new_tokens=max_new_tokens, do_sample=False)
            out += processor.batch_decode(gen[:, batch["input_ids"].shape[1]:], skip_special_tokens=True)
    return out


def score_generated(evalset, texts: list[str]):
    """A :class:`~pgfselect.measure.results.ScoreResult` from the generated ``texts`` (item order)."""
    fields = evalset.open
    predictions = []
    for k, (item_id, text) in enumerate(zip(evalset.item_ids, texts, strict=True)):
        pred, value = fields.judge(k, text)
        predictions.append({"id": item_id, "answer": fields.targets[k], "pred": pred, "correct": round(value, 4),
                            "generated": text})
    correct = sum(p["correct"] for p in predictions)
    return ScoreResult(evalset.task_id, int(correct) if float(correct).is_integer() else round(correct, 4),
                       len(predictions), predictions)


def score_open(model, evalset, processor, device: str = "cpu"):
    """Generate (greedy) and judge every item of an open-ended evaluation set."""
    if processor is None:
        raise ValueError("open-ended scoring needs the processor")
    was_training = model.training
    model.eval()
    texts = generate_texts(model, evalset, processor, device, MAX_NEW_TOKENS[evalset.open.answer_type])
    if was_training:
        model.train()
    return score_generated(evalset, texts)
