"""Git requirements (``name @ git+URL@rev#subdirectory=...``) and local project folders in
`pip install`, `pip sync` and `pip compile`, against the hermetic index and real git
repositories made by the tests (served as ``git+file://``).

Before these, `pip install "name @ git+..."` silently installed ``name`` from the index, and
`pip compile ./folder` / `pip sync` with a folder or git line resolved an index project of the
same name: these tests fail on that behaviour.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest
from tests.integration.test_pip_install import (
    DEP1,
    DEP2,
    Cli,
    Venv,
    index_args,
    listed,
    publish,
)
from tests.support.server import IndexServer
from tests.support.wheels import DistSpec, write_project

pytestmark = pytest.mark.skipif(shutil.which("git") is None, reason="git is not installed")

# An index project with the same name as the git/folder project: resolving the name on the
# index instead of building the source would pick this one.
IMPOSTOR = DistSpec("gitpkg", "9.9", requires_dist=("dep>=2",))


def _git(repo: Path, *args: str) -> str:
    env = {
        **os.environ,
        "GIT_AUTHOR_NAME": "t",
        "GIT_AUTHOR_EMAIL": "t@example.invalid",
        "GIT_COMMITTER_NAME": "t",
        "GIT_COMMITTER_EMAIL": "t@example.invalid",
    }
    out = subprocess.run(
        ["git", *args], cwd=repo, env=env, check=True, capture_output=True, text=True
    )
    return out.stdout.strip()


def _spec(version: str) -> DistSpec:
    return DistSpec(
        "gitpkg",
        version,
        requires_dist=("dep<2",),
        files={"gitpkg/__init__.py": f"VERSION = {version!r}\n"},
    )


@pytest.fixture
def repo(tmp_path: Path) -> tuple[Path, str, str]:
    """A repository holding gitpkg in ``sub/``: 1.0 tagged v1, then 2.0 on the branch.
    Returns (repository, commit of v1, commit of the branch head)."""
    root = tmp_path / "repo"
    write_project(_spec("1.0"), root / "sub")
    _git(root, "init", "--quiet", "--initial-branch", "main")
    _git(root, "add", ".")
    _git(root, "commit", "--quiet", "-m", "1.0")
    _git(root, "tag", "v1")
    v1 = _git(root, "rev-parse", "HEAD")
    shutil.rmtree(root / "sub")
    write_project(_spec("2.0"), root / "sub")
    _git(root, "add", "-A")
    _git(root, "commit", "--quiet", "-m", "2.0")
    return root, v1, _git(root, "rev-parse", "HEAD")


@pytest.fixture
def world(index_server: IndexServer, tmp_path: Path) -> IndexServer:
    publish(index_server, tmp_path / "dists", DEP1, DEP2, IMPOSTOR)
    return index_server


def _installed_version(venv: Venv) -> str:
    return venv.run("import gitpkg; print(gitpkg.VERSION)")


def _direct_url(venv: Venv, version: str) -> dict[str, object]:
    path = venv.site_packages / f"gitpkg-{version}.dist-info" / "direct_url.json"
    return json.loads(path.read_text())  # type: ignore[no-any-return]


def test_install_from_a_git_tag_builds_that_commit(
    cli: Cli, venv: Venv, world: IndexServer, repo: tuple[Path, str, str]
) -> None:
    root, v1, _ = repo
    url = f"git+{root.as_uri()}@v1#subdirectory=sub"
    res = cli.ok("pip", "install", f"gitpkg @ {url}", "--python", venv.root, *index_args(world))
    assert " + gitpkg==1.0" in res.err and " + dep==1.0" in res.err
    assert listed(cli, venv) == {"gitpkg": "1.0", "dep": "1.0"}
    assert _installed_version(venv) == "1.0"
    # PEP 610: the repository, the commit the tag pointed at, the revision as asked
    assert _direct_url(venv, "1.0") == {
        "url": root.as_uri(),
        "vcs_info": {"vcs": "git", "commit_id": v1, "requested_revision": "v1"},
        "subdirectory": "sub",
    }
    freeze = cli.ok("pip", "freeze", "--python", venv.root).out.splitlines()
    assert f"gitpkg @ git+{root.as_uri()}@{v1}#subdirectory=sub" in freeze


def test_unnamed_git_url_takes_the_name_from_the_project(
    cli: Cli, venv: Venv, world: IndexServer, repo: tuple[Path, str, str]
) -> None:
    root, _, head = repo
    # no `name @`, no revision: the default branch, named by the built metadata ("sub" is
    # only the stand-in the URL suggests)
    cli.ok(
        "pip",
        "install",
        f"git+{root.as_uri()}#subdirectory=sub",
        "--python",
        venv.root,
        *index_args(world),
    )
    assert listed(cli, venv) == {"gitpkg": "2.0", "dep": "1.0"}
    direct = _direct_url(venv, "2.0")
    assert direct["vcs_info"] == {"vcs": "git", "commit_id": head}


def test_a_known_commit_installs_from_the_cache(
    cli: Cli, make_venv: Callable[..., Venv], world: IndexServer, repo: tuple[Path, str, str]
) -> None:
    root, v1, _ = repo
    url = f"gitpkg @ git+{root.as_uri()}@{v1}#subdirectory=sub"
    first = make_venv("one")
    cli.ok("pip", "install", url, "--python", first.root, *index_args(world))
    # The repository is gone: a full commit hash already fetched needs no remote. And the
    # commit's wheel was kept: with the checkout's sources gone too, nothing is rebuilt.
    shutil.rmtree(root)
    checkouts = Path(os.environ["TORCHUP_CACHE_DIR"]) / "git-v1" / "checkouts"
    (source,) = checkouts.glob(f"*/{v1}/sub/gitpkg")
    shutil.rmtree(source)
    second = make_venv("two")
    cli.ok("pip", "install", url, "--python", second.root, *index_args(world))
    assert listed(cli, second) == {"gitpkg": "1.0", "dep": "1.0"}
    assert second.run("import gitpkg; print(gitpkg.VERSION)") == "1.0"
    # A branch must be asked of the remote again (it moves): a clear error, not a stale tree.
    res = cli(
        "pip",
        "install",
        f"gitpkg @ git+{root.as_uri()}@main#subdirectory=sub",
        "--python",
        second.root,
        *index_args(world),
    )
    assert res.rc == 2 and "cannot fetch" in res.err and "Traceback" not in res.err


def test_sync_builds_git_and_folder_lines_and_adds_nothing(
    cli: Cli, venv: Venv, world: IndexServer, repo: tuple[Path, str, str], tmp_path: Path
) -> None:
    root, v1, _ = repo
    folder = write_project(
        DistSpec("localdir", "0.3", requires_dist=("dep",)), tmp_path / "src" / "localdir"
    )
    cli.ok("pip", "install", "dep==2.0", "--python", venv.root, *index_args(world))
    reqs = tmp_path / "requirements.txt"
    reqs.write_text(f"gitpkg @ git+{root.as_uri()}@{v1}#subdirectory=sub\n{folder}\ndep==1.0\n")
    cli.ok("pip", "sync", reqs, "--python", venv.root, *index_args(world))
    # exactly the file: the git project at v1 (not the index's 9.9), the folder, dep 1.0
    assert listed(cli, venv) == {"gitpkg": "1.0", "localdir": "0.3", "dep": "1.0"}
    assert _direct_url(venv, "1.0")["vcs_info"] == {
        "vcs": "git",
        "commit_id": v1,
        "requested_revision": v1,
    }
    local = json.loads(
        (venv.site_packages / "localdir-0.3.dist-info" / "direct_url.json").read_text()
    )
    assert local == {"url": folder.as_uri(), "dir_info": {}}


def _pins(compiled: str) -> list[str]:
    return [line for line in compiled.splitlines() if line and not line.startswith((" ", "#"))]


def test_compile_pins_git_to_its_commit_and_reads_folders(
    cli: Cli, world: IndexServer, repo: tuple[Path, str, str], tmp_path: Path
) -> None:
    root, _, head = repo
    folder = write_project(
        DistSpec("gitpkg-tools", "0.1", requires_dist=("dep>=2",)), tmp_path / "tools"
    )
    src = tmp_path / "requirements.in"
    git_line = f"gitpkg @ git+{root.as_uri()}@main#subdirectory=sub\n"
    # the branch is written as the commit it pointed at (not the index's gitpkg 9.9)
    src.write_text(git_line)
    pins = _pins(cli.ok("pip", "compile", src, *index_args(world)).out)
    assert pins == ["dep==1.0", f"gitpkg @ git+{root.as_uri()}@{head}#subdirectory=sub"]
    # a folder is read for its name, version and dependencies
    src.write_text(f"{folder}\n")
    pins = _pins(cli.ok("pip", "compile", src, *index_args(world)).out)
    assert pins == ["dep==2.0", f"gitpkg-tools @ {folder.as_uri()}"]
    # both: gitpkg needs dep<2 and gitpkg-tools dep>=2; the explanation names both
    src.write_text(git_line + f"{folder}\n")
    res = cli("pip", "compile", src, *index_args(world))
    assert res.rc == 1, res.err
    assert "gitpkg-tools" in res.err and "dep<2" in res.err and "dep>=2" in res.err, res.err


def test_compiled_git_pin_installs_the_same_commit(
    cli: Cli, venv: Venv, world: IndexServer, repo: tuple[Path, str, str], tmp_path: Path
) -> None:
    root, _, head = repo
    src = tmp_path / "requirements.in"
    src.write_text(f"git+{root.as_uri()}#subdirectory=sub\n")
    locked = tmp_path / "requirements.txt"
    cli.ok("pip", "compile", src, "-o", locked, *index_args(world))
    cli.ok("pip", "sync", locked, "--python", venv.root, *index_args(world))
    assert listed(cli, venv) == {"gitpkg": "2.0", "dep": "1.0"}
    assert _direct_url(venv, "2.0")["vcs_info"] == {
        "vcs": "git",
        "commit_id": head,
        "requested_revision": head,
    }


def test_git_errors_are_one_clear_paragraph(
    cli: Cli, venv: Venv, world: IndexServer, repo: tuple[Path, str, str], tmp_path: Path
) -> None:
    root, _, _ = repo
    before = listed(cli, venv)
    cases = {
        f"gitpkg @ git+{root.as_uri()}@nope#subdirectory=sub": "has no branch, tag or commit 'nope'",
        f"gitpkg @ git+{root.as_uri()}@v1#subdirectory=elsewhere": "has no folder 'elsewhere'",
        f"gitpkg @ git+{(tmp_path / 'missing').as_uri()}": "cannot fetch",
        f"gitpkg @ git+{root.as_uri()}#subdirectory=../up": "leaves the repository",
    }
    for requirement, words in cases.items():
        res = cli("pip", "install", requirement, "--python", venv.root, *index_args(world))
        assert res.rc == 2, (requirement, res.err)
        assert words in res.err and "hint:" in res.err and "Traceback" not in res.err, res.err
    res = cli(
        "pip", "install", "-e", f"git+{root.as_uri()}", "--python", venv.root, *index_args(world)
    )
    assert res.rc == 2 and "editable install of a git URL is not supported" in res.err
    assert listed(cli, venv) == before  # nothing was installed by any of them


def test_a_short_commit_hash_is_looked_up(
    cli: Cli, venv: Venv, world: IndexServer, repo: tuple[Path, str, str]
) -> None:
    root, v1, _ = repo
    # git cannot fetch an abbreviated hash by name: every branch and tag is fetched instead
    url = f"gitpkg @ git+{root.as_uri()}@{v1[:10]}#subdirectory=sub"
    cli.ok("pip", "install", url, "--python", venv.root, *index_args(world))
    assert listed(cli, venv) == {"gitpkg": "1.0", "dep": "1.0"}
    assert _direct_url(venv, "1.0")["vcs_info"] == {
        "vcs": "git",
        "commit_id": v1,
        "requested_revision": v1[:10],
    }


def test_sync_a_pylock_with_git_and_folder_entries(
    cli: Cli, venv: Venv, world: IndexServer, repo: tuple[Path, str, str], tmp_path: Path
) -> None:
    """PEP 751 `vcs` and `directory` entries (uv writes them for git and folder requirements)
    are checked out / built; they used to fail with "cannot unpack ...: Is a directory"."""
    root, v1, _ = repo
    lock_dir = tmp_path / "locked"
    write_project(DistSpec("localdir", "0.3"), lock_dir / "src" / "localdir")
    dep = next((tmp_path / "dists").glob("dep-1.0-*.whl"))
    text = f"""lock-version = "1.0"
