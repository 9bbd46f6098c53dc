"""Caffe weights -> IR and back: hand-built caffemodels, h5py-written files, ARM's files."""

from __future__ import annotations

from pathlib import Path

import h5py
import numpy as np
import pytest

from nn2mcu.errors import InputError
from nn2mcu.frontends.caffe import (
    InputShapeSources,
    load_net,
    read_weights,
    write_caffemodel,
    write_caffemodel_h5,
)
from nn2mcu.ir import Graph
from tests.conftest import EXAMPLE_NET, write
from tests.frontends import rawproto as rp

# Input 2 x 3 x 3 (C, H, W) -> conv 4 x 2x2 -> 4 x 2 x 2 -> flatten -> inner product 3.
NET = """
name: "tiny"
input: "data"
input_shape { dim: 1 dim: 2 dim: 3 dim: 3 }
layer { name: "conv" type: "Convolution" bottom: "data" top: "conv"
        convolution_param { num_output: 4 kernel_size: 2 } }
layer { name: "relu" type: "ReLU" bottom: "conv" top: "conv" }
layer { name: "flat" type: "Flatten" bottom: "conv" top: "flat" }
layer { name: "ip" type: "InnerProduct" bottom: "flat" top: "ip"
        inner_product_param { num_output: 3 } }
"""

CONV_W = np.arange(4 * 2 * 2 * 2, dtype=np.float32).reshape(4, 2, 2, 2) / 8 - 1
CONV_B = np.array([0.5, -0.25, 1.0, 2.0], dtype=np.float32)
IP_W = np.arange(3 * 16, dtype=np.float32).reshape(3, 16) / 16 - 1.5
IP_B = np.array([-1.0, 0.0, 3.5], dtype=np.float32)


def blob_current(array: np.ndarray) -> bytes:
    """BlobProto with shape (7) { dim (1) } and packed data (5)."""
    return rp.message(7, rp.packed_varints(1, array.shape)) + rp.packed_floats(5, array.ravel())


def blob_legacy(array: np.ndarray) -> bytes:
    """BlobProto in the old 4-D form: num (1), channels (2), height (3), width (4)."""
    dims = (1,) * (4 - array.ndim) + array.shape
    fields = b"".join(
        rp.int_field(number, dim) for number, dim in zip((1, 2, 3, 4), dims, strict=True)
    )
    return fields + rp.packed_floats(5, array.ravel())


def raw_caffemodel(path: Path, *, v1: bool = False) -> Path:
    """NetParameter.layer (100) of LayerParameter name (1), type (2), blobs (7);
    with ``v1`` NetParameter.layers (2) of V1LayerParameter name (4), blobs (6)."""
    layers = [("conv", [CONV_W, CONV_B]), ("relu", []), ("flat", []), ("ip", [IP_W, IP_B])]
    if v1:
        payload = b"".join(
            rp.message(
                2, rp.string(4, name) + b"".join(rp.message(6, blob_legacy(b)) for b in blobs)
            )
            for name, blobs in layers
        )
    else:
        payload = b"".join(
            rp.message(
                100, rp.string(1, name) + b"".join(rp.message(7, blob_current(b)) for b in blobs)
            )
            for name, blobs in layers
        )
    path.write_bytes(rp.string(1, "tiny") + payload)
    return path


def check_tiny_weights(graph: Graph) -> None:
    conv = graph.layer("conv").weights["weight"]
    assert conv.shape == (4, 2, 2, 2)  # O, KH, KW, I
    for o in range(4):
        for i in range(2):
            for ky in range(2):
                for kx in range(2):
                    assert conv[o, ky, kx, i] == CONV_W[o, i, ky, kx]
    np.testing.assert_array_equal(graph.layer("conv").weights["bias"], CONV_B)
    ip = graph.layer("ip").weights["weight"]
    # conv output is C=4, H=2, W=2: Caffe column c*4 + h*2 + w, IR column (h*2 + w)*4 + c
    for n in range(3):
        for c in range(4):
            for h in range(2):
                for w in range(2):
                    assert ip[n, (h * 2 + w) * 4 + c] == IP_W[n, c * 4 + h * 2 + w]
    np.testing.assert_array_equal(graph.layer("ip").weights["bias"], IP_B)


