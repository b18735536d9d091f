"""`torchup pip list|freeze|show|check|tree|uninstall` on an environment torchup installed into.

Where pip can look at the same site-packages (``pip list/freeze --path``) its output is the
oracle; ``show`` and ``check`` are compared with pip's documented formats.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from tests.integration.test_pip_install import (
    Cli,
    Venv,
    _clean_env,
    index_args,
    publish,
    tree_snapshot,
)
from tests.support.server import IndexServer
from tests.support.wheels import DistSpec, write_project

TOP = DistSpec(
    "Top_Pkg",
    "1.2.0",
    requires_dist=("mid>=1", "leaf; python_version < '3'", "opt; extra == 'x'"),
    summary="the top of the tree",
)
MID = DistSpec("mid", "1.5", requires_dist=("leaf<2",))
LEAF1 = DistSpec("leaf", "1.0")
LEAF2 = DistSpec("leaf", "2.0")
OPT = DistSpec("opt", "0.1")


@pytest.fixture
def world(index_server: IndexServer, tmp_path: Path) -> IndexServer:
    publish(index_server, tmp_path / "dists", TOP, MID, LEAF1, LEAF2, OPT)
    return index_server


def _pip(*args: str) -> str:
    """The machine's pip (the oracle), isolated from any pip configuration."""
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "--disable-pip-version-check",
            "--no-python-version-warning",
            *args,
        ],
        capture_output=True,
        text=True,
        env={**_clean_env(), "PIP_CONFIG_FILE": "/dev/null"},
    )
    if proc.returncode != 0:
        pytest.skip(f"pip is not usable here: {proc.stderr.strip()[-200:]}")
    return proc.stdout


@pytest.fixture
def populated(cli: Cli, venv: Venv, world: IndexServer, tmp_path: Path) -> tuple[Venv, Path]:
    project = write_project(
        DistSpec("ed-it", "0.3", requires_dist=("leaf",)), tmp_path / "src" / "ed-it"
    )
    cli.ok("pip", "install", "Top_Pkg", "-e", project, "--python", venv.root, *index_args(world))
    return venv, project


def test_list_json_and_freeze_match_pip(cli: Cli, populated: tuple[Venv, Path]) -> None:
    venv, project = populated
    ours = json.loads(cli.ok("pip", "list", "--format", "json", "--python", venv.root).out)
    assert ours == [
        {"name": "ed-it", "version": "0.3", "editable_project_location": str(project)},
        {"name": "leaf", "version": "1.0"},
        {"name": "mid", "version": "1.5"},
        {"name": "Top_Pkg", "version": "1.2.0"},
    ]
    theirs = json.loads(_pip("list", "--path", str(venv.site_packages), "--format", "json"))
    key = lambda row: row["name"].lower()  # noqa: E731
    assert sorted(ours, key=key) == sorted(theirs, key=key)

    freeze = cli.ok("pip", "freeze", "--python", venv.root).out
    assert freeze.splitlines() == [
        f"-e {project.as_uri()}",
        "leaf==1.0",
        "mid==1.5",
        "Top_Pkg==1.2.0",
    ]
    # pip agrees on the regular lines (it writes editables as a comment + `-e /path`; torchup
    # writes `-e file:///path`, as uv does); pip sorts case-sensitively, so compare sets.
    pip_freeze = _pip("freeze", "--path", str(venv.site_packages)).splitlines()
    assert {line for line in freeze.splitlines() if not line.startswith("-e")} == {
        line for line in pip_freeze if not line.startswith(("-e", "#"))
    }
    assert "ed-it" not in cli.ok("pip", "freeze", "--exclude-editable", "--python", venv.root).out

    # columns: a header, a rule, one row per distribution, the editable location column
    table = cli.ok("pip", "list", "--python", venv.root).out.splitlines()
    assert (
        table[0].split()[:2] == ["Package", "Version"] and "Editable project location" in table[0]
    )
    assert set(table[1]) <= {"-", " "}
    assert [row.split()[0] for row in table[2:]] == ["ed-it", "leaf", "mid", "Top_Pkg"]
    only_editable = json.loads(
        cli.ok("pip", "list", "-e", "--format", "json", "--python", venv.root).out
    )
    assert [r["name"] for r in only_editable] == ["ed-it"]
    assert [
        r["name"]
        for r in json.loads(
            cli.ok(
                "pip", "list", "--exclude-editable", "--format", "json", "--python", venv.root
            ).out
        )
    ] == ["leaf", "mid", "Top_Pkg"]


