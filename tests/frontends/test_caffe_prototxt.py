"""Caffe network definitions -> IR: layers, phases, shapes, the V1 form, input shapes."""

from __future__ import annotations

from pathlib import Path

import pytest

from nn2mcu.errors import InputError
from nn2mcu.frontends.caffe import InputShapeSources, caffe_pb2, load_net
from nn2mcu.frontends.caffe.netstate import NetState, meets_rule
from nn2mcu.ir import Shape
from nn2mcu.ops import Conv2D, DepthwiseConv2D, Input, Pool2D, PoolMethod
from tests.conftest import EXAMPLE, EXAMPLE_NET, write
from tests.frontends import rawproto

CIFAR = InputShapeSources(explicit=(3, 32, 32))


def net_text(
    body: str,
    inputs: str = 'input: "data"\ninput_dim: 1\ninput_dim: 8\ninput_dim: 6\ninput_dim: 6\n',
) -> str:
    return inputs + body


def test_example_net_layers_shapes_and_outputs() -> None:
    graph = load_net(EXAMPLE_NET, sources=CIFAR)
    assert [layer.name for layer in graph] == [
        "data", "conv1", "pool1", "relu1", "conv2", "relu2", "pool2",
        "conv3", "relu3", "pool3", "ip1",
    ]  # fmt: skip
    names = ("conv1", "pool1", "pool2", "pool3", "ip1")
    assert [graph.shapes[name].as_list() for name in names] == [
        [32, 32, 32], [16, 16, 32], [8, 8, 16], [4, 4, 32], [1, 1, 10],
    ]  # fmt: skip
    # in-place ReLUs are resolved: each layer reads the one before it
    assert graph.layer("conv2").inputs == ("relu1",)
    assert graph.layer("pool2").inputs == ("relu2",)
    assert graph.layer("pool1").op == Pool2D(
        method=PoolMethod.MAX, kernel=(3, 3), stride=(2, 2), pad=(0, 0, 0, 0)
    )
    assert graph.layer("pool3").op.method is PoolMethod.AVE  # type: ignore[attr-defined]
    assert graph.outputs == ("ip1",)
    data = graph.layer("data").op
    assert isinstance(data, Input)
    assert str(data.preprocessing.mean_file).endswith("examples/cifar10_m4_small/mean.binaryproto")


def test_phase_rules_select_layers(tmp_path: Path) -> None:
    path = write(
        tmp_path / "net.prototxt",
        net_text(
            """
layer { name: "drop" type: "Dropout" bottom: "data" top: "data"
        dropout_param { dropout_ratio: 0.3 } include { phase: TRAIN } }
layer { name: "relu" type: "ReLU" bottom: "data" top: "data" exclude { phase: TRAIN } }
"""
        ),
    )
    assert [layer.name for layer in load_net(path, phase="TRAIN")] == ["data", "drop"]
    assert [layer.name for layer in load_net(path, phase="TEST")] == ["data", "relu"]


def test_net_state_rule_levels_and_stages() -> None:
    rule = caffe_pb2.NetStateRule(min_level=1, stage=["deploy"], not_stage=["debug"])
    assert meets_rule(NetState(level=1, stages=("deploy",)), rule)
    assert not meets_rule(NetState(level=0, stages=("deploy",)), rule)
    assert not meets_rule(NetState(level=2, stages=("deploy", "debug")), rule)
    assert not meets_rule(NetState(level=2), rule)


V1_NET = """
name: "v1"
input: "data"
input_dim: 1 input_dim: 3 input_dim: 32 input_dim: 32
layers { name: "conv1" type: CONVOLUTION bottom: "data" top: "conv1"
         blobs_lr: 1 blobs_lr: 2 weight_decay: 1 weight_decay: 0
         convolution_param { num_output: 32 pad: 2 kernel_size: 5 stride: 1 } }
layers { name: "pool1" type: POOLING bottom: "conv1" top: "pool1"
         pooling_param { pool: MAX kernel_size: 3 stride: 2 } }
layers { name: "relu1" type: RELU bottom: "pool1" top: "pool1" }
layers { name: "ip1" type: INNER_PRODUCT bottom: "pool1" top: "ip1"
         inner_product_param { num_output: 10 } }
layers { name: "prob" type: SOFTMAX bottom: "ip1" top: "prob" }
"""


def test_v1_layer_form(tmp_path: Path) -> None:
    graph = load_net(write(tmp_path / "v1.prototxt", V1_NET))
    assert [(layer.name, layer.op.type_name) for layer in graph] == [
        ("data", "Input"), ("conv1", "Convolution"), ("pool1", "Pooling"),
        ("relu1", "ReLU"), ("ip1", "InnerProduct"), ("prob", "Softmax"),
    ]  # fmt: skip
    assert graph.shapes["pool1"] == Shape(16, 16, 32)
    assert graph.shapes["prob"] == Shape(1, 1, 10)
    assert graph.outputs == ("prob",)


