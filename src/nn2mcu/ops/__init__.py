"""Operators: one module per operator, registered in ``OPS`` by kind, each with its
bindings to the schemes it supports, registered in ``BINDINGS`` by (kind, scheme).

Every operator module is imported here explicitly (never discovered by scanning),
so a broken module fails at import.
"""

from nn2mcu.ops.add import Add
from nn2mcu.ops.batch_norm import BatchNorm
from nn2mcu.ops.conv2d import Conv2D
from nn2mcu.ops.depthwise_conv2d import DepthwiseConv2D
from nn2mcu.ops.dropout import Dropout
from nn2mcu.ops.flatten import Flatten
from nn2mcu.ops.fully_connected import FullyConnected
from nn2mcu.ops.input import Input, Preprocessing
from nn2mcu.ops.mean import Mean
from nn2mcu.ops.pad import Pad
from nn2mcu.ops.pool2d import Pool2D, PoolMethod
from nn2mcu.ops.registry import BINDINGS, OPS, REFUSALS, binding, lookup
from nn2mcu.ops.relu import ReLU
from nn2mcu.ops.relu6 import ReLU6
from nn2mcu.ops.scale import Scale
from nn2mcu.ops.softmax import Softmax

__all__ = [
    "BINDINGS",
    "OPS",
    "REFUSALS",
    "Add",
    "BatchNorm",
    "Conv2D",
    "DepthwiseConv2D",
    "Dropout",
    "Flatten",
    "FullyConnected",
    "Input",
    "Mean",
    "Pad",
    "Pool2D",
    "PoolMethod",
    "Preprocessing",
    "ReLU",
    "ReLU6",
    "Scale",
    "Softmax",
    "binding",
    "lookup",
]
