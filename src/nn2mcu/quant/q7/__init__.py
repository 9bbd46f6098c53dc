"""The q7 scheme's quantizer: formats chosen by the simulator's accuracy or by ARM's method."""
