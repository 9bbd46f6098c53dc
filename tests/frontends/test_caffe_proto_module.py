"""The committed caffe_pb2 module: importable here, and generated from caffe.proto."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from tests.conftest import REPO


def test_generated_module_imports_and_knows_upstream_field_numbers() -> None:
    from nn2mcu.frontends.caffe import caffe_pb2

    fields = caffe_pb2.NetParameter.DESCRIPTOR.fields_by_name
    assert fields["layer"].number == 100 and fields["layers"].number == 2
    layer = caffe_pb2.LayerParameter.DESCRIPTOR.fields_by_name
    assert (layer["name"].number, layer["blobs"].number) == (1, 7)
    blob = caffe_pb2.BlobProto.DESCRIPTOR.fields_by_name
    assert (blob["shape"].number, blob["data"].number) == (7, 5)
    assert caffe_pb2.BlobShape.DESCRIPTOR.fields_by_name["dim"].number == 1


def test_committed_module_matches_caffe_proto(tmp_path: Path) -> None:
    source = REPO / "src"
    proto = source / "nn2mcu" / "frontends" / "caffe" / "caffe.proto"
    subprocess.run(
        [sys.executable, "-m", "grpc_tools.protoc", f"-I{source}", f"--python_out={tmp_path}",
         f"--pyi_out={tmp_path}", str(proto)],
        check=True,
    )  # fmt: skip
    for name in ("caffe_pb2.py", "caffe_pb2.pyi"):
        generated = (tmp_path / "nn2mcu" / "frontends" / "caffe" / name).read_text()
        committed = (proto.parent / name).read_text()
        assert generated == committed, f"{name} is stale: run scripts/gen-proto"
