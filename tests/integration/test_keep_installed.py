"""`pip install` keeps an installed distribution that satisfies the requirements, even at a
version no index lists (a local build, an editable project, a wheel from another index), as
pip and uv do; --upgrade, -P and --reinstall still take the index's.

Before, installed versions were only preferences: one the index lacked was replaced by the
index's newest (a custom torch build replaced by PyPI's when installing a library needing torch).
"""

from __future__ import annotations

import json
from pathlib import Path

from tests.integration.test_pip_install import Venv, index_args, listed, publish
from tests.support.cli import Cli
from tests.support.server import IndexServer
from tests.support.wheels import DistSpec, build_wheel, write_project

LOCAL = DistSpec("lib", "0.5+local", requires_dist=("dep",), files={"lib/__init__.py": "WHERE = 'local'\n"})


def _world(server: IndexServer, tmp_path: Path) -> IndexServer:
    publish(
        server, tmp_path / "dists", DistSpec("dep", "1.0"), DistSpec("lib", "1.0"),
        DistSpec("needs-lib", "1.0", requires_dist=("lib>=0.1",)),
    )
    return server


def test_a_local_build_the_index_lacks_is_kept(
    cli: Cli, venv: Venv, index_server: IndexServer, tmp_path: Path
) -> None:
    world = _world(index_server, tmp_path)
    wheel = build_wheel(LOCAL, tmp_path / "local")
    args = ("--python", venv.root, *index_args(world))
    cli.ok("pip", "install", wheel, *args)
    res = cli.ok("pip", "install", "needs-lib", *args)
    assert " + needs-lib==1.0" in res.err and " + lib==" not in res.err and " - lib==" not in res.err
    assert listed(cli, venv) == {"lib": "0.5+local", "dep": "1.0", "needs-lib": "1.0"}
    assert venv.run("import lib; print(lib.WHERE)") == "local"
    # a requirement the installed version does not meet takes the index's
    res = cli.ok("pip", "install", "lib>=1", *args)
    assert " - lib==0.5+local" in res.err and " + lib==1.0" in res.err


def test_upgrade_and_reinstall_take_the_index_version(
    cli: Cli, make_venv, index_server: IndexServer, tmp_path: Path  # noqa: ANN001
) -> None:
    world = _world(index_server, tmp_path)
    wheel = build_wheel(LOCAL, tmp_path / "local")
    for flags in (["--upgrade"], ["-P", "lib"], ["--reinstall"]):
        venv = make_venv(f"v{flags[0]}")
        args = ("--python", venv.root, *index_args(world))
        cli.ok("pip", "install", wheel, *args)
        cli.ok("pip", "install", "needs-lib", *flags, *args)
        assert listed(cli, venv)["lib"] == "1.0", flags


def test_an_editable_project_is_kept(
    cli: Cli, venv: Venv, index_server: IndexServer, tmp_path: Path
) -> None:
    world = _world(index_server, tmp_path)
    project = write_project(DistSpec("lib", "0.7", requires_dist=("dep",)), tmp_path / "src" / "lib")
    args = ("--python", venv.root, *index_args(world))
    cli.ok("pip", "install", "-e", project, *args)
    res = cli.ok("pip", "install", "needs-lib", *args)
    assert " + needs-lib==1.0" in res.err and " - lib" not in res.err
    direct = json.loads((venv.site_packages / "lib-0.7.dist-info" / "direct_url.json").read_text())
    assert direct == {"url": project.as_uri(), "dir_info": {"editable": True}}


def test_pip_sync_keeps_an_install_the_index_lacks_and_replaces_an_editable_one(
    cli: Cli, venv: Venv, index_server: IndexServer, tmp_path: Path
) -> None:
    world = _world(index_server, tmp_path)
    args = ("--python", venv.root, *index_args(world))
    # a plain install the index lacks stays: the file names exactly that version
    cli.ok("pip", "install", build_wheel(LOCAL, tmp_path / "local"), "--no-deps", *args)
    direct = venv.site_packages / "lib-0.5+local.dist-info" / "direct_url.json"
    direct.unlink()  # as if installed from another index (no PEP 610 record)
    reqs = tmp_path / "requirements.txt"
    # dep is not installed yet, so this is a real resolution (not the no-op fast path)
    reqs.write_text("lib==0.5+local\ndep==1.0\n")
    res = cli.ok("pip", "sync", reqs, *args)
    assert " + dep==1.0" in res.err and "lib==" not in res.err.replace("needs-lib", "")
    assert listed(cli, venv) == {"lib": "0.5+local", "dep": "1.0"}
    # an editable 1.0 where the index has lib 1.0: sync puts the index's file in (a kept
    # install only stands in for a version no index lists)
    project = write_project(DistSpec("lib", "1.0"), tmp_path / "src" / "lib")
    cli.ok("pip", "install", "-e", project, *args)
    reqs.write_text("lib==1.0\n")
    res = cli.ok("pip", "sync", reqs, *args)
    assert " - lib==1.0" in res.err and " + lib==1.0" in res.err
    assert not (venv.site_packages / "lib-1.0.dist-info" / "direct_url.json").exists()


