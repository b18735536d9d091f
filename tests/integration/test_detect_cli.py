"""``torchup detect``, in-process, with the detection overrides standing in for the machine.

The overrides (``TORCHUP_CUDA_DRIVER_VERSION``, ``TORCHUP_GPU_COMPUTE_CAPABILITY``,
``TORCHUP_AMD_GPU_ARCH``) pin what the probes would find, so these tests say the same on a
laptop and on a GPU server. The installed-torch check runs against a real virtual environment
holding a fake ``torch 2.11.0+cu130`` wheel built by ``tests/support/wheels.py``.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest
from tests.support.wheels import DistSpec, build_wheel

from torchup.cli.main import main
from torchup.install.interpreters import Interpreter, query_interpreter
from torchup.install.venv import create_venv
from torchup.install.wheel import install_wheel

LINUX_CUDA = 'platform_system == "Linux" and platform_machine == "x86_64"'


def _detect(
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    *args: str,
    **env: str,
) -> tuple[int, str, str]:
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    capsys.readouterr()
    rc = main(["detect", *args])
    captured = capsys.readouterr()
    return rc, captured.out, captured.err


# (driver, compute capability, --torch-version or None) -> backend, and a line of the "why"
DETECT_CASES = [
    ("575.57.08", "9.0", None, "cu128", "cu130 skipped: needs driver >= 580.65.06"),
    ("580.95.05", "9.0", None, "cu130", "chose cu130"),
    ("580.95.05", "6.1", None, "cu126", "no kernels for GPU (sm_61)"),
    ("580.95.05", "12.0", "2.7.1", "cu128", "torch 2.7.1 ships CUDA builds cu128, cu126, cu118"),
    ("550.163.01", "8.6", "2.5.1", "cu124", "chose cu124"),
    ("470.256.02", "8.6", None, "cpu", "the NVIDIA driver is too old for every CUDA build"),
]


@pytest.mark.parametrize(("driver", "cap", "torch", "backend", "why"), DETECT_CASES)
def test_detect_with_overrides(
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    driver: str,
    cap: str,
    torch: str | None,
    backend: str,
    why: str,
) -> None:
    args = ["--torch-version", torch] if torch else []
    rc, out, _ = _detect(
        capsys,
        monkeypatch,
        *args,
        TORCHUP_CUDA_DRIVER_VERSION=driver,
        TORCHUP_GPU_COMPUTE_CAPABILITY=cap,
    )
    assert rc == 0
    assert f"NVIDIA driver: {driver}" in out
    major, minor = cap.split(".")
    assert f"compute capability {cap} (sm_{major}{minor}, " in out
    assert "TORCHUP_CUDA_DRIVER_VERSION is set: driver facts from probes are ignored" in out
    assert f"Torch backend: {backend} (for torch {torch or '2.11'})" in out
    assert why in out


def test_detect_amd_override(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    rc, out, _ = _detect(
        capsys, monkeypatch, "--torch-version", "2.9.1", TORCHUP_AMD_GPU_ARCH="gfx1100"
    )
    assert rc == 0
    assert "AMD GPU architectures: gfx1100" in out
    assert "Torch backend: rocm6.4 (for torch 2.9.1)" in out


def test_detect_json_shape(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    rc, out, _ = _detect(
        capsys,
        monkeypatch,
        "--json",
        TORCHUP_CUDA_DRIVER_VERSION="575.57.08",
        TORCHUP_GPU_COMPUTE_CAPABILITY="9.0",
    )
    assert rc == 0
    data = json.loads(out)
    assert set(data) == {
        "os",
        "machine",
        "wsl",
        "gpus",
        "nvidia_driver",
        "cuda_driver_version",
        "amd_archs",
        "intel",
        "sources",
        "notes",
        "choice",
    }
    assert isinstance(data["wsl"], bool) and isinstance(data["intel"], bool)
    assert data["nvidia_driver"] == "575.57.08"
    assert data["cuda_driver_version"] is None  # pinned driver: probes' CUDA version ignored
    pinned = [g for g in data["gpus"] if g.get("source") == "TORCHUP_GPU_COMPUTE_CAPABILITY"]
    assert pinned == [
        {
            "vendor": "nvidia",
            "compute_capability": "9.0",
            "sm": "sm_90",
            "source": "TORCHUP_GPU_COMPUTE_CAPABILITY",
        }
    ]
    assert all(isinstance(s, str) for s in data["sources"] + data["notes"])
    choice = data["choice"]
    assert set(choice) == {"backend", "torch", "reasons", "warnings"}
    assert choice["backend"] == "cu128" and choice["torch"] == "2.11"
    assert choice["warnings"] == []
    assert choice["reasons"][-1].startswith("chose cu128: the newest CUDA build of torch 2.11")


def test_detect_invalid_override_is_a_config_error(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    rc, out, err = _detect(capsys, monkeypatch, TORCHUP_GPU_COMPUTE_CAPABILITY="ampere")
    assert rc != 0 and not out
    assert "invalid compute capability 'ampere'" in err
    assert "8.6" in err  # the hint shows the expected form


# --- an environment with torch installed -------------------------------------------------------


@pytest.fixture(scope="module")
def cu130_env(tmp_path_factory: pytest.TempPathFactory) -> Interpreter:
    """A venv with a fake ``torch 2.11.0+cu130`` (CUDA 13 Requires-Dist, as the real wheel)."""
    root = tmp_path_factory.mktemp("detect-env")
    base_exe = Path(getattr(sys, "_base_executable", sys.executable))
    base = query_interpreter(base_exe, cache_dir=root / "interp")
    env = create_venv(root / "venv", base)
    py = f"cp{sys.version_info.major}{sys.version_info.minor}"
    spec = DistSpec(
        "torch",
        "2.11.0+cu130",
        requires_dist=(
            "filelock",
            f"nvidia-cuda-runtime==13.0.96; {LINUX_CUDA}",
            f"nvidia-cublas==13.1.0.3; {LINUX_CUDA}",
            f"triton==3.6.0; {LINUX_CUDA}",
        ),
        requires_python=">=3.10",
        tags=f"{py}-{py}-manylinux_2_28_x86_64",
    )
    wheel = build_wheel(spec, root / "wheels")
    install_wheel(wheel, env.scheme, interpreter=env.executable, requested=True)
    return env


def test_detect_installed_cu130_torch_on_a_575_driver_fails(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, cu130_env: Interpreter
) -> None:
    rc, out, _ = _detect(
        capsys,
        monkeypatch,
        "--python",
        str(cu130_env.executable),
        TORCHUP_CUDA_DRIVER_VERSION="575.57.08",
        TORCHUP_GPU_COMPUTE_CAPABILITY="9.0",
    )
    assert rc == 1, out
    line = next(x for x in out.splitlines() if x.startswith("Installed torch:"))
    assert "torch 2.11.0+cu130" in line
    assert "580.65.06" in line  # the driver it needs
    assert "575.57.08" in line  # the driver there is
    assert "cu128" in line  # what to install instead


def test_detect_installed_torch_json_and_a_new_enough_driver(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, cu130_env: Interpreter
) -> None:
    python = str(cu130_env.sys_prefix)  # the environment's directory works as well
    rc, out, _ = _detect(
        capsys,
        monkeypatch,
        "--json",
        "--python",
        python,
        TORCHUP_CUDA_DRIVER_VERSION="575.57.08",
    )
    assert rc == 1
    installed = json.loads(out)["installed_torch"]
    assert installed["version"] == "2.11.0+cu130"
    assert installed["backend"] == "cu130"
    assert installed["backend_source"] == "local version label"
    assert installed["usable"] is False
    assert installed["suggestion"] == "cu128"
    assert "580.65.06" in installed["message"]

    rc, out, _ = _detect(
        capsys,
        monkeypatch,
        "--python",
        python,
        TORCHUP_CUDA_DRIVER_VERSION="580.95.05",
        TORCHUP_GPU_COMPUTE_CAPABILITY="9.0",
    )
    assert rc == 0, out
    assert "Installed torch: torch 2.11.0+cu130" in out
