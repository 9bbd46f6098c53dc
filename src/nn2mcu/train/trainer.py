"""The training loop, with Caffe's schedule.

One iteration is one batch (times iter_size). Before the update at iteration i,
the net is tested when test_interval divides i (at 0 only with test_initialization);
after it, a snapshot is taken when snapshot divides i + 1. When max_iter is reached:
a snapshot unless one was just taken, and a final test when test_interval divides
max_iter.
"""

from __future__ import annotations

import collections
import math
import signal
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import FrameType
from typing import Any

import torch
import torch.nn.functional as F
from tqdm import tqdm

from nn2mcu.errors import InputError
from nn2mcu.torch_net import TorchNet
from nn2mcu.train.feeder import Feeder
from nn2mcu.train.fillers import fill
from nn2mcu.train.lr_policy import learning_rate
from nn2mcu.train.updates import Updater
from nn2mcu.trainspec import Head, ParamSpec, SolverConfig


class TrainingDiverged(Exception):
    def __init__(self, iteration: int, rate: float, loss: float) -> None:
        super().__init__(f"the loss became {loss} at iteration {iteration} (lr {rate:g})")
        self.iteration, self.rate, self.loss = iteration, rate, loss


class TrainingInterrupted(Exception):
    """Ctrl-C: the snapshot written at ``iteration``; ``solver`` is the index, among the
    solvers trained in turn, of the one that was running."""

    def __init__(self, iteration: int, snapshot: list[Path], solver: int = 0) -> None:
        super().__init__(f"interrupted at iteration {iteration}")
        self.iteration, self.snapshot, self.solver = iteration, snapshot, solver


@dataclass(frozen=True)
class TestResult:
    iteration: int
    values: dict[str, float]  # head name -> mean over the test batches


def share_parameters(source: TorchNet, target: TorchNet) -> None:
    """Make ``target`` use ``source``'s parameter tensors, matched by layer name."""
    by_name = {(layer, name): p for layer, name, p in source.learnable()}
    for layer, module in zip(target.graph.layers, target.layers, strict=True):
        for name in ("weight", "scale", "bias"):
            mine = getattr(module, name, None)
            if not isinstance(mine, torch.nn.Parameter):
                continue
            theirs = by_name.get((layer.name, name))
            if theirs is None or theirs.shape != mine.shape:
                got = "none" if theirs is None else list(theirs.shape)
                raise InputError(
                    f"the test net's layer '{layer.name}' {name} {list(mine.shape)} has no "
                    f"counterpart in the training net ({got})"
                )
            setattr(module, name, theirs)


def _logits(value: torch.Tensor, head: Head) -> torch.Tensor:
    if value.shape[2:] != (1, 1):
        raise InputError(f"'{head.name}' needs a vector input, '{head.input}' is spatial")
    return value.reshape(value.shape[0], -1)


