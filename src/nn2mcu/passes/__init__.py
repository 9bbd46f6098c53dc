"""Graph passes: small functions from Graph to Graph."""

from nn2mcu.passes.fold_batchnorm import fold_batchnorm
from nn2mcu.passes.fold_pad import fold_pad
from nn2mcu.passes.use_mean_file import use_mean_file

__all__ = ["fold_batchnorm", "fold_pad", "use_mean_file"]
