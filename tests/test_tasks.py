"""Item schema, prompt format, registry and the 13 synthetic tasks."""

import hashlib
from collections import Counter

import numpy as np
import pytest

from pgfselect.errors import PGFSelectError
from pgfselect.names import BLINK_TASKS, blink_tasks
from pgfselect.tasks import (PROMPT_VERSION, Item, answer_text, format_prompt, get_task, letters, list_tasks,
                             parse_answer, validate_item)
from pgfselect.tasks.synthetic import GENERATORS, SKILLS, expected_overlap, skills_table


def _digest(item: Item) -> str:
    h = hashlib.sha256()
    for img in item.images:
        h.update(img.tobytes())
    return h.hexdigest()


# --------------------------------------------------------------------------- schema

def test_prompt_format_is_blink_style_and_stable():
    item = Item("x", [], "How many dogs?", ["1", "2", "3"], 1)
    assert format_prompt(item) == ("How many dogs?\nSelect from the following choices.\n(A) 1\n(B) 2\n(C) 3\n"
                                   "Answer with the option's letter from the given choices directly.")
    assert answer_text(item) == "B" == item.answer_letter
    assert letters(4) == ["A", "B", "C", "D"]
    assert PROMPT_VERSION == "1"  # bump it (and this line) whenever format_prompt changes


@pytest.mark.parametrize("value,expected", [(2, 2), ("C", 2), ("(C)", 2), (" (c) ", 2), ("A", 0)])
def test_parse_answer_accepts_index_letter_and_blink_form(value, expected):
    assert parse_answer(value, 4) == expected


@pytest.mark.parametrize("value", [4, -1, "(E)", "yes", True, None, 1.0])
def test_parse_answer_rejects_out_of_range_and_garbage(value):
    with pytest.raises(PGFSelectError, match="f.jsonl:3"):
        parse_answer(value, 4, "f.jsonl:3")


def test_validate_item_checks_choices_and_images():
    from PIL import Image

    img = Image.new("RGB", (8, 8))
    validate_item(Item("a", [img], "q", ["x", "y"], 1), n_choices=2)
    with pytest.raises(PGFSelectError, match="has 3 choices; the task has 2"):
        validate_item(Item("a", [img], "q", ["x", "y", "z"], 1), n_choices=2)
    with pytest.raises(PGFSelectError, match="images"):
        validate_item(Item("a", [img] * 5, "q", ["x", "y"], 1))
    with pytest.raises(PGFSelectError, match="out of range"):
        validate_item(Item("a", [img], "q", ["x", "y"], 2))


# --------------------------------------------------------------------------- registry

@pytest.mark.parametrize("spelling", ["synthetic:Counting", "synthetic:counting", "synthetic:CT",
                                      "Synthetic:ct", " synthetic:COUNTING "])
def test_get_task_resolves_aliases(spelling):
    assert get_task(spelling).id == "synthetic:Counting"


def test_get_task_resolves_multiword_names_for_both_sources():
    assert get_task("synthetic:multi-view reasoning").id == "synthetic:Multi-view_Reasoning"
    assert get_task("blink:MV").id == "blink:Multi-view_Reasoning"


def test_get_task_errors_suggest_the_fix():
    with pytest.raises(PGFSelectError, match="did you mean 'synthetic:Counting' or 'blink:Counting'"):
        get_task("counting")
    with pytest.raises(PGFSelectError, match="did you mean 'Counting'"):
        get_task("synthetic:Cuonting")
    with pytest.raises(PGFSelectError, match="unknown task source 'synth'"):
        get_task("synth:CT")
    with pytest.raises(PGFSelectError, match="do not apply to synthetic tasks; allowed: size, difficulty, shuffle, skill_cues"):
        get_task("synthetic:CT", local_path="x")


@pytest.mark.parametrize("bad", [{"size": 0}, {"size": 10_000}, {"difficulty": 1.5}, {"difficulty": float("nan")},
                                 {"shuffle": "yes"}, {"skill_cues": 1.5}, {"skill_cues": True}])
def test_synthetic_options_are_validated(bad):
    with pytest.raises(PGFSelectError):
        get_task("synthetic:CT", **bad)


@pytest.mark.parametrize("n", [0, -3, 2.5, True])
def test_items_rejects_bad_n(n):
    with pytest.raises(PGFSelectError, match="positive integer"):
        get_task("synthetic:CT").items("val", n=n)


def test_items_rejects_bad_split_and_seed():
    with pytest.raises(PGFSelectError, match="unknown split 'validation'"):
        get_task("synthetic:CT").items("validation", n=1)
    with pytest.raises(PGFSelectError, match="seed"):
        get_task("synthetic:CT").items("val", n=1, seed=-1)


