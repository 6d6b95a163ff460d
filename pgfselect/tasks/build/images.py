"""Plain image folders -> blink:Jigsaw (any photos) and blink:Forensic_Detection (real + generated)."""

from __future__ import annotations

from pathlib import Path

from PIL import Image

from ...errors import PGFSelectError
from .base import Built, Context, image_size, list_images, open_rgb, register, shuffled_choices
from .draw import black_out, limit_size
from .prompts import CHOICES, question

JIGSAW_WIDTH = 400  # LIVR's canvas: 400 x h, h in [170, 230] (LIVR appendix A.2)


def folder_images(ctx: Context, name: str, what: str, at_least: int = 1) -> tuple[Path, list[Path]]:
    folder = ctx.need(name, what)
    if not folder.is_dir():
        raise PGFSelectError(f"{name} {str(folder)!r} is not a folder; it must be {what}")
    files = list_images(folder)
    if len(files) < at_least:
        raise PGFSelectError(f"{name} {str(folder)!r} holds {len(files)} image file(s); this builder needs at "
                             f"least {at_least} (.png, .jpg, .jpeg, .ppm, .bmp, .webp, .tif)")
    return folder, files


def _rel(folder: Path, p: Path) -> str:
    return p.relative_to(folder).as_posix()


@register("Jigsaw", "images", status="unconfirmed", needs=("images",), dataset="images",
          layout="images=a folder of photographs (any depth; e.g. COCO train2017/, disjoint from BLINK's TARA)",
          cites="LIVR (arXiv 2512.21218) appendix A.2 for the crop and distractor recipe",
          note="BLINK built Jigsaw from TARA [C3], whose layout was not checked; any photo folder works. The "
               "missing lower-right quadrant and the prompt are BLINK's; the 400 x h canvas and the distractor "
               "(a same-size patch of the same photo, not overlapping the true one, centre far from it) are LIVR's",
          license="that of the photos in --images")
def jigsaw(ctx: Context):
    folder, files = folder_images(ctx, "images", "a folder of photographs")
    for idx in ctx.order(len(files)):
        f = files[idx]
        w0, h0 = image_size(f)
        scale = JIGSAW_WIDTH / w0
        full_h = round(h0 * scale)
        h = int(ctx.rng.integers(170, 231)) // 2 * 2
        if full_h < h + 4:
            ctx.skipped["too wide for a 400 x 170-230 crop"] += 1
            continue
        top = int(ctx.rng.integers(0, full_h - h + 1))
        pw, ph = JIGSAW_WIDTH // 2, h // 2
        gold = (pw, top + ph, JIGSAW_WIDTH, top + h)  # full-image coordinates of the missing quadrant
        other = _distractor(gold, pw, ph, JIGSAW_WIDTH, full_h, ctx.rng)
        if other is None:
            ctx.skipped["no distractor patch far from the missing one"] += 1
            continue
        (first, second), answer = shuffled_choices(ctx.rng, gold, [other])
        crop = (0, top, JIGSAW_WIDTH, top + h)

        def render(f=f, full_h=full_h, crop=crop, first=first, second=second):
            img = open_rgb(f).resize((JIGSAW_WIDTH, full_h), Image.BICUBIC)
            canvas = img.crop(crop)
            masked = black_out(canvas, (pw, ph, JIGSAW_WIDTH, canvas.height))
            return [masked, img.crop(first), img.crop(second)]

        yield Built(render=render, question=question("Jigsaw", ctx.wording), choices=list(CHOICES["Jigsaw"]),
                    answer=answer, source={"dataset": "images", "file_name": _rel(folder, f),
                                           "resized_to": [JIGSAW_WIDTH, full_h], "crop_xyxy": list(crop),
                                           "missing_xyxy": list(gold), "candidates_xyxy": [list(first), list(second)]},
                    originals=[(_rel(folder, f), lambda f=f: open_rgb(f))])


def _distractor(gold, pw, ph, width, height, rng, tries: int = 100):
    gx, gy = gold[0] + pw / 2, gold[1] + ph / 2
    for _ in range(tries):
        x, y = int(rng.integers(0, width - pw + 1)), int(rng.integers(0, height - ph + 1))
        overlap = x < gold[2] and x + pw > gold[0] and y < gold[3] and y + ph > gold[1]
        far = ((x + pw / 2 - gx) ** 2 + (y + ph / 2 - gy) ** 2) ** 0.5 >= 0.75 * pw
        if not overlap and far:
            return (x, y, x + pw, y + ph)
    return None


@register("Forensic_Detection", "real-generated", status="unconfirmed", needs=("images", "path"),
          dataset="real + generated image folders",
          layout="images=a folder of real photographs; path=a folder of generated (AI) images",
          cites="BLINK README (Disclaimers): its forensic images were collected by hand from online search",
          note="BLINK has no source dataset to reuse: it hand-collected real and generated images, and its "
               "generators are UNCONFIRMED. One real photo and three generated images per item, in random "
               "order; how close the fakes are to the real photo (BLINK's are similar in content) is up to "
               "the folders you give",
          license="that of the images given")
def forensic(ctx: Context):
    real_dir, real = folder_images(ctx, "images", "a folder of real photographs")
    fake_dir, fake = folder_images(ctx, "path", "a folder of generated images", at_least=3)
    for idx in ctx.order(len(real)):
        r = real[idx]
        fakes = [fake[int(k)] for k in ctx.rng.choice(len(fake), size=3, replace=False)]
        order, answer = shuffled_choices(ctx.rng, r, fakes)
        yield Built(render=lambda order=order: [limit_size(open_rgb(p)) for p in order],
                    question=question("Forensic_Detection", ctx.wording), choices=list(CHOICES["Forensic_Detection"]),
                    answer=answer, source={"dataset": "real-generated", "file_name": _rel(real_dir, r),
                                           "generated": [_rel(fake_dir, p) for p in fakes]},
                    originals=[(str(p), lambda p=p: open_rgb(p)) for p in [r, *fakes]])
