"""Caffe front end: prototxt, solver, binaryproto, .caffemodel and .caffemodel.h5."""

from nn2mcu.frontends.caffe.loader import (
    CaffeNet,
    InputShapeSources,
    attach_weights,
    build_net,
    load_definition,
    load_net,
    solver_net,
    supported_types,
)
from nn2mcu.frontends.caffe.weights import read_weights, write_caffemodel, write_caffemodel_h5

__all__ = [
    "CaffeNet",
    "InputShapeSources",
    "attach_weights",
    "build_net",
    "load_definition",
    "load_net",
    "read_weights",
    "solver_net",
    "supported_types",
    "write_caffemodel",
    "write_caffemodel_h5",
]
