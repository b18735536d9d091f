"""The real thing: the ~190 MB torch CPU wheel installed into a fresh venv, and imported.

Hermetic: torch comes from the find-links folder /opt/wheels (--no-deps) and its dependencies
from this machine's local PyPI mirror (file:///opt/pypi/simple); nothing touches the network.
Skipped where the wheel, the mirror or Python 3.11 is missing. The wall times (cold cache)
are printed (`pytest -s`) and recorded as junit properties.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest
from tests.integration.test_pip_install import Cli, Venv, _clean_env

WHEELS = Path("/opt/wheels")
TORCH_WHEEL = WHEELS / "torch-2.13.0+cpu-cp311-cp311-manylinux_2_28_x86_64.whl"
LOCAL_INDEX = Path("/opt/pypi/simple")
TORCH_DEPS = (
    "typing-extensions",
    "sympy",
    "networkx",
    "jinja2",
    "fsspec",
    "filelock",
    "mpmath",
    "markupsafe",
    "setuptools",
)


def _python311() -> str | None:
    if sys.version_info[:2] == (3, 11):
        return sys.executable
    return shutil.which("python3.11")


@pytest.fixture
def heavy_tmp(tmp_path: Path):  # type: ignore[no-untyped-def]
    """tmp_path, emptied afterwards along with the unpacked-wheel cache: ~750 MB per run would
    otherwise stay in the kept pytest temp dirs (and slow the session that finally deletes them)."""
    yield tmp_path
    shutil.rmtree(tmp_path, ignore_errors=True)
    cache = os.environ.get("TORCHUP_CACHE_DIR")
    if cache:
        shutil.rmtree(Path(cache) / "wheels-v1", ignore_errors=True)


@pytest.mark.slow
def test_install_real_torch_cpu_wheel(
    cli: Cli, heavy_tmp: Path, record_property: pytest.RecordProperty
) -> None:
    tmp_path = heavy_tmp
    if not TORCH_WHEEL.is_file():
        pytest.skip(f"{TORCH_WHEEL} is not on this machine")
    python = _python311()
    if python is None:
        pytest.skip("no python3.11 on this machine")
    missing = [d for d in TORCH_DEPS if not (LOCAL_INDEX / d).is_dir()]
    if missing:
        pytest.skip(f"the local index {LOCAL_INDEX} lacks {', '.join(missing)}")

    started = time.perf_counter()
    cli.ok("venv", tmp_path / ".venv", "--python", python)
    venv = Venv(tmp_path / ".venv")

    t0 = time.perf_counter()
    res = cli.ok(
        "pip",
        "install",
        "--no-index",
        "--find-links",
        WHEELS,
        "torch",
        "--no-deps",
        "--python",
        venv.root,
    )
    torch_s = time.perf_counter() - t0
    assert " + torch==2.13.0+cpu" in res.err

    t0 = time.perf_counter()
    # The dependencies are resolved (among themselves) against the local mirror: with
    # --no-deps the newest mpmath (1.4.1) would go in, which sympy 1.14 refuses (<1.4).
    res = cli.ok(
        "pip",
        "install",
        "--index-url",
        LOCAL_INDEX.as_uri(),
        *TORCH_DEPS,
        "--python",
        venv.root,
    )
    deps_s = time.perf_counter() - t0
    assert res.err.count(" + ") == len(TORCH_DEPS), res.err

    t0 = time.perf_counter()
    proc = subprocess.run(
        [str(venv.python), "-c", "import torch; print(torch.ones(3).sum())"],
        capture_output=True,
        text=True,
        env=_clean_env(),
        cwd=tmp_path,
        timeout=300,
    )
    import_s = time.perf_counter() - t0
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "tensor(3.)"
    total_s = time.perf_counter() - started

    # everything torch needs is there, as `pip check` sees it
    check = cli("pip", "check", "--python", venv.root)
    assert check.rc == 0, check.out

    # a second venv from the warm cache: hard links, no unpacking
    cli.ok("venv", tmp_path / "warm", "--python", python)
    t0 = time.perf_counter()
    cli.ok(
        "pip",
        "install",
        "--no-index",
        "--find-links",
        WHEELS,
        "torch",
        "--no-deps",
        "--python",
        tmp_path / "warm",
    )
    warm_s = time.perf_counter() - t0
    lib = next((tmp_path / "warm" / "lib").glob("python3.*/site-packages/torch/lib"))
    so = next(lib.glob("libtorch_cpu*.so*"))
    assert so.stat().st_nlink >= 2  # shared with the unpacked cache (and the first venv)

    times = {
        "torch_install_cold_s": round(torch_s, 2),
        "deps_install_s": round(deps_s, 2),
        "import_and_sum_s": round(import_s, 2),
        "total_s": round(total_s, 2),
        "torch_install_warm_s": round(warm_s, 2),
    }
    for key, value in times.items():
        record_property(key, value)
    print("\nheavy torch wall times:", ", ".join(f"{k}={v}" for k, v in times.items()))
