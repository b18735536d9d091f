"""Create PEP 405 virtual environments without running ``python -m venv``.

A venv is a small directory: ``pyvenv.cfg``, ``bin/python*`` symlinks to the base interpreter,
an empty ``site-packages`` and activation scripts. Writing those ourselves takes a millisecond,
where ``python -m venv`` takes ~50 ms without pip and seconds with it.

The new environment is built in a hidden sibling directory and renamed into place, so an
interrupted ``torchup venv`` never leaves a half-made environment behind. Every path written into
the files (activation scripts, shebangs) already names the final location.
"""

from __future__ import annotations

import os
from pathlib import Path

from torchup.errors import EnvironmentError_, TorchupError
from torchup.install.interpreters import _VENV_PLACEHOLDER, Interpreter, query_interpreter

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Sequence

__all__ = ["create_venv", "is_venv"]

_WINDOWS = os.name == "nt"
_IMPLEMENTATIONS = {"cpython": "CPython", "pypy": "PyPy", "graalpy": "GraalPy"}


def is_venv(path: Path) -> bool:
    """Whether ``path`` looks like a virtual environment (it has a ``pyvenv.cfg``)."""
    return (path / "pyvenv.cfg").is_file()


def _relative_layout(interpreter: Interpreter) -> dict[str, str]:
    """scheme name -> path relative to the venv root, from the base interpreter's venv scheme."""
    layout: dict[str, str] = {}
    for key, value in interpreter.venv_paths.items():
        if value.startswith(_VENV_PLACEHOLDER):
            layout[key] = value[len(_VENV_PLACEHOLDER) :].lstrip("/") or "."
    if "purelib" not in layout:  # an interpreter cached by an older probe: use CPython's layout
        lib = f"lib/python{interpreter.python_version}{'t' if interpreter.gil_disabled else ''}"
        layout.update(
            purelib=f"{lib}/site-packages",
            platlib=f"{lib}/site-packages",
            scripts="bin",
            include=f"include/python{interpreter.python_version}",
            data=".",
        )
    return layout


def _python_names(interpreter: Interpreter) -> list[str]:
    major, minor = interpreter.version.major, interpreter.version.minor
    names = ["python", f"python{major}", f"python{major}.{minor}"]
    if interpreter.gil_disabled:
        names.append(f"python{major}.{minor}t")
    if interpreter.implementation == "pypy":
        names += ["pypy", f"pypy{major}", f"pypy{major}.{minor}"]
    return names


def _pyvenv_cfg(
    interpreter: Interpreter, path: Path, *, prompt: str | None, system_site_packages: bool
) -> str:
    from torchup import __version__ as torchup_version

    base = interpreter.base_executable
    impl = interpreter.implementation
    lines = [
        f"home = {base.parent}",
        f"implementation = {_IMPLEMENTATIONS.get(impl, impl)}",
        f"version_info = {interpreter.version}",
        f"include-system-site-packages = {'true' if system_site_packages else 'false'}",
        f"version = {interpreter.version}",
        f"executable = {os.path.realpath(base)}",
        f"command = torchup venv {path}",
        f"torchup = {torchup_version}",
    ]
    if prompt is not None:
        lines.append(f"prompt = {prompt}")
    return "\n".join(lines) + "\n"


# shlex.quote's safe characters (its regex is `[^\w@%+=:,./-]` with re.ASCII); written out so
# that a venv does not import shlex for two quoted strings.
_SH_SAFE = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_@%+=:,./-")


def _sh_quote(text: str) -> str:
    """``shlex.quote(text)``."""
    if not text:
        return "''"
    if all(ch in _SH_SAFE for ch in text):
        return text
    return "'" + text.replace("'", "'\"'\"'") + "'"


def _fish_quote(text: str) -> str:
    return "'" + text.replace("\\", "\\\\").replace("'", "\\'") + "'"


