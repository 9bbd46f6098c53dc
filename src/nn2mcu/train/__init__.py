"""Training Caffe-defined networks with PyTorch and Caffe's solver semantics."""
