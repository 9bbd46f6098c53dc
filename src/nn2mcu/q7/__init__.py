"""The legacy CMSIS-NN q7 scheme (power-of-two Qm.n formats) shared helpers."""