def test_hand_built_caffemodel(tmp_path: Path) -> None:
    net = write(tmp_path / "tiny.prototxt", NET)
    graph = load_net(net, weights=raw_caffemodel(tmp_path / "tiny.caffemodel"))
    assert graph.has_weights
    check_tiny_weights(graph)


def test_hand_built_v1_caffemodel_with_legacy_blob_shapes(tmp_path: Path) -> None:
    net = write(tmp_path / "tiny.prototxt", NET)
    graph = load_net(net, weights=raw_caffemodel(tmp_path / "v1.caffemodel", v1=True))
    check_tiny_weights(graph)


def test_h5_written_with_h5py(tmp_path: Path) -> None:
    path = tmp_path / "tiny.caffemodel.h5"
    with h5py.File(path, "w") as handle:
        data = handle.create_group("data")
        data.create_group("data")
        data.create_group("relu")
        data.create_dataset("conv/0", data=CONV_W)
        data.create_dataset("conv/1", data=CONV_B)
        data.create_dataset("ip/0", data=IP_W.astype(np.float64))
        data.create_dataset("ip/1", data=IP_B)
    graph = load_net(write(tmp_path / "tiny.prototxt", NET), weights=path)
    check_tiny_weights(graph)


def test_inner_product_permutation_computes_what_caffe_computes(tmp_path: Path) -> None:
    graph = load_net(
        write(tmp_path / "tiny.prototxt", NET), weights=raw_caffemodel(tmp_path / "t.caffemodel")
    )
    rng = np.random.default_rng(0)
    feature_chw = rng.standard_normal((4, 2, 2)).astype(np.float32)
    caffe_out = IP_W @ feature_chw.ravel() + IP_B
    ir_out = graph.layer("ip").weights["weight"] @ feature_chw.transpose(1, 2, 0).ravel() + IP_B
    np.testing.assert_allclose(ir_out, caffe_out, rtol=0, atol=1e-5)


def test_transposed_inner_product(tmp_path: Path) -> None:
    net = write(
        tmp_path / "t.prototxt", NET.replace("num_output: 3 }", "num_output: 3 transpose: true }")
    )
    path = tmp_path / "t.caffemodel.h5"
    with h5py.File(path, "w") as handle:
        handle.create_dataset("data/conv/0", data=CONV_W)
        handle.create_dataset("data/conv/1", data=CONV_B)
        handle.create_dataset("data/ip/0", data=IP_W.T)
        handle.create_dataset("data/ip/1", data=IP_B)
    check_tiny_weights(load_net(net, weights=path))


@pytest.mark.parametrize("suffix", [".caffemodel", ".caffemodel.h5"])
def test_round_trip_through_our_writers(tmp_path: Path, suffix: str) -> None:
    net = write(tmp_path / "tiny.prototxt", NET)
    first = load_net(net, weights=raw_caffemodel(tmp_path / "in.caffemodel"))
    out = tmp_path / f"out{suffix}"
    (write_caffemodel_h5 if suffix.endswith(".h5") else write_caffemodel)(first, out)
    second = load_net(net, weights=out)
    assert second == first
    raw = read_weights(out)
    np.testing.assert_array_equal(raw["conv"][0], CONV_W)  # written in Caffe's layout
    np.testing.assert_array_equal(raw["ip"][0], IP_W)
    assert raw["relu"] == []


