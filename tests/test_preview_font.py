"""`tasks preview` draws Greek and CJK text with a font that has the glyphs, or says it cannot."""

from __future__ import annotations

import json
import os

import pytest
from PIL import Image

from clirun import run_cli
from pgfselect.tasks import custom as custom_mod
from pgfselect.tasks import export
from pgfselect.tasks.export import preview_font

TEXT = "Which θ is larger? 哪一个更大？"
HAS_CJK_FONT = any(os.path.isfile(p) for p in export.PREVIEW_FONTS[:3])


def glyph(f, char: str) -> bytes:
    img = Image.new("L", (24, 24))
    from PIL import ImageDraw

    ImageDraw.Draw(img).text((2, 2), char, fill=255, font=f)
    return img.tobytes()


@pytest.fixture
def cjk_task(tmp_path, monkeypatch):
    monkeypatch.setattr(custom_mod, "_REGISTERED", {})
    (tmp_path / "img").mkdir()
    Image.new("RGB", (20, 20), (200, 0, 0)).save(tmp_path / "img" / "0.png")
    records = [{"id": f"q{i}", "images": ["img/0.png"], "question": TEXT * 3, "choices": ["α 左边", "β 右边"],
                "answer": i % 2} for i in range(2)]
    (tmp_path / "val.jsonl").write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records))
    (tmp_path / "task.yaml").write_text("name: cjk\nn_choices: 2\nsplits: {val: val.jsonl}\n")
    return f"custom:{tmp_path / 'task.yaml'}"


@pytest.mark.skipif(not HAS_CJK_FONT, reason="no CJK font installed (apt-get install fonts-wqy-microhei)")
def test_greek_and_cjk_get_real_glyphs(cjk_task, tmp_path, capsys):
    f, missing = preview_font(TEXT)
    assert missing == ""
    assert glyph(f, "数") != glyph(f, "字")  # distinct glyphs, not the same box
    assert glyph(f, "θ") != glyph(f, "β")
    code, out, err = run_cli(["tasks", "preview", cjk_task, "--n", "2", "--out", str(tmp_path / "p.png"),
                              "--format", "json"], capsys)
    assert code == 0 and "missing_glyphs" not in json.loads(out) and "note:" not in err


def test_without_a_cjk_font_greek_still_draws_and_the_cli_says_what_is_missing(cjk_task, tmp_path, capsys,
                                                                              monkeypatch):
    monkeypatch.setattr(export, "PREVIEW_FONTS", ())  # only matplotlib's DejaVu Sans is left
    monkeypatch.delenv("PGFSELECT_FONT", raising=False)
    f, missing = preview_font(TEXT)
    assert "θ" not in missing and "哪" in missing and "W" not in missing
    code, out, err = run_cli(["tasks", "preview", cjk_task, "--n", "2", "--out", str(tmp_path / "p.png")], capsys)
    assert code == 0 and "note: no installed font can draw" in err and "fonts-wqy-microhei" in err


def test_long_cjk_lines_wrap_inside_the_cell():
    f, _ = preview_font(TEXT)
    lines = export._wrap("数" * 200 + " and some words " * 10, f, 454)
    assert len(lines) > 3 and all(f.getlength(line) <= 454 for line in lines)