def test_v1_learning_rates_become_param_specs() -> None:
    from nn2mcu.frontends.caffe.netstate import upgrade_v1

    net = caffe_pb2.NetParameter()
    from google.protobuf import text_format

    text_format.Parse(V1_NET, net)
    conv = upgrade_v1(net.layers[0])
    assert conv.type == "Convolution"
    assert [(p.lr_mult, p.decay_mult) for p in conv.param] == [(1, 1), (2, 0)]


def test_depthwise_and_grouped_convolutions(tmp_path: Path) -> None:
    path = write(
        tmp_path / "dw.prototxt",
        net_text(
            'layer { name: "dw" type: "Convolution" bottom: "data" top: "dw" '
            "convolution_param { num_output: 8 group: 8 kernel_size: 3 pad: 1 stride: 2 } }"
        ),
    )
    graph = load_net(path)
    assert graph.layer("dw").op == DepthwiseConv2D(kernel=(3, 3), stride=(2, 2), pad=(1, 1, 1, 1))
    assert graph.shapes["dw"] == Shape(3, 3, 8)
    grouped = write(
        tmp_path / "grouped.prototxt",
        net_text(
            'layer { name: "g2" type: "Convolution" bottom: "data" top: "g2" '
            "convolution_param { num_output: 8 group: 2 kernel_size: 3 } }"
        ),
    )
    with pytest.raises(InputError, match=r"layer 'g2' \(Convolution\): group 2 is not supported"):
        load_net(grouped)


def test_non_square_convolution_and_pooling(tmp_path: Path) -> None:
    path = write(
        tmp_path / "ns.prototxt",
        net_text(
            'layer { name: "c" type: "Convolution" bottom: "data" top: "c" convolution_param '
            "{ num_output: 4 kernel_h: 3 kernel_w: 1 pad_h: 1 pad_w: 0 "
            "stride_h: 2 stride_w: 1 } }\n"
            'layer { name: "p" type: "Pooling" bottom: "c" top: "p" pooling_param '
            "{ pool: AVE kernel_h: 1 kernel_w: 2 stride_h: 1 stride_w: 2 } }\n"
            'layer { name: "g" type: "Pooling" bottom: "p" top: "g" pooling_param '
            "{ pool: MAX global_pooling: true } }\n"
            'layer { name: "f" type: "Pooling" bottom: "c" top: "f" pooling_param '
            "{ pool: MAX kernel_size: 2 stride: 2 round_mode: FLOOR } }"
        ),
    )
    graph = load_net(path)
    assert graph.layer("c").op == Conv2D(
        out_channels=4, kernel=(3, 1), stride=(2, 1), pad=(1, 0, 1, 0)
    )
    assert graph.shapes["c"] == Shape(3, 6, 4)
    assert graph.shapes["p"] == Shape(3, 3, 4)
    assert graph.shapes["g"] == Shape(1, 1, 4)
    assert graph.layer("g").op.kernel == (3, 3)  # type: ignore[attr-defined]
    assert graph.shapes["f"] == Shape(1, 3, 4)  # floor((3 - 2) / 2) + 1 = 1 in y


def test_input_layer_memory_data_and_input_shape_forms(tmp_path: Path) -> None:
    layer_form = write(
        tmp_path / "a.prototxt",
        'layer { name: "in" type: "Input" top: "in" '
        "input_param { shape { dim: 1 dim: 1 dim: 28 dim: 28 } } }",
    )
    assert load_net(layer_form).shapes["in"] == Shape(28, 28, 1)
    net_form = write(
        tmp_path / "b.prototxt",
        'input: "x" input_shape { dim: 1 dim: 3 dim: 8 dim: 10 }',
    )
    assert load_net(net_form).shapes["x"] == Shape(8, 10, 3)
    memory = write(
        tmp_path / "c.prototxt",
        'layer { name: "m" type: "MemoryData" top: "m" top: "label" '
        "memory_data_param { batch_size: 4 channels: 2 height: 5 width: 7 } }",
    )
    assert load_net(memory).shapes["m"] == Shape(5, 7, 2)
    with pytest.raises(InputError, match="--input-shape 3,32,32 contradicts it"):
        load_net(layer_form, sources=CIFAR)


def write_mean(path: Path, channels: int, height: int, width: int) -> Path:
    values = [float(i % 7) for i in range(channels * height * width)]
    blob = (
        rawproto.int_field(1, 1)
        + rawproto.int_field(2, channels)
        + rawproto.int_field(3, height)
        + rawproto.int_field(4, width)
        + rawproto.packed_floats(5, values)
    )
    path.write_bytes(blob)
    return path


DATA_NET = """
layer { name: "data" type: "Data" top: "data" top: "label"
        transform_param { mean_file: "mean.binaryproto" %s }
        data_param { source: "db" batch_size: 10 } }
layer { name: "ip" type: "InnerProduct" bottom: "data" top: "ip"
        inner_product_param { num_output: 2 } }
layer { name: "loss" type: "SoftmaxWithLoss" bottom: "ip" bottom: "label" top: "loss" }
"""


