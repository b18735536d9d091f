"""PEP 517 / 660 builds through the hook runner, with and without provisioning."""

from __future__ import annotations

import io
import sys
import tarfile
import zipfile
from pathlib import Path
from typing import Any

import pytest
from tests.support.wheels import DistSpec, build_sdist, write_project

from torchup.errors import BuildError
from torchup.install.build import (
    BuildSystem,
    build_wheel,
    prepare_metadata,
    read_build_system,
    unpack_sdist,
)

PYTHON = Path(sys.executable)
SPEC = DistSpec(
    "tiny-proj",
    "0.3",
    requires_dist=("idna>=3",),
    files={"tiny_proj/__init__.py": "VALUE = 42\n"},
    entry_points={"console_scripts": {"tiny": "tiny_proj:main"}},
)


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        (None, BuildSystem(("setuptools>=40.8.0",), "setuptools.build_meta:__legacy__")),
        ({}, BuildSystem(("setuptools>=40.8.0",), "setuptools.build_meta:__legacy__")),
        (
            {"build-system": {"requires": ["hatchling"], "build-backend": "hatchling.build"}},
            BuildSystem(("hatchling",), "hatchling.build"),
        ),
        (
            {"build-system": {"requires": ["flit_core"]}},
            BuildSystem(("flit_core",), "setuptools.build_meta:__legacy__"),
        ),
        (
            {"build-system": {"requires": [], "build-backend": "be", "backend-path": ["."]}},
            BuildSystem((), "be", (".",)),
        ),
    ],
)
def test_build_system_defaults(data: dict[str, Any] | None, expected: BuildSystem) -> None:
    assert BuildSystem.from_pyproject(data) == expected


@pytest.mark.parametrize(
    "table",
    [
        {"requires": "setuptools"},
        {"requires": [1]},
        {"requires": [], "build-backend": ""},
        {"requires": [], "build-backend": "x", "backend-path": "."},
    ],
)
def test_build_system_invalid(table: dict[str, Any]) -> None:
    with pytest.raises(BuildError):
        BuildSystem.from_pyproject({"build-system": table})


def test_backend_path_must_stay_in_the_tree(tmp_path: Path) -> None:
    (tmp_path / "pyproject.toml").write_text(
        '[build-system]\nrequires = []\nbuild-backend = "x"\nbackend-path = ["../elsewhere"]\n'
    )
    with pytest.raises(BuildError, match="outside the source tree"):
        read_build_system(tmp_path)


def test_build_wheel_from_sdist(tmp_path: Path) -> None:
    sdist = build_sdist(SPEC, tmp_path / "sdists")
    source = unpack_sdist(sdist, tmp_path / "src")
    assert source.name == "tiny_proj-0.3"
    wheel = build_wheel(source, tmp_path / "out", build_env_python=PYTHON)
    assert wheel.name == "tiny_proj-0.3-py3-none-any.whl"
    with zipfile.ZipFile(wheel) as zf:
        assert zf.read("tiny_proj/__init__.py") == b"VALUE = 42\n"
        assert b"Requires-Dist: idna>=3" in zf.read("tiny_proj-0.3.dist-info/METADATA")


def test_prepare_metadata(tmp_path: Path) -> None:
    project = write_project(SPEC, tmp_path / "proj")
    info = prepare_metadata(project, tmp_path / "meta", build_env_python=PYTHON)
    assert info.name == "tiny_proj-0.3.dist-info"
    assert "Name: tiny-proj" in (info / "METADATA").read_text()


def test_prepare_metadata_falls_back_to_building(tmp_path: Path) -> None:
    project = write_project(SPEC, tmp_path / "proj")
    backend = project / "_tiny_backend.py"
    text = backend.read_text()
    text = text.replace("def prepare_metadata_for_build_wheel", "def _no_prepare")
    text = text.replace(
        "prepare_metadata_for_build_editable = prepare_metadata_for_build_wheel", ""
    )
    backend.write_text(text)
    info = prepare_metadata(project, tmp_path / "meta", build_env_python=PYTHON)
    assert (info / "METADATA").is_file()
    assert (info / "RECORD").is_file()  # it came out of a built wheel


def test_editable_wheel(tmp_path: Path) -> None:
    project = write_project(SPEC, tmp_path / "proj")
    wheel = build_wheel(project, tmp_path / "out", build_env_python=PYTHON, editable=True)
    with zipfile.ZipFile(wheel) as zf:
        pth = [n for n in zf.namelist() if n.endswith(".pth")]
        assert pth and zf.read(pth[0]).decode().strip() == str(project)