def test_list_outdated_matches_pip(
    cli: Cli, populated: tuple[Venv, Path], world: IndexServer, tmp_path: Path
) -> None:
    venv, _ = populated
    args = ("pip", "list", "--outdated", "--python", venv.root, *index_args(world))
    # leaf 1.0 is installed (mid needs leaf<2); the index has 2.0. Top_Pkg and mid are newest.
    assert json.loads(cli.ok(*args, "--format", "json").out) == [
        {"name": "leaf", "version": "1.0", "latest_version": "2.0", "latest_filetype": "wheel"}
    ]
    # Newer releases: mid 1.6 only as an sdist; for leaf a pre-release, a yanked version and
    # one for a Python that does not exist, all three skipped.
    publish(world, tmp_path / "newer", DistSpec("mid", "1.6"), sdist_only={"mid"})
    publish(
        world,
        tmp_path / "newer",
        DistSpec("leaf", "3.0a1"),
        DistSpec("leaf", "2.5"),
        DistSpec("leaf", "2.7", requires_python=">=4"),
    )
    world.yank("simple", "leaf-2.5-py3-none-any.whl")
    # The pages read above are fresh for ten minutes (max-age=600, as PyPI sends):
    # --refresh-package revalidates those of the packages named.
    stale = json.loads(cli.ok(*args, "--format", "json").out)
    assert [r["name"] for r in stale] == ["leaf"]
    args = (*args, "--refresh-package", "mid", "--refresh-package", "Leaf")
    ours = json.loads(cli.ok(*args, "--format", "json").out)
    assert ours == [
        {"name": "leaf", "version": "1.0", "latest_version": "2.0", "latest_filetype": "wheel"},
        {"name": "mid", "version": "1.5", "latest_version": "1.6", "latest_filetype": "sdist"},
    ]
    # pip, reading the same index for the same site-packages, agrees (editables aside: it
    # looks the editable project up too, torchup does not, as uv)
    theirs = json.loads(
        _pip(
            "list", "--outdated", "--path", str(venv.site_packages), "--format", "json",
            *index_args(world),
        )
    )
    assert [r for r in theirs if r["name"] != "ed-it"] == ours
    table = cli.ok(*args).out.splitlines()
    assert table[0].split() == ["Package", "Version", "Latest", "Type"]
    assert [row.split() for row in table[2:]] == [["leaf", "1.0", "2.0", "wheel"], ["mid", "1.5", "1.6", "sdist"]]
    res = cli(*args, "--format", "freeze")
    assert res.rc == 2 and "--outdated cannot be used with --format freeze" in res.err
    # --refresh revalidates every page
    publish(world, tmp_path / "newer", DistSpec("leaf", "2.2"))
    base = ("pip", "list", "--outdated", "--format", "json", "--python", venv.root, *index_args(world))
    assert json.loads(cli.ok(*base).out)[0]["latest_version"] == "2.0"
    assert json.loads(cli.ok(*base, "--refresh").out)[0]["latest_version"] == "2.2"


