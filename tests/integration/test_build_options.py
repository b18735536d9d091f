"""`--no-build-isolation` and `-C/--config-settings KEY=VALUE` reach the PEP 517 backend of
local projects and sdists, as in pip and uv (both were "unrecognized arguments" before).

The project's backend (the tests' in-tree one) is extended to import a module that only the
target environment has (`buildhelper`: what torch is to flash-attn's build), and to record
the config settings it was given into the wheel it builds.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest
from tests.integration.test_pip_install import DEP1, Venv, index_args, publish
from tests.support.cli import Cli
from tests.support.server import IndexServer
from tests.support.wheels import DistSpec, write_project

_NEEDS_HELPER = """
import buildhelper  # only the target environment has it (torch, for flash-attn)
"""

_RECORDS_SETTINGS = """
_plain_build_wheel = build_wheel


def build_wheel(wheel_directory, config_settings=None, metadata_directory=None):
    with open(os.path.join(_HERE, "ext", "settings.json"), "w") as f:
        json.dump(config_settings, f)
    return _plain_build_wheel(wheel_directory, config_settings, metadata_directory)
"""


def _project(root: Path, extra_backend: str) -> Path:
    write_project(DistSpec("ext", "1.0", files={"ext/__init__.py": ""}), root)
    backend = root / "_tiny_backend.py"
    text = backend.read_text()
    if "import json" not in text:
        text = "import json\n" + text
    if "import os" not in text:
        text = "import os\n" + text
    backend.write_text(text + extra_backend)
    return root


def test_no_build_isolation_builds_against_the_environment(
    cli: Cli, venv: Venv, index_server: IndexServer, tmp_path: Path
) -> None:
    publish(index_server, tmp_path / "dists", DEP1, DistSpec("buildhelper", "1.0"))
    project = _project(tmp_path / "ext", _NEEDS_HELPER)
    args = ("--python", venv.root, *index_args(index_server))
    # isolated (the default): the backend cannot see the environment's packages
    res = cli("pip", "install", project, *args)
    assert res.rc != 0
    assert "No module named 'buildhelper'" in res.err
    cli.ok("pip", "install", "buildhelper", *args)
    res = cli.ok("pip", "install", project, "--no-build-isolation", *args)
    assert " + ext==1.0" in res.err


def test_no_build_isolation_package_names_the_packages_built_in_the_environment(
    cli: Cli, venv: Venv, index_server: IndexServer, tmp_path: Path
) -> None:
    """uv's `--no-build-isolation-package PKG`: only PKG's build sees the environment."""
    publish(index_server, tmp_path / "dists", DistSpec("buildhelper", "1.0"))
    project = _project(tmp_path / "ext", _NEEDS_HELPER)
    args = ("--python", venv.root, *index_args(index_server))
    cli.ok("pip", "install", "buildhelper", *args)
    res = cli("pip", "install", project, "--no-build-isolation-package", "other", *args)
    assert res.rc != 0 and "No module named 'buildhelper'" in res.err  # still isolated
    res = cli.ok("pip", "install", project, "--no-build-isolation-package", "EXT", *args)
    assert " + ext==1.0" in res.err


def test_project_no_build_isolation_package_setting(
    cli: Cli, index_server: IndexServer, tmp_path: Path
) -> None:
    """A uv project's `[tool.uv] no-build-isolation-package = ["ext"]` (uv's recipe for
    flash-attn): the build requirement installed first, then `torchup sync` prepares ext's
    metadata and builds it in the project's environment. It used to be "not used by torchup;
    ignoring it", and the isolated build failed."""
    publish(index_server, tmp_path / "dists", DistSpec("buildhelper", "1.0"))
    _project(tmp_path / "ext", _NEEDS_HELPER)
    root = tmp_path / "proj"
    root.mkdir()
    base = (
        '[project]\nname = "proj"\nversion = "0.1"\ndependencies = ["buildhelper", "ext"]\n'
        '[tool.uv.sources]\next = { path = "../ext" }\n'
    )
    (root / "pyproject.toml").write_text(base)
    args = ("--directory", root, "--index-url", index_server.index_url("simple"))
    cli.ok("venv", root / ".venv", "--python", sys.executable)
    cli.ok("pip", "install", "buildhelper", "--python", root / ".venv", "--index-url", index_server.index_url("simple"))
    res = cli("sync", *args)
    assert res.rc != 0 and "No module named 'buildhelper'" in res.err
    (root / "pyproject.toml").write_text(base + '[tool.uv]\nno-build-isolation-package = ["ext"]\n')
    res = cli.ok("sync", *args)
    assert " + ext==1.0" in res.err and "not used by torchup" not in res.err
    venv = Venv(root / ".venv")
    assert (venv.site_packages / "ext-1.0.dist-info").is_dir()
    # the setting is validated like uv's: a list of package names
    (root / "pyproject.toml").write_text(base + '[tool.uv]\nno-build-isolation-package = "ext"\n')
    res = cli("lock", *args)
    assert res.rc != 0 and "no-build-isolation-package" in res.err and "Traceback" not in res.err


