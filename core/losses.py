"""Gram matrices and the content, style and total-variation losses.

The loss weights mean the same on every backbone and at every image size:
- a Gram matrix is divided by C*H*W (a mean over positions);
- the content and style terms are relative squared errors, each layer's
  squared error divided by its target's mean square. Caffe-trained VGGs have
  activations tens of times larger than torchvision-trained ones; a plain
  MSE grows with their square (content) or fourth power (Gram), so fixed
  weights balanced content and style differently on every backbone. A
  relative error is unchanged when every activation is scaled by c, and each
  layer contributes in proportion to how far it is from its own target.
"""

from __future__ import annotations

import torch


def _at_least_fp32(tensor: torch.Tensor) -> torch.Tensor:
    """bf16/fp16 upcast to fp32; fp32 and fp64 as they are."""
    return tensor.to(torch.promote_types(tensor.dtype, torch.float32))


class _Gram(torch.autograd.Function):
    """F F^T / norm over [B, C, N], returned in fp32, whose backward uses the result's symmetry.

    Autograd's own bmm backward makes two products (one per operand); with
    G = F F^T the gradient is (dG + dG^T) F / norm, one product.

    bf16 maps on the CPU are multiplied in bf16: oneDNN accumulates in fp32
    and rounds only the result, while upcasting the maps first costs a copy
    and a matmul at a quarter of the rate. The backward product is bf16 as
    well; the layer below takes a bf16 gradient anyway. fp16 (GPUs) and
    bf16 on other devices multiply in fp32: fp16 sums overflow past 65504.
    """

    @staticmethod
    def forward(ctx: torch.autograd.function.FunctionCtx, flat: torch.Tensor, norm: float) -> torch.Tensor:
        ctx.save_for_backward(flat)  # in its own dtype: a bf16 map is not kept twice
        ctx.norm = norm
        wide = flat.to(_product_dtype(flat))
        return _at_least_fp32(torch.bmm(wide, wide.transpose(1, 2))) / norm

    @staticmethod
    def backward(ctx: torch.autograd.function.FunctionCtx, grad: torch.Tensor) -> tuple[torch.Tensor, None]:
        (flat,) = ctx.saved_tensors
        wide = flat.to(_product_dtype(flat))
        sym = ((grad + grad.transpose(1, 2)) / ctx.norm).to(wide.dtype)
        if wide.stride(-1) == 1:  # NCHW: rows of F are contiguous
            out = torch.bmm(sym, wide)
        else:  # channels_last: F^T is contiguous; the gradient keeps that layout for the layers below
            out = torch.bmm(wide.transpose(1, 2), sym).transpose(1, 2)
        return out.to(flat.dtype), None


def _product_dtype(flat: torch.Tensor) -> torch.dtype:
    """The dtype _Gram multiplies `flat` in: bf16 on the CPU, else at least fp32."""
    if flat.dtype == torch.bfloat16 and flat.device.type == "cpu":
        return torch.bfloat16
    return torch.promote_types(flat.dtype, torch.float32)


def gram_matrix(features: torch.Tensor) -> torch.Tensor:
    """[B, C, H, W] -> [B, C, C] Gram matrices, computed in fp32 for stability."""
    batch, channels, height, width = features.shape
    if features.is_contiguous(memory_format=torch.channels_last) and not features.is_contiguous():
        # A view whose batch stride bmm accepts: reshape gives a size-1 batch a stride that
        # makes bmm copy the whole map first, most of a Gram's time at 512 px.
        flat = features.permute(0, 2, 3, 1).reshape(batch, height * width, channels).transpose(1, 2)
    else:
        flat = features.reshape(batch, channels, height * width)
    return _Gram.apply(flat, float(channels * height * width))


# Keeps a relative error finite for an all-zero target (a black style image's deep layers).
_TINY = 1e-30


def mean_square(target: torch.Tensor, item_dims: int) -> torch.Tensor:
    """Mean square over the last `item_dims` dims of a target: the scale a relative error divides by."""
    return target.float().pow(2).flatten(-item_dims).mean(-1).clamp_min(_TINY)


def content_loss(features: torch.Tensor, target: torch.Tensor, scale: torch.Tensor | None = None) -> torch.Tensor:
    """Relative squared error of feature maps, per batch item -> [B].

    scale: mean_square(target, 3), when the caller keeps it across steps.
    """
    scale = mean_square(target, 3) if scale is None else scale
    diff = features.float() - target.float()
    return diff.pow(2).flatten(1).mean(1) / scale


def style_loss(gram: torch.Tensor, target: torch.Tensor, scale: torch.Tensor | None = None) -> torch.Tensor:
    """Relative squared error of Gram matrices, per batch item -> [B]; target [C, C] or [B, C, C].

    scale: mean_square(target, 2), when the caller keeps it across steps.
    """
    scale = mean_square(target, 2) if scale is None else scale
    return (gram - target).pow(2).flatten(1).mean(1) / scale


def tv_loss(image: torch.Tensor) -> torch.Tensor:
    """Mean squared difference of neighbouring pixels, per batch item -> [B]."""
    dy = (image[:, :, 1:, :] - image[:, :, :-1, :]).pow(2).flatten(1).mean(1)
    dx = (image[:, :, :, 1:] - image[:, :, :, :-1]).pow(2).flatten(1).mean(1)
    return dy + dx


__all__ = ["gram_matrix", "content_loss", "mean_square", "style_loss", "tv_loss"]
