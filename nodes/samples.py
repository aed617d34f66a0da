"""The bundled sample images as an IMAGE and the sample clip as a VIDEO, so that the shipped workflows run with no uploads."""

from __future__ import annotations

from pathlib import Path

from comfy_api.latest import InputImpl, io

from ..core.images import load_image
from . import _comfy
from ._convert import list_to_image
from ._types import node_schema

SAMPLES_DIR = Path(__file__).resolve().parent.parent / "samples"


def sample_names(pattern: str = "*.png") -> list[str]:
    """File names of the bundled samples (content.png, style_*.png; "*.mp4": clip.mp4), sorted."""
    return sorted(path.name for path in SAMPLES_DIR.glob(pattern))


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


class SampleVideo(io.ComfyNode):
    """The pack's sample clip (drawn by generators/make_samples.py, CC0): what Load Video would give, with no upload.

    Load Video lists only ComfyUI's input folder, which a fresh install has no
    clip in; this node hands Get Video Components the same kind of VIDEO.
    """

    @classmethod
    def define_schema(cls) -> io.Schema:
        names = sample_names("*.mp4")
        return node_schema(
            node_id="NST_SampleVideo",
            display_name="Sample Video (NST)",
            search_aliases=["sample video", "example clip", "sample clip", "load video"],
            description=(
                "The short clip bundled with the NST pack (160 x 120 px, H.264, CC0), so the video workflow runs "
                "without uploading anything. Replace it with Load Video for your own clips: both give a VIDEO."
            ),
            inputs=[
                io.Combo.Input(
                    "sample",
                    options=names,
                    default="clip.mp4" if "clip.mp4" in names else (names[0] if names else None),
                    tooltip="Which bundled clip: clip.mp4 pans over content.png while a mosaic disc crosses it.",
                ),
            ],
            outputs=[io.Video.Output(display_name="video", tooltip="The sample clip, for Get Video Components.")],
        )

    @classmethod
    def execute(cls, sample: str) -> io.NodeOutput:
        names = sample_names("*.mp4")
        if sample not in names:
            raise ValueError(f"sample: {sample!r} is not a bundled clip; choose one of {', '.join(names)}")
        return io.NodeOutput(InputImpl.VideoFromFile(str(SAMPLES_DIR / sample)))


NODES: list[type[io.ComfyNode]] = [SampleImage, SampleVideo]
