"""Parameter initialisation with Caffe's fillers.

fan_in = count / shape[0] and fan_out = count / shape[1] of the parameter in Caffe's
layout (the same as PyTorch's for convolutions and linear layers).
"""

from __future__ import annotations

import math

import torch

from nn2mcu.errors import InputError
from nn2mcu.trainspec import Filler

FILLERS = ("constant", "gaussian", "uniform", "xavier", "msra")


def _fan(filler: Filler, shape: torch.Size) -> float:
    count = math.prod(shape)
    fan_in = count / shape[0]
    fan_out = count / shape[1] if len(shape) > 1 else count
    if filler.variance_norm == "FAN_OUT":
        return fan_out
    if filler.variance_norm == "AVERAGE":
        return (fan_in + fan_out) / 2
    return fan_in


@torch.no_grad()
def fill(parameter: torch.Tensor, filler: Filler, generator: torch.Generator) -> None:
    """Initialise ``parameter`` in place."""
    kind = filler.type
    if kind == "constant":
        parameter.fill_(filler.value)
    elif kind == "gaussian":
        parameter.normal_(filler.mean, filler.std, generator=generator)
    elif kind == "uniform":
        parameter.uniform_(filler.min, filler.max, generator=generator)
    elif kind == "xavier":
        bound = math.sqrt(3.0 / _fan(filler, parameter.shape))
        parameter.uniform_(-bound, bound, generator=generator)
    elif kind == "msra":
        parameter.normal_(0.0, math.sqrt(2.0 / _fan(filler, parameter.shape)), generator=generator)
    else:
        raise InputError(f"filler '{kind}' is not supported; supported: {', '.join(FILLERS)}")
