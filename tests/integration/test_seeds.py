"""The five seed reports (uv issues about PyTorch projects), end to end with the users' own files.

Each test writes the ``pyproject.toml`` from the report (``/work/shared/context/seeds``)
verbatim except for URLs: ``https://download.pytorch.org/whl`` becomes the test server's
``/whl`` (``TORCHUP_TORCH_INDEX_URL`` makes those URLs PyTorch indexes, as the real host is)
and "PyPI" is the test ``pypi`` index (``TORCHUP_DEFAULT_INDEX``). ``[tool.uv]`` is kept as
written. Where a report's backend or release is not on the test indexes, the nearest one that
is stands in (ROCm 6.2 -> ROCm 6.4, the 2024 nightlies -> ``2.10.0.dev20251010``, cu118/cu121
-> cu128) and the test says so. Then `torchup lock` / `sync` run in process and the tests read
the lock (installed for other machines with PEP 751 selection) and the ``.venv``.

Seeds: 000 uv#10712 (ROCm needs pytorch-triton-rocm), 001 uv#9651 (nightly index downloads
every torch), 002 uv#9310 (cpu/gpu extras), 003 uv#5945 (macOS + Linux CPU), 004 uv#2541
(nightly with pre-releases, local-version pins, direct URLs).
"""

from __future__ import annotations

import hashlib
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
import tests.integration.test_project as project_helpers
from tests.integration.test_project import (
    CUDA_13_MACHINE,
    HERE_PY,
    Project,
    index_of,
    installs,
    versions,
)
from tests.support.cli import Cli
from tests.support.pytorch_index import NIGHTLY, PYTORCH_TRITON_NIGHTLY, World

# The fixtures test_project.py defines, used here too.
machine = project_helpers.machine
torch_indexes = project_helpers.torch_indexes

NIGHTLY_VISION = "0.25.0.dev20251010"
# Wheels for HERE_PY exist for every release the seeds use here (cp311/cp312): it is this
# interpreter's or pyenv's 3.12/3.11 (test_project skips the whole module when neither is).
pytestmark = pytest.mark.skipif(
    HERE_PY not in ("3.11", "3.12"), reason="the test indexes' nightly wheels are cp311/cp312"
)


@pytest.fixture
def seed(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], torch_indexes: World, machine: object
) -> Iterator[Project]:
    root = tmp_path / "seed"
    root.mkdir()
    yield Project(root, Cli(capsys), torch_indexes)


def _sha256(url: str) -> str:
    with urllib.request.urlopen(url) as resp:  # noqa: S310 - the local test server
        return hashlib.sha256(resp.read()).hexdigest()


def _files(lock) -> list:  # noqa: ANN001
    return [f for p in lock.packages for f in (*p.wheels, *([p.sdist] if p.sdist else []))]


# --------------------------------------------------------------------------------------------
# 000 -- uv#10712: torch for ROCm needs pytorch-triton-rocm from the ROCm index
# --------------------------------------------------------------------------------------------

SEED_000 = """\
[project]
name = "myproject"
version = "0.1.0"
description = "Add your description here"
readme = "README.md"
requires-python = ">=3.11"
dependencies = [
    "pytorch-triton-rocm>=3.1.0",
    "torch>=2.5.1"
]

[tool.uv.sources]
torch = [{ index = "pytorch-rocm" }]
pytorch-triton-rocm = [{ index = "pytorch-rocm" }]

[[tool.uv.index]]
name = "pytorch-rocm"
url = "https://download.pytorch.org/whl/rocm6.4"
explicit = true
"""
# The reporter's failing variant: pytorch-triton-rocm neither listed nor pinned. uv then looks
# for it only on PyPI (explicit index), where it is 2.1.0, and fails.
SEED_000_WITHOUT_TRITON = SEED_000.replace('    "pytorch-triton-rocm>=3.1.0",\n', "").replace(
    'pytorch-triton-rocm = [{ index = "pytorch-rocm" }]\n', ""
)


