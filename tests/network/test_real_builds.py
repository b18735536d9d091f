"""Real build backends from the real PyPI (opt-in: ``pytest -m network``).

The hermetic tests build with the tests' own tiny backend; these check the same paths with
setuptools itself: an sdist built with ``--no-build-isolation`` against the environment's own
setuptools, and a setuptools project installed editable (PEP 660) by `torchup sync`, importable
through `torchup run`.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
from tests.integration.test_pip_install import Venv
from tests.support.cli import Cli

pytestmark = pytest.mark.network

PYPI = "https://pypi.org/simple"


@pytest.fixture
def cli(capsys: pytest.CaptureFixture[str]) -> Cli:
    return Cli(capsys)


@pytest.fixture
def venv(cli: Cli, tmp_path: Path) -> Venv:
    cli.ok("venv", tmp_path / ".venv", "--python", sys.executable)
    return Venv(tmp_path / ".venv")


def test_no_build_isolation_builds_an_sdist_with_the_environments_setuptools(
    cli: Cli, venv: Venv
) -> None:
    args = ("--python", venv.root, "--index-url", PYPI)
    cli.ok("pip", "install", "setuptools", "wheel", *args)
    # six from its sdist, built by the setuptools just installed (no isolated environment)
    res = cli.ok("pip", "install", "six==1.16.0", "--no-binary", "six", "--no-build-isolation", *args)
    assert " + six==1.16.0" in res.err
    assert venv.run("import six; print(six.__version__)") == "1.16.0"


def test_sync_installs_a_setuptools_project_editable(cli: Cli, tmp_path: Path) -> None:
    root = tmp_path / "proj"
    (root / "src" / "proj").mkdir(parents=True)
    (root / "src" / "proj" / "__init__.py").write_text("WHERE = 'tree'\n")
    (root / "pyproject.toml").write_text(
        '[project]\nname = "proj"\nversion = "0.1.0"\nrequires-python = ">=3.10"\n'
        'dependencies = ["six"]\n\n'
        '[build-system]\nrequires = ["setuptools>=64"]\nbuild-backend = "setuptools.build_meta"\n'
    )
    base = ("--directory", str(root), "--index-url", PYPI, "--python", sys.executable)
    res = cli.ok("sync", *base)
    assert " + proj==0.1.0" in res.err and " + six==" in res.err
    venv = Venv(root / ".venv")
    (root / "src" / "proj" / "__init__.py").write_text("WHERE = 'edited'\n")
    assert venv.run("import proj; print(proj.WHERE)") == "edited"
