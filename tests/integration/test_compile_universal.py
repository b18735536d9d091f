"""`pip compile --universal` writes a requirements.txt for every platform; --generate-hashes
was ignored there (plain `name==version ; marker` lines), now each line carries the sha256 of
every file the lock keeps for it, as `torchup export` writes them."""

from __future__ import annotations

import hashlib
from pathlib import Path

from tests.integration.test_pip_install import index_args, publish
from tests.support.cli import Cli
from tests.support.server import IndexServer
from tests.support.wheels import DistSpec


def test_universal_with_hashes(cli: Cli, index_server: IndexServer, tmp_path: Path) -> None:
    wheels = publish(
        index_server, tmp_path / "dists",
        DistSpec("dep", "1.0"),
        DistSpec("top", "1.0", requires_dist=('dep ; sys_platform == "linux"',)),
    )
    src = tmp_path / "requirements.in"
    src.write_text("top\n")
    out = cli.ok(
        "pip", "compile", src, "--universal", "--generate-hashes", "--no-header",
        "--python-version", "3.12", *index_args(index_server),
    ).out
    digest = {w.name.split("-")[0]: hashlib.sha256(w.read_bytes()).hexdigest() for w in wheels}
    assert f"top==1.0 \\\n    --hash=sha256:{digest['top']}" in out
    # dep only where the marker holds (the lock's per-platform marker), with its hash
    (dep,) = [block for block in out.split("\n") if block.startswith("dep==1.0 ; ")]
    assert 'sys_platform == "linux"' in dep and "win32" not in dep and "darwin" not in dep
    assert f"{dep}\n    --hash=sha256:{digest['dep']}" in out
    plain = cli.ok(
        "pip", "compile", src, "--universal", "--no-header", "--python-version", "3.12",
        *index_args(index_server),
    ).out
    assert "--hash" not in plain and "top==1.0" in plain
