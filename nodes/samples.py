"""The bundled sample images as an IMAGE, so that the shipped workflows run with no uploads."""

from __future__ import annotations

from pathlib import Path

from comfy_api.latest import io

from ..core.images import load_image
from . import _comfy
from ._convert import list_to_image
from ._types import node_schema

SAMPLES_DIR = Path(__file__).resolve().parent.parent / "samples"


def sample_names() -> list[str]:
    """File names of the bundled samples (content.png, style_*.png), sorted."""
    return sorted(path.name for path in SAMPLES_DIR.glob("*.png"))


class SampleImage(io.ComfyNode):
    """One of the pack's sample pictures (drawn by generators/make_samples.py, CC0)."""

    @classmethod
    def define_schema(cls) -> io.Schema:
        names = sample_names()
        return node_schema(
            node_id="NST_SampleImage",
            display_name="Sample Image (NST)",
            search_aliases=["sample image", "example picture", "content image", "style image"],
            description=(
                "One of the sample images bundled with the NST pack (256 px, CC0), so the example "
                "workflows run without uploading anything. Replace it with Load Image for your own pictures."
            ),
            inputs=[
                io.Combo.Input(
                    "sample",
                    options=names,
                    default="content.png" if "content.png" in names else (names[0] if names else None),
                    tooltip="Which bundled picture: content.png is a content photo stand-in, style_*.png are styles.",
                ),
            ],
            outputs=[io.Image.Output(display_name="image", tooltip="The sample picture as a one-image batch.")],
        )

    @classmethod
    def execute(cls, sample: str) -> io.NodeOutput:
        if sample not in sample_names():
            raise ValueError(f"sample: {sample!r} is not a bundled sample; choose one of {', '.join(sample_names())}")
        image = load_image(SAMPLES_DIR / sample, what="sample")
        return io.NodeOutput(list_to_image([image], _comfy.output_device()))


NODES: list[type[io.ComfyNode]] = [SampleImage]
