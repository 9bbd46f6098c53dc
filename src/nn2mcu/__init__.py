"""nn2mcu: from a neural network definition to verified CMSIS-NN C code for Cortex-M."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("nn2mcu")
except PackageNotFoundError:  # running from a source tree that is not installed
    __version__ = "0.0.0+unknown"

__all__ = ["__version__"]
