"""`torchup venv [PATH] [--python X] [--seed]`: a PEP 405 virtual environment, quickly.

Without ``--seed`` the command is bound by start-up, so it imports only what it uses: the
interpreter cache is reached through ``Context.bucket`` (no :mod:`torchup.cache`), and the
resolver, index client and wheel installer load only for ``--seed``.
"""

from __future__ import annotations

import time
from pathlib import Path

from torchup.cli import output
from torchup.cli.context import Context

TYPE_CHECKING = False
if TYPE_CHECKING:
    import argparse

    from torchup.install.interpreters import Interpreter

__all__ = ["run"]


def run(ns: argparse.Namespace) -> int:
    from torchup.install.venv import create_venv

    ctx = Context(ns)
    started = time.monotonic()
    interp = ctx.find_python(ns.python)
    path = Path(ns.path)
    seed: list[Path] = []
    if ns.seed:
        seed = _seed_wheels(ctx, interp)
    venv = create_venv(
        path.absolute(),
        interp,
        seed_wheels=seed,
        prompt=ns.prompt,
        clear=ns.clear,
        system_site_packages=ns.system_site_packages,
        # Only seeding unpacks wheels; a plain venv need not create the bucket.
        unpacked_cache=ctx.bucket("wheels-v1") if seed else None,
    )
    output.info(f"Using CPython {interp.version} interpreter at: {interp.executable}")
    output.info(f"Creating virtual environment at: {ns.path} ({(time.monotonic() - started) * 1000:.0f}ms)")
    output.info("Activate with: source " + str(Path(ns.path) / "bin" / "activate"))
    del venv
    return 0


def _seed_wheels(ctx: Context, interp: Interpreter) -> list[Path]:
    """pip's wheel from the configured index (resolved and fetched by torchup itself)."""
    import argparse

    from packaging.requirements import Requirement

    from torchup.cli.pip_install import _desired_from_result
    from torchup.cli.resolve_cmd import Inputs, resolve_inputs
    from torchup.install.download import Artifact, fetch_artifacts
    from torchup.requirements import RootRequirement

    inputs = Inputs(requirements=[RootRequirement(Requirement("pip"), "--seed")])
    run = resolve_inputs(ctx, argparse.Namespace(), inputs, target=interp.target())
    desired = _desired_from_result(run.result, inputs)
    arts = [Artifact(d.canonical_name, d.url, d.filename, dict(h.split(":", 1) for h in d.hashes)) for d in desired]
    files = fetch_artifacts(ctx.client, ctx.cache.bucket("archives-v1"), arts)
    return [files[d.canonical_name] for d in desired]
