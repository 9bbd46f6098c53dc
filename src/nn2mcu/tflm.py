"""TensorFlow Lite Micro's own reference interpreter (the ``tflite-micro`` package) as the
oracle an imported model's C is compared with, byte for byte.

Inputs and outputs are the int8 tensors the generated C takes and gives. A model with a
float input edge (QUANTIZE first) is fed scale * (q - zero point) in float32, which its
QUANTIZE maps back to q; a float output (DEQUANTIZE last) is mapped back to int8 by
round(f / scale) + zero point, the inverse of DEQUANTIZE on its 256 values. The
interpreter prints a line on stdout when it is built; it is kept off nn2mcu's stdout.
"""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import Iterator
from importlib import metadata
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from nn2mcu.errors import InputError

PINNED = "0.dev20261023182759"  # measured bit-exact with TFLM + CMSIS-NN on the Cortex-M4


def version() -> str:
    try:
        return metadata.version("tflite-micro")
    except metadata.PackageNotFoundError:
        return "not installed"


@contextlib.contextmanager
def _quiet_stdout() -> Iterator[None]:
    """File descriptor 1 to stderr while the C++ interpreter prints."""
    sys.stdout.flush()
    saved = os.dup(1)
    try:
        os.dup2(2, 1)
        yield
    finally:
        sys.stdout.flush()
        os.dup2(saved, 1)
        os.close(saved)


def edges(model: Any) -> tuple[tuple[float, int], tuple[float, int]]:
    """The (scale, zero point) of an imported s8 model's int8 input and output tensors."""
    first = model.tensors[model.graph.input_name]
    last = model.tensors[model.graph.outputs[0]]
    return (first.scale, first.zero_point), (last.scale, last.zero_point)


class Oracle:
    """One TFLM interpreter for one .tflite file."""

    def __init__(
        self,
        path: Path,
        *,
        preserve_all_tensors: bool = False,
        edges: tuple[tuple[float, int], tuple[float, int]] | None = None,
    ) -> None:
        """``edges``: the (scale, zero point) of the int8 tensors inside a float input and
        output (the QUANTIZE's output, the DEQUANTIZE's input)."""
        try:
            from tflite_micro import runtime
        except ImportError:
            raise InputError(
                f"comparing with TensorFlow Lite Micro needs tflite-micro=={PINNED} "
                "(pip install tflite-micro)"
            ) from None
        config = (
            runtime.InterpreterConfig.kPreserveAllTensors
            if preserve_all_tensors
            else runtime.InterpreterConfig.kAllocationRecording
        )
        if not path.is_file():
            raise InputError(f"{path}: the TFLite model the quantized model came from is missing")
        with _quiet_stdout():
            try:
                self.interpreter = runtime.Interpreter.from_file(
                    str(path), intrepreter_config=config
                )
            except Exception as error:  # the binding raises RuntimeError on a bad model
                raise InputError(f"{path}: TensorFlow Lite Micro refuses it: {error}") from None
        self.input = self.interpreter.get_input_details(0)
        self.output = self.interpreter.get_output_details(0)
        self.edges = edges

    def _params(self, side: int) -> tuple[float, int]:
        if self.edges is None:
            raise InputError("a float input or output needs the int8 tensor's parameters")
        return self.edges[side]

    def invoke(self, tensor: npt.NDArray[np.int8]) -> npt.NDArray[np.int8]:
        """The output tensor for one int8 input tensor (the int8 one inside float edges)."""
        shape = tuple(self.input["shape"])
        value: npt.NDArray[Any] = np.asarray(tensor, np.int8).reshape(shape)
        if self.input["dtype"] == np.float32:
            scale, zero_point = self._params(0)
            value = (
                np.float32(scale) * (value.astype(np.float32) - np.float32(zero_point))
            ).astype(np.float32)
        self.interpreter.set_input(value, 0)
        self.interpreter.invoke()
        out = np.asarray(self.interpreter.get_output(0))
        if out.dtype == np.float32:
            scale, zero_point = self._params(1)
            q = np.round(out.astype(np.float64) / scale) + zero_point
            out = np.clip(q, -128, 127).astype(np.int8)
        return out.astype(np.int8).ravel()

    def run(self, tensors: npt.NDArray[np.int8]) -> npt.NDArray[np.int8]:
        """Output tensors, one row per input tensor."""
        return (
            np.stack([self.invoke(t) for t in tensors])
            if len(tensors)
            else np.zeros((0, 0), np.int8)
        )

    def tensor(self, index: int) -> npt.NDArray[np.int8]:
        """A tensor of the last invoke (needs ``preserve_all_tensors``)."""
        entry = self.interpreter.GetTensor(index, 0)
        return np.asarray(entry["tensor_data"]).ravel()