@pytest.mark.parametrize("suffix", [".caffemodel", ".caffemodel.h5"])
def test_failed_write_leaves_nothing_behind(
    tmp_path: Path, suffix: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    from nn2mcu.frontends.caffe import weights as weights_module

    graph = load_net(
        write(tmp_path / "tiny.prototxt", NET), weights=raw_caffemodel(tmp_path / "in.caffemodel")
    )
    calls = []

    def failing_to_caffe(graph: Graph, layer: object) -> list[np.ndarray]:
        calls.append(layer)
        if len(calls) == 3:
            raise RuntimeError("disk on fire")
        return []

    monkeypatch.setattr(weights_module, "to_caffe", failing_to_caffe)
    out = tmp_path / "out" / f"w{suffix}"
    writer = write_caffemodel_h5 if suffix.endswith(".h5") else write_caffemodel
    with pytest.raises(RuntimeError, match="disk on fire"):
        writer(graph, out)
    assert not out.exists()
    assert not out.parent.exists() or list(out.parent.iterdir()) == []


def test_missing_layer_in_weights(tmp_path: Path) -> None:
    path = tmp_path / "w.caffemodel.h5"
    with h5py.File(path, "w") as handle:
        handle.create_dataset("data/conv/0", data=CONV_W)
        handle.create_dataset("data/conv/1", data=CONV_B)
    with pytest.raises(InputError) as error:
        load_net(write(tmp_path / "tiny.prototxt", NET), weights=path)
    assert str(error.value) == (
        f"{path}: no weights for layer 'ip' (InnerProduct), which needs blobs of shape [3, 16], [3]"
    )


def test_wrong_blob_shape_names_layer_and_both_shapes(tmp_path: Path) -> None:
    path = tmp_path / "w.caffemodel.h5"
    with h5py.File(path, "w") as handle:
        handle.create_dataset("data/conv/0", data=np.zeros((4, 3, 2, 2), np.float32))
        handle.create_dataset("data/conv/1", data=CONV_B)
    with pytest.raises(InputError) as error:
        load_net(write(tmp_path / "tiny.prototxt", NET), weights=path)
    assert str(error.value) == (
        f"{path}: layer 'conv' (Convolution) blob 0 has shape [4, 3, 2, 2], "
        "the net expects [4, 2, 2, 2]"
    )


def test_wrong_blob_count(tmp_path: Path) -> None:
    path = tmp_path / "w.caffemodel.h5"
    with h5py.File(path, "w") as handle:
        handle.create_dataset("data/conv/0", data=CONV_W)
    with pytest.raises(InputError, match=r"layer 'conv' \(Convolution\) has 1 blob\(s\)"):
        load_net(write(tmp_path / "tiny.prototxt", NET), weights=path)


def test_unreadable_weight_files(tmp_path: Path) -> None:
    net = write(tmp_path / "tiny.prototxt", NET)
    garbage = tmp_path / "garbage.caffemodel"
    garbage.write_bytes(b"\xff\xff\xff\xff not protobuf")
    with pytest.raises(InputError, match=r"garbage\.caffemodel: not a valid binary Caffe model"):
        load_net(net, weights=garbage)
    fake_h5 = tmp_path / "fake.caffemodel.h5"
    fake_h5.write_bytes(b"not hdf5")
    with pytest.raises(InputError, match=r"fake\.caffemodel\.h5: not a readable HDF5 file"):
        load_net(net, weights=fake_h5)
    with pytest.raises(InputError, match=r"missing\.caffemodel: no such file"):
        load_net(net, weights=tmp_path / "missing.caffemodel")


BN_NET = """
input: "data"
input_shape { dim: 1 dim: 1 dim: 2 dim: 2 }
layer { name: "conv" type: "Convolution" bottom: "data" top: "conv"
        convolution_param { num_output: 2 kernel_size: 1 } }
layer { name: "bn" type: "BatchNorm" bottom: "conv" top: "conv" batch_norm_param { eps: 1 } }
layer { name: "scale" type: "Scale" bottom: "conv" top: "conv" scale_param { bias_term: true } }
layer { name: "relu" type: "ReLU" bottom: "conv" top: "conv" }
"""


def test_batchnorm_scale_folded_when_weights_load(tmp_path: Path) -> None:
    path = tmp_path / "bn.caffemodel.h5"
    with h5py.File(path, "w") as handle:
        handle.create_dataset("data/conv/0", data=np.array([2.0, -1.0]).reshape(2, 1, 1, 1))
        handle.create_dataset("data/conv/1", data=[0.5, 1.0])
        # Caffe stores mean and variance multiplied by the moving-average factor (here 2)
        handle.create_dataset("data/bn/0", data=[2.0, -4.0])
        handle.create_dataset("data/bn/1", data=[6.0, 0.0])
        handle.create_dataset("data/bn/2", data=[2.0])
        handle.create_dataset("data/scale/0", data=[3.0, 2.0])
        handle.create_dataset("data/scale/1", data=[1.0, -1.0])
    net = write(tmp_path / "bn.prototxt", BN_NET)
    unfolded = load_net(net)
    assert [layer.name for layer in unfolded] == ["data", "conv", "bn", "scale", "relu"]
    graph = load_net(net, weights=path)
    assert [layer.name for layer in graph] == ["data", "conv", "relu"]
    np.testing.assert_array_equal(graph.layer("conv").weights["weight"].ravel(), [3.0, -2.0])
    np.testing.assert_array_equal(graph.layer("conv").weights["bias"], [0.25, 5.0])


# -- ARM's real files --------------------------------------------------------------------


def test_arm_m4_h5_weights_load(arm_models: Path) -> None:
    graph = load_net(
        arm_models / "cifar10_m4_train_test.prototxt",
        weights=arm_models / "cifar10_m4_iter_70000.caffemodel.h5",
        sources=InputShapeSources(explicit=(3, 32, 32)),
    )
    assert graph.has_weights
    with h5py.File(arm_models / "cifar10_m4_iter_70000.caffemodel.h5") as handle:
        conv1 = handle["data/conv1/0"][()]
        ip1 = handle["data/ip1/0"][()]
    np.testing.assert_array_equal(
        graph.layer("conv1").weights["weight"], conv1.transpose(0, 2, 3, 1)
    )
    np.testing.assert_array_equal(
        graph.layer("ip1").weights["weight"],
        ip1.reshape(10, 32, 4, 4).transpose(0, 2, 3, 1).reshape(10, 512),
    )


@pytest.mark.parametrize("variant", ["m4", "m7"])
def test_arm_quantized_caffemodels_lie_on_arms_grids(arm_models: Path, variant: str) -> None:
    iterations = {"m4": 70000, "m7": 300000}[variant]
    sources = InputShapeSources(explicit=(3, 32, 32))
    net = arm_models / f"cifar10_{variant}_train_test.prototxt"
    quantized = load_net(
        net,
        weights=arm_models / f"quantized_cifar10_{variant}_iter_{iterations}.caffemodel",
        sources=sources,
    )
    trained = load_net(
        net,
        weights=arm_models / f"cifar10_{variant}_iter_{iterations}.caffemodel.h5",
        sources=sources,
    )
    # ARM's weight formats (seed-workflow.md section 1.6): fractional bits per layer
    frac = {"m4": {"conv1": 8, "conv2": 9, "conv3": 9, "ip1": 11},
            "m7": {"conv1": 7, "conv2": 8, "conv3": 9, "ip1": 11}}[variant]  # fmt: skip
    for name, bits in frac.items():
        q = quantized.layer(name).weights["weight"].astype(np.float64) * 2.0**bits
        np.testing.assert_array_equal(q, np.round(q))
        assert q.min() >= -128 and q.max() <= 127
        w = trained.layer(name).weights["weight"].astype(np.float64) * 2.0**bits
        inside = (w > -128) & (w < 127)
        assert np.abs(q - w)[inside].max() <= 0.5 + 1e-6


def test_arm_nets_inspect_like_our_example(arm_models: Path) -> None:
    from nn2mcu.inspect import summarize

    sources = InputShapeSources(explicit=(3, 32, 32))
    ours = summarize(load_net(EXAMPLE_NET, sources=sources))
    arm = summarize(
        load_net(
            arm_models / "cifar10_m4_train_test.prototxt",
            weights=arm_models / "cifar10_m4_iter_70000.caffemodel.h5",
            sources=sources,
        )
    )
    assert arm["totals"] == ours["totals"]
    assert [row["output_shape"] for row in arm["layers"]] == [
        row["output_shape"] for row in ours["layers"]
    ]
