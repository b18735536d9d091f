"""`torchup tree` (uv tree): a project's locked dependencies for this machine, as a tree.

The edges are the requirements that hold here: web's dependency for its `docs` extra and the
one for Windows are locked (for other environments, or not at all) but are not drawn.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
from tests.integration.test_pip_install import publish
from tests.support.cli import Cli
from tests.support.server import IndexServer
from tests.support.wheels import DistSpec

WORLD = (
    DistSpec("web", "1.0", requires_dist=("core", "docs-only; extra == 'docs'", "winonly; sys_platform == 'win32'")),
    DistSpec("util", "1.0", requires_dist=("core",)),
    DistSpec("core", "1.0", requires_dist=("base",)),
    DistSpec("base", "1.0"),
    DistSpec("speed", "1.0"),
    DistSpec("tester", "1.0", requires_dist=("web",)),
    DistSpec("docs-only", "1.0"),
    DistSpec("winonly", "1.0"),
)

PYPROJECT = """\
[project]
name = "proj"
version = "0.1.0"
requires-python = ">=3.10"
dependencies = ["web>=1", "util"]

[project.optional-dependencies]
fast = ["speed"]

[dependency-groups]
dev = ["tester"]
"""


@pytest.fixture
def project(index_server: IndexServer, tmp_path: Path) -> tuple[Path, list[str]]:
    publish(index_server, tmp_path / "dists", *WORLD)
    root = tmp_path / "proj"
    root.mkdir()
    (root / "pyproject.toml").write_text(PYPROJECT)
    args = ["--directory", str(root), "--index-url", index_server.index_url("simple"),
            "--python", sys.executable]
    return root, args


def test_tree_of_the_locked_project(cli: Cli, project: tuple[Path, list[str]]) -> None:
    root, args = project
    out = cli.ok("tree", *args).out  # locks first, as uv tree does
    assert (root / "pylock.toml").is_file() and not (root / ".venv").exists()
    assert out == (
        "proj v0.1.0\n"
        "├── util v1.0\n"
        "│   └── core v1.0\n"
        "│       └── base v1.0\n"
        "├── web v1.0\n"
        "│   └── core v1.0 (*)\n"
        "├── speed v1.0 (extra: fast)\n"
        "└── tester v1.0 (group: dev)\n"
        "    └── web v1.0 (*)\n"
        "(*) Package tree already displayed\n"
    )
    assert cli.ok("tree", *args, "--depth", "1", "--no-dev", "--frozen").out == (
        "proj v0.1.0\n"
        "├── util v1.0\n"
        "├── web v1.0\n"
        "└── speed v1.0 (extra: fast)\n"
    )
    assert cli.ok("tree", *args, "--invert", "--package", "core", "--frozen").out == (
        "core v1.0\n"
        "├── util v1.0\n"
        "│   └── proj v0.1.0\n"
        "└── web v1.0\n"
        "    ├── proj v0.1.0\n"
        "    └── tester v1.0\n"
        "        └── proj v0.1.0 (group: dev)\n"
    )
    assert cli.ok("tree", *args, "--only-dev", "--frozen").out == (
        "proj v0.1.0\n"
        "└── tester v1.0 (group: dev)\n"
        "    └── web v1.0\n"
        "        └── core v1.0\n"
        "            └── base v1.0\n"
    )
    assert cli.ok("tree", *args, "--prune", "core", "--package", "web", "--frozen").out == "web v1.0\n"


def test_tree_locked_and_errors(cli: Cli, project: tuple[Path, list[str]]) -> None:
    root, args = project
    res = cli("tree", *args, "--locked")
    assert res.rc != 0 and "--locked" in res.err and "Traceback" not in res.err
    cli.ok("lock", *args)
    (root / "pyproject.toml").write_text(PYPROJECT.replace('"util"]', '"util", "speed"]'))
    res = cli("tree", *args, "--locked")
    assert res.rc != 0 and "out of date" in res.err
    res = cli("tree", *args, "--group", "nope")
    assert res.rc != 0 and "the dependency group 'nope' is not defined" in res.err
    res = cli("tree", *args, "-d", "-2")
    assert res.rc != 0 and "--depth -2 is negative" in res.err


def test_tree_outdated(
    cli: Cli, project: tuple[Path, list[str]], index_server: IndexServer, tmp_path: Path
) -> None:
    """uv tree --outdated: the newest version the project's index has beside a locked one
    that is older, where the package is first drawn, after its extra or group note."""
    root, args = project
    cli.ok("lock", *args)
    publish(index_server, tmp_path / "newer", DistSpec("core", "2.0"), DistSpec("speed", "1.1"))
    out = cli.ok("tree", *args, "--outdated", "--frozen", "--refresh").out
    assert out == (
        "proj v0.1.0\n"
        "├── util v1.0\n"
        "│   └── core v1.0 (latest: v2.0)\n"
        "│       └── base v1.0\n"
        "├── web v1.0\n"
        "│   └── core v1.0 (*)\n"
        "├── speed v1.0 (extra: fast) (latest: v1.1)\n"
        "└── tester v1.0 (group: dev)\n"
        "    └── web v1.0 (*)\n"
        "(*) Package tree already displayed\n"
    )
    # without --outdated, no newer version is shown
    assert "latest" not in cli.ok("tree", *args, "--frozen").out


def test_tree_universal(cli: Cli, project: tuple[Path, list[str]], index_server: IndexServer, tmp_path: Path) -> None:
    """uv tree --universal: every environment the lock is made for. web's Windows-only
    dependency is drawn (not on this Linux machine), and a package locked at two versions
    (`fresh` 2.0 needs Python 3.12) is drawn once per version."""
    root, args = project
    publish(
        index_server, tmp_path / "more",
        DistSpec("fresh", "1.0"), DistSpec("fresh", "2.0", requires_python=">=3.12"),
    )
    (root / "pyproject.toml").write_text(PYPROJECT.replace('"util"]', '"util", "fresh"]'))
    here = cli.ok("tree", *args, "--depth", "2", "--no-dev").out
    assert "winonly" not in here and here.count("fresh v") == 1
    out = cli.ok("tree", *args, "--universal", "--frozen").out
    assert out == (
        "proj v0.1.0\n"
        "├── fresh v1.0\n"
        "├── fresh v2.0\n"
        "├── util v1.0\n"
        "│   └── core v1.0\n"
        "│       └── base v1.0\n"
        "├── web v1.0\n"
        "│   ├── core v1.0 (*)\n"
        "│   └── winonly v1.0\n"
        "├── speed v1.0 (extra: fast)\n"
        "└── tester v1.0 (group: dev)\n"
        "    └── web v1.0 (*)\n"
        "(*) Package tree already displayed\n"
    )
    assert cli.ok("tree", *args, "--universal", "--frozen", "--invert", "--package", "fresh").out == (
        "fresh v1.0\n"
        "└── proj v0.1.0\n"
        "fresh v2.0\n"
        "└── proj v0.1.0\n"
    )


def test_tree_show_sizes(
    cli: Cli, project: tuple[Path, list[str]], index_server: IndexServer
) -> None:
    """uv tree --show-sizes: the size of the file each package installs from, as the lock
    records it, in uv's units; the project itself has none."""
    root, args = project
    cli.ok("lock", *args)
    sizes = {  # these wheels are under 1 KiB: bytes, as uv writes them
        path.name.split("-")[0]: f"{path.stat().st_size}B"
        for path in (index_server.root_dir / "simple").glob("*.whl")
    }
    assert all(path.stat().st_size < 1024 for path in (index_server.root_dir / "simple").glob("*.whl"))
    out = cli.ok("tree", *args, "--show-sizes", "--frozen", "--depth", "1", "--no-dev").out
    assert out == (
        "proj v0.1.0\n"
        f"├── util v1.0 ({sizes['util']})\n"
        f"├── web v1.0 ({sizes['web']})\n"
        f"└── speed v1.0 (extra: fast) ({sizes['speed']})\n"
    )
