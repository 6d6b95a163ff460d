"""The real-model path on CPU: real Qwen2.5-VL processor files (both preprocessor-config forms,
the real 151k vocabulary), a random 20 M-parameter Qwen2.5-VL built from them, 4-bit loading,
LoRA placement, and a measured 2-task grid with LoRA and with QLoRA.

The files come from ../shared/fixtures/qwen2.5-vl-processor; every test here skips without it.
"""

from __future__ import annotations

import json
import shutil
import time
import weakref
from pathlib import Path

import pytest
import yaml

from pgfselect.cli import main
from pgfselect.errors import PGFSelectError
from pgfselect.measure.config import ModelConfig, TrainingConfig

TOKENIZER_FILES = ("vocab.json", "merges.txt", "tokenizer_config.json", "chat_template.json")


def checkpoint_folder(files: Path, dest: Path, preprocessor="preprocessor_config.json", model_type="qwen2_5_vl",
                      image_processor_type=None) -> Path:
    """A checkpoint folder without weights: enough for the processor."""
    dest.mkdir(parents=True)
    for name in TOKENIZER_FILES:
        shutil.copyfile(files / name, dest / name)
    pre = json.loads((files / preprocessor).read_text())
    if image_processor_type:
        pre["image_processor_type"] = image_processor_type
    (dest / "preprocessor_config.json").write_text(json.dumps(pre))
    config = json.loads((files / "tiny-model-config.json").read_text())
    (dest / "config.json").write_text(json.dumps({**config, "model_type": model_type}))
    return dest


def load(folder: Path, **model):
    from pgfselect.measure.models import load_processor

    return load_processor(str(folder), ModelConfig(path=str(folder), **model))


def items(task: str, n: int = 4):
    from pgfselect.tasks.registry import get_task

    return get_task(task).items("val", n=n, seed=0)


def encode(proc, item):
    from pgfselect.measure.prompts import user_message

    text = proc.apply_chat_template([user_message(item)], add_generation_prompt=True, tokenize=False)
    return proc(images=list(item.images), text=[text], return_tensors="pt")


# ------------------------------------------------------------------ processors (no weights)
def test_both_preprocessor_forms_load_and_agree(qwen_files, tmp_path):
    from transformers import AutoImageProcessor

    legacy = checkpoint_folder(qwen_files, tmp_path / "legacy", "preprocessor_config.legacy.json")
    current = checkpoint_folder(qwen_files, tmp_path / "current")
    # What a user of the pinned transformers meets without the fallback:
    with pytest.raises(ValueError, match="Unrecognized image processor"):
        AutoImageProcessor.from_pretrained(legacy)
    a, b = load(legacy), load(current)
    assert type(a) is type(b) and type(a.image_processor).__name__ == "Qwen2VLImageProcessorPil"
    assert a.image_processor.size["longest_edge"] == 12845056  # the checkpoint's max_pixels kept
    item = items("synthetic:Counting", 1)[0]
    ea, eb = encode(a, item), encode(b, item)
    assert ea["input_ids"].tolist() == eb["input_ids"].tolist()
    assert (ea["pixel_values"] == eb["pixel_values"]).all()


def test_qwen2_vl_checkpoints_load_too(qwen_files, tmp_path):
    proc = load(checkpoint_folder(qwen_files, tmp_path / "q2", model_type="qwen2_vl"))
    assert proc.tokenizer.convert_tokens_to_ids("<|image_pad|>") == 151655


@pytest.mark.parametrize("change, expected", [
    ({"image_processor_type": "CLIPImageProcessor"},
     r"preprocessor_config.json': image_processor_type 'CLIPImageProcessor' is not the image processor of "
     r"model_type 'qwen2_5_vl'; valid: Qwen2VLImageProcessor$"),
    # a Qwen folder that calls itself LLaVA: never a Qwen processor around LLaVA's parts, nor the reverse
    ({"model_type": "llava"}, r"preprocessor_config.json': image_processor_type '\w+' is not the image "
                              r"processor of model_type 'llava'"),
])
def test_other_checkpoints_get_an_error_naming_file_and_field(qwen_files, tmp_path, change, expected):
    with pytest.raises(PGFSelectError, match=expected):
        load(checkpoint_folder(qwen_files, tmp_path / "x", **change))
    folder = checkpoint_folder(qwen_files, tmp_path / "y")
    (folder / "preprocessor_config.json").unlink()
    with pytest.raises(PGFSelectError, match="preprocessor_config.json' not found"):
        load(folder)


