"""The operator interface every IR node attribute class implements.

Each operator lives in its own module under ``nn2mcu.ops`` as a frozen dataclass that
subclasses :class:`Op`; the module holds the operator's whole vertical slice:
attributes, shape rule, counts, the float reference (numpy, NHWC), the layouts of
its weights in NCHW frameworks (Caffe, ONNX, PyTorch) and its PyTorch module.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, ClassVar

import numpy as np
import numpy.typing as npt

from nn2mcu.ir.shape import Shape

if TYPE_CHECKING:
    import torch

Array = npt.NDArray[np.floating]


class ShapeError(ValueError):
    """An operator cannot be applied to the given input shapes (message without layer name)."""


class Op:
    """Base class of operator attribute dataclasses.

    Subclasses are frozen dataclasses and set ``kind`` (the registry key) and
    ``type_name`` (what tables show).
    """

    kind: ClassVar[str] = ""
    type_name: ClassVar[str] = ""
    arity: ClassVar[int] = 1
    # True when the output may share the input's buffer (element-wise, or a
    # reshape of HWC data): such a layer adds no activation memory.
    in_place: ClassVar[bool] = False
    # The axis of the weight array that runs over output channels (per-channel scales).
    weight_channel_axis: ClassVar[int] = 0
    # True for an operator that turns logits into class probabilities (a final softmax):
    # the layer before it is the one whose argmax classifies.
    classifier_head: ClassVar[bool] = False
    # True for a per-channel affine (BatchNorm, Scale) that passes.fold_batchnorm folds into
    # the convolution or inner product before it; no kernel runs it and nn2mcu does not
    # train it.
    folded_into_producer: ClassVar[bool] = False
    # True for an operator that makes every negative input 0: a producer whose outputs
    # saturate at the bottom of their range just before it loses nothing there.
    zeroes_negatives: ClassVar[bool] = False

    def channel_affine(
        self, weights: Mapping[str, Array]
    ) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64]]:
        """For a per-channel affine: (multiplier, offset) such that y = x * m + offset."""
        raise NotImplementedError(f"{self.type_name} is not a per-channel affine")

    def output_shape(self, inputs: Sequence[Shape]) -> Shape:
        """Shape rule: the output shape for these input shapes, or ShapeError."""
        raise NotImplementedError

    def weight_shapes(self, inputs: Sequence[Shape]) -> dict[str, tuple[int, ...]]:
        """Names and IR layouts of the parameter arrays this operator needs."""
        return {}

    def macs(self, inputs: Sequence[Shape], output: Shape) -> int:
        """Multiply-accumulates per inference (convolutions and inner products only)."""
        return 0

    def geometry(self) -> str:
        """Kernel/stride/pad as text for tables, or '' when not applicable."""
        return ""

    def float_reference(self, inputs: Sequence[Array], weights: Mapping[str, Array]) -> Array:
        """The operator on a batch of NHWC float inputs, computed in float64 with numpy."""
        raise NotImplementedError(f"{self.type_name} has no float reference")

    def nchw_weights(self, weights: Mapping[str, Array], source: Shape) -> dict[str, Array]:
        """IR weights in the layouts NCHW frameworks use (Caffe, ONNX, PyTorch).

        ``source`` is the spatial shape the operator's input was flattened from
        (``Graph.flatten_source``), which inner products need.
        """
        return dict(weights)

    def ir_weights(self, weights: Mapping[str, Array], source: Shape) -> dict[str, Array]:
        """The inverse of :meth:`nchw_weights`."""
        return dict(weights)

    def torch_module(self, inputs: Sequence[Shape]) -> torch.nn.Module:
        """A PyTorch module computing the operator on NCHW tensors."""
        raise NotImplementedError(f"{self.type_name} has no PyTorch module")


def check_arity(op: Op, inputs: Sequence[Shape]) -> None:
    if len(inputs) != op.arity:
        raise ShapeError(f"{op.type_name} takes {op.arity} input(s), got {len(inputs)}")


class ElementwiseOp(Op):
    """An operator whose output has its input's shape and may overwrite it."""

    in_place = True

    def output_shape(self, inputs: Sequence[Shape]) -> Shape:
        check_arity(self, inputs)
        return inputs[0]
