"""Project commands end to end: `torchup init|add|remove|lock|sync|run|export` on the test indexes.

Every test runs the real CLI in process (``torchup.cli.main.main``) in a project directory
against the session :class:`~tests.support.pytorch_index.World`: its ``pypi`` index stands in
for PyPI (``TORCHUP_DEFAULT_INDEX``) and ``<server>/whl`` for download.pytorch.org
(``TORCHUP_TORCH_INDEX_URL``, so the test URLs count as PyTorch indexes). Outcomes are read from
the real files: ``pyproject.toml``, ``pylock*.toml`` (installed for other machines with the PEP
751 selection in ``torchup.lock.select``) and the ``.venv`` the project syncs (versions as its
own Python reports them).

The machine is simulated: the accelerator probes are switched off (:func:`machine`) so the
host's real GPU, if any, never leaks in, and ``TORCHUP_CUDA_DRIVER_VERSION`` /
``TORCHUP_GPU_COMPUTE_CAPABILITY`` make it an NVIDIA machine.

The helpers here (``Project``, ``machine``, ``installs``, ``index_of``) are shared with
``test_seeds.py``.
"""

from __future__ import annotations

import json
import shutil
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import unquote

import pytest
from packaging.requirements import Requirement
from tests.integration.test_pip_install import Venv
from tests.support.cli import Cli, Result
from tests.support.pythons import torch_world_python
from tests.support.pytorch_index import World

from torchup.lock.io import read_lock
from torchup.lock.model import Lock
from torchup.lock.select import select_for_target
from torchup.target import Target

PYTORCH = "https://download.pytorch.org/whl"
PLATFORMS = {
    "linux": "linux",
    "linux-arm": "aarch64-manylinux_2_28",
    "macos": "aarch64-apple-darwin",
    "windows": "windows",
}
# This machine: the interpreter running the tests (a project's .venv is made from it), or, on a
# Python the torch world has no wheels for, pyenv's 3.12/3.11 (see torch_world_python).
_WORLD_PYTHON = torch_world_python(Path(sys.executable))
if _WORLD_PYTHON is None:
    pytest.skip(
        "no Python 3.11/3.12 to make project environments with (the torch world has no wheels "
        "for this one)", allow_module_level=True,
    )
HERE_PY, HERE_EXE = _WORLD_PYTHON
CUDA_13_MACHINE = {
    "TORCHUP_CUDA_DRIVER_VERSION": "580.65.06",
    "TORCHUP_GPU_COMPUTE_CAPABILITY": "9.0",
}


# --------------------------------------------------------------------------------------------
# helpers
# --------------------------------------------------------------------------------------------


def index_of(url: str) -> str:
    """``http://127.0.0.1:1234/whl/cu128/torch-...whl`` -> ``whl/cu128``."""
    path = unquote(url.split("://", 1)[1].split("/", 1)[1])
    return path.rsplit("/", 1)[0]


def installs(lock: Lock, where: str, python: str = "3.12", extras: tuple[str, ...] = ()) -> dict:
    """``{name: (version, index)}`` that installing ``lock`` on ``where`` ("linux", "macos",
    "linux-arm", "windows") with ``python`` would put in the environment."""
    target = Target.for_platform(python, PLATFORMS[where])
    chosen = select_for_target(lock, target, extras=extras)
    return {
        s.package.name: (str(s.package.version), index_of(getattr(s.artifact, "url", "") or ""))
        for s in chosen
    }


def versions(picked: dict) -> dict[str, str]:
    return {name: v for name, (v, _) in picked.items()}