def test_an_unknown_processor_class_is_a_one_line_error_naming_checkpoint_and_class(qwen_files, tmp_path):
    folder = checkpoint_folder(qwen_files, tmp_path / "u", model_type="no_such_vlm")
    pre = json.loads((folder / "preprocessor_config.json").read_text())
    pre.pop("processor_class")
    (folder / "preprocessor_config.json").write_text(json.dumps(pre))
    tok = json.loads((folder / "tokenizer_config.json").read_text())
    tok.pop("processor_class", None)
    (folder / "tokenizer_config.json").write_text(json.dumps(tok))
    with pytest.raises(PGFSelectError, match=rf"checkpoint '{folder}': model_type 'no_such_vlm' has no processor "
                                             "class in transformers and its files name none"):
        load(folder)
    tok["processor_class"] = "NoSuchProcessor"
    (folder / "tokenizer_config.json").write_text(json.dumps(tok))
    with pytest.raises(PGFSelectError, match=rf"checkpoint '{folder}': processor class 'NoSuchProcessor' is not "
                                             "available in the installed transformers$"):
        load(folder)


def test_letter_tokens_and_the_completion_only_loss_mask(qwen_files, tmp_path):
    from trl.trainer.sft_trainer import DataCollatorForVisionLanguageModeling

    from pgfselect.measure.prompts import letter_token_ids, training_row
    from pgfselect.tasks.schema import answer_text

    proc = load(checkpoint_folder(qwen_files, tmp_path / "c", "preprocessor_config.legacy.json"))
    batch_items = items("synthetic:Counting", 2)
    assert letter_token_ids(proc, 4, batch_items[0]) == [32, 33, 34, 35]  # "A".."D" are single tokens
    collator = DataCollatorForVisionLanguageModeling(proc, completion_only_loss=True)
    batch = collator([training_row(it) for it in batch_items])
    for row, item in zip(batch["labels"], batch_items):
        trained = [t for t in row.tolist() if t != -100]
        # Only the answer letter and the end of the turn carry loss: no prompt, no image tokens.
        assert proc.tokenizer.decode(trained) == answer_text(item) + "<|im_end|>\n"


def test_image_tokens_follow_max_pixels(qwen_files, tmp_path):
    from PIL import Image

    from pgfselect.tasks.schema import Item

    folder = checkpoint_folder(qwen_files, tmp_path / "c", "preprocessor_config.legacy.json")
    item = Item(id="x", images=[Image.new("RGB", (448, 448), "red")], question="Which colour?",
                choices=["red", "blue"], answer=0)
    pad = 151655
    for max_pixels, tokens in ((None, 256), (224 * 224, 64), (112 * 112, 16)):
        enc = encode(load(folder, max_pixels=max_pixels), item)
        n = int((enc["input_ids"] == pad).sum())
        assert n == tokens and n == int(enc["image_grid_thw"].prod()) // 4
        if max_pixels:
            assert n <= max_pixels // (28 * 28)


def test_multi_image_items_get_one_block_per_image(qwen_files, tmp_path):
    proc = load(checkpoint_folder(qwen_files, tmp_path / "c", "preprocessor_config.legacy.json"))
    item = items("synthetic:Jigsaw", 1)[0]  # 3 images: 112, 56 and 56 px
    enc = encode(proc, item)
    ids = enc["input_ids"][0]
    assert int((ids == 151652).sum()) == 3  # <|vision_start|> per image
    grids = enc["image_grid_thw"].tolist()
    assert grids == [[1, 8, 8], [1, 4, 4], [1, 4, 4]]
    assert int((ids == 151655).sum()) == sum(t * h * w for t, h, w in grids) // 4


# ------------------------------------------------------------------ the random real-vocab model
def test_scoring_a_random_real_vocab_model(real_qwen):
    from pgfselect.measure.models import detect_runtime, load_model, load_processor
    from pgfselect.measure.scoring import EvalSet, score

    cfg = ModelConfig(path=str(real_qwen))
    proc = load_processor(str(real_qwen), cfg)
    model = load_model(str(real_qwen), cfg, detect_runtime(cfg))
    assert model.config.text_config.vocab_size == 151936
    res = score(model, EvalSet("synthetic:Jigsaw", items("synthetic:Jigsaw", 4), proc, batch_size=2))
    assert res.n == 4 and all(len(p["p"]) == 2 and abs(sum(p["p"]) - 1) < 1e-3 for p in res.predictions)


def test_qlora_quantizes_the_language_model_only(real_qwen):
    from pgfselect.measure.models import detect_runtime, load_model

    cfg = ModelConfig(path=str(real_qwen))
    rt = detect_runtime(cfg)

    def kinds(model):
        mods = dict(model.named_modules())
        return (type(mods["model.language_model.layers.0.self_attn.q_proj"]).__name__,
                type(mods["model.visual.blocks.0.attn.qkv"]).__name__, type(mods["lm_head"]).__name__)

    assert kinds(load_model(str(real_qwen), cfg, rt, quantize_4bit=True)) == ("Linear4bit", "Linear", "Linear")
    assert kinds(load_model(str(real_qwen), cfg, rt, quantize_4bit=True, quantize_vision=True))[1] == "Linear4bit"