created-by = "hand"

[[packages]]
name = "gitpkg"
version = "1.0"
vcs = {{ type = "git", url = "{root.as_uri()}", requested-revision = "v1", commit-id = "{v1}", subdirectory = "sub" }}

[[packages]]
name = "localdir"
version = "0.3"
directory = {{ path = "src/localdir", editable = true }}

[[packages]]
name = "dep"
version = "1.0"
wheels = [{{ url = "{dep.as_uri()}", hashes = {{ sha256 = "{hashlib.sha256(dep.read_bytes()).hexdigest()}" }} }}]
"""
    lock = lock_dir / "pylock.toml"
    lock.write_text(text)
    cli.ok("pip", "sync", lock, "--python", venv.root)
    assert listed(cli, venv) == {"gitpkg": "1.0", "localdir": "0.3", "dep": "1.0"}
    assert _direct_url(venv, "1.0") == {
        "url": root.as_uri(),
        "vcs_info": {"vcs": "git", "commit_id": v1, "requested_revision": "v1"},
        "subdirectory": "sub",
    }
    editable = json.loads((venv.site_packages / "localdir-0.3.dist-info" / "direct_url.json").read_text())
    assert editable == {"url": (lock_dir / "src" / "localdir").as_uri(), "dir_info": {"editable": True}}
    # a lock that no longer matches its source is refused, naming both versions
    lock.write_text(text.replace('version = "0.3"', 'version = "0.4"'))
    res = cli("pip", "sync", lock, "--python", venv.root)
    assert res.rc == 2 and "the lock has localdir 0.4, but its source builds 0.3" in res.err
    assert listed(cli, venv) == {"gitpkg": "1.0", "localdir": "0.3", "dep": "1.0"}


def test_folder_lines_keep_their_extras_and_markers(
    cli: Cli, venv: Venv, world: IndexServer, tmp_path: Path
) -> None:
    """`./proj[x]` and `./other ; <marker>` in a requirements file: the extra's dependencies
    come along and a folder for another environment is neither built nor installed (the
    extras and marker of such a line used to be dropped, so `other` was installed anyway)."""
    proj = write_project(
        DistSpec("proj", "0.1", requires_dist=("dep; extra == 'x'",)), tmp_path / "proj"
    )
    other = write_project(DistSpec("other", "0.1"), tmp_path / "other")
    reqs = tmp_path / "requirements.in"
    reqs.write_text(f"{proj}[x]\n{other} ; python_version < '3'\n")
    cli.ok("pip", "install", "-r", reqs, "--python", venv.root, *index_args(world))
    assert listed(cli, venv) == {"proj": "0.1", "dep": "2.0"}
    pins = _pins(cli.ok("pip", "compile", reqs, *index_args(world)).out)
    assert pins == ["dep==2.0", f"proj @ {proj.as_uri()}"]


def test_editable_folder_with_extras_on_the_command_line(
    cli: Cli, venv: Venv, world: IndexServer, tmp_path: Path
) -> None:
    """`-e ./proj[x]` is read as a requirements file reads it: it was looked for as a folder
    named "proj[x]" ("not a Python project"). `-e six` says -e wants a folder."""
    proj = write_project(
        DistSpec("proj", "0.1", requires_dist=("dep; extra == 'x'",)), tmp_path / "proj"
    )
    cli.ok("pip", "install", "-e", f"{proj}[x]", "--python", venv.root, *index_args(world))
    assert listed(cli, venv) == {"proj": "0.1", "dep": "2.0"}
    editable = json.loads((venv.site_packages / "proj-0.1.dist-info" / "direct_url.json").read_text())
    assert editable == {"url": proj.as_uri(), "dir_info": {"editable": True}}
    res = cli("pip", "install", "-e", "six", "--python", venv.root, *index_args(world))
    assert res.rc == 2 and "-e six: there is no folder six" in res.err and "drop -e" in res.err


def test_require_hashes_refuses_what_cannot_be_hashed(
    cli: Cli, venv: Venv, world: IndexServer, repo: tuple[Path, str, str], tmp_path: Path
) -> None:
    """As uv: under --require-hashes a git source or a folder is an error (nothing to hash);
    they used to be installed unchecked."""
    root, v1, _ = repo
    folder = write_project(DistSpec("localdir", "0.3"), tmp_path / "localdir")
    for line, kind in (
        (f"gitpkg @ git+{root.as_uri()}@{v1}#subdirectory=sub", "is a git source"),
        (str(folder), "is a local folder"),
    ):
        reqs = tmp_path / "requirements.txt"
        reqs.write_text(line + "\n")
        for command in ("install", "sync"):
            flag = ("-r",) if command == "install" else ()
            res = cli("pip", command, *flag, reqs, "--require-hashes", "--python", venv.root, *index_args(world))
            assert res.rc == 2 and kind in res.err and "has no file to hash" in res.err, res.err
    assert listed(cli, venv) == {}
