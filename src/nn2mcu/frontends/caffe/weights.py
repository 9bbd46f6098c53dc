"""Caffe weight files: binary .caffemodel (NetParameter) and HDF5 .caffemodel.h5.

HDF5 layout (Caffe's Net::ToHDF5): group ``data``, one subgroup per layer named like
the layer, holding datasets ``0``, ``1``, ... (one per blob, in blob order); layers
without parameters get an empty subgroup.
"""

from __future__ import annotations

from pathlib import Path

import h5py
import numpy as np

from nn2mcu.errors import InputError
from nn2mcu.frontends.caffe import caffe_pb2
from nn2mcu.frontends.caffe.blobs import Blobs, to_caffe
from nn2mcu.frontends.caffe.files import (
    array_blob,
    atomic_output,
    blob_array,
    read_net_binary,
    write_binary,
)
from nn2mcu.frontends.caffe.netstate import net_layers
from nn2mcu.ir import Graph

HDF5_SUFFIXES = (".h5", ".hdf5")


def is_hdf5(path: Path) -> bool:
    return path.name.lower().endswith(HDF5_SUFFIXES)


def read_weights(path: Path) -> dict[str, Blobs]:
    """Layer name -> blobs (float32, Caffe layout) from a .caffemodel or .caffemodel.h5."""
    return _read_hdf5(path) if is_hdf5(path) else _read_caffemodel(path)


def _read_caffemodel(path: Path) -> dict[str, Blobs]:
    net = read_net_binary(path)
    layers = net_layers(net, path)
    if not layers:
        raise InputError(f"{path}: holds no layers; is it a Caffe model?")
    weights: dict[str, Blobs] = {}
    for layer in layers:
        where = f"{path}: layer '{layer.name}'"
        weights[layer.name] = [blob_array(blob, where) for blob in layer.blobs]
    return weights


def _read_hdf5(path: Path) -> dict[str, Blobs]:
    if not path.is_file():
        raise InputError(f"{path}: no such file")
    try:
        with h5py.File(path, "r") as handle:
            data = handle.get("data")
            if not isinstance(data, h5py.Group):
                raise InputError(f"{path}: no 'data' group; not a Caffe HDF5 weights file")
            weights: dict[str, Blobs] = {}
            for name, group in data.items():
                if not isinstance(group, h5py.Group):
                    raise InputError(f"{path}: data/{name} is not a group")
                keys = list(group.keys())
                if not all(key.isdigit() for key in keys):
                    raise InputError(f"{path}: data/{name} holds {keys}, expected 0, 1, ...")
                blobs = []
                for key in sorted(keys, key=int):
                    blob = group[key]
                    if not isinstance(blob, h5py.Dataset) or blob.dtype.kind not in "fiu":
                        kind = blob.dtype if isinstance(blob, h5py.Dataset) else "a group"
                        raise InputError(f"{path}: data/{name}/{key} is {kind}, not numbers")
                    blobs.append(np.asarray(blob[()], dtype=np.float32))
                weights[name] = blobs
            return weights
    except (OSError, RuntimeError, KeyError, ValueError) as error:  # h5py on a damaged file
        message = " ".join(str(error).split())
        raise InputError(f"{path}: not a readable HDF5 file ({message})") from None


def write_caffemodel(graph: Graph, path: Path) -> None:
    """Write the graph's parameters as a binary NetParameter, as Caffe's net.save does."""
    net = caffe_pb2.NetParameter()
    net.name = graph.name
    for layer in graph.layers:
        entry = net.layer.add()
        entry.name = layer.name
        entry.type = layer.op.type_name
        entry.bottom.extend(layer.inputs)
        entry.top.append(layer.name)
        for blob in to_caffe(graph, layer):
            entry.blobs.append(array_blob(blob))
    write_binary(path, net)


def write_caffemodel_h5(graph: Graph, path: Path) -> None:
    """Write the graph's parameters in Caffe's HDF5 layout (group per layer)."""
    with atomic_output(path) as temporary, h5py.File(temporary, "w") as handle:
        data = handle.create_group("data")
        for layer in graph.layers:
            group = data.create_group(layer.name)
            for index, blob in enumerate(to_caffe(graph, layer)):
                group.create_dataset(str(index), data=blob)