def test_list_tasks_has_both_sources_with_blink_metadata():
    tasks = list_tasks()
    by_id = {t.id: t for t in tasks}
    meta = blink_tasks()
    for name in BLINK_TASKS:
        for source in ("blink", "synthetic"):
            t = by_id[f"{source}:{name}"]
            assert (t.source, t.n_choices, t.n_images, t.level, t.granularity) == (
                source, meta[name].n_choices, meta[name].n_images, meta[name].level, meta[name].granularity)
    assert {t.source for t in tasks} >= {"blink", "synthetic"}


# --------------------------------------------------------------------------- synthetic

@pytest.mark.parametrize("name", BLINK_TASKS)
def test_every_synthetic_task_generates_valid_balanced_items(name):
    task = get_task(f"synthetic:{name}")
    k = task.n_choices
    items = task.items("val", n=3 * k, seed=0)
    for it in items:
        validate_item(it, n_choices=k)
        assert len(it.images) == blink_tasks()[name].n_images
        assert all(im.mode == "RGB" for im in it.images)
        assert it.id.startswith(f"synthetic:{name}/val/s0/")
    # every block of n_choices items holds each answer once: no majority class to exploit
    for b in range(3):
        assert sorted(it.answer for it in items[b * k:(b + 1) * k]) == list(range(k))
    # the question never contains the answer text (for per-item answer texts)
    assert len({it.id for it in items}) == len(items)


@pytest.mark.parametrize("name", BLINK_TASKS)
def test_synthetic_items_are_deterministic_and_splits_disjoint(name):
    task = get_task(f"synthetic:{name}")
    a = task.items("train", n=6, seed=3)
    b = get_task(f"synthetic:{name}").items("train", n=6, seed=3)
    assert [_digest(x) for x in a] == [_digest(x) for x in b]
    assert [(x.question, x.choices, x.answer) for x in a] == [(x.question, x.choices, x.answer) for x in b]
    # item i stands alone: a longer request starts with the same items
    assert [_digest(x) for x in task.items("train", n=3, seed=3)] == [_digest(x) for x in a[:3]]
    train = {_digest(x) for x in task.items("train", n=30, seed=0)}
    val = {_digest(x) for x in task.items("val", n=30, seed=0)}
    test = {_digest(x) for x in task.items("test", n=30, seed=0)}
    other_seed = {_digest(x) for x in task.items("train", n=30, seed=1)}
    assert len(train) == 30 and not train & val and not train & test and not val & test
    assert not train & other_seed


def test_image_sizes_follow_size_option():
    assert get_task("synthetic:CT").items("val", n=1)[0].images[0].size == (112, 112)
    assert get_task("synthetic:CT", size=56).items("val", n=1)[0].images[0].size == (56, 56)
    # 3-4 image tasks draw each image at half size to keep visual tokens low
    assert {im.size for im in get_task("synthetic:FD").items("val", n=1)[0].images} == {(56, 56)}
    js = get_task("synthetic:JS").items("val", n=1)[0].images
    assert [im.size for im in js] == [(112, 112), (56, 56), (56, 56)]
    assert {im.size for im in get_task("synthetic:VC", size=64).items("val", n=1)[0].images} == {(64, 64)}


def test_default_sizes_mirror_blink_val():
    task = get_task("synthetic:Relative_Depth")
    assert len(task.items("val")) == blink_tasks()["Relative_Depth"].val_items == 124
    assert task.default_n("train") == 1000


def test_difficulty_changes_images_not_answers():
    easy = get_task("synthetic:CT", difficulty=0.0).items("val", n=8)
    hard = get_task("synthetic:CT", difficulty=1.0).items("val", n=8)
    assert [x.answer for x in easy] == [x.answer for x in hard]
    assert [_digest(x) for x in easy] != [_digest(x) for x in hard]
    assert max(x.meta["distractors"] for x in easy) == 0
    assert max(x.meta["distractors"] for x in get_task("synthetic:CT", difficulty=1.0).items("val", n=40)) > 0


def test_easy_counting_is_black_on_white_and_colour_comes_with_difficulty():
    # colour was the nuisance the tiny model could not get past (data_cards/synthetic.md)
    def grey(img):
        a = np.asarray(img).astype(int)
        return bool((a[..., 0] == a[..., 1]).all() and (a[..., 1] == a[..., 2]).all())

    assert all(grey(it.images[0]) for it in get_task("synthetic:CT").items("val", n=12))
    assert not all(grey(it.images[0]) for it in get_task("synthetic:CT", difficulty=0.6).items("val", n=12))