def head_value(head: Head, value: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """The softmax cross-entropy (mean over counted labels) or top-k accuracy, as Caffe computes."""
    logits = _logits(value, head)
    if head.kind == "loss":
        ignore = head.ignore_label if head.ignore_label is not None else -100
        return F.cross_entropy(logits, labels, ignore_index=ignore)
    counted = (
        labels != head.ignore_label
        if head.ignore_label is not None
        else torch.ones_like(labels, dtype=torch.bool)
    )
    true_scores = logits.gather(1, labels.clamp(min=0).unsqueeze(1))
    better = (logits > true_scores).sum(dim=1)
    correct = (better < head.top_k) & counted
    return correct.sum().float() / counted.sum().clamp(min=1).float()


class Trainer:
    def __init__(
        self,
        config: SolverConfig,
        net: TorchNet,
        specs: Sequence[ParamSpec],
        train_heads: Sequence[Head],
        train_feed: Feeder,
        *,
        test_net: TorchNet | None = None,
        test_heads: Sequence[Head] = (),
        test_feed: Feeder | None = None,
        snapshot: Callable[[Trainer], list[Path]] | None = None,
        progress: bool = True,
        log: Callable[[str], None] = print,
    ) -> None:
        if not any(head.kind == "loss" for head in train_heads):
            raise InputError("the training net has no loss layer (SoftmaxWithLoss)")
        self.config = config
        # channels-last parameters to match the feeder's batches (same tensors, new strides)
        net.to(memory_format=torch.channels_last)  # type: ignore[call-overload]
        self.net = net
        self.test_net = test_net
        self.train_heads = list(train_heads)
        self.test_heads = list(test_heads)
        self.train_feed = train_feed
        self.test_feed = test_feed
        self.snapshot_writer = snapshot
        self.progress = progress
        self.log = log
        self.names = [(layer, name) for layer, name, _ in net.learnable()]
        self.parameters = [p for _, _, p in net.learnable()]
        self.specs = list(specs)
        self.updater = Updater(config, self.parameters, self.specs)
        self.iteration = 0
        self.current_step = 0
        self.rate = config.base_lr
        self.losses: collections.deque[float] = collections.deque(maxlen=config.average_loss)
        self.tests: list[TestResult] = []
        self.snapshots: list[Path] = []
        self._interrupted = False

    # -- state -------------------------------------------------------------------

    def initialize(self, seed: int) -> None:
        """Fill every parameter with its filler, from a generator seeded with ``seed``."""
        generator = torch.Generator().manual_seed(seed)
        for parameter, spec in zip(self.parameters, self.specs, strict=True):
            fill(parameter, spec.filler, generator)

    def state(self) -> dict[str, Any]:
        """What a resumed run needs besides weights and history (JSON-serialisable)."""
        return {
            "iteration": self.iteration,
            "current_step": self.current_step,
            "losses": list(self.losses),
            "train_feed": self.train_feed.state(),
            "test_feed": self.test_feed.state() if self.test_feed else None,
            "torch_rng": torch.get_rng_state().tolist(),
        }

    def restore(self, state: dict[str, Any]) -> None:
        self.losses.extend(float(v) for v in state["losses"])
        self.train_feed.restore(state["train_feed"])
        if self.test_feed is not None and state.get("test_feed") is not None:
            self.test_feed.restore(state["test_feed"])
        torch.set_rng_state(torch.tensor(state["torch_rng"], dtype=torch.uint8))

    def load_history(self, history: Sequence[torch.Tensor]) -> None:
        if len(history) != len(self.updater.history):
            raise InputError(
                f"the solver state holds {len(history)} history blobs, this solver needs "
                f"{len(self.updater.history)}"
            )
        for index, (mine, theirs) in enumerate(zip(self.updater.history, history, strict=True)):
            if mine.shape != theirs.shape:
                raise InputError(
                    f"solver state history blob {index} has shape {list(theirs.shape)}, "
                    f"expected {list(mine.shape)}"
                )
            mine.copy_(theirs)

    # -- running -----------------------------------------------------------------

    def test(self) -> TestResult:
        if self.test_net is None or self.test_feed is None or not self.test_heads:
            raise InputError("the solver has no test net to test")
        totals = {head.name: 0.0 for head in self.test_heads}
        self.test_net.eval()
        with torch.no_grad():
            for _ in range(self.config.test_iter):
                images, labels = self.test_feed.next_batch()
                outputs = self.test_net(images, outputs=[h.input for h in self.test_heads])
                for head in self.test_heads:
                    totals[head.name] += float(head_value(head, outputs[head.input], labels))
        result = TestResult(
            self.iteration, {name: total / self.config.test_iter for name, total in totals.items()}
        )
        self.tests.append(result)
        shown = ", ".join(f"{name} {value:.4f}" for name, value in result.values.items())
        self.log(f"iteration {self.iteration}: test {shown}")
        return result

    def step(self) -> float:
        """One iteration: forward and backward over iter_size batches, then the update."""
        config = self.config
        self.net.train()
        for parameter in self.parameters:
            parameter.grad = None
        total = 0.0
        wanted = [h.input for h in self.train_heads if h.kind == "loss"]
        for _ in range(config.iter_size):
            images, labels = self.train_feed.next_batch()
            outputs = self.net(images, outputs=wanted)
            loss = torch.zeros(())
            for head in self.train_heads:
                if head.kind == "loss":
                    loss = loss + head_value(head, outputs[head.input], labels) * head.loss_weight
            loss.backward()  # type: ignore[no-untyped-call]
            total += float(loss.detach())
        total /= config.iter_size
        self.rate, self.current_step = learning_rate(config, self.iteration, self.current_step)
        if not math.isfinite(total):
            raise TrainingDiverged(self.iteration, self.rate, total)
        self.updater.apply(self.rate, self.iteration)
        self.iteration += 1
        self.losses.append(total)
        return total

    def _snapshot(self) -> None:
        if self.snapshot_writer is not None:
            self.snapshots = self.snapshot_writer(self)

    def _on_interrupt(self, signum: int, frame: FrameType | None) -> None:
        self._interrupted = True

    def solve(self) -> None:
        """Run from the current iteration to max_iter."""
        config = self.config
        testing = config.test_interval > 0 and self.test_net is not None and config.test_iter > 0
        batch = self.train_feed.batch_size * config.iter_size
        previous = signal.signal(signal.SIGINT, self._on_interrupt)
        bar = tqdm(
            total=config.max_iter,
            initial=self.iteration,
            unit="it",
            file=sys.stderr,
            disable=None if self.progress else True,  # None: only on a terminal
            dynamic_ncols=True,
            desc="train",
        )
        started, start_iteration = time.perf_counter(), self.iteration
        shown = started
        try:
            while self.iteration < config.max_iter:
                if (
                    testing
                    and self.iteration % config.test_interval == 0
                    and (self.iteration > 0 or config.test_initialization)
                ):
                    with _PausedBar(bar):
                        self.test()
                self.step()
                bar.update(1)
                now = time.perf_counter()
                if now - shown > 0.5:
                    shown = now
                    rate = (self.iteration - start_iteration) * batch / (now - started)
                    bar.set_postfix(
                        loss=f"{sum(self.losses) / len(self.losses):.4f}",
                        lr=f"{self.rate:g}",
                        img_s=f"{rate:.0f}",
                        refresh=False,
                    )
                if config.snapshot and self.iteration % config.snapshot == 0:
                    self._snapshot()
                if self._interrupted:
                    self._snapshot()
                    raise TrainingInterrupted(self.iteration, self.snapshots)
            if config.snapshot_after_train and (
                not config.snapshot or self.iteration % config.snapshot != 0
            ):
                self._snapshot()
            if testing and self.iteration % config.test_interval == 0:
                with _PausedBar(bar):
                    self.test()
        finally:
            bar.close()
            signal.signal(signal.SIGINT, previous)


class _PausedBar:
    """Print test lines without breaking the progress bar."""

    def __init__(self, bar: tqdm[Any]) -> None:
        self.bar = bar

    def __enter__(self) -> None:
        self.bar.clear()

    def __exit__(self, *args: object) -> None:
        self.bar.refresh()
