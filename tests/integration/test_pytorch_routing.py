"""Which torch build, from which index: ``torchup pip compile`` against the PyTorch-like world.

Real HTTP, real wheels (``tests/support/pytorch_index.py``); the world's ``/whl`` is declared a
PyTorch index mirror with ``--torch-index-url``, so it behaves as download.pytorch.org does for
torchup. Every test asserts exact pins *and* the index that served each file (from ``--report``).

Backend expectations come from the tables in ``torchup.torch.backend`` (see
``tests/unit/torch/test_backend.py::MATRIX`` for the pure choice); here the choice has to reach
the resolver, the right index and the right wheel.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from tests.integration.pytorch_cli import Compiled, Runner, assert_only
from tests.support.pytorch_index import NIGHTLY, NIGHTLY_VISION, PYTORCH_TRITON_NIGHTLY, World

from torchup.torch.routing import TORCH_FAMILY

DRIVERS = {
    "470": "470.256.02",
    "535": "535.247.01",
    "550": "550.163.01",
    "570": "570.195.03",
    "580": "580.95.05",
}
CAPS = ("6.1", "8.6", "9.0", "12.0")

# (driver, compute capability) -> backend of the newest torch (the world's 2.9.1; the tables'
# 2.9/2.10/2.11 all ship cu126, cu128, cu130). "!" = torchup warns (minor-version compatibility,
# or no CUDA build fits at all). 470 is below every CUDA 12 floor: no CUDA build of current torch
# runs, so the CPU build is resolved (with a warning saying which driver to install).
# Pascal (6.1) has no kernels in cu128/cu130 builds: cu126 whatever the driver.
AUTO_MATRIX: dict[tuple[str, str], str] = {
    ("470", "6.1"): "cpu!",
    ("470", "8.6"): "cpu!",
    ("470", "9.0"): "cpu!",
    ("470", "12.0"): "cpu!",
    ("535", "6.1"): "cu126!",
    ("535", "8.6"): "cu128!",
    ("535", "9.0"): "cu128!",
    ("535", "12.0"): "cu128!",
    ("550", "6.1"): "cu126!",
    ("550", "8.6"): "cu128!",
    ("550", "9.0"): "cu128!",
    ("550", "12.0"): "cu128!",
    ("570", "6.1"): "cu126",
    ("570", "8.6"): "cu128",
    ("570", "9.0"): "cu128",
    ("570", "12.0"): "cu128",
    ("580", "6.1"): "cu126",
    ("580", "8.6"): "cu130",
    ("580", "9.0"): "cu130",
    ("580", "12.0"): "cu130",
}


@pytest.fixture
def runner(pytorch_world: World, capsys: pytest.CaptureFixture[str], tmp_path: Path) -> Runner:
    return Runner(pytorch_world, capsys, tmp_path)


def _auto(runner: Runner, mp: pytest.MonkeyPatch, driver: str, cap: str, *reqs: str) -> Compiled:
    env = {"TORCHUP_CUDA_DRIVER_VERSION": DRIVERS[driver], "TORCHUP_GPU_COMPUTE_CAPABILITY": cap}
    return runner.compile(*reqs, "--torch-backend", "auto", env=env, monkeypatch=mp)


def _assert_from_pypi_except_family(result: Compiled) -> None:
    """Nothing outside the torch family came from a PyTorch index (stale mirrors there)."""
    leaked = {n: i for n, i in result.indexes().items() if n not in TORCH_FAMILY and i != "pypi"}
    assert not leaked, leaked


# --- --torch-backend auto -------------------------------------------------------------------


@pytest.mark.parametrize("driver", sorted(DRIVERS))
def test_auto_backend_matrix(runner: Runner, monkeypatch: pytest.MonkeyPatch, driver: str) -> None:
    for cap in CAPS:
        expected = AUTO_MATRIX[(driver, cap)]
        backend = expected.rstrip("!")
        result = _auto(runner, monkeypatch, driver, cap, "torch", "torchvision")
        where = f"driver {driver}, sm {cap}"
        assert result.rc == 0, f"{where}: {result.err}"
        assert result.pins["torch"] == f"2.9.1+{backend}", where
        assert result.pins["torchvision"] == f"0.24.1+{backend}", where
        assert result.index("torch") == f"whl/{backend}", where
        assert result.index("torchvision") == f"whl/{backend}", where
        assert f"Using torch backend {backend} " in result.err, where
        assert ("warning:" in result.err) == expected.endswith("!"), f"{where}: {result.err}"
        _assert_from_pypi_except_family(result)
        # Never another accelerator's label anywhere in the resolution.
        assert result.labels() <= {backend}, (where, result.pins)
        if backend == "cpu":
            assert "the NVIDIA driver is too old" in result.err
            assert not [n for n in result.pins if n.startswith("nvidia-") or n == "triton"]
        else:
            # CUDA builds pull triton from the same PyTorch index, nvidia-* from PyPI.
            assert result.index("triton") == f"whl/{backend}", where
            runtime = "nvidia-cuda-runtime" if backend == "cu130" else "nvidia-cuda-runtime-cu12"
            assert result.index(runtime) == "pypi", where


def test_bare_major_driver_580_is_not_assumed_to_be_580_65(
    runner: Runner, monkeypatch: pytest.MonkeyPatch
) -> None:
    # `TORCHUP_CUDA_DRIVER_VERSION=580` is below CUDA 13.0's toolkit minimum 580.65.06 as a
    # version, so cu128 (fully supported) wins over cu130 (minor-version compatibility only).
    env = {"TORCHUP_CUDA_DRIVER_VERSION": "580", "TORCHUP_GPU_COMPUTE_CAPABILITY": "9.0"}
    result = runner.compile("torch", "--torch-backend", "auto", env=env, monkeypatch=monkeypatch)
    assert_only(result, {"torch": "2.9.1+cu128"})


def test_auto_pinned_old_torch_2_7_1_on_a_cu130_driver_gets_cu128(
    runner: Runner, monkeypatch: pytest.MonkeyPatch
) -> None:
    # 2.7 ships cu118, cu126, cu128: cu128 is the newest, even though the driver runs cu130.
    result = _auto(runner, monkeypatch, "580", "9.0", "torch==2.7.1", "torchvision")
    assert_only(result, {"torch": "2.7.1+cu128", "torchvision": "0.22.1+cu128", "triton": "3.3.1"})
    assert result.index("torch") == result.index("torchvision") == "whl/cu128"
    assert result.pins["nvidia-cuda-runtime-cu12"] == "12.8.57"  # 2.7.1+cu128's own pins
    assert "Using torch backend cu128 " in result.err
    _assert_from_pypi_except_family(result)


def test_auto_with_a_torch_range_chooses_for_the_newest_torch_it_admits(
    runner: Runner, monkeypatch: pytest.MonkeyPatch
) -> None:
    result = _auto(runner, monkeypatch, "580", "9.0", "torch<2.8")
    assert_only(result, {"torch": "2.7.1+cu128"})


@pytest.mark.parametrize("driver", ["550", "570", "580"])
def test_auto_pinned_torch_2_5_1_gets_cu124(
    runner: Runner, monkeypatch: pytest.MonkeyPatch, driver: str
) -> None:
    # 2.5 ships cu118, cu121, cu124: every driver >= 550.54.14 fully supports cu124.
    result = _auto(runner, monkeypatch, driver, "8.6", "torch==2.5.1", "torchvision")
    assert_only(
        result,
        {
            "torch": "2.5.1+cu124",
            "torchvision": "0.20.1+cu124",
            "triton": "3.1.0",
            "sympy": "1.13.1",
        },
    )
    assert result.index("torch") == "whl/cu124"
    assert result.urls["torch"].endswith("/torch-2.5.1%2Bcu124-cp312-cp312-linux_x86_64.whl")
    assert "warning:" not in result.err
    _assert_from_pypi_except_family(result)


def test_auto_pinned_torch_2_5_1_on_blackwell_warns_about_kernels(
    runner: Runner, monkeypatch: pytest.MonkeyPatch
) -> None:
    # No 2.5 build has sm_120 kernels: cu124 is still the pick, with a warning that says so.
    result = _auto(runner, monkeypatch, "570", "12.0", "torch==2.5.1")
    assert_only(result, {"torch": "2.5.1+cu124"})
    assert "no kernel image is available" in result.err
    assert "Blackwell GPUs need torch >= 2.7" in result.err


@pytest.mark.parametrize(
    ("driver", "torch", "backend"),
    [
        # The world (like a mirror that skipped old toolkits) has no cu118/cu121 index: the error
        # must name the backend, the index URL it looked at and the way out.
        ("470", "torch==2.7.1", "cu118"),
        ("535", "torch==2.5.1", "cu121"),
    ],
)
def test_auto_backend_missing_from_the_index_is_a_clear_error(
    runner: Runner, monkeypatch: pytest.MonkeyPatch, driver: str, torch: str, backend: str
) -> None:
    result = _auto(runner, monkeypatch, driver, "8.6", torch)
    assert result.rc == 1
    assert f"Using torch backend {backend} " in result.err
    assert (
        f"with torch backend {backend}, torch comes only from {runner.base}/{backend}, which "
        "has no torch or does not exist; pick another backend with --torch-backend"
    ) in result.err
    # Never quietly another build: no +cpu, no pypi torch.
    assert "Resolved" not in result.err


def test_auto_on_amd_gets_rocm_and_its_triton(
    runner: Runner, monkeypatch: pytest.MonkeyPatch
) -> None:
    env = {"TORCHUP_AMD_GPU_ARCH": "gfx1100"}
    result = runner.compile(
        "torch==2.9.1", "--torch-backend", "auto", env=env, monkeypatch=monkeypatch
    )
    assert_only(result, {"torch": "2.9.1+rocm6.4", "pytorch-triton-rocm": "3.5.1"})
    assert result.index("torch") == result.index("pytorch-triton-rocm") == "whl/rocm6.4"
    _assert_from_pypi_except_family(result)


# --- ROCm, XPU ---------------------------------------------------------------------------------


@pytest.mark.parametrize(("torch", "triton"), [("2.9.1", "3.5.1"), ("2.8.0", "3.4.0")])
def test_rocm_pulls_pytorch_triton_rocm_from_the_rocm_index(
    runner: Runner, torch: str, triton: str
) -> None:
    # Seed 000: PyPI's pytorch-triton-rocm is 2.1.0; the build torch needs is only on the ROCm
    # index, and torchup takes it from there without the user naming it.
    result = runner.compile(f"torch=={torch}", "--torch-backend", "rocm6.4")
    assert_only(result, {"torch": f"{torch}+rocm6.4", "pytorch-triton-rocm": triton})
    assert result.urls["pytorch-triton-rocm"].startswith(f"{runner.base}/rocm6.4/")
    assert result.urls["torch"].startswith(f"{runner.base}/rocm6.4/")
    assert result.index("filelock") == "pypi"
    assert not [n for n in result.pins if n.startswith("nvidia-") or n == "triton"]


def test_xpu_pulls_pytorch_triton_xpu(runner: Runner) -> None:
    result = runner.compile("torch", "torchvision", "--torch-backend", "xpu")
    assert_only(
        result,
        {"torch": "2.9.1+xpu", "torchvision": "0.24.1+xpu", "pytorch-triton-xpu": "3.5.0"},
    )
    assert {result.index(n) for n in ("torch", "torchvision", "pytorch-triton-xpu")} == {"whl/xpu"}
    _assert_from_pypi_except_family(result)


# --- nightlies ---------------------------------------------------------------------------------


def test_nightly_channel_with_pytorch_triton(runner: Runner) -> None:
    result = runner.compile(
        "torch",
        "torchvision",
        "torchaudio",
        "--torch-backend",
        "cu128",
        "--torch-channel",
        "nightly",
    )
    assert_only(
        result,
        {
            "torch": f"{NIGHTLY}+cu128",
            "torchvision": f"{NIGHTLY_VISION}+cu128",
            "torchaudio": f"{NIGHTLY}+cu128",
            "pytorch-triton": PYTORCH_TRITON_NIGHTLY,  # not PyPI's 0.0.1 placeholder
        },
    )
    for name in ("torch", "torchvision", "torchaudio", "pytorch-triton"):
        assert result.index(name) == "whl/nightly/cu128", name
    assert result.index("filelock") == result.index("nvidia-cudnn-cu12") == "pypi"
    _assert_from_pypi_except_family(result)


def test_nightly_as_the_only_index_like_pip(runner: Runner) -> None:
    # Seed 004, verbatim apart from the URL: `pip install -U --prerelease allow torch torchvision
    # torchaudio --index-url https://download.pytorch.org/whl/nightly/cu121`. The PyTorch index is
    # the only one, so everything comes from it (as with pip).
    for mirror in (True, False):
        result = runner.compile(
            "--prerelease",
            "allow",
            "torch",
            "torchvision",
            "torchaudio",
            "--index-url",
            runner.url("nightly/cu128"),
            mirror=mirror,
        )
        assert_only(
            result,
            {
                "torch": f"{NIGHTLY}+cu128",
                "torchvision": f"{NIGHTLY_VISION}+cu128",
                "pytorch-triton": PYTORCH_TRITON_NIGHTLY,
                "filelock": "3.13.1",  # the mirror's copy: it is the only index
            },
        )
        assert set(result.indexes().values()) == {"whl/nightly/cu128"}, mirror


def test_nightly_index_url_implies_the_nightly_channel(runner: Runner) -> None:
    # Without --prerelease: a nightly PyTorch index lets the torch family take pre-releases.
    result = runner.compile("torch", "--index-url", runner.url("nightly/cu128"))
    assert_only(result, {"torch": f"{NIGHTLY}+cu128", "pytorch-triton": PYTORCH_TRITON_NIGHTLY})


def test_nightly_does_not_download_every_torch(runner: Runner, pytorch_world: World) -> None:
    # Seed 001: with the nightly CPU index and nothing else configured, torch's deps resolve on
    # the first try; torchup never walks back through older torch wheels.
    pytorch_world.server.reset_stats()
    result = runner.compile(
        "torch>=2.5.1",
        "torchvision>=0.20.1",
        "--torch-backend",
        "cpu",
        "--torch-channel",
        "nightly",
    )
    assert_only(result, {"torch": f"{NIGHTLY}+cpu", "torchvision": f"{NIGHTLY_VISION}+cpu"})
    torch_files = {
        r.path for r in pytorch_world.server.requests if "/torch-" in r.path and ".whl" in r.path
    }
    assert torch_files and all(NIGHTLY in p for p in torch_files), torch_files
    assert "pytorch-triton" not in result.pins  # CPU nightlies carry no triton


# --- stale third-party mirrors on the PyTorch indexes -----------------------------------------


def test_stale_certifi_pin_still_comes_from_pypi(runner: Runner) -> None:
    # Seed 004's second half: `--extra-index-url .../whl/cu118` with `certifi==<old>` pinned.
    # certifi 2022.12.7 is on both indexes (the PyTorch one mirrors it); it must come from PyPI.
    reqs = runner.requirements("certifi==2022.12.7\ntorch\n")
    result = runner.compile(reqs, "--extra-index-url", runner.url("cu128"))
    assert_only(result, {"certifi": "2022.12.7", "torch": "2.9.1+cu128"})
    assert result.urls["certifi"] == f"{runner.pypi}/certifi-2022.12.7-py3-none-any.whl"
    assert result.index("torch") == "whl/cu128"
    _assert_from_pypi_except_family(result)


def test_certifi_pin_only_on_pypi_resolves(runner: Runner) -> None:
    # The seed's own pin (certifi==2024.2.2) is not on the PyTorch index at all: uv's
    # first-index rule made this unsatisfiable; torchup never asks the PyTorch index for certifi.
    reqs = runner.requirements("certifi==2024.2.2\ntorch==2.9.1+cu128\ntorchvision\n")
    result = runner.compile(reqs, "--extra-index-url", runner.url("cu128"))
    assert_only(result, {"certifi": "2024.2.2", "torchvision": "0.24.1+cu128"})
    assert result.index("certifi") == "pypi"


def test_unpinned_third_party_packages_take_the_newest_pypi_release(runner: Runner) -> None:
    result = runner.compile(
        "certifi", "requests", "torch", "--extra-index-url", runner.url("cu128")
    )
    assert_only(
        result,
        {
            "certifi": "2025.10.5",
            "requests": "2.32.5",
            "urllib3": "2.5.0",  # the PyTorch index has 1.26.13
            "idna": "3.11",
            "markupsafe": "3.0.3",  # not MarkupSafe 2.1.5 / 3.0.2 from the mirror (uv #9647)
        },
    )
    _assert_from_pypi_except_family(result)


# --- mirrors -----------------------------------------------------------------------------------


def test_mirror_base_url_flag_and_environment(
    runner: Runner, monkeypatch: pytest.MonkeyPatch
) -> None:
    flag = runner.compile("torch", "--torch-backend", "cu126", "--torch-index-url", runner.base)
    assert_only(flag, {"torch": "2.9.1+cu126"})
    assert flag.urls["torch"].startswith(f"{runner.base}/cu126/")
    env = runner.compile(
        "torch",
        "--torch-backend",
        "cu126",
        mirror=False,
        env={"TORCHUP_TORCH_INDEX_URL": runner.base},
        monkeypatch=monkeypatch,
    )
    assert env.pins == flag.pins and env.urls == flag.urls


def test_mirror_marks_listed_indexes_as_pytorch_ones(runner: Runner) -> None:
    # Without the mirror declared, .../whl/cu128 is just another index, first in line (uv's
    # first-index): its stale certifi shadows PyPI's. Declared, it serves only the torch family.
    reqs = ("certifi", "torch", "--extra-index-url", runner.url("cu128"))
    plain = runner.compile(*reqs, mirror=False)
    assert_only(plain, {"certifi": "2022.12.7"})
    assert plain.index("certifi") == "whl/cu128"
    declared = runner.compile(*reqs)
    assert_only(declared, {"certifi": "2025.10.5", "torch": "2.9.1+cu128"})
    assert declared.index("certifi") == "pypi"


# --- macOS, Windows, aarch64 -------------------------------------------------------------------


@pytest.mark.parametrize(
    "how",
    [
        ("--torch-backend", "cpu"),
        ("--torch-backend", "auto"),
        ("--torch-backend", "cu128"),  # no macOS CUDA builds exist: cpu, with a warning
        ("--extra-index-url", "cpu"),
    ],
)
def test_macos_takes_unlabelled_builds_from_whl_cpu(
    runner: Runner, monkeypatch: pytest.MonkeyPatch, how: tuple[str, str]
) -> None:
    flag, value = how
    if flag == "--extra-index-url":
        value = runner.url(value)
    # An NVIDIA override must not matter for a macOS target.
    env = {"TORCHUP_CUDA_DRIVER_VERSION": DRIVERS["580"], "TORCHUP_GPU_COMPUTE_CAPABILITY": "9.0"}
    result = runner.compile(
        "torch", "torchvision", flag, value, platform="macos", env=env, monkeypatch=monkeypatch
    )
    assert_only(result, {"torch": "2.9.1", "torchvision": "0.24.1"})
    assert (
        result.urls["torch"] == f"{runner.base}/cpu/torch-2.9.1-cp312-cp312-macosx_11_0_arm64.whl"
    )
    assert result.index("torchvision") == "whl/cpu"
    assert not result.labels()
    _assert_from_pypi_except_family(result)
    if value == "cu128":
        assert "--torch-backend cu128 does not exist for macOS" in result.err


def test_labelled_pin_on_macos_is_a_clear_error(runner: Runner) -> None:
    result = runner.compile(
        "torch==2.9.1+cpu", "--extra-index-url", runner.url("cpu"), platform="macos"
    )
    assert result.rc == 1
    assert (
        "torch==2.9.1+cpu has no wheel for macOS: macOS builds carry no local label" in result.err
    )
    assert "`torch==2.9.1+cpu; sys_platform != 'darwin'`" in result.err
    assert "`torch==2.9.1; sys_platform == 'darwin'`" in result.err


def test_windows_cuda_build_has_no_linux_only_deps(runner: Runner) -> None:
    result = runner.compile("torch", "--torch-backend", "cu128", platform="windows")
    assert_only(result, {"torch": "2.9.1+cu128"})
    assert result.urls["torch"].endswith("/torch-2.9.1%2Bcu128-cp312-cp312-win_amd64.whl")
    assert not [n for n in result.pins if n.startswith("nvidia-") or n == "triton"]


def test_old_linux_aarch64_cpu_wheels_are_unlabelled(runner: Runner) -> None:
    result = runner.compile(
        "torch==2.5.1", "--torch-backend", "cpu", platform="aarch64-manylinux_2_28"
    )
    assert_only(result, {"torch": "2.5.1"})
    assert result.urls["torch"].endswith("/cpu/torch-2.5.1-cp312-cp312-manylinux2014_aarch64.whl")


# --- never another accelerator's build ----------------------------------------------------------


def test_backend_never_takes_pypis_unlabelled_cuda_build(runner: Runner) -> None:
    # PyPI's Linux x86_64 torch 2.9.1 is a cu128 build; cu126 must come from whl/cu126.
    result = runner.compile("torch", "torchvision", "--torch-backend", "cu126")
    assert_only(result, {"torch": "2.9.1+cu126", "torchvision": "0.24.1+cu126"})
    assert result.pins["nvidia-cuda-runtime-cu12"] == "12.6.77"
    assert result.labels() == {"cu126"}


def test_backend_wins_over_a_listed_pytorch_index(runner: Runner) -> None:
    result = runner.compile(
        "torch", "--torch-backend", "cpu", "--extra-index-url", runner.url("cu128")
    )
    assert_only(result, {"torch": "2.9.1+cpu"})
    assert result.index("torch") == "whl/cpu"
    assert not [n for n in result.pins if n.startswith("nvidia-")]


def test_pin_naming_another_backend_is_a_clear_error(runner: Runner) -> None:
    result = runner.compile("torch==2.9.1+cu126", "--torch-backend", "cu128")
    assert result.rc == 1
    assert "available: 2.7.1+cu128, 2.8.0+cu128, 2.9.1+cu128" in result.err
    assert (
        "torch==2.9.1+cu126 is the cu126 build, but the torch backend is cu128: require "
        "torch==2.9.1 (no label), or use --torch-backend cu126"
    ) in result.err


def test_backend_without_a_build_of_that_torch_fails_instead_of_falling_back(
    runner: Runner,
) -> None:
    # torch 2.7.1 has no rocm6.4 build: no +cpu, no +cu128, no PyPI torch instead.
    result = runner.compile("torch==2.7.1", "--torch-backend", "rocm6.4")
    assert result.rc == 1
    assert "available: 2.8.0+rocm6.4, 2.9.1+rocm6.4" in result.err
