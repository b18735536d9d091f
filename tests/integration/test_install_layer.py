"""The install layer end to end: a venv, an sdist built and installed, an editable project,
pip's views of the result, a plan, and uninstalling back to a pristine environment.

    app 1.0 (sdist, PEP 517 in-tree backend)   console script `app`
    └── idna>=3  (wheel)
    devpkg 0.1 (local project, editable)
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from tests.support.wheels import DistSpec, build_sdist, build_wheel, write_project
from tests.unit.install.conftest import pyenv_python, snapshot

from torchup.install.build import build_wheel as pep517_build
from torchup.install.build import unpack_sdist
from torchup.install.interpreters import Interpreter, query_interpreter
from torchup.install.plan import DesiredDist, plan_install
from torchup.install.site import (
    check_requirements,
    format_check,
    format_freeze,
    scan_site_packages,
)
from torchup.install.venv import create_venv
from torchup.install.wheel import install_wheel, uninstall

APP = DistSpec(
    "app",
    "1.0",
    requires_dist=("idna>=3",),
    files={"app/__init__.py": "import idna\n\ndef main():\n    print('app', idna.__version__)\n"},
    entry_points={"console_scripts": {"app": "app:main"}},
)
IDNA = DistSpec("idna", "3.7")
DEV = DistSpec("devpkg", "0.1", files={"devpkg/__init__.py": "VALUE = 1\n"})


def _run(python: Path, code: str, cwd: Path) -> str:
    return subprocess.run(
        [str(python), "-c", code], capture_output=True, text=True, check=True, cwd=cwd
    ).stdout.strip()


@pytest.fixture
def base(tmp_path_factory: pytest.TempPathFactory) -> Interpreter:
    exe = pyenv_python("3.12") or Path(getattr(sys, "_base_executable", sys.executable))
    return query_interpreter(exe, cache_dir=tmp_path_factory.mktemp("interp"))


def test_install_layer_end_to_end(tmp_path: Path, base: Interpreter) -> None:
    env = create_venv(tmp_path / ".venv", base)
    pristine = snapshot(env.sys_prefix)
    cache = tmp_path / "unpacked"

    # An sdist, built with its in-tree backend by the environment's own Python.
    source = unpack_sdist(build_sdist(APP, tmp_path / "sdists"), tmp_path / "build")
    app_wheel = pep517_build(source, tmp_path / "dist", build_env_python=env.executable)
    for wheel in (app_wheel, build_wheel(IDNA, tmp_path / "wheels")):
        install_wheel(
            wheel,
            env.scheme,
            interpreter=env.executable,
            unpacked_cache=cache,
            requested=wheel == app_wheel,
        )
    out = subprocess.run(
        [str(env.scheme.scripts / "app")], capture_output=True, text=True, check=True
    ).stdout
    assert out == "app 3.7\n"

    # An editable project: its source directory is what gets imported.
    project = write_project(DEV, tmp_path / "work" / "devpkg")
    editable = pep517_build(
        project, tmp_path / "dist", build_env_python=env.executable, editable=True
    )
    install_wheel(
        editable,
        env.scheme,
        interpreter=env.executable,
        requested=True,
        direct_url={"url": project.as_uri(), "dir_info": {"editable": True}},
    )
    code = "import devpkg; print(devpkg.VALUE, devpkg.__file__)"
    value, where = _run(env.executable, code, cwd=tmp_path).split()
    assert value == "1" and Path(where) == project / "devpkg" / "__init__.py"
    (project / "devpkg" / "__init__.py").write_text("VALUE = 2\n")
    assert _run(env.executable, code, cwd=tmp_path).split()[0] == "2"

    # pip's views of the environment.
    installed = scan_site_packages(env.site_packages)
    assert format_freeze(installed.values()) == (f"app==1.0\n-e {project.as_uri()}\nidna==3.7\n")
    assert format_check(check_requirements(installed, env.markers)) == (
        "No broken requirements found.\n"
    )

    # Planning against what is there: only the upgrade and the extraneous package move.
    plan = plan_install(
        [DesiredDist("app", "1.0"), DesiredDist("idna", "3.8")],
        installed,
        exact=True,
        env_site_dirs=env.site_packages,
    )
    assert [d.name for d in plan.keep] == ["app"]
    assert [(r.installed.version, r.desired.version) for r in plan.reinstall] == [("3.7", "3.8")]
    assert [d.name for d in plan.remove] == ["devpkg"]

    # Uninstalling everything gives back the environment as it was created.
    for name in installed:
        assert uninstall(name, env.scheme)
    assert snapshot(env.sys_prefix) == pristine
    assert project.exists()  # an editable uninstall never touches the source tree
    assert os.listdir(cache)  # the unpacked cache outlives the environment
