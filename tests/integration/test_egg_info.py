"""Legacy ``.egg-info`` installs (``setup.py install``, distutils, some conda packages) in the
target environment: listed, frozen, checked and shown like pip does, satisfying requirements,
and replaced on upgrade through their ``installed-files.txt`` instead of being installed a
second time beside themselves. One without that list is refused with a clear error.

Before these, torchup read ``.dist-info`` only: such a package was invisible, and installing it
left two copies whose metadata disagreed.
"""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

import pytest
from tests.integration.test_pip_env_cmds import _pip
from tests.integration.test_pip_install import Venv, index_args, listed, publish
from tests.support.cli import Cli
from tests.support.server import IndexServer
from tests.support.wheels import DistSpec


def _egg_dir(site: Path) -> Path:
    """``legacy 1.0`` as `setup.py install` via pip left it: module, egg-info directory with
    PKG-INFO, requires.txt (an extra and a marker section) and installed-files.txt."""
    (site / "legacy.py").write_text("VERSION = '1.0'\n")
    egg = site / "legacy-1.0-py3.11.egg-info"
    egg.mkdir()
    (egg / "PKG-INFO").write_text(
        "Metadata-Version: 1.1\nName: legacy\nVersion: 1.0\nSummary: old style\n"
    )
    (egg / "requires.txt").write_text(
        textwrap.dedent(
            """\
            dep>=1

            [:python_version < "3"]
            nothing-on-py3

            [fast]
            speedup
            """
        )
    )
    (egg / "top_level.txt").write_text("legacy\n")
    (egg / "installed-files.txt").write_text(
        "../legacy.py\nPKG-INFO\nrequires.txt\ntop_level.txt\ninstalled-files.txt\n"
    )
    return egg


def _egg_file(site: Path) -> Path:
    """``oldfile 0.5`` as distutils left it: a module and a single PKG-INFO-like file."""
    (site / "oldfile.py").write_text("")
    egg = site / "oldfile-0.5.egg-info"
    egg.write_text("Metadata-Version: 1.0\nName: oldfile\nVersion: 0.5\n")
    return egg


@pytest.fixture
def world(index_server: IndexServer, tmp_path: Path) -> IndexServer:
    publish(
        index_server, tmp_path / "dists", DistSpec("dep", "1.0"),
        DistSpec("legacy", "1.0", requires_dist=("dep>=1",)),
        DistSpec("legacy", "2.0", files={"legacy/__init__.py": "VERSION = '2.0'\n"}),
        DistSpec("needs-legacy", "1.0", requires_dist=("legacy>=1",)),
    )
    return index_server


def test_egg_info_installs_are_seen_like_pip_sees_them(
    cli: Cli, venv: Venv, world: IndexServer
) -> None:
    _egg_dir(venv.site_packages)
    _egg_file(venv.site_packages)
    rows = json.loads(cli.ok("pip", "list", "--format", "json", "--python", venv.root).out)
    assert rows == [{"name": "legacy", "version": "1.0"}, {"name": "oldfile", "version": "0.5"}]
    theirs = json.loads(_pip("list", "--path", str(venv.site_packages), "--format", "json"))
    assert rows == sorted(theirs, key=lambda r: r["name"])
    assert cli.ok("pip", "freeze", "--python", venv.root).out.splitlines() == ["legacy==1.0", "oldfile==0.5"]
    # requires.txt read: dep is missing (the py2 and [fast] sections do not apply)
    res = cli("pip", "check", "--python", venv.root)
    assert res.rc == 1 and res.out.splitlines() == ["legacy 1.0 requires dep, which is not installed."]
    shown = cli.ok("pip", "show", "legacy", "--python", venv.root).out
    assert "Name: legacy\nVersion: 1.0\nSummary: old style\n" in shown and "Requires: dep" in shown
    # the files from installed-files.txt, relative to site-packages, as pip shows them
    ours = cli.ok("pip", "show", "-f", "legacy", "--python", venv.root).out
    files = ours.split("Files:\n", 1)[1].split()
    assert files == [
        "legacy.py", "legacy-1.0-py3.11.egg-info/PKG-INFO", "legacy-1.0-py3.11.egg-info/requires.txt",
        "legacy-1.0-py3.11.egg-info/top_level.txt", "legacy-1.0-py3.11.egg-info/installed-files.txt",
    ]
    pip_files = _pip("--python", str(venv.python), "show", "-f", "legacy").split("Files:\n", 1)[1].split()
    assert sorted(files) == sorted(pip_files)
    # an installed legacy 1.0 satisfies legacy>=1: only the new package and dep are installed
    res = cli.ok("pip", "install", "needs-legacy", "--python", venv.root, *index_args(world))
    assert " + needs-legacy==1.0" in res.err and " + dep==1.0" in res.err
    assert " - legacy==" not in res.err and " + legacy==" not in res.err
    assert (venv.site_packages / "legacy-1.0-py3.11.egg-info").is_dir()


