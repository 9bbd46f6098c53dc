"""Per-channel scale and optional bias: y = x * scale[c] (+ bias[c]).

Folded into a preceding convolution or inner product (usually together with a
BatchNorm) by ``nn2mcu.passes.fold_batchnorm``.
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
class Scale(ElementwiseOp):
    kind = "scale"
    type_name = "Scale"

    folded_into_producer = True

    bias: bool = False

    def weight_shapes(self, inputs: Sequence[Shape]) -> dict[str, tuple[int, ...]]:
        channels = inputs[0].c
        shapes: dict[str, tuple[int, ...]] = {"scale": (channels,)}
        if self.bias:
            shapes["bias"] = (channels,)
        return shapes

    def float_reference(self, inputs: Sequence[Array], weights: Mapping[str, Array]) -> Array:
        out = inputs[0].astype(np.float64) * weights["scale"].astype(np.float64)
        if self.bias:
            out = out + weights["bias"].astype(np.float64)
        return out

    def channel_affine(
        self, weights: Mapping[str, Array]
    ) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64]]:
        """(gamma, beta), beta 0 without a bias."""
        gamma = weights["scale"].astype(np.float64)
        beta = weights["bias"].astype(np.float64) if self.bias else np.zeros_like(gamma)
        return gamma, beta

    def torch_module(self, inputs: Sequence[Shape]) -> torch.nn.Module:
        from nn2mcu.ops._torch_modules import ChannelAffine

        return ChannelAffine(inputs[0].c, "scale", bias=self.bias)


for _scheme in SCHEME_NAMES:
    refuse(
        Scale,
        _scheme,
        "it must be folded into the convolution or inner product before it (nn2mcu folds it "
        "when trained weights are attached)",
    )
