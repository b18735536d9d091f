"""`torchup detect`: the machine's accelerator, the torch build it needs, and the verdict on an
installed torch. Exit code 1 when the installed build cannot use this machine."""

from __future__ import annotations

import argparse
import json
import platform
import sys

from torchup.cli.context import Context

__all__ = ["run"]


def _os_name() -> str:
    return {"linux": "linux", "darwin": "macos", "win32": "windows"}.get(sys.platform, sys.platform)


def _installed_torch_text(python: str) -> str | None:
    """METADATA of torch in the environment of ``python`` (IO), or None when absent."""
    from pathlib import Path

    from torchup.install.interpreters import select_environment

    ctx_env = select_environment(python, None, cwd=Path.cwd())
    from torchup.install.site import scan_site_packages

    dists = scan_site_packages([Path(p) for p in {ctx_env.paths.get("purelib", ""), ctx_env.paths.get("platlib", "")} if p])
    torch = dists.get("torch")  # type: ignore[call-overload]
    if torch is None:
        return None
    meta = Path(torch.path) / "METADATA"
    return meta.read_text(encoding="utf-8", errors="replace") if meta.exists() else str(torch.version)


def run(ns: argparse.Namespace) -> int:
    from torchup.torch.backend import choose_backend
    from torchup.torch.detect import detect, inspect_installed_torch
    from torchup.torch.explain import detection_to_dict, format_detection

    ctx = Context(ns)
    detection = detect(overrides=ctx.detection_overrides())
    os_name = _os_name()
    machine = platform.machine()
    choice = choose_backend(detection, ns.torch_version, os=os_name, machine=machine)
    installed = None
    if ns.python:
        text = _installed_torch_text(ns.python)
        if text is not None:
            installed = inspect_installed_torch(text, detection, os=os_name, machine=machine)
    if ns.json:
        print(json.dumps(detection_to_dict(detection, choice, installed), indent=2, default=str))
    else:
        print(format_detection(detection, choice, installed))
    if installed is not None and installed.usable is False:
        return 1
    return 0
