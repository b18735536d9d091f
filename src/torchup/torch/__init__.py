"""torchup.torch."""
