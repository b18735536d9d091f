"""Detection: every parser against the machine captures, readers against fake trees, detect()."""

from __future__ import annotations

import ctypes
import json
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import pytest
from packaging.version import Version

from torchup.errors import ConfigError
from torchup.torch.backend import choose_backend, normalize_machine, normalize_os
from torchup.torch.detect import (
    DEFAULT_PROBES,
    CommandResult,
    Detection,
    Facts,
    Gpu,
    Probe,
    System,
    cuda_version_from_int,
    detect,
    gfx_arch_from_target_version,
    inspect_installed_torch,
    kfd_node_gpu,
    load_library,
    parse_amd_smi,
    parse_cuda_version,
    parse_kfd_properties,
    parse_nvidia_smi_list,
    parse_nvidia_smi_query_csv,
    parse_nvidia_smi_table,
    parse_nvidia_smi_xml,
    parse_overrides,
    parse_pci_listing,
    parse_proc_driver_version,
    parse_proc_version_is_wsl,
    parse_rocm_agent_enumerator,
    parse_sys_module_version,
    parse_sysctl_cpu_brand,
    parse_torch_distribution,
    parse_win32_video_controllers,
    read_kfd_topology,
    read_libcuda_version,
    read_nvml,
    read_pci_devices,
    read_proc_driver_version,
    read_sys_module_version,
    run_command,
)

H100 = "nvidia-h100-driver580"

# --- the real H100 capture, file by file ---------------------------------------------------------


def test_h100_query_csv(capture: Callable[..., Any]) -> None:
    report = parse_nvidia_smi_query_csv(capture(H100, "nvidia-smi-query.txt").output)
    assert report.driver_version == "580.159.04" and report.error is None
    (gpu,) = report.gpus
    assert gpu.name == "NVIDIA H100 80GB HBM3"
    assert gpu.compute_capability == (9, 0) and gpu.sm == "sm_90"
    assert gpu.memory_mib == 81559 and gpu.pci_bus_id == "00000000:00:06.0"


def test_h100_query_noheader(capture: Callable[..., Any]) -> None:
    report = parse_nvidia_smi_query_csv(capture(H100, "nvidia-smi-query-noheader.txt").output)
    assert report.driver_version == "580.159.04" and report.gpus == ()


def test_h100_table(capture: Callable[..., Any]) -> None:
    report = parse_nvidia_smi_table(capture(H100, "nvidia-smi.txt").output)
    assert (report.driver_version, report.cuda_driver_version) == ("580.159.04", (13, 0))
    (gpu,) = report.gpus
    assert (gpu.name, gpu.memory_mib, gpu.pci_bus_id) == (
        "NVIDIA H100 80GB HBM3",
        81559,
        "00000000:00:06.0",
    )


def test_h100_xml(capture: Callable[..., Any]) -> None:
    report = parse_nvidia_smi_xml(capture(H100, "nvidia-smi-x.txt").output)
    assert (report.driver_version, report.cuda_driver_version) == ("580.159.04", (13, 0))
    (gpu,) = report.gpus
    assert gpu.name == "NVIDIA H100 80GB HBM3" and gpu.family == "Hopper"
    assert gpu.pci_id == "10de:2330" and gpu.memory_mib == 81559
    assert gpu.compute_capability is None  # the XML has none


def test_h100_list_and_kernel_files(capture: Callable[..., Any]) -> None:
    (gpu,) = parse_nvidia_smi_list(capture(H100, "nvidia-smi-L.txt").output)
    assert gpu.name == "NVIDIA H100 80GB HBM3"
    assert parse_proc_driver_version(capture(H100, "proc-driver.txt").output) == "580.159.04"
    assert parse_sys_module_version(capture(H100, "sys-module.txt").output) == "580.159.04"


def test_h100_pci_counts_only_the_gpu(capture: Callable[..., Any]) -> None:
    # The 0x8086 device is a host bridge (class 0x0600): not an Intel GPU.
    (gpu,) = parse_pci_listing(capture(H100, "pci.txt").output)
    assert (gpu.vendor, gpu.pci_id, gpu.pci_bus_id) == ("nvidia", "10de:2330", "0000:00:06.0")
    assert gpu.source == "pci (nvidia)"


def test_h100_ctypes_probe_through_fake_libraries(
    capture: Callable[..., Any], fake_nvml: Any, fake_libcuda: Any
) -> None:
    text = capture(H100, "ctypes-probe.txt").output
    nvml = fake_nvml("580.159.04", 13000, [("NVIDIA H100 80GB HBM3", (9, 0))])
    assert "nvmlSystemGetDriverVersion 0 b'580.159.04'" in text
    assert "nvmlSystemGetCudaDriverVersion_v2 0 13000" in text
    reading = read_nvml(lambda name: nvml if name == "libnvidia-ml.so.1" else None)
    assert reading is not None and nvml.shut_down
    report = reading.report()
    assert (report.driver_version, report.cuda_driver_version) == ("580.159.04", (13, 0))
    assert report.gpus[0].compute_capability == (9, 0)
    assert "cuDriverGetVersion 0 13000" in text
    assert read_libcuda_version(lambda name: fake_libcuda(13000)) == 13000
    assert cuda_version_from_int(13000) == (13, 0)


def test_h100_library_names_match_ldconfig(capture: Callable[..., Any]) -> None:
    # The sonames the NVML/libcuda probes dlopen are the ones the loader knows.
    text = capture(H100, "ldconfig.txt").output
    assert "libnvidia-ml.so.1 (libc6,x86-64)" in text and "libcuda.so.1 (libc6,x86-64)" in text


