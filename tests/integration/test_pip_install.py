"""`torchup venv` and `torchup pip install` end to end, against the hermetic index.

Every test runs the real CLI (in process, through ``torchup.cli.main.main``) on a real venv and
checks real outcomes: files on disk, versions as the venv's own Python sees them
(``importlib.metadata``), torchup's ``pip list --format json``, exit codes and error texts.

The helpers at the top (``Cli``, ``Venv``, ``publish``, ``tree_snapshot``) are shared with
``test_pip_sync.py`` and ``test_pip_env_cmds.py``.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

import pytest
from tests.support.cli import Cli
from tests.support.server import IndexServer
from tests.support.wheels import DistSpec, build_sdist, build_wheel, write_project

# --------------------------------------------------------------------------------------------
# shared helpers
# --------------------------------------------------------------------------------------------

REPO_ROOT = Path(__file__).resolve().parents[2]


@dataclass(frozen=True)
class Venv:
    root: Path

    @property
    def python(self) -> Path:
        return self.root / "bin" / "python"

    @property
    def bin(self) -> Path:
        return self.root / "bin"

    @property
    def site_packages(self) -> Path:
        found = sorted((self.root / "lib").glob("python3.*/site-packages"))
        assert len(found) == 1, found
        return found[0]

    def run(self, code: str, *, check: bool = True, cwd: Path | None = None) -> str:
        proc = subprocess.run(
            [str(self.python), "-c", code],
            capture_output=True,
            text=True,
            cwd=cwd or self.root,
            env=_clean_env(),
        )
        if check:
            assert proc.returncode == 0, proc.stderr
        return proc.stdout.strip()

    def metadata_versions(self) -> dict[str, str]:
        """{canonical name: version} as the venv's own Python sees its distributions."""
        code = (
            "import importlib.metadata as m, json, re, sys\n"
            "site = [p for p in sys.path if p.endswith('site-packages')]\n"
            "out = {re.sub(r'[-_.]+', '-', d.metadata['Name']).lower(): d.version\n"
            "       for d in m.distributions(path=site)}\n"
            "print(json.dumps(out))\n"
        )
        return json.loads(self.run(code))


def _clean_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    env["PYTHONDONTWRITEBYTECODE"] = "1"
    return env


def listed(cli: Cli, venv: Venv) -> dict[str, str]:
    """{name: version} from ``torchup pip list --format json``."""
    res = cli.ok("pip", "list", "--format", "json", "--python", venv.root)
    return {row["name"]: row["version"] for row in json.loads(res.out)}


def tree_snapshot(root: Path, *, skip: Iterable[str] = (".torchup.lock",)) -> dict[str, str]:
    """Every path under ``root`` -> sha256 of its content, "dir" or the link target."""
    out: dict[str, str] = {}
    skipped = set(skip)
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = [d for d in dirnames if d != "__pycache__"]
        for name in dirnames + filenames:
            if name in skipped:
                continue
            path = Path(dirpath) / name
            rel = str(path.relative_to(root))
            if path.is_symlink():
                out[rel] = "-> " + os.readlink(path)
            elif path.is_dir():
                out[rel] = "dir"
            else:
                out[rel] = hashlib.sha256(path.read_bytes()).hexdigest()
    return out


def publish(
    server: IndexServer, out_dir: Path, *specs: DistSpec, sdist_only: Iterable[str] = ()
) -> list[Path]:
    """Build each spec as a wheel (or only an sdist, for names in ``sdist_only``) and publish."""
    only_sdist = set(sdist_only)
    paths = [
        build_sdist(s, out_dir) if s.name in only_sdist else build_wheel(s, out_dir) for s in specs
    ]
    server.publish("simple", paths)
    return paths


def index_args(server: IndexServer) -> list[str]:
    return ["--index-url", server.index_url("simple")]


# --------------------------------------------------------------------------------------------
# the package world most tests use
# --------------------------------------------------------------------------------------------

DEP1 = DistSpec("dep", "1.0")
DEP2 = DistSpec("dep", "2.0")
APP1 = DistSpec(
    "app",
    "1.0",
    requires_dist=("dep>=1",),
    files={"app/__init__.py": "import dep\nVERSION = '1.0'\n\ndef main():\n    print('app 1.0')\n"},
    entry_points={"console_scripts": {"app-cli": "app:main"}},
)
APP2 = DistSpec(
    "app",
    "2.0",
    requires_dist=("dep>=1",),
    files={"app/__init__.py": "import dep\nVERSION = '2.0'\n\ndef main():\n    print('app 2.0')\n"},
    entry_points={"console_scripts": {"app-cli": "app:main"}},
)


@pytest.fixture
def world(index_server: IndexServer, tmp_path: Path) -> IndexServer:
    publish(index_server, tmp_path / "dists", DEP1, DEP2, APP1, APP2)
    return index_server


# --------------------------------------------------------------------------------------------
# venv
# --------------------------------------------------------------------------------------------


def test_venv_creation(cli: Cli, tmp_path: Path) -> None:
    res = cli.ok("venv", tmp_path / "env", "--python", sys.executable, "--prompt", "hello")
    env = Venv(tmp_path / "env")
    cfg = (env.root / "pyvenv.cfg").read_text()
    assert "include-system-site-packages = false" in cfg
    assert "prompt = hello" in cfg
    assert env.python.exists() and (env.bin / "activate").exists()
    assert "Creating virtual environment" in res.err
    ver = env.run(
        "import sys; print(sys.prefix != sys.base_prefix, '%d.%d' % sys.version_info[:2])"
    )
    assert ver == f"True {sys.version_info[0]}.{sys.version_info[1]}"
    assert env.site_packages.is_dir()
    assert env.metadata_versions() == {}
    # --clear recreates it empty; without --clear an existing venv is refused or kept as is.
    (env.site_packages / "junk.py").write_text("")
    cli.ok("venv", env.root, "--python", sys.executable, "--clear")
    assert not (env.site_packages / "junk.py").exists()