def _assert_rocm_lock(project: Project) -> None:
    assert project.lock_files() == ["pylock.toml"]  # a ROCm project: no CPU/CUDA locks added
    for py in ("3.11", "3.12", "3.13"):
        linux = installs(project.lock(), "linux", py)
        assert linux["torch"] == ("2.9.1+rocm6.4", "whl/rocm6.4"), py
        assert linux["pytorch-triton-rocm"] == ("3.5.1", "whl/rocm6.4"), py  # not PyPI's 2.1.0
        assert linux["filelock"][1] == "pypi"  # the rest from PyPI, never the index's mirror
    # ROCm builds exist for Linux x86_64 only: the other platforms are noted, not locked.
    notes = " ".join(n.environment + n.message for n in project.lock().meta.notes)
    assert "darwin" in notes and "not installable" in notes


@pytest.mark.parametrize(
    "text", [SEED_000, SEED_000_WITHOUT_TRITON], ids=["as-reported", "without-triton"]
)
def test_seed000_rocm_torch_gets_pytorch_triton_rocm_from_the_rocm_index(
    seed: Project, text: str
) -> None:
    """ROCm 6.2 of the report -> rocm6.4 (the test indexes' ROCm). torch pinned to an explicit
    ROCm index brings pytorch-triton-rocm from the same index, listed or not (torch-family
    members follow a pinned family member's PyTorch index)."""
    seed.write(text)
    seed.ok("lock")
    _assert_rocm_lock(seed)
    seed.ok("sync")  # this machine is Linux x86_64: the ROCm build is what the lock says
    got = seed.installed()
    assert got["torch"] == "2.9.1+rocm6.4" and got["pytorch-triton-rocm"] == "3.5.1"


def test_seed000_non_explicit_rocm_index_keeps_pypi_for_the_rest(seed: Project) -> None:
    """The maintainer's "pip-like" suggestion (index not explicit) plus a dependency the ROCm
    index also mirrors at an old version: uv stops at `requests` "found on the ROCm index but
    not at the requested version"; torchup takes only the torch family from a PyTorch index."""
    seed.write(
        SEED_000.replace("explicit = true\n", "")
        .replace('    "torch>=2.5.1"\n', '    "torch>=2.5.1",\n    "requests>=2.32.2",\n')
        .replace('[tool.uv.sources]\ntorch = [{ index = "pytorch-rocm" }]\n', "[tool.uv.sources]\n")
    )
    seed.ok("lock")
    linux = installs(seed.lock(), "linux", "3.12")
    assert linux["torch"] == ("2.9.1+rocm6.4", "whl/rocm6.4")
    assert linux["pytorch-triton-rocm"] == ("3.5.1", "whl/rocm6.4")
    assert linux["requests"] == ("2.32.5", "pypi") and linux["certifi"][1] == "pypi"


# --------------------------------------------------------------------------------------------
# 001 -- uv#9651: the PyTorch nightly index made uv download every torch wheel
# --------------------------------------------------------------------------------------------

SEED_001 = """\
[project]
name = "project"
version = "0.1.0"
requires-python = ">=3.12.0"
dependencies = [
  "torch>=2.5.1",
  "torchvision>=0.20.1",
]

[tool.uv.sources]
torch = [
    { index = "pytorch-cpu", marker = "platform_system != 'Darwin'" },
]
torchvision = [
    { index = "pytorch-cpu", marker = "platform_system != 'Darwin'" },
]

[[tool.uv.index]]
name = "pytorch-cpu"
url = "https://download.pytorch.org/whl/nightly/cpu"
explicit = true
"""
# The maintainer's fix from the thread, with the Darwin markers restored as he then advised.
SEED_001_WITH_TRITON = """\
[project]
name = "project"
version = "0.1.0"
requires-python = ">=3.12.0"
dependencies = [
  "torch>=2.5.1", "torchvision>=0.20.1", "pytorch-triton; platform_system != 'Darwin'",
]

[tool.uv.sources]
torch = [
    { index = "pytorch-cpu", marker = "platform_system != 'Darwin'" },
]
torchvision = [
    { index = "pytorch-cpu", marker = "platform_system != 'Darwin'" },
]
pytorch-triton = [
    { index = "pytorch-cpu", marker = "platform_system != 'Darwin'" },
]

[[tool.uv.index]]
name = "pytorch-cpu"
url = "https://download.pytorch.org/whl/nightly/cpu"
explicit = true
"""


