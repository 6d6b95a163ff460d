"""Answer tokens come from the chat template as TRL's collator tokenizes the completion, and the
evaluation set refuses to build when training would teach another token than the one scored.

Uses the real Qwen2.5-VL tokenizer (../shared/fixtures; skips without it) with other templates."""

from __future__ import annotations

import pytest

from pgfselect.errors import PGFSelectError

from test_measure_real_model import checkpoint_folder, items, load

# SmolVLM/Idefics3-style: the generation prompt is "Assistant:" and the answer follows after a space.
SMOLVLM_STYLE = (
    "<|im_start|>{% for m in messages %}{{ m['role'] | capitalize }}:"
    "{% for c in m['content'] %}{% if c['type'] == 'image' %}<|vision_start|><|image_pad|><|vision_end|>"
    "{% else %} {{ c['text'] }}{% endif %}{% endfor %}<|im_end|>\n{% endfor %}"
    "{% if add_generation_prompt %}Assistant:{% endif %}")
# The assistant turn writes words before the letter: its first token is not the letter.
WORDY = SMOLVLM_STYLE.replace("{% else %} {{ c['text'] }}", "{% else %} {% if m['role'] == 'assistant' %}"
                              "The answer is {% endif %}{{ c['text'] }}")


def with_template(qwen_files, tmp_path, template):
    proc = load(checkpoint_folder(qwen_files, tmp_path / "c", "preprocessor_config.legacy.json"))
    proc.chat_template = template
    return proc


def test_an_assistant_colon_template_scores_the_token_it_trains(qwen_files, tmp_path):
    from pgfselect.measure.prompts import check_trained_letter_token, letter_token_ids
    from pgfselect.measure.scoring import EvalSet

    proc = with_template(qwen_files, tmp_path, SMOLVLM_STYLE)
    its = items("synthetic:Counting", 4)
    ids = letter_token_ids(proc, 4, its[0])
    bare = [proc.tokenizer.convert_tokens_to_ids(c) for c in "ABCD"]
    assert proc.tokenizer.convert_ids_to_tokens(ids) == ["ĠA", "ĠB", "ĠC", "ĠD"] and ids != bare
    for it in its:
        check_trained_letter_token(proc, it, ids)  # the trained token is the scored one
    ev = EvalSet("synthetic:Counting", its, proc, batch_size=2)
    assert ev.letter_ids == ids[:len(ev.letter_ids)]
    # The self-check catches a scorer that reads the bare letter while training teaches "ĠC".
    with pytest.raises(PGFSelectError, match=r"letter-token self-check failed: training teaches answer '.' as "
                                             r"token 'Ġ.' but scoring reads '.'"):
        check_trained_letter_token(proc, its[0], bare)


def test_a_template_whose_answer_token_is_not_the_letter_is_refused(qwen_files, tmp_path):
    from pgfselect.measure.scoring import EvalSet

    proc = with_template(qwen_files, tmp_path, WORDY)
    with pytest.raises(PGFSelectError, match=r"the chat template renders answer 'A' as completion ' The answer is "
                                             r"A<\|im_end\|>\\n', whose first non-blank token ' The' is not the letter"):
        EvalSet("synthetic:Counting", items("synthetic:Counting", 2), proc)


def test_scoring_prompts_are_the_collators_prompt_tokens(qwen_files, tmp_path):
    """Same ids as TRL's collator gives the prompt part of a training row (for a tokenizer that
    adds a BOS of its own, Gemma 3's, see test_vlm_families)."""
    import torch
    from trl.trainer.sft_trainer import DataCollatorForVisionLanguageModeling

    from pgfselect.measure.prompts import training_row
    from pgfselect.measure.scoring import EvalSet

    proc = load(checkpoint_folder(qwen_files, tmp_path / "c", "preprocessor_config.legacy.json"))
    it = items("synthetic:Counting", 1)[0]
    ev = EvalSet("synthetic:Counting", [it], proc)
    batch = DataCollatorForVisionLanguageModeling(proc, completion_only_loss=True)([training_row(it)])
    n = ev.batches[0]["input_ids"].shape[1]
    assert torch.equal(batch["input_ids"][0, :n], ev.batches[0]["input_ids"][0])
    assert (batch["labels"][0, :n] == -100).all() and batch["labels"][0, n] == ev.letter_ids[it.answer]
