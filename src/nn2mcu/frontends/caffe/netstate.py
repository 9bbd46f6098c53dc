"""Caffe's include/exclude rules, and the upgrade of the V1 layer form."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from nn2mcu.errors import InputError
from nn2mcu.frontends.caffe import caffe_pb2

PHASES = {"TRAIN": caffe_pb2.TRAIN, "TEST": caffe_pb2.TEST}


@dataclass(frozen=True)
class NetState:
    phase: str = "TEST"
    level: int = 0
    stages: tuple[str, ...] = field(default=())

    def __post_init__(self) -> None:
        if self.phase not in PHASES:
            raise InputError(f"phase must be TRAIN or TEST, got '{self.phase}'")


def meets_rule(state: NetState, rule: caffe_pb2.NetStateRule) -> bool:
    """Caffe's rule: every condition the rule sets must hold for the state."""
    if rule.HasField("phase") and rule.phase != PHASES[state.phase]:
        return False
    if rule.HasField("min_level") and state.level < rule.min_level:
        return False
    if rule.HasField("max_level") and state.level > rule.max_level:
        return False
    if any(stage not in state.stages for stage in rule.stage):
        return False
    return not any(stage in state.stages for stage in rule.not_stage)


def is_included(layer: caffe_pb2.LayerParameter, state: NetState, path: Path) -> bool:
    if len(layer.include) and len(layer.exclude):
        raise InputError(
            f"{path}: layer '{layer.name}' has both include and exclude rules; "
            "Caffe allows only one kind"
        )
    if len(layer.include):
        return any(meets_rule(state, rule) for rule in layer.include)
    return not any(meets_rule(state, rule) for rule in layer.exclude)


# V1 layer type enum -> the layer type name of the current form.
_V1_TYPES = {
    "ABSVAL": "AbsVal",
    "ACCURACY": "Accuracy",
    "ARGMAX": "ArgMax",
    "BNLL": "BNLL",
    "CONCAT": "Concat",
    "CONTRASTIVE_LOSS": "ContrastiveLoss",
    "CONVOLUTION": "Convolution",
    "DATA": "Data",
    "DECONVOLUTION": "Deconvolution",
    "DROPOUT": "Dropout",
    "DUMMY_DATA": "DummyData",
    "EUCLIDEAN_LOSS": "EuclideanLoss",
    "ELTWISE": "Eltwise",
    "EXP": "Exp",
    "FLATTEN": "Flatten",
    "HDF5_DATA": "HDF5Data",
    "HDF5_OUTPUT": "HDF5Output",
    "HINGE_LOSS": "HingeLoss",
    "IM2COL": "Im2col",
    "IMAGE_DATA": "ImageData",
    "INFOGAIN_LOSS": "InfogainLoss",
    "INNER_PRODUCT": "InnerProduct",
    "LRN": "LRN",
    "MEMORY_DATA": "MemoryData",
    "MULTINOMIAL_LOGISTIC_LOSS": "MultinomialLogisticLoss",
    "MVN": "MVN",
    "POOLING": "Pooling",
    "POWER": "Power",
    "RELU": "ReLU",
    "SIGMOID": "Sigmoid",
    "SIGMOID_CROSS_ENTROPY_LOSS": "SigmoidCrossEntropyLoss",
    "SILENCE": "Silence",
    "SOFTMAX": "Softmax",
    "SOFTMAX_LOSS": "SoftmaxWithLoss",
    "SPLIT": "Split",
    "SLICE": "Slice",
    "TANH": "TanH",
    "WINDOW_DATA": "WindowData",
    "THRESHOLD": "Threshold",
}

# Parameter messages shared by both forms, by field name.
_SHARED_PARAMS = (
    "accuracy_param",
    "convolution_param",
    "data_param",
    "dropout_param",
    "hdf5_data_param",
    "inner_product_param",
    "lrn_param",
    "memory_data_param",
    "pooling_param",
    "relu_param",
    "softmax_param",
    "transform_param",
    "loss_param",
)


def upgrade_v1(v1: caffe_pb2.V1LayerParameter) -> caffe_pb2.LayerParameter:
    """The V1 layer form rewritten as a current LayerParameter."""
    layer = caffe_pb2.LayerParameter()
    layer.name = v1.name
    enum_name = caffe_pb2.V1LayerParameter.LayerType.Name(v1.type)
    layer.type = _V1_TYPES.get(enum_name, enum_name)
    layer.bottom.extend(v1.bottom)
    layer.top.extend(v1.top)
    layer.include.extend(v1.include)
    layer.exclude.extend(v1.exclude)
    layer.blobs.extend(v1.blobs)
    layer.loss_weight.extend(v1.loss_weight)
    count = max(len(v1.param), len(v1.blobs_lr), len(v1.weight_decay))
    for index in range(count):
        spec = layer.param.add()
        if index < len(v1.param):
            spec.name = v1.param[index]
        if index < len(v1.blobs_lr):
            spec.lr_mult = v1.blobs_lr[index]
        if index < len(v1.weight_decay):
            spec.decay_mult = v1.weight_decay[index]
    for name in _SHARED_PARAMS:
        if v1.HasField(name):
            getattr(layer, name).CopyFrom(getattr(v1, name))
    return layer


def net_layers(net: caffe_pb2.NetParameter, path: Path) -> list[caffe_pb2.LayerParameter]:
    """All layers of a net in the current form (V1 layers upgraded)."""
    if len(net.layer) and len(net.layers):
        raise InputError(f"{path}: the net mixes 'layer' and the old 'layers' form")
    if len(net.layers):
        return [upgrade_v1(v1) for v1 in net.layers]
    return list(net.layer)


def filter_layers(
    net: caffe_pb2.NetParameter, state: NetState, path: Path
) -> list[caffe_pb2.LayerParameter]:
    """The layers of ``net`` that Caffe would instantiate in ``state``."""
    return [layer for layer in net_layers(net, path) if is_included(layer, state, path)]
