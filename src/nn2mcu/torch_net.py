"""A graph as a PyTorch module (NCHW), and its trained parameters back into the graph.

Activations are 4-D NCHW tensors throughout (a vector is N x K x 1 x 1), as Caffe's
blobs are; weights use the NCHW-framework layouts of ``Op.nchw_weights``.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator, Sequence

import numpy as np
import torch

from nn2mcu.ir import Graph, Layer


class TorchNet(torch.nn.Module):
    """The layers of ``graph`` as torch modules, run in the graph's order."""

    def __init__(self, graph: Graph) -> None:
        super().__init__()
        self.graph = graph
        self.names = [layer.name for layer in graph.layers]
        # torch initialises new modules from the global generator; fork it so that building
        # a net (a test net, say) never shifts the random stream training uses for dropout
        with torch.random.fork_rng(devices=[]):
            self.layers = torch.nn.ModuleList(
                layer.op.torch_module(graph.input_shapes(layer)) for layer in graph.layers
            )
        if graph.has_weights:
            self.load_graph_weights(graph)

    def _modules_by_layer(self) -> Iterator[tuple[Layer, torch.nn.Module]]:
        yield from zip(self.graph.layers, self.layers, strict=True)

    def forward(
        self, x: torch.Tensor, outputs: Sequence[str] | None = None
    ) -> dict[str, torch.Tensor]:
        """Run on an NCHW batch; returns the requested layers' outputs (default: the graph's)."""
        wanted = set(outputs if outputs is not None else self.graph.outputs)
        values: dict[str, torch.Tensor] = {}
        remaining = {name: 0 for name in self.names}
        for layer in self.graph.layers:
            for name in layer.inputs:
                remaining[name] += 1
        for layer, module in self._modules_by_layer():
            if layer.op.arity == 0:
                values[layer.name] = x
                continue
            values[layer.name] = module(*(values[name] for name in layer.inputs))
            for name in layer.inputs:  # free what no later layer reads
                remaining[name] -= 1
                if remaining[name] == 0 and name not in wanted:
                    del values[name]
        return {name: values[name] for name in self.names if name in wanted}

    def to_nhwc(self, name: str, value: torch.Tensor) -> np.ndarray:
        """A layer's NCHW output as the IR holds it: NHWC, vectors flattened in HWC order."""
        array = value.detach().cpu().numpy()
        shape = self.graph.shapes[name]
        source = self.graph.flatten_source(name)
        if shape.is_vector and not source.is_vector:
            n = array.shape[0]
            hwc = array.reshape(n, source.c, source.h, source.w).transpose(0, 2, 3, 1)
            return hwc.reshape(n, 1, 1, shape.c)
        return array.transpose(0, 2, 3, 1)

    def learnable(self) -> list[tuple[str, str, torch.nn.Parameter]]:
        """(layer, weight name, parameter) in Caffe's order: layers in order, weight then bias."""
        found = []
        for layer, module in self._modules_by_layer():
            for name in ("weight", "scale", "bias"):
                parameter = getattr(module, name, None)
                if isinstance(parameter, torch.nn.Parameter):
                    found.append((layer.name, name, parameter))
        return found

    @torch.no_grad()
    def load_graph_weights(self, graph: Graph) -> None:
        """Copy the IR weights of ``graph`` (this net's graph with weights) into the modules."""
        if [layer.name for layer in graph.layers] != self.names:
            raise ValueError(f"graph '{graph.name}' does not have this net's layers")
        for layer, module in zip(graph.layers, self.layers, strict=True):
            if not layer.weights:
                continue
            source = graph.flatten_source(layer.inputs[0])
            for name, value in layer.op.nchw_weights(layer.weights, source).items():
                target = getattr(module, name)
                target.copy_(torch.tensor(np.asarray(value, dtype=np.float32)))

    @torch.no_grad()
    def to_graph(self) -> Graph:
        """The graph with the modules' current parameters as its IR weights."""
        layers = []
        for layer, module in self._modules_by_layer():
            names = layer.op.weight_shapes(self.graph.input_shapes(layer))
            if not names:
                layers.append(layer)
                continue
            nchw = {name: getattr(module, name).detach().cpu().numpy() for name in names}
            source = self.graph.flatten_source(layer.inputs[0])
            weights = layer.op.ir_weights(nchw, source)
            layers.append(dataclasses.replace(layer, weights=weights))
        return Graph(name=self.graph.name, layers=tuple(layers), outputs=self.graph.outputs)
