"""Project ``[tool.uv.sources]`` that are local folders or git repositories, and the project
itself, in `torchup lock` / `torchup sync` / `torchup run` (against the hermetic index and git
repositories made by the tests, served as ``git+file://``).

Before these, `torchup lock` refused ``{ path = "../lib" }`` folders ("not a wheel file") and
``{ git = ... }`` sources ("not supported yet"), both everyday uv setups, and `torchup sync`
never installed the project itself, so `torchup run pytest` could not import a src-layout
project that `uv run pytest` imports.
"""

from __future__ import annotations

import json
import os
import shutil
import sys
from pathlib import Path

import pytest
from tests.integration.test_git_sources import IMPOSTOR, _git, repo  # noqa: F401 - fixture
from tests.integration.test_pip_install import DEP1, DEP2, Venv, publish
from tests.support.cli import Cli
from tests.support.server import IndexServer
from tests.support.wheels import DistSpec, write_project

from torchup.install.wheel import SOURCE_FINGERPRINT_FILE
from torchup.lock.io import read_lock

needs_git = pytest.mark.skipif(shutil.which("git") is None, reason="git is not installed")


@pytest.fixture
def world(index_server: IndexServer, tmp_path: Path) -> IndexServer:
    # IMPOSTOR: an index project named like the git one, which a lock must not pick.
    publish(index_server, tmp_path / "dists", DEP1, DEP2, IMPOSTOR, DistSpec("lib", "9.0"))
    return index_server


def _project(root: Path, sources: str, deps: tuple[str, ...], *, package: bool = False) -> Path:
    """A project in ``root``: a package built by the tests' in-tree backend when ``package``,
    else a virtual one (no [build-system]); ``sources`` is the [tool.uv.sources] body."""
    if package:
        write_project(DistSpec("proj", "0.1.0", requires_dist=deps), root)
        text = (root / "pyproject.toml").read_text()
    else:
        root.mkdir(parents=True, exist_ok=True)
        text = f'[project]\nname = "proj"\nversion = "0.1.0"\ndependencies = {json.dumps(list(deps))}\n'
    (root / "pyproject.toml").write_text(text + "\n[tool.uv.sources]\n" + sources)
    return root


def _args(root: Path, world: IndexServer) -> list[str]:
    return ["--directory", str(root), "--index-url", world.index_url("simple")]


def _sync(cli: Cli, root: Path, world: IndexServer, *extra: str) -> str:
    return cli.ok("sync", *_args(root, world), "--python", sys.executable, *extra).err


def _direct_url(venv: Venv, dist: str) -> dict[str, object]:
    return json.loads((venv.site_packages / f"{dist}.dist-info" / "direct_url.json").read_text())  # type: ignore[no-any-return]


def _versions(venv: Venv) -> dict[str, str]:
    return {
        p.name[: -len(".dist-info")].split("-")[0]: p.name[: -len(".dist-info")].split("-")[1]
        for p in venv.site_packages.glob("*.dist-info")
    }


