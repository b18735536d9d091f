"""Terminal output: verbosity, colour and progress switches, set once from the CLI flags."""

from __future__ import annotations

import argparse
import logging
import os
import sys
from dataclasses import dataclass

__all__ = ["configure", "error", "warn", "info", "debug", "settings", "Settings"]


@dataclass
class Settings:
    verbosity: int = 0
    color: bool = False
    progress: bool = True


settings = Settings()


def configure(ns: argparse.Namespace) -> None:
    """Apply -v/-q/--color/--no-progress (and NO_COLOR) for the whole run."""
    settings.verbosity = getattr(ns, "verbose", 0) - getattr(ns, "quiet", 0)
    color = getattr(ns, "color", "auto")
    if color == "always":
        settings.color = True
    elif color == "never" or os.environ.get("NO_COLOR"):
        settings.color = False
    else:
        settings.color = sys.stderr.isatty()
    settings.progress = (
        not getattr(ns, "no_progress", False) and sys.stderr.isatty() and settings.verbosity >= 0
    )
    level = logging.WARNING
    if settings.verbosity == 1:
        level = logging.INFO
    elif settings.verbosity >= 2:
        level = logging.DEBUG
    logging.basicConfig(level=level, format="%(message)s", stream=sys.stderr)
    logging.getLogger("torchup").setLevel(level)
    for noisy in ("urllib3", "filelock"):
        logging.getLogger(noisy).setLevel(logging.WARNING)


def _paint(text: str, code: str) -> str:
    return f"\x1b[{code}m{text}\x1b[0m" if settings.color else text


def error(message: str) -> None:
    """Print an error paragraph to stderr (always shown)."""
    print(f"{_paint('error', '1;31')}: {message}", file=sys.stderr)


def warn(message: str) -> None:
    if settings.verbosity >= -1:
        print(f"{_paint('warning', '1;33')}: {message}", file=sys.stderr)


def info(message: str) -> None:
    """A status line on stderr (hidden by -q)."""
    if settings.verbosity >= 0:
        print(message, file=sys.stderr)


def debug(message: str) -> None:
    if settings.verbosity >= 1:
        print(message, file=sys.stderr)