def test_data_layer_shape_from_mean_file(tmp_path: Path) -> None:
    write_mean(tmp_path / "mean.binaryproto", 3, 12, 10)
    path = write(tmp_path / "net.prototxt", DATA_NET % "")
    graph = load_net(path)
    assert graph.shapes["data"] == Shape(12, 10, 3)
    assert graph.outputs == ("ip",)
    data = graph.layer("data").op
    assert isinstance(data, Input)
    assert data.preprocessing.mean_file == str((tmp_path / "mean.binaryproto").resolve())
    cropped = write(tmp_path / "crop.prototxt", DATA_NET % "crop_size: 8")
    assert load_net(cropped).shapes["data"] == Shape(8, 8, 3)
    with pytest.raises(InputError, match=r"differs from its mean_file .* \(3,12,10\)"):
        load_net(path, sources=InputShapeSources(explicit=(3, 32, 32)))


def test_data_layer_shape_from_data_set_and_missing_shape(tmp_path: Path) -> None:
    path = write(tmp_path / "net.prototxt", DATA_NET % "")
    graph = load_net(path, sources=InputShapeSources(data_shape=(1, 8, 8), data_spec="digits"))
    assert graph.shapes["data"] == Shape(8, 8, 1)
    with pytest.raises(InputError) as error:
        load_net(path)
    message = str(error.value)
    assert "layer 'data' (Data) carries no input shape" in message
    assert "--input-shape C,H,W" in message
    assert "mean_file 'mean.binaryproto' was not found in" in message
    assert "--data" in message


def test_label_blob_is_reserved_for_heads(tmp_path: Path) -> None:
    path = write(
        tmp_path / "net.prototxt",
        'layer { name: "data" type: "Input" top: "data" top: "label" '
        "input_param { shape { dim: 1 dim: 4 } } }\n"
        'layer { name: "r" type: "ReLU" bottom: "label" top: "r" }',
    )
    with pytest.raises(InputError, match="reads the label blob 'label'"):
        load_net(path)


def test_example_solver_resolves_its_net() -> None:
    graph = load_net(EXAMPLE / "cifar10_small_solver.prototxt", sources=CIFAR)
    assert graph.name == "CIFAR10_small"
    assert len(graph) == 11


def test_solver_with_missing_net_says_where_it_looked(tmp_path: Path) -> None:
    solver = write(tmp_path / "solver.prototxt", 'net: "nets/missing.prototxt"\nbase_lr: 0.01\n')
    with pytest.raises(InputError) as error:
        load_net(solver)
    message = str(error.value)
    assert "net 'nets/missing.prototxt' not found; looked in" in message
    assert str(tmp_path / "nets" / "missing.prototxt") in message


def test_malformed_prototxt_names_file_line_and_column(tmp_path: Path) -> None:
    path = write(
        tmp_path / "bad.prototxt",
        'name: "x"\nlayer {\n  name: "c"\n  type: "Convolution"\n'
        "  convolution_param { kernal_size: 3 }\n}\n",
    )
    with pytest.raises(InputError, match=r"bad\.prototxt:5:23: .*kernal_size"):
        load_net(path)


def test_unsupported_layer_type_lists_the_supported_ones(tmp_path: Path) -> None:
    path = write(
        tmp_path / "lrn.prototxt",
        net_text('layer { name: "norm1" type: "LRN" bottom: "data" top: "norm1" }'),
    )
    with pytest.raises(InputError) as error:
        load_net(path)
    message = str(error.value)
    assert "layer 'norm1' has type 'LRN', which nn2mcu does not support" in message
    assert "supported: Accuracy, BatchNorm, Convolution, Data, Dropout" in message


@pytest.mark.parametrize(
    ("layer", "message"),
    [
        (
            'layer { name: "c" type: "Convolution" bottom: "data" top: "c" '
            "convolution_param { num_output: 4 kernel_size: 3 dilation: 2 } }",
            "dilation",
        ),
        (
            'layer { name: "p" type: "Pooling" bottom: "data" top: "p" '
            "pooling_param { pool: STOCHASTIC kernel_size: 2 } }",
            "pool STOCHASTIC is not supported",
        ),
        (
            'layer { name: "p" type: "Pooling" bottom: "data" top: "p" '
            "pooling_param { pool: MAX kernel_size: 2 pad: 2 } }",
            "pad 2 must be smaller than the kernel 2",
        ),
        (
            'layer { name: "r" type: "ReLU" bottom: "data" top: "r" '
            "relu_param { negative_slope: 0.1 } }",
            "leaky ReLU",
        ),
        (
            'layer { name: "c" type: "Convolution" bottom: "data" top: "c" '
            "convolution_param { num_output: 4 kernel_size: 9 } }",
            "kernel 9 is larger than the padded input 6",
        ),
        ('layer { name: "r" type: "ReLU" bottom: "nothing" top: "r" }', "bottom 'nothing'"),
    ],
)
def test_layer_errors_name_the_layer(tmp_path: Path, layer: str, message: str) -> None:
    path = write(tmp_path / "net.prototxt", net_text(layer))
    with pytest.raises(InputError, match=message) as error:
        load_net(path)
    assert str(path) in str(error.value)
