"""`torchup cache dir|clean|prune`."""

from __future__ import annotations

import argparse

from torchup.cli import output
from torchup.cli.context import Context

__all__ = ["run_dir", "run_clean", "run_prune"]


def _human(n: int) -> str:
    size = float(n)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if size < 1024 or unit == "GiB":
            return f"{size:.1f} {unit}" if unit != "B" else f"{int(size)} B"
        size /= 1024
    return f"{n} B"


def run_dir(ns: argparse.Namespace) -> int:
    print(Context(ns).cache_dir())
    return 0


def run_clean(ns: argparse.Namespace) -> int:
    ctx = Context(ns)
    stats = ctx.cache.clean()
    output.info(f"Removed {stats.files} files ({_human(stats.bytes)}) from {ctx.cache.dir}")
    return 0


def run_prune(ns: argparse.Namespace) -> int:
    ctx = Context(ns)
    stats = ctx.cache.prune()
    output.info(f"Pruned {stats.files} files ({_human(stats.bytes)}) from {ctx.cache.dir}")
    return 0