@dataclass
class Project:
    """A project directory plus the CLI bound to it (``--directory`` is added to each call)."""

    root: Path
    cli: Cli
    world: World

    @property
    def pyproject(self) -> Path:
        return self.root / "pyproject.toml"

    def write(self, text: str) -> None:
        """Write pyproject.toml, with download.pytorch.org URLs pointed at the test server."""
        self.pyproject.write_text(
            text.replace(PYTORCH, f"{self.world.server.url}/whl"), encoding="utf-8"
        )

    def run(self, *args: str) -> Result:
        command, *rest = args
        extra = ["--directory", str(self.root)] if command != "init" else []
        if command in ("init", "sync", "add", "remove", "run") and "--python" not in rest:
            extra += ["--python", str(HERE_EXE)]
        if command == "run":  # `run [options] -- cmd...`: options before the command
            cut = rest.index("--") if "--" in rest else len(rest)
            return self.cli(command, *extra, *rest[:cut], *rest[cut:])
        return self.cli(command, *rest, *extra)

    def ok(self, *args: str) -> Result:
        res = self.run(*args)
        assert res.rc == 0, f"torchup {' '.join(args)} -> {res.rc}\n{res.err}{res.out}"
        return res

    def lock(self, name: str = "pylock.toml") -> Lock:
        return read_lock(self.root / name)

    def lock_files(self) -> list[str]:
        return sorted(p.name for p in self.root.glob("pylock*.toml"))

    @property
    def venv(self) -> Venv:
        return Venv(self.root / ".venv")

    def installed(self) -> dict[str, str]:
        return self.venv.metadata_versions()


@pytest.fixture
def machine(monkeypatch: pytest.MonkeyPatch) -> Callable[..., None]:
    """``machine()`` = no accelerator; ``machine(**CUDA_13_MACHINE)`` = an NVIDIA machine.

    The detection probes are switched off for the whole test (overrides only), so the result
    does not depend on the host.
    """
    import torchup.torch.detect as detect_mod

    real = detect_mod.detect

    def overrides_only(probes=(), overrides=None, **kwargs):  # noqa: ANN001, ANN003
        return real((), overrides, **kwargs)

    monkeypatch.setattr(detect_mod, "detect", overrides_only)

    def set_machine(**env: str) -> None:
        for key in ("TORCHUP_CUDA_DRIVER_VERSION", "TORCHUP_GPU_COMPUTE_CAPABILITY"):
            if key in env:
                monkeypatch.setenv(key, env[key])
            else:
                monkeypatch.delenv(key, raising=False)

    set_machine()
    return set_machine


@pytest.fixture
def torch_indexes(monkeypatch: pytest.MonkeyPatch, pytorch_world: World) -> World:
    """PyPI = the world's ``pypi``; download.pytorch.org = ``<server>/whl``."""
    monkeypatch.setenv("TORCHUP_DEFAULT_INDEX", pytorch_world.url("pypi"))
    monkeypatch.setenv("TORCHUP_TORCH_INDEX_URL", f"{pytorch_world.server.url}/whl")
    return pytorch_world


@pytest.fixture
def project(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], torch_indexes: World, machine: object
) -> Iterator[Project]:
    root = tmp_path / "proj"
    root.mkdir()
    yield Project(root, Cli(capsys), torch_indexes)


SMALL = """\
[project]
name = "small"
version = "0.1.0"
requires-python = ">={py},<{py_next}"
dependencies = {deps}
"""


def small(project: Project, *deps: str) -> None:
    """A project locked for one Python minor (this interpreter's): 4 environments."""
    major, minor = (int(part) for part in HERE_PY.split("."))
    project.write(
        SMALL.format(py=HERE_PY, py_next=f"{major}.{minor + 1}", deps=json.dumps(list(deps)))
    )


# --------------------------------------------------------------------------------------------
# the zero-configuration torch project
# --------------------------------------------------------------------------------------------