def test_upgrading_an_egg_info_install_replaces_it(cli: Cli, venv: Venv, world: IndexServer) -> None:
    egg = _egg_dir(venv.site_packages)
    res = cli.ok("pip", "install", "legacy==2.0", "--python", venv.root, *index_args(world))
    assert " - legacy==1.0" in res.err and " + legacy==2.0" in res.err
    # the old module and metadata are gone (not two copies that disagree)
    assert not egg.exists() and not (venv.site_packages / "legacy.py").exists()
    assert listed(cli, venv) == {"legacy": "2.0"}
    assert venv.run("import legacy; print(legacy.VERSION)") == "2.0"


def test_egg_info_without_a_file_list_is_refused_clearly(
    cli: Cli, venv: Venv, world: IndexServer
) -> None:
    egg = _egg_file(venv.site_packages)
    res = cli("pip", "uninstall", "oldfile", "--python", venv.root)
    assert res.rc != 0 and "Traceback" not in res.err
    assert "cannot uninstall oldfile-0.5.egg-info: it was installed by distutils" in res.err
    assert egg.exists() and (venv.site_packages / "oldfile.py").exists()
    # with a file list it goes, module included
    legacy = _egg_dir(venv.site_packages)
    cli.ok("pip", "uninstall", "legacy", "--python", venv.root)
    assert not legacy.exists() and not (venv.site_packages / "legacy.py").exists()


def _externally_managed_python() -> str | None:
    """A Python that is externally managed (PEP 668), e.g. Debian's /usr/bin/python3."""
    import subprocess

    for candidate in ("/usr/bin/python3",):
        if not Path(candidate).exists():
            continue
        proc = subprocess.run(
            [candidate, "-c", "import sysconfig, os; print(os.path.exists(os.path.join("
             "sysconfig.get_path('stdlib'), 'EXTERNALLY-MANAGED')))"],
            capture_output=True, text=True,
        )
        if proc.stdout.strip() == "True":
            return candidate
    return None


def test_read_only_commands_work_on_an_externally_managed_python(cli: Cli) -> None:
    python = _externally_managed_python()
    if python is None:
        pytest.skip("no externally managed (PEP 668) Python on this machine")
    # looking is fine (pip and uv list it too); changing it needs --break-system-packages
    for command in (("list",), ("freeze",), ("check",), ("list", "--format", "json")):
        res = cli("pip", *command, "--python", python)
        assert "externally managed" not in res.err, command
    res = cli("pip", "uninstall", "nothing-here", "--python", python)
    assert res.rc == 2 and "is externally managed (PEP 668)" in res.err


def test_a_legacy_editable_egg_link_is_seen_kept_and_not_shadowed(
    cli: Cli, venv: Venv, world: IndexServer, tmp_path: Path
) -> None:
    """`setup.py develop` (or `pip install -e` with setuptools before 64) leaves lib.egg-link
    in site-packages naming the project folder, whose lib.egg-info holds the metadata."""
    project = tmp_path / "src" / "devlib"
    (project / "devlib.egg-info").mkdir(parents=True)
    (project / "devlib.egg-info" / "PKG-INFO").write_text("Metadata-Version: 2.1\nName: devlib\nVersion: 0.7\n")
    (project / "devlib.egg-info" / "requires.txt").write_text("dep\n")
    (project / "devlib.py").write_text("WHERE = 'tree'\n")
    (venv.site_packages / "devlib.egg-link").write_text(f"{project}\n.\n")
    (venv.site_packages / "easy-install.pth").write_text(f"{project}\n")
    rows = json.loads(cli.ok("pip", "list", "--format", "json", "--python", venv.root).out)
    assert rows == [{"name": "devlib", "version": "0.7", "editable_project_location": str(project)}]
    # pip run for the venv's own sys.path (with --path it does not look for egg-links)
    theirs = json.loads(_pip("--python", str(venv.python), "list", "--format", "json"))
    assert rows == theirs
    # kept as installed when something needs it (the index has no devlib 0.7)
    publish(world, tmp_path / "more", DistSpec("needs-devlib", "1.0", requires_dist=("devlib>=0.5",)))
    res = cli.ok("pip", "install", "needs-devlib", "--python", venv.root, *index_args(world))
    assert " + needs-devlib==1.0" in res.err and " + dep==1.0" in res.err
    assert " + devlib" not in res.err
    assert venv.run("import devlib; print(devlib.WHERE)") == "tree"
    # it lists no files: uninstalling says what to do instead of guessing
    res = cli("pip", "uninstall", "devlib", "--python", venv.root)
    assert res.rc != 0 and "is a legacy editable install" in res.err and "easy-install.pth" in res.err
    assert (venv.site_packages / "devlib.egg-link").exists()
