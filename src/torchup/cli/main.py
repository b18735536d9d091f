"""torchup's command line: argument parsing and dispatch (the composition root).

Imports stay lazy: `torchup --version` must not pay for argparse, packaging, urllib3 or rich.
The parser lives in :mod:`torchup.cli.parser` (only the invoked command's options are added);
each command lives in its own module under ``torchup.cli`` and is imported only when run.
"""

from __future__ import annotations

import os
import sys

# argparse (and typing) load only when a parser is built: `torchup --version` skips them.
TYPE_CHECKING = False
if TYPE_CHECKING:
    import argparse
    from collections.abc import Callable, Sequence

__all__ = ["main", "console_main", "build_parser"]

# command path -> "module:function"; commands absent here are announced as not implemented.
COMMANDS: dict[str, str] = {
    "pip compile": "torchup.cli.pip_compile:run",
    "pip install": "torchup.cli.pip_install:run_install",
    "pip sync": "torchup.cli.pip_install:run_sync",
    "pip uninstall": "torchup.cli.pip_env:run_uninstall",
    "pip list": "torchup.cli.pip_env:run_list",
    "pip freeze": "torchup.cli.pip_env:run_freeze",
    "pip show": "torchup.cli.pip_env:run_show",
    "pip check": "torchup.cli.pip_env:run_check",
    "pip tree": "torchup.cli.pip_env:run_tree",
    "venv": "torchup.cli.venv_cmd:run",
    "lock": "torchup.cli.project:run_lock",
    "sync": "torchup.cli.project:run_sync",
    "add": "torchup.cli.project:run_add",
    "remove": "torchup.cli.project:run_remove",
    "run": "torchup.cli.project:run_run",
    "init": "torchup.cli.project:run_init",
    "export": "torchup.cli.project:run_export",
    "tree": "torchup.cli.project:run_tree",
    "detect": "torchup.cli.detect_cmd:run",
    "cache dir": "torchup.cli.cache_cmd:run_dir",
    "cache clean": "torchup.cli.cache_cmd:run_clean",
    "cache prune": "torchup.cli.cache_cmd:run_prune",
}


def build_parser(*, full: bool = False) -> argparse.ArgumentParser:
    """The argument parser (see :mod:`torchup.cli.parser`); ``full=True`` builds every
    command's parser up front instead of the invoked one's only."""
    from torchup.cli.parser import build_parser as build

    return build(full=full)


def _command_path(ns: argparse.Namespace) -> str | None:
    if ns.command == "pip":
        return f"pip {ns.pip_command}" if ns.pip_command else None
    if ns.command == "cache":
        return f"cache {ns.cache_command}" if ns.cache_command else None
    return ns.command


def _load(target: str) -> Callable[[argparse.Namespace], int]:
    import importlib

    module_name, func = target.split(":")
    return getattr(importlib.import_module(module_name), func)  # type: ignore[no-any-return]


def _tune_gc() -> None:
    """Make the cycle collector run rarely.

    Resolving builds hundreds of thousands of small objects that live for the whole command
    (page entries, versions, candidates). With the default gen-0 threshold (700 allocations)
    the collector walks them again and again looking for cycles that are not there: about a
    quarter of the CPU time of a warm `pip install` of 26 packages. Reference counting frees
    almost all garbage anyway, so collecting less often costs little memory. ``freeze`` moves
    what start-up created (modules, parsers) out of the collector's sight for good.
    """
    import gc

    gc.freeze()
    gc.set_threshold(50_000, 20, 20)


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``torchup`` console script; returns the exit code."""
    args = sys.argv[1:] if argv is None else list(argv)
    if args in (["--version"], ["-V"]):
        # What argparse's version action prints, without importing argparse or building a parser.
        from torchup import __version__

        print(f"torchup {__version__}")
        return 0
    parser = build_parser()
    ns = parser.parse_args(args)
    path = _command_path(ns)
    if path is None:
        sub = {"pip": "pip", "cache": "cache"}.get(ns.command or "")
        parser.parse_args([*(sub and [sub] or []), "--help"])
        return 2
    from torchup.cli import output

    output.configure(ns)
    _tune_gc()
    target = COMMANDS.get(path)
    try:
        if target is None:
            from torchup.errors import NotImplementedCommand

            raise NotImplementedCommand(path)
        try:
            handler = _load(target)
        except (ImportError, AttributeError):
            from torchup.errors import NotImplementedCommand

            raise NotImplementedCommand(path) from None
        return handler(ns)
    except BrokenPipeError:
        # The reader went away (`torchup ... | head`): not an error of ours.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return 0
    except KeyboardInterrupt:
        output.error("interrupted; nothing was left half-written")
        return 130
    except Exception as exc:  # noqa: BLE001 - the one place that turns errors into words
        from torchup.errors import TorchupError

        if isinstance(exc, TorchupError):
            output.error(str(exc))
            return exc.exit_code
        if os.environ.get("TORCHUP_TRACEBACK"):
            raise
        output.error(
            f"internal error: {type(exc).__name__}: {exc}\n"
            "This is a bug in torchup; rerun with TORCHUP_TRACEBACK=1 and report it."
        )
        return 70


def console_main() -> None:
    """The ``torchup`` console script: :func:`main`, then a quick exit.

    A normal exit tears the interpreter down object by object (a resolution leaves hundreds of
    thousands: parsed index pages, versions, file lists), 30-40 ms of a 0.4 s warm install for
    memory the OS takes back anyway. What a normal exit does that matters still happens first,
    in the same order: worker threads are joined (``threading._shutdown``, as the interpreter
    does), atexit handlers run (a ``--no-cache`` temporary cache is removed, logging flushed)
    and stdout/stderr are flushed. Where that shutdown hook is missing (another Python), it
    exits normally.
    """
    code = main()
    threading = sys.modules.get("threading")
    shutdown = getattr(threading, "_shutdown", None) if threading is not None else None
    if threading is not None and shutdown is None:  # pragma: no cover - not CPython 3.10-3.13
        sys.exit(code)
    if shutdown is not None:
        shutdown()
    import atexit

    atexit._run_exitfuncs()
    try:
        sys.stdout.flush()
        sys.stderr.flush()
    except OSError:
        pass  # the reader went away (`torchup ... | head`): nothing left to tell it
    os._exit(code)


if __name__ == "__main__":  # pragma: no cover
    console_main()
