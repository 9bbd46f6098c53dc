"""The float check at import: the IR's float reference (numpy, float64) against
onnxruntime on random inputs, tensor by tensor in graph order. A tensor passes when
max |ir - ort| <= 1e-5 * max |ort| + 1e-6; the first that does not is named."""

from __future__ import annotations

import numpy as np
import onnx
import onnxruntime as ort

from nn2mcu.errors import InputError
from nn2mcu.frontends.onnx.loader import OnnxNet
from nn2mcu.reference import float_forward

RELATIVE, ABSOLUTE = 1e-5, 1e-6


def _session(net: OnnxNet, names: list[str], where: str) -> ort.InferenceSession:
    model = onnx.ModelProto()
    model.CopyFrom(net.model)
    present = {o.name for o in model.graph.output}
    for name in names:
        if name not in present:
            model.graph.output.append(onnx.ValueInfoProto(name=name))
    options = ort.SessionOptions()
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
    options.log_severity_level = 3
    try:
        return ort.InferenceSession(
            model.SerializeToString(), options, providers=["CPUExecutionProvider"]
        )
    except Exception as error:  # onnxruntime's own exception classes
        message = " ".join(str(error).split())
        raise InputError(f"{where}: onnxruntime cannot load the model: {message}") from None


def check_against_onnxruntime(net: OnnxNet, where: str, images: int = 4, seed: int = 0) -> float:
    """The largest relative difference over the checked tensors; raises InputError naming
    the first ONNX tensor (and the IR layer) outside the tolerance."""
    graph = net.graph
    first = graph.layers[0]
    shape = graph.shapes[first.name]
    rng = np.random.default_rng(seed)
    x = rng.normal(0.0, 1.0, (images, shape.h, shape.w, shape.c)).astype(np.float32)
    checked = [layer.name for layer in graph.layers if layer.name in net.tensors][1:]
    names = [net.tensors[name] for name in checked]
    session = _session(net, names, where)
    input_name = session.get_inputs()[0].name
    runs = [  # one image per run: exporters often fix the batch at 1
        session.run(names, {input_name: np.ascontiguousarray(x[i : i + 1].transpose(0, 3, 1, 2))})
        for i in range(images)
    ]
    theirs = {name: np.concatenate([run[k] for run in runs]) for k, name in enumerate(names)}
    ours = float_forward(graph, x)
    worst = 0.0
    for name, tensor in zip(checked, names, strict=True):
        value = np.asarray(theirs[tensor], np.float64)
        if value.ndim == 4:  # NCHW -> NHWC
            value = value.transpose(0, 2, 3, 1)
        elif graph.shapes[name].is_vector:  # a flattened NCHW tensor -> HWC order
            source = graph.flatten_source(name)
            if source.size == value.shape[-1] and not source.is_vector:
                value = value.reshape(-1, source.c, source.h, source.w).transpose(0, 2, 3, 1)
        value = value.reshape(ours[name].shape)
        difference = float(np.max(np.abs(ours[name] - value)))
        scale = float(np.max(np.abs(value)))
        if difference > RELATIVE * scale + ABSOLUTE:
            raise InputError(
                f"{where}: the float check against onnxruntime fails at tensor '{tensor}' "
                f"(layer '{name}'): max |nn2mcu - onnxruntime| = {difference:.3g} for values "
                f"up to {scale:.3g}"
            )
        worst = max(worst, difference / scale if scale else difference)
    return worst
