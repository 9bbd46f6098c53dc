"""Parameter updates exactly as Caffe's solvers apply them.

Per iteration (SGDSolver::ApplyUpdate): clip the gradients' global L2 norm to
clip_gradients (when >= 0); divide by iter_size; add weight_decay * decay_mult * W
(L2) or * sign(W) (L1); then with local_rate = rate * lr_mult:

* SGD:       V <- momentum * V + local_rate * g;  W <- W - V
* Nesterov:  V' <- momentum * V + local_rate * g; W <- W - ((1 + momentum) V' - momentum V)
* Adam:      m <- b1 m + (1 - b1) g; v <- b2 v + (1 - b2) g^2;
             W <- W - local_rate * sqrt(1 - b2^t) / (1 - b1^t) * m / (sqrt(v) + delta),
             t = iteration + 1

The history (V, or m then v) is what Caffe saves in its solver state.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch

from nn2mcu.trainspec import ParamSpec, SolverConfig


class Updater:
    def __init__(
        self, config: SolverConfig, parameters: Sequence[torch.Tensor], specs: Sequence[ParamSpec]
    ) -> None:
        if len(parameters) != len(specs):
            raise ValueError("one ParamSpec per parameter is required")
        self.config = config
        self.parameters = list(parameters)
        self.specs = list(specs)
        copies = 2 if config.type == "Adam" else 1
        self.history = [torch.zeros_like(p) for _ in range(copies) for p in self.parameters]

    @torch.no_grad()
    def apply(self, rate: float, iteration: int) -> None:
        """Update every parameter from its ``.grad`` (summed over iter_size batches)."""
        config = self.config
        grads = [p.grad if p.grad is not None else torch.zeros_like(p) for p in self.parameters]
        if config.clip_gradients >= 0:
            norm = math.sqrt(sum(float((g * g).sum()) for g in grads))
            if norm > config.clip_gradients:
                for g in grads:
                    g.mul_(config.clip_gradients / norm)
        count = len(self.parameters)
        for index, (p, g, spec) in enumerate(zip(self.parameters, grads, self.specs, strict=True)):
            if config.iter_size > 1:
                g.mul_(1.0 / config.iter_size)
            decay = config.weight_decay * spec.decay_mult
            if decay:
                if config.regularization == "L2":
                    g.add_(p, alpha=decay)
                else:
                    g.add_(torch.sign(p), alpha=decay)
            local_rate = rate * spec.lr_mult
            history = self.history[index]
            if config.type == "SGD":
                history.mul_(config.momentum).add_(g, alpha=local_rate)
                p.sub_(history)
            elif config.type == "Nesterov":
                previous = history.clone()
                history.mul_(config.momentum).add_(g, alpha=local_rate)
                p.sub_(history * (1.0 + config.momentum) - previous * config.momentum)
            else:
                m, v = history, self.history[count + index]
                beta1, beta2 = config.momentum, config.momentum2
                t = iteration + 1
                correction = math.sqrt(1.0 - beta2**t) / (1.0 - beta1**t)
                m.mul_(beta1).add_(g, alpha=1.0 - beta1)
                v.mul_(beta2).add_(g * g, alpha=1.0 - beta2)
                p.sub_(m / (v.sqrt() + config.delta) * (local_rate * correction))