def test_h100_platform_captures(capture: Callable[..., Any]) -> None:
    osrelease = capture(H100, "osrelease.txt").output
    assert not parse_proc_version_is_wsl(osrelease)
    env = json.loads(capture(H100, "tags.txt").output.split("\n[")[0])
    assert normalize_os(env["platform_system"]) == "linux"
    assert normalize_machine(env["platform_machine"]) == "x86_64"


def test_h100_installed_torch(capture: Callable[..., Any]) -> None:
    detection = Detection(
        gpus=(Gpu("nvidia", name="NVIDIA H100 80GB HBM3", compute_capability=(9, 0)),),
        nvidia_driver="580.159.04",
        cuda_driver_version=(13, 0),
    )
    version = capture(H100, "torch-info.txt").output.split()[0]
    assert version == "2.11.0+cu130"
    installed = inspect_installed_torch(version, detection)
    assert installed.usable is True and installed.backend is not None
    assert installed.backend.name == "cu130" and installed.backend_source == "local version label"
    # importlib.metadata says 2.11.0 (PyPI's wheel): the backend comes from Requires-Dist.
    dist = capture(H100, "dist-info.txt").output
    parsed, requires = parse_torch_distribution(dist)
    assert parsed == Version("2.11.0") and any(r.startswith("cuda-toolkit") for r in requires)
    from_dist = inspect_installed_torch(dist, detection)
    assert from_dist.backend is not None and from_dist.backend.name == "cu130"
    assert from_dist.backend_source == "Requires-Dist" and from_dist.usable
    pip_line = next(
        ln for ln in capture(H100, "pip-torch.txt").output.splitlines() if ln.startswith("torch ")
    )
    from_pip = inspect_installed_torch(pip_line.split()[1], detection)
    assert from_pip.backend is not None and from_pip.backend.name == "cu130"
    assert from_pip.backend_source == "PyPI's build for linux x86_64"


# --- every capture, table-driven -----------------------------------------------------------------

TABLES = [
    # machine, driver, CUDA, [(name, memory)]
    ("nvidia-k80-driver470", "470.256.02", (11, 4), [("Tesla K80", 11441), ("Tesla K80", 11441)]),
    ("nvidia-gtx1080ti-driver535", "535.183.01", (12, 2), [("NVIDIA GeForce GTX 1080 Ti", 11264)]),
    ("nvidia-rtx4090-driver550", "550.144.03", (12, 4), [("NVIDIA GeForce RTX 4090", 24564)]),
    (
        "nvidia-a100-v100-driver570",
        "570.133.20",
        (12, 8),
        [("NVIDIA A100 80GB PCIe", 81920), ("Tesla V100-PCIE-32GB", 32768)],
    ),
    ("nvidia-rtx5090-driver575", "575.57.08", (12, 9), [("NVIDIA GeForce RTX 5090", 32607)]),
    ("nvidia-h100-driver580", "580.159.04", (13, 0), [("NVIDIA H100 80GB HBM3", 81559)]),
    ("nvidia-wsl2-rtx3060-driver576", "576.80", (12, 9), [("NVIDIA GeForce RTX 3060", 12288)]),
    ("nvidia-windows-rtx4070-driver581", "581.57", (13, 0), [("NVIDIA GeForce RTX 4070", 12282)]),
]


@pytest.mark.parametrize(("machine", "driver", "cuda", "gpus"), TABLES)
def test_nvidia_smi_tables(
    capture: Callable[..., Any],
    machine: str,
    driver: str,
    cuda: tuple[int, int],
    gpus: list[tuple[str, int]],
) -> None:
    report = parse_nvidia_smi_table(capture(machine, "nvidia-smi.txt").output)
    assert (report.driver_version, report.cuda_driver_version) == (driver, cuda)
    assert [(g.name, g.memory_mib) for g in report.gpus] == gpus


QUERIES = [
    ("nvidia-gtx1080ti-driver535", "nvidia-smi-query.txt", "535.183.01", [(6, 1)]),
    ("nvidia-rtx4090-driver550", "nvidia-smi-query.txt", "550.144.03", [(8, 9)]),
    ("nvidia-a100-v100-driver570", "nvidia-smi-query.txt", "570.133.20", [(8, 0), (7, 0)]),
    ("nvidia-a100-v100-driver570", "nvidia-smi-query-nounits.txt", "570.133.20", [(8, 0), (7, 0)]),
    ("nvidia-rtx5090-driver575", "nvidia-smi-query.txt", "575.57.08", [(12, 0)]),
    ("nvidia-wsl2-rtx3060-driver576", "nvidia-smi-query.txt", "576.80", [(8, 6)]),
    ("nvidia-windows-rtx4070-driver581", "nvidia-smi-query.txt", "581.57", [(8, 9)]),
    ("nvidia-k80-driver470", "nvidia-smi-query-nocap.txt", "470.256.02", [None, None]),
    ("nvidia-rtx4090-driver550", "nvidia-smi-query-noheader.txt", "550.144.03", []),
]


@pytest.mark.parametrize(("machine", "name", "driver", "caps"), QUERIES)
def test_nvidia_smi_queries(
    capture: Callable[..., Any], machine: str, name: str, driver: str, caps: list[Any]
) -> None:
    report = parse_nvidia_smi_query_csv(capture(machine, name).output)
    assert report.driver_version == driver
    assert [g.compute_capability for g in report.gpus] == caps