def records_version(dist: str, filename: str) -> str:
    """Backend code that writes the version of ``dist`` its build environment has into
    ``ext/<filename>`` of the wheel it builds."""
    return f"""
_plain_build_wheel = build_wheel


def build_wheel(wheel_directory, config_settings=None, metadata_directory=None):
    import importlib.metadata
    with open(os.path.join(_HERE, "ext", {filename!r}), "w") as f:
        f.write(importlib.metadata.version({dist!r}))
    return _plain_build_wheel(wheel_directory, config_settings, metadata_directory)
"""


def test_project_extra_build_dependencies_with_match_runtime(
    cli: Cli, index_server: IndexServer, tmp_path: Path
) -> None:
    """`[tool.uv.extra-build-dependencies]` (uv's current flash-attn recipe: torch in the build
    environment, at the version the project runs): the isolated build of ext gets buildhelper,
    pinned to the project's buildhelper 1.0 with match-runtime (the index's newest is 2.0).
    The key used to be "not used by torchup; ignoring it"."""
    publish(index_server, tmp_path / "dists", DistSpec("buildhelper", "1.0"), DistSpec("buildhelper", "2.0"))
    _project(tmp_path / "ext", _NEEDS_HELPER + records_version("buildhelper", "helper.txt"))
    root = tmp_path / "proj"
    root.mkdir()
    base = (
        '[project]\nname = "proj"\nversion = "0.1"\ndependencies = ["buildhelper==1.0", "ext"]\n'
        '[tool.uv.sources]\next = { path = "../ext" }\n'
    )
    args = ("--directory", root, "--index-url", index_server.index_url("simple"))
    (root / "pyproject.toml").write_text(base)
    res = cli("sync", *args)
    assert res.rc != 0 and "No module named 'buildhelper'" in res.err  # isolated, nothing added

    matched = '[tool.uv.extra-build-dependencies]\next = [{ requirement = "buildhelper", match-runtime = true }]\n'
    (root / "pyproject.toml").write_text(base + matched)
    res = cli.ok("sync", *args)
    assert " + ext==1.0" in res.err and "not used by torchup" not in res.err
    venv = Venv(root / ".venv")
    assert (venv.site_packages / "ext" / "helper.txt").read_text() == "1.0"

    # a plain requirement: the newest the index has
    (root / "pyproject.toml").write_text(base + '[tool.uv.extra-build-dependencies]\next = ["buildhelper"]\n')
    res = cli.ok("sync", *args, "--reinstall-package", "ext")
    assert " - ext==1.0" in res.err and " + ext==1.0" in res.err
    assert (venv.site_packages / "ext" / "helper.txt").read_text() == "2.0"

    (root / "pyproject.toml").write_text(base + '[tool.uv.extra-build-dependencies]\next = [{ match-runtime = true }]\n')
    res = cli("lock", *args)
    assert res.rc != 0 and "extra-build-dependencies" in res.err and "Traceback" not in res.err


