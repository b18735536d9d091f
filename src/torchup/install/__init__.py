"""torchup.install."""
