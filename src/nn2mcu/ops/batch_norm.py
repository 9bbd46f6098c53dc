"""Batch normalization at inference: y = (x - mean) / sqrt(variance + eps).

Weights "mean" and "variance" hold one value per channel (Caffe's moving-average
factor already divided out). Folded into a preceding convolution or inner product
by ``nn2mcu.passes.fold_batchnorm``; no kernel runs it on its own, and nn2mcu does
not train it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import numpy.typing as npt

from nn2mcu.ir.op import Array, ElementwiseOp
from nn2mcu.ir.shape import Shape
from nn2mcu.ops.registry import SCHEME_NAMES, refuse, register

if TYPE_CHECKING:
    import torch


@register
@dataclass(frozen=True)
class BatchNorm(ElementwiseOp):
    kind = "batch_norm"
    type_name = "BatchNorm"

    folded_into_producer = True

    eps: float = 1e-5

    def __post_init__(self) -> None:
        if not self.eps > 0:
            raise ValueError(f"eps must be positive, got {self.eps}")

    def weight_shapes(self, inputs: Sequence[Shape]) -> dict[str, tuple[int, ...]]:
        channels = inputs[0].c
        return {"mean": (channels,), "variance": (channels,)}

    def float_reference(self, inputs: Sequence[Array], weights: Mapping[str, Array]) -> Array:
        mean = weights["mean"].astype(np.float64)
        variance = weights["variance"].astype(np.float64)
        return (inputs[0].astype(np.float64) - mean) / np.sqrt(variance + self.eps)

    def channel_affine(
        self, weights: Mapping[str, Array]
    ) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64]]:
        """inv_std = 1 / sqrt(variance + eps): (inv_std, -mean * inv_std)."""
        mean = weights["mean"].astype(np.float64)
        variance = weights["variance"].astype(np.float64)
        inv_std = 1.0 / np.sqrt(variance + float(self.eps))
        return inv_std, -mean * inv_std

    def torch_module(self, inputs: Sequence[Shape]) -> torch.nn.Module:
        from nn2mcu.ops._torch_modules import ChannelAffine

        return ChannelAffine(inputs[0].c, "batch_norm", eps=self.eps)


for _scheme in SCHEME_NAMES:
    refuse(
        BatchNorm,
        _scheme,
        "it must be folded into the convolution or inner product before it (nn2mcu folds it "
        "when trained weights are attached)",
    )
