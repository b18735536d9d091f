"""torchup's argument parser: one builder per command, run only for the command invoked.

Kept apart from :mod:`torchup.cli.main` so that ``torchup --version`` loads (and, without
bytecode caches, compiles) none of it, and ``argparse`` only loads when a parser is built.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable

__all__ = ["build_parser"]

Builder = Callable[[argparse.ArgumentParser], None]


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
    g.add_argument(
        "--refresh", action="store_true", default=d(False),
        help="revalidate every cached index page, however fresh",
    )
    g.add_argument(
        "--refresh-package", action="append", default=d([]), metavar="PACKAGE",
        help="revalidate the cached index pages of PACKAGE",
    )
    g.add_argument("--native-tls", action="store_true", default=d(False), help=argparse.SUPPRESS)
    # uv's --no-config skips uv.toml files; torchup reads no such file (a project's own
    # pyproject.toml is the project, read either way), so what it asks for already holds.
    # Accepted so that uv command lines run unchanged.
    g.add_argument(
        "--no-config", action="store_true", default=d(False),
        help="read no configuration file (torchup reads none; for uv command lines)",
    )


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
    g.add_argument(
        "--allow-insecure-host", action="append", default=[], metavar="HOST[:PORT]",
        help="do not check the TLS certificate of HOST (a private index with a self-signed one) "
        "[env: TORCHUP_INSECURE_HOST, space-separated]",
    )
    g.add_argument(
        "--cert", metavar="FILE",
        help="also trust the CA certificates in FILE (PEM) [env: SSL_CERT_FILE]",
    )
    g.add_argument(
        "--system-certs", action="store_true",
        help="use the system's trust store (torchup always does; for uv command lines)",
    )


def _add_torch(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("PyTorch options")
    g.add_argument(
        "--torch-backend",
        metavar="BACKEND",
        help="auto, cpu, cu126, cu128, cu130, rocm6.4, xpu, ... [env: TORCHUP_TORCH_BACKEND]",
    )
    g.add_argument("--torch-channel", choices=["stable", "test", "nightly"])
    g.add_argument("--torch-index-url", metavar="URL", help="base URL of a PyTorch index mirror")


def _add_resolve(p: argparse.ArgumentParser, *, project: bool = False) -> None:
    """Resolver options. ``project``: the project commands' set, without the pip interface's
    --python-version/--python-platform (a project locks every platform) and -c/--override
    (a project's are [tool.uv] constraint-/override-dependencies), as in uv."""
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
    if not project:
        g.add_argument("--python-version", metavar="X.Y")
        g.add_argument("--python-platform", metavar="PLATFORM")
        g.add_argument("-c", "--constraint", "--constraints", action="append", default=[], dest="constraints")
        g.add_argument("--override", "--overrides", action="append", default=[], dest="overrides")
        g.add_argument(
            "-b", "--build-constraint", "--build-constraints", action="append", default=[],
            dest="build_constraints", metavar="FILE",
            help="constrain what build environments install (a requirements file, as uv's -b)",
        )
    g.add_argument("--no-build", action="store_true")
    g.add_argument("--no-binary", action="append", default=[])
    g.add_argument("--only-binary", action="append", default=[])
    g.add_argument(
        "--no-build-isolation", action="store_true",
        help="build sources in the target environment, with the build requirements it has",
    )
    g.add_argument(
        "--no-build-isolation-package", action="append", default=[], metavar="PACKAGE",
        help="build PACKAGE (repeatable) in the target environment, the others isolated",
    )
    g.add_argument(
        "-C", "--config-setting", "--config-settings", action="append", default=[],
        dest="config_settings", metavar="KEY=VALUE", help="pass KEY=VALUE to the build backend",
    )


def _add_requirements_input(p: argparse.ArgumentParser, *, positional: str = "*") -> None:
    p.add_argument("packages", nargs=positional, metavar="PACKAGE")
    p.add_argument("-r", "--requirement", "--requirements", action="append", default=[], dest="requirements")
    p.add_argument("-e", "--editable", action="append", default=[])
    _add_selection(p)


def _add_selection(p: argparse.ArgumentParser) -> None:
    """Which optional dependencies to take: --extra, --all-extras, --group (PEP 735)."""
    p.add_argument("--extra", action="append", default=[])
    p.add_argument("--all-extras", action="store_true")
    p.add_argument("--group", action="append", default=[])


def _add_python(p: argparse.ArgumentParser) -> None:
    p.add_argument("-p", "--python", metavar="PYTHON", help="interpreter or environment")
    p.add_argument("--system", action="store_true")
    p.add_argument("--break-system-packages", action="store_true")
    place = p.add_mutually_exclusive_group()
    place.add_argument(
        "--target", metavar="DIR",
        help="act on DIR as a flat folder of packages (DIR/bin for scripts), for the interpreter",
    )
    place.add_argument(
        "--prefix", metavar="DIR",
        help="act on DIR/lib/pythonX.Y/site-packages and DIR/bin, for the interpreter",
    )


class _LazyParsers(dict):  # type: ignore[type-arg]
    """A sub-parsers action's ``name -> parser`` map whose parsers are built on first lookup.

    Building every command's parser costs ~570 ``add_argument`` calls and a ``gettext`` lookup
    per parser (tens of milliseconds at start-up) while one invocation uses one command. Every
    name is a key from the start (a ``None`` placeholder), so argparse's choice checks, its
    "invalid choice" message and ``--help`` (which reads the separate choice actions) see exactly
    what eagerly built parsers give; argparse looks a parser up only to hand it the arguments
    after its name, and that lookup builds it, through the action's own ``add_parser``.
    """

    def __init__(self, action: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
        super().__init__()
        self._action = action
        self._builders: dict[str, Builder] = {}

    def register(self, name: str, help: str, build: Builder) -> None:
        self._action._choices_actions.append(self._action._ChoicesPseudoAction(name, (), help))
        super().__setitem__(name, None)
        self._builders[name] = build

    def __getitem__(self, name: str) -> argparse.ArgumentParser:
        build = self._builders.pop(name, None)
        if build is not None:
            order = list(self)
            super().__delitem__(name)  # add_parser refuses a name that is already taken
            parser = self._action.add_parser(name)  # no help=: register() made its help line
            for key in order:  # back to registration order, which error messages list
                super().__setitem__(key, super().pop(key))
            build(parser)
        return super().__getitem__(name)  # type: ignore[no-any-return]

    def build_all(self) -> None:
        for name in list(self._builders):
            _build_all(self[name])


def _subcommands(parser: argparse.ArgumentParser, dest: str) -> _LazyParsers:
    action = parser.add_subparsers(dest=dest, metavar="COMMAND")
    lazy = _LazyParsers(action)
    # The action checks choices against, and looks parsers up in, this one map.
    action._name_parser_map = action.choices = lazy
    return lazy


def _build_all(parser: argparse.ArgumentParser) -> None:
    """Build every sub-command parser below ``parser`` (tests and documentation walk them)."""
    for action in parser._actions:
        if isinstance(action.choices, _LazyParsers):
            action.choices.build_all()


# -- pip ---------------------------------------------------------------------------------------


def _build_pip(pip: argparse.ArgumentParser) -> None:
    _add_global(pip)
    pip_sub = _subcommands(pip, "pip_command")
    pip_sub.register("compile", "resolve requirements into a pinned file", _build_pip_compile)
    pip_sub.register("install", "install packages into an environment", _build_pip_install)
    pip_sub.register("sync", "make an environment match a lock or requirements file", _build_pip_sync)
    pip_sub.register("uninstall", "remove packages from an environment", _build_pip_uninstall)
    pip_sub.register("list", "list installed packages", _build_pip_list)
    pip_sub.register("freeze", "print installed packages as requirements", _build_pip_freeze)
    pip_sub.register("show", "show information about installed packages", _build_pip_show)
    pip_sub.register(
        "check", "check installed packages have compatible dependencies", _build_pip_check
    )
    pip_sub.register("tree", "show installed packages as a dependency tree", _build_pip_tree)


def _build_pip_compile(compile_: argparse.ArgumentParser) -> None:
    _add_global(compile_)
    compile_.add_argument("src_files", nargs="*", metavar="SRC_FILE")
    _add_selection(compile_)
    compile_.add_argument("-o", "--output-file", metavar="FILE")
    compile_.add_argument("--format", choices=["requirements.txt", "pylock.toml"])
    compile_.add_argument("--no-annotate", action="store_true")
    compile_.add_argument("--no-header", action="store_true")
    compile_.add_argument("--generate-hashes", action="store_true")
    compile_.add_argument("--no-strip-extras", action="store_true")
    compile_.add_argument(
        "--strip-extras", action="store_false", dest="no_strip_extras",
        help="leave extras out of the pins (the default, as in uv)",
    )
    compile_.add_argument("--annotation-style", choices=["split", "line"], default="split")
    compile_.add_argument(
        "--custom-compile-command", metavar="COMMAND",
        help="the command the header says regenerates the file",
    )
    compile_.add_argument("--emit-index-url", action="store_true", help="write the index URLs used")
    compile_.add_argument("--emit-find-links", action="store_true", help="write the find-links used")
    compile_.add_argument(
        "--no-emit-package", action="append", default=[], metavar="PACKAGE",
        help="leave PACKAGE out of the output (it is still resolved)",
    )
    compile_.add_argument("--dry-run", action="store_true")
    compile_.add_argument("--report", metavar="FILE", help="write a pip-style JSON report")
    compile_.add_argument("--universal", action="store_true")
    compile_.add_argument("--no-deps", action="store_true")
    compile_.add_argument("-p", "--python", metavar="PYTHON")
    _add_index(compile_)
    _add_resolve(compile_)
    _add_torch(compile_)


def _build_pip_install(install: argparse.ArgumentParser) -> None:
    _add_global(install)
    _add_requirements_input(install)
    _add_python(install)
    install.add_argument("--reinstall", "--force-reinstall", action="store_true")
    install.add_argument("--reinstall-package", action="append", default=[])
    install.add_argument("--no-deps", action="store_true")
    install.add_argument(
        "--exact", action="store_true",
        help="also remove what the resolution does not include (as pip sync does)",
    )
    _add_installing(install)


def _build_pip_sync(sync: argparse.ArgumentParser) -> None:
    _add_global(sync)
    sync.add_argument("src_files", nargs="+", metavar="SRC_FILE")
    _add_python(sync)
    _add_selection(sync)
    sync.add_argument("--reinstall", action="store_true")
    sync.add_argument(
        "--allow-empty-requirements", action="store_true",
        help="with no requirements at all, remove everything (without it: change nothing)",
    )
    _add_installing(sync)


def _add_installing(p: argparse.ArgumentParser) -> None:
    """What `pip install` and `pip sync` share after their own options (same order as uv)."""
    p.add_argument("--dry-run", action="store_true")
    p.add_argument("--require-hashes", action="store_true")
    p.add_argument(
        "--verify-hashes", action="store_true", default=None, dest="verify_hashes",
        help="check the requirements' --hash values where given (the default)",
    )
    p.add_argument(
        "--no-verify-hashes", action="store_false", dest="verify_hashes",
        help="do not check the requirements' --hash values (as uv; --require-hashes wins)",
    )
    p.add_argument("--link-mode", choices=["hardlink", "copy", "symlink", "clone"])
    p.add_argument("--compile-bytecode", action="store_true")
    p.add_argument(
        "--strict", action="store_true",
        help="afterwards, warn about missing and conflicting requirements (as pip check)",
    )
    _add_index(p)
    _add_resolve(p)
    _add_torch(p)


def _build_pip_uninstall(uninstall: argparse.ArgumentParser) -> None:
    _add_global(uninstall)
    uninstall.add_argument("packages", nargs="*", metavar="PACKAGE")
    uninstall.add_argument(
        "-r", "--requirement", "--requirements", action="append", default=[], dest="requirements"
    )
    _add_python(uninstall)
    uninstall.add_argument("--dry-run", action="store_true")
    # pip asks before uninstalling unless -y; torchup never asks (as uv), so what -y asks for
    # already holds. Accepted so `pip uninstall -y ...` lines run unchanged.
    uninstall.add_argument(
        "-y", "--yes", action="store_true", help="do not ask (torchup never asks; for pip command lines)"
    )


def _build_pip_list(p: argparse.ArgumentParser) -> None:
    _add_global(p)
    _add_python(p)
    p.add_argument("--format", choices=["columns", "freeze", "json"], default="columns")
    p.add_argument("-e", "--editable", action="store_true")
    p.add_argument("--exclude-editable", action="store_true")
    p.add_argument(
        "--outdated", action="store_true", help="list what the indexes have newer versions of"
    )
    p.add_argument(
        "-u", "--uptodate", action="store_true", help="list what the indexes have nothing newer of"
    )
    p.add_argument(
        "--not-required", action="store_true",
        help="list only packages no other installed package depends on",
    )
    _add_exclude(p)
    _add_index(p)


def _add_exclude(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--exclude", action="append", default=[], metavar="PACKAGE", help="leave PACKAGE out"
    )
    p.add_argument(
        "--path", action="append", default=[], metavar="DIR",
        help="list the distributions in DIR (repeatable) instead of the environment's",
    )


def _build_pip_freeze(p: argparse.ArgumentParser) -> None:
    _add_global(p)
    _add_python(p)
    p.add_argument("--exclude-editable", action="store_true")
    _add_exclude(p)


def _build_pip_show(show: argparse.ArgumentParser) -> None:
    _add_global(show)
    show.add_argument("packages", nargs="+", metavar="PACKAGE")
    show.add_argument("-f", "--files", action="store_true")
    _add_python(show)


def _build_pip_check(check: argparse.ArgumentParser) -> None:
    _add_global(check)
    _add_python(check)


def _add_tree_display(tree: argparse.ArgumentParser) -> None:
    """How a dependency tree is drawn (`pip tree` and `tree`, as uv's)."""
    tree.add_argument(
        "-d", "--depth", type=int, default=255, metavar="DEPTH",
        help="levels shown below the roots (default: %(default)s)",
    )
    tree.add_argument(
        "--package", action="append", default=[], metavar="PACKAGE",
        help="show only the tree of PACKAGE (repeatable)",
    )
    tree.add_argument(
        "--prune", action="append", default=[], metavar="PACKAGE",
        help="leave PACKAGE and what only it brings out of the display (repeatable)",
    )
    tree.add_argument(
        "--invert", action="store_true", help="show what depends on each package instead"
    )
    tree.add_argument(
        "--no-dedupe", action="store_true",
        help="repeat a subtree every time, instead of marking repeats with (*)",
    )
    tree.add_argument(
        "--outdated", action="store_true",
        help="show the newest version the indexes have beside outdated packages",
    )


def _build_pip_tree(tree: argparse.ArgumentParser) -> None:
    _add_global(tree)
    _add_python(tree)
    _add_tree_display(tree)
    tree.add_argument(
        "--show-version-specifiers", action="store_true",
        help="show the version each requirement asks for",
    )
    tree.add_argument(
        "--strict", action="store_true",
        help="also warn about missing and conflicting requirements (as `pip check`)",
    )
    _add_index(tree)


# -- venv, project commands, detect, cache ---------------------------------------------------


def _build_venv(venv: argparse.ArgumentParser) -> None:
    _add_global(venv)
    venv.add_argument("path", nargs="?", default=".venv")
    venv.add_argument("-p", "--python", metavar="PYTHON")
    venv.add_argument("--seed", action="store_true", help="install pip into the environment")
    venv.add_argument("--prompt")
    venv.add_argument("--clear", action="store_true")
    venv.add_argument("--system-site-packages", action="store_true")
    _add_index(venv)


def _project_common(p: argparse.ArgumentParser) -> None:
    _add_global(p)
    p.add_argument("--directory", "--project", dest="project_dir", metavar="DIR")
    p.add_argument("-p", "--python", metavar="PYTHON")
    _add_index(p)
    _add_resolve(p, project=True)
    _add_torch(p)
    p.add_argument("--locked", action="store_true", help="fail if the lock is stale")
    p.add_argument("--frozen", action="store_true", help="use the lock as is")


def _add_no_sources(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--no-sources", action="store_true",
        help="ignore [tool.uv.sources]: resolve from the indexes, as the published metadata says",
    )


def _add_no_install_project(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--no-install-project", action="store_true",
        help="install the dependencies only, not the project itself",
    )


def _build_lock(lock: argparse.ArgumentParser) -> None:
    _project_common(lock)
    _add_no_sources(lock)
    lock.add_argument("--check", action="store_true")
    lock.add_argument("--dry-run", action="store_true")


def _build_sync(p: argparse.ArgumentParser) -> None:
    _project_common(p)
    _add_no_sources(p)
    _add_no_install_project(p)
    _add_selection(p)
    _add_group_choice(p)
    p.add_argument("--inexact", action="store_true")
    p.add_argument("--dry-run", action="store_true")
    p.add_argument(
        "--reinstall", action="store_true", help="install every package again, as uv sync does"
    )
    p.add_argument(
        "--reinstall-package", action="append", default=[], metavar="PACKAGE",
        help="install PACKAGE again (repeatable)",
    )


def _build_add(add: argparse.ArgumentParser) -> None:
    _project_common(add)
    _add_no_install_project(add)
    add.add_argument("packages", nargs="+", metavar="PACKAGE")
    add.add_argument("--extra", dest="optional", metavar="EXTRA", help="add to an optional extra")
    add.add_argument("--optional", dest="optional", metavar="EXTRA")
    add.add_argument("--group")
    add.add_argument("--dev", action="store_true")
    add.add_argument("--no-sync", action="store_true")
    add.add_argument(
        "--editable", action="store_true", help="add local folders as editable path sources"
    )


def _build_remove(remove: argparse.ArgumentParser) -> None:
    _project_common(remove)
    _add_no_install_project(remove)
    remove.add_argument("packages", nargs="+", metavar="PACKAGE")
    remove.add_argument("--optional", metavar="EXTRA")
    remove.add_argument("--group")
    remove.add_argument("--dev", action="store_true")
    remove.add_argument("--no-sync", action="store_true")


def _build_run(runp: argparse.ArgumentParser) -> None:
    _project_common(runp)
    _add_no_sources(runp)
    _add_no_install_project(runp)
    _add_selection(runp)
    runp.add_argument("--no-sync", action="store_true")
    runp.add_argument("cmd", nargs=argparse.REMAINDER, metavar="COMMAND")


def _build_export(export: argparse.ArgumentParser) -> None:
    _project_common(export)
    _add_no_sources(export)
    export.add_argument("--format", choices=["requirements.txt", "pylock.toml"], default="requirements.txt")
    export.add_argument("-o", "--output-file")
    _add_selection(export)
    export.add_argument("--no-hashes", action="store_true")


def _add_group_choice(p: argparse.ArgumentParser) -> None:
    """Which dependency groups beside the default `dev` (sync and tree, as uv's)."""
    p.add_argument("--no-dev", action="store_true")
    p.add_argument("--only-dev", action="store_true", help="same as --only-group dev")
    p.add_argument(
        "--only-group", action="append", default=[], metavar="GROUP",
        help="only this dependency group's packages (not the project's dependencies)",
    )


def _build_tree(tree: argparse.ArgumentParser) -> None:
    _project_common(tree)
    _add_no_sources(tree)
    _add_tree_display(tree)
    tree.add_argument(
        "--universal", action="store_true",
        help="draw the tree for every environment the lock is made for, not only this one",
    )
    tree.add_argument(
        "--show-sizes", action="store_true", help="show the size of each package's file"
    )
    tree.add_argument("--group", action="append", default=[])
    _add_group_choice(tree)


def _build_init(init: argparse.ArgumentParser) -> None:
    _add_global(init)
    init.add_argument("path", nargs="?", default=".")
    init.add_argument("--name")
    init.add_argument("-p", "--python", metavar="PYTHON")


def _build_detect(detect: argparse.ArgumentParser) -> None:
    _add_global(detect)
    detect.add_argument("-p", "--python", metavar="PYTHON", help="also check this environment's torch")
    detect.add_argument("--json", action="store_true")
    detect.add_argument("--torch-version", metavar="VERSION", help="choose for this torch version")


def _build_cache(cache: argparse.ArgumentParser) -> None:
    _add_global(cache)
    cache_sub = _subcommands(cache, "cache_command")
    cache_sub.register("dir", "print the cache directory", _add_global)
    cache_sub.register("clean", "remove the cache", _add_global)
    cache_sub.register("prune", "remove unused entries", _add_global)


# (name, help, builder), in the order `torchup --help` lists them.
_TOP_LEVEL: tuple[tuple[str, str, Builder], ...] = (
    ("pip", "pip-compatible commands", _build_pip),
    ("venv", "create a virtual environment", _build_venv),
    ("lock", "lock the project's dependencies for every platform", _build_lock),
    ("sync", "install the locked dependencies into .venv", _build_sync),
    ("add", "add dependencies to pyproject.toml, lock and sync", _build_add),
    ("remove", "remove dependencies from pyproject.toml, lock and sync", _build_remove),
    ("run", "run a command in the project's environment", _build_run),
    ("export", "export the lock as requirements.txt or pylock.toml", _build_export),
    ("tree", "show the project's locked dependencies as a tree", _build_tree),
    ("init", "create a new project", _build_init),
    ("detect", "show the accelerator and the torch build it needs", _build_detect),
    ("cache", "manage the cache", _build_cache),
)


def build_parser(*, full: bool = False) -> argparse.ArgumentParser:
    """The argument parser; a command's own options are added when it is parsed.

    ``full=True`` builds every command's parser up front (tests compare the two, and tools that
    walk the parser tree need it).
    """
    from torchup import __version__

    parser = argparse.ArgumentParser(
        prog="torchup",
        description="A Python package manager that gets PyTorch right.",
    )
    parser.add_argument("-V", "--version", action="version", version=f"torchup {__version__}")
    _add_global(parser, top=True)
    sub = _subcommands(parser, "command")
    for name, text, build in _TOP_LEVEL:
        sub.register(name, text, build)
    if full:
        _build_all(parser)
    return parser
