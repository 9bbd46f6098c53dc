"""The s8 scheme: TFLite-style per-channel int8 for the maintained CMSIS-NN (v4 and later)."""
