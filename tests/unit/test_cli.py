"""The command line's parser and start-up paths: lazily built command parsers behave exactly
like fully built ones, `--version` skips argparse, an unusable cache directory is a clear
error, and `-p DIR` names an environment."""

from __future__ import annotations

import contextlib
import io
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from torchup import __version__
from torchup.cli.main import build_parser, main

TOP = ["pip", "venv", "lock", "sync", "add", "remove", "run", "export", "init", "detect", "cache"]
PIP = ["compile", "install", "sync", "uninstall", "list", "freeze", "show", "check"]
COMMANDS = [
    *([c] for c in TOP),
    *(["pip", c] for c in PIP),
    *(["cache", c] for c in ("dir", "clean", "prune")),
]
MINIMAL_ARGS = {("add",): ["x"], ("remove",): ["x"], ("pip", "sync"): ["r.txt"], ("pip", "show"): ["x"]}


def _argvs() -> list[list[str]]:
    out: list[list[str]] = [
        [],
        ["-h"],
        ["--version"],
        ["-V"],
        ["--ver"],
        ["-vV"],
        ["bogus"],
        ["pip", "bogus"],
        ["cache", "bogus"],
        ["--cache-dir", "pip", "venv"],
        ["-v", "--color", "never", "venv", "d", "-p", "3.11", "--seed", "--prompt", "x"],
        ["pip", "install", "-r", "a.txt", "x", "-p", "v0", "--torch-backend", "cu128", "-P", "a"],
        ["pip", "compile", "a.in", "-o", "b.txt", "--universal", "--python-version", "3.12"],
        ["pip", "show"],
        ["add"],
        ["venv", "a", "b"],
        ["run", "--", "ls", "-l"],
        ["pip", "-v", "install", "x"],
        ["venv", "--version"],
    ]
    for command in COMMANDS:
        c = [*command, *MINIMAL_ARGS.get(tuple(command), [])]
        out += [
            c,
            [*command, "--help"],
            ["-v", *c],
            [*c, "-q", "--cache-dir", "X"],
            ["--cache-dir", "Y", *c, "-vv", "--no-progress"],
            [*c, "--bogus"],
            [*c, "--color", "nope"],
            [*c, "--verb"],  # an abbreviation of a global option after the command
        ]
    return out


def _parse(parser_factory: Any, argv: list[str]) -> tuple[Any, ...]:
    out, err = io.StringIO(), io.StringIO()
    code, ns = None, None
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            ns = vars(parser_factory().parse_args(argv))
        except SystemExit as exc:
            code = exc.code
    return code, ns, out.getvalue(), err.getvalue()


