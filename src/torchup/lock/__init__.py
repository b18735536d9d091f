"""torchup.lock."""
