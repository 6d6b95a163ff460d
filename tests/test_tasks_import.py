"""``pgfselect tasks import``: LLaVA JSON, messages JSONL / datasets, hf folders -> custom tasks."""

import json

import pytest
from PIL import Image

from clirun import run_cli

COLOURS = {"red": (220, 30, 30), "green": (30, 180, 30), "blue": (30, 30, 220), "yellow": (230, 220, 30)}


def dots_image(path, n):
    img = Image.new("RGB", (32, 32), (255, 255, 255))
    for k in range(n):  # n black pixels-blocks: the answer is in the image
        x, y = (k % 5) * 6 + 1, (k // 5) * 6 + 1
        img.paste((0, 0, 0), (x, y, x + 4, y + 4))
    img.save(path)


def llava_counting(tmp_path, n=40, extra=None):
    imgs = tmp_path / "imgs"
    imgs.mkdir(exist_ok=True)
    recs = []
    for i in range(n):
        dots_image(imgs / f"c{i}.png", i % 9 + 1)
        recs.append({"id": f"c{i}", "image": f"c{i}.png", "conversations": [
            {"from": "human", "value": "<image>\nHow many black squares are there?"},
            {"from": "gpt", "value": str(i % 9 + 1)}]})
    recs += extra or []
    path = tmp_path / "counts.json"
    path.write_text(json.dumps(recs, indent=1))
    return path, imgs


def messages_colours(tmp_path, n=40):
    folder = tmp_path / "colours"
    (folder / "img").mkdir(parents=True)
    lines = []
    names = list(COLOURS)
    for i in range(n):
        name = names[i % 4]
        Image.new("RGB", (16, 16), COLOURS[name]).save(folder / "img" / f"{i}.png")
        lines.append(json.dumps({"id": f"col{i}", "images": [f"img/{i}.png"], "messages": [
            {"role": "user", "content": [{"type": "image"}, {"type": "text", "text": "What colour is the image?"}]},
            {"role": "assistant", "content": [{"type": "text", "text": name.capitalize()}]}],
            **({"aliases": ["crimson"]} if name == "red" else {})}))
    path = folder / "data.jsonl"
    path.write_text("\n".join(lines) + "\n")
    return path


def show(capsys, task_yaml):
    code, out, err = run_cli(["tasks", "show", f"custom:{task_yaml}", "--format", "json"], capsys)
    assert code == 0, err
    return json.loads(out)


def test_llava_counting_imports_as_a_number_task(tmp_path, capsys):
    path, imgs = llava_counting(tmp_path)
    code, out, err = run_cli(["tasks", "import", "llava", str(path), "--images", str(imgs),
                              "--out", str(tmp_path / "T"), "--format", "json"], capsys)
    assert code == 0, err
    assert json.loads(out)["answer_type"] == "number"
    info = show(capsys, tmp_path / "T" / "task.yaml")
    assert info["answer_type"] == "number" and info["split_sizes"] == {"train": 32, "val": 4, "test": 4}
    assert info["example_prompt"].endswith("How many black squares are there?\nAnswer with a single number.")
    from pgfselect.tasks import get_task

    task = get_task(f"custom:{tmp_path / 'T' / 'task.yaml'}")
    items = [it for s in ("train", "val", "test") for it in task.items(s)]
    assert sorted(it.id.split("/")[-1] for it in items) == sorted(f"c{i}" for i in range(40))
    by_id = {it.id.split("/")[-1]: it for it in items}
    assert by_id["c7"].target == "8" and by_id["c7"].images[0].size == (32, 32)


def test_messages_colours_import_as_text_with_a_choice_hint_and_are_seeded(tmp_path, capsys):
    path = messages_colours(tmp_path)
    code, out, err = run_cli(["tasks", "import", "messages", str(path), "--out", str(tmp_path / "T"),
                              "--format", "json"], capsys)
    assert code == 0, err
    summary = json.loads(out)
    assert summary["answer_type"] == "text" and "4 distinct answers" in summary["hint"]
    info = show(capsys, tmp_path / "T" / "task.yaml")
    assert info["answer_type"] == "text" and sum(info["split_sizes"].values()) == 40
    # the same seed gives the same split; another seed another one
    run_cli(["tasks", "import", "messages", str(path), "--out", str(tmp_path / "T2"), "-q"], capsys)
    run_cli(["tasks", "import", "messages", str(path), "--out", str(tmp_path / "T3"), "--seed", "1", "-q"], capsys)
    assert (tmp_path / "T" / "val.jsonl").read_text() == (tmp_path / "T2" / "val.jsonl").read_text()
    assert (tmp_path / "T" / "val.jsonl").read_text() != (tmp_path / "T3" / "val.jsonl").read_text()
    # offered as a closed set: the distinct answers become every item's options
    code, _, err = run_cli(["tasks", "import", "messages", str(path), "--out", str(tmp_path / "C"),
                            "--answer-type", "choice", "-q"], capsys)
    assert code == 0, err
    from pgfselect.tasks import get_task

    item = get_task(f"custom:{tmp_path / 'C' / 'task.yaml'}").items("train")[0]
    assert item.choices == ["Blue", "Green", "Red", "Yellow"]
    assert item.choices[item.answer] == "Red"  # col0 is red, and it is in train for seed 0
    assert item.id.endswith("/col0")
    text_item = next(it for it in get_task(f"custom:{tmp_path / 'T' / 'task.yaml'}").items("train")
                     if it.id.endswith("/col0"))
    assert (text_item.answer_type, text_item.target, text_item.aliases) == ("text", "Red", ["crimson"])


def test_messages_datasets_folder_and_hf_folder(tmp_path, capsys):
    import datasets

    imgs = [Image.new("RGB", (8, 8), (10 * i, 0, 0)) for i in range(10)]
    ds = datasets.Dataset.from_dict({
        "messages": [[{"role": "user", "content": "<image>How red?"}, {"role": "assistant", "content": f"{i}.5"}]
                     for i in range(10)],
        "images": [[im] for im in imgs]}).cast_column("images", datasets.Sequence(datasets.Image()))
    ds.save_to_disk(str(tmp_path / "msgds"))
    code, out, err = run_cli(["tasks", "import", "messages", str(tmp_path / "msgds"), "--out", str(tmp_path / "M"),
                              "--split-fractions", "0.5,0.5,0", "--format", "json"], capsys)
    assert code == 0, err
    assert json.loads(out)["split_sizes"] == {"train": 5, "val": 5}
    assert show(capsys, tmp_path / "M" / "task.yaml")["answer_type"] == "number"
    hf = datasets.Dataset.from_dict({"q": ["Which is darker?"] * 6, "opts": [["left", "right"]] * 6,
                                     "a": ["left", "right"] * 3, "pic": imgs[:6]}).cast_column("pic", datasets.Image())
    hf.save_to_disk(str(tmp_path / "hfds"))
    code, out, err = run_cli(["tasks", "import", "hf", str(tmp_path / "hfds"), "--columns",
                              "question=q,answer=a,image=pic,choices=opts", "--out", str(tmp_path / "H"),
                              "--format", "json"], capsys)
    assert code == 0, err
    info = show(capsys, tmp_path / "H" / "task.yaml")
    assert info["answer_type"] == "choice" and info["n_choices"] == 2 and info["example_answer"] in ("A", "B")
    code, _, err = run_cli(["tasks", "import", "hf", "someone/dataset", "--out", str(tmp_path / "X")], capsys)
    assert code == 2 and "needs --revision" in err


def _bad(tmp_path, capsys, args, message):
    out = tmp_path / "OUT"
    code, _, err = run_cli(["tasks", "import", *args, "--out", str(out)], capsys)
    assert code == 2, err
    messages = [message] if isinstance(message, str) else message
    assert err.startswith("error: ") and err.count("\n") == 1 and all(m in err for m in messages), err
    assert not out.exists() and not list(tmp_path.glob(".OUT.*"))
    return err


def test_escaping_missing_unreadable_images_are_refused(tmp_path, capsys):
    for bad, message in (("../../../../etc/passwd", "image path '../../../../etc/passwd' leaves the images folder"),
                         ("nope.png", "nope.png' does not exist"), ("broken.png", "cannot read image")):
        (tmp_path / "imgs").mkdir(exist_ok=True)
        (tmp_path / "imgs" / "broken.png").write_text("not a png")
        extra = [{"id": "bad", "image": bad, "conversations": [{"from": "human", "value": "<image>\nHow many?"},
                                                                {"from": "gpt", "value": "3"}]}]
        path, imgs = llava_counting(tmp_path, n=3, extra=extra)
        err = _bad(tmp_path, capsys, ["llava", str(path), "--images", str(imgs)],
                   [f"counts.json:{last_record_line(path)}: ", message])
        assert message in err and not (tmp_path / "OUT").exists()


def last_record_line(path):
    # json.dumps(indent=1) starts each record of the list with a line " {"
    return max(i for i, line in enumerate(path.read_text().splitlines(), 1) if line == " {")


def test_error_lines_name_file_and_line(tmp_path, capsys):
    extra = [{"id": "c1", "image": "c0.png", "conversations": [{"from": "human", "value": "<image>\nHow many?"},
                                                               {"from": "gpt", "value": "2"}]}]
    path, imgs = llava_counting(tmp_path, n=2, extra=extra)
    line = last_record_line(path)
    _bad(tmp_path, capsys, ["llava", str(path), "--images", str(imgs)], f"counts.json:{line}: duplicate id 'c1'")
    extra[0].update(id="c9", conversations=[{"from": "human", "value": "<image>\nHow many?"}, {"from": "gpt", "value": " "}])
    path, imgs = llava_counting(tmp_path, n=2, extra=extra)
    _bad(tmp_path, capsys, ["llava", str(path), "--images", str(imgs)], f"counts.json:{line}: empty answer")
    turn = [{"from": "human", "value": "<image>\nHow many?"}, {"from": "gpt", "value": "2"}]
    extra[0].update(conversations=turn * 2)
    path, imgs = llava_counting(tmp_path, n=2, extra=extra)
    _bad(tmp_path, capsys, ["llava", str(path), "--images", str(imgs)], "1 of 3 conversations are multi-turn")
    code, out, err = run_cli(["tasks", "import", "llava", str(path), "--images", str(imgs), "--split-turns",
                              "--split-fractions", "1,0,0", "--out", str(tmp_path / "S"), "--format", "json"], capsys)
    assert code == 0, err
    assert json.loads(out)["split_sizes"] == {"train": 4}
    _bad(tmp_path, capsys, ["llava", str(path), "--split-fractions", "0.5,0.6,0"], "--split-fractions '0.5,0.6,0'")
    path = messages_colours(tmp_path, n=4)
    _bad(tmp_path, capsys, ["messages", str(path), "--answer-type", "number"], "data.jsonl:1: answer 'Red' is not a number")


def test_imported_task_round_trips_through_mix_export_and_preview(tmp_path, capsys):
    import datasets
    import yaml

    from pgfselect.mixdata import mix
    from pgfselect.tasks import get_task
    from pgfselect.tasks.export import export_items, preview_image

    path, imgs = llava_counting(tmp_path)
    run_cli(["tasks", "import", "llava", str(path), "--images", str(imgs), "--out", str(tmp_path / "T"), "-q"], capsys)
    manifest = tmp_path / "T" / "task.yaml"
    task = get_task(f"custom:{manifest}")
    plan = tmp_path / "plan.yaml"
    plan.write_text(yaml.safe_dump({"pgfselect_plan": 1, "target": "Counts", "budget": 10, "matrix": "m",
                                    "strategy": "pgf", "allocation": {"Counts": 10}}))
    for fmt in ("llava", "messages"):
        mix(plan, tmp_path / f"mix-{fmt}", fmt, tasks={"Counts": f"custom:{manifest}"})
    records = json.loads((tmp_path / "mix-llava" / "data.json").read_text())
    assert records[0]["conversations"][0]["value"].endswith("\nAnswer with a single number.")
    # the LLaVA output imports back: same ids (now the pgfselect ids), questions, answers and pixels
    run_cli(["tasks", "import", "llava", str(tmp_path / "mix-llava" / "data.json"), "--split-fractions", "1,0,0",
             "--out", str(tmp_path / "back"), "-q"], capsys)
    back = {it.id.split("/", 1)[1]: it for it in get_task(f"custom:{tmp_path / 'back' / 'task.yaml'}").items("train")}
    orig = {it.id: it for it in task.items("train")}
    assert len(back) == 10 and set(back) <= set(orig)
    for k, it in back.items():
        assert (it.question, it.target, it.answer_type) == (orig[k].question, orig[k].target, "number")
        assert it.images[0].tobytes() == orig[k].images[0].tobytes()
    # the messages output (a datasets folder) imports back too
    code, out, err = run_cli(["tasks", "import", "messages", str(tmp_path / "mix-messages" / "dataset"),
                              "--split-fractions", "1,0,0", "--out", str(tmp_path / "back2"), "--format", "json"], capsys)
    assert code == 0, err
    assert json.loads(out)["answer_type"] == "number"
    assert len(datasets.load_from_disk(str(tmp_path / "mix-messages" / "dataset"))) == 10
    # export keeps the answer type; preview draws open answers
    export_items(task, "val", None, 0, tmp_path / "exp")
    assert get_task(f"custom:{tmp_path / 'exp' / 'task.yaml'}").answer_type == "number"
    assert preview_image(task, "val", 2, 0).width > 0


def test_hf_splits_columns_and_image_paths_in_cells_are_checked(tmp_path, capsys):
    import datasets

    img = tmp_path / "hfdd" / "pics"
    img.mkdir(parents=True)
    Image.new("RGB", (8, 8)).save(img / "a.png")
    part = lambda paths: datasets.Dataset.from_dict({"q": ["How many?"] * len(paths), "a": ["1"] * len(paths),
                                                     "img": [{"bytes": None, "path": p} for p in paths]})
    datasets.DatasetDict({"train": part(["pics/a.png"] * 4), "dev": part(["../../../../etc/passwd"])}).save_to_disk(
        str(tmp_path / "hfdd"))
    capsys.readouterr()  # datasets' own progress bars while saving
    cols = ["--columns", "question=q,answer=a,image=img"]
    _bad(tmp_path, capsys, ["hf", str(tmp_path / "hfdd"), *cols], "has splits train, dev; choose one with --hf-split")
    _bad(tmp_path, capsys, ["hf", str(tmp_path / "hfdd"), *cols, "--hf-split", "dev"],
         ["row 0 column img: image path '../../../../etc/passwd' leaves the images folder"])
    _bad(tmp_path, capsys, ["hf", str(tmp_path / "hfdd"), "--columns", "question=q,answer=ans,image=img",
                            "--hf-split", "train"], "no column(s) ans; it has q, a, img")
    code, out, err = run_cli(["tasks", "import", "hf", str(tmp_path / "hfdd"), *cols, "--hf-split", "train",
                              "--out", str(tmp_path / "ok"), "--format", "json"], capsys)
    assert code == 0, err
    assert json.loads(out)["answer_type"] == "number" and sum(json.loads(out)["split_sizes"].values()) == 4