def test_build_constraints_pin_what_build_environments_install(
    cli: Cli, venv: Venv, index_server: IndexServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """uv's `-b/--build-constraints FILE`, `UV_BUILD_CONSTRAINT` and a project's `[tool.uv]
    build-constraint-dependencies`: ext's backend needs buildhelper; the index's newest is
    2.0, the constraints hold its isolated build environment at 1.0 (setuptools<70 for an
    old sdist, in real life). The installed environment's own resolution is not touched."""
    publish(index_server, tmp_path / "dists", DistSpec("buildhelper", "1.0"), DistSpec("buildhelper", "2.0"))
    project = _project(tmp_path / "ext", _NEEDS_HELPER + records_version("buildhelper", "helper.txt"))
    pyproject = project / "pyproject.toml"
    pyproject.write_text(pyproject.read_text().replace("requires = []", 'requires = ["buildhelper"]'))
    built = venv.site_packages / "ext" / "helper.txt"
    args = ("--python", venv.root, *index_args(index_server))
    cli.ok("pip", "install", project, *args)
    assert built.read_text() == "2.0"

    pins = tmp_path / "build-constraints.txt"
    pins.write_text("buildhelper==1.0\n")
    cli.ok("pip", "install", project, "--reinstall", "-b", pins, *args)
    assert built.read_text() == "1.0"
    assert "buildhelper" not in venv.metadata_versions()  # only the build environment had it
    cli.ok("pip", "install", project, "--reinstall", *args)
    assert built.read_text() == "2.0"  # (the builds are cached apart)
    monkeypatch.setenv("UV_BUILD_CONSTRAINT", str(pins))
    cli.ok("pip", "install", project, "--reinstall", *args)
    assert built.read_text() == "1.0"
    monkeypatch.delenv("UV_BUILD_CONSTRAINT")
    res = cli("pip", "install", project, "--build-constraints", tmp_path / "missing.txt", *args)
    assert res.rc != 0 and "missing.txt" in res.err and "Traceback" not in res.err
    # refused even when nothing is built (buildhelper is a wheel)
    res = cli("pip", "install", "buildhelper", "-b", tmp_path / "missing.txt", *args)
    assert res.rc != 0 and "missing.txt" in res.err

    root = tmp_path / "proj"
    root.mkdir()
    (root / "pyproject.toml").write_text(
        '[project]\nname = "proj"\nversion = "0.1"\ndependencies = ["ext"]\n'
        '[tool.uv.sources]\next = { path = "../ext" }\n'
        '[tool.uv]\nbuild-constraint-dependencies = ["buildhelper<2"]\n'
    )
    res = cli.ok("sync", "--directory", root, "--index-url", index_server.index_url("simple"))
    assert "not used by torchup" not in res.err
    assert (Venv(root / ".venv").site_packages / "ext" / "helper.txt").read_text() == "1.0"


def test_config_settings_reach_the_backend(
    cli: Cli, venv: Venv, index_server: IndexServer, tmp_path: Path
) -> None:
    project = _project(tmp_path / "ext", _RECORDS_SETTINGS)
    cli.ok(
        "pip", "install", project, "-C", "mode=fast", "--config-settings", "flag=a",
        "--config-setting", "flag=b", "--python", venv.root, *index_args(index_server),
    )
    recorded = json.loads((venv.site_packages / "ext" / "settings.json").read_text())
    assert recorded == {"mode": "fast", "flag": ["a", "b"]}
    res = cli("pip", "install", project, "-C", "novalue", "--python", venv.root)
    assert res.rc == 2 and "--config-settings 'novalue' is not KEY=VALUE" in res.err


def test_uv_no_config_flag_is_accepted(
    cli: Cli, venv: Venv, index_server: IndexServer, tmp_path: Path
) -> None:
    # `uv pip install --no-config ...` with one word changed: torchup reads no uv.toml, so
    # the flag asks for what already holds (it was "unrecognized arguments").
    publish(index_server, tmp_path / "dists", DEP1)
    res = cli.ok("pip", "install", "--no-config", "dep", "--python", venv.root, *index_args(index_server))
    assert " + dep==1.0" in res.err


def test_uv_environment_variables_stand_in_for_torchup_ones(
    cli: Cli, make_venv, index_server: IndexServer, tmp_path: Path,  # noqa: ANN001
    monkeypatch,  # noqa: ANN001
) -> None:
    # CI written for uv: a private index in UV_INDEX_URL (no --index-url on the command line)
    publish(index_server, tmp_path / "dists", DEP1)
    monkeypatch.setenv("UV_INDEX_URL", index_server.index_url("simple"))
    venv = make_venv("one")
    res = cli.ok("pip", "install", "dep", "--python", venv.root)
    assert " + dep==1.0" in res.err
    # a TORCHUP_ variable wins over its uv twin (here: an index that is not there)
    monkeypatch.setenv("TORCHUP_INDEX_URL", "http://127.0.0.1:9/simple")
    monkeypatch.setenv("TORCHUP_HTTP_RETRIES", "0")
    res = cli("pip", "install", "dep", "--python", make_venv("two").root, "--refresh")
    assert res.rc != 0 and "127.0.0.1:9" in res.err


def test_target_dir_for_another_platform_and_python(
    cli: Cli, index_server: IndexServer, tmp_path: Path, monkeypatch  # noqa: ANN001
) -> None:
    """`pip install --target DIR --python-platform P --python-version V` installs the wheels
    for that machine (a Lambda layer, an image built elsewhere): both flags were accepted and
    ignored, so this machine's wheels went in. And no venv is needed for a --target folder."""
    publish(
        index_server, tmp_path / "dists",
        DistSpec("plat", "1.0", tags="py3-none-any", requires_dist=('newdep ; python_version >= "3.12"',)),
        DistSpec("plat", "1.0", tags="cp312-cp312-manylinux_2_28_aarch64", requires_dist=('newdep ; python_version >= "3.12"',)),
        DistSpec("newdep", "1.0"),
    )
    monkeypatch.chdir(tmp_path)  # no .venv here or above, none active
    monkeypatch.delenv("VIRTUAL_ENV", raising=False)
    args = ("--index-url", index_server.index_url("simple"))
    cli.ok(
        "pip", "install", "plat", "--target", tmp_path / "layer", "--python-platform",
        "aarch64-manylinux_2_28", "--python-version", "3.12", *args,
    )
    wheel_file = (tmp_path / "layer" / "plat-1.0.dist-info" / "WHEEL").read_text()
    assert "Tag: cp312-cp312-manylinux_2_28_aarch64" in wheel_file
    assert (tmp_path / "layer" / "newdep-1.0.dist-info").is_dir()  # the 3.12 marker held
    # without the flags: this machine's Python and the pure wheel
    cli.ok("pip", "install", "plat", "--target", tmp_path / "here", "--python", sys.executable, *args)
    assert "Tag: py3-none-any" in (tmp_path / "here" / "plat-1.0.dist-info" / "WHEEL").read_text()
    if sys.version_info < (3, 12):
        assert not (tmp_path / "here" / "newdep-1.0.dist-info").exists()


def test_an_activated_conda_environment_is_the_target(
    cli: Cli, make_venv, index_server: IndexServer, tmp_path: Path, monkeypatch  # noqa: ANN001
) -> None:
    """As uv: with no venv active, an activated Conda environment ($CONDA_PREFIX) is where
    `pip install` goes, except the base environment (a system Python: --system or --python).
    (A venv stands in for the Conda prefix: the lookup is the same bin/python.)"""
    publish(index_server, tmp_path / "dists", DEP1)
    conda = make_venv("conda-env")
    monkeypatch.chdir(tmp_path)  # no .venv here or above, none active
    monkeypatch.delenv("VIRTUAL_ENV", raising=False)
    monkeypatch.setenv("CONDA_PREFIX", str(conda.root))
    monkeypatch.setenv("CONDA_DEFAULT_ENV", "ml")
    cli.ok("pip", "install", "dep", *index_args(index_server))
    assert (conda.site_packages / "dep-1.0.dist-info").is_dir()
    monkeypatch.setenv("CONDA_DEFAULT_ENV", "base")
    res = cli("pip", "list")
    assert res.rc == 2 and "no virtual environment found" in res.err
    monkeypatch.setenv("CONDA_DEFAULT_ENV", "broken")
    monkeypatch.setenv("CONDA_PREFIX", str(tmp_path / "nothing"))
    res = cli("pip", "list")
    assert res.rc == 2 and "CONDA_PREFIX points at" in res.err and "which has no Python" in res.err
