"""A tiny network on scikit-learn's digits (8 x 8 x 1): trains in about a second."""

from __future__ import annotations

from pathlib import Path

import pytest

NET = """
name: "tiny_digits"
layer { name: "data" type: "Data" top: "data" top: "label" include { phase: TRAIN }
        transform_param { mean_value: 128 scale: 0.0078125 }
        data_param { source: "digits" batch_size: 32 } }
layer { name: "data" type: "Data" top: "data" top: "label" include { phase: TEST }
        transform_param { mean_value: 128 scale: 0.0078125 }
        data_param { source: "digits" batch_size: 60 } }
layer { name: "conv1" type: "Convolution" bottom: "data" top: "conv1"
        param { lr_mult: 1 } param { lr_mult: 2 }
        convolution_param { num_output: 8 kernel_size: 3 pad: 1
                            weight_filler { type: "xavier" } bias_filler { type: "constant" } } }
layer { name: "relu1" type: "ReLU" bottom: "conv1" top: "conv1" }
layer { name: "pool1" type: "Pooling" bottom: "conv1" top: "pool1"
        pooling_param { pool: MAX kernel_size: 3 stride: 2 } }
layer { name: "drop1" type: "Dropout" bottom: "pool1" top: "pool1" dropout_param { dropout_ratio: 0.2 } }
layer { name: "ip1" type: "InnerProduct" bottom: "pool1" top: "ip1"
        param { lr_mult: 1 decay_mult: 1 } param { lr_mult: 2 decay_mult: 0 }
        inner_product_param { num_output: 10 weight_filler { type: "gaussian" std: 0.1 } } }
layer { name: "accuracy" type: "Accuracy" bottom: "ip1" bottom: "label" top: "accuracy"
        include { phase: TEST } }
layer { name: "loss" type: "SoftmaxWithLoss" bottom: "ip1" bottom: "label" top: "loss" }
"""

SOLVER = """
net: "{net}"
test_iter: 6
test_interval: {test_interval}
base_lr: {base_lr}
momentum: 0.9
weight_decay: 0.0005
lr_policy: "{lr_policy}"
gamma: 0.5
stepsize: 20
max_iter: {max_iter}
snapshot: {snapshot}
snapshot_prefix: "{prefix}"
{extra}
"""


class Files:
    def __init__(self, root: Path) -> None:
        self.root = root
        self.net = root / "net.prototxt"
        self.net.write_text(NET)

    def solver(
        self,
        name: str,
        *,
        max_iter: int = 40,
        snapshot: int = 0,
        base_lr: float = 0.05,
        lr_policy: str = "step",
        test_interval: int = 20,
        prefix: str = "snap/tiny",
        extra: str = "",
        net: Path | None = None,
    ) -> Path:
        path = self.root / name
        path.write_text(
            SOLVER.format(
                net=net or self.net,
                max_iter=max_iter,
                snapshot=snapshot,
                base_lr=base_lr,
                lr_policy=lr_policy,
                test_interval=test_interval,
                prefix=self.root / prefix,
                extra=extra,
            )
        )
        return path


@pytest.fixture
def files(tmp_path: Path) -> Files:
    return Files(tmp_path)