def _assert_nightly_cpu(project: Project) -> None:
    lock = project.lock()
    for where in ("linux", "linux-arm", "windows"):
        got = installs(lock, where, "3.12")
        assert got["torch"] == (f"{NIGHTLY}+cpu", "whl/nightly/cpu"), where
        assert got["torchvision"] == (f"{NIGHTLY_VISION}+cpu", "whl/nightly/cpu"), where
    mac = installs(lock, "macos", "3.12")  # the Darwin marker: PyPI's release there
    assert mac["torch"] == ("2.9.1", "pypi") and mac["torchvision"] == ("0.24.1", "pypi")
    assert "pytorch-triton" not in mac


def test_seed001_nightly_cpu_locks_with_hashes_for_hashless_pages(seed: Project) -> None:
    """The report's project with the nightly CPU index, whose pages (like the real ones) list
    no ``#sha256``: PEP 751 needs a hash per file, so the lock downloads exactly those files
    once and records their sha256, which must be the served files' own."""
    seed.write(SEED_001)
    res = seed.ok("lock")
    assert "Hashing" in res.err
    _assert_nightly_cpu(seed)
    files = _files(seed.lock())
    assert all(f.hashes.get("sha256") for f in files)
    nightly = [f for f in files if "/whl/nightly/" in f.url]
    assert nightly
    for f in nightly[:3]:
        assert f.hashes["sha256"] == _sha256(f.url), f.name


@pytest.mark.parametrize(
    "text, index",
    [(SEED_001_WITH_TRITON, "nightly/cpu"), (SEED_001, "nightly/cu128")],
    ids=["cpu-with-pytorch-triton", "cu128-triton-transitive"],
)
def test_seed001_nightly_lock_fetches_no_whole_torch_wheel(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    pytorch_world_big: World,
    machine: object,
    text: str,
    index: str,
) -> None:
    """Every torch wheel on this world is 300-600 MB (sparse payload). Locking the nightly
    project for 12 environments reads torch's metadata with Range requests, never a whole
    wheel: the server sends a few MB in all.

    The nightly index is configured *with* ``#sha256`` here (``world.configured(index,
    hashes=True)``): without hashes PEP 751 forces the lock to download each locked file once
    to hash it (see the test above), which is the one whole-file transfer torchup makes.

    ``cu128-triton-transitive`` is the report's original failure: the nightly CUDA build needs
    ``pytorch-triton==3.5.0+git...``, which only the nightly index has; it must come from there
    without being listed (uv backtracked through every torch version instead)."""
    world = pytorch_world_big
    monkeypatch.setenv("TORCHUP_DEFAULT_INDEX", world.url("pypi"))
    monkeypatch.setenv("TORCHUP_TORCH_INDEX_URL", f"{world.server.url}/whl")
    root = tmp_path / "seed"
    root.mkdir()
    project = Project(root, Cli(capsys), world)
    project.write(text.replace("/whl/nightly/cpu", f"/whl/{index}"))
    with world.configured(index, hashes=True):
        world.server.reset_stats()
        project.ok("lock")
        sent = world.server.bytes_sent()
        torch_sent = world.server.bytes_sent("/torch-")
    assert torch_sent < 5_000_000, f"{torch_sent} bytes of torch wheels were sent"
    assert sent < 20_000_000, f"{sent} bytes were sent"
    lock = project.lock()
    linux = installs(lock, "linux", "3.12")
    label = index.rsplit("/", 1)[1]
    assert linux["torch"] == (f"{NIGHTLY}+{label}", f"whl/{index}")
    assert linux["pytorch-triton"] == (PYTORCH_TRITON_NIGHTLY, f"whl/{index}")
    mac = installs(lock, "macos", "3.12")
    assert mac["torch"] == ("2.9.1", "pypi") and "pytorch-triton" not in mac


