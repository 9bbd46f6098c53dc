"""Framework-neutral network IR."""

from nn2mcu.ir.graph import FloatArray, Graph, Layer
from nn2mcu.ir.op import Op, ShapeError
from nn2mcu.ir.shape import Shape

__all__ = ["FloatArray", "Graph", "Layer", "Op", "Shape", "ShapeError"]
