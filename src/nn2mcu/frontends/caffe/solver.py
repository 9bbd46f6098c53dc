"""Caffe solver files -> SolverConfig, and Caffe layer parameters -> training specs."""

from __future__ import annotations

from pathlib import Path

from nn2mcu.errors import InputError
from nn2mcu.frontends.caffe import caffe_pb2
from nn2mcu.frontends.caffe.files import read_solver_prototxt
from nn2mcu.trainspec import POLICIES, Filler, ParamSpec, SolverConfig

SOLVER_TYPES = {"SGD": "SGD", "Nesterov": "Nesterov", "Adam": "Adam"}
_LEGACY_TYPES = {
    caffe_pb2.SolverParameter.SGD: "SGD",
    caffe_pb2.SolverParameter.NESTEROV: "Nesterov",
    caffe_pb2.SolverParameter.ADAM: "Adam",
}


def solver_config(param: caffe_pb2.SolverParameter, path: Path) -> SolverConfig:
    """The settings of a solver file, checked."""
    kind = param.type if param.HasField("type") else None
    if kind is None and param.HasField("solver_type"):
        legacy = caffe_pb2.SolverParameter.SolverType.Name(param.solver_type)
        kind = _LEGACY_TYPES.get(param.solver_type, legacy)
    kind = kind or "SGD"
    if kind not in SOLVER_TYPES:
        raise InputError(
            f"{path}: solver type '{kind}' is not supported; supported: {', '.join(SOLVER_TYPES)}"
        )
    policy = param.lr_policy or "fixed"
    if policy not in POLICIES:
        raise InputError(
            f"{path}: lr_policy '{policy}' is not supported; supported: {', '.join(POLICIES)}"
        )
    if param.max_iter <= 0:
        raise InputError(f"{path}: max_iter must be set and positive")
    if not param.base_lr > 0:
        raise InputError(f"{path}: base_lr {param.base_lr:g} must be positive")
    if param.regularization_type not in ("L1", "L2"):
        raise InputError(
            f"{path}: regularization_type '{param.regularization_type}' is not L1 or L2"
        )
    if len(param.test_iter) > 1 or len(param.test_net) > 1 or len(param.test_net_param) > 1:
        raise InputError(f"{path}: more than one test net is not supported")
    if policy == "poly" and param.power < 0:
        raise InputError(f"{path}: lr_policy 'poly' needs power >= 0")
    if policy == "step" and param.stepsize <= 0:
        raise InputError(f"{path}: lr_policy 'step' needs a positive stepsize")
    if param.iter_size < 1:
        raise InputError(f"{path}: iter_size must be at least 1")
    test_iter = int(param.test_iter[0]) if len(param.test_iter) else 0
    if param.test_interval > 0 and test_iter <= 0:
        raise InputError(f"{path}: test_interval is set but test_iter is not")
    return SolverConfig(
        type=SOLVER_TYPES[kind],
        base_lr=float(param.base_lr),
        lr_policy=policy,
        gamma=float(param.gamma),
        power=float(param.power),
        stepsize=int(param.stepsize),
        stepvalues=tuple(int(v) for v in param.stepvalue),
        max_iter=int(param.max_iter),
        momentum=float(param.momentum),
        momentum2=float(param.momentum2),
        delta=float(param.delta),
        weight_decay=float(param.weight_decay),
        regularization=param.regularization_type,
        clip_gradients=float(param.clip_gradients),
        iter_size=int(param.iter_size),
        test_iter=test_iter,
        test_interval=int(param.test_interval),
        test_initialization=bool(param.test_initialization),
        display=int(param.display),
        average_loss=max(1, int(param.average_loss)),
        snapshot=int(param.snapshot),
        snapshot_prefix=param.snapshot_prefix,
        snapshot_format=caffe_pb2.SolverParameter.SnapshotFormat.Name(param.snapshot_format),
        snapshot_after_train=bool(param.snapshot_after_train),
        random_seed=int(param.random_seed),
    )


def read_solver(path: Path) -> tuple[caffe_pb2.SolverParameter, SolverConfig]:
    param = read_solver_prototxt(path)
    return param, solver_config(param, path)


def filler(param: caffe_pb2.FillerParameter | None, default: Filler) -> Filler:
    if param is None:
        return default
    if param.HasField("sparse") and param.sparse >= 0:
        raise InputError(f"sparse gaussian fillers (sparse {param.sparse}) are not supported")
    return Filler(
        type=param.type,
        value=float(param.value),
        min=float(param.min),
        max=float(param.max),
        mean=float(param.mean),
        std=float(param.std),
        variance_norm=caffe_pb2.FillerParameter.VarianceNorm.Name(param.variance_norm),
    )


def param_specs(layer: caffe_pb2.LayerParameter, path: Path) -> list[ParamSpec]:
    """lr/decay multipliers and fillers of a layer's blobs, in blob order."""
    try:
        return _param_specs(layer)
    except InputError as error:
        raise InputError(f"{path}: layer '{layer.name}' ({layer.type}): {error}") from None


def _param_specs(layer: caffe_pb2.LayerParameter) -> list[ParamSpec]:
    zero, one = Filler("constant", value=0.0), Filler("constant", value=1.0)
    if layer.type == "Convolution":
        p = layer.convolution_param
        fillers = [
            filler(p.weight_filler if p.HasField("weight_filler") else None, zero),
            filler(p.bias_filler if p.HasField("bias_filler") else None, zero),
        ]
    elif layer.type == "InnerProduct":
        q = layer.inner_product_param
        fillers = [
            filler(q.weight_filler if q.HasField("weight_filler") else None, zero),
            filler(q.bias_filler if q.HasField("bias_filler") else None, zero),
        ]
    elif layer.type == "Scale":
        s = layer.scale_param
        fillers = [
            filler(s.filler if s.HasField("filler") else None, one),
            filler(s.bias_filler if s.HasField("bias_filler") else None, zero),
        ]
    else:
        return []
    specs = []
    for index, fill in enumerate(fillers):
        spec = layer.param[index] if index < len(layer.param) else caffe_pb2.ParamSpec()
        specs.append(ParamSpec(float(spec.lr_mult), float(spec.decay_mult), fill))
    return specs
