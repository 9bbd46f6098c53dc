"""Framework-neutral network IR."""

from nn2mcu.ir.graph import FloatArray, Graph, Layer
from nn2mcu.ir.op import ElementwiseOp, Op, ShapeError
from nn2mcu.ir.shape import Shape

__all__ = ["ElementwiseOp", "FloatArray", "Graph", "Layer", "Op", "Shape", "ShapeError"]
