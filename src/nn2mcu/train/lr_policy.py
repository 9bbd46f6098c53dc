"""Learning-rate policies, as Caffe's SGDSolver::GetLearningRate computes them.

``iteration`` is the number of updates done so far. Only ``multistep`` keeps state
(the index of the next step value), which Caffe saves as ``current_step``.
"""

from __future__ import annotations

import math

from nn2mcu.errors import InputError
from nn2mcu.trainspec import POLICIES, SolverConfig

__all__ = ["POLICIES", "learning_rate"]


def learning_rate(config: SolverConfig, iteration: int, current_step: int) -> tuple[float, int]:
    """(rate, current_step after this call) for the update at ``iteration``."""
    base, gamma, policy = config.base_lr, config.gamma, config.lr_policy
    if policy == "fixed":
        return base, current_step
    if policy == "step":
        if config.stepsize <= 0:
            raise InputError("lr_policy 'step' needs a positive stepsize")
        step = iteration // config.stepsize
        return base * gamma**step, step
    if policy == "exp":
        return base * gamma**iteration, current_step
    if policy == "inv":
        return base * (1.0 + gamma * iteration) ** (-config.power), current_step
    if policy == "multistep":
        if current_step < len(config.stepvalues) and iteration >= config.stepvalues[current_step]:
            current_step += 1
        return base * gamma**current_step, current_step
    if policy == "poly":
        return base * (1.0 - iteration / config.max_iter) ** config.power, current_step
    if policy == "sigmoid":
        return base / (1.0 + math.exp(-gamma * (iteration - config.stepsize))), current_step
    raise InputError(f"lr_policy '{policy}' is not supported; supported: {', '.join(POLICIES)}")
