"""Terminal output: verbosity, colour and progress switches, set once from the CLI flags.

Importing this module costs nothing beyond ``os`` and ``sys``: ``logging`` (~5 ms with its
``traceback`` imports) is configured by :func:`configure_logging`, which :func:`configure` calls
only when the run may print log records itself (``-v``, or ``logging`` already loaded); the
network code's entry point (``Context.client``) calls it before anything there logs.
"""

from __future__ import annotations

import os
import sys

TYPE_CHECKING = False
if TYPE_CHECKING:
    import argparse

__all__ = [
    "configure",
    "configure_logging",
    "error",
    "warn",
    "info",
    "debug",
    "settings",
    "Settings",
    "counted",
]


class Settings:
    """The output switches of this run (a plain class: ``dataclasses`` costs start-up time)."""

    __slots__ = ("verbosity", "color", "progress")

    def __init__(self, verbosity: int = 0, color: bool = False, progress: bool = True) -> None:
        self.verbosity = verbosity
        self.color = color
        self.progress = progress

    def __repr__(self) -> str:
        return f"Settings(verbosity={self.verbosity!r}, color={self.color!r}, progress={self.progress!r})"

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Settings):
            return NotImplemented
        return (self.verbosity, self.color, self.progress) == (
            other.verbosity,
            other.color,
            other.progress,
        )

    __hash__ = None  # type: ignore[assignment]  # mutable, like the dataclass it replaces


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
    # At the default level (WARNING) an unconfigured `logging` prints a torchup warning the same
    # way (its last-resort handler: the bare message on stderr); what differs is a library logger
    # with its own NullHandler (urllib3), whose warnings need the root handler: the HTTP client
    # configures logging before it exists. With -v the levels change, so configure now.
    if settings.verbosity >= 1 or "logging" in sys.modules:
        configure_logging()


def configure_logging() -> None:
    """Route log records to stderr at the level -v/-q asked for (safe to call again)."""
    import logging

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


def counted(n: int, noun: str) -> str:
    """``1 package``, ``2 packages``: uv's summaries count in the singular for one."""
    return f"{n} {noun}" if n == 1 else f"{n} {noun}s"


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
