"""torchup.resolver."""