def test_seed001_final_config_exact_nightly_pins(seed: Project) -> None:
    """The thread's "proper invocation": ``===`` for the unlabelled macOS nightly, ``+cpu``
    elsewhere, pytorch-triton listed for non-Darwin. The report's ``/whl/nightly`` (all
    nightlies) -> ``/whl/nightly/cpu`` here; its 2024 dates -> the test nightly."""
    seed.write(
        f"""\
[project]
name = "project"
version = "0.1.0"
requires-python = ">=3.12.0"
dependencies = [
  "torch==={NIGHTLY}; platform_system == 'Darwin'",
  "torchvision==={NIGHTLY_VISION}; platform_system == 'Darwin'",
  "torch=={NIGHTLY}+cpu; platform_system != 'Darwin'",
  "torchvision=={NIGHTLY_VISION}+cpu; platform_system != 'Darwin'",
]

[tool.uv.sources]
torch = [
    {{ index = "pytorch-cpu" }},
]
torchvision = [
    {{ index = "pytorch-cpu" }},
]

[[tool.uv.index]]
name = "pytorch-cpu"
url = "https://download.pytorch.org/whl/nightly/cpu"
explicit = true
"""
    )
    seed.ok("lock")
    lock = seed.lock()
    assert installs(lock, "macos", "3.12")["torch"] == (NIGHTLY, "whl/nightly/cpu")
    assert installs(lock, "linux", "3.12")["torch"] == (f"{NIGHTLY}+cpu", "whl/nightly/cpu")
    assert installs(lock, "windows", "3.12")["torchvision"][0] == f"{NIGHTLY_VISION}+cpu"


def test_seed001_macos_only_direct_url_sources(seed: Project) -> None:
    """The reporter's Apple-guide variant: ``environments`` limited to Darwin and torch /
    torchvision as wheel URLs in ``[tool.uv.sources]`` (2024 nightlies -> the test nightly)."""
    base = "https://download.pytorch.org/whl/nightly/cpu"
    seed.write(
        f"""\
[project]
name = "project"
version = "0.1.0"
requires-python = ">=3.12,<3.13"
dependencies = [
    "torch",
    "torchvision",
]

[tool.uv]
environments = [
    "platform_system == 'Darwin'",
]

[tool.uv.sources]
torch = {{ url = "{base}/torch-{NIGHTLY}-cp312-none-macosx_11_0_arm64.whl" }}
torchvision = {{ url = "{base}/torchvision-{NIGHTLY_VISION}-cp312-none-macosx_11_0_arm64.whl" }}
"""
    )
    seed.ok("lock")
    lock = seed.lock()
    mac = installs(lock, "macos", "3.12")
    assert mac["torch"] == (NIGHTLY, "whl/nightly/cpu")
    assert mac["torchvision"] == (NIGHTLY_VISION, "whl/nightly/cpu")
    assert mac["numpy"][1] == "pypi"
    assert lock.meta.environments and all("darwin" in e for e in lock.meta.environments)
    assert all(f.hashes.get("sha256") for f in _files(lock))


# --------------------------------------------------------------------------------------------
# 002 -- uv#9310: `sync --extra cpu` / `--extra gpu` on Linux and macOS
# --------------------------------------------------------------------------------------------

SEED_002 = """\
[project]
name = "test"
version = "0.1.0"
description = "Test pytorch dependencies"
readme = "README.md"
requires-python = ">=3.11"
dependencies = []

[project.optional-dependencies]
cpu = [
  "torch==2.5.1",
  "torchvision==0.20.1",
]
gpu = [
  "torch==2.5.1",
  "torchvision==0.20.1",
]

[tool]
[tool.uv]
conflicts = [
  [
    { extra = "cpu" },
    { extra = "gpu" },
  ],
]

[tool.uv.sources]
[[tool.uv.sources.torch]]
index = "pytorch-cpu"
marker = "platform_system != 'Darwin'"
extra = "cpu"

[[tool.uv.sources.torchvision]]
index = "pytorch-cpu"
marker = "platform_system != 'Darwin'"
extra = "cpu"

[[tool.uv.index]]
name = "pytorch-cpu"
url = "https://download.pytorch.org/whl/cpu"
explicit = true
"""
# The reporter's second file: CPU-only everywhere but macOS, no extras.
SEED_002_CPU_ONLY = """\
[project]
name = "test"
version = "0.1.0"
description = "Test pytorch dependencies"
readme = "README.md"
requires-python = ">=3.11"
dependencies = ["torch==2.5.1", "torchvision==0.20.1"]

[tool]
[tool.uv]
[tool.uv.sources]
[[tool.uv.sources.torch]]
index = "pytorch-cpu"
marker = "platform_system != 'Darwin'"

[[tool.uv.sources.torchvision]]
index = "pytorch-cpu"
marker = "platform_system != 'Darwin'"

[[tool.uv.index]]
name = "pytorch-cpu"
url = "https://download.pytorch.org/whl/cpu"
explicit = true
"""