def test_venv_python_312(cli: Cli, tmp_path: Path) -> None:
    probe = cli("venv", tmp_path / "env312", "--python", "3.12")
    if probe.rc != 0 and "no Python interpreter found" in probe.err:
        pytest.skip("no Python 3.12 on this machine")
    assert probe.rc == 0, probe.err
    env = Venv(tmp_path / "env312")
    assert env.run("import sys; print('%d.%d' % sys.version_info[:2])") == "3.12"
    assert env.site_packages.parent.name == "python3.12"


# --------------------------------------------------------------------------------------------
# install, upgrade, keep, reinstall
# --------------------------------------------------------------------------------------------


def test_install_resolves_and_installs_dependencies(
    cli: Cli, venv: Venv, world: IndexServer
) -> None:
    res = cli.ok("pip", "install", "app", "--python", venv.root, *index_args(world))
    assert " + app==2.0" in res.err and " + dep==2.0" in res.err
    assert venv.metadata_versions() == {"app": "2.0", "dep": "2.0"}
    assert listed(cli, venv) == {"app": "2.0", "dep": "2.0"}
    assert venv.run("import app; print(app.VERSION)") == "2.0"
    # the files each RECORD names are really there
    for dist_info in venv.site_packages.glob("*.dist-info"):
        assert (dist_info / "INSTALLER").read_text().strip() == "torchup"
        for line in (dist_info / "RECORD").read_text().splitlines():
            assert (venv.site_packages / line.split(",")[0]).resolve().exists(), line
    # requested vs dependency (PEP 376 REQUESTED)
    assert (venv.site_packages / "app-2.0.dist-info" / "REQUESTED").exists()
    assert not (venv.site_packages / "dep-2.0.dist-info" / "REQUESTED").exists()
    # a second identical install changes nothing
    before = tree_snapshot(venv.root)
    res = cli.ok("pip", "install", "app", "--python", venv.root, *index_args(world))
    assert "Audited" in res.err and " + " not in res.err
    assert tree_snapshot(venv.root) == before


def test_quiet_prints_nothing_on_success(cli: Cli, venv: Venv, world: IndexServer) -> None:
    # uv prints nothing with -q; the " + name==version" lines used to come through anyway.
    res = cli.ok("pip", "install", "-q", "app==1.0", "--python", venv.root, *index_args(world))
    assert res.err == "" and res.out == ""
    res = cli.ok("pip", "install", "-q", "app==2.0", "--python", venv.root, *index_args(world))
    assert res.err == "" and res.out == ""
    assert venv.metadata_versions() == {"app": "2.0", "dep": "2.0"}
    res = cli.ok("pip", "install", "app==1.0", "--python", venv.root, *index_args(world))
    assert " - app==2.0" in res.err and " + app==1.0" in res.err


