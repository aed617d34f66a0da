"""The baseline: style transfer written the way most users write it.

This is the pattern of the well-known PyTorch tutorial, written here from
its description: copy `vgg19().features` into a new nn.Sequential behind a
normalisation module, and insert a loss module after each layer a loss
needs. Each loss module stores its loss as an attribute during the forward
pass and passes its input through; the Sequential is cut after the last
loss module. Everything runs in fp32 NCHW with the default allocator.

It uses the same layers, weights, loss normalisation and weights as the
engine, so on the same image its total loss equals the engine's (run.py
checks this); only the way the computation is organised differs.
"""

from __future__ import annotations

import copy
from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from nst_nodes.core.vgg import TORCHVISION


class Normalization(nn.Module):
    """ImageNet normalisation as the first module of the model."""

    def __init__(self) -> None:
        super().__init__()
        self.register_buffer("mean", torch.tensor(TORCHVISION.mean).view(-1, 1, 1))
        self.register_buffer("std", torch.tensor(TORCHVISION.std).view(-1, 1, 1))

    def forward(self, image: torch.Tensor) -> torch.Tensor:
        return (image - self.mean) / self.std


def gram(features: torch.Tensor) -> torch.Tensor:
    """The tutorial's Gram matrix: batch folded into channels, divided by the element count."""
    batch, channels, height, width = features.size()
    flat = features.view(batch * channels, height * width)
    return flat @ flat.t() / (batch * channels * height * width)


class ContentLoss(nn.Module):
    """Remembers a target feature map; its forward stores the MSE to it and returns the input."""

    def __init__(self, target: torch.Tensor) -> None:
        super().__init__()
        self.target = target.detach()
        self.loss = torch.zeros(())

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        self.loss = F.mse_loss(features, self.target)
        return features


class StyleLoss(nn.Module):
    """Remembers a target Gram matrix; its forward stores the MSE of Grams and returns the input."""

    def __init__(self, target_features: torch.Tensor) -> None:
        super().__init__()
        self.target = gram(target_features).detach()
        self.loss = torch.zeros(())

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        self.loss = F.mse_loss(gram(features), self.target)
        return features


def _layer_name(module: nn.Module, block: int, index: int) -> str:
    if isinstance(module, nn.Conv2d):
        return f"conv{block}_{index}"
    if isinstance(module, nn.ReLU):
        return f"relu{block}_{index}"
    return f"pool{block}"


class TutorialModel:
    """The model with loss modules inserted, and the total loss the tutorial's closure computes."""

    def __init__(
        self,
        features: nn.Sequential,
        content: torch.Tensor,
        style: torch.Tensor,
        content_layers: Sequence[str],
        style_layers: Sequence[str],
        content_weight: float = 1.0,
        style_weight: float = 1e6,
        freeze: bool = True,
    ) -> None:
        cnn = copy.deepcopy(features).to(content.device).eval()
        self.model = nn.Sequential(Normalization().to(content.device))
        self.content_losses: list[ContentLoss] = []
        self.style_losses: list[StyleLoss] = []
        block, index = 1, 0
        for module in cnn.children():
            if isinstance(module, nn.Conv2d):
                index += 1
            name = _layer_name(module, block, index)
            if isinstance(module, nn.ReLU):
                module = nn.ReLU(inplace=False)  # in-place ReLU would overwrite what the loss modules saw
            self.model.add_module(name, module)
            if name in content_layers:
                loss = ContentLoss(self.model(content))
                self.model.add_module(f"content_loss_{name}", loss)
                self.content_losses.append(loss)
            if name in style_layers:
                loss = StyleLoss(self.model(style))
                self.model.add_module(f"style_loss_{name}", loss)
                self.style_losses.append(loss)
            if isinstance(module, nn.MaxPool2d):
                block, index = block + 1, 0
            if len(self.content_losses) == len(content_layers) and len(self.style_losses) == len(style_layers):
                break  # everything after the last loss module is cut off
        # A common slip is to forget this: gradients are then computed for every weight too.
        self.model.requires_grad_(not freeze)
        self.content_weight, self.style_weight = content_weight, style_weight

    def loss(self, image: torch.Tensor) -> torch.Tensor:
        """Run the model for its side effects, then sum the weighted losses the modules stored."""
        self.model(image)
        content = sum(loss.loss for loss in self.content_losses)
        style = sum(loss.loss for loss in self.style_losses)
        return self.content_weight * content + self.style_weight * style


class TutorialRun:
    """The tutorial's optimisation loop on the image, clamping inside the closure.

    With the optimiser the engine uses, so that a step does the same work:
    Adam (the engine's default), or L-BFGS as the engine runs it (one
    iteration, one loss evaluation, per step; history 50).
    """

    def __init__(
        self,
        tutorial: TutorialModel,
        init: torch.Tensor,
        optimizer: str,
        lr: float,
        lbfgs_iterations: int = 1,
        lbfgs_history: int = 50,
    ) -> None:
        """`lbfgs_iterations`/`lbfgs_history`: the tutorial as published runs 20 and 100 (torch's defaults)."""
        self.tutorial = tutorial
        self.image = init.clone().requires_grad_(True)
        self.optimizer: torch.optim.Optimizer = (
            torch.optim.LBFGS([self.image], lr=lr, max_iter=lbfgs_iterations, history_size=lbfgs_history)
            if optimizer == "lbfgs"
            else torch.optim.Adam([self.image], lr=lr)
        )
        self.last = torch.zeros(())
        self.evaluations = 0  # of the loss, over all steps

    def step(self) -> float:
        """One optimiser step; returns the last loss it evaluated."""

        def closure() -> torch.Tensor:
            with torch.no_grad():
                self.image.clamp_(0, 1)
            self.optimizer.zero_grad()
            loss = self.tutorial.loss(self.image)
            loss.backward()
            self.last = loss.detach()
            self.evaluations += 1
            return loss

        self.optimizer.step(closure)
        return float(self.last)
