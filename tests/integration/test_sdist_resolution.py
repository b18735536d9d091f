"""The resolver reads an sdist's dependencies by a PEP 517 build when its PKG-INFO is not static.

    root -> dynpkg (sdist only, Metadata-Version 2.1: needs a build) -> dep>=1 (wheel)
"""

from __future__ import annotations

from pathlib import Path

import pytest
from tests.support.server import IndexServer
from tests.support.wheels import DistSpec, build_sdist, build_wheel

from torchup.cli.main import main


def test_compile_builds_sdist_for_metadata(
    index_server: IndexServer, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    built = tmp_path / "dists"
    index_server.publish(
        "simple",
        [
            build_sdist(DistSpec("dynpkg", "1.0", requires_dist=("dep>=1",)), built),
            build_wheel(DistSpec("dep", "1.5"), built),
            build_wheel(DistSpec("dep", "0.5"), built),
        ],
    )
    rc = main(
        ["pip", "compile", "dynpkg", "--index-url", index_server.index_url(), "--no-header", "--no-annotate"]
    )
    out = capsys.readouterr().out
    assert rc == 0, out
    assert out.split() == ["dep==1.5", "dynpkg==1.0"]


def test_compile_no_build_refuses_sdist(
    index_server: IndexServer, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    index_server.publish("simple", [build_sdist(DistSpec("dynpkg", "1.0"), tmp_path / "d")])
    rc = main(["pip", "compile", "dynpkg", "--no-build", "--index-url", index_server.index_url()])
    err = capsys.readouterr().err
    assert rc == 1
    assert "dynpkg" in err and "source distribution" in err