def test_lora_and_full_finetuning_leave_the_vision_tower_alone_unless_asked(real_qwen):
    from peft import get_peft_model

    from pgfselect.measure.models import detect_runtime, load_model
    from pgfselect.measure.training import freeze_vision, lora_config

    cfg = ModelConfig(path=str(real_qwen))
    rt = detect_runtime(cfg)
    the_7b_recipes = ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"]
    for train_vision, modules in ((False, "all-linear"), (True, "all-linear"), (False, the_7b_recipes)):
        model = get_peft_model(load_model(str(real_qwen), cfg, rt),
                               lora_config(TrainingConfig(train_vision=train_vision, target_modules=modules),
                                           load_model(str(real_qwen), cfg, rt)))
        lora = [n for n, _ in model.named_modules() if n.endswith(".lora_A")]
        on_vision = [n for n in lora if ".visual." in n]
        assert len(lora) > len(on_vision)
        assert bool(on_vision) == train_vision, (train_vision, modules, on_vision[:2])
    model = load_model(str(real_qwen), cfg, rt)
    from pgfselect.measure.models import vision_module_names

    assert vision_module_names(model) == ["visual"]
    with pytest.raises(PGFSelectError, match=r"training.target_modules 'qkv_proj' is not a module of "
                                             r"Qwen2_5_VLForConditionalGeneration; its linear layers: .*down_proj"):
        lora_config(TrainingConfig(target_modules=["q_proj", "qkv_proj"]), model)
    assert freeze_vision(model) > 0
    trainable = {n for n, p in model.named_parameters() if p.requires_grad}
    assert trainable and not any(".visual." in n for n in trainable)


def test_device_map_auto_goes_to_accelerate(real_qwen, monkeypatch):
    from transformers import AutoModelForImageTextToText

    from pgfselect.measure.models import detect_runtime, load_model

    seen = []
    real = AutoModelForImageTextToText.from_pretrained.__func__

    def spy(cls, path, **kwargs):
        seen.append(kwargs.get("device_map"))
        return real(cls, path, **kwargs)

    monkeypatch.setattr(AutoModelForImageTextToText, "from_pretrained", classmethod(spy))
    for device_map, qlora in ((None, False), ("auto", False), ("auto", True)):
        cfg = ModelConfig(path=str(real_qwen), device_map=device_map)
        model = load_model(str(real_qwen), cfg, detect_runtime(cfg), quantize_4bit=qlora)
        assert {p.device.type for p in model.parameters()} == {"cpu"}  # no GPU here: all on the CPU
    assert seen == [None, "auto", "auto"]


# ------------------------------------------------------------------ the grid, end to end
GRID = {
    "tasks": ["synthetic:Counting", "synthetic:Jigsaw"],  # one- and three-image items
    "seeds": [0],
    "training": {"rank": 4, "alpha": 8, "learning_rate": 0.001, "max_steps": 3, "batch_size": 2,
                 "examples_per_task": 6},
    "evaluation": {"n_items": 6, "batch_size": 6},
}


@pytest.mark.slow
@pytest.mark.parametrize("method", ["qlora", "lora"])
def test_measure_a_real_vocab_grid_on_cpu(real_qwen, tmp_path, monkeypatch, method):
    """pgfselect measure on the random real-vocab model with the older preprocessor form: a 2 x 2
    matrix; the zero-shot cell and both finetunes each load their own model, and each model is
    gone (weakref dead, memory released) before the next one loads."""
    from pgfselect.matrix import load as load_matrix
    from pgfselect.measure.runner import ModelSession

    doc = {**GRID, "model": {"path": str(real_qwen), "cpu_threads": 1},
           "training": {**GRID["training"], "method": method, "report_to": "tensorboard"}}
    cfg = tmp_path / "grid.yaml"
    cfg.write_text(yaml.safe_dump(doc))
    loaded, alive_at_load = [], []
    real_load = ModelSession.load_base

    def tracking_load(self, training=None):
        alive_at_load.append(sum(ref() is not None for ref in loaded))
        model = real_load(self, training)
        loaded.append(weakref.ref(model))
        return model

    monkeypatch.setattr(ModelSession, "load_base", tracking_load)
    start = time.perf_counter()
    main(["measure", str(cfg), "--out", str(tmp_path / "out"), "--quiet"])
    print(f"{method} grid: {time.perf_counter() - start:.1f} s")  # reported with pytest -s
    m = load_matrix(tmp_path / "out")
    assert m.is_complete and m.sources == tuple(GRID["tasks"]) and m.targets == tuple(GRID["tasks"])
    assert len((tmp_path / "out" / "matrix.csv").read_text().splitlines()) == 1 + 4
    assert alive_at_load == [0, 0, 0] and all(ref() is None for ref in loaded)
    for cell in (tmp_path / "out" / "cells").rglob("seed_0/*.json"):
        rec = json.loads(cell.read_text())
        adapter = tmp_path / "out" / rec["adapter_dir"]
        targets = json.loads((adapter / "adapter_config.json").read_text())["target_modules"]
        assert targets and rec["train"]["steps"] == 3
        # TensorBoard curves beside the adapter
        assert list((adapter / "tensorboard").glob("events.out.tfevents.*")), adapter
