"""What the q7 bindings share: their base class, and the C text of the legacy CMSIS-NN API
(dimensions as uint16 #defines, const q7_t arrays)."""

from __future__ import annotations

from typing import ClassVar

import numpy as np

from nn2mcu.cgen import c_array, c_macro
from nn2mcu.ir.binding import Binding, Call, Site
from nn2mcu.ops._cmsis import image_dims, window_dims
from nn2mcu.q7.formats import q_format
from nn2mcu.q7.model import Q7Model

UINT16_MAX = 65535


class Q7Binding(Binding):
    """A binding of the q7 scheme; ``output_frac`` gives the format of the layer's output."""

    scheme: ClassVar[str] = "q7"

    def output_frac(self, input_fracs: list[int], chosen: int | None) -> int:
        """The output's fractional bits: the first input's unless the layer chooses its own
        (``chosen``, for layers with weights) or fixes it."""
        return chosen if chosen is not None else input_fracs[0]


def model_of(site: Site) -> Q7Model:
    if not isinstance(site.model, Q7Model):
        raise TypeError(f"layer '{site.name}': a q7 model was expected")
    return site.model


def shift_dims(site: Site) -> dict[str, int]:
    q = model_of(site).weighted[site.name]
    return {"BIAS_LSHIFT": q.shifts.bias_shift, "OUT_RSHIFT": q.shifts.out_shift}


def _too_large(dims: dict[str, int]) -> bool | str:
    large = [f"{key} {value}" for key, value in dims.items() if value > UINT16_MAX]
    return not large or ", ".join(large)


def uint16_image(site: Site) -> bool | str:
    """the legacy API takes every image size and channel count as uint16: at most 65,535"""
    return _too_large(image_dims(site))


def uint16_window(site: Site) -> bool | str:
    """the legacy API takes image sizes, channels, kernel, padding and stride as uint16: at
    most 65,535"""
    return _too_large({**image_dims(site), **window_dims(site)})


def uint16_vector(site: Site) -> bool | str:
    """the legacy API takes the vector lengths as uint16: at most 65,535 inputs and outputs"""
    return _too_large({"DIM_VEC": site.x.size, "OUT_DIM": site.output.size})


def arena(buffer: str) -> str:
    return f"nn_arena + {c_macro(buffer)}_OFFSET"


def scratch_pointer(call: Call, cast: str) -> str:
    return f"({cast} *)({arena(call.scratch)})" if call.scratch else "NULL"


def weight_arrays(site: Site, ident: str, weight: np.ndarray, note: str) -> str:
    """A layer's q7_t weight and bias arrays (zeros for a layer without biases)."""
    q = model_of(site).weighted[site.name]
    bias = q.bias if q.bias.size else np.zeros(site.output.c, np.int64)
    return (
        f"/* {site.name}: weights {note}, {q_format(q.formats.w_frac)} */\n"
        + c_array("q7_t", f"{ident}_wt", weight)
        + c_array("q7_t", f"{ident}_bias", bias)
        + "\n"
    )