def test_query_with_a_field_the_driver_lacks(capture: Callable[..., Any]) -> None:
    cap = capture("nvidia-k80-driver470", "nvidia-smi-query.txt")
    assert cap.exit == 2
    report = parse_nvidia_smi_query_csv(cap.output)
    assert report.gpus == () and report.driver_version is None
    assert report.error == 'Field "compute_cap" is not a valid field to query.'


def test_query_without_header_uses_given_fields() -> None:
    report = parse_nvidia_smi_query_csv(
        "NVIDIA A10, 535.54.03, 8.6\n", fields=("name", "driver_version", "compute_cap")
    )
    assert report.gpus[0].compute_capability == (8, 6) and report.driver_version == "535.54.03"
    na = parse_nvidia_smi_query_csv("name, compute_cap\nGRID T4-16Q, [N/A]\n")
    assert na.gpus[0].compute_capability is None and na.gpus[0].name == "GRID T4-16Q"


def test_nvidia_smi_error_outputs(capture: Callable[..., Any]) -> None:
    cap = capture("nvidia-rtx4090-driver550", "nvidia-smi-after-upgrade.txt")
    report = parse_nvidia_smi_table(cap.output)
    assert cap.exit == 18 and report.driver_version is None and report.gpus == ()
    assert report.error == "Failed to initialize NVML: Driver/library version mismatch"
    no_driver = parse_nvidia_smi_table(
        "NVIDIA-SMI has failed because it couldn't communicate with the NVIDIA driver. Make sure "
        "that the latest NVIDIA driver is installed and running.\n"
    )
    assert no_driver.error and no_driver.error.startswith("NVIDIA-SMI has failed")
    assert parse_nvidia_smi_xml("<not xml").error


def test_nvidia_smi_xml_535(capture: Callable[..., Any]) -> None:
    report = parse_nvidia_smi_xml(capture("nvidia-gtx1080ti-driver535", "nvidia-smi-x.txt").output)
    assert (report.driver_version, report.cuda_driver_version) == ("535.183.01", (12, 2))
    (gpu,) = report.gpus
    assert (gpu.name, gpu.family, gpu.pci_id) == (
        "NVIDIA GeForce GTX 1080 Ti",
        "Pascal",
        "10de:1b06",
    )


@pytest.mark.parametrize(
    ("machine", "version"),
    [
        ("nvidia-k80-driver470", "470.256.02"),
        ("nvidia-gtx1080ti-driver535", "535.183.01"),
        ("nvidia-rtx4090-driver550", "550.144.03"),
        ("nvidia-a100-v100-driver570", "570.133.20"),
        ("nvidia-rtx5090-driver575", "575.57.08"),
        ("nvidia-h100-driver580", "580.159.04"),
    ],
)
def test_kernel_module_files(capture: Callable[..., Any], machine: str, version: str) -> None:
    assert parse_proc_driver_version(capture(machine, "proc-driver.txt").output) == version
    assert parse_sys_module_version(capture(machine, "sys-module.txt").output) == version


@pytest.mark.parametrize(
    ("text", "version"),
    [
        (
            "NVRM version: NVIDIA UNIX x86_64 Kernel Module for GRID 17.3  550.90.07  Release "
            "Build  (dvs-builder@U16-I3-B03-4-3)  Wed Jun  5 23:55:12 UTC 2024\n",
            "550.90.07",
        ),
        (
            "NVRM version: NVIDIA UNIX x86_64 Kernel Module  375.74  Wed Jun 14 01:39:39 PDT 2017",
            "375.74",
        ),
        ("GCC version:  gcc version 12.3.0\n", None),
        ("", None),
    ],
)
def test_proc_driver_variants(text: str, version: str | None) -> None:
    assert parse_proc_driver_version(text) == version


def test_sys_module_rejects_garbage() -> None:
    assert parse_sys_module_version("not a version\n") is None
    assert parse_cuda_version("N/A") is None and cuda_version_from_int(0) is None
    assert cuda_version_from_int(12080) == (12, 8) and cuda_version_from_int(11040) == (11, 4)


# --- AMD -----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "arch"),
    [
        (90010, "gfx90a"),
        (90402, "gfx942"),
        (90500, "gfx950"),
        (100300, "gfx1030"),
        (100301, "gfx1031"),
        (100306, "gfx1036"),
        (110000, "gfx1100"),
        (110501, "gfx1151"),
        (120001, "gfx1201"),
        (0, None),
        (-1, None),
    ],
)
def test_gfx_arch_from_target_version(value: int, arch: str | None) -> None:
    assert gfx_arch_from_target_version(value) == arch


@pytest.mark.parametrize(
    ("machine", "node", "arch", "pci_id", "bus"),
    [
        ("amd-rx7900xtx-rocm", 0, None, None, None),
        ("amd-rx7900xtx-rocm", 1, "gfx1100", "1002:744c", "0000:03:00.0"),
        ("amd-rx7900xtx-rocm", 2, "gfx1036", "1002:13c0", "0000:0e:00.0"),
        ("amd-rx6700xt-rocm", 1, "gfx1031", "1002:73df", "0000:0b:00.0"),
    ],
)
def test_kfd_nodes(
    capture: Callable[..., Any],
    machine: str,
    node: int,
    arch: str | None,
    pci_id: str | None,
    bus: str | None,
) -> None:
    props = parse_kfd_properties(capture(machine, f"kfd-node{node}-properties.txt").output)
    gpu = kfd_node_gpu(props, str(node))
    if arch is None:
        assert gpu is None
    else:
        assert gpu is not None
        assert (gpu.arch, gpu.pci_id, gpu.pci_bus_id) == (arch, pci_id, bus)


