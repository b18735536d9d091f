"""Run ``torchup pip compile`` in-process against the session :class:`World` and read the result.

Shared by ``test_pytorch_routing.py`` and ``test_pytorch_recipes.py``. The world stands in for
download.pytorch.org through ``--torch-index-url <server>/whl`` (a mirror), and for PyPI through
``--index-url <server>/pypi``. Every compile writes ``--report`` JSON, so a test can say which
index served each file (``download_info.url``), not only which version was pinned.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import unquote

import pytest
from tests.support.pytorch_index import World

from torchup.cli.main import main

__all__ = ["Compiled", "Runner", "index_of"]


@dataclass
class Compiled:
    """What one ``torchup pip compile`` printed and resolved."""

    rc: int
    out: str
    err: str
    pins: dict[str, str] = field(default_factory=dict)  # name -> version
    urls: dict[str, str] = field(default_factory=dict)  # name -> URL of the chosen file

    def index(self, name: str) -> str:
        """The index (``pypi``, ``whl/cu128``, ``whl/nightly/cu128``) that served ``name``."""
        return index_of(self.urls[name])

    def indexes(self) -> dict[str, str]:
        return {name: index_of(url) for name, url in self.urls.items()}

    def labels(self) -> set[str]:
        """Local labels of every pinned version (``cu128``, ``cpu``, ``git7416ffcb``)."""
        return {v.split("+", 1)[1] for v in self.pins.values() if "+" in v}


def index_of(url: str) -> str:
    """``http://127.0.0.1:1234/whl/cu128/torch-...whl`` -> ``whl/cu128``."""
    path = unquote(url.split("://", 1)[1].split("/", 1)[1])
    return path.rsplit("/", 1)[0]


class Runner:
    """``runner.compile("torch", "--torch-backend", "cu128")`` with the world's URLs filled in."""

    def __init__(self, world: World, capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
        self.world = world
        self.capsys = capsys
        self.tmp_path = tmp_path
        self.base = f"{world.server.url}/whl"  # the mirror of https://download.pytorch.org/whl
        self.pypi = world.url("pypi")
        self._n = 0

    def url(self, name: str) -> str:
        return self.world.url(name)

    def substitute(self, text: str) -> str:
        """Real-world URLs in a documented command -> the world's."""
        return (
            text.replace("https://download.pytorch.org/whl", self.base)
            .replace("https://mirror.example.com/pytorch/whl", self.base)
            .replace("https://pypi.org/simple", self.pypi)
        )

    def compile(
        self,
        *args: str,
        platform: str | None = "linux",
        python: str | None = "3.12",
        pypi: bool = True,
        mirror: bool = True,
        env: Mapping[str, str] | None = None,
        monkeypatch: pytest.MonkeyPatch | None = None,
    ) -> Compiled:
        """Compile ``args`` (requirements, files, flags).

        Adds ``--index-url <pypi>`` unless ``pypi`` is false or ``args`` name an index URL, and
        ``--torch-index-url <world>/whl`` unless ``mirror`` is false or ``args`` name one.
        ``env`` (needs ``monkeypatch``) sets detection overrides and the like for this call.
        """
        self._n += 1
        report = self.tmp_path / f"report-{self._n}.json"
        argv = ["pip", "compile", *args, "--report", str(report), "--no-header", "--no-annotate"]
        if python:
            argv += ["--python-version", python]
        if platform:
            argv += ["--python-platform", platform]
        if pypi and "--index-url" not in args and "--default-index" not in args:
            argv += ["--index-url", self.pypi]
        if mirror and "--torch-index-url" not in args:
            argv += ["--torch-index-url", self.base]
        if env:
            assert monkeypatch is not None, "env needs monkeypatch"
            for key, value in env.items():
                monkeypatch.setenv(key, value)
        self.capsys.readouterr()
        try:
            rc = main(argv)
        finally:
            if env and monkeypatch is not None:
                for key in env:
                    monkeypatch.delenv(key, raising=False)
        captured = self.capsys.readouterr()
        result = Compiled(rc, captured.out, captured.err)
        if rc == 0:
            data = json.loads(report.read_text(encoding="utf-8"))
            for item in data["install"]:
                name = item["metadata"]["name"]
                result.pins[name] = item["metadata"]["version"]
                result.urls[name] = item["download_info"]["url"]
        return result

    def requirements(self, text: str, name: str = "requirements.in") -> str:
        """Write a requirements file; returns its path."""
        path = self.tmp_path / name
        path.write_text(self.substitute(text), encoding="utf-8")
        return str(path)


def assert_only(result: Compiled, expected: Mapping[str, str]) -> None:
    """Every pin in ``expected`` (name -> version) is in ``result`` with that version."""
    assert result.rc == 0, result.err
    wrong = {n: result.pins.get(n) for n, v in expected.items() if result.pins.get(n) != v}
    assert not wrong, f"expected {dict(expected)}, got {wrong}\n{result.err}"


def torch_family_indexes(result: Compiled, names: Sequence[str]) -> set[str]:
    return {result.index(n) for n in names if n in result.urls}
