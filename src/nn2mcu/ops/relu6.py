"""ReLU6: min(max(x, 0), 6), element-wise (ONNX Clip(0, 6), PyTorch ReLU6); runs in place.

The legacy q7 kernels have no clamp at 6 (arm_relu_q7 clamps at 0 only), so q7 refuses
it. In the s8 scheme it is the activation range [zero point, zero point + 6 / scale] of
the layer before it, or a clamp of its own.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, ClassVar

import numpy as np

from nn2mcu.ir.op import Array, ElementwiseOp
from nn2mcu.ir.shape import Shape
from nn2mcu.ops.registry import bind, refuse, register
from nn2mcu.ops.relu import ClampS8

if TYPE_CHECKING:
    import torch

Q7_REFUSAL = (
    "the legacy CMSIS-NN q7 kernels cannot compute ReLU6 (arm_relu_q7 clamps at 0 only); "
    "use --scheme s8"
)


@register
@dataclass(frozen=True)
class ReLU6(ElementwiseOp):
    kind = "relu6"
    type_name = "ReLU6"
    zeroes_negatives = True

    def float_reference(self, inputs: Sequence[Array], weights: Mapping[str, Array]) -> Array:
        return np.clip(inputs[0].astype(np.float64), 0.0, 6.0)

    def torch_module(self, inputs: Sequence[Shape]) -> torch.nn.Module:
        import torch

        return torch.nn.ReLU6()


@bind
class ReLU6S8(ClampS8):
    """[zero point, zero point + round(6 / scale)] (capped at 127): the range of the layer
    before it when fused, else nn_clamp_s8."""

    op = ReLU6
    upper: ClassVar[float | None] = 6.0


refuse(ReLU6, "q7", Q7_REFUSAL)