@pytest.mark.parametrize(
    ("machine", "archs"),
    [
        ("amd-rx7900xtx-rocm", ("gfx1100", "gfx1036")),
        ("amd-rx6700xt-rocm", ("gfx1031",)),
        ("amd-mi300x-rocm", ("gfx942", "gfx942")),
    ],
)
def test_rocm_agent_enumerator(
    capture: Callable[..., Any], machine: str, archs: tuple[str, ...]
) -> None:
    assert (
        parse_rocm_agent_enumerator(capture(machine, "rocm-agent-enumerator.txt").output) == archs
    )


def test_amd_smi_text(capture: Callable[..., Any]) -> None:
    gpus = parse_amd_smi(capture("amd-rx7900xtx-rocm", "amd-smi-static.txt").output)
    assert [(g.name, g.arch, g.pci_id, g.pci_bus_id) for g in gpus] == [
        ("Radeon RX 7900 XTX", "gfx1100", "1002:744c", "0000:03:00.0"),
        ("AMD Radeon(TM) Graphics", "gfx1036", "1002:13c0", "0000:0e:00.0"),
    ]


def test_amd_smi_json(capture: Callable[..., Any]) -> None:
    gpus = parse_amd_smi(capture("amd-mi300x-rocm", "amd-smi-static-json.txt").output)
    assert [(g.name, g.arch, g.pci_bus_id) for g in gpus] == [
        ("AMD Instinct MI300X", "gfx942", "0000:05:00.0"),
        ("AMD Instinct MI300X", "gfx942", "0000:26:00.0"),
    ]
    assert (
        parse_amd_smi('{"gpu_data": [{"gpu": 0, "asic": {"target_graphics_version": "gfx90a"}}]}')[
            0
        ].arch
        == "gfx90a"
    )
    assert parse_amd_smi("[not json") == ()
    assert (
        parse_amd_smi("GPU: 0\n    ASIC:\n        TARGET_GRAPHICS_VERSION: N/A\n")[0].arch is None
    )


# --- PCI, WSL, Windows, macOS ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("machine", "expected"),
    [
        (H100, [("nvidia", "10de:2330", False)]),
        (
            "nvidia-gtx1080ti-driver535",
            [("intel", "8086:3e92", False), ("nvidia", "10de:1b06", False)],
        ),
        (
            "nvidia-a100-v100-driver570",
            [("nvidia", "10de:20b5", False), ("nvidia", "10de:1db6", False)],
        ),
        ("amd-rx7900xtx-rocm", [("amd", "1002:744c", False), ("amd", "1002:13c0", False)]),
        ("amd-mi300x-rocm", [("amd", "1002:74a1", False), ("amd", "1002:74a1", False)]),
        ("intel-arc-a770", [("intel", "8086:56a0", True)]),
        ("intel-core-ultra-laptop", [("intel", "8086:7d55", True)]),  # the NPU is class 0x1200
        ("cpu-only-vm", []),  # QEMU's VGA (0x1234) is no GPU maker
    ],
)
def test_pci_listings(
    capture: Callable[..., Any], machine: str, expected: list[tuple[str, str, bool]]
) -> None:
    gpus = parse_pci_listing(capture(machine, "pci.txt").output)
    assert [(g.vendor, g.pci_id, g.xpu_supported) for g in gpus] == expected


def test_win32_video_controllers(capture: Callable[..., Any]) -> None:
    text = capture("nvidia-windows-rtx4070-driver581", "win32-video-controller.txt").output
    gpus = parse_win32_video_controllers(text)
    assert [(g.vendor, g.name, g.pci_id) for g in gpus] == [
        ("nvidia", "NVIDIA GeForce RTX 4070", "10de:2786"),
        ("intel", "Intel(R) UHD Graphics 770", "8086:4680"),
    ]
    assert not gpus[1].xpu_supported


def test_wsl_and_macos_captures(capture: Callable[..., Any]) -> None:
    assert parse_proc_version_is_wsl(
        capture("nvidia-wsl2-rtx3060-driver576", "proc-version.txt").output
    )
    listing = capture("nvidia-wsl2-rtx3060-driver576", "ls-wsl-lib.txt").output.split()
    assert {"nvidia-smi", "libnvidia-ml.so.1", "libcuda.so.1"} <= set(listing)
    gpu = parse_sysctl_cpu_brand(capture("macos-arm64", "sysctl.txt").output)
    assert gpu is not None and gpu.vendor == "apple" and gpu.name == "Apple M2 Pro GPU"
    assert "Apple M2 Pro" in capture("macos-arm64", "system-profiler.txt").output
    assert parse_sysctl_cpu_brand("Intel(R) Core(TM) i9-9880H CPU @ 2.30GHz") is None


# --- readers against fake trees --------------------------------------------------------------------


def test_kernel_file_readers(tmp_path: Path) -> None:
    assert read_sys_module_version(tmp_path) is None
    assert read_proc_driver_version(tmp_path) is None
    (tmp_path / "module" / "nvidia").mkdir(parents=True)
    (tmp_path / "module" / "nvidia" / "version").write_text("575.57.08\n")
    assert read_sys_module_version(tmp_path) == "575.57.08"
    (tmp_path / "driver" / "nvidia").mkdir(parents=True)
    (tmp_path / "driver" / "nvidia" / "version").write_text(
        "NVRM version: NVIDIA UNIX Open Kernel Module for x86_64  575.57.08  Release Build  "
        "(dvs-builder@U22-I3-AE18-09-3)  Sat May 24 07:03:13 UTC 2025\n"
    )
    assert read_proc_driver_version(tmp_path) == "575.57.08"


