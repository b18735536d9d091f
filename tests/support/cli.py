"""Run the torchup CLI in process and capture what it says (shared by the integration and
reliability tests)."""

from __future__ import annotations

import os
from dataclasses import dataclass

import pytest

from torchup.cli.main import main

__all__ = ["Result", "Cli"]


@dataclass(frozen=True)
class Result:
    rc: int
    out: str
    err: str

    @property
    def text(self) -> str:
        return self.out + self.err


class Cli:
    """Run ``torchup ARGS`` in process; ``cli(...)`` returns a :class:`Result`."""

    def __init__(self, capsys: pytest.CaptureFixture[str]) -> None:
        self._capsys = capsys

    def __call__(self, *args: str | os.PathLike[str]) -> Result:
        self._capsys.readouterr()
        try:
            rc = main([str(a) for a in args])
        except SystemExit as exc:  # argparse errors
            rc = int(exc.code or 0)
        captured = self._capsys.readouterr()
        return Result(rc, captured.out, captured.err)

    def ok(self, *args: str | os.PathLike[str]) -> Result:
        res = self(*args)
        assert res.rc == 0, f"torchup {' '.join(map(str, args))} -> {res.rc}\n{res.err}{res.out}"
        return res