def test_init_add_torch_installs_the_right_build_per_machine(project: Project, machine) -> None:
    """`torchup init && torchup add torch torchvision`, nothing else: a CPU machine gets the +cpu
    build, an NVIDIA machine (driver 580) the CUDA 13.0 build, and the lock holds macOS's."""
    project.ok("init", str(project.root))
    assert "dependencies = []" in project.pyproject.read_text()

    project.ok("add", "torch", "torchvision")  # locks, then syncs on this (CPU) machine
    text = project.pyproject.read_text()
    assert '"torch"' in text and '"torchvision"' in text and "[tool" not in text
    assert project.lock_files() == ["pylock.cu130.toml", "pylock.toml"]
    got = project.installed()
    assert got["torch"] == "2.9.1+cpu" and got["torchvision"] == "0.24.1+cpu"
    assert not [n for n in got if n.startswith("nvidia") or n == "triton"]

    # macOS (arm64) is in both locks, as the unlabelled CPU build with the MPS backend.
    for name in project.lock_files():
        mac = installs(project.lock(name), "macos")
        assert mac["torch"] == ("2.9.1", "whl/cpu"), name
        assert mac["torchvision"][0] == "0.24.1"
        assert not [n for n in mac if n.startswith("nvidia")]
    # The CUDA lock's Linux x86_64 entries are the cu130 build with its NVIDIA libraries.
    linux_cuda = installs(project.lock("pylock.cu130.toml"), "linux")
    assert linux_cuda["torch"] == ("2.9.1+cu130", "whl/cu130")
    assert "nvidia-cublas" in linux_cuda and linux_cuda["triton"][0] == "3.5.1"

    machine(**CUDA_13_MACHINE)
    res = project.ok("sync")
    assert "cu130" in res.err
    got = project.installed()
    assert got["torch"] == "2.9.1+cu130" and got["torchvision"] == "0.24.1+cu130"
    assert got["nvidia-cuda-runtime"] == "13.0.96" and got["triton"] == "3.5.1"

    machine()  # back on a CPU-only machine: sync is exact, the CUDA libraries go
    project.ok("sync")
    got = project.installed()
    assert got["torch"] == "2.9.1+cpu"
    assert not [n for n in got if n.startswith("nvidia") or n == "triton"]


@pytest.mark.parametrize("how", ["path", "version", "name", "range"])
def test_init_python_gives_requires_python_its_version(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], how: str
) -> None:
    # `init --python /path/to/python` wrote requires-python = ">=/path/to/python" (a broken
    # pyproject that every later command refused); a path or a name stands for its version,
    # a range is the requirement itself.
    minor = HERE_PY
    request = {
        "path": str(HERE_EXE), "version": f"{minor}.0", "name": f"python{minor}",
        "range": f">={minor},<4",
    }[how]
    if how == "name" and shutil.which(request) is None:
        pytest.skip(f"no {request} on PATH")
    root = tmp_path / how
    res = Cli(capsys)("init", str(root), "--python", request)
    assert res.rc == 0, res.err
    expected = request if how == "range" else f">={minor}"
    assert f'requires-python = "{expected}"' in (root / "pyproject.toml").read_text()


@pytest.mark.parametrize("request_", ["/nowhere/bin/python", ">=3.x"])
def test_init_with_an_unusable_python_fails_and_creates_nothing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], request_: str
) -> None:
    root = tmp_path / "new"
    res = Cli(capsys)("init", str(root), "--python", request_)
    assert res.rc == 2 and "Traceback" not in res.err
    assert request_ in res.err
    assert not root.exists()


def test_older_driver_falls_back_with_a_warning(project: Project, machine) -> None:
    """A driver too old for the locked CUDA build (570 < 580 for cu130) gets the CPU lock and is
    told how to lock its CUDA build, instead of an install that cannot load."""
    small(project, "torch")
    project.ok("lock")
    machine(TORCHUP_CUDA_DRIVER_VERSION="570.86.10", TORCHUP_GPU_COMPUTE_CAPABILITY="8.9")
    res = project.ok("sync")
    assert "cu128" in res.err and "torch-backends" in res.err
    assert project.installed()["torch"] == "2.9.1+cpu"


# --------------------------------------------------------------------------------------------
# remove, run, export
# --------------------------------------------------------------------------------------------


def test_remove_drops_the_dependency_from_pyproject_lock_and_venv(project: Project) -> None:
    small(project, "requests", "certifi")
    project.ok("sync")
    assert "requests" in project.installed()
    project.ok("remove", "requests")
    assert "requests" not in project.pyproject.read_text()
    names = {p.name for p in project.lock().packages}
    assert "certifi" in names and not names & {"requests", "urllib3", "idna"}
    got = project.installed()
    assert "certifi" in got and "requests" not in got and "urllib3" not in got


def test_remove_unknown_dependency_fails_and_keeps_pyproject(project: Project) -> None:
    small(project, "certifi")
    before = project.pyproject.read_text()
    res = project.run("remove", "numpy")
    assert res.rc != 0 and "numpy" in res.err
    assert project.pyproject.read_text() == before