def test_kfd_reader(tmp_path: Path) -> None:
    nodes = tmp_path / "class" / "kfd" / "kfd" / "topology" / "nodes"
    assert read_kfd_topology(tmp_path) == ()
    for name, props in {
        "0": "cpu_cores_count 8\nsimd_count 0\ngfx_target_version 0\n",
        "10": "simd_count 304\ngfx_target_version 90402\nvendor_id 4098\ndevice_id 29857\n",
        "2": "simd_count 220\ngfx_target_version 90010\nvendor_id 4098\ndevice_id 29704\n",
        "not-a-node": "simd_count 1\ngfx_target_version 110000\n",
    }.items():
        (nodes / name).mkdir(parents=True)
        (nodes / name / "properties").write_text(props)
    (nodes / "3").mkdir()  # a node without properties is skipped
    gpus = read_kfd_topology(tmp_path)
    assert [(g.arch, g.pci_id, g.source) for g in gpus] == [
        ("gfx90a", "1002:7408", "kfd node 2"),
        ("gfx942", "1002:74a1", "kfd node 10"),
    ]


def test_pci_reader(tmp_path: Path) -> None:
    devices = tmp_path / "bus" / "pci" / "devices"
    drivers = tmp_path / "bus" / "pci" / "drivers"
    assert read_pci_devices(tmp_path) == ()
    for address, vendor, device, klass, driver in [
        ("0000:00:00.0", "0x8086", "0x0d57", "0x060000", None),
        ("0000:00:02.0", "0x8086", "0x56a0", "0x030000", "xe"),
        ("0000:00:06.0", "0x10de", "0x2330", "0x030200", None),
        ("0000:00:0b.0", "0x8086", "0x7d1d", "0x120000", "intel_vpu"),
    ]:
        d = devices / address
        d.mkdir(parents=True)
        (d / "vendor").write_text(vendor + "\n")
        (d / "device").write_text(device + "\n")
        (d / "class").write_text(klass + "\n")
        if driver:
            (drivers / driver).mkdir(parents=True)
            (d / "driver").symlink_to(drivers / driver)
    (devices / "0000:00:1f.0").mkdir()  # unreadable: no files
    gpus = read_pci_devices(tmp_path)
    assert [(g.vendor, g.pci_id, g.source) for g in gpus] == [
        ("intel", "8086:56a0", "pci (xe)"),
        ("nvidia", "10de:2330", "pci (no driver bound)"),
    ]


class _BrokenNvml:
    def nvmlInit_v2(self) -> int:
        return 9  # NVML_ERROR_DRIVER_NOT_LOADED


def test_nvml_reader_never_raises(fake_nvml: Any) -> None:
    assert read_nvml(lambda name: None) is None
    assert read_nvml(lambda name: _BrokenNvml()) is None
    assert read_nvml(lambda name: object()) is None  # no such symbols
    assert read_libcuda_version(lambda name: object()) is None
    assert read_libcuda_version(lambda name: None) is None
    # The first library that loads answers.
    nvml = fake_nvml("550.144.03", 12040, [("NVIDIA GeForce RTX 4090", (8, 9))])
    names = ("/usr/lib/wsl/lib/libnvidia-ml.so.1", "libnvidia-ml.so.1")
    reading = read_nvml(lambda name: nvml if name == names[1] else None, names)
    assert reading is not None and reading.library == "libnvidia-ml.so.1"
    assert reading.report().cuda_driver_version == (12, 4)


def test_real_loaders_and_runner_are_safe() -> None:
    assert load_library("libtorchup-does-not-exist.so.9") is None
    assert run_command(["torchup-no-such-tool-xyz"]) is None
    result = run_command([sys.executable, "-c", "print('hi')"])
    assert result == CommandResult(0, "hi\n", "")
    assert System.current().os in ("linux", "macos", "windows")
    if sys.platform.startswith("linux"):
        assert read_nvml(names=("libtorchup-does-not-exist.so",)) is None


# --- detect() over whole machines --------------------------------------------------------------------

MACHINES = [
    # machine, System kwargs, driver, CUDA, capabilities, AMD archs, intel, backend (newest torch)
    (H100, {}, "580.159.04", (13, 0), ((9, 0),), (), False, "cu130"),
    ("nvidia-k80-driver470", {}, "470.256.02", (11, 4), (), (), False, "cpu"),
    ("nvidia-gtx1080ti-driver535", {}, "535.183.01", (12, 2), ((6, 1),), (), True, "cu126"),
    ("nvidia-rtx4090-driver550", {}, "550.144.03", (12, 4), ((8, 9),), (), False, "cu128"),
    ("nvidia-a100-v100-driver570", {}, "570.133.20", (12, 8), ((7, 0), (8, 0)), (), False, "cu128"),
    ("nvidia-rtx5090-driver575", {}, "575.57.08", (12, 9), ((12, 0),), (), False, "cu128"),
    (
        "nvidia-wsl2-rtx3060-driver576",
        {"wsl": True},
        "576.80",
        (12, 9),
        ((8, 6),),
        (),
        False,
        "cu128",
    ),
    (
        "nvidia-windows-rtx4070-driver581",
        {"os": "windows"},
        "581.57",
        (13, 0),
        ((8, 9),),
        (),
        False,  # PowerShell skipped: the NVIDIA driver answered
        "cu130",
    ),
    ("amd-rx7900xtx-rocm", {}, None, None, (), ("gfx1036", "gfx1100"), False, "rocm7.2"),
    ("amd-rx6700xt-rocm", {}, None, None, (), ("gfx1031",), False, "rocm7.2"),
    ("amd-mi300x-rocm", {}, None, None, (), ("gfx942",), False, "rocm7.2"),
    ("intel-arc-a770", {}, None, None, (), (), True, "xpu"),
    ("intel-core-ultra-laptop", {}, None, None, (), (), True, "xpu"),
    ("cpu-only-vm", {}, None, None, (), (), False, "cpu"),
    ("macos-arm64", {"os": "macos", "machine_arch": "arm64"}, None, None, (), (), False, "cpu"),
]