def test_shuffle_moves_options_but_keeps_the_right_text():
    plain = get_task("synthetic:CT").items("val", n=20)
    shuffled = get_task("synthetic:CT", shuffle=True).items("val", n=20)
    assert [p.choices[p.answer] for p in plain] == [s.choices[s.answer] for s in shuffled]
    assert any(p.choices != s.choices for p, s in zip(plain, shuffled))


def test_answers_match_the_generated_scene():
    for it in get_task("synthetic:CT").items("train", n=20):
        assert int(it.choices[it.answer]) == it.meta["count"]
    for it in get_task("synthetic:RD").items("train", n=20):
        assert it.meta["z_near"] < it.meta["z_far"]
    for it in get_task("synthetic:RR").items("train", n=30):
        a, b = it.meta["albedo_a"], it.meta["albedo_b"]
        assert it.answer == (2 if a == b else 0 if a < b else 1)
    for it in get_task("synthetic:SR").items("train", n=20):
        assert it.answer == (0 if it.meta["truth"] else 1)
    for it in get_task("synthetic:SC").items("train", n=12):
        assert it.meta["parts"][it.answer] == it.meta["part"]


def test_class_balance_over_many_items_has_no_majority():
    for name in ("Relative_Reflectance", "Forensic_Detection"):
        task = get_task(f"synthetic:{name}")
        counts = Counter(it.answer for it in task.items("train", n=12 * task.n_choices))
        assert set(counts.values()) == {12}


def test_skills_table_has_shared_structure():
    table = skills_table()
    assert sorted(table) == sorted(BLINK_TASKS) == sorted(GENERATORS)
    used = Counter(s for skills in table.values() for s in skills)
    assert set(used) <= set(SKILLS)
    # every task shares a skill with another task (its expected transfer partners)
    for name, skills in table.items():
        assert any(set(skills) & set(other) for o, other in table.items() if o != name), name
    assert used["marked-points"] >= 5 and used["shapes"] >= 4 and used["texture"] >= 3
    names, overlap = expected_overlap()
    m = np.array(overlap)
    assert np.allclose(np.diag(m), 1) and np.allclose(m, m.T)
    i = names.index
    # the designed neighbourhoods: marked points, shapes, textures
    assert m[i("Relative_Depth"), i("Relative_Reflectance")] > 0
    assert m[i("Counting"), i("Spatial_Relation")] > 0
    assert m[i("Art_Style"), i("Visual_Similarity")] > 0
    assert m[i("Counting"), i("Art_Style")] == 0


def test_synthetic_card_lists_the_skills_table():
    from pathlib import Path

    card = (Path(__file__).resolve().parents[1] / "data_cards" / "synthetic.md").read_text()
    for name, skills in skills_table().items():
        row = next((line for line in card.splitlines() if line.startswith(f"| {name} |")), None)
        assert row is not None, name
        assert all(s in row for s in skills), (name, row)


def _cue_letters(item):
    """The letter each skill square shows, read back from the pixels."""
    from pgfselect.tasks.synthetic.primitives import MARK_COLOURS
    from pgfselect.tasks.synthetic.skills import CUE_CELLS

    img = np.asarray(item.images[0]).astype(int)
    cell = img.shape[0] / 4
    colours = np.array(list(MARK_COLOURS.values()))
    out = {}
    for skill, (row, col) in CUE_CELLS.items():
        px = img[round(row * cell) + 1, round(col * cell) + 1]
        out[skill] = int(np.abs(colours - px).sum(axis=1).argmin())
    return out


def test_skill_cues_show_the_answer_only_in_the_tasks_own_skill_squares():
    task = get_task("synthetic:Relative_Depth", skill_cues=0.6)
    plain = get_task("synthetic:Relative_Depth").items("val", n=200)
    items = task.items("val", n=200)
    assert [x.answer for x in items] == [x.answer for x in plain]  # answers and scenes unchanged
    assert task.items("val", n=5)[4].images[0].tobytes() == items[4].images[0].tobytes()  # reproducible
    agree = {skill: np.mean([_cue_letters(x)[skill] == x.answer for x in items]) for skill in task.skills}
    others = [np.mean([_cue_letters(x)[s] == x.answer for x in items])
              for s in _cue_letters(items[0]) if s not in task.skills]
    # own squares: 0.6 + 0.4 / 2 = 0.8 expected; the others are coin flips
    assert all(0.7 < a < 0.9 for a in agree.values()), agree
    assert all(0.38 < a < 0.62 for a in others), others
    assert task.options["skill_cues"] == 0.6 and "skill_cues" not in get_task("synthetic:RD").options
