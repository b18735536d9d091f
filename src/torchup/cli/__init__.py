"""torchup.cli."""