_ACTIVATE_SH = """\
# This file must be used with "source bin/activate" *from bash or zsh*; you cannot run it.

deactivate () {{
    if [ -n "${{_OLD_VIRTUAL_PATH:-}}" ] ; then
        PATH="${{_OLD_VIRTUAL_PATH:-}}"
        export PATH
        unset _OLD_VIRTUAL_PATH
    fi
    if [ -n "${{_OLD_VIRTUAL_PYTHONHOME:-}}" ] ; then
        PYTHONHOME="${{_OLD_VIRTUAL_PYTHONHOME:-}}"
        export PYTHONHOME
        unset _OLD_VIRTUAL_PYTHONHOME
    fi
    hash -r 2> /dev/null
    if [ -n "${{_OLD_VIRTUAL_PS1:-}}" ] ; then
        PS1="${{_OLD_VIRTUAL_PS1:-}}"
        export PS1
        unset _OLD_VIRTUAL_PS1
    fi
    unset VIRTUAL_ENV
    unset VIRTUAL_ENV_PROMPT
    if [ ! "${{1:-}}" = "nondestructive" ] ; then
        unset -f deactivate
    fi
}}

deactivate nondestructive

VIRTUAL_ENV={venv}
export VIRTUAL_ENV

_OLD_VIRTUAL_PATH="$PATH"
PATH="$VIRTUAL_ENV/{bin}:$PATH"
export PATH

VIRTUAL_ENV_PROMPT={prompt}
export VIRTUAL_ENV_PROMPT

if [ -n "${{PYTHONHOME:-}}" ] ; then
    _OLD_VIRTUAL_PYTHONHOME="${{PYTHONHOME:-}}"
    unset PYTHONHOME
fi

if [ -z "${{VIRTUAL_ENV_DISABLE_PROMPT:-}}" ] ; then
    _OLD_VIRTUAL_PS1="${{PS1:-}}"
    PS1="(${{VIRTUAL_ENV_PROMPT}}) ${{PS1:-}}"
    export PS1
fi

hash -r 2> /dev/null
"""

_ACTIVATE_FISH = """\
# This file must be used with "source <venv>/bin/activate.fish" *from fish*; you cannot run it.

function deactivate -d "Exit virtual environment and return to normal shell environment"
    if test -n "$_OLD_VIRTUAL_PATH"
        set -gx PATH $_OLD_VIRTUAL_PATH
        set -e _OLD_VIRTUAL_PATH
    end
    if test -n "$_OLD_VIRTUAL_PYTHONHOME"
        set -gx PYTHONHOME $_OLD_VIRTUAL_PYTHONHOME
        set -e _OLD_VIRTUAL_PYTHONHOME
    end
    if test -n "$_OLD_FISH_PROMPT_OVERRIDE"
        set -e _OLD_FISH_PROMPT_OVERRIDE
        if functions -q _old_fish_prompt
            functions -e fish_prompt
            functions -c _old_fish_prompt fish_prompt
            functions -e _old_fish_prompt
        end
    end
    set -e VIRTUAL_ENV
    set -e VIRTUAL_ENV_PROMPT
    if test "$argv[1]" != "nondestructive"
        functions -e deactivate
    end
end

deactivate nondestructive

set -gx VIRTUAL_ENV {venv}
set -gx _OLD_VIRTUAL_PATH $PATH
set -gx PATH "$VIRTUAL_ENV/{bin}" $PATH
set -gx VIRTUAL_ENV_PROMPT {prompt}

if set -q PYTHONHOME
    set -gx _OLD_VIRTUAL_PYTHONHOME $PYTHONHOME
    set -e PYTHONHOME
end

if test -z "$VIRTUAL_ENV_DISABLE_PROMPT"
    functions -c fish_prompt _old_fish_prompt
    function fish_prompt
        set -l old_status $status
        printf "%s(%s)%s " (set_color 4B8BBE) $VIRTUAL_ENV_PROMPT (set_color normal)
        echo "exit $old_status" | .
        _old_fish_prompt
    end
    set -gx _OLD_FISH_PROMPT_OVERRIDE "$VIRTUAL_ENV"
end
"""


def _write_layout(
    root: Path,
    final: Path,
    interpreter: Interpreter,
    *,
    prompt: str | None,
    system_site_packages: bool,
) -> None:
    """Write the venv files into ``root``, naming ``final`` wherever a path is embedded."""
    layout = _relative_layout(interpreter)
    bindir = layout.get("scripts", "bin")
    for key in ("purelib", "platlib", "scripts"):
        (root / layout[key]).mkdir(parents=True, exist_ok=True)
    (root / "include").mkdir(exist_ok=True)
    # stdlib venv adds lib64 -> lib on 64-bit Linux; some tools look there.
    is_linux = interpreter.markers.get("sys_platform", "linux") not in ("darwin", "win32")
    if interpreter.pointer_bits == 64 and is_linux and layout["purelib"].startswith("lib/"):
        if not (root / "lib64").exists():
            os.symlink("lib", root / "lib64")
    (root / "pyvenv.cfg").write_text(
        _pyvenv_cfg(interpreter, final, prompt=prompt, system_site_packages=system_site_packages),
        encoding="utf-8",
    )
    # The first name points at the base interpreter; the others at it, relatively, so that
    # moving the base (pyenv rehash, upgrade in place) needs one link fixed, as stdlib venv does.
    names = _python_names(interpreter)
    primary = f"python{interpreter.version.major}"
    os.symlink(str(interpreter.base_executable), root / bindir / primary)
    for name in names:
        if name != primary:
            os.symlink(primary, root / bindir / name)
    shown = prompt if prompt is not None else final.name
    (root / bindir / "activate").write_text(
        _ACTIVATE_SH.format(venv=_sh_quote(str(final)), bin=bindir, prompt=_sh_quote(shown)),
        encoding="utf-8",
    )
    (root / bindir / "activate.fish").write_text(
        _ACTIVATE_FISH.format(venv=_fish_quote(str(final)), bin=bindir, prompt=_fish_quote(shown)),
        encoding="utf-8",
    )
    # Keep the environment out of version control, as uv and Python 3.13's venv do.
    (root / ".gitignore").write_text("*\n", encoding="utf-8")


