"""Graph passes: small functions from Graph to Graph."""

from nn2mcu.passes.fold_batchnorm import fold_batchnorm

__all__ = ["fold_batchnorm"]
