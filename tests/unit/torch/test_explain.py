"""Text and JSON for `torchup detect`."""

from __future__ import annotations

import json
from collections.abc import Callable

from torchup.torch.backend import choose_backend
from torchup.torch.detect import Detection, Gpu, System, detect, inspect_installed_torch
from torchup.torch.explain import detection_to_dict, format_choice, format_detection, format_gpu


def test_h100_detect_text(machine_system: Callable[..., System]) -> None:
    detection = detect(system=machine_system("nvidia-h100-driver580", libraries=False))
    choice = choose_backend(detection)
    installed = inspect_installed_torch("2.11.0+cu130", detection)
    text = format_detection(detection, choice, installed)
    lines = text.splitlines()
    assert "Platform: linux x86_64" in lines
    assert (
        "GPU 0: NVIDIA H100 80GB HBM3, compute capability 9.0 (sm_90, Hopper), 81559 MiB, "
        "PCI 00000000:00:06.0" in lines
    )
    assert "NVIDIA driver: 580.159.04" in lines
    assert "CUDA driver API: 13.0" in lines
    assert "Torch backend: cu130 (for torch 2.11)" in lines
    assert any(line.startswith("  why: chose cu130") for line in lines)
    assert "Installed torch: torch 2.11.0+cu130: usable here" in lines
    assert any(line.startswith("  /sys/module/nvidia/version: driver 580.159.04") for line in lines)


def test_warnings_and_notes_are_shown() -> None:
    detection = Detection(
        gpus=(Gpu("nvidia", name="NVIDIA GeForce RTX 4090", compute_capability=(8, 9)),),
        nvidia_driver="550.144.03",
        notes=("nvidia-smi: Failed to initialize NVML: Driver/library version mismatch",),
    )
    text = format_detection(detection, choose_backend(detection))
    assert "Notes:\n  nvidia-smi: Failed to initialize NVML" in text
    assert "  warning: cu128 runs on driver 550.144.03 only through CUDA minor-version" in text


def test_format_gpu_variants() -> None:
    assert format_gpu(1, Gpu("amd", name="Radeon RX 7900 XTX", arch="gfx1100")) == (
        "GPU 1: Radeon RX 7900 XTX, gfx1100"
    )
    assert format_gpu(0, Gpu("intel", pci_id="8086:56a0", pci_bus_id="0000:03:00.0")) == (
        "GPU 0: Intel GPU, PCI 0000:03:00.0, [8086:56a0]"
    )
    assert format_gpu(0, Gpu("nvidia", name="Tesla K80", family="Kepler")) == (
        "GPU 0: Tesla K80, compute capability unknown (Kepler)"
    )
    assert "GPUs: none detected" in format_detection(Detection())


def test_format_choice() -> None:
    text = format_choice(choose_backend(Detection()))
    assert text.splitlines()[0] == "Torch backend: cpu (for torch 2.11)"


def test_detection_to_dict_is_json() -> None:
    detection = Detection(
        gpus=(Gpu("nvidia", name="H100", compute_capability=(9, 0), memory_mib=81559),),
        nvidia_driver="580.159.04",
        cuda_driver_version=(13, 0),
        sources=("nvml: driver 580.159.04",),
    )
    choice = choose_backend(detection)
    installed = inspect_installed_torch("2.11.0+cu130", detection)
    data = json.loads(json.dumps(detection_to_dict(detection, choice, installed)))
    assert data["gpus"] == [
        {
            "vendor": "nvidia",
            "name": "H100",
            "compute_capability": "9.0",
            "sm": "sm_90",
            "memory_mib": 81559,
        }
    ]
    assert data["cuda_driver_version"] == "13.0" and data["nvidia_driver"] == "580.159.04"
    assert data["choice"]["backend"] == "cu130"
    assert data["installed_torch"]["usable"] is True
    assert set(detection_to_dict(Detection())) == {
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
    }