def test_interrupt_while_preparing_changes_nothing(
    cli: Cli, venv: Venv, world: IndexServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Ctrl-C while the wheels are being unpacked and staged: none is committed (not even
    those already staged) and no staging directory stays behind."""
    from torchup.install import wheel as wheel_mod

    cli.ok("pip", "install", "app==1.0", "dep==1.0", "--python", venv.root, *index_args(world))
    before = tree_snapshot(venv.root)
    real_prepare = wheel_mod.prepare_wheel
    staged: list[str] = []

    def interrupted(wheel: Path, *args: object, **kwargs: object) -> object:
        if wheel.name.startswith("dep-"):
            raise KeyboardInterrupt
        prepared = real_prepare(wheel, *args, **kwargs)  # type: ignore[arg-type]
        staged.append(prepared.name)
        return prepared

    monkeypatch.setattr(wheel_mod, "prepare_wheel", interrupted)
    res = cli("pip", "install", "app==2.0", "dep==2.0", "--python", venv.root, *index_args(world))
    assert res.rc == 130, res.err
    assert staged in ([], ["app"])  # app 2.0 may be staged first: it is thrown away
    assert tree_snapshot(venv.root) == before
    assert [p.name for p in venv.site_packages.iterdir() if p.name.startswith(".torchup")] == []

    monkeypatch.setattr(wheel_mod, "prepare_wheel", real_prepare)
    cli.ok("pip", "install", "app==2.0", "dep==2.0", "--python", venv.root, *index_args(world))
    assert venv.metadata_versions() == {"app": "2.0", "dep": "2.0"}


def test_find_links_wheel_is_hashed_once(
    cli: Cli, make_venv: Callable[..., Venv], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A --find-links file has no index hash; its sha256 (the unpacked-cache key) is
    remembered by path and stat, and computed again once the file changes."""
    from torchup.install import download

    monkeypatch.setattr(download, "_RACY_NS", -(10**18))  # the test's files are seconds old
    hashed: list[str] = []
    real = download._hash_file
    monkeypatch.setattr(download, "_hash_file", lambda p: hashed.append(Path(p).name) or real(p))
    links = tmp_path / "links"
    build_wheel(DEP1, links)
    for name in ("a", "b"):
        venv = make_venv(name)
        cli.ok("pip", "install", "dep", "--no-index", "--find-links", links, "--python", venv.root)
        assert venv.metadata_versions() == {"dep": "1.0"}
    assert hashed == ["dep-1.0-py3-none-any.whl"]

    # Rebuilt with other content under the same name: hashed again, and that content installed.
    shutil.rmtree(links)
    build_wheel(DistSpec("dep", "1.0", files={"dep/__init__.py": "CHANGED = True\n"}), links)
    venv = make_venv("c")
    cli.ok("pip", "install", "dep", "--no-index", "--find-links", links, "--python", venv.root)
    assert hashed == ["dep-1.0-py3-none-any.whl"] * 2
    assert venv.run("import dep; print(dep.CHANGED)") == "True"


def test_keep_installed_version_then_upgrade(cli: Cli, venv: Venv, world: IndexServer) -> None:
    cli.ok("pip", "install", "app==1.0", "dep==1.0", "--python", venv.root, *index_args(world))
    assert venv.metadata_versions() == {"app": "1.0", "dep": "1.0"}

    # `app` unpinned: the installed 1.0 satisfies it and stays (as does dep 1.0).
    res = cli.ok("pip", "install", "app", "--python", venv.root, *index_args(world))
    assert venv.metadata_versions() == {"app": "1.0", "dep": "1.0"}
    assert " + " not in res.err

    # -P app: only app moves; dep (still satisfying) stays preferred.
    cli.ok("pip", "install", "app", "-P", "app", "--python", venv.root, *index_args(world))
    assert venv.metadata_versions() == {"app": "2.0", "dep": "1.0"}
    assert not (venv.site_packages / "app-1.0.dist-info").exists()

    # --upgrade: everything to the newest.
    res = cli.ok("pip", "install", "--upgrade", "app", "--python", venv.root, *index_args(world))
    assert venv.metadata_versions() == {"app": "2.0", "dep": "2.0"}
    assert " - dep==1.0" in res.err and " + dep==2.0" in res.err
    assert sorted(p.name for p in venv.site_packages.glob("*.dist-info")) == [
        "app-2.0.dist-info",
        "dep-2.0.dist-info",
    ]

    # an explicit pin downgrades
    cli.ok("pip", "install", "dep==1.0", "--python", venv.root, *index_args(world))
    assert venv.metadata_versions() == {"app": "2.0", "dep": "1.0"}


def test_reinstall_replaces_files(cli: Cli, venv: Venv, world: IndexServer) -> None:
    cli.ok("pip", "install", "app", "--python", venv.root, *index_args(world))
    module = venv.site_packages / "app" / "__init__.py"
    module.write_text("BROKEN = True\n")
    script = venv.bin / "app-cli"
    script.unlink()

    # a plain install trusts the metadata: nothing to do
    cli.ok("pip", "install", "app", "--python", venv.root, *index_args(world))
    assert module.read_text() == "BROKEN = True\n"

    res = cli.ok("pip", "install", "--reinstall", "app", "--python", venv.root, *index_args(world))
    assert " - app==2.0" in res.err and " + app==2.0" in res.err
    assert "VERSION = '2.0'" in module.read_text()
    assert script.exists()
    assert venv.metadata_versions() == {"app": "2.0", "dep": "2.0"}

    # --reinstall-package touches only that package
    dep_init = venv.site_packages / "dep" / "__init__.py"
    dep_init.write_text("x = 1\n")
    module.write_text("BROKEN = True\n")
    cli.ok(
        "pip",
        "install",
        "app",
        "--reinstall-package",
        "dep",
        "--python",
        venv.root,
        *index_args(world),
    )
    assert dep_init.read_text() == '__version__ = "2.0"\n'
    assert module.read_text() == "BROKEN = True\n"


def test_console_script_runs(cli: Cli, venv: Venv, world: IndexServer) -> None:
    cli.ok("pip", "install", "app==1.0", "--python", venv.root, *index_args(world))
    script = venv.bin / "app-cli"
    assert script.exists() and os.access(script, os.X_OK)
    assert script.read_text().splitlines()[0] == f"#!{venv.python}"
    proc = subprocess.run([str(script)], capture_output=True, text=True, env=_clean_env())
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == "app 1.0\n"


def test_dry_run_changes_nothing(cli: Cli, venv: Venv, world: IndexServer) -> None:
    cli.ok("pip", "install", "app==1.0", "--python", venv.root, *index_args(world))
    before = tree_snapshot(venv.root)
    res = cli.ok(
        "pip", "install", "--dry-run", "-U", "app", "--python", venv.root, *index_args(world)
    )
    assert "Would uninstall 1 package\nWould install 1 package\n" in res.err
    assert res.out.split("\n") == [" - app==1.0", " + app==2.0", ""]
    again = cli.ok("pip", "install", "--dry-run", "app==1.0", "--python", venv.root, *index_args(world))
    assert "Would make no changes" in again.err and again.out == ""
    assert tree_snapshot(venv.root) == before
    assert venv.metadata_versions() == {"app": "1.0", "dep": "2.0"}
    # nothing was downloaded either
    assert not any(r.path.endswith(".whl") and "app-2.0" in r.path for r in world.requests)


# --------------------------------------------------------------------------------------------
# local sources: editable projects, sdists
# --------------------------------------------------------------------------------------------


def test_editable_install_sees_edits(
    cli: Cli, venv: Venv, world: IndexServer, tmp_path: Path
) -> None:
    spec = DistSpec(
        "devpkg",
        "0.1",
        requires_dist=("dep<2",),
        files={"devpkg/__init__.py": "VALUE = 1\n\ndef main():\n    print('devpkg', VALUE)\n"},
        entry_points={"console_scripts": {"devpkg-run": "devpkg:main"}},
    )
    project = write_project(spec, tmp_path / "work" / "devpkg")
    res = cli.ok("pip", "install", "-e", project, "--python", venv.root, *index_args(world))
    assert " + devpkg==0.1" in res.err and " + dep==1.0" in res.err

    code = "import devpkg; print(devpkg.VALUE, devpkg.__file__)"
    value, where = venv.run(code, cwd=tmp_path).split()
    assert value == "1" and Path(where) == project / "devpkg" / "__init__.py"
    # the source tree is imported: an edit shows without reinstalling
    (project / "devpkg" / "__init__.py").write_text(
        "VALUE = 2\n\ndef main():\n    print('devpkg', VALUE)\n"
    )
    assert venv.run(code, cwd=tmp_path).split()[0] == "2"
    # a new module in the tree is importable too
    (project / "devpkg" / "extra.py").write_text("X = 'new'\n")
    assert venv.run("import devpkg.extra; print(devpkg.extra.X)", cwd=tmp_path) == "new"
    # its console script runs the edited source
    proc = subprocess.run([str(venv.bin / "devpkg-run")], capture_output=True, text=True)
    assert proc.stdout == "devpkg 2\n", proc.stderr
    assert not (venv.site_packages / "devpkg").exists()  # no copy of the package

    # pip's views: freeze names the project directory, list -e shows it
    freeze = cli.ok("pip", "freeze", "--python", venv.root).out
    assert f"-e {project.as_uri()}" in freeze.splitlines()
    rows = json.loads(cli.ok("pip", "list", "-e", "--format", "json", "--python", venv.root).out)
    assert [(r["name"], r["version"]) for r in rows] == [("devpkg", "0.1")]
    assert rows[0].get("editable_project_location") == str(project)

    # uninstalling it leaves the source tree alone
    cli.ok("pip", "uninstall", "devpkg", "--python", venv.root)
    assert (
        venv.run("import importlib.util as u; print(u.find_spec('devpkg'))", cwd=tmp_path) == "None"
    )
    assert (project / "devpkg" / "__init__.py").exists()


def test_sdist_only_package_is_built_and_installed(
    cli: Cli, venv: Venv, index_server: IndexServer, tmp_path: Path
) -> None:
    built = DistSpec(
        "fromsrc",
        "1.5",
        requires_dist=("dep",),
        files={"fromsrc/__init__.py": "def main():\n    print('built from source')\n"},
        entry_points={"console_scripts": {"fromsrc": "fromsrc:main"}},
    )
    publish(index_server, tmp_path / "dists", DEP1, built, sdist_only={"fromsrc"})
    assert [f for f in index_server.indexes()["simple"] if "fromsrc" in f] == ["fromsrc-1.5.tar.gz"]
    res = cli.ok("pip", "install", "fromsrc", "--python", venv.root, *index_args(index_server))
    assert " + fromsrc==1.5" in res.err
    assert venv.metadata_versions() == {"fromsrc": "1.5", "dep": "1.0"}
    dist_info = venv.site_packages / "fromsrc-1.5.dist-info"
    assert (dist_info / "WHEEL").exists() and (dist_info / "RECORD").exists()
    proc = subprocess.run([str(venv.bin / "fromsrc")], capture_output=True, text=True)
    assert proc.stdout == "built from source\n", proc.stderr
    # the built wheel is cached: a second venv installs it without building again
    other = Venv(tmp_path / "other")
    cli.ok("venv", other.root, "--python", sys.executable)
    index_server.reset_stats()
    cli.ok("pip", "install", "fromsrc", "--python", other.root, *index_args(index_server))
    assert other.metadata_versions() == {"fromsrc": "1.5", "dep": "1.0"}
    assert not [r for r in index_server.requests if r.path.endswith(".tar.gz")]


def test_local_wheel_and_directory_install(
    cli: Cli, venv: Venv, world: IndexServer, tmp_path: Path
) -> None:
    wheel = build_wheel(DistSpec("localwheel", "3.0"), tmp_path / "local")
    project = write_project(DistSpec("localdir", "0.2"), tmp_path / "src" / "localdir")
    cli.ok("pip", "install", wheel, project, "--python", venv.root, *index_args(world))
    assert venv.metadata_versions() == {"localwheel": "3.0", "localdir": "0.2"}
    # not editable: the package was copied into site-packages
    assert (venv.site_packages / "localdir" / "__init__.py").exists()
    direct = json.loads(
        (venv.site_packages / "localdir-0.2.dist-info" / "direct_url.json").read_text()
    )
    assert direct["url"] == project.as_uri()
    assert not direct.get("dir_info", {}).get("editable", False)


# --------------------------------------------------------------------------------------------
# uninstall
# --------------------------------------------------------------------------------------------


def test_uninstall_removes_every_recorded_file(cli: Cli, venv: Venv, world: IndexServer) -> None:
    pristine = tree_snapshot(venv.root)
    cli.ok("pip", "install", "app", "--python", venv.root, *index_args(world), "--compile-bytecode")
    recorded = [
        venv.site_packages / line.split(",")[0]
        for line in (venv.site_packages / "app-2.0.dist-info" / "RECORD").read_text().splitlines()
    ]
    assert any(p.suffix == ".pyc" for p in recorded)  # bytecode is recorded, and removed
    assert (venv.bin / "app-cli").exists()
    res = cli.ok("pip", "uninstall", "app", "dep", "--python", venv.root)
    assert "Uninstalled 2 packages" in res.err
    assert " - app==2.0" in res.err and " - dep==2.0" in res.err
    for path in recorded:
        assert not os.path.lexists(path), path
    assert tree_snapshot(venv.root) == pristine
    assert venv.metadata_versions() == {}
    # uninstalling something absent warns and succeeds
    res = cli.ok("pip", "uninstall", "app", "--python", venv.root)
    assert "not installed" in res.err


def test_uninstall_dry_run_and_requirements_file(
    cli: Cli, venv: Venv, world: IndexServer, tmp_path: Path
) -> None:
    cli.ok("pip", "install", "app", "--python", venv.root, *index_args(world))
    before = tree_snapshot(venv.root)
    res = cli.ok("pip", "uninstall", "--dry-run", "app", "--python", venv.root)
    assert "Would uninstall 1 package\n" in res.err
    assert tree_snapshot(venv.root) == before
    req = tmp_path / "gone.txt"
    req.write_text("app==2.0\ndep\n")
    cli.ok("pip", "uninstall", "-r", req, "--python", venv.root)
    assert venv.metadata_versions() == {}


# --------------------------------------------------------------------------------------------
# integrity: hashes, broken downloads
# --------------------------------------------------------------------------------------------

DEP2_TAMPERED = DistSpec("dep", "2.0", files={"dep/__init__.py": "import os  # evil\n"})


def _compile_hashes(cli: Cli, server: IndexServer, tmp_path: Path, *reqs: str) -> Path:
    src = tmp_path / "requirements.in"
    src.write_text("".join(r + "\n" for r in reqs))
    out = tmp_path / "requirements.txt"
    # compiled "elsewhere" (own cache): the install must not see the index pages as they were
    cli.ok(
        "pip",
        "compile",
        src,
        "--generate-hashes",
        "-o",
        out,
        *index_args(server),
        "--cache-dir",
        tmp_path / "compile-cache",
    )
    text = out.read_text()
    assert "--hash=sha256:" in text
    return out


def _tamper(server: IndexServer, tmp_path: Path) -> None:
    """Publish a different dep-2.0 wheel under the very same file name."""
    server.publish("simple", build_wheel(DEP2_TAMPERED, tmp_path / "tampered"))


@pytest.mark.parametrize("index_hashes", [True, False], ids=["index-has-hashes", "no-index-hashes"])
def test_require_hashes_refuses_tampered_file(
    cli: Cli, venv: Venv, world: IndexServer, tmp_path: Path, index_hashes: bool
) -> None:
    req = _compile_hashes(cli, world, tmp_path, "app")
    cli.ok("pip", "install", "app==1.0", "dep==1.0", "--python", venv.root, *index_args(world))
    before = tree_snapshot(venv.root)
    _tamper(world, tmp_path)
    # without hashes on the index page, only the download itself can notice
    world.configure("simple", hashes=index_hashes)
    res = cli(
        "pip", "install", "--require-hashes", "-r", req, "--python", venv.root, *index_args(world)
    )
    assert res.rc != 0
    assert "dep-2.0-py3-none-any.whl" in res.err
    assert "but" in res.err and "was expected" in res.err, res.err  # HashMismatchError's text
    assert tree_snapshot(venv.root) == before
    assert venv.metadata_versions() == {"app": "1.0", "dep": "1.0"}

    # hashes in the file are checked even without --require-hashes
    res = cli("pip", "install", "-r", req, "--python", venv.root, *index_args(world))
    assert res.rc != 0 and "was expected" in res.err, res.err
    assert tree_snapshot(venv.root) == before


def test_require_hashes_needs_a_hash_for_every_package(
    cli: Cli, venv: Venv, world: IndexServer, tmp_path: Path
) -> None:
    req = tmp_path / "req.txt"
    req.write_text("app==2.0\ndep==2.0\n")
    res = cli(
        "pip", "install", "--require-hashes", "-r", req, "--python", venv.root, *index_args(world)
    )
    assert res.rc != 0 and "--require-hashes" in res.err and "has no --hash" in res.err
    assert venv.metadata_versions() == {}


def test_require_hashes_good_file_installs(
    cli: Cli, venv: Venv, world: IndexServer, tmp_path: Path
) -> None:
    req = _compile_hashes(cli, world, tmp_path, "app")
    cli.ok(
        "pip", "install", "--require-hashes", "-r", req, "--python", venv.root, *index_args(world)
    )
    assert venv.metadata_versions() == {"app": "2.0", "dep": "2.0"}


def test_no_verify_hashes_and_the_environment_switches(
    cli: Cli, venv: Venv, world: IndexServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """uv's --no-verify-hashes (and UV_NO_VERIFY_HASHES): the file's --hash values are not
    checked, so a wheel that no longer matches them installs; --require-hashes wins over it.
    UV_REQUIRE_HASHES is --require-hashes."""
    req = tmp_path / "req.txt"
    req.write_text(f"dep==2.0 --hash=sha256:{'0' * 64}\n")  # a hash no file has
    args = ("--python", venv.root, *index_args(world))
    res = cli("pip", "install", "-r", req, *args)
    assert res.rc != 0 and "was expected" in res.err, res.err  # checked by default
    res = cli("pip", "install", "-r", req, "--no-verify-hashes", "--require-hashes", *args)
    assert res.rc != 0 and "was expected" in res.err, res.err
    cli.ok("pip", "install", "-r", req, "--no-verify-hashes", *args)
    assert venv.metadata_versions() == {"dep": "2.0"}
    cli.ok("pip", "uninstall", "dep", "--python", venv.root)
    monkeypatch.setenv("UV_NO_VERIFY_HASHES", "1")
    cli.ok("pip", "sync", req, *args)
    assert venv.metadata_versions() == {"dep": "2.0"}
    res = cli("pip", "sync", req, "--verify-hashes", *args)  # the flag wins over the variable
    assert res.rc != 0 and "was expected" in res.err, res.err
    monkeypatch.delenv("UV_NO_VERIFY_HASHES")
    monkeypatch.setenv("UV_REQUIRE_HASHES", "true")
    res = cli("pip", "install", "app==2.0", *args)
    assert res.rc != 0 and "has no --hash" in res.err


def test_interrupted_download_leaves_environment_and_cache_clean(
    cli: Cli, venv: Venv, index_server: IndexServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TORCHUP_HTTP_RETRIES", "1")  # one retry is enough to see it retry
    big = DistSpec("bigpkg", "1.0", payload_bytes=4 << 20)
    publish(index_server, tmp_path / "dists", DEP1, big)
    cli.ok("pip", "install", "dep", "--python", venv.root, *index_args(index_server))
    before = tree_snapshot(venv.root)
    cache = Path(os.environ["TORCHUP_CACHE_DIR"])
    archives_before = sorted(
        p.name for p in cache.rglob("*") if p.is_file() and "archives" in str(p)
    )

    index_server.truncate("bigpkg-1.0-py3-none-any.whl", after_bytes=100_000, times=1000)
    res = cli("pip", "install", "bigpkg", "--python", venv.root, *index_args(index_server))
    assert res.rc != 0
    url = index_server.file_url("simple", "bigpkg-1.0-py3-none-any.whl")
    assert url in res.err, res.err
    assert "kept breaking off" in res.err
    assert "Traceback" not in res.err and "internal error" not in res.err
    # it was retried, then given up
    gets = [
        r
        for r in index_server.requests
        if r.method == "GET" and r.path.endswith("bigpkg-1.0-py3-none-any.whl")
    ]
    assert len(gets) >= 2
    assert tree_snapshot(venv.root) == before
    archives_after = sorted(
        p.name for p in cache.rglob("*") if p.is_file() and "archives" in str(p)
    )
    assert archives_after == archives_before  # no partial file (nor temp file) left behind
    leftovers = [p for p in venv.site_packages.iterdir() if p.name.startswith(".torchup")]
    assert leftovers == []

    # once the server behaves, the same command works
    index_server._truncations.clear()  # noqa: SLF001 - no public "heal" switch
    cli.ok("pip", "install", "bigpkg", "--python", venv.root, *index_args(index_server))
    assert venv.metadata_versions() == {"dep": "1.0", "bigpkg": "1.0"}


def test_several_hashes_per_package_any_may_match(
    cli: Cli, venv: Venv, world: IndexServer, tmp_path: Path
) -> None:
    from tests.support.wheels import file_sha256

    real = file_sha256(world.root_dir / "simple" / "dep-2.0-py3-none-any.whl")
    req = tmp_path / "req.txt"
    req.write_text(f"dep==2.0 --hash=sha256:{'0' * 64} --hash=sha256:{real}\n")
    world.configure("simple", hashes=False)  # nothing to compare with but the download
    cli.ok(
        "pip", "install", "--require-hashes", "-r", req, "--python", venv.root, *index_args(world)
    )
    assert venv.metadata_versions() == {"dep": "2.0"}

    cli.ok("pip", "uninstall", "dep", "--python", venv.root)
    before = tree_snapshot(venv.root)
    _tamper(world, tmp_path)
    res = cli("pip", "install", "-n", "-r", req, "--python", venv.root, *index_args(world))
    assert res.rc != 0 and "was expected" in res.err and real in res.err, res.err
    assert tree_snapshot(venv.root) == before


# --------------------------------------------------------------------------------------------
# concurrency
# --------------------------------------------------------------------------------------------


def test_two_concurrent_installs_into_one_venv(
    cli: Cli, venv: Venv, index_server: IndexServer, tmp_path: Path
) -> None:
    shared = DistSpec("shared", "1.0", payload_bytes=1 << 20)
    left = DistSpec("left", "1.0", requires_dist=("shared",), payload_bytes=1 << 20)
    right = DistSpec("right", "1.0", requires_dist=("shared",), payload_bytes=1 << 20)
    publish(index_server, tmp_path / "dists", shared, left, right)
    env = {**_clean_env(), "PYTHONPATH": str(REPO_ROOT / "src")}
    procs = [
        subprocess.Popen(
            [
                sys.executable,
                "-m",
                "torchup.cli.main",
                "pip",
                "install",
                name,
                "--python",
                str(venv.root),
                *index_args(index_server),
                "--no-progress",
            ],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=env,
        )
        for name in ("left", "right")
    ]
    outcomes = [(p.wait(timeout=120), *p.communicate()) for p in procs]
    for rc, out, err in outcomes:
        assert rc == 0, err + out
    assert venv.metadata_versions() == {"left": "1.0", "right": "1.0", "shared": "1.0"}
    # exactly one copy of each distribution, every recorded file present, no debris
    assert sorted(p.name for p in venv.site_packages.glob("*.dist-info")) == [
        "left-1.0.dist-info",
        "right-1.0.dist-info",
        "shared-1.0.dist-info",
    ]
    for dist_info in venv.site_packages.glob("*.dist-info"):
        for line in (dist_info / "RECORD").read_text().splitlines():
            assert (venv.site_packages / line.split(",")[0]).exists(), line
    assert [p.name for p in venv.site_packages.iterdir() if p.name.startswith(".torchup")] == []
    assert cli("pip", "check", "--python", venv.root).rc == 0
    assert venv.run("import left, right, shared; print('ok')") == "ok"


# --------------------------------------------------------------------------------------------
# more edges: runtime bytecode, files dropped by an upgrade, link modes, another Python
# --------------------------------------------------------------------------------------------


def test_uninstall_after_use_removes_runtime_bytecode(
    cli: Cli, venv: Venv, world: IndexServer
) -> None:
    """Importing writes __pycache__ files no RECORD lists; uninstall still leaves nothing."""
    pristine = tree_snapshot(venv.root)
    cli.ok("pip", "install", "app", "--python", venv.root, *index_args(world))
    env = {k: v for k, v in _clean_env().items() if k != "PYTHONDONTWRITEBYTECODE"}
    subprocess.run([str(venv.python), "-c", "import app"], check=True, env=env, cwd=venv.root)
    assert list((venv.site_packages / "app" / "__pycache__").glob("*.pyc"))
    cli.ok("pip", "uninstall", "app", "dep", "--python", venv.root)
    assert tree_snapshot(venv.root) == pristine
    assert not (venv.site_packages / "app").exists()


def test_upgrade_removes_files_the_new_version_dropped(
    cli: Cli, venv: Venv, index_server: IndexServer, tmp_path: Path
) -> None:
    old = DistSpec(
        "shape",
        "1.0",
        files={"shape/__init__.py": "", "shape/legacy.py": "OLD = 1\n", "shape_extra.py": ""},
        entry_points={"console_scripts": {"shape-old": "shape:main"}},
    )
    new = DistSpec("shape", "2.0", files={"shape/__init__.py": "", "shape/modern.py": ""})
    publish(index_server, tmp_path / "dists", old, new)
    cli.ok("pip", "install", "shape==1.0", "--python", venv.root, *index_args(index_server))
    assert (venv.site_packages / "shape" / "legacy.py").exists()
    assert (venv.bin / "shape-old").exists()
    cli.ok("pip", "install", "-U", "shape", "--python", venv.root, *index_args(index_server))
    assert venv.metadata_versions() == {"shape": "2.0"}
    assert not (venv.site_packages / "shape" / "legacy.py").exists()
    assert not (venv.site_packages / "shape_extra.py").exists()
    assert not (venv.bin / "shape-old").exists()
    assert (venv.site_packages / "shape" / "modern.py").exists()
    assert not (venv.site_packages / "shape-1.0.dist-info").exists()


@pytest.mark.parametrize("mode", ["copy", "symlink", "hardlink", "clone"])
def test_link_modes(cli: Cli, venv: Venv, world: IndexServer, tmp_path: Path, mode: str) -> None:
    cli.ok("pip", "install", "app", "--link-mode", mode, "--python", venv.root, *index_args(world))
    module = venv.site_packages / "app" / "__init__.py"
    assert venv.run("import app; print(app.VERSION)") == "2.0"
    if mode == "symlink":
        assert module.is_symlink()
    else:
        assert not module.is_symlink()
        # clone: a copy-on-write clone where the filesystem has them, else a copy; either
        # way no inode is shared with the cache
        assert module.stat().st_nlink == (2 if mode == "hardlink" else 1)
    pristine_after = cli.ok("pip", "uninstall", "app", "dep", "--python", venv.root)
    assert pristine_after.rc == 0 and venv.metadata_versions() == {}
    assert not os.path.lexists(module)


def test_no_deps(cli: Cli, venv: Venv, world: IndexServer) -> None:
    cli.ok("pip", "install", "app", "--no-deps", "--python", venv.root, *index_args(world))
    assert venv.metadata_versions() == {"app": "2.0"}
    res = cli("pip", "check", "--python", venv.root)
    assert res.rc == 1 and res.out == "app 2.0 requires dep, which is not installed.\n"


def test_install_targets_the_venv_python_not_torchups(
    cli: Cli, index_server: IndexServer, tmp_path: Path
) -> None:
    """A 3.12 venv gets the cp312 wheel (tags and markers come from the venv's interpreter)."""
    probe = cli("venv", tmp_path / "v312", "--python", "3.12")
    if probe.rc != 0:
        pytest.skip("no Python 3.12 on this machine")
    venv = Venv(tmp_path / "v312")
    specs = [
        DistSpec(
            "native", "1.0", tags="cp311-none-any", files={"native/__init__.py": "PY = 311\n"}
        ),
        DistSpec(
            "native", "1.0", tags="cp312-none-any", files={"native/__init__.py": "PY = 312\n"}
        ),
        DistSpec("marked", "1.0", requires_dist=("only311; python_version == '3.11'",)),
        DistSpec("only311", "1.0"),
    ]
    publish(index_server, tmp_path / "dists", *specs)
    cli.ok("pip", "install", "native", "marked", "--python", venv.root, *index_args(index_server))
    assert venv.run("import native; print(native.PY)") == "312"
    assert venv.metadata_versions() == {"native": "1.0", "marked": "1.0"}
    assert venv.site_packages.parent.name == "python3.12"


def test_republished_sdist_is_rebuilt_not_taken_from_the_build_cache(
    cli: Cli, index_server: IndexServer, tmp_path: Path
) -> None:
    """Built wheels are cached per sdist *file* (its hash), not per file name."""
    first = DistSpec("remade", "1.0", files={"remade/__init__.py": "EDITION = 1\n"})
    second = DistSpec("remade", "1.0", files={"remade/__init__.py": "EDITION = 2\n"})
    publish(index_server, tmp_path / "one", first, sdist_only={"remade"})
    venvs = []
    for name in ("v1", "v2"):
        cli.ok("venv", tmp_path / name, "--python", sys.executable)
        venvs.append(Venv(tmp_path / name))
    cli.ok("pip", "install", "remade", "--python", venvs[0].root, *index_args(index_server))
    assert venvs[0].run("import remade; print(remade.EDITION)") == "1"

    publish(index_server, tmp_path / "two", second, sdist_only={"remade"})
    cache = Path(os.environ["TORCHUP_CACHE_DIR"])
    shutil.rmtree(cache / "simple-v1", ignore_errors=True)  # pages are fresh for 10 minutes
    cli.ok("pip", "install", "remade", "--python", venvs[1].root, *index_args(index_server))
    assert venvs[1].run("import remade; print(remade.EDITION)") == "2"


def test_compile_output_file_echo_follows_quiet(cli: Cli, world: IndexServer, tmp_path: Path) -> None:
    """Like uv: the result goes to stdout as well as to `-o FILE`, except with `-q`."""
    src = tmp_path / "requirements.in"
    src.write_text("app\n")
    out = tmp_path / "requirements.txt"
    loud = cli.ok("pip", "compile", src, "-o", out, *index_args(world))
    assert "app==" in out.read_text() and "app==" in loud.out
    out.unlink()
    quiet = cli.ok("pip", "compile", src, "-o", out, "-q", *index_args(world))
    assert "app==" in out.read_text()
    assert quiet.out == ""
    # without -o, -q still prints the result: it has nowhere else to go
    bare = cli.ok("pip", "compile", src, "-q", *index_args(world))
    assert "app==" in bare.out


def test_requirements_from_stdin(
    cli: Cli, venv: Venv, world: IndexServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`-` reads the requirements from stdin (`... | torchup pip compile -`, `pip install -r -`),
    as in uv and pip; it was read as a file named "-" and failed."""
    import io

    monkeypatch.setattr(sys, "stdin", io.StringIO("app==1.0\n# a comment\n"))
    out = cli.ok("pip", "compile", "-", *index_args(world)).out
    assert "app==1.0\n    # via -r -" in out and "dep==2.0" in out
    monkeypatch.setattr(sys, "stdin", io.StringIO("app==1.0\n"))
    cli.ok("pip", "install", "-r", "-", "--python", venv.root, *index_args(world))
    assert venv.metadata_versions() == {"app": "1.0", "dep": "2.0"}


def test_target_and_prefix_folders(cli: Cli, venv: Venv, world: IndexServer, tmp_path: Path) -> None:
    """`--target DIR` installs packages flat into DIR (scripts in DIR/bin) and `--prefix DIR`
    into DIR/lib/pythonX.Y/site-packages, for the chosen interpreter, as pip and uv do;
    list/freeze/uninstall read the same folder, and the venv itself is untouched."""
    target = tmp_path / "layer"
    args = ("--python", venv.root, *index_args(world))
    cli.ok("pip", "install", "app==1.0", "--target", target, *args)
    assert (target / "app" / "__init__.py").exists() and (target / "app-1.0.dist-info").is_dir()
    assert (target / "dep-2.0.dist-info").is_dir() and venv.metadata_versions() == {}
    # importable with the folder on sys.path; the script runs the venv's interpreter
    env = {**_clean_env(), "PYTHONPATH": str(target)}
    proc = subprocess.run([str(target / "bin" / "app-cli")], capture_output=True, text=True, env=env)
    assert proc.stdout == "app 1.0\n", proc.stderr
    rows = json.loads(cli.ok("pip", "list", "--format", "json", "--target", target, *args).out)
    assert {r["name"]: r["version"] for r in rows} == {"app": "1.0", "dep": "2.0"}
    # what is there counts: an upgrade replaces app in the folder, dep stays
    cli.ok("pip", "install", "app==2.0", "--target", target, *args)
    freeze = cli.ok("pip", "freeze", "--target", target, "--python", venv.root).out
    assert freeze.splitlines() == ["app==2.0", "dep==2.0"]
    cli.ok("pip", "uninstall", "app", "--target", target, "--python", venv.root)
    assert not (target / "app").exists() and not (target / "bin" / "app-cli").exists()

    prefix = tmp_path / "prefix"
    cli.ok("pip", "install", "dep==1.0", "--prefix", prefix, *args)
    site = prefix / "lib" / f"python{sys.version_info[0]}.{sys.version_info[1]}" / "site-packages"
    assert (site / "dep-1.0.dist-info").is_dir() and (site / "dep" / "__init__.py").exists()

    res = cli("pip", "install", "dep", "--target", target, "--prefix", prefix, *args)
    assert res.rc == 2 and "not allowed with argument" in res.err
    (tmp_path / "a-file").write_text("")
    res = cli("pip", "install", "dep", "--target", tmp_path / "a-file", *args)
    assert res.rc == 2 and "is a file, not a folder" in res.err and "Traceback" not in res.err


def test_failure_hints_stay_within_what_was_asked(
    cli: Cli, venv: Venv, index_server: IndexServer, tmp_path: Path
) -> None:
    """Hints about yanked or unusable versions name only versions the user's requirement
    would take: `lib==2.0` (an sdist, builds off) used to add "lib 3.0rc1 is yanked" and why
    other versions could not be used."""
    publish(index_server, tmp_path / "d", DistSpec("lib", "1.0"), DistSpec("lib", "2.0"), sdist_only={"lib"})
    publish(index_server, tmp_path / "w", DistSpec("lib", "3.0rc1"))
    index_server.yank("simple", "lib-3.0rc1-py3-none-any.whl")
    args = ("--python", venv.root, "--no-build", *index_args(index_server))
    res = cli("pip", "install", "lib==2.0", *args)
    assert res.rc == 1 and "lib==2.0" in res.err and "building is disabled" in res.err
    assert "yanked" not in res.err and "hint:" not in res.err, res.err
    # a range that takes the yanked pre-release: now the hint is the answer
    res = cli("pip", "install", "lib>=3.0rc1", *args)
    assert res.rc == 1 and "lib 3.0rc1 is yanked" in res.err and "lib==3.0rc1" in res.err, res.err


def test_an_unknown_extra_is_warned_about(
    cli: Cli, venv: Venv, index_server: IndexServer, tmp_path: Path
) -> None:
    """`dep[nope]` installs dep and says the extra does not exist (uv does; torchup was silent
    when the package declares no extras at all, and printed a bare line otherwise)."""
    fast = DistSpec("fast-extra", "1.0", requires_dist=("dep; extra == 'speed'",))
    publish(index_server, tmp_path / "d", DEP1, fast)
    res = cli.ok("pip", "install", "dep[nope]", "fast-extra[speed]", "--python", venv.root, *index_args(index_server))
    assert "warning: dep==1.0 does not have an extra named 'nope'" in res.err
    assert "speed" not in res.err  # a declared extra: no warning
    assert venv.metadata_versions() == {"dep": "1.0", "fast-extra": "1.0"}


def test_extras_and_groups_of_a_project_file(
    cli: Cli, venv: Venv, world: IndexServer, tmp_path: Path
) -> None:
    """`pip install -r pyproject.toml --extra x --group g` installs what the project lists
    there (both flags were accepted and ignored); without a project file they are an error."""
    pyproject = tmp_path / "proj" / "pyproject.toml"
    pyproject.parent.mkdir()
    pyproject.write_text(
        '[project]\nname = "proj"\nversion = "0.1"\ndependencies = ["dep<2"]\n'
        '[project.optional-dependencies]\ncli = ["app==1.0"]\n'
        '[dependency-groups]\ntest = ["app"]\n'
    )
    args = ("--python", venv.root, *index_args(world))
    cli.ok("pip", "install", "-r", pyproject, "--extra", "cli", *args)
    assert venv.metadata_versions() == {"dep": "1.0", "app": "1.0"}
    res = cli.ok("pip", "sync", pyproject, "--group", "test", "--dry-run", *args)
    assert " - app==1.0" in res.out + res.err and " + app==2.0" in res.out + res.err
    res = cli("pip", "install", "dep", "--extra", "cli", *args)
    assert res.rc == 2 and "no pyproject.toml or setup.cfg was given" in res.err


def test_a_wheel_for_another_platform_is_refused_naming_its_tags(
    cli: Cli, venv: Venv, tmp_path: Path
) -> None:
    # as pip ("is not a supported wheel on this platform") and uv say: what the wheel is for
    wheel = build_wheel(DistSpec("winonly", "1.0", tags="cp39-cp39-win_amd64"), tmp_path / "w")
    res = cli("pip", "install", wheel, "--python", venv.root)
    assert res.rc != 0 and "Traceback" not in res.err
    assert "winonly==1.0, which has no wheel for" in res.err
    assert "(its wheel is for cp39-cp39-win_amd64)" in res.err
