"""Caffe's whole schema and its net rules: layers nn2mcu lacks parse (with their own
parameter messages) and are refused by name and type, all at once; a blob has one
producer except for layers in place."""

from __future__ import annotations

from pathlib import Path

import pytest

from nn2mcu.errors import InputError
from nn2mcu.frontends.caffe import caffe_pb2, load_net
from tests.conftest import write

INPUT = 'input: "data"\ninput_dim: 1\ninput_dim: 8\ninput_dim: 6\ninput_dim: 6\n'
CONV = 'layer {{ name: "{name}" type: "Convolution" bottom: "{bottom}" top: "{top}" convolution_param {{ num_output: 4 kernel_size: 3 pad: 1 }} }}\n'


def test_the_schema_has_every_upstream_layer_parameter() -> None:
    """Field numbers as upstream Caffe gives them (a sample across the schema's history)."""
    layer = caffe_pb2.LayerParameter.DESCRIPTOR.fields_by_name
    numbers = {name: field.number for name, field in layer.items()}
    assert {k: numbers[k] for k in ("spp_param", "prelu_param", "python_param", "crop_param",
                                    "recurrent_param", "swish_param", "clip_param", "bias_param",
                                    "concat_param", "slice_param")} == {
        "spp_param": 132, "prelu_param": 131, "python_param": 130, "crop_param": 144,
        "recurrent_param": 146, "swish_param": 147, "clip_param": 148, "bias_param": 141,
        "concat_param": 104, "slice_param": 126,
    }  # fmt: skip
    v1 = caffe_pb2.V1LayerParameter.DESCRIPTOR.fields_by_name
    assert (v1["layer"].number, v1["concat_param"].number, v1["blob_share_mode"].number) == (
        1, 9, 1002,
    )  # fmt: skip
    assert caffe_pb2.SolverParameter.DESCRIPTOR.fields_by_name["weights"].number == 42
    assert caffe_pb2.Datum.DESCRIPTOR.fields_by_name["float_data"].number == 6
    assert caffe_pb2.V0LayerParameter.DESCRIPTOR.fields_by_name["hdf5_output_param"].number == 1001


def test_unsupported_layers_with_their_parameters_are_refused_by_name_and_type(
    tmp_path: Path,
) -> None:
    path = write(
        tmp_path / "spp.prototxt",
        INPUT
        + CONV.format(name="conv1", bottom="data", top="conv1")
        + 'layer { name: "spp" type: "SPP" bottom: "conv1" top: "spp" '
        "spp_param { pyramid_height: 2 pool: MAX } }\n"
        + 'layer { name: "prelu" type: "PReLU" bottom: "spp" top: "spp" '
        'prelu_param { filler { type: "constant" value: 0.25 } channel_shared: false } }\n'
        + 'layer { name: "crop" type: "Crop" bottom: "spp" bottom: "data" top: "crop" '
        "crop_param { axis: 2 offset: 1 } }\n",
    )
    with pytest.raises(InputError) as error:
        load_net(path)
    message = str(error.value)
    assert message.startswith(
        f"{path}: layer 'spp' has type 'SPP', layer 'prelu' has type 'PReLU', "
        "layer 'crop' has type 'Crop', which nn2mcu does not support; supported: Accuracy, "
    ), message
    assert "\n" not in message


def test_two_layers_writing_one_blob_are_refused(tmp_path: Path) -> None:
    path = write(
        tmp_path / "twice.prototxt",
        INPUT
        + CONV.format(name="a", bottom="data", top="x")
        + CONV.format(name="b", bottom="data", top="x"),
    )
    with pytest.raises(
        InputError,
        match=r"twice\.prototxt: layer 'b' \(Convolution\): top 'x' is already produced by 'a'; "
        r"Caffe allows one producer per blob, except a layer in place",
    ):
        load_net(path)


def test_in_place_is_top_i_equal_to_bottom_i(tmp_path: Path) -> None:
    relu = 'layer {{ name: "{name}" type: "ReLU" bottom: "{bottom}" top: "{top}" }}\n'
    in_place = (
        INPUT
        + CONV.format(name="a", bottom="data", top="x")
        + relu.format(name="r", bottom="x", top="x")
    )
    assert [layer.name for layer in load_net(write(tmp_path / "ok.prototxt", in_place))] == [
        "data", "a", "r",
    ]  # fmt: skip
    elsewhere = (
        INPUT
        + CONV.format(name="a", bottom="data", top="x")
        + relu.format(name="r", bottom="data", top="x")
    )
    with pytest.raises(
        InputError, match="layer 'r' \\(ReLU\\): top 'x' is already produced by 'a'"
    ):
        load_net(write(tmp_path / "bad.prototxt", elsewhere))
