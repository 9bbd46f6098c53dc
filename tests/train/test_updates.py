"""Caffe's update rules, checked against values computed by hand (all exact in float32)."""

import torch

from nn2mcu.train.updates import Updater
from nn2mcu.trainspec import ParamSpec, SolverConfig


def run(
    config: SolverConfig,
    specs: list[ParamSpec],
    start: list[float],
    grads: list[float],
    rates: list[float],
) -> list[list[float]]:
    params = [torch.tensor([value]) for value in start]
    updater = Updater(config, params, specs)
    seen = []
    for iteration, rate in enumerate(rates):
        for p, g in zip(params, grads, strict=True):
            p.grad = torch.tensor([g])
        updater.apply(rate, iteration)
        seen.append([float(p[0]) for p in params])
    return seen


def test_three_sgd_steps_with_momentum_decay_multipliers_and_an_lr_change() -> None:
    config = SolverConfig(type="SGD", momentum=0.5, weight_decay=0.25)
    specs = [ParamSpec(lr_mult=1.0, decay_mult=1.0), ParamSpec(lr_mult=2.0, decay_mult=0.0)]
    steps = run(config, specs, start=[2.0, 1.0], grads=[1.0, 0.5], rates=[0.5, 0.5, 0.25])
    # w: g = 1 + 0.25 w; V = 0.5 V + rate * g.   b: g = 0.5; V = 0.5 V + 2 rate * g
    assert steps == [[1.25, 0.5], [0.21875, -0.25], [-0.560546875, -0.875]]


def test_caffe_momentum_differs_from_torch_sgd_after_an_lr_change() -> None:
    w = torch.tensor([2.0], requires_grad=True)
    optimizer = torch.optim.SGD([w], lr=0.5, momentum=0.5, weight_decay=0.25)
    for rate in (0.5, 0.5, 0.25):
        for group in optimizer.param_groups:
            group["lr"] = rate
        w.grad = torch.tensor([1.0])
        optimizer.step()
    # torch keeps momentum of raw gradients and scales by the current lr: the third step is
    # 0.21875 - 0.25 * (0.5 * 2.0625 + 1.0546875), not Caffe's -0.560546875
    assert float(w.detach()[0]) == -0.302734375


def test_nesterov_two_steps() -> None:
    config = SolverConfig(type="Nesterov", momentum=0.5)
    steps = run(config, [ParamSpec()], start=[2.0], grads=[1.0], rates=[0.5, 0.5])
    # V1 = 0.5, w -= 1.5 V1 - 0.5 * 0 = 0.75; V2 = 0.75, w -= 1.5 V2 - 0.5 V1 = 0.875
    assert steps == [[1.25], [0.375]]


def test_adam_one_step() -> None:
    config = SolverConfig(type="Adam", momentum=0.5, momentum2=0.75, delta=0.0)
    steps = run(config, [ParamSpec()], start=[2.0], grads=[1.0], rates=[0.5])
    # m = 0.5, v = 0.25, correction sqrt(0.25) / 0.5 = 1: w -= 0.5 * 0.5 / 0.5
    assert steps == [[1.5]]


def test_gradient_clipping_and_iter_size() -> None:
    config = SolverConfig(type="SGD", clip_gradients=1.0, iter_size=2)
    params = [torch.tensor([0.0, 0.0])]
    updater = Updater(config, params, [ParamSpec()])
    params[0].grad = torch.tensor([6.0, 8.0])  # norm 10 -> clipped to norm 1, then halved
    updater.apply(1.0, 0)
    assert params[0].tolist() == [-0.30000001192092896, -0.4000000059604645]
