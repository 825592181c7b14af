"""tacoglow.training: losses, the training loop, distributed and mixed-precision helpers."""
