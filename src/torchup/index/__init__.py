"""torchup.index."""