def test_flags_torchup_does_not_implement_are_refused_not_ignored(project: Project) -> None:
    """`--keyring-provider subprocess` made no keyring lookup, without a word; it is now a
    clear error that changes nothing. (`sync --only-dev` was one too; it works now, see
    test_project_sources.py.)"""
    small(project, "certifi")
    before = project.pyproject.read_text()
    res = project.run("lock", "--keyring-provider", "subprocess")
    assert res.rc == 2 and "--keyring-provider subprocess is not supported yet" in res.err
    assert "netrc" in res.err
    assert project.pyproject.read_text() == before


def test_run_syncs_then_runs_in_the_project_env(project: Project) -> None:
    small(project, "torch")
    out = project.root / "out.txt"
    code = (
        "import sys, torch, importlib.metadata as m; "
        f"open({str(out)!r}, 'w').write(torch.__version__ + ' ' + sys.prefix)"
    )
    project.ok("run", "--", "python", "-c", code)
    version, prefix = out.read_text().split(" ", 1)
    assert version == "2.9.1+cpu"
    assert Path(prefix).resolve() == (project.root / ".venv").resolve()
    assert (project.root / "pylock.toml").exists()
    # The command's exit status is torchup's.
    assert project.run("run", "--", "python", "-c", "raise SystemExit(7)").rc == 7


def test_export_requirements_txt(project: Project) -> None:
    small(project, "torch", "requests")
    project.ok("lock")
    res = project.ok("export", "--format", "requirements.txt")
    lines = [ln for ln in res.out.splitlines() if ln and not ln.startswith(("#", " "))]
    reqs = {Requirement(ln.rstrip(" \\")).name: Requirement(ln.rstrip(" \\")) for ln in lines}
    assert str(reqs["requests"].specifier) == "==2.32.5"
    torch_pins = {
        str(r.specifier)
        for ln in lines
        for r in [Requirement(ln.rstrip(" \\"))]
        if r.name == "torch"
    }
    assert "==2.9.1+cpu" in torch_pins  # Linux/Windows; macOS gets its own marked line
    assert "--hash=sha256:" in res.out
    # Every pinned line carries its hashes: pip install --require-hashes can take the file.
    assert res.out.count("--hash=sha256:") >= len(lines)
    bare = project.ok("export", "--format", "requirements.txt", "--no-hashes")
    assert "--hash" not in bare.out
    target = project.root / "requirements.txt"
    project.ok("export", "--format", "requirements.txt", "-o", str(target))
    assert target.read_text() == res.out


# --------------------------------------------------------------------------------------------
# lock --check, --locked, --frozen, upgrades
# --------------------------------------------------------------------------------------------


def test_lock_check_fails_on_a_stale_lock(project: Project) -> None:
    small(project, "certifi")
    missing = project.run("lock", "--check")
    assert missing.rc != 0 and "pylock.toml" in missing.err
    project.ok("lock")
    assert "up to date" in project.ok("lock", "--check").err
    small(project, "certifi", "idna")
    before = (project.root / "pylock.toml").read_text()
    stale = project.run("lock", "--check")
    assert stale.rc != 0 and "out of date" in stale.err
    assert project.run("lock", "--locked").rc != 0
    assert (project.root / "pylock.toml").read_text() == before  # --check never writes


def test_lock_keeps_an_up_to_date_lock(project: Project) -> None:
    """A second `torchup lock` with pyproject.toml unchanged does not re-resolve or rewrite."""
    small(project, "certifi")
    project.ok("lock")
    path = project.root / "pylock.toml"
    before = (path.read_text(), path.stat().st_mtime_ns)
    assert "up to date" in project.ok("lock").err
    assert (path.read_text(), path.stat().st_mtime_ns) == before
    small(project, "certifi", "idna")
    assert "up to date" not in project.ok("lock").err
    assert 'name = "idna"' in path.read_text()


def test_locked_and_frozen(project: Project) -> None:
    """--locked: refuse a stale lock; --frozen: install the lock as it is, without locking;
    neither: re-lock first."""
    small(project, "certifi==2024.2.2")
    project.ok("lock")
    small(project, "certifi==2022.12.7")
    before = (project.root / "pylock.toml").read_text()

    res = project.run("sync", "--locked")
    assert res.rc != 0 and "--locked" in res.err
    assert not (project.root / ".venv").exists()

    project.ok("sync", "--frozen")
    assert project.installed()["certifi"] == "2024.2.2"  # the stale pin, as asked
    assert (project.root / "pylock.toml").read_text() == before

    project.ok("sync")
    assert project.installed()["certifi"] == "2022.12.7"
    assert 'version = "2022.12.7"' in (project.root / "pylock.toml").read_text()
    project.ok("sync", "--locked")  # fresh now


