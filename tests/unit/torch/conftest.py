"""Replaying machine captures (tests/fixtures/machines/<machine>/*.txt) for torch tests.

A capture file is ``$ command`` / output / ``[exit N]``. :func:`machine_system` turns a
machine's directory into a :class:`System`: a fake sysfs/procfs tree under ``tmp_path`` built
from the file captures, a command runner that replays the command captures, and a library
loader that replays ``ctypes-probe.txt`` (NVML, libcuda) where there is one.
"""

from __future__ import annotations

import ctypes
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from torchup.torch.detect import CommandResult, System

MACHINES = Path(__file__).resolve().parents[2] / "fixtures" / "machines"


@dataclass(frozen=True)
class Capture:
    command: str
    output: str
    exit: int


def read_capture(path: Path) -> Capture:
    lines = path.read_text().splitlines()
    assert lines[0].startswith("$ "), path
    m = re.fullmatch(r"\[exit (\d+)\]", lines[-1])
    assert m, path
    return Capture(lines[0][2:], "\n".join(lines[1:-1]) + "\n", int(m.group(1)))


def _command_key(command: str | Sequence[str]) -> str:
    text = command if isinstance(command, str) else " ".join(command)
    text = text.removeprefix("sh -c ")
    first, _, rest = text.partition(" ")
    first = first.replace("\\", "/").rsplit("/", 1)[-1].removesuffix(".exe")
    return f"{first} {rest}".strip()


class FakeNvml:
    """Answers NVML calls with fixed values, writing through ctypes pointers like the real one."""

    def __init__(self, driver: str, cuda: int, devices: Sequence[tuple[str, tuple[int, int]]]):
        self.driver, self.cuda, self.devices = driver, cuda, list(devices)
        self.shut_down = False

    def nvmlInit_v2(self) -> int:
        return 0

    def nvmlSystemGetDriverVersion(self, buf: Any, length: Any) -> int:
        buf.value = self.driver.encode()
        return 0

    def nvmlSystemGetCudaDriverVersion_v2(self, ref: Any) -> int:
        ref._obj.value = self.cuda
        return 0

    def nvmlDeviceGetCount_v2(self, ref: Any) -> int:
        ref._obj.value = len(self.devices)
        return 0

    def nvmlDeviceGetHandleByIndex_v2(self, index: ctypes.c_uint, ref: Any) -> int:
        ref._obj.value = index.value + 1
        return 0

    def nvmlDeviceGetName(self, handle: ctypes.c_void_p, buf: Any, length: Any) -> int:
        assert handle.value is not None
        buf.value = self.devices[handle.value - 1][0].encode()
        return 0

    def nvmlDeviceGetCudaComputeCapability(
        self, handle: ctypes.c_void_p, major: Any, minor: Any
    ) -> int:
        assert handle.value is not None
        major._obj.value, minor._obj.value = self.devices[handle.value - 1][1]
        return 0

    def nvmlShutdown(self) -> int:
        self.shut_down = True
        return 0


class FakeLibcuda:
    def __init__(self, version: int):
        self.version = version

    def cuDriverGetVersion(self, ref: Any) -> int:
        ref._obj.value = self.version
        return 0


def libraries_from_ctypes_probe(text: str) -> dict[str, Any]:
    """Fake NVML and libcuda replaying the values a ctypes-probe capture recorded."""
    driver = re.search(r"nvmlSystemGetDriverVersion 0 b'([^']+)'", text)
    cuda = re.search(r"nvmlSystemGetCudaDriverVersion_v2 0 (\d+)", text)
    api = re.search(r"cuDriverGetVersion 0 (\d+)", text)
    devices = [
        (m.group(2), (int(m.group(3)[:-1]), int(m.group(3)[-1])))
        for m in re.finditer(r"device (\d+) (.+) sm_(\d+)", text)
    ]
    libs: dict[str, Any] = {}
    if driver and cuda:
        libs["libnvidia-ml.so.1"] = FakeNvml(driver.group(1), int(cuda.group(1)), devices)
    if api:
        libs["libcuda.so.1"] = FakeLibcuda(int(api.group(1)))
    return libs


