"""What training needs beyond the graph: solver settings, per-parameter multipliers and
fillers, data layers and loss/accuracy heads. Framework-neutral; front ends fill them."""

from __future__ import annotations

from dataclasses import dataclass, field

# the learning-rate policies train/lr_policy.py computes (Caffe's names)
POLICIES = ("fixed", "step", "exp", "inv", "multistep", "poly", "sigmoid")


@dataclass(frozen=True)
class Filler:
    """How a parameter is initialised (Caffe's filler types)."""

    type: str = "constant"
    value: float = 0.0
    min: float = 0.0
    max: float = 1.0
    mean: float = 0.0
    std: float = 1.0
    variance_norm: str = "FAN_IN"  # FAN_IN, FAN_OUT or AVERAGE (xavier, msra)


@dataclass(frozen=True)
class ParamSpec:
    """Per-parameter learning-rate and weight-decay multipliers and its filler."""

    lr_mult: float = 1.0
    decay_mult: float = 1.0
    filler: Filler = field(default_factory=Filler)


@dataclass(frozen=True)
class Transform:
    """Preprocessing of a data layer: (pixel - mean) * scale, optional crop and mirror."""

    mean_file: str | None = None
    mean_values: tuple[float, ...] = ()
    scale: float = 1.0
    crop: int = 0
    mirror: bool = False


@dataclass(frozen=True)
class DataLayer:
    """A data layer of one phase: where its images come from and how they are prepared."""

    name: str
    phase: str
    source: str
    batch_size: int
    transform: Transform


@dataclass(frozen=True)
class Head:
    """A loss (softmax cross-entropy) or accuracy computed on a layer's output."""

    kind: str  # "loss" or "accuracy"
    name: str
    input: str
    top_k: int = 1
    loss_weight: float = 1.0
    ignore_label: int | None = None


@dataclass(frozen=True)
class SolverConfig:
    """A solver's settings (Caffe's SolverParameter, the parts nn2mcu implements)."""

    type: str = "SGD"  # SGD, Nesterov or Adam
    base_lr: float = 0.01
    lr_policy: str = "fixed"
    gamma: float = 0.0
    power: float = 0.0
    stepsize: int = 0
    stepvalues: tuple[int, ...] = ()
    max_iter: int = 0
    momentum: float = 0.0
    momentum2: float = 0.999
    delta: float = 1e-8
    weight_decay: float = 0.0
    regularization: str = "L2"
    clip_gradients: float = -1.0
    iter_size: int = 1
    test_iter: int = 0
    test_interval: int = 0
    test_initialization: bool = True
    display: int = 0
    average_loss: int = 1
    snapshot: int = 0
    snapshot_prefix: str = ""
    snapshot_format: str = "BINARYPROTO"  # or HDF5
    snapshot_after_train: bool = True
    random_seed: int = -1