@pytest.mark.parametrize(
    ("machine", "kwargs", "driver", "cuda", "caps", "archs", "intel", "backend"), MACHINES
)
def test_detect_machines(
    machine_system: Callable[..., System],
    machine: str,
    kwargs: dict[str, Any],
    driver: str | None,
    cuda: tuple[int, int] | None,
    caps: tuple[tuple[int, int], ...],
    archs: tuple[str, ...],
    intel: bool,
    backend: str,
) -> None:
    detection = detect(system=machine_system(machine, **kwargs))
    assert detection.nvidia_driver == driver
    assert detection.cuda_driver_version == cuda
    assert detection.compute_capabilities == caps
    assert detection.amd_archs == archs
    assert detection.intel is intel
    assert detection.sources
    choice = choose_backend(detection, os=detection.os, machine=detection.machine)
    assert choice.backend.name == backend


def test_detect_h100_uses_nvml_and_skips_nvidia_smi(machine_system: Callable[..., System]) -> None:
    system = machine_system(H100)
    calls: list[Sequence[str]] = []

    def run(argv: Sequence[str]) -> CommandResult | None:
        calls.append(argv)
        return system.run(argv)

    counted = System(**{**system.__dict__, "run": run})
    detection = detect(system=counted)
    assert calls == []  # NVML answered everything: no subprocess at all
    assert any(s.startswith("NVML (libnvidia-ml.so.1)") for s in detection.sources)
    assert detection.nvidia_gpus[0].name == "NVIDIA H100 80GB HBM3"
    assert choose_backend(detection, "2.4.1").backend.name == "cu124"


def test_detect_h100_without_nvml_falls_back_to_nvidia_smi(
    machine_system: Callable[..., System],
) -> None:
    detection = detect(system=machine_system(H100, libraries=False))
    assert detection.cuda_driver_version == (13, 0)
    assert detection.compute_capabilities == ((9, 0),)
    assert any(s.startswith("nvidia-smi --query-gpu") for s in detection.sources)


def test_windows_without_nvidia_driver_asks_win32_video_controller(
    machine_system: Callable[..., System],
) -> None:
    system = machine_system("nvidia-windows-rtx4070-driver581", os="windows")
    no_smi = System(**{**system.__dict__, "which": lambda name: None})
    detection = detect(system=no_smi)
    assert detection.intel and detection.nvidia_driver is None
    assert [g.pci_id for g in detection.gpus] == ["10de:2786", "8086:4680"]
    assert any("no NVIDIA driver answered" in n for n in detection.notes)
    choice = choose_backend(detection, os="windows")
    assert choice.backend.name == "xpu"  # UHD 770: with a warning that XPU will not use it
    assert any("TORCHUP_CUDA_DRIVER_VERSION" in w for w in choice.warnings)
    assert any("older integrated graphics" in w for w in choice.warnings)


def test_detect_old_driver_retries_query_without_compute_cap(
    machine_system: Callable[..., System],
) -> None:
    detection = detect(system=machine_system("nvidia-k80-driver470"))
    assert [g.name for g in detection.nvidia_gpus] == ["Tesla K80", "Tesla K80"]
    with_cap = detect(
        system=machine_system("nvidia-k80-driver470"),
        overrides={"TORCHUP_GPU_COMPUTE_CAPABILITY": "3.7,3.7"},
    )
    assert with_cap.compute_capabilities == ((3, 7),)
    assert choose_backend(with_cap, "2.4.1").backend.name == "cu118"


def test_detect_reports_driver_library_mismatch(tmp_path: Path) -> None:
    system = System(
        sys_root=tmp_path,
        proc_root=tmp_path,
        run=lambda argv: CommandResult(
            18, "Failed to initialize NVML: Driver/library version mismatch\n"
        ),
        which=lambda name: name if name == "nvidia-smi" else None,
        load_library=lambda name: None,
    )
    detection = detect(system=system)
    assert detection.nvidia_driver is None
    assert any("Driver/library version mismatch" in n for n in detection.notes)


def test_detect_amd_without_kfd_notes_it(machine_system: Callable[..., System]) -> None:
    detection = detect(system=machine_system("amd-mi300x-rocm"))
    assert detection.amd_archs == ("gfx942",)  # from rocm_agent_enumerator
    bare = System(**{**machine_system("amd-mi300x-rocm").__dict__, "which": lambda n: None})
    without_tools = detect(system=bare)
    assert without_tools.amd_archs == ()
    assert len([g for g in without_tools.gpus if g.vendor == "amd"]) == 2
    assert any("TORCHUP_AMD_GPU_ARCH" in n for n in without_tools.notes)