def _build_tree(machine: Path, root: Path) -> None:
    if (root / ".built").exists():
        return
    sys_root, proc_root = root / "sys", root / "proc"
    sys_root.mkdir(parents=True, exist_ok=True)
    proc_root.mkdir(parents=True, exist_ok=True)
    files = {
        "sys-module.txt": sys_root / "module" / "nvidia" / "version",
        "proc-driver.txt": proc_root / "driver" / "nvidia" / "version",
        "proc-version.txt": proc_root / "version",
    }
    for name, target in files.items():
        path = machine / name
        if path.exists():
            cap = read_capture(path)
            if cap.exit == 0:
                target.parent.mkdir(parents=True, exist_ok=True)
                target.write_text(cap.output)
    for path in machine.glob("kfd-node*-properties.txt"):
        node = re.search(r"kfd-node(\d+)-", path.name)
        assert node
        d = sys_root / "class" / "kfd" / "kfd" / "topology" / "nodes" / node.group(1)
        d.mkdir(parents=True, exist_ok=True)
        (d / "properties").write_text(read_capture(path).output)
    pci = machine / "pci.txt"
    if pci.exists():
        devices = sys_root / "bus" / "pci" / "devices"
        drivers = sys_root / "bus" / "pci" / "drivers"
        devices.mkdir(parents=True, exist_ok=True)
        for line in read_capture(pci).output.splitlines():
            m = re.match(
                r"\S*/([0-9a-f:.]+) vendor=(\S+) device=(\S+) class=(\S+) driver=(\S*)", line
            )
            if not m:
                continue
            d = devices / m.group(1)
            d.mkdir()
            (d / "vendor").write_text(m.group(2) + "\n")
            (d / "device").write_text(m.group(3) + "\n")
            (d / "class").write_text(m.group(4) + "\n")
            if m.group(5):
                (drivers / m.group(5)).mkdir(parents=True, exist_ok=True)
                (d / "driver").symlink_to(drivers / m.group(5))
    (root / ".built").write_text("")


def make_system(
    machine: str,
    root: Path,
    *,
    os: str = "linux",
    machine_arch: str = "x86_64",
    wsl: bool = False,
    libraries: bool = True,
) -> System:
    """A System replaying ``tests/fixtures/machines/<machine>``."""
    d = MACHINES / machine
    _build_tree(d, root)
    commands: dict[str, CommandResult] = {}
    missing: set[str] = set()
    # Shortest file name first, first wins: nvidia-smi.txt over nvidia-smi-after-upgrade.txt.
    for path in sorted(d.glob("*.txt"), key=lambda p: (len(p.name), p.name)):
        cap = read_capture(path)
        key = _command_key(cap.command)
        if cap.command.startswith("cat ") or key.startswith("sh ") or key in commands:
            continue
        if cap.exit == 127:
            missing.add(key.split(" ", 1)[0])
            continue
        commands[key] = CommandResult(cap.exit, cap.output, "")
    tools = {k.split(" ", 1)[0] for k in commands} - missing
    libs = {}
    probe = d / "ctypes-probe.txt"
    if libraries and probe.exists():
        libs = libraries_from_ctypes_probe(read_capture(probe).output)

    def run(argv: Sequence[str]) -> CommandResult | None:
        return commands.get(_command_key(argv))

    def which(name: str) -> str | None:
        return name if name in tools else None

    return System(
        os=os,
        machine=machine_arch,
        wsl=wsl,
        sys_root=root / "sys",
        proc_root=root / "proc",
        wsl_lib_dir=root / "wsl-lib",
        rocm_bin_dir=root / "rocm-bin",
        run=run,
        which=which,
        load_library=lambda name: libs.get(name.rsplit("/", 1)[-1]),
    )


@pytest.fixture
def capture() -> Callable[[str, str], Capture]:
    """``capture(machine, file)``: a parsed capture file."""
    return lambda machine, name: read_capture(MACHINES / machine / name)


@pytest.fixture
def machine_system(tmp_path: Path) -> Callable[..., System]:
    """``machine_system(machine, os=..., wsl=..., libraries=...)``: a replaying System."""
    return lambda machine, **kw: make_system(machine, tmp_path / machine, **kw)


@pytest.fixture
def fake_nvml() -> type[FakeNvml]:
    return FakeNvml


@pytest.fixture
def fake_libcuda() -> type[FakeLibcuda]:
    return FakeLibcuda
