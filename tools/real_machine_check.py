"""Check torchup on a real accelerator machine: detection, then ``--torch-backend auto`` end to end.

Run it on the machine itself, with torchup installed and on PATH (a GPU machine without network
works: the indexes are the tests' hermetic download.pytorch.org + PyPI world on 127.0.0.1)::

    python tools/real_machine_check.py [--python PYTHON_WITH_TORCH]

It prints each command, its exit status and its output. It is a manual check, not a test: what it
should print depends on the machine (docs/dev/real-machines.md records what one H100 printed).
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tests.support.pytorch_index import build_pytorch_world  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--python", help="an interpreter whose installed torch detect should judge")
    args = parser.parse_args()
    root = Path(tempfile.mkdtemp(prefix="torchup-real-"))
    world = build_pytorch_world(root)
    env = dict(os.environ, TORCHUP_CACHE_DIR=str(root / "cache"))
    failures = 0

    def torchup(*argv: str, expect: int = 0) -> None:
        nonlocal failures
        started = time.perf_counter()
        proc = subprocess.run(["torchup", *argv], capture_output=True, text=True, env=env)
        took = time.perf_counter() - started
        shown = " ".join(argv).replace(world.server.url, "<server>")
        print(f"\n$ torchup {shown}   [exit {proc.returncode}, {took:.2f}s]")
        print((proc.stdout + proc.stderr).replace(world.server.url, "<server>").rstrip())
        failures += proc.returncode != expect

    indexes = ["--torch-index-url", f"{world.server.url}/whl", "--index-url", world.url("pypi")]
    venv = root / "env"
    try:
        torchup("detect")
        torchup("detect", "--json")
        if args.python:
            torchup("detect", "--python", args.python)
        torchup("pip", "compile", "torch", "torchvision", "--torch-backend", "auto", *indexes)
        torchup("pip", "compile", "torch==2.5.1", "--torch-backend", "auto", *indexes)
        torchup("venv", str(venv), "--python", sys.executable)
        torchup("pip", "install", "--python", str(venv), "torch", "torchvision",
                "--torch-backend", "auto", *indexes)
        torchup("pip", "list", "--python", str(venv))
        torchup("detect", "--python", str(venv / "bin" / "python"))
    finally:
        world.server.stop()
        shutil.rmtree(root, ignore_errors=True)
    print(f"\n{failures} command(s) exited otherwise than expected")
    return 1 if failures else 0


if __name__ == "__main__":
    raise SystemExit(main())
