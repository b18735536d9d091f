"""Human text and JSON for ``torchup detect`` and for explaining a backend choice.

Pure formatting over :class:`~torchup.torch.detect.Detection`, :class:`~torchup.torch.backend.
Choice` and :class:`~torchup.torch.detect.InstalledTorch`; the CLI decides where it goes.
"""

from __future__ import annotations

from torchup.torch.backend import Choice, architecture_name
from torchup.torch.detect import Detection, Gpu, InstalledTorch

__all__ = ["format_gpu", "format_detection", "format_choice", "detection_to_dict"]


def format_gpu(index: int, gpu: Gpu) -> str:
    """``GPU 0: NVIDIA H100 80GB HBM3, compute capability 9.0 (sm_90, Hopper), 81559 MiB``."""
    parts = [
        gpu.name
        or {"nvidia": "NVIDIA GPU", "amd": "AMD GPU", "intel": "Intel GPU"}.get(gpu.vendor, "GPU")
    ]
    if gpu.compute_capability is not None:
        major, minor = gpu.compute_capability
        parts.append(
            f"compute capability {major}.{minor} ({gpu.sm}, {architecture_name(gpu.compute_capability)})"
        )
    elif gpu.vendor == "nvidia":
        parts.append("compute capability unknown" + (f" ({gpu.family})" if gpu.family else ""))
    if gpu.arch:
        parts.append(gpu.arch)
    if gpu.memory_mib:
        parts.append(f"{gpu.memory_mib} MiB")
    if gpu.pci_bus_id:
        parts.append(f"PCI {gpu.pci_bus_id}")
    if gpu.pci_id and not gpu.name:
        parts.append(f"[{gpu.pci_id}]")
    return f"GPU {index}: " + ", ".join(parts)


def format_choice(choice: Choice) -> str:
    """``Torch backend: cu130 (for torch 2.11)`` then ``  why:``/``  warning:`` lines."""
    torch = f" (for torch {choice.torch_version})" if choice.torch_version else ""
    lines = [f"Torch backend: {choice.backend.name}{torch}"]
    lines += [f"  why: {r}" for r in choice.reasons]
    lines += [f"  warning: {w}" for w in choice.warnings]
    return "\n".join(lines)


def format_detection(
    detection: Detection,
    choice: Choice | None = None,
    installed: InstalledTorch | None = None,
) -> str:
    """The text of ``torchup detect``: GPUs, driver, CUDA driver API, sources, the choice
    for the newest torch with its reasons, and the verdict on an installed torch."""
    lines: list[str] = []
    platform = f"{detection.os} {detection.machine}" + (" (WSL2)" if detection.wsl else "")
    lines.append(f"Platform: {platform}")
    if detection.gpus:
        lines += [format_gpu(i, g) for i, g in enumerate(detection.gpus)]
    else:
        lines.append("GPUs: none detected")
    if detection.nvidia_driver:
        lines.append(f"NVIDIA driver: {detection.nvidia_driver}")
    if detection.cuda_driver_version is not None:
        major, minor = detection.cuda_driver_version
        lines.append(f"CUDA driver API: {major}.{minor}")
    if detection.amd_archs:
        lines.append("AMD GPU architectures: " + ", ".join(detection.amd_archs))
    if detection.sources:
        lines.append("Detected by:")
        lines += [f"  {s}" for s in detection.sources]
    if detection.notes:
        lines.append("Notes:")
        lines += [f"  {n}" for n in detection.notes]
    if choice is not None:
        lines.append(format_choice(choice))
    if installed is not None:
        lines.append(f"Installed torch: {installed.message}")
    return "\n".join(lines)


def detection_to_dict(
    detection: Detection,
    choice: Choice | None = None,
    installed: InstalledTorch | None = None,
) -> dict[str, object]:
    """A JSON-able dict of the detection (and choice, installed torch when given)."""
    cuda = detection.cuda_driver_version
    out: dict[str, object] = {
        "os": detection.os,
        "machine": detection.machine,
        "wsl": detection.wsl,
        "gpus": [g.to_dict() for g in detection.gpus],
        "nvidia_driver": detection.nvidia_driver,
        "cuda_driver_version": f"{cuda[0]}.{cuda[1]}" if cuda else None,
        "amd_archs": list(detection.amd_archs),
        "intel": detection.intel,
        "sources": list(detection.sources),
        "notes": list(detection.notes),
    }
    if choice is not None:
        out["choice"] = choice.to_dict()
    if installed is not None:
        out["installed_torch"] = installed.to_dict()
    return out
