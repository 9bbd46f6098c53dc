"""Quantization: the calibration split and float view, and each scheme's quantizer."""
