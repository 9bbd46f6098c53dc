"""ReLU: max(x, 0), element-wise; runs in place. Its bindings: arm_relu_q7 for q7; in s8
the activation range of the layer before it, or a clamp of its own."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, ClassVar

import numpy as np

from nn2mcu.cgen import c_macro
from nn2mcu.ir.binding import Call, CStatement, IntArray, Kernel, Site
from nn2mcu.ir.op import Array, ElementwiseOp
from nn2mcu.ir.shape import Shape
from nn2mcu.ops import _cmsis, _q7, _s8
from nn2mcu.ops.registry import bind, register
from nn2mcu.s8.model import activation_range

if TYPE_CHECKING:
    import torch


@register
@dataclass(frozen=True)
class ReLU(ElementwiseOp):
    kind = "relu"
    type_name = "ReLU"
    zeroes_negatives = True

    def float_reference(self, inputs: Sequence[Array], weights: Mapping[str, Array]) -> Array:
        return np.maximum(inputs[0].astype(np.float64), 0.0)

    def torch_module(self, inputs: Sequence[Shape]) -> torch.nn.Module:
        import torch

        return torch.nn.ReLU()


@bind
class ReLUQ7(_q7.Q7Binding):
    """arm_relu_q7: max(x, 0), in place (split into calls of at most 65,535 elements)."""

    op = ReLU
    functions = ("arm_relu_q7",)
    constraints = (_q7.uint16_image,)
    in_place: ClassVar[bool] = True

    def kernel(self, site: Site) -> Kernel:
        return Kernel("arm_relu_q7", "in place")

    def simulate(self, site: Site, inputs: tuple[IntArray, ...]) -> IntArray:
        return np.maximum(inputs[0], 0)

    def c_defines(self, site: Site, call: Call) -> dict[str, int]:
        return _cmsis.image_dims(site)

    def c_call(self, site: Site, call: Call) -> list[CStatement]:
        size, src = site.output.size, _q7.arena(call.input)
        return [
            CStatement(f"{call.kernel.name}({src} + {start}, {min(_q7.UINT16_MAX, size - start)});")
            for start in range(0, size, _q7.UINT16_MAX)
        ]


CLAMP_HELPER = """/* a ReLU or ReLU6 not fused into a kernel: a clamp to [low, high], in place */
static void nn_clamp_s8(int8_t *data, int32_t size, int32_t low, int32_t high)
{
    for (int32_t i = 0; i < size; i++) {
        data[i] = (int8_t)(data[i] < low ? low : (data[i] > high ? high : data[i]));
    }
}

"""


class ClampS8(_s8.S8Binding):
    """An activation in the s8 scheme: fused into the layer before it (that layer's
    activation range) when that layer takes one, else a clamp of its own, in place."""

    functions = ("nn_clamp_s8",)
    in_place: ClassVar[bool] = True
    c_helpers: ClassVar[str] = CLAMP_HELPER
    upper: ClassVar[float | None] = None

    def clamp(self) -> tuple[bool, float | None] | None:
        return (True, self.upper)

    def range(self, site: Site) -> tuple[int, int]:
        return activation_range(_s8.source_params(site), self.upper)

    def moves_no_data(self, site: Site) -> bool:
        return site.name in _s8.model_of(site).fused

    def kernel(self, site: Site) -> Kernel:
        return Kernel("nn_clamp_s8", "in place, not fused: a clamp to its int8 range (nn.c)")

    def simulate(self, site: Site, inputs: tuple[IntArray, ...]) -> IntArray:
        if self.moves_no_data(site):
            return inputs[0]
        low, high = self.range(site)
        return np.clip(inputs[0], low, high).astype(np.int8)

    def c_defines(self, site: Site, call: Call) -> dict[str, int]:
        low, high = self.range(site)
        return {
            **_cmsis.image_dims(site),
            "SIZE": site.output.size,
            "ACT_MIN": low,
            "ACT_MAX": high,
        }

    def c_call(self, site: Site, call: Call) -> list[CStatement]:
        p = c_macro(site.name)
        return [
            CStatement(
                f"{call.kernel.name}({_s8.arena(call.input)}, {p}_SIZE, {p}_ACT_MIN, {p}_ACT_MAX);"
            )
        ]


@bind
class ReLUS8(ClampS8):
    """[zero point, 127]: the range of the layer before it when fused, else nn_clamp_s8."""

    op = ReLU
