"""Other VLM families than Qwen2.5-VL, on tiny random local checkpoints of each (built by
pgfselect.measure.tiny_families: the family's model, processor class, PIL image processor, chat
template and special tokens): processor resolution, scoring tokenization, resolution settings,
LoRA placement, and a measured 2-task x 1-seed grid with LoRA per family."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest
import yaml

from pgfselect.cli import main
from pgfselect.errors import PGFSelectError
from pgfselect.measure.config import ModelConfig
from pgfselect.measure.tiny_families import FAMILIES

PROCESSORS = {"qwen3-vl": "Qwen3VLProcessor", "gemma3": "Gemma3Processor", "smolvlm": "SmolVLMProcessor",
              "llava-onevision": "LlavaOnevisionProcessor", "internvl": "InternVLProcessor"}
# the processor's own settings, saved by the builder and passed through on loading
OWN = {"qwen3-vl": {}, "gemma3": {"image_seq_length": 4}, "smolvlm": {"image_seq_len": 4},
       "llava-onevision": {"num_image_tokens": 4, "vision_feature_select_strategy": "full"},
       "internvl": {"image_seq_length": 4}}
VISION = {"qwen3-vl": ["visual"], "gemma3": ["multi_modal_projector", "vision_tower"],
          "smolvlm": ["connector", "vision_model"],
          "llava-onevision": ["image_newline", "multi_modal_projector", "vision_tower"],
          "internvl": ["multi_modal_projector", "vision_tower"]}


def items(task: str, n: int = 4):
    from pgfselect.tasks.registry import get_task

    return get_task(task).items("val", n=n, seed=0)


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    """family -> folder of its tiny random checkpoint (built once per module)."""
    from pgfselect.measure.models import quiet_libraries
    from pgfselect.measure.prompts import prompt_text_for_tokenizer
    from pgfselect.measure.tiny_families import build_family

    quiet_libraries()
    texts = [prompt_text_for_tokenizer(it) for t in ("synthetic:Counting", "synthetic:Jigsaw") for it in items(t, 8)]
    root = tmp_path_factory.mktemp("families")
    return {f: build_family(f, texts, root / f) for f in FAMILIES}


def load(folder: Path, **model):
    from pgfselect.measure.models import load_processor

    return load_processor(str(folder), ModelConfig(path=str(folder), **model))


@pytest.mark.parametrize("family", FAMILIES)
def test_each_family_loads_its_own_processor_and_scores(built, family):
    from pgfselect.measure.models import Runtime, load_model, vision_module_names
    from pgfselect.measure.scoring import EvalSet, score

    folder = built[family]
    saved = json.loads((folder / "processor_config.json").read_text())
    assert not list(folder.glob("video_preprocessor_config.json")) and "video_processor" not in saved
    proc = load(folder)
    assert type(proc).__name__.removeprefix("ImageOnly") == PROCESSORS[family]
    assert not hasattr(proc, "video_processor")
    assert {k: getattr(proc, k) for k in OWN[family]} == OWN[family]
    model = load_model(str(folder), ModelConfig(path=str(folder)), Runtime("cpu", "float32"))
    assert vision_module_names(model) == VISION[family]
    for task in ("synthetic:Counting", "synthetic:Jigsaw"):  # one and three images per item
        res = score(model, EvalSet(task, items(task, 2), proc, batch_size=2))
        assert res.n == 2 and all(abs(sum(p["p"]) - 1) < 1e-3 for p in res.predictions)


def test_smolvlm_scores_the_token_its_template_trains(built):
    from pgfselect.measure.scoring import EvalSet

    proc = load(built["smolvlm"])
    ev = EvalSet("synthetic:Counting", items("synthetic:Counting", 2), proc)
    # "Assistant: C": the trained and scored token is " C", not "C"
    assert proc.tokenizer.convert_ids_to_tokens(ev.letter_ids)[:2] == ["ĠA", "ĠB"]


def test_gemma3_scoring_prompts_carry_one_bos_as_in_training(built):
    import torch
    from trl.trainer.sft_trainer import DataCollatorForVisionLanguageModeling

    from pgfselect.measure.prompts import training_row
    from pgfselect.measure.scoring import EvalSet

    proc = load(built["gemma3"])
    bos = proc.tokenizer.bos_token_id
    assert proc.tokenizer("x")["input_ids"][0] == bos  # the tokenizer adds a BOS, and so does the template
    it = items("synthetic:Counting", 1)[0]
    ids = EvalSet("synthetic:Counting", [it], proc).batches[0]["input_ids"][0]
    assert int((ids == bos).sum()) == 1 and ids[0] == bos
    batch = DataCollatorForVisionLanguageModeling(proc, completion_only_loss=True)([training_row(it)])
    assert torch.equal(batch["input_ids"][0, :len(ids)], ids)


def test_llava_onevision_scores_after_the_blank_tokens_its_template_trains_first(built):
    from pgfselect.measure.scoring import EvalSet

    proc = load(built["llava-onevision"])
    ev = EvalSet("synthetic:Counting", items("synthetic:Counting", 2), proc)
    # "<|im_start|>assistant \nA" against the generation prompt "<|im_start|>assistant\n"
    assert ev.answer_prefix and not proc.tokenizer.decode(ev.answer_prefix).strip()
    assert proc.tokenizer.convert_ids_to_tokens(ev.letter_ids)[:2] == ["A", "B"]


def test_resolution_settings_fit_each_family(built):
    assert load(built["qwen3-vl"], max_pixels=32 * 32).image_processor.size["longest_edge"] == 32 * 32
    with pytest.raises(PGFSelectError, match=r"^model.min_pixels/max_pixels apply to Qwen-style image processors "
                                             r"only; Gemma3ImageProcessorPil sizes images by height, width: use "
                                             r"model.image_size with those keys$"):
        load(built["gemma3"], max_pixels=56 * 56)
    assert load(built["gemma3"], image_size={"height": 28, "width": 28}).image_processor.size == \
        {"height": 28, "width": 28}
    assert load(built["smolvlm"], image_size={"longest_edge": 16}).image_processor.size["longest_edge"] == 16
    with pytest.raises(PGFSelectError, match=r"^model.image_size key 'shortest_edge' does not apply to "
                                             r"Gemma3ImageProcessorPil; valid: height, width$"):
        load(built["gemma3"], image_size={"shortest_edge": 28})


def test_lora_stays_off_each_familys_vision_tower(built):
    from peft import get_peft_model

    from pgfselect.measure.config import TrainingConfig
    from pgfselect.measure.models import Runtime, load_model
    from pgfselect.measure.training import freeze_vision, lora_config

    for family in ("gemma3", "smolvlm"):
        folder = built[family]
        cfg = ModelConfig(path=str(folder))
        base = load_model(str(folder), cfg, Runtime("cpu", "float32"))
        model = get_peft_model(base, lora_config(TrainingConfig(), base))
        lora = [n for n, _ in model.named_modules() if n.endswith(".lora_A")]
        text = ".text_model." if family == "smolvlm" else ".language_model."
        assert lora and all(text in n for n in lora), (family, lora[:3])
        text = text.lstrip(".")
        full = load_model(str(folder), cfg, Runtime("cpu", "float32"))
        assert freeze_vision(full) > 0
        assert all(text in n or n.startswith("lm_head")
                   for n, p in full.named_parameters() if p.requires_grad)


GRID = {
    "tasks": ["synthetic:Counting", "synthetic:Jigsaw"],  # one- and three-image items
    "seeds": [0],
    "training": {"rank": 4, "alpha": 8, "learning_rate": 0.001, "max_steps": 2, "batch_size": 2,
                 "examples_per_task": 4},
    "evaluation": {"n_items": 4, "batch_size": 4},
}


@pytest.mark.slow
@pytest.mark.parametrize("family", FAMILIES)
def test_measure_a_grid_with_lora_per_family(family, tmp_path):
    """pgfselect measure on tiny:FAMILY: the base is built and warmed up (2 full-finetune steps),
    then one LoRA adapter per source: a 2 x 2 matrix."""
    from pgfselect.matrix import load as load_matrix

    doc = {**GRID, "model": {"path": f"tiny:{family}", "cpu_threads": 1,
                             "warmup": {"steps": 2, "batch_size": 2, "examples_per_task": 4}}}
    cfg = tmp_path / "grid.yaml"
    cfg.write_text(yaml.safe_dump(doc))
    start = time.perf_counter()
    main(["measure", str(cfg), "--out", str(tmp_path / "out"), "--quiet", "--cache-dir", str(tmp_path / "cache")])
    print(f"{family} grid: {time.perf_counter() - start:.1f} s")  # reported with pytest -s
    m = load_matrix(tmp_path / "out")
    assert m.is_complete and m.sources == tuple(GRID["tasks"]) and m.targets == tuple(GRID["tasks"])
    assert len((tmp_path / "out" / "matrix.csv").read_text().splitlines()) == 1 + 4
    cells = list((tmp_path / "out" / "cells").rglob("seed_0/*.json"))
    assert len(cells) == 2
    for cell in cells:
        rec = json.loads(cell.read_text())
        adapter = json.loads((tmp_path / "out" / rec["adapter_dir"] / "adapter_config.json").read_text())
        assert adapter["peft_type"] == "LORA" and rec["train"]["steps"] == 2


def test_the_gemma3_recipe_fits_the_gemma3_family(built, tmp_path):
    """recipes/measure-gemma3-4b-blink.yaml: its resolution keys and LoRA target modules apply to
    a Gemma 3 model (a tiny random one here; the recipe itself needs the real 4B on a GPU)."""
    from peft import get_peft_model

    from pgfselect.measure.config import load_config
    from pgfselect.measure.models import Runtime, load_model
    from pgfselect.measure.training import lora_config

    recipe = Path(__file__).resolve().parents[1] / "recipes" / "measure-gemma3-4b-blink.yaml"
    doc = yaml.safe_load(recipe.read_text())
    folder = built["gemma3"]
    doc["model"]["path"] = str(folder)
    cfg_path = tmp_path / "r.yaml"
    cfg_path.write_text(yaml.safe_dump(doc))
    cfg = load_config(cfg_path)
    proc = load(folder, **{k: v for k, v in doc["model"].items() if k in ("image_size",)})
    assert proc.image_processor.size == {"height": 896, "width": 896}
    base = load_model(str(folder), ModelConfig(path=str(folder)), Runtime("cpu", "float32"))
    model = get_peft_model(base, lora_config(cfg.training, base))
    lora = {n.rsplit(".", 2)[-2] for n, _ in model.named_modules() if n.endswith(".lora_A")}
    assert lora == set(doc["training"]["target_modules"])


def test_measure_refuses_a_resolution_setting_the_family_has_not_in_one_line(tmp_path, capsys):
    """max_pixels on a Gemma 3 base: exit 2 with one line, not a crash inside the image processor."""
    from clirun import run_cli

    doc = {**GRID, "model": {"path": "tiny:gemma3", "cpu_threads": 1, "max_pixels": 56 * 56,
                             "warmup": {"steps": 0}}}
    cfg = tmp_path / "grid.yaml"
    cfg.write_text(yaml.safe_dump(doc))
    code, out, err = run_cli(["measure", str(cfg), "--out", str(tmp_path / "out"), "--quiet",
                              "--cache-dir", str(tmp_path / "cache")], capsys)
    assert code == 2 and err.count("\n") == 1, err
    assert "model.min_pixels/max_pixels apply to Qwen-style image processors only; Gemma3ImageProcessorPil" in err
    assert not (tmp_path / "out" / "matrix.csv").exists()