def test_list_not_required_exclude_and_uptodate_match_pip(
    cli: Cli, populated: tuple[Venv, Path], world: IndexServer
) -> None:
    venv, _ = populated
    site = ("--path", str(venv.site_packages), "--format", "json")

    def ours(*args: str) -> list[dict[str, str]]:
        res = cli.ok("pip", "list", *args, "--format", "json", "--python", venv.root, *index_args(world))
        return json.loads(res.out)  # type: ignore[no-any-return]

    def names(rows: list[dict[str, str]]) -> list[str]:
        return sorted(r["name"] for r in rows)

    # Top_Pkg needs mid, mid and ed-it need leaf: nothing needs Top_Pkg or ed-it
    assert names(ours("--not-required")) == ["Top_Pkg", "ed-it"]
    assert names(ours("--not-required")) == names(json.loads(_pip("list", "--not-required", *site)))
    excluded = ours("--exclude", "top-pkg", "--exclude", "LEAF")
    assert names(excluded) == ["ed-it", "mid"]
    assert names(excluded) == names(
        json.loads(_pip("list", "--exclude", "top-pkg", "--exclude", "LEAF", *site))
    )
    # leaf 1.0 has 2.0 on the index; Top_Pkg and mid are the newest; the editable is not looked up
    assert names(ours("--uptodate")) == ["Top_Pkg", "mid"]
    theirs = json.loads(_pip("list", "--uptodate", *site, *index_args(world)))
    assert names(ours("-u")) == names([r for r in theirs if r["name"] != "ed-it"])
    res = cli("pip", "list", "--outdated", "--uptodate", "--python", venv.root)
    assert res.rc == 2 and "--outdated and --uptodate cannot be used together" in res.err
    freeze = cli.ok("pip", "freeze", "--exclude", "mid", "--python", venv.root).out.splitlines()
    assert [line for line in freeze if not line.startswith("-e")] == ["leaf==1.0", "Top_Pkg==1.2.0"]


def test_show(cli: Cli, populated: tuple[Venv, Path]) -> None:
    venv, project = populated
    out = cli.ok("pip", "show", "top-pkg", "--python", venv.root).out
    fields = dict(
        line.split(": ", 1) if ": " in line else (line.rstrip(":"), "") for line in out.splitlines()
    )
    assert fields["Name"] == "Top_Pkg"
    assert fields["Version"] == "1.2.0"
    assert fields["Summary"] == "the top of the tree"
    assert fields["Location"] == str(venv.site_packages)
    assert fields["Requires"] == "mid"  # leaf's marker is false, opt needs an extra
    assert fields["Required-by"] == ""

    out = cli.ok("pip", "show", "leaf", "ed-it", "--python", venv.root).out
    blocks = out.split("\n---\n")
    assert len(blocks) == 2
    assert "Required-by: ed-it, mid" in blocks[0]
    assert f"Editable project location: {project}" in blocks[1]

    files = cli.ok("pip", "show", "--files", "mid", "--python", venv.root).out
    listed_files = [line.strip() for line in files.split("Files:\n", 1)[1].splitlines()]
    assert "mid/__init__.py" in listed_files and "mid-1.5.dist-info/RECORD" in listed_files
    for rel in listed_files:
        assert (venv.site_packages / rel).exists(), rel

    res = cli("pip", "show", "nope", "--python", venv.root)
    assert res.rc == 1 and "not found: nope" in res.err
    res = cli("pip", "show", "mid", "nope", "--python", venv.root)
    assert res.rc == 0 and "Name: mid" in res.out and "not found: nope" in res.err


def test_check(cli: Cli, venv: Venv, world: IndexServer) -> None:
    res = cli("pip", "check", "--python", venv.root)
    assert (res.rc, res.out) == (0, "No broken requirements found.\n")
    cli.ok("pip", "install", "Top_Pkg", "--python", venv.root, *index_args(world))
    res = cli("pip", "check", "--python", venv.root)
    assert (res.rc, res.out) == (0, "No broken requirements found.\n")

    # a conflicting version (forced by an explicit pin without deps), then a missing one
    cli.ok("pip", "install", "leaf==2.0", "--no-deps", "--python", venv.root, *index_args(world))
    res = cli("pip", "check", "--python", venv.root)
    assert res.rc == 1
    assert res.out == "mid 1.5 has requirement leaf<2, but you have leaf 2.0.\n"
    cli.ok("pip", "uninstall", "leaf", "--python", venv.root)
    res = cli("pip", "check", "--python", venv.root)
    assert (res.rc, res.out) == (1, "mid 1.5 requires leaf, which is not installed.\n")