def test_relock_keeps_versions_unless_upgrade(project: Project) -> None:
    small(project, "certifi<2025", "torch==2.8.0")
    project.ok("lock")
    small(project, "certifi", "torch")  # both bounds relaxed
    project.ok("lock")
    pins = {p.name: str(p.version) for p in project.lock().packages}
    assert pins["certifi"] == "2024.2.2"
    assert versions(installs(project.lock(), "linux", HERE_PY))["torch"] == "2.8.0+cpu"

    project.ok("lock", "--upgrade-package", "certifi")
    pins = {p.name: str(p.version) for p in project.lock().packages}
    assert pins["certifi"] == "2025.10.5"
    assert versions(installs(project.lock(), "linux", HERE_PY))["torch"] == "2.8.0+cpu"

    # torch 2.8.0's newest CUDA build is cu129 (the test indexes lack it: that lock falls back
    # to CPU builds with a note); 2.9.1's is cu130.
    assert project.lock_files() == ["pylock.cu129.toml", "pylock.toml"]
    project.ok("lock", "--upgrade")
    assert versions(installs(project.lock(), "linux", HERE_PY))["torch"] == "2.9.1+cpu"
    # The backend lock for the old torch is gone, not left behind stale.
    assert project.lock_files() == ["pylock.cu130.toml", "pylock.toml"]


def test_sync_refuses_an_environment_the_lock_could_not_resolve(
    project: Project, monkeypatch: pytest.MonkeyPatch, index_server, tmp_path: Path
) -> None:
    """A dependency with wheels for macOS only: the lock notes Linux and Windows as not
    installable, and `sync` on Linux says so instead of installing the rest of the lock."""
    from tests.support.wheels import DistSpec, build_wheel

    dists = tmp_path / "dists"
    index_server.publish(
        "simple",
        [
            build_wheel(DistSpec("maconly", "1.0", tags="py3-none-macosx_11_0_arm64"), dists),
            build_wheel(DistSpec("anywhere", "1.0"), dists),
        ],
    )
    monkeypatch.setenv("TORCHUP_DEFAULT_INDEX", index_server.index_url("simple"))
    small(project, "anywhere", "maconly")
    res = project.ok("lock")
    assert "not installable on linux x86_64" in res.err
    assert set(versions(installs(project.lock(), "macos", HERE_PY))) == {"anywhere", "maconly"}
    res = project.run("sync")
    assert res.rc != 0
    assert "cannot be installed on" in res.err and "maconly" in res.err


def test_extra_build_dependency_matches_the_cuda_torch_it_runs_with(
    project: Project, machine, tmp_path: Path  # noqa: ANN001
) -> None:
    """flash-attn's recipe on a CUDA machine: `torch` with match-runtime in ext's isolated
    build environment is the CUDA build the project gets (2.9.1+cu130, from the backend's
    index), not PyPI's torch of that number."""
    from tests.integration.test_build_options import _project as ext_project
    from tests.integration.test_build_options import records_version

    ext_project(tmp_path / "ext", records_version("torch", "torch.txt"))
    major, minor = (int(part) for part in HERE_PY.split("."))
    project.write(
        "[project]\nname = \"app\"\nversion = \"0.1.0\"\n"
        f"requires-python = \">={HERE_PY},<{major}.{minor + 1}\"\n"
        "dependencies = [\"torch\", \"ext\"]\n"
        f"[tool.uv.sources]\next = {{ path = \"{(tmp_path / 'ext').as_posix()}\" }}\n"
        "[tool.uv.extra-build-dependencies]\n"
        "ext = [{ requirement = \"torch\", match-runtime = true }]\n"
    )
    machine(**CUDA_13_MACHINE)
    project.ok("sync")
    assert project.installed()["torch"] == "2.9.1+cu130"
    assert (project.venv.site_packages / "ext" / "torch.txt").read_text() == "2.9.1+cu130"
