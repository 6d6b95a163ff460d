"""Reference + two candidates: blink:Art_Style (WikiArt CSVs, or any class-per-folder image
folder such as ArtBench-10) and blink:Visual_Similarity (NIGHTS triplets)."""

from __future__ import annotations

import csv
import re
from pathlib import Path

from ...errors import PGFSelectError
from .base import Built, Context, list_images, open_rgb, register, shuffled_choices
from .draw import limit_size
from .prompts import CHOICES, question

ART = dict(status="unconfirmed",
           note="BLINK's Art_Style paintings are WikiArt-derived [C3, via LIVR]; its exact source and style "
                "label set are UNCONFIRMED, and so is the middle of the prompt (the list of styles). One "
                "candidate shares the reference's style label, the other does not (LIVR's reading of BLINK)")


def _triplets(ctx: Context, records: list[tuple[Path, str]], root: Path, dataset: str, task: str = "Art_Style"):
    """For each reference (seeded order): a same-class and an other-class candidate, in random order."""
    by_class: dict[str, list[int]] = {}
    for i, (_, c) in enumerate(records):
        by_class.setdefault(c, []).append(i)
    if len(by_class) < 2:
        raise PGFSelectError(f"{dataset}: found {len(by_class)} class(es) in {str(root)!r}; at least 2 are needed")
    for idx in ctx.order(len(records)):
        ref, cls = records[idx]
        same = [i for i in by_class[cls] if i != idx]
        if not same:
            ctx.skipped["only image of its class"] += 1
            continue
        pos = records[same[int(ctx.rng.integers(len(same)))]]
        neg = records[int(ctx.rng.integers(len(records)))]
        while neg[1] == cls:  # rejection: no O(N) list of other-class images per item (WikiArt has 80k)
            neg = records[int(ctx.rng.integers(len(records)))]
        (c1, c2), answer = shuffled_choices(ctx.rng, pos, [neg])
        paths = [ref, c1[0], c2[0]]
        yield Built(render=lambda paths=paths: [limit_size(open_rgb(p)) for p in paths],
                    question=question(task, ctx.wording), choices=list(CHOICES[task]), answer=answer,
                    source={"dataset": dataset, "file_name": ref.relative_to(root).as_posix(), "class": cls,
                            "candidates": [c1[0].relative_to(root).as_posix(), c2[0].relative_to(root).as_posix()],
                            "candidate_classes": [c1[1], c2[1]]},
                    originals=[(str(p), lambda p=p: open_rgb(p)) for p in paths])


@register("Art_Style", "imagefolder", needs=("images",), dataset="imagefolder",
          layout="images=ROOT/<class>/<image> (one folder per style, e.g. ArtBench-10's train/)",
          cites="torchvision ImageFolder convention (class = folder name); ArtBench-10 ships this layout",
          license="that of the images given (ArtBench-10/WikiArt: non-commercial research)", **ART)
def art_imagefolder(ctx: Context):
    root = ctx.need("images", "ROOT/<class>/<image> folders")
    records = [(p, p.relative_to(root).parts[0]) for p in list_images(root) if len(p.relative_to(root).parts) > 1]
    if not records:
        raise PGFSelectError(f"images {str(root)!r} has no class folders with images (expected ROOT/<class>/<image>)")
    yield from _triplets(ctx, records, root, "imagefolder")


@register("Art_Style", "wikiart", needs=("path", "annotations"), dataset="wikiart",
          layout="path=the WikiArt folder (one subfolder per style); annotations=Style_train.csv "
                 "(rows path,class_index; Style_class.txt beside it names the classes, optional)",
          cites="cs-chan/ArtGAN 'WikiArt Dataset/README.md'",
          license="WikiArt: non-commercial research only, subject to WikiArt.org terms", **ART)
