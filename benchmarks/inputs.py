"""What the speed benchmarks run on: the bundled samples and the seeded random VGG19.

The random VGG is written to a file and loaded with `weights.load_model`,
the same way the tests load it and users load real weights: timings do not
depend on the weights' values, and the loading path is the one users run.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import torch

from nst_nodes.core.random_vgg import save_random_weights
from nst_nodes.core.images import load_image
from nst_nodes.core.vgg import VGGModel
from nst_nodes.core.weights import load_model

SAMPLES = Path(__file__).resolve().parent.parent / "samples"
WEIGHTS_SEED = 0


def random_vgg19() -> VGGModel:
    """The seeded random VGG19, saved as torchvision's file is and loaded like real weights."""
    with tempfile.TemporaryDirectory(prefix="nst-bench-") as folder:
        return load_model(save_random_weights(Path(folder) / "vgg19-random.pth", seed=WEIGHTS_SEED))


def samples() -> tuple[torch.Tensor, torch.Tensor]:
    """The bundled content and style samples (256 px squares)."""
    return load_image(SAMPLES / "content.png", "content"), load_image(SAMPLES / "style_waves.png", "style")
