"""The int8 TFLite front end: ``load_tflite`` reads a .tflite file into a graph and the
quantization TFLite chose for it."""

from nn2mcu.frontends.tflite.loader import TfliteImport, is_tflite, load_tflite

__all__ = ["TfliteImport", "is_tflite", "load_tflite"]