def test_detect_nvidia_on_pci_without_driver(tmp_path: Path) -> None:
    d = tmp_path / "bus" / "pci" / "devices" / "0000:01:00.0"
    d.mkdir(parents=True)
    for name, value in (("vendor", "0x10de"), ("device", "0x2684"), ("class", "0x030000")):
        (d / name).write_text(value + "\n")
    system = System(
        sys_root=tmp_path,
        proc_root=tmp_path,
        run=lambda argv: None,
        which=lambda n: None,
        load_library=lambda n: None,
    )
    detection = detect(system=system)
    assert [g.pci_id for g in detection.gpus] == ["10de:2684"]
    assert any("no NVIDIA driver answered" in n for n in detection.notes)
    assert choose_backend(detection).backend.name == "cpu"


# --- overrides -----------------------------------------------------------------------------------------


def test_driver_override_wins_over_probes(machine_system: Callable[..., System]) -> None:
    detection = detect(
        system=machine_system(H100), overrides={"TORCHUP_CUDA_DRIVER_VERSION": "535.104.05"}
    )
    assert detection.nvidia_driver == "535.104.05"
    assert detection.cuda_driver_version is None  # the probes' CUDA 13.0 is the real driver's
    assert detection.compute_capabilities == ((9, 0),)  # GPUs still come from the probes
    assert detection.sources[0].startswith("TORCHUP_CUDA_DRIVER_VERSION: driver 535.104.05")
    assert any("TORCHUP_CUDA_DRIVER_VERSION is set" in n for n in detection.notes)
    assert choose_backend(detection).backend.name == "cu128"


def test_overrides_on_a_machine_without_gpus(machine_system: Callable[..., System]) -> None:
    detection = detect(
        system=machine_system("cpu-only-vm"),
        overrides={
            "TORCHUP_CUDA_DRIVER_VERSION": "32.0.15.8157",
            "TORCHUP_GPU_COMPUTE_CAPABILITY": "sm_120, 8.6",
        },
    )
    assert detection.nvidia_driver == "581.57"
    assert detection.compute_capabilities == ((8, 6), (12, 0))
    assert choose_backend(detection).backend.name == "cu130"
    amd = detect(system=machine_system("cpu-only-vm"), overrides={"TORCHUP_AMD_GPU_ARCH": "GFX90A"})
    assert amd.amd_archs == ("gfx90a",)
    assert choose_backend(amd).backend.name == "rocm7.2"


def test_amd_override_on_an_nvidia_machine_chooses_rocm(
    machine_system: Callable[..., System],
) -> None:
    # Seen on a real H100 machine: TORCHUP_AMD_GPU_ARCH alone was outvoted by the NVIDIA driver
    # the probes found, and `--torch-backend auto` still chose cu130.
    detection = detect(system=machine_system(H100), overrides={"TORCHUP_AMD_GPU_ARCH": "gfx1100"})
    assert [(g.vendor, g.arch) for g in detection.gpus] == [("amd", "gfx1100")]
    assert detection.nvidia_driver is None and detection.cuda_driver_version is None
    assert any("NVIDIA GPUs and drivers are ignored" in n for n in detection.notes)
    # NVIDIA-only probes are not run at all; the bus listing still says what is there.
    assert not any(s.startswith(("NVML", "nvidia-smi", "/sys/module")) for s in detection.sources)
    assert any(s.startswith("/sys/bus/pci/devices: 1 NVIDIA GPU") for s in detection.sources)
    assert choose_backend(detection).backend.name.startswith("rocm")
    plain = detect(system=machine_system(H100))
    assert choose_backend(plain).backend.name == "cu130"


def test_nvidia_overrides_on_an_amd_machine_hide_its_gpu(
    machine_system: Callable[..., System],
) -> None:
    overrides = {"TORCHUP_CUDA_DRIVER_VERSION": "570.86.10", "TORCHUP_GPU_COMPUTE_CAPABILITY": "8.9"}
    detection = detect(system=machine_system("amd-rx7900xtx-rocm"), overrides=overrides)
    assert {g.vendor for g in detection.gpus} == {"nvidia"}
    assert detection.amd_archs == ()
    assert any("AMD GPUs are ignored" in n for n in detection.notes)
    assert not any(s.startswith(("KFD", "/sys/class/kfd", "rocm", "amd-smi")) for s in detection.sources)
    assert choose_backend(detection).backend.name.startswith("cu")
    assert "gfx1100" in detect(system=machine_system("amd-rx7900xtx-rocm")).amd_archs


def test_both_vendors_pinned_keep_both(machine_system: Callable[..., System]) -> None:
    overrides = {"TORCHUP_GPU_COMPUTE_CAPABILITY": "9.0", "TORCHUP_AMD_GPU_ARCH": "gfx90a"}
    detection = detect(system=machine_system(H100), overrides=overrides)
    assert detection.amd_archs == ("gfx90a",)
    assert detection.compute_capabilities == ((9, 0),)
    assert detection.nvidia_driver == "580.159.04"  # the driver still comes from the probes
    assert not any("ignored" in n for n in detection.notes)


