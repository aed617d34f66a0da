"""Render the bundled sample images in samples/ (made here, free to use: CC0).

Run `python generators/make_samples.py` to recreate them; the output is
deterministic, so the committed PNGs match what this script draws.
"""

from __future__ import annotations

import math
import random
from pathlib import Path

from PIL import Image, ImageDraw, ImageFilter

OUT = Path(__file__).resolve().parent.parent / "samples"
SIZE = 256


def landscape() -> Image.Image:
    """Content: a sky gradient, a sun, two hills, a house and a tree."""
    image = Image.new("RGB", (SIZE, SIZE))
    draw = ImageDraw.Draw(image)
    for y in range(SIZE):
        t = y / SIZE
        draw.line([(0, y), (SIZE, y)], fill=(int(90 + 120 * t), int(150 + 80 * t), int(235 - 40 * t)))
    draw.ellipse([180, 30, 225, 75], fill=(255, 214, 90))
    draw.ellipse([-80, 150, 200, 340], fill=(70, 140, 60))
    draw.ellipse([90, 165, 360, 360], fill=(95, 165, 70))
    draw.rectangle([60, 150, 120, 200], fill=(200, 80, 60))
    draw.polygon([(52, 152), (90, 118), (128, 152)], fill=(120, 50, 40))
    draw.rectangle([82, 172, 98, 200], fill=(80, 50, 30))
    draw.rectangle([160, 150, 170, 195], fill=(90, 60, 35))
    draw.ellipse([140, 110, 190, 160], fill=(40, 110, 45))
    return image.filter(ImageFilter.SMOOTH)


def waves() -> Image.Image:
    """Style 1: bold diagonal waves in warm colours, brush-like edges."""
    image = Image.new("RGB", (SIZE, SIZE))
    pixels = image.load()
    palette = [(230, 80, 40), (250, 190, 50), (40, 60, 120), (240, 240, 220)]
    for y in range(SIZE):
        for x in range(SIZE):
            phase = (x + y) / 18.0 + 1.8 * math.sin(y / 21.0) + 1.1 * math.sin(x / 13.0)
            pixels[x, y] = palette[int(phase) % len(palette)]
    return image.filter(ImageFilter.GaussianBlur(1.2))


def mosaic() -> Image.Image:
    """Style 2: a cool-coloured mosaic of jittered tiles with dark grout."""
    rng = random.Random(7)
    image = Image.new("RGB", (SIZE, SIZE), (25, 25, 35))
    draw = ImageDraw.Draw(image)
    palette = [(60, 120, 200), (80, 190, 170), (230, 230, 240), (40, 70, 140), (150, 200, 230)]
    step = 16
    for ty in range(0, SIZE, step):
        for tx in range(0, SIZE, step):
            jitter = [rng.randint(1, 4) for _ in range(4)]
            box = [tx + jitter[0], ty + jitter[1], tx + step - jitter[2], ty + step - jitter[3]]
            draw.rectangle(box, fill=rng.choice(palette))
    return image


def main() -> None:
    OUT.mkdir(exist_ok=True)
    for name, render in (("content.png", landscape), ("style_waves.png", waves), ("style_mosaic.png", mosaic)):
        render().save(OUT / name, optimize=True)


if __name__ == "__main__":
    main()