def test_seed002_cpu_and_gpu_extras(seed: Project) -> None:
    seed.write(SEED_002)
    seed.ok("lock")
    lock = seed.lock()
    # macOS: PyPI's build for either extra (the source pin excludes Darwin).
    for extra in ("cpu", "gpu"):
        mac = installs(lock, "macos", "3.12", extras=(extra,))
        assert mac["torch"] == ("2.5.1", "pypi") and mac["torchvision"] == ("0.20.1", "pypi")
    linux_cpu = installs(lock, "linux", "3.12", extras=("cpu",))
    assert linux_cpu["torch"] == ("2.5.1+cpu", "whl/cpu")
    assert not [n for n in linux_cpu if n.startswith("nvidia")]
    # aarch64's CPU wheel of 2.5.1 is unlabelled on whl/cpu, same version as PyPI's: the
    # source pin still decides where it comes from.
    assert installs(lock, "linux-arm", "3.12", extras=("cpu",))["torch"] == ("2.5.1", "whl/cpu")
    linux_gpu = installs(lock, "linux", "3.12", extras=("gpu",))
    assert linux_gpu["torch"] == ("2.5.1", "pypi") and "nvidia-cublas-cu12" in linux_gpu

    seed.ok("sync", "--extra", "cpu")
    got = seed.installed()
    assert got["torch"] == "2.5.1+cpu" and got["torchvision"] == "0.20.1+cpu"
    assert not [n for n in got if n.startswith("nvidia")]

    seed.ok("sync", "--extra", "gpu")
    got = seed.installed()
    assert got["torch"] == "2.5.1" and got["torchvision"] == "0.20.1"
    assert got["nvidia-cuda-runtime-cu12"] == "12.4.127" and got["triton"] == "3.1.0"

    before = seed.installed()
    both = seed.run("sync", "--extra", "cpu", "--extra", "gpu")
    assert both.rc != 0
    assert "conflict" in both.err and "'cpu'" in both.err and "'gpu'" in both.err
    assert seed.installed() == before


def test_seed002_editing_pyproject_relocks_instead_of_installing_stale_pins(
    seed: Project,
) -> None:
    """The report's last note: after switching to the second file, uv installed the old lock's
    pins until the lock was deleted. torchup sees the lock is stale and re-locks first."""
    seed.write(SEED_002)
    seed.ok("sync", "--extra", "gpu")
    assert seed.installed()["torch"] == "2.5.1"
    seed.write(SEED_002_CPU_ONLY)
    seed.ok("sync")
    got = seed.installed()
    assert got["torch"] == "2.5.1+cpu" and got["torchvision"] == "0.20.1+cpu"
    assert not [n for n in got if n.startswith("nvidia")]
    assert seed.ok("lock", "--check").rc == 0
    assert installs(seed.lock(), "macos", "3.12")["torch"] == ("2.5.1", "pypi")


# --------------------------------------------------------------------------------------------
# 003 -- uv#5945: one project, CPU torch on macOS and Linux
# --------------------------------------------------------------------------------------------

