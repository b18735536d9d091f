"""`torchup pip sync`: make a venv exactly a requirements.txt or a pylock.toml, against the
hermetic index (real HTTP), checking what ends up on disk and what the venv's Python sees."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest
from tests.integration.test_pip_install import (
    Cli,
    Venv,
    index_args,
    listed,
    publish,
    tree_snapshot,
)
from tests.support.server import IndexServer
from tests.support.wheels import DistSpec, build_wheel

A1 = DistSpec("alpha", "1.0", requires_dist=("beta",))
A2 = DistSpec("alpha", "2.0", requires_dist=("beta>=1.1",))
B1 = DistSpec("beta", "1.0")
B11 = DistSpec("beta", "1.1")
G1 = DistSpec("gamma", "1.0")
EXTRA = DistSpec(
    "extra-thing", "0.5", entry_points={"console_scripts": {"extra-thing": "extra_thing:x"}}
)


@pytest.fixture
def world(index_server: IndexServer, tmp_path: Path) -> IndexServer:
    publish(index_server, tmp_path / "dists", A1, A2, B1, B11, G1, EXTRA)
    return index_server


def _write(path: Path, text: str) -> Path:
    path.write_text(text)
    return path


def test_sync_requirements_removes_extraneous(
    cli: Cli, venv: Venv, world: IndexServer, tmp_path: Path
) -> None:
    cli.ok(
        "pip",
        "install",
        "alpha==2.0",
        "gamma",
        "extra-thing",
        "--python",
        venv.root,
        *index_args(world),
    )
    assert venv.metadata_versions() == {
        "alpha": "2.0",
        "beta": "1.1",
        "gamma": "1.0",
        "extra-thing": "0.5",
    }
    gamma_file = venv.site_packages / "gamma" / "__init__.py"
    inode = gamma_file.stat().st_ino

    req = _write(tmp_path / "requirements.txt", "alpha==1.0\nbeta==1.0\ngamma==1.0\n")
    res = cli.ok("pip", "sync", req, "--python", venv.root, *index_args(world))
    assert venv.metadata_versions() == {"alpha": "1.0", "beta": "1.0", "gamma": "1.0"}
    assert listed(cli, venv) == {"alpha": "1.0", "beta": "1.0", "gamma": "1.0"}
    assert " - extra-thing==0.5" in res.err and " - alpha==2.0" in res.err
    assert " + alpha==1.0" in res.err and " + beta==1.0" in res.err
    assert "gamma" not in res.err  # satisfied: left alone
    assert gamma_file.stat().st_ino == inode
    # no file of the removed package is left, its console script included
    assert not (venv.bin / "extra-thing").exists()
    assert not list(venv.site_packages.glob("extra_thing*"))

    # syncing again is a no-op
    before = tree_snapshot(venv.root)
    res = cli.ok("pip", "sync", req, "--python", venv.root, *index_args(world))
    assert "Audited 3 packages" in res.err
    assert tree_snapshot(venv.root) == before


def test_sync_installs_exactly_the_file_no_dependencies(
    cli: Cli, venv: Venv, world: IndexServer, tmp_path: Path
) -> None:
    # pip sync installs what the file lists and nothing more (alpha's beta is not added)
    req = _write(tmp_path / "requirements.txt", "alpha==2.0\n")
    cli.ok("pip", "sync", req, "--python", venv.root, *index_args(world))
    assert venv.metadata_versions() == {"alpha": "2.0"}
    res = cli("pip", "check", "--python", venv.root)
    assert res.rc == 1 and res.out == "alpha 2.0 requires beta, which is not installed.\n"


def test_sync_to_empty_file_empties_the_venv(
    cli: Cli, venv: Venv, world: IndexServer, tmp_path: Path
) -> None:
    pristine = tree_snapshot(venv.root)
    cli.ok("pip", "install", "alpha", "gamma", "--python", venv.root, *index_args(world))
    empty = _write(tmp_path / "requirements.txt", "# nothing\n")
    # (without --allow-empty-requirements nothing changes: see the test below)
    cli.ok("pip", "sync", empty, "--allow-empty-requirements", "--python", venv.root, *index_args(world))
    assert venv.metadata_versions() == {}
    assert tree_snapshot(venv.root) == pristine


def test_sync_dry_run_and_reinstall(
    cli: Cli, venv: Venv, world: IndexServer, tmp_path: Path
) -> None:
    cli.ok("pip", "install", "alpha==1.0", "gamma", "--python", venv.root, *index_args(world))
    before = tree_snapshot(venv.root)
    req = _write(tmp_path / "requirements.txt", "alpha==2.0\nbeta==1.1\n")
    res = cli.ok("pip", "sync", "--dry-run", req, "--python", venv.root, *index_args(world))
    # beta 1.1 (pulled in by alpha) already matches: kept
    assert sorted(res.out.splitlines()) == [" + alpha==2.0", " - alpha==1.0", " - gamma==1.0"]
    assert tree_snapshot(venv.root) == before

    cli.ok("pip", "sync", req, "--python", venv.root, *index_args(world))
    assert venv.metadata_versions() == {"alpha": "2.0", "beta": "1.1"}
    (venv.site_packages / "beta" / "__init__.py").unlink()
    res = cli.ok("pip", "sync", "--reinstall", req, "--python", venv.root, *index_args(world))
    assert " + beta==1.1" in res.err and " + alpha==2.0" in res.err
    assert (venv.site_packages / "beta" / "__init__.py").exists()


def test_sync_pylock_written_by_compile(
    cli: Cli, venv: Venv, world: IndexServer, tmp_path: Path
) -> None:
    src = _write(tmp_path / "requirements.in", "alpha\ngamma\n")
    lock = tmp_path / "pylock.toml"
    cli.ok("pip", "compile", src, "--format", "pylock.toml", "-o", lock, *index_args(world))
    text = lock.read_text()
    assert 'lock-version = "1.0"' in text and "[[packages]]" in text
    assert 'name = "alpha"' in text and "sha256" in text

    # extraneous packages go, locked ones come, all from the URLs in the lock
    cli.ok("pip", "install", "extra-thing", "alpha==1.0", "--python", venv.root, *index_args(world))
    world.reset_stats()
    res = cli.ok("pip", "sync", lock, "--python", venv.root)
    assert venv.metadata_versions() == {"alpha": "2.0", "beta": "1.1", "gamma": "1.0"}
    assert " - extra-thing==0.5" in res.err
    # installing from a lock needs no index pages, only the files
    assert all(r.path.endswith(".whl") for r in world.requests), [r.path for r in world.requests]

    # a lock whose file changed on the server is refused (the lock's hash wins)
    before = tree_snapshot(venv.root)
    other = Venv(tmp_path / "fresh")
    cli.ok("venv", other.root, "--python", sys.executable)
    world.publish(
        "simple",
        build_wheel(
            DistSpec("gamma", "1.0", files={"gamma/__init__.py": "X = 'evil'\n"}), tmp_path / "evil"
        ),
    )
    res = cli("pip", "sync", lock, "--python", other.root, "-n")
    assert res.rc != 0 and "gamma-1.0-py3-none-any.whl" in res.err and "was expected" in res.err, (
        res.err
    )
    assert other.metadata_versions() == {}
    assert tree_snapshot(venv.root) == before


def test_sync_pylock_with_relative_paths(cli: Cli, venv: Venv, tmp_path: Path) -> None:
    """A lock made against a local find-links folder installs from files next to it."""
    wheels = tmp_path / "wheelhouse"
    for spec in (A1, B1):
        build_wheel(spec, wheels)
    src = _write(tmp_path / "requirements.in", "alpha\n")
    lock = tmp_path / "pylock.toml"
    cli.ok(
        "pip",
        "compile",
        src,
        "--format",
        "pylock.toml",
        "-o",
        lock,
        "--no-index",
        "--find-links",
        wheels,
    )
    cli.ok("pip", "sync", lock, "--python", venv.root)
    assert venv.metadata_versions() == {"alpha": "1.0", "beta": "1.0"}
    assert os.listdir(wheels)  # local files are used in place, never moved


def test_an_empty_file_changes_nothing_unless_asked(
    cli: Cli, venv: Venv, world: IndexServer, tmp_path: Path
) -> None:
    """As uv: `pip sync` of a file with no requirements (a failed template, the wrong file)
    leaves the environment alone unless --allow-empty-requirements says to empty it; it used to
    uninstall everything."""
    cli.ok("pip", "install", "gamma", "--python", venv.root, *index_args(world))
    empty = _write(tmp_path / "empty.txt", "# nothing here\n")
    res = cli.ok("pip", "sync", empty, "--python", venv.root, *index_args(world))
    assert "no requirements found" in res.err and "--allow-empty-requirements" in res.err
    assert listed(cli, venv) == {"gamma": "1.0"}
    cli.ok("pip", "sync", empty, "--allow-empty-requirements", "--python", venv.root, *index_args(world))
    assert listed(cli, venv) == {}