def art_wikiart(ctx: Context):
    root = ctx.need("path", "the WikiArt image folder")
    table = ctx.need("annotations", "a WikiArt {Style}_train.csv file (rows path,class_index)")
    ctx.record_file(table)
    # Style_train.csv / Style_val.csv -> Style_class.txt beside it
    names = _class_names(table.with_name(re.sub(r"_(train|val)\.csv$", "_class.txt", table.name)))
    records = []
    with open(table, newline="", encoding="utf-8") as fh:
        for lineno, row in enumerate(csv.reader(fh), 1):
            if len(row) != 2 or not row[1].strip().isdigit():
                raise PGFSelectError(f"{table}:{lineno}: expected 'path/to/image.jpg,class_index', "
                                     f"got {','.join(row)!r}")
            p = root / row[0]
            if not p.is_file():
                ctx.skipped["image listed but missing"] += 1
                continue
            records.append((p, names.get(int(row[1]), row[1].strip())))
    yield from _triplets(ctx, records, root, "wikiart")


def _class_names(path: Path) -> dict[int, str]:
    """``{index: name}`` from lines ``INDEX NAME`` of a WikiArt class file, when it exists."""
    out = {}
    if path.is_file():
        for line in path.read_text(encoding="utf-8").splitlines():
            head, _, name = line.strip().partition(" ")
            if head.isdigit() and name:
                out[int(head)] = name.strip()
    return out


# data.csv's column 2 header -> True when p is the share of annotators preferring the right image
P_MEANS = {"right_vote": True, "left_vote": False}


@register("Visual_Similarity", "nights", needs=("path",), dataset="nights", status="unconfirmed",
          layout="path=the nights/ folder (data.csv, ref/, distort/) from dreamsim's dataset/download_dataset.sh",
          cites="ssundaram21/dreamsim dataset/README.md and dataset/dataset.py",
          note="BLINK's Visual_Similarity shares NIGHTS' source [C3, via LIVR]. Rows are read as dreamsim's loader "
               "does (votes >= 6, split == train; columns by index: 2 = p, 4 = ref, 5 = left, 6 = right). "
               "The direction of p is UNCONFIRMED, so it is taken from column 2's own header name: "
               "'right_vote' (share preferring the right image) or 'left_vote'; any other name is refused "
               "rather than guessed. Check a few built items by eye",
          license="NIGHTS: UNCONFIRMED (Stable Diffusion 2.1 generations)")
def nights(ctx: Context):
    root = ctx.need("path", "the nights/ folder holding data.csv")
    table = root / "data.csv"
    if not table.is_file():
        raise PGFSelectError(f"path {str(root)!r} has no data.csv; it must be the nights/ folder of NIGHTS")
    ctx.record_file(table)
    with open(table, newline="", encoding="utf-8") as fh:
        rows = list(csv.reader(fh))
    header, rows = rows[0], rows[1:]
    if "votes" not in header or "split" not in header or len(header) < 7:
        raise PGFSelectError(f"{table}: expected NIGHTS columns (id, ..., p, ..., ref, left, right, votes, split), "
                             f"got {', '.join(header)}")
    iv, isplit = header.index("votes"), header.index("split")
    if header[2] not in P_MEANS:
        raise PGFSelectError(f"{table}: column 2 (dreamsim's p) is named {header[2]!r}; pgfselect reads its direction "
                             f"from the name and knows {', '.join(P_MEANS)}: the meaning of {header[2]!r} is "
                             "unconfirmed, so no items are built (see data_cards/built-tasks.md)")
    p_is_right = P_MEANS[header[2]]
    keep = [r for r in rows if r[isplit] == "train" and float(r[iv]) >= 6]
    ctx.skipped["not train or votes < 6"] += len(rows) - len(keep)
    for idx in ctx.order(len(keep)):
        r = keep[idx]
        ref, left, right, p = root / r[4], root / r[5], root / r[6], float(r[2])
        more_similar = right if (p >= 0.5) == p_is_right else left
        (c1, c2), answer = shuffled_choices(ctx.rng, more_similar, [left if more_similar == right else right])
        paths = [ref, c1, c2]
        yield Built(render=lambda paths=paths: [limit_size(open_rgb(q)) for q in paths],
                    question=question("Visual_Similarity", ctx.wording), choices=list(CHOICES["Visual_Similarity"]),
                    answer=answer, source={"dataset": "nights", "image_id": r[0], "file_name": r[4],
                                           "candidates": [c.relative_to(root).as_posix() for c in (c1, c2)], "p": p},
                    originals=[(str(q), lambda q=q: open_rgb(q)) for q in paths])