def test_uninstall_editable_and_regular(
    cli: Cli, populated: tuple[Venv, Path], tmp_path: Path
) -> None:
    venv, project = populated
    source_before = tree_snapshot(project)
    # -y, as pip command lines have it (torchup never asks)
    res = cli.ok("pip", "uninstall", "-y", "ed-it", "TOP-pkg", "mid", "leaf", "--python", venv.root)
    assert "Uninstalled 4 packages" in res.err
    assert venv.metadata_versions() == {}
    assert [
        p.name for p in venv.site_packages.iterdir() if not p.name.startswith("_virtualenv")
    ] == []
    assert tree_snapshot(project) == source_before


def test_commands_find_the_venv_without_python_flag(
    cli: Cli,
    venv: Venv,
    world: IndexServer,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    """--python, $VIRTUAL_ENV and ./.venv select the same environment."""
    cli.ok("pip", "install", "leaf", "--python", venv.root, *index_args(world))
    monkeypatch.chdir(tmp_path)  # .venv is here
    assert json.loads(cli.ok("pip", "list", "--format", "json").out) == [
        {"name": "leaf", "version": "2.0"}
    ]
    monkeypatch.chdir(tmp_path_factory.mktemp("elsewhere"))  # no .venv here nor above
    res = cli("pip", "list")
    assert res.rc != 0 and "no virtual environment found" in res.err
    monkeypatch.setenv("VIRTUAL_ENV", str(venv.root))
    assert cli.ok("pip", "freeze").out == "leaf==2.0\n"


# `pip tree`: web-kit and util both need tmpl (which has a dependency of its own, so its second
# appearance is cut short with (*)); a marker that is false here and an extra are not edges;
# cyc-a/cyc-b require each other and nothing else requires them.
TREE_WORLD = (
    DistSpec("app", "1.0", requires_dist=("Web_Kit>=2", "util", "skip; python_version < '3'",
                                          "opt; extra == 'x'")),
    DistSpec("Web_Kit", "2.1", requires_dist=("tmpl<3,>=1", "safe>=1")),
    DistSpec("tmpl", "1.5", requires_dist=("safe",)),
    DistSpec("safe", "1.0"),
    DistSpec("util", "0.5", requires_dist=("tmpl",)),
    DistSpec("opt", "0.1"),
    DistSpec("cyc-a", "1.0", requires_dist=("cyc-b",)),
    DistSpec("cyc-b", "1.0", requires_dist=("cyc-a",)),
)


@pytest.fixture
def tree_venv(cli: Cli, venv: Venv, index_server: IndexServer, tmp_path: Path) -> Venv:
    publish(index_server, tmp_path / "tree-dists", *TREE_WORLD)
    cli.ok("pip", "install", "app", "opt", "cyc-a", "--python", venv.root, *index_args(index_server))
    return venv


def _tree(cli: Cli, venv: Venv, *args: str) -> str:
    return cli.ok("pip", "tree", "--python", venv.root, *args).out


def test_tree_shows_what_requires_what(cli: Cli, tree_venv: Venv) -> None:
    assert _tree(cli, tree_venv) == (
        "app v1.0\n"
        "├── util v0.5\n"
        "│   └── tmpl v1.5\n"
        "│       └── safe v1.0\n"
        "└── web-kit v2.1\n"
        "    ├── safe v1.0\n"
        "    └── tmpl v1.5 (*)\n"
        "cyc-a v1.0\n"
        "└── cyc-b v1.0\n"
        "    └── cyc-a v1.0 (*)\n"
        "opt v0.1\n"
        "(*) Package tree already displayed\n"
    )
    assert _tree(cli, tree_venv, "--no-dedupe", "--package", "web-kit") == (
        "web-kit v2.1\n"
        "├── safe v1.0\n"
        "└── tmpl v1.5\n"
        "    └── safe v1.0\n"
    )
    assert _tree(cli, tree_venv, "--no-dedupe", "--package", "CYC_A") == (
        "cyc-a v1.0\n"
        "└── cyc-b v1.0\n"
        "    └── cyc-a v1.0 (*)\n"
        "(*) Package tree is a cycle and cannot be shown\n"
    )
    assert _tree(cli, tree_venv, "--package", "app", "-d", "1", "--show-version-specifiers") == (
        "app v1.0\n"
        "├── util v0.5 [required: *]\n"
        "└── web-kit v2.1 [required: >=2]\n"
    )
    # the clauses lower bound first, as uv writes them (the METADATA says "tmpl<3,>=1")
    assert "tmpl v1.5 [required: >=1, <3]" in _tree(
        cli, tree_venv, "--package", "web-kit", "--show-version-specifiers"
    )
    assert _tree(cli, tree_venv, "--prune", "util", "--prune", "cyc-a", "--prune", "safe") == (
        "app v1.0\n"
        "└── web-kit v2.1\n"
        "    └── tmpl v1.5\n"
        "cyc-b v1.0\n"
        "opt v0.1\n"
    )
    assert _tree(cli, tree_venv, "-d", "0") == "app v1.0\ncyc-a v1.0\nopt v0.1\n"
    # a requested package inside another requested one's tree is drawn only there (as uv)
    assert _tree(cli, tree_venv, "--package", "tmpl", "--package", "web-kit", "-d", "1") == (
        "web-kit v2.1\n"
        "├── safe v1.0\n"
        "└── tmpl v1.5\n"
    )
    assert _tree(cli, tree_venv, "--package", "not-installed") == ""


def test_tree_inverted_shows_what_depends_on_each(cli: Cli, tree_venv: Venv) -> None:
    assert _tree(cli, tree_venv, "--invert", "--package", "safe", "--show-version-specifiers") == (
        "safe v1.0\n"
        "├── tmpl v1.5 [requires: safe *]\n"
        "│   ├── util v0.5 [requires: tmpl *]\n"
        "│   │   └── app v1.0 [requires: util *]\n"
        "│   └── web-kit v2.1 [requires: tmpl >=1, <3]\n"
        "│       └── app v1.0 [requires: web-kit >=2]\n"
        "└── web-kit v2.1 [requires: safe >=1] (*)\n"
        "(*) Package tree already displayed\n"
    )
    # the roots of an inverted tree are what requires nothing installed
    roots = [line for line in _tree(cli, tree_venv, "--invert").splitlines() if line[0].isalpha()]
    assert roots == ["cyc-a v1.0", "opt v0.1", "safe v1.0"]


def test_tree_strict_outdated_and_bad_depth(
    cli: Cli, tree_venv: Venv, index_server: IndexServer, tmp_path: Path
) -> None:
    cli.ok("pip", "uninstall", "safe", "--python", tree_venv.root)
    res = cli("pip", "tree", "--python", tree_venv.root, "--strict", "--package", "tmpl")
    assert (res.rc, res.out) == (0, "tmpl v1.5\n")  # a missing dependency is not drawn
    assert "tmpl 1.5 requires safe, which is not installed." in res.err
    assert "web-kit 2.1 requires safe, which is not installed." in res.err
    assert "requires" not in cli.ok("pip", "tree", "--python", tree_venv.root).err

    publish(index_server, tmp_path / "newer", DistSpec("tmpl", "1.6", requires_dist=("safe",)))
    # --refresh: the pages the install read are still fresh (max-age), as in the list test
    out = _tree(
        cli, tree_venv, "--outdated", "--refresh", "--package", "util", *index_args(index_server)
    )
    assert out == "util v0.5\n└── tmpl v1.5 (latest: v1.6)\n"
    # As uv: the newest version only where a package is first drawn, after the edge's note.
    assert _tree(cli, tree_venv, "--outdated", "--package", "app", *index_args(index_server)) == (
        "app v1.0\n"
        "├── util v0.5\n"
        "│   └── tmpl v1.5 (latest: v1.6)\n"
        "└── web-kit v2.1\n"
        "    └── tmpl v1.5\n"
    )
    assert _tree(
        cli, tree_venv, "--outdated", "--package", "web-kit", "--show-version-specifiers",
        *index_args(index_server),
    ) == "web-kit v2.1\n└── tmpl v1.5 [required: >=1, <3] (latest: v1.6)\n"

    res = cli("pip", "tree", "--python", tree_venv.root, "-d", "-1")
    assert res.rc != 0 and "--depth -1 is negative" in res.err and "Traceback" not in res.err


def test_install_strict_exact_and_uninstall_requirements(
    cli: Cli, venv: Venv, world: IndexServer, tmp_path: Path
) -> None:
    """uv's `pip install --strict` / `--exact`, `pip sync --strict`, `pip uninstall --requirements`."""
    res = cli.ok("pip", "install", "mid", "--no-deps", "--strict", "--python", venv.root, *index_args(world))
    assert "mid 1.5 requires leaf, which is not installed." in res.err  # a warning: rc 0
    assert "requires" not in cli.ok("pip", "install", "leaf<2", "--strict", "--python", venv.root, *index_args(world)).err

    reqs = tmp_path / "only-mid.txt"
    reqs.write_text("mid==1.5\n")
    res = cli.ok("pip", "sync", reqs, "--strict", "--python", venv.root, *index_args(world))
    assert "- leaf==1.0" in res.err and "mid 1.5 requires leaf, which is not installed." in res.err

    cli.ok("pip", "install", "Top_Pkg", "opt", "--python", venv.root, *index_args(world))
    assert venv.metadata_versions() == {"top-pkg": "1.2.0", "mid": "1.5", "leaf": "1.0", "opt": "0.1"}
    # --exact: what the resolution of the named packages does not include goes
    res = cli.ok("pip", "install", "--exact", "mid", "--python", venv.root, *index_args(world))
    assert "- top-pkg==1.2.0" in res.err and "- opt==0.1" in res.err
    assert venv.metadata_versions() == {"mid": "1.5", "leaf": "1.0"}

    listed = tmp_path / "remove.txt"
    listed.write_text("mid\n")
    cli.ok("pip", "uninstall", "--requirements", listed, "--python", venv.root)
    assert venv.metadata_versions() == {"leaf": "1.0"}


def test_list_and_freeze_path_read_a_folder_without_an_environment(
    cli: Cli, populated: tuple[Venv, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    """pip's and uv's `--path DIR`: the distributions in DIR, the same as pip lists there."""
    venv, _ = populated
    with_python = cli.ok("pip", "freeze", "--python", venv.root).out
    elsewhere = tmp_path_factory.mktemp("no-venv-here")  # no .venv here or above
    monkeypatch.chdir(elsewhere)
    monkeypatch.delenv("VIRTUAL_ENV", raising=False)
    assert cli("pip", "freeze").rc != 0  # no environment to act on
    assert cli.ok("pip", "freeze", "--path", venv.site_packages).out == with_python
    ours = json.loads(cli.ok("pip", "list", "--path", venv.site_packages, "--format", "json").out)
    theirs = json.loads(_pip("list", "--path", str(venv.site_packages), "--format", "json"))
    key = lambda row: row["name"].lower()  # noqa: E731
    assert sorted(ours, key=key) == sorted(theirs, key=key) and len(ours) == 4
    empty = tmp_path / "empty-site"
    empty.mkdir()
    assert cli.ok("pip", "list", "--path", empty, "--format", "json").out.strip() == "[]"
    res = cli("pip", "freeze", "--path", tmp_path / "missing")
    assert res.rc != 0 and "no such directory" in res.err and "Traceback" not in res.err