@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("TORCHUP_CUDA_DRIVER_VERSION", "latest"),
        ("TORCHUP_GPU_COMPUTE_CAPABILITY", "8.x"),
        ("TORCHUP_GPU_COMPUTE_CAPABILITY", "8.6,,9.0"),
        ("TORCHUP_AMD_GPU_ARCH", "rdna3"),
    ],
)
def test_invalid_overrides_name_their_key(key: str, value: str) -> None:
    with pytest.raises(ConfigError) as info:
        parse_overrides({key: value})
    assert info.value.key == key and info.value.hint


def test_empty_overrides_are_ignored() -> None:
    assert parse_overrides({}) is None
    assert parse_overrides({"TORCHUP_CUDA_DRIVER_VERSION": "  "}) is None


def test_a_crashing_probe_becomes_a_note(tmp_path: Path) -> None:
    def boom(system: System) -> Facts | None:
        raise RuntimeError("kaput")

    probes = (Probe("boom", frozenset({"driver"}), boom), *DEFAULT_PROBES)
    system = System(
        sys_root=tmp_path,
        proc_root=tmp_path,
        run=lambda a: None,
        which=lambda n: None,
        load_library=lambda n: None,
    )
    detection = detect(probes, system=system)
    assert detection.gpus == () and "probe boom failed: RuntimeError: kaput" in detection.notes


def test_probes_respect_their_os(tmp_path: Path) -> None:
    seen: list[str] = []

    def probe(system: System) -> Facts | None:
        seen.append(system.os)
        return None

    probes = (Probe("linux-only", frozenset({"driver"}), probe),)
    detect(probes, system=System(os="Windows", sys_root=tmp_path, proc_root=tmp_path))
    assert seen == []
    detect(probes, system=System(os="linux", sys_root=tmp_path, proc_root=tmp_path))
    assert seen == ["linux"]


# --- installed torch -----------------------------------------------------------------------------------

RTX5090 = Detection(
    gpus=(Gpu("nvidia", name="NVIDIA GeForce RTX 5090", compute_capability=(12, 0)),),
    nvidia_driver="575.57.08",
    cuda_driver_version=(12, 9),
)
V100 = Detection(
    gpus=(Gpu("nvidia", name="Tesla V100-PCIE-32GB", compute_capability=(7, 0)),),
    nvidia_driver="570.133.20",
)


def test_installed_cu130_on_a_575_driver(capture: Callable[..., Any]) -> None:
    info = capture("nvidia-rtx5090-driver575", "torch-info.txt").output
    assert "The NVIDIA driver on your system is too old (found version 12090)" in info
    version = info.splitlines()[-1].split()[0]
    installed = inspect_installed_torch(version, RTX5090)
    assert installed.usable is False
    assert installed.suggestion is not None and installed.suggestion.name == "cu128"
    assert installed.message == (
        "torch 2.11.0+cu130 needs NVIDIA driver >= 580.65.06; you have 575.57.08: "
        "torch.cuda.is_available() will be False; run `torchup pip install --torch-backend auto "
        "torch` to get cu128"
    )


@pytest.mark.parametrize(
    ("text", "detection", "usable", "backend", "words"),
    [
        ("2.7.1+cu128", V100, False, "cu128", "no kernel image is available"),
        ("2.8.0+cu128", V100, True, "cu128", "usable here"),
        ("2.8.0+cu128", Detection(nvidia_driver="550.144.03"), True, "cu128", "minor-version"),
        ("2.11.0+cpu", RTX5090, True, "cpu", "could use cu128"),
        ("2.5.1+rocm6.2", RTX5090, False, "rocm6.2", "needs an AMD GPU"),
        ("2.7.1+xpu", Detection(), False, "xpu", "torch.xpu.is_available() will be False"),
        ("2.11.0", Detection(nvidia_driver="535.183.01"), False, "cu130", "needs NVIDIA driver"),
        ("2.11.0+cu126", Detection(), False, "cu126", "none was found"),
        ("2.11.0", Detection(os="macos", machine="arm64"), True, "cpu", "MPS"),
    ],
)
def test_inspect_installed_torch(
    text: str, detection: Detection, usable: bool, backend: str, words: str
) -> None:
    installed = inspect_installed_torch(text, detection)
    assert installed.usable is usable
    assert installed.backend is not None and installed.backend.name == backend
    assert words in installed.message
    assert installed.to_dict()["backend"] == backend


def test_inspect_metadata_text_without_detection() -> None:
    metadata = (
        "Metadata-Version: 2.1\nName: torch\nVersion: 2.8.0\n"
        "Requires-Dist: filelock\n"
        'Requires-Dist: nvidia-cuda-runtime-cu12==12.8.90; platform_system == "Linux"\n'
    )
    installed = inspect_installed_torch(metadata)
    assert installed.backend is not None and installed.backend.name == "cu128"
    assert installed.usable is None and "CUDA 12.8" in installed.message
    cpu = inspect_installed_torch("Name: torch\nVersion: 2.8.0\nRequires-Dist: filelock\n")
    assert cpu.backend is not None and cpu.backend.name == "cpu"
    with pytest.raises(ValueError):
        parse_torch_distribution("no version here")


def test_ctypes_pointers_are_written_through() -> None:
    # The fake libraries rely on byref(...)._obj; make sure that is how ctypes behaves.
    value = ctypes.c_int(0)
    ref: Any = ctypes.byref(value)
    ref._obj.value = 7
    assert value.value == 7


def test_detect_this_machine_never_raises() -> None:
    detection = detect()
    assert detection.os in ("linux", "macos", "windows")
    assert choose_backend(detection, os=detection.os, machine=detection.machine).reasons