@pytest.mark.parametrize("argv", _argvs(), ids=lambda a: " ".join(a) or "(none)")
def test_lazy_parser_behaves_like_the_full_one(argv: list[str], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COLUMNS", "100")
    assert _parse(build_parser, argv) == _parse(lambda: build_parser(full=True), argv)


def test_every_help_page_is_the_same(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COLUMNS", "100")
    full = build_parser(full=True)
    for command in [[], *COMMANDS]:
        lazy = _parse(build_parser, [*command, "--help"])
        eager = _parse(lambda: full, [*command, "--help"])
        assert lazy == eager
        assert lazy[0] == 0 and "usage: torchup" in lazy[2]
    top = full.format_help()
    assert all(name in top for name in TOP)


def test_only_the_chosen_command_is_built() -> None:
    parser = build_parser()
    ns = parser.parse_args(["venv", "x"])
    assert ns.command == "venv" and ns.path == "x"
    sub = next(a for a in parser._actions if a.dest == "command")
    assert sub.choices is not None
    built = [name for name in TOP if dict.__getitem__(sub.choices, name) is not None]  # type: ignore[call-overload]
    assert built == ["venv"]


def test_version_fast_path_prints_what_argparse_prints(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--version"]) == 0
    fast = capsys.readouterr().out
    with pytest.raises(SystemExit) as info:
        build_parser().parse_args(["--version"])
    assert info.value.code == 0
    assert capsys.readouterr().out == fast == f"torchup {__version__}\n"
    assert main(["-V"]) == 0
    assert capsys.readouterr().out == fast


# Modules imported after start-up. Site hooks may import some at start-up already: the GPU
# machine's image runs .pth files (coverage, numba) that import inspect before any torchup code.
STARTED = "import sys; started = set(sys.modules); new = lambda: set(sys.modules) - started;"


def test_version_imports_no_argparse() -> None:
    code = (
        f"{STARTED} from torchup.cli.main import main; rc = main(['--version']);"
        "bad = [m for m in ('argparse', 'packaging', 'logging', 'dataclasses') if m in new()];"
        "print(rc, bad)"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout.splitlines()
    assert out[-1] == "0 []"


def test_venv_imports_stay_light(tmp_path: Path) -> None:
    """`torchup venv` is start-up bound: none of the heavy modules may creep back in.

    packaging.version is needed (interpreter versions); what it imports itself does not count:
    on Python 3.13 its use of warnings.deprecated imports inspect."""
    exe = getattr(sys, "_base_executable", sys.executable)
    code = (
        "import sys; import packaging.version;"
        f"{STARTED} from torchup.cli.main import main;"
        f"rc = main(['venv', {str(tmp_path / 'v')!r}, '-q', '-p', {exe!r}]);"
        f"rc2 = main(['venv', {str(tmp_path / 'w')!r}, '-q', '-p', {exe!r}]);"
        "heavy = ('logging', 'dataclasses', 'inspect', 'hashlib', 'uuid', 'packaging.specifiers',"
        " 'packaging.markers', 'packaging.tags', 'torchup.target', 'torchup.cache', 'platformdirs');"
        "print(rc, rc2, [m for m in heavy if m in new()])"
    )
    env = {**os.environ, "TORCHUP_CACHE_DIR": str(tmp_path / "cache")}
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, env=env
    ).stdout.splitlines()
    assert out[-1] == "0 0 []"


def test_unusable_cache_dir_is_a_clear_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("not a directory\n")
    monkeypatch.setenv("TORCHUP_CACHE_DIR", str(blocker / "cache"))
    rc = main(["venv", str(tmp_path / "venv"), "-p", sys.executable])
    err = capsys.readouterr().err
    assert rc == 2
    assert "internal error" not in err and "Traceback" not in err
    assert f"the cache directory {blocker / 'cache'} (from TORCHUP_CACHE_DIR) cannot be used" in err
    assert f"{blocker} is a file, not a directory" in err
    assert "hint:" in err and "--no-cache" in err
    assert not (tmp_path / "venv").exists()
    # The flag is named when it is the source; commands that use the whole cache say the same.
    monkeypatch.delenv("TORCHUP_CACHE_DIR")
    rc = main(["pip", "list", "--cache-dir", str(blocker / "c"), "-p", sys.executable])
    assert rc == 2 and "(from --cache-dir) cannot be used" in capsys.readouterr().err
    # --no-cache still works around it.
    monkeypatch.setenv("TORCHUP_CACHE_DIR", str(blocker / "cache"))
    assert main(["venv", str(tmp_path / "venv"), "-q", "--no-cache", "-p", sys.executable]) == 0


def test_python_option_names_an_environment_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("TORCHUP_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.chdir(tmp_path)
    exe = getattr(sys, "_base_executable", sys.executable)
    assert main(["venv", "v0", "-q", "-p", exe]) == 0
    # `-p v0`: the venv in the working directory, not a command named v0 on PATH.
    assert main(["venv", "v1", "-q", "-p", "v0"]) == 0
    cfg = (tmp_path / "v1" / "pyvenv.cfg").read_text()
    assert f"home = {Path(os.path.realpath(exe)).parent}" in cfg
    capsys.readouterr()
    assert main(["pip", "list", "-p", "v0", "--format", "json"]) == 0
    assert capsys.readouterr().out.strip() == "[]"