# The configuration the thread ended with (plus torchvision, pinned the same way).
SEED_003_PINS = """\
[project]
name = "project"
version = "0.1.0"
requires-python = ">=3.11,<3.13"
dependencies = [
  "torch==2.4.1 ; sys_platform == 'darwin'", "torch==2.4.1+cpu ;  sys_platform != 'darwin'",
  "torchvision==0.19.1 ; sys_platform == 'darwin'",
  "torchvision==0.19.1+cpu ; sys_platform != 'darwin'",
]

[tool.uv]
index-strategy = "unsafe-best-match"
extra-index-url = ["https://download.pytorch.org/whl/cpu"]
"""
# uv's documented way (explicit CPU index for everything but macOS).
SEED_003_SOURCES = """\
[project]
name = "project"
version = "0.1.0"
requires-python = ">=3.11,<3.13"
dependencies = ["torch", "torchvision"]

[tool.uv.sources]
torch = [{ index = "pytorch-cpu", marker = "sys_platform != 'darwin'" }]
torchvision = [{ index = "pytorch-cpu", marker = "sys_platform != 'darwin'" }]

[[tool.uv.index]]
name = "pytorch-cpu"
url = "https://download.pytorch.org/whl/cpu"
explicit = true
"""
# torchup's way: say the backend, nothing about indexes.
SEED_003_BACKEND = """\
[project]
name = "project"
version = "0.1.0"
requires-python = ">=3.11,<3.13"
dependencies = ["torch", "torchvision"]

[tool.uv]
torch-backends = ["cpu"]
"""


@pytest.mark.parametrize(
    "text, torch, mac_index",
    [
        (SEED_003_PINS, "2.4.1", "whl/cpu"),
        (SEED_003_SOURCES, "2.9.1", "pypi"),
        (SEED_003_BACKEND, "2.9.1", "whl/cpu"),
    ],
    ids=["pins-extra-index", "uv-sources", "torch-backends"],
)
def test_seed003_cpu_torch_on_macos_and_linux(
    seed: Project, machine, text: str, torch: str, mac_index: str
) -> None:
    seed.write(text)
    seed.ok("lock")
    assert seed.lock_files() == ["pylock.toml"]  # CPU asked for: no CUDA lock is added
    lock = seed.lock()
    vision = {"2.4.1": "0.19.1", "2.9.1": "0.24.1"}[torch]
    for py in ("3.11", "3.12"):
        mac = installs(lock, "macos", py)
        assert mac["torch"] == (torch, mac_index) and mac["torchvision"][0] == vision
        linux = installs(lock, "linux", py)
        assert linux["torch"] == (f"{torch}+cpu", "whl/cpu")
        assert linux["torchvision"] == (f"{vision}+cpu", "whl/cpu")
        assert not [n for n in linux if n.startswith("nvidia") or n == "triton"]
    # Even on an NVIDIA machine the CPU-only project installs the CPU build.
    machine(**CUDA_13_MACHINE)
    seed.ok("sync")
    got = seed.installed()
    assert got["torch"] == f"{torch}+cpu" and got["torchvision"] == f"{vision}+cpu"
    assert not [n for n in got if n.startswith("nvidia")]


# --------------------------------------------------------------------------------------------
# 004 -- uv#2541: nightly with pre-releases, local-version pins, direct URLs
# --------------------------------------------------------------------------------------------

_MAJOR, _MINOR = (int(part) for part in HERE_PY.split("."))
_NEXT_PY = f"{_MAJOR}.{_MINOR + 1}"