def test_editable_folder_source_is_locked_as_a_directory_and_synced_editable(
    cli: Cli, world: IndexServer, tmp_path: Path
) -> None:
    lib = write_project(
        DistSpec("lib", "0.2", requires_dist=("dep<2",), files={"lib/__init__.py": "V = 'a'\n"}),
        tmp_path / "lib",
    )
    root = _project(tmp_path / "proj", 'lib = { path = "../lib", editable = true }\n', ("lib",))
    cli.ok("lock", *_args(root, world))
    lock = read_lock(root / "pylock.toml")
    entries = {p.name: p for p in lock.packages}
    # the folder's version and its dependency from its own metadata, not the index's lib 9.0
    assert str(entries["lib"].version) == "0.2" and str(entries["dep"].version) == "1.0"
    assert entries["lib"].directory is not None
    assert (entries["lib"].directory.path, entries["lib"].directory.editable) == ("../lib", True)
    assert entries["lib"].sdist is None and not entries["lib"].wheels
    assert 'directory = { path = "../lib", editable = true }' in (root / "pylock.toml").read_text()
    # exported as the folder (it used to be `lib==0.2`, which pip takes from the index)
    exported = cli.ok("export", *_args(root, world), "--frozen").out.splitlines()
    assert "-e ../lib" in exported and "lib==0.2" not in exported

    err = _sync(cli, root, world)
    assert " + lib==0.2" in err and " + dep==1.0" in err
    venv = Venv(root / ".venv")
    assert _direct_url(venv, "lib-0.2") == {
        "url": lib.as_uri(),
        "dir_info": {"editable": True},
    }
    # editable: an edit in the folder is seen without a sync
    (lib / "lib" / "__init__.py").write_text("V = 'edited'\n")
    assert venv.run("import lib; print(lib.V)") == "edited"
    # a second sync keeps the editable install: nothing is built or installed again
    record = venv.site_packages / "lib-0.2.dist-info" / "RECORD"
    before = record.stat().st_ino
    assert "Audited" in _sync(cli, root, world)
    assert record.stat().st_ino == before


def test_a_changed_folder_source_makes_the_lock_stale_and_is_rebuilt(
    cli: Cli, world: IndexServer, tmp_path: Path
) -> None:
    """The lock's input hash covers the metadata files of the folders the project depends on:
    a folder project that gains a dependency (same version) used to leave the lock "fresh",
    and `torchup sync` kept the old dependencies and the old editable metadata."""
    lib = write_project(DistSpec("lib", "0.2"), tmp_path / "lib")
    root = _project(tmp_path / "proj", 'lib = { path = "../lib", editable = true }\n', ("lib",))
    _sync(cli, root, world)
    venv = Venv(root / ".venv")
    assert _versions(venv) == {"lib": "0.2"}
    cli.ok("lock", *_args(root, world), "--check")

    write_project(DistSpec("lib", "0.2", requires_dist=("dep<2",)), lib)
    dist_info = venv.site_packages / "lib-0.2.dist-info"
    # newer than that install (written within its second), older than the next one
    later = dist_info.stat().st_mtime + 0.01
    os.utime(lib / "pyproject.toml", (later, later))
    stale = cli("lock", *_args(root, world), "--check")
    assert stale.rc != 0 and "out of date" in stale.err
    err = _sync(cli, root, world)
    assert " + dep==1.0" in err
    assert _versions(venv) == {"lib": "0.2", "dep": "1.0"}
    # the editable install was rebuilt: its metadata names the new dependency
    assert "Requires-Dist: dep<2" in (dist_info / "METADATA").read_text()
    cli.ok("lock", *_args(root, world), "--check")
    assert "Audited" in _sync(cli, root, world)


