"""Requirement sets for ``bench/bench_compile.py`` (select with ``--sets a,b``).

``source``: ``"pypi"`` resolves against the real https://pypi.org/simple; ``"pytorch-world"``
resolves ``torch torchvision torchaudio`` for cu128 against the hermetic PyTorch-style index from
``tests/support/pytorch_index.py`` (download.pytorch.org is not reachable from the bench machine).
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class BenchSet:
    name: str
    requirements: tuple[str, ...]
    source: str = "pypi"  # "pypi" | "pytorch-world"
    default: bool = True
    about: str = ""


SETS: dict[str, BenchSet] = {
    s.name: s
    for s in (
        BenchSet("requests", ("requests",), about="tiny: 5 packages"),
        BenchSet("boto3", ("boto3",), about="small, botocore is a big wheel"),
        BenchSet(
            "flask-sqlalchemy-pandas",
            ("flask", "sqlalchemy", "pandas"),
            about="web + data, ~15 packages with platform wheels",
        ),
        BenchSet("jupyter", ("jupyter",), about="wide: ~100 packages"),
        BenchSet(
            "transformers-torch",
            ("transformers[torch]",),
            about="extras, torch + nvidia-* from PyPI, ~40 packages",
        ),
        BenchSet(
            "pytorch-cu128",
            ("torch", "torchvision", "torchaudio"),
            source="pytorch-world",
            about="PyTorch-style index (big sparse torch wheels), cu128",
        ),
        # Opt-in (--sets data-science): bigger, slower, noisier.
        BenchSet(
            "data-science",
            ("scikit-learn", "matplotlib", "seaborn", "statsmodels", "jupyterlab", "polars"),
            default=False,
            about="opt-in: a wide data-science stack",
        ),
    )
}

DEFAULT_SETS = [name for name, s in SETS.items() if s.default]
