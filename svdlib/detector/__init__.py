"""The singing voice detector: model, checkpoints, inference, training and metrics."""