def test_cache_keys_of_a_folder_source(
    cli: Cli, world: IndexServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A folder project's `[tool.uv] cache-keys` say what its metadata comes from: here the
    backend's `_tiny_spec.json` (not pyproject.toml) and an environment variable. A change to
    either makes the lock stale, and the changed file gets the editable install rebuilt."""
    lib = write_project(DistSpec("lib", "0.2"), tmp_path / "lib")
    with (lib / "pyproject.toml").open("a") as f:
        f.write(
            '\n[tool.uv]\ncache-keys = [{ file = "pyproject.toml" }, { file = "_tiny_spec.json" },'
            ' { env = "LIB_FLAVOUR" }]\n'
        )
    root = _project(tmp_path / "proj", 'lib = { path = "../lib", editable = true }\n', ("lib",))
    _sync(cli, root, world)
    venv = Venv(root / ".venv")
    cli.ok("lock", *_args(root, world), "--check")

    # only the file the metadata comes from changes: pyproject.toml stays as it was
    other = write_project(DistSpec("lib", "0.2", requires_dist=("dep<2",)), tmp_path / "other")
    shutil.copyfile(other / "_tiny_spec.json", lib / "_tiny_spec.json")
    later = (venv.site_packages / "lib-0.2.dist-info").stat().st_mtime + 0.01
    os.utime(lib / "_tiny_spec.json", (later, later))
    stale = cli("lock", *_args(root, world), "--check")
    assert stale.rc != 0 and "out of date" in stale.err
    assert " + dep==1.0" in _sync(cli, root, world)
    assert "Requires-Dist: dep<2" in (venv.site_packages / "lib-0.2.dist-info" / "METADATA").read_text()
    cli.ok("lock", *_args(root, world), "--check")

    monkeypatch.setenv("LIB_FLAVOUR", "gpu")
    assert cli("lock", *_args(root, world), "--check").rc != 0
    # The variable leaves no timestamp: the install keeps a fingerprint of what its build
    # read (uv keeps the like in uv_cache.json), so the editable is rebuilt all the same.
    dist_info = venv.site_packages / "lib-0.2.dist-info"
    assert SOURCE_FINGERPRINT_FILE in (dist_info / "RECORD").read_text()
    err = _sync(cli, root, world)
    assert " - lib==0.2" in err and " + lib==0.2" in err
    assert "Audited" in _sync(cli, root, world)
    # A file touched but not changed is not a change (timestamps alone used to rebuild).
    later = dist_info.stat().st_mtime + 5
    os.utime(lib / "_tiny_spec.json", (later, later))
    assert "Audited" in _sync(cli, root, world)
    # An install without the fingerprint (another tool's) is judged by the timestamps.
    (dist_info / SOURCE_FINGERPRINT_FILE).unlink()
    err = _sync(cli, root, world)
    assert " + lib==0.2" in err
    assert "Audited" in _sync(cli, root, world)


def test_no_sources_resolves_from_the_indexes(cli: Cli, world: IndexServer, tmp_path: Path) -> None:
    """uv's --no-sources: `[tool.uv.sources]` is ignored, so lib comes from the index (9.0),
    as the project's published metadata would have it. Such a lock is stale for a run
    without the flag, which locks the folder again."""
    write_project(DistSpec("lib", "0.2", requires_dist=("dep<2",)), tmp_path / "lib")
    root = _project(tmp_path / "proj", 'lib = { path = "../lib", editable = true }\n', ("lib",))
    cli.ok("lock", *_args(root, world), "--no-sources")
    entries = {p.name: p for p in read_lock(root / "pylock.toml").packages}
    assert str(entries["lib"].version) == "9.0" and entries["lib"].directory is None
    assert "dep" not in entries
    assert "lib v9.0" in cli.ok("tree", *_args(root, world), "--no-sources", "--frozen").out
    cli.ok("lock", *_args(root, world), "--no-sources", "--check")
    stale = cli("lock", *_args(root, world), "--check")
    assert stale.rc != 0 and "out of date" in stale.err
    err = _sync(cli, root, world)
    assert " + lib==0.2" in err and " + dep==1.0" in err
    err = _sync(cli, root, world, "--no-sources")
    assert " - lib==0.2" in err and " + lib==9.0" in err and " - dep==1.0" in err


def test_dependency_metadata_stands_in_for_a_package_s_own(
    cli: Cli, index_server: IndexServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`[[tool.uv.dependency-metadata]]` (uv's flash-attn recipe): the project says what a
    package requires, and the lock uses that instead of the package's own metadata, without
    downloading or building it. Here fa's sdist says dep<2; the declaration says dep>=2."""
    publish(
        index_server, tmp_path / "dists", DEP1, DEP2,
        DistSpec("fa", "1.0", requires_dist=("dep<2",)), sdist_only=["fa"],
    )
    root = _project(tmp_path / "proj", "", ("fa",))
    args = _args(root, index_server)
    cli.ok("lock", *args)
    entries = {p.name: p for p in read_lock(root / "pylock.toml").packages}
    assert str(entries["dep"].version) == "1.0"  # fa's own metadata

    with (root / "pyproject.toml").open("a") as f:
        f.write('\n[[tool.uv.dependency-metadata]]\nname = "FA"\nversion = "1.0"\nrequires-dist = ["dep>=2"]\n')
    # A fresh cache, so reading fa's own metadata would download its sdist again.
    monkeypatch.setenv("TORCHUP_CACHE_DIR", str(tmp_path / "fresh-cache"))
    def sdist_requests() -> int:
        return len([r for r in index_server.requests if r.path.endswith("fa-1.0.tar.gz")])

    before = sdist_requests()
    assert before >= 1  # the first lock read fa's own metadata from its sdist
    assert "not used by torchup" not in cli.ok("lock", *args).err  # the lock is stale: again
    entries = {p.name: p for p in read_lock(root / "pylock.toml").packages}
    assert str(entries["dep"].version) == "2.0" and str(entries["fa"].version) == "1.0"
    assert sdist_requests() == before

    text = (root / "pyproject.toml").read_text()
    (root / "pyproject.toml").write_text(text.replace('version = "1.0"\n', 'version = "9"\n'))
    cli.ok("lock", *args)  # a declaration for another version does not apply
    assert str({p.name: p for p in read_lock(root / "pylock.toml").packages}["dep"].version) == "1.0"
    (root / "pyproject.toml").write_text(text.replace('version = "1.0"\n', 'version = "one"\n'))
    res = cli("lock", *args)
    assert res.rc != 0 and "invalid version 'one'" in res.err and "dependency-metadata" in res.err


def test_sync_reinstall_and_reinstall_package(cli: Cli, world: IndexServer, tmp_path: Path) -> None:
    """uv's `sync --reinstall` / `--reinstall-package`: the editable folder and the project
    itself are built and installed again too, not kept as installed."""
    write_project(DistSpec("lib", "0.2", requires_dist=("dep<2",)), tmp_path / "lib")
    root = _project(
        tmp_path / "proj", 'lib = { path = "../lib", editable = true }\n', ("lib",), package=True
    )
    _sync(cli, root, world)
    venv = Venv(root / ".venv")
    assert "Audited" in _sync(cli, root, world)
    err = _sync(cli, root, world, "--reinstall-package", "lib")
    assert " - lib==0.2" in err and " + lib==0.2" in err and "dep" not in err
    err = _sync(cli, root, world, "--reinstall")
    for name in ("lib==0.2", "dep==1.0", "proj==0.1.0"):
        assert f" - {name}" in err and f" + {name}" in err
    assert _direct_url(venv, "lib-0.2")["dir_info"] == {"editable": True}


def test_plain_folder_source_is_built_and_installed(
    cli: Cli, world: IndexServer, tmp_path: Path
) -> None:
    lib = write_project(DistSpec("lib", "0.3", requires_dist=("dep>=2",)), tmp_path / "libs" / "lib")
    root = _project(tmp_path / "proj", 'lib = { path = "../libs/lib" }\n', ("lib",))
    _sync(cli, root, world)  # locks first
    lock = read_lock(root / "pylock.toml")
    (entry,) = [p for p in lock.packages if p.name == "lib"]
    assert entry.directory is not None
    assert (entry.directory.path, entry.directory.editable) == ("../libs/lib", None)
    venv = Venv(root / ".venv")
    assert _versions(venv) == {"lib": "0.3", "dep": "2.0"}
    assert "../libs/lib" in cli.ok("export", *_args(root, world), "--frozen").out.splitlines()
    assert _direct_url(venv, "lib-0.3") == {"url": lib.as_uri(), "dir_info": {}}


@needs_git
def test_git_source_is_locked_at_its_commit_and_synced_without_fetching_again(
    cli: Cli, world: IndexServer, tmp_path: Path, repo: tuple[Path, str, str]  # noqa: F811
) -> None:
    git_root, v1, _ = repo
    root = _project(
        tmp_path / "proj",
        f'gitpkg = {{ git = "{git_root.as_uri()}", tag = "v1", subdirectory = "sub" }}\n',
        ("gitpkg",),
    )
    cli.ok("lock", *_args(root, world))
    entries = {p.name: p for p in read_lock(root / "pylock.toml").packages}
    # the tag's commit (1.0, dep<2), not the branch head (2.0) nor the index's gitpkg 9.9
    assert str(entries["gitpkg"].version) == "1.0" and str(entries["dep"].version) == "1.0"
    vcs = entries["gitpkg"].vcs
    assert vcs is not None
    assert (vcs.type, vcs.url, vcs.commit_id, vcs.requested_revision, vcs.subdirectory) == (
        "git", git_root.as_uri(), v1, "v1", "sub",
    )
    exported = cli.ok("export", *_args(root, world), "--frozen").out.splitlines()
    assert f"gitpkg @ git+{git_root.as_uri()}@{v1}#subdirectory=sub" in exported
    _sync(cli, root, world)
    venv = Venv(root / ".venv")
    assert venv.run("import gitpkg; print(gitpkg.VERSION)") == "1.0"
    assert _direct_url(venv, "gitpkg-1.0") == {
        "url": git_root.as_uri(),
        "vcs_info": {"vcs": "git", "commit_id": v1, "requested_revision": "v1"},
        "subdirectory": "sub",
    }
    # The installed commit is the locked one: a re-sync needs neither the repository nor a
    # build (the repository is gone now).
    shutil.rmtree(git_root)
    assert "Audited" in _sync(cli, root, world, "--frozen")


def test_project_with_a_build_system_is_installed_editable(
    cli: Cli, world: IndexServer, tmp_path: Path
) -> None:
    root = _project(tmp_path / "proj", "", ("dep<2",), package=True)
    (root / "proj" / "__init__.py").write_text("import dep\nWHERE = 'tree'\n")
    err = _sync(cli, root, world)
    assert " + proj==0.1.0" in err and " + dep==1.0" in err
    venv = Venv(root / ".venv")
    assert _direct_url(venv, "proj-0.1.0") == {"url": root.as_uri(), "dir_info": {"editable": True}}
    # `torchup run` sees the project's own code, live
    res = cli.ok("run", *_args(root, world), "--python", sys.executable, "--", str(venv.python), "-c", "import proj; print(proj.WHERE)")
    assert res.rc == 0
    assert venv.run("import proj; print(proj.WHERE)") == "tree"
    # the project is not part of the lock (it is the root, as in uv's pylock export)
    assert {p.name for p in read_lock(root / "pylock.toml").packages} == {"dep"}
    # kept while its metadata files are unchanged ...
    assert "Audited" in _sync(cli, root, world)
    # ... and rebuilt once pyproject.toml changes (here: a new dependency bound)
    text = (root / "pyproject.toml").read_text().replace('"dep<2"', '"dep>=2"')
    (root / "pyproject.toml").write_text(text)
    (root / "_tiny_spec.json").write_text(
        (root / "_tiny_spec.json").read_text().replace("dep<2", "dep>=2")
    )
    err = _sync(cli, root, world)
    assert " + proj==0.1.0" in err and " + dep==2.0" in err
    assert "Requires-Dist: dep>=2" in (venv.site_packages / "proj-0.1.0.dist-info" / "METADATA").read_text()


@pytest.mark.parametrize("how", ["--no-install-project", "package = false"])
def test_project_itself_can_be_left_out(
    cli: Cli, world: IndexServer, tmp_path: Path, how: str
) -> None:
    root = _project(tmp_path / "proj", "", ("dep",), package=True)
    if how.startswith("package"):
        text = (root / "pyproject.toml").read_text().replace("[tool.uv.sources]", f"[tool.uv]\n{how}\n\n[tool.uv.sources]")
        (root / "pyproject.toml").write_text(text)
        _sync(cli, root, world)
    else:
        _sync(cli, root, world, how)
    assert _versions(Venv(root / ".venv")) == {"dep": "2.0"}


def test_a_virtual_project_is_not_installed(cli: Cli, world: IndexServer, tmp_path: Path) -> None:
    root = _project(tmp_path / "proj", "", ("dep",))
    _sync(cli, root, world)
    assert _versions(Venv(root / ".venv")) == {"dep": "2.0"}


def test_folder_source_of_another_project_is_a_clear_error(
    cli: Cli, world: IndexServer, tmp_path: Path
) -> None:
    write_project(DistSpec("other", "1.0"), tmp_path / "lib")
    root = _project(tmp_path / "proj", 'lib = { path = "../lib" }\n', ("lib",))
    res = cli("lock", *_args(root, world))
    assert res.rc != 0 and "Traceback" not in res.err
    assert f"[tool.uv.sources] lib points at {tmp_path / 'lib'}, which is the project other" in res.err
    assert not (root / "pylock.toml").exists()


def test_workspace_source_is_a_clear_error_not_the_index_project(
    cli: Cli, world: IndexServer, tmp_path: Path
) -> None:
    # The index has a `lib` (9.0): silently skipping the source used to lock that one.
    root = _project(tmp_path / "proj", "lib = { workspace = true }\n", ("lib",))
    res = cli("lock", *_args(root, world))
    assert res.rc != 0 and "Traceback" not in res.err
    assert "lib is a workspace member, and torchup does not support uv workspaces" in res.err
    assert 'lib = { path = "<folder>", editable = true }' in res.err
    assert not (root / "pylock.toml").exists()


@needs_git
def test_direct_references_in_dependencies_lock_like_sources(
    cli: Cli, world: IndexServer, tmp_path: Path, repo: tuple[Path, str, str]  # noqa: F811
) -> None:
    git_root, v1, _ = repo
    lib = write_project(DistSpec("lib", "0.4"), tmp_path / "lib")
    deps = (f"gitpkg @ git+{git_root.as_uri()}@v1#subdirectory=sub", f"lib @ {lib.as_uri()}")
    root = _project(tmp_path / "proj", "", deps)
    _sync(cli, root, world)
    entries = {p.name: p for p in read_lock(root / "pylock.toml").packages}
    assert entries["gitpkg"].vcs is not None and entries["gitpkg"].vcs.commit_id == v1
    assert entries["lib"].directory is not None and entries["lib"].directory.path == "../lib"
    assert _versions(Venv(root / ".venv")) == {"gitpkg": "1.0", "dep": "1.0", "lib": "0.4"}


@needs_git
def test_add_writes_folder_and_git_sources_and_remove_drops_them(
    cli: Cli, world: IndexServer, tmp_path: Path, repo: tuple[Path, str, str]  # noqa: F811
) -> None:
    git_root, v1, _ = repo
    # the folder is named "libdir"; the project in it is "lib": the metadata names it
    write_project(DistSpec("lib", "0.5"), tmp_path / "libdir")
    root = _project(tmp_path / "proj", "", ())
    base = [*_args(root, world), "--python", sys.executable]
    cli.ok("add", "../libdir", "--editable", *base)
    cli.ok("add", f"git+{git_root.as_uri()}@v1#subdirectory=sub", *base)
    text = (root / "pyproject.toml").read_text()
    assert 'dependencies = [\n    "lib",\n    "gitpkg",\n]' in text
    assert 'lib = { path = "../libdir", editable = true }' in text
    assert f'gitpkg = {{ git = "{git_root.as_uri()}", rev = "v1", subdirectory = "sub" }}' in text
    venv = Venv(root / ".venv")
    assert _versions(venv) == {"lib": "0.5", "gitpkg": "1.0", "dep": "1.0"}
    assert _direct_url(venv, "lib-0.5")["dir_info"] == {"editable": True}
    assert _direct_url(venv, "gitpkg-1.0")["vcs_info"] == {
        "vcs": "git", "commit_id": v1, "requested_revision": "v1",
    }
    cli.ok("remove", "gitpkg", *base)
    text = (root / "pyproject.toml").read_text()
    assert "gitpkg" not in text and 'lib = { path = "../libdir", editable = true }' in text
    assert _versions(venv) == {"lib": "0.5"}


def test_only_group_installs_that_group_and_what_it_needs(
    cli: Cli, index_server: IndexServer, tmp_path: Path
) -> None:
    publish(
        index_server, tmp_path / "dists",
        DistSpec("a", "1.0", requires_dist=("c",)), DistSpec("c", "1.0"),
        DistSpec("b", "1.0", requires_dist=("d",)), DistSpec("d", "1.0"),
        DistSpec("e", "1.0"),
    )
    root = _project(tmp_path / "proj", "", ("a",), package=True)
    text = (root / "pyproject.toml").read_text()
    text = text.replace("[tool.uv.sources]", '[dependency-groups]\ndev = ["b"]\ndocs = ["e"]\n\n[tool.uv.sources]')
    (root / "pyproject.toml").write_text(text)
    venv = Venv(root / ".venv")
    # the dev group and what it needs; not the project, nor its dependencies (as uv)
    _sync(cli, root, index_server, "--only-dev")
    assert _versions(venv) == {"b": "1.0", "d": "1.0"}
    _sync(cli, root, index_server, "--only-group", "docs")
    assert _versions(venv) == {"e": "1.0"}
    _sync(cli, root, index_server)
    assert _versions(venv) == {"proj": "0.1.0", "a": "1.0", "c": "1.0", "b": "1.0", "d": "1.0"}
    res = cli("sync", *_args(root, index_server), "--python", sys.executable, "--only-group", "nope")
    assert res.rc == 2 and "the dependency group 'nope' is not defined" in res.err


def test_lock_honours_pre_binary_flags_and_environment(
    cli: Cli, index_server: IndexServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """--pre, TORCHUP_PRERELEASE and --only-binary were accepted by `torchup lock` and
    ignored; --python-platform / -c, which a project does not use, are refused by the parser."""
    publish(index_server, tmp_path / "dists", DistSpec("dep", "1.0"), DistSpec("dep", "2.0b1"))
    publish(index_server, tmp_path / "dists", DistSpec("dep", "1.5"), sdist_only={"dep"})
    root = _project(tmp_path / "proj", "", ("dep",))

    def locked(*flags: str) -> str:
        cli.ok("lock", *_args(root, index_server), "--upgrade", *flags)
        (entry,) = [p for p in read_lock(root / "pylock.toml").packages if p.name == "dep"]
        return str(entry.version)

    assert locked() == "1.5"  # the sdist-only 1.5 is the newest final release
    assert locked("--only-binary", ":all:") == "1.0"
    assert locked("--pre") == "2.0b1"
    monkeypatch.setenv("TORCHUP_PRERELEASE", "allow")
    assert locked() == "2.0b1"
    assert locked("--prerelease", "disallow") == "1.5"  # the command line wins
    for flag in (["--python-platform", "linux"], ["-c", "c.txt"]):
        res = cli("lock", *_args(root, index_server), *flag)
        assert res.rc == 2 and "unrecognized arguments" in res.err


@needs_git
def test_git_cache_key_follows_the_checkout_commit(tmp_path: Path) -> None:
    """`{ git = { commit = true } }` (setuptools-scm style versions): each new commit changes
    the fingerprint, also once refs are packed and from a subdirectory of the repository."""
    from torchup.cli.pip_install import metadata_fingerprint

    checkout = tmp_path / "checkout"
    lib = write_project(DistSpec("lib", "0.2"), checkout / "libs" / "lib")
    with (lib / "pyproject.toml").open("a") as f:
        f.write('\n[tool.uv]\ncache-keys = [{ git = { commit = true } }]\n')
    _git(checkout, "init", "-q", "-b", "main")
    _git(checkout, "add", "-A")
    _git(checkout, "commit", "-q", "-m", "one")
    first = metadata_fingerprint(lib)
    assert metadata_fingerprint(lib) == first
    (checkout / "README").write_text("two\n")
    _git(checkout, "add", "-A")
    _git(checkout, "commit", "-q", "-m", "two")
    second = metadata_fingerprint(lib)
    assert second != first
    _git(checkout, "pack-refs", "--all")
    assert not (checkout / ".git" / "refs" / "heads" / "main").exists()
    assert metadata_fingerprint(lib) == second
