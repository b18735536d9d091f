"""The Python interpreters a test can use besides the one running it (pyenv's, where present)."""

from __future__ import annotations

import os
import sys
from pathlib import Path

PYENV_ROOT = Path(os.environ.get("PYENV_ROOT", Path.home() / ".pyenv"))

# Every torch build in the PyTorch-like world (pytorch_index.py) has wheels for these Pythons:
# 2.4.1 cp310-cp312, 2.5.1 cp311-cp313, 2.7.1/2.8.0/nightly cp311-cp312, 2.9.1 cp310-cp313.
TORCH_WORLD_MINORS = ("3.12", "3.11")


def pyenv_python(minor: str) -> Path | None:
    """``~/.pyenv/versions/<minor>.*/bin/python3``, newest patch first, or None."""
    versions = PYENV_ROOT / "versions"
    if not versions.is_dir():
        return None
    for entry in sorted(versions.glob(f"{minor}.*"), reverse=True):
        exe = entry / "bin" / "python3"
        if exe.is_file() and entry.name.replace(".", "").isdigit():
            return exe
    return None


def torch_world_python(running: Path) -> tuple[str, Path] | None:
    """(``X.Y``, interpreter) for tests that resolve or install the torch world's builds for a
    real interpreter: ``running`` (this process's, or its venv's) when the world has wheels for
    its Python, else pyenv's 3.12 or 3.11. None when none is at hand: the caller skips. On
    Python 3.10 or 3.13 the world legitimately has no torch 2.8.0 wheel, as PyPI has none for
    some of its versions, so those tests need one of these."""
    here = f"{sys.version_info[0]}.{sys.version_info[1]}"
    if here in TORCH_WORLD_MINORS:
        return here, running
    for minor in TORCH_WORLD_MINORS:
        exe = pyenv_python(minor)
        if exe is not None:
            return minor, exe
    return None