def test_pip_sync_of_a_requirements_file_keeps_an_unchanged_editable(
    cli: Cli, venv: Venv, index_server: IndexServer, tmp_path: Path
) -> None:
    """`pip sync` of `-e ./lib` twice: the second run keeps the editable install ("Audited").
    Only a lock's folder entries are reinstalled when built again (their metadata may have
    changed); a stale-install rule added for those had reached requirements files too."""
    publish(index_server, tmp_path / "dists", DistSpec("dep", "1.0"))
    lib = write_project(DistSpec("lib", "0.2", requires_dist=("dep",)), tmp_path / "lib")
    reqs = tmp_path / "requirements.txt"
    reqs.write_text(f"-e {lib}\ndep==1.0\n")
    args = ("--python", venv.root, *index_args(index_server))
    assert " + lib==0.2" in cli.ok("pip", "sync", reqs, *args).err
    second = cli.ok("pip", "sync", reqs, *args).err
    assert "Audited" in second and "lib" not in second


def test_an_unchanged_editable_is_kept_without_building_it_again(
    cli: Cli, venv: Venv, index_server: IndexServer, tmp_path: Path
) -> None:
    """`pip install -e ./lib` run again, and `pip sync` of a file with `-e ./lib`: when the
    folder's cache keys name what the installed build read (the fingerprint the install
    keeps), the install is kept and nothing is built (uv's rule; a PEP 517 build costs
    seconds). The proof: the in-tree backend, not a cache key, is broken after the first
    install. --reinstall-package builds anyway; a changed pyproject.toml is built again."""
    publish(index_server, tmp_path / "dists", DistSpec("dep", "1.0"))
    lib = write_project(DistSpec("lib", "0.2", requires_dist=("dep",)), tmp_path / "lib")
    args = ("--python", venv.root, *index_args(index_server))
    assert " + lib==0.2" in cli.ok("pip", "install", "-e", lib, *args).err
    record = venv.site_packages / "lib-0.2.dist-info" / "RECORD"
    inode = record.stat().st_ino
    backend = lib / "_tiny_backend.py"
    working = backend.read_text()
    backend.write_text("raise SystemExit('the backend was run')\n")

    again = cli.ok("pip", "install", "-e", lib, *args).err
    assert "Audited" in again and "lib" not in again
    reqs = tmp_path / "requirements.txt"
    reqs.write_text(f"-e {lib}\ndep==1.0\n")
    assert "Audited" in cli.ok("pip", "sync", reqs, *args).err
    assert record.stat().st_ino == inode
    assert venv.run("import lib; print(lib.__name__)") == "lib"

    forced = cli("pip", "install", "-e", lib, "--reinstall-package", "lib", *args)
    assert forced.rc != 0 and "the backend was run" in forced.out + forced.err
    backend.write_text(working)
    # A dependency added at the same version: built, and installed again although "0.2 from
    # this folder" is installed (kept, the old METADATA stayed and every run built it again).
    publish(index_server, tmp_path / "dists", DistSpec("dep2", "1.0"))
    write_project(DistSpec("lib", "0.2", requires_dist=("dep", "dep2")), lib)
    err = cli.ok("pip", "install", "-e", lib, *args).err
    assert " - lib==0.2" in err and " + lib==0.2" in err and " + dep2==1.0" in err
    assert "Requires-Dist: dep2" in (venv.site_packages / "lib-0.2.dist-info" / "METADATA").read_text()
    assert "Audited" in cli.ok("pip", "install", "-e", lib, *args).err
    # a METADATA that cannot be read as text: built and installed again, not a traceback
    metadata = venv.site_packages / "lib-0.2.dist-info" / "METADATA"
    metadata.write_bytes(metadata.read_bytes() + b"Description: \xff\xfe\n")
    err = cli.ok("pip", "install", "-e", lib, *args).err
    assert " + lib==0.2" in err and "Traceback" not in err
    write_project(DistSpec("lib", "0.3", requires_dist=("dep",)), lib)
    assert " + lib==0.3" in cli.ok("pip", "install", "-e", lib, *args).err