def test_seed004_nightly_prereleases_from_one_nightly_index(
    seed: Project, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``pip install -U --prerelease allow torch torchvision torchaudio --index-url
    .../whl/nightly/cu121`` as a project (cu121 -> the test nightly/cu128): the only index is
    the nightly one, so it serves everything (filelock, nvidia-*, ...), as with pip."""
    monkeypatch.delenv("TORCHUP_DEFAULT_INDEX")  # the project's own index-url is the index
    seed.write(
        f"""\
[project]
name = "nightly"
version = "0.1.0"
requires-python = ">={HERE_PY},<{_NEXT_PY}"
dependencies = ["torch", "torchvision", "torchaudio"]

[tool.uv]
prerelease = "allow"
index-url = "https://download.pytorch.org/whl/nightly/cu128"
"""
    )
    seed.ok("lock")
    linux = installs(seed.lock(), "linux", HERE_PY)
    assert linux["torch"] == (f"{NIGHTLY}+cu128", "whl/nightly/cu128")
    assert linux["torchvision"] == (f"{NIGHTLY_VISION}+cu128", "whl/nightly/cu128")
    assert linux["torchaudio"][0] == f"{NIGHTLY}+cu128"
    assert linux["pytorch-triton"] == (PYTORCH_TRITON_NIGHTLY, "whl/nightly/cu128")
    assert all(index == "whl/nightly/cu128" for _, index in linux.values())
    seed.ok("sync")
    got = seed.installed()
    assert got["torch"] == f"{NIGHTLY}+cu128" and got["pytorch-triton"] == PYTORCH_TRITON_NIGHTLY


def test_seed004_local_version_pins_with_an_extra_index(seed: Project) -> None:
    """The second requirements file of the thread (cu118 -> cu128): ``torch==...+cu128`` from
    the extra CUDA index, and ``certifi==2024.2.2``, which that index mirrors only at
    2022.12.7 -- uv failed with "there is no version of certifi==2024.2.2"."""
    seed.write(
        f"""\
[project]
name = "pins"
version = "0.1.0"
requires-python = ">={HERE_PY},<{_NEXT_PY}"
dependencies = ["certifi==2024.2.2", "torch==2.9.1+cu128", "torchaudio==2.9.1+cu128"]

[tool.uv]
extra-index-url = ["https://download.pytorch.org/whl/cu128"]
"""
    )
    seed.ok("lock")
    assert seed.lock_files() == ["pylock.toml"]  # the pins chose the build
    linux = installs(seed.lock(), "linux", HERE_PY)
    assert linux["certifi"] == ("2024.2.2", "pypi")
    assert linux["torch"] == ("2.9.1+cu128", "whl/cu128")
    assert linux["torchaudio"] == ("2.9.1+cu128", "whl/cu128")
    assert linux["nvidia-cuda-runtime-cu12"][0] == "12.8.90"


def test_seed004_direct_url_wheels(seed: Project) -> None:
    """The first requirements file of the thread: torch and torchaudio as ``name @ URL#sha256``
    (cu118 2.2.1 -> cu128 2.9.1) and pytorch_triton as a nightly wheel URL. torchaudio's
    ``torch==2.9.1`` is met by the URL's ``2.9.1+cu128``; the URLs and hashes are locked as
    given and `sync` installs them."""
    world = seed.world
    cp = "cp" + HERE_PY.replace(".", "")
    base = f"{world.server.url}/whl"

    def url(index: str, name: str, version: str, plat: str = "manylinux_2_28_x86_64") -> str:
        (filename,) = [f for f in world.files(index, name) if f"-{version}-{cp}-{cp}-{plat}" in f]
        return f"{base}/{index}/{filename.replace('+', '%2B')}"

    torch_url = url("cu128", "torch", "2.9.1+cu128")
    audio_url = url("cu128", "torchaudio", "2.9.1+cu128")
    triton_url = url("nightly/cu128", "pytorch-triton", PYTORCH_TRITON_NIGHTLY, "linux_x86_64")
    torch_sha = _sha256(torch_url)
    seed.write(
        f"""\
[project]
name = "urls"
version = "0.1.0"
requires-python = ">={HERE_PY},<{_NEXT_PY}"
dependencies = [
    "torch @ {torch_url}#sha256={torch_sha}",
    "torchaudio @ {audio_url}#sha256={_sha256(audio_url)}",
    "pytorch_triton @ {triton_url}",
]
"""
    )
    seed.ok("lock")
    lock = seed.lock()
    (torch_entry,) = [p for p in lock.packages if p.name == "torch"]
    assert str(torch_entry.version) == "2.9.1+cu128"
    assert [(w.url, w.hashes["sha256"]) for w in torch_entry.wheels] == [(torch_url, torch_sha)]
    (triton,) = [p for p in lock.packages if p.name == "pytorch-triton"]
    assert triton.wheels[0].hashes.get("sha256")  # hashless URL: hashed while locking
    linux = versions(installs(lock, "linux", HERE_PY))
    assert linux["torchaudio"] == "2.9.1+cu128" and linux["triton"] == "3.5.1"
    seed.ok("sync")
    got = seed.installed()
    assert got["torch"] == "2.9.1+cu128" and got["pytorch-triton"] == PYTORCH_TRITON_NIGHTLY
    assert index_of(torch_url) == "whl/cu128"