def _remove_tree(path: Path) -> None:
    if path.is_symlink() or path.is_file():
        path.unlink(missing_ok=True)
    elif path.exists():
        import shutil

        shutil.rmtree(path, ignore_errors=True)


def _create_with_stdlib(
    path: Path, interpreter: Interpreter, *, clear: bool, prompt: str | None, ssp: bool
) -> Interpreter:
    # Windows needs copied launchers (python.exe, venvlauncher); the stdlib knows how.
    import subprocess

    cmd = [str(interpreter.base_executable), "-m", "venv", "--without-pip"]
    if clear:
        cmd.append("--clear")
    if prompt is not None:
        cmd += ["--prompt", prompt]
    if ssp:
        cmd.append("--system-site-packages")
    proc = subprocess.run([*cmd, str(path)], capture_output=True, text=True)
    if proc.returncode != 0:
        raise EnvironmentError_(f"could not create a virtual environment at {path}:\n{proc.stderr}")
    return query_interpreter(path / "Scripts" / "python.exe")


def create_venv(
    path: Path,
    interpreter: Interpreter,
    *,
    seed_wheels: Sequence[Path] = (),
    prompt: str | None = None,
    clear: bool = False,
    system_site_packages: bool = False,
    unpacked_cache: Path | None = None,
) -> Interpreter:
    """Create a virtual environment at ``path`` for ``interpreter`` (or its base, if a venv).

    ``seed_wheels`` (pip, setuptools, ... as wheel files the caller downloaded) are installed
    into it. An existing non-empty directory is replaced only with ``clear=True``. The
    environment appears at ``path`` complete or not at all. Returns the new venv's interpreter
    (derived from ``interpreter`` without running it).
    """
    path = Path(os.path.abspath(path))
    if path.exists() and not path.is_dir():
        raise EnvironmentError_(f"cannot create a virtual environment at {path}: it is a file")
    occupied = path.is_dir() and any(path.iterdir())
    if occupied and not clear:
        what = "a virtual environment" if is_venv(path) else "a non-empty directory"
        raise EnvironmentError_(
            f"{path} already exists and is {what}",
            hint="pass --clear to replace it, or choose another path",
        )
    if _WINDOWS:
        venv = _create_with_stdlib(
            path, interpreter, clear=clear, prompt=prompt, ssp=system_site_packages
        )
    else:
        path.parent.mkdir(parents=True, exist_ok=True)
        tag = os.urandom(4).hex()  # uuid4().hex[:8] without importing uuid
        staging = path.parent / f".{path.name}.torchup-new-{tag}"
        old = path.parent / f".{path.name}.torchup-old-{tag}"
        try:
            staging.mkdir()
            _write_layout(
                staging,
                path,
                interpreter,
                prompt=prompt,
                system_site_packages=system_site_packages,
            )
            if path.exists():
                os.rename(path, old)
            try:
                os.rename(staging, path)
            except OSError:
                if old.exists():
                    os.rename(old, path)  # put the previous environment back
                raise
        except OSError as exc:
            raise EnvironmentError_(
                f"could not create a virtual environment at {path}: {exc}"
            ) from exc
        finally:
            _remove_tree(staging)
            _remove_tree(old)
        layout = _relative_layout(interpreter)
        venv = interpreter.for_venv(path, path / layout.get("scripts", "bin") / "python")
    if seed_wheels:
        _seed(path, venv, seed_wheels, unpacked_cache)
    return venv


def _seed(
    path: Path, venv: Interpreter, wheels: Sequence[Path], unpacked_cache: Path | None
) -> None:
    # Local import: installing needs the `installer` library, which a plain venv does not.
    from torchup.install.wheel import install_wheel

    try:
        for wheel in wheels:
            install_wheel(
                wheel,
                venv.scheme,
                interpreter=venv.executable,
                unpacked_cache=unpacked_cache,
            )
    except (TorchupError, OSError):
        # A venv without its requested seed packages is half-made: take it away entirely.
        _remove_tree(path)
        raise
