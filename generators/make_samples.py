"""Render the bundled sample images and the sample clip in samples/ (made here, free to use: CC0).

Run `python generators/make_samples.py` to recreate them; the output is
deterministic, so the committed PNGs match what this script draws, and so
does samples/clip.mp4 with the same PyAV build (its FFmpeg and x264 encode it).
The clip is footage-like: a camera pans and zooms slowly over content.png
while a disc of style_mosaic.png crosses the scene, covering and uncovering
it (benchmarks/clips.py), so the video workflow has motion and occlusions.
"""

from __future__ import annotations

import math
import random
import sys
from pathlib import Path

from PIL import Image, ImageDraw, ImageFilter

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "samples"
SIZE = 256
# The clip: frames, width x height in px (even, as H.264's 4:2:0 needs), frame rate, x264's quality.
CLIP_FRAMES, CLIP_SIZE, CLIP_FPS, CLIP_CRF = 12, (160, 120), 8, 18
# How far the mosaic disc moves each frame, in px: across most of the frame in the clip's length.
DISC_SPEED = 7.0


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


def clip_frames(still: Image.Image, mover: Image.Image) -> list:
    """The clip's frames as [1, 3, H, W] tensors: benchmarks/clips.py's pan over `still`, `mover`'s disc crossing."""
    import numpy as np
    import torch

    sys.path.insert(0, str(ROOT / "benchmarks"))
    from clips import pan_clip

    def tensor(picture: Image.Image) -> torch.Tensor:
        return torch.from_numpy(np.asarray(picture.convert("RGB"), dtype=np.float32) / 255).permute(2, 0, 1)[None]

    width, height = CLIP_SIZE
    return pan_clip(tensor(still), CLIP_FRAMES, (height, width), mover=tensor(mover), mover_speed=DISC_SPEED)


def write_clip(frames: list, path: Path) -> None:
    """H.264 in MP4 via PyAV, one encoder thread and no version tags, so the same build writes the same bytes."""
    import av
    import torch

    width, height = CLIP_SIZE
    with av.open(str(path), mode="w", format="mp4", options={"fflags": "+bitexact"}) as container:
        stream = container.add_stream("libx264", rate=CLIP_FPS, options={"crf": str(CLIP_CRF), "preset": "slow"})
        stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
        stream.codec_context.thread_count = 1
        stream.codec_context.flags |= av.codec.context.Flags.bitexact
        for frame in frames:
            rgb = (frame[0].permute(1, 2, 0).clamp(0, 1) * 255 + 0.5).to(torch.uint8).numpy()
            container.mux(stream.encode(av.VideoFrame.from_ndarray(rgb, format="rgb24")))
        container.mux(stream.encode())


def main() -> None:
    OUT.mkdir(exist_ok=True)
    pictures = {"content.png": landscape(), "style_waves.png": waves(), "style_mosaic.png": mosaic()}
    for name, picture in pictures.items():
        picture.save(OUT / name, optimize=True)
    write_clip(clip_frames(pictures["content.png"], pictures["style_mosaic.png"]), OUT / "clip.mp4")


if __name__ == "__main__":
    main()
