"""torchup's command line: argument parsing and dispatch (the composition root).

Imports stay lazy: `torchup --version` must not pay for packaging, urllib3 or rich.
Each command lives in its own module under ``torchup.cli`` and is imported only when run.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable, Sequence

__all__ = ["main", "build_parser"]

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
    "venv": "torchup.cli.venv_cmd:run",
    "lock": "torchup.cli.project:run_lock",
    "sync": "torchup.cli.project:run_sync",
    "add": "torchup.cli.project:run_add",
    "remove": "torchup.cli.project:run_remove",
    "run": "torchup.cli.project:run_run",
    "init": "torchup.cli.project:run_init",
    "export": "torchup.cli.project:run_export",
    "detect": "torchup.cli.detect_cmd:run",
    "cache dir": "torchup.cli.cache_cmd:run_dir",
    "cache clean": "torchup.cli.cache_cmd:run_clean",
    "cache prune": "torchup.cli.cache_cmd:run_prune",
}


def _add_global(p: argparse.ArgumentParser, *, top: bool = False) -> None:
    """Global options, accepted before or after the command (``torchup -v pip compile``).

    Only the top-level parser sets defaults; the copies on subcommands use SUPPRESS so that a
    value given before the command is not overwritten by the subcommand's default.
    """

    def d(value: object) -> object:
        return value if top else argparse.SUPPRESS

    g = p.add_argument_group("global options")
    g.add_argument("-v", "--verbose", action="count", default=d(0), help="more output (-vv: debug)")
    g.add_argument("-q", "--quiet", action="count", default=d(0), help="less output")
    g.add_argument("--color", choices=["auto", "always", "never"], default=d("auto"))
    g.add_argument("--no-progress", action="store_true", default=d(False), help="hide progress bars")
    g.add_argument("--cache-dir", metavar="DIR", default=d(None), help="cache directory [env: TORCHUP_CACHE_DIR]")
    g.add_argument("-n", "--no-cache", action="store_true", default=d(False), help="use a temporary cache")
    g.add_argument("--offline", action="store_true", default=d(False), help="use only the cache, no network")
    g.add_argument("--native-tls", action="store_true", default=d(False), help=argparse.SUPPRESS)


def _add_index(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("index options")
    g.add_argument("--index", action="append", default=[], metavar="[NAME=]URL")
    g.add_argument("--default-index", metavar="URL")
    g.add_argument("-i", "--index-url", metavar="URL")
    g.add_argument("--extra-index-url", action="append", default=[], metavar="URL")
    g.add_argument("-f", "--find-links", action="append", default=[], metavar="PATH|URL")
    g.add_argument("--no-index", action="store_true")
    g.add_argument(
        "--index-strategy", choices=["first-index", "unsafe-first-match", "unsafe-best-match"]
    )
    g.add_argument("--keyring-provider", choices=["disabled", "subprocess"], default="disabled")


def _add_torch(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("PyTorch options")
    g.add_argument(
        "--torch-backend",
        metavar="BACKEND",
        help="auto, cpu, cu126, cu128, cu130, rocm6.4, xpu, ... [env: TORCHUP_TORCH_BACKEND]",
    )
    g.add_argument("--torch-channel", choices=["stable", "test", "nightly"])
    g.add_argument("--torch-index-url", metavar="URL", help="base URL of a PyTorch index mirror")


def _add_resolve(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("resolver options")
    g.add_argument(
        "--prerelease",
        choices=["disallow", "allow", "if-necessary", "explicit", "if-necessary-or-explicit"],
    )
    g.add_argument("--pre", action="store_true", help="same as --prerelease allow")
    g.add_argument("--resolution", choices=["highest", "lowest", "lowest-direct"])
    g.add_argument("-U", "--upgrade", action="store_true")
    g.add_argument("-P", "--upgrade-package", action="append", default=[], metavar="PKG")
    g.add_argument("--exclude-newer", metavar="DATE")
    g.add_argument("--python-version", metavar="X.Y")
    g.add_argument("--python-platform", metavar="PLATFORM")
    g.add_argument("-c", "--constraint", "--constraints", action="append", default=[], dest="constraints")
    g.add_argument("--override", "--overrides", action="append", default=[], dest="overrides")
    g.add_argument("--no-build", action="store_true")
    g.add_argument("--no-binary", action="append", default=[])
    g.add_argument("--only-binary", action="append", default=[])


def _add_requirements_input(p: argparse.ArgumentParser, *, positional: str = "*") -> None:
    p.add_argument("packages", nargs=positional, metavar="PACKAGE")
    p.add_argument("-r", "--requirement", "--requirements", action="append", default=[], dest="requirements")
    p.add_argument("-e", "--editable", action="append", default=[])
    p.add_argument("--extra", action="append", default=[])
    p.add_argument("--all-extras", action="store_true")
    p.add_argument("--group", action="append", default=[])


def _add_python(p: argparse.ArgumentParser) -> None:
    p.add_argument("-p", "--python", metavar="PYTHON", help="interpreter or environment")
    p.add_argument("--system", action="store_true")
    p.add_argument("--break-system-packages", action="store_true")


def build_parser() -> argparse.ArgumentParser:
    """The full argument parser (cheap to build: argparse only)."""
    from torchup import __version__

    parser = argparse.ArgumentParser(
        prog="torchup",
        description="A Python package manager that gets PyTorch right.",
    )
    parser.add_argument("-V", "--version", action="version", version=f"torchup {__version__}")
    _add_global(parser, top=True)
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    pip = sub.add_parser("pip", help="pip-compatible commands")
    _add_global(pip)
    pip_sub = pip.add_subparsers(dest="pip_command", metavar="COMMAND")

    compile_ = pip_sub.add_parser("compile", help="resolve requirements into a pinned file")
    _add_global(compile_)
    compile_.add_argument("src_files", nargs="*", metavar="SRC_FILE")
    compile_.add_argument("--extra", action="append", default=[])
    compile_.add_argument("--all-extras", action="store_true")
    compile_.add_argument("--group", action="append", default=[])
    compile_.add_argument("-o", "--output-file", metavar="FILE")
    compile_.add_argument("--format", choices=["requirements.txt", "pylock.toml"])
    compile_.add_argument("--no-annotate", action="store_true")
    compile_.add_argument("--no-header", action="store_true")
    compile_.add_argument("--generate-hashes", action="store_true")
    compile_.add_argument("--no-strip-extras", action="store_true")
    compile_.add_argument("--dry-run", action="store_true")
    compile_.add_argument("--report", metavar="FILE", help="write a pip-style JSON report")
    compile_.add_argument("--universal", action="store_true")
    compile_.add_argument("--no-deps", action="store_true")
    compile_.add_argument("-p", "--python", metavar="PYTHON")
    _add_index(compile_)
    _add_resolve(compile_)
    _add_torch(compile_)

    install = pip_sub.add_parser("install", help="install packages into an environment")
    _add_global(install)
    _add_requirements_input(install)
    _add_python(install)
    install.add_argument("--reinstall", "--force-reinstall", action="store_true")
    install.add_argument("--reinstall-package", action="append", default=[])
    install.add_argument("--no-deps", action="store_true")
    install.add_argument("--dry-run", action="store_true")
    install.add_argument("--require-hashes", action="store_true")
    install.add_argument("--link-mode", choices=["hardlink", "copy", "symlink", "clone"])
    install.add_argument("--compile-bytecode", action="store_true")
    _add_index(install)
    _add_resolve(install)
    _add_torch(install)

    sync = pip_sub.add_parser("sync", help="make an environment match a lock or requirements file")
    _add_global(sync)
    sync.add_argument("src_files", nargs="+", metavar="SRC_FILE")
    _add_python(sync)
    sync.add_argument("--extra", action="append", default=[])
    sync.add_argument("--all-extras", action="store_true")
    sync.add_argument("--group", action="append", default=[])
    sync.add_argument("--reinstall", action="store_true")
    sync.add_argument("--dry-run", action="store_true")
    sync.add_argument("--require-hashes", action="store_true")
    sync.add_argument("--link-mode", choices=["hardlink", "copy", "symlink", "clone"])
    sync.add_argument("--compile-bytecode", action="store_true")
    _add_index(sync)
    _add_resolve(sync)
    _add_torch(sync)

    uninstall = pip_sub.add_parser("uninstall", help="remove packages from an environment")
    _add_global(uninstall)
    uninstall.add_argument("packages", nargs="*", metavar="PACKAGE")
    uninstall.add_argument("-r", "--requirement", action="append", default=[], dest="requirements")
    _add_python(uninstall)
    uninstall.add_argument("--dry-run", action="store_true")

    for name, text in [("list", "list installed packages"), ("freeze", "print installed packages as requirements")]:
        p = pip_sub.add_parser(name, help=text)
        _add_global(p)
        _add_python(p)
        if name == "list":
            p.add_argument("--format", choices=["columns", "freeze", "json"], default="columns")
            p.add_argument("-e", "--editable", action="store_true")
            p.add_argument("--exclude-editable", action="store_true")
        else:
            p.add_argument("--exclude-editable", action="store_true")
    show = pip_sub.add_parser("show", help="show information about installed packages")
    _add_global(show)
    show.add_argument("packages", nargs="+", metavar="PACKAGE")
    show.add_argument("-f", "--files", action="store_true")
    _add_python(show)
    check = pip_sub.add_parser("check", help="check installed packages have compatible dependencies")
    _add_global(check)
    _add_python(check)

    venv = sub.add_parser("venv", help="create a virtual environment")
    _add_global(venv)
    venv.add_argument("path", nargs="?", default=".venv")
    venv.add_argument("-p", "--python", metavar="PYTHON")
    venv.add_argument("--seed", action="store_true", help="install pip into the environment")
    venv.add_argument("--prompt")
    venv.add_argument("--clear", action="store_true")
    venv.add_argument("--system-site-packages", action="store_true")
    _add_index(venv)

    def project_cmd(name: str, text: str) -> argparse.ArgumentParser:
        p = sub.add_parser(name, help=text)
        _add_global(p)
        p.add_argument("--directory", "--project", dest="project_dir", metavar="DIR")
        p.add_argument("-p", "--python", metavar="PYTHON")
        _add_index(p)
        _add_resolve(p)
        _add_torch(p)
        p.add_argument("--locked", action="store_true", help="fail if the lock is stale")
        p.add_argument("--frozen", action="store_true", help="use the lock as is")
        return p

    lock = project_cmd("lock", "lock the project's dependencies for every platform")
    lock.add_argument("--check", action="store_true")
    lock.add_argument("--dry-run", action="store_true")
    psync = project_cmd("sync", "install the locked dependencies into .venv")
    for p in (psync,):
        p.add_argument("--extra", action="append", default=[])
        p.add_argument("--all-extras", action="store_true")
        p.add_argument("--group", action="append", default=[])
        p.add_argument("--no-dev", action="store_true")
        p.add_argument("--only-dev", action="store_true")
        p.add_argument("--inexact", action="store_true")
        p.add_argument("--dry-run", action="store_true")
    add = project_cmd("add", "add dependencies to pyproject.toml, lock and sync")
    add.add_argument("packages", nargs="+", metavar="PACKAGE")
    add.add_argument("--extra", dest="optional", metavar="EXTRA", help="add to an optional extra")
    add.add_argument("--optional", dest="optional", metavar="EXTRA")
    add.add_argument("--group")
    add.add_argument("--dev", action="store_true")
    add.add_argument("--no-sync", action="store_true")
    remove = project_cmd("remove", "remove dependencies from pyproject.toml, lock and sync")
    remove.add_argument("packages", nargs="+", metavar="PACKAGE")
    remove.add_argument("--optional", metavar="EXTRA")
    remove.add_argument("--group")
    remove.add_argument("--dev", action="store_true")
    remove.add_argument("--no-sync", action="store_true")
    runp = project_cmd("run", "run a command in the project's environment")
    runp.add_argument("--extra", action="append", default=[])
    runp.add_argument("--all-extras", action="store_true")
    runp.add_argument("--group", action="append", default=[])
    runp.add_argument("--no-sync", action="store_true")
    runp.add_argument("cmd", nargs=argparse.REMAINDER, metavar="COMMAND")
    export = project_cmd("export", "export the lock as requirements.txt or pylock.toml")
    export.add_argument("--format", choices=["requirements.txt", "pylock.toml"], default="requirements.txt")
    export.add_argument("-o", "--output-file")
    export.add_argument("--extra", action="append", default=[])
    export.add_argument("--all-extras", action="store_true")
    export.add_argument("--group", action="append", default=[])
    export.add_argument("--no-hashes", action="store_true")
    init = sub.add_parser("init", help="create a new project")
    _add_global(init)
    init.add_argument("path", nargs="?", default=".")
    init.add_argument("--name")
    init.add_argument("-p", "--python", metavar="PYTHON")

    detect = sub.add_parser("detect", help="show the accelerator and the torch build it needs")
    _add_global(detect)
    detect.add_argument("-p", "--python", metavar="PYTHON", help="also check this environment's torch")
    detect.add_argument("--json", action="store_true")
    detect.add_argument("--torch-version", metavar="VERSION", help="choose for this torch version")

    cache = sub.add_parser("cache", help="manage the cache")
    _add_global(cache)
    cache_sub = cache.add_subparsers(dest="cache_command", metavar="COMMAND")
    for name, text in [("dir", "print the cache directory"), ("clean", "remove the cache"), ("prune", "remove unused entries")]:
        cp = cache_sub.add_parser(name, help=text)
        _add_global(cp)
    return parser


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


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``torchup`` console script; returns the exit code."""
    parser = build_parser()
    ns = parser.parse_args(argv)
    path = _command_path(ns)
    if path is None:
        sub = {"pip": "pip", "cache": "cache"}.get(ns.command or "")
        parser.parse_args([*(sub and [sub] or []), "--help"])
        return 2
    from torchup.cli import output

    output.configure(ns)
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


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
