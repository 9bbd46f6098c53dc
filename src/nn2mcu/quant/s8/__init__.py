"""The s8 scheme's quantizer: per-channel weights, activation ranges chosen by the simulator."""