def test_backend_failure_shows_its_output(tmp_path: Path) -> None:
    project = write_project(SPEC, tmp_path / "proj")
    backend = project / "_tiny_backend.py"
    backend.write_text(
        backend.read_text()
        + "\n\ndef build_wheel(wheel_directory, config_settings=None, metadata_directory=None):\n"
        "    import sys\n"
        "    print('compiling the thing...')\n"
        "    print('error: the compiler exploded', file=sys.stderr)\n"
        "    raise SystemExit(1)\n"
    )
    with pytest.raises(BuildError) as info:
        build_wheel(project, tmp_path / "out", build_env_python=PYTHON)
    message = str(info.value)
    assert "error: the compiler exploded" in message
    assert "compiling the thing..." in message
    assert "build_wheel" in message


def test_missing_backend_is_explained(tmp_path: Path) -> None:
    (tmp_path / "pyproject.toml").write_text(
        '[build-system]\nrequires = []\nbuild-backend = "no_such_backend_xyz"\n'
    )
    with pytest.raises(BuildError, match="could not be imported"):
        build_wheel(tmp_path, tmp_path / "out", build_env_python=PYTHON)


def test_editable_unsupported(tmp_path: Path) -> None:
    project = write_project(SPEC, tmp_path / "proj")
    backend = project / "_tiny_backend.py"
    backend.write_text(backend.read_text().replace("def build_editable", "def _no_editable"))
    with pytest.raises(BuildError, match="PEP 660"):
        build_wheel(project, tmp_path / "out", build_env_python=PYTHON, editable=True)


_FAKE_BACKEND = """
import os, zipfile
def get_requires_for_build_wheel(config_settings=None):
    return ["extra-build-dep"]
def build_wheel(wheel_directory, config_settings=None, metadata_directory=None):
    import helper_from_provision  # only importable from the provisioned site dir
    name = "prov-1.0-py3-none-any.whl"
    with zipfile.ZipFile(os.path.join(wheel_directory, name), "w") as zf:
        zf.writestr("prov-1.0.dist-info/METADATA", "Name: prov\\nVersion: 1.0\\n")
    return name
"""


def test_isolated_build_uses_provisioned_requirements(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    project = tmp_path / "proj"
    project.mkdir()
    (project / "pyproject.toml").write_text(
        '[build-system]\nrequires = ["fake-backend>=1"]\nbuild-backend = "fake_backend"\n'
    )
    site = tmp_path / "build-site"
    site.mkdir()
    (site / "fake_backend.py").write_text(_FAKE_BACKEND)
    (site / "helper_from_provision.py").write_text("")
    calls: list[list[str]] = []

    def provision(requirements: list[str]) -> Path:
        calls.append(requirements)
        return site

    # Isolation: the caller's PYTHONPATH must not reach the backend.
    monkeypatch.setenv("PYTHONPATH", str(tmp_path / "leak"))
    wheel = build_wheel(project, tmp_path / "out", build_env_python=PYTHON, provision=provision)
    assert wheel.name == "prov-1.0-py3-none-any.whl"
    assert calls == [["fake-backend>=1"], ["fake-backend>=1", "extra-build-dep"]]


def test_requirements_without_a_provisioner_fail_clearly(tmp_path: Path) -> None:
    (tmp_path / "pyproject.toml").write_text(
        '[build-system]\nrequires = ["hatchling"]\nbuild-backend = "hatchling.build"\n'
    )
    with pytest.raises(BuildError, match="needs hatchling"):
        build_wheel(tmp_path, tmp_path / "out", build_env_python=PYTHON)


def test_isolated_build_does_not_see_site_packages(tmp_path: Path) -> None:
    # `packaging` is installed for the test interpreter, but an isolated backend cannot see it.
    project = tmp_path / "proj"
    project.mkdir()
    (project / "pyproject.toml").write_text(
        '[build-system]\nrequires = []\nbuild-backend = "be"\nbackend-path = ["."]\n'
    )
    (project / "be.py").write_text(
        "def build_wheel(wheel_directory, config_settings=None, metadata_directory=None):\n"
        "    import packaging\n"
    )
    with pytest.raises(BuildError, match="No module named 'packaging'"):
        build_wheel(project, tmp_path / "out", build_env_python=PYTHON)


def _tar_with(path: Path, name: str, *, linkname: str | None = None) -> Path:
    with tarfile.open(path, "w:gz") as tf:
        info = tarfile.TarInfo(name)
        if linkname is not None:
            info.type = tarfile.SYMTYPE
            info.linkname = linkname
            tf.addfile(info)
        else:
            info.size = 4
            tf.addfile(info, io.BytesIO(b"evil"))
    return path


@pytest.mark.parametrize(
    ("member", "linkname"),
    [("../evil.py", None), ("/tmp/torchup-evil.py", None), ("pkg/link", "../../../etc/passwd")],
)
def test_unpack_sdist_refuses_escapes(tmp_path: Path, member: str, linkname: str | None) -> None:
    sdist = _tar_with(tmp_path / "evil-1.0.tar.gz", member, linkname=linkname)
    with pytest.raises(BuildError):
        unpack_sdist(sdist, tmp_path / "out")
    assert not (tmp_path / "evil.py").exists()
    assert not Path("/tmp/torchup-evil.py").exists()
